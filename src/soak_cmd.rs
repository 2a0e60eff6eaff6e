//! `hslambda soak`: argument parsing and wiring for `hslambda_bench::soak`.

use std::time::Duration;

use clap::Args;
use hslambda_bench::soak::{run_soak, SoakOptions};
use lambda_emulator::faults::FaultRule;

/// Options of `hslambda soak`.
#[derive(Args)]
pub(crate) struct SoakArgs {
    /// Concurrent clients (also the function's concurrency).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of faulty load before the verification pass.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// S3 fault rule for the whole run, repeatable (default: 503 and 500 phases alternating every
    /// --phase seconds, each with 2 % dropped connections, 2 % latency spikes of 400 ms and 2 % writes
    /// applied then failed).
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
    /// Fraction (0-1) of invocations whose function instance is killed (SIGKILL) at a random point.
    #[arg(long, default_value_t = SoakOptions::DEFAULT_KILL_RATE, value_parser = lambda_emulator::kills::parse_rate)]
    kill_rate: f64,
    /// Seed of the clients' random choices, of the S3 fault dice and of the instance kills.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `hslambda soak`; fails (non-zero exit) on a lost write, a bad read or an unclean answer.
pub(crate) async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    let opts = SoakOptions {
        clients: args.clients.max(1),
        duration: Duration::from_secs(args.seconds),
        phases: if args.s3_faults.is_empty() { SoakOptions::default_phases() } else { vec![args.s3_faults] },
        phase: Duration::from_secs(args.phase.max(1)),
        memory_mb: args.memory,
        timeout: Duration::from_secs(args.timeout.max(1)),
        seed: args.seed,
        kill_rate: args.kill_rate,
    };
    eprintln!(
        "soak: {} clients for {} s with S3 faults and {} of invocations killed...",
        opts.clients, args.seconds, opts.kill_rate
    );
    let report = run_soak(crate::function::for_bench("soak")?, &opts).await?;
    hslambda_bench::report::print(&report, args.json, || report.format())?;
    anyhow::ensure!(
        report.passed(),
        "the soak found lost writes, unreadable objects, duplicates, bad reads or unclean answers"
    );
    Ok(())
}
