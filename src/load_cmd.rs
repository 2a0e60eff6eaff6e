//! `hslambda load`: argument parsing and wiring for `hslambda_bench::load`.

use std::time::Duration;

use clap::Args;
use hslambda_bench::load::{run_load, LoadOptions};

/// Options of `hslambda load`.
#[derive(Args)]
pub(crate) struct LoadArgs {
    /// The function's concurrency limit.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Concurrent Invoke API callers (default: twice the limit).
    #[arg(long)]
    clients: Option<usize>,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Function memory in MB.
    #[arg(long, default_value_t = 128)]
    memory: u32,
    /// Allowed growth of a warm instance's RSS over the run, in MB.
    #[arg(long, default_value_t = 16)]
    rss_growth: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `hslambda load`; fails on leaked processes or descriptors, RSS growth or missing throttling.
pub(crate) async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let concurrency = args.concurrency.max(1);
    let opts = LoadOptions {
        concurrency,
        clients: args.clients.unwrap_or(concurrency * 2).max(1),
        duration: Duration::from_secs(args.seconds),
        memory_mb: args.memory,
        rss_growth_mb: args.rss_growth,
    };
    eprintln!("load: {} clients on concurrency {} for {} s...", opts.clients, concurrency, args.seconds);
    let report = run_load(crate::function::for_bench("load")?, &opts).await?;
    hslambda_bench::report::print(&report, args.json, || report.format())?;
    anyhow::ensure!(report.passed(), "the load run failed its checks");
    Ok(())
}
