//! `hslambda soak` and `hslambda load`: argument parsing and wiring for `lambda_emulator::soak` / `load`.

use std::time::Duration;

use clap::Args;
use lambda_emulator::faults::FaultRule;
use lambda_emulator::load::{run_load, LoadOptions};
use lambda_emulator::sandbox::locate_bootstrap;
use lambda_emulator::soak::{run_soak, SoakOptions};

/// Options of `hslambda soak`.
#[derive(Args)]
pub struct SoakArgs {
    /// Concurrent clients (also the function's concurrency).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of faulty load before the verification pass.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// S3 fault rule for the whole run, repeatable (default: 503 and 500 phases alternating every
    /// --phase seconds, each with 2 % dropped connections and 2 % latency spikes of 400 ms).
    #[arg(long = "s3-fault", value_parser = FaultRule::parse)]
    s3_faults: Vec<FaultRule>,
    /// Seconds each default fault phase lasts.
    #[arg(long, default_value_t = 2)]
    phase: u64,
    /// Function memory in MB.
    #[arg(long, default_value_t = 512)]
    memory: u32,
    /// Function timeout in seconds (the handler's S3 retries must fit in it).
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Seed of the clients' random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `hslambda load`.
#[derive(Args)]
pub struct LoadArgs {
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

/// Runs `hslambda soak`; fails (non-zero exit) on a lost write, a bad read or an unclean answer.
pub async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    let opts = SoakOptions {
        clients: args.clients.max(1),
        duration: Duration::from_secs(args.seconds),
        phases: if args.s3_faults.is_empty() { SoakOptions::default_phases() } else { vec![args.s3_faults] },
        phase: Duration::from_secs(args.phase.max(1)),
        memory_mb: args.memory,
        timeout: Duration::from_secs(args.timeout.max(1)),
        seed: args.seed,
    };
    eprintln!("soak: {} clients for {} s with S3 faults...", opts.clients, args.seconds);
    let report = run_soak(locate_bootstrap().map_err(anyhow::Error::msg)?, &opts).await?;
    print_report(&report, args.json, || report.format())?;
    anyhow::ensure!(report.passed(), "the soak found lost writes, bad reads or unclean answers");
    Ok(())
}

/// Runs `hslambda load`; fails on leaked processes or descriptors, RSS growth or missing throttling.
pub async fn load(args: LoadArgs) -> anyhow::Result<()> {
    let concurrency = args.concurrency.max(1);
    let opts = LoadOptions {
        concurrency,
        clients: args.clients.unwrap_or(concurrency * 2).max(1),
        duration: Duration::from_secs(args.seconds),
        memory_mb: args.memory,
        rss_growth_mb: args.rss_growth,
    };
    eprintln!("load: {} clients on concurrency {} for {} s...", opts.clients, concurrency, args.seconds);
    let report = run_load(locate_bootstrap().map_err(anyhow::Error::msg)?, &opts).await?;
    print_report(&report, args.json, || report.format())?;
    anyhow::ensure!(report.passed(), "the load run failed its checks");
    Ok(())
}

/// Prints a run's report: as JSON with `--json`, else as its text.
fn print_report(report: &impl serde::Serialize, json: bool, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", text());
    }
    Ok(())
}
