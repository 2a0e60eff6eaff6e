//! `hslambda race`: argument parsing and wiring for `hslambda_bench::race`.

use clap::Args;
use hsds_handler::config::WriteMode;
use hslambda_bench::race::{format_table, run_scenario, RaceOptions, RaceReport, Scenario};
use hslambda_bench::stack::{BenchStack, BENCH_PASSWORD, BENCH_USER};

/// Options of `hslambda race`.
#[derive(Args)]
pub(crate) struct RaceArgs {
    /// Race against this running stack (front-door URL) instead of a private one.
    #[arg(long)]
    endpoint: Option<String>,
    /// User for --endpoint (needs create rights in --folder).
    #[arg(long, default_value = "test_user1")]
    user: String,
    /// Password for --endpoint.
    #[arg(long, default_value = "test")]
    password: String,
    /// Folder for the scenario domains with --endpoint.
    #[arg(long, default_value = "/home/test_user1")]
    folder: String,
    /// Concurrent writers (also the private stack's function concurrency).
    #[arg(long, default_value_t = 32)]
    writers: usize,
    /// Writes per writer.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Scenario to run, repeatable (default: all): chunk-elements, chunk-borders, links, attributes, acls, resize,
    /// write-vs-delete, write-vs-shrink.
    #[arg(long = "scenario", value_parser = parse_scenario)]
    scenarios: Vec<Scenario>,
    /// Write mode of the private stack's function: `cas` (compare-and-swap on ETags, hslambda's default: no
    /// lost updates) or `last-writer-wins` (unconditional writes, as HSDS on Lambda: concurrent writers lose updates).
    #[arg(long, value_parser = parse_write_mode, default_value = "cas")]
    write_mode: WriteMode,
    /// Run every scenario in both write modes (private stacks) and show them side by side.
    #[arg(long)]
    compare: bool,
    /// Function memory in MB for the private stack.
    #[arg(long, default_value_t = 512)]
    memory: u32,
    /// Print JSON reports instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    Scenario::from_name(s).ok_or_else(|| {
        let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
        format!("unknown scenario {s:?}; one of {}", names.join(", "))
    })
}

async fn run_all(opts: &RaceOptions, scenarios: &[Scenario]) -> anyhow::Result<Vec<RaceReport>> {
    let mut out = Vec::new();
    for &s in scenarios {
        eprintln!("race: {} ({} writers x {} rounds)...", s.name(), opts.writers, opts.rounds);
        out.push(run_scenario(opts, s).await?);
    }
    Ok(out)
}

async fn run_private(args: &RaceArgs, mode: WriteMode, scenarios: &[Scenario]) -> anyhow::Result<Vec<RaceReport>> {
    let bootstrap = crate::function::for_bench("race")?;
    let env = match mode {
        WriteMode::Cas => vec![],
        WriteMode::LastWriterWins => vec![("HSLAMBDA_WRITE_MODE".to_string(), mode.env_value().to_string())],
    };
    let bench = BenchStack::start(BenchStack::function(bootstrap, args.memory, args.writers, env)).await?;
    let opts = RaceOptions {
        endpoint: bench.endpoint.clone(),
        user: BENCH_USER.into(),
        password: BENCH_PASSWORD.into(),
        folder: bench.folder.clone(),
        writers: args.writers,
        rounds: args.rounds,
    };
    run_all(&opts, scenarios).await
}

fn print(label: &str, reports: &[RaceReport], json: bool) {
    if json {
        println!("{}", serde_json::json!({"mode": label, "reports": reports}));
    } else {
        println!("== {label}\n{}", format_table(reports));
    }
}

/// Runs `hslambda race`; fails (non-zero exit) when a compare-and-swap run lost an acknowledged update.
pub(crate) async fn race(args: RaceArgs) -> anyhow::Result<()> {
    let scenarios = if args.scenarios.is_empty() { Scenario::ALL.to_vec() } else { args.scenarios.clone() };
    let lost = |r: &[RaceReport]| r.iter().map(RaceReport::violations).sum::<usize>();
    if let Some(endpoint) = &args.endpoint {
        let opts = RaceOptions {
            endpoint: endpoint.clone(),
            user: args.user.clone(),
            password: args.password.clone(),
            folder: args.folder.clone(),
            writers: args.writers,
            rounds: args.rounds,
        };
        let reports = run_all(&opts, &scenarios).await?;
        print(endpoint, &reports, args.json);
        anyhow::ensure!(
            lost(&reports) == 0,
            "{} acknowledged updates were lost or stale data remained",
            lost(&reports)
        );
        return Ok(());
    }
    let modes: &[WriteMode] =
        if args.compare { &[WriteMode::Cas, WriteMode::LastWriterWins] } else { &[args.write_mode] };
    let mut cas_lost = 0;
    let mut lww_lost = 0;
    for &mode in modes {
        let reports = run_private(&args, mode, &scenarios).await?;
        let label = match mode {
            WriteMode::Cas => "hslambda (compare-and-swap)",
            WriteMode::LastWriterWins => "last-writer-wins (HSDS on Lambda's behaviour)",
        };
        print(label, &reports, args.json);
        match mode {
            WriteMode::Cas => cas_lost += lost(&reports),
            WriteMode::LastWriterWins => lww_lost += lost(&reports),
        }
    }
    if args.compare {
        println!("lost acknowledged updates + stale data: compare-and-swap {cas_lost}, last-writer-wins {lww_lost}");
    }
    anyhow::ensure!(cas_lost == 0, "{cas_lost} acknowledged updates were lost or stale with compare-and-swap");
    if !args.compare && args.write_mode == WriteMode::LastWriterWins && lww_lost > 0 {
        anyhow::bail!("{lww_lost} acknowledged updates were lost or stale (last-writer-wins)");
    }
    Ok(())
}

/// `--write-mode`: the handler's own [`WriteMode`] names (`cas`, `last-writer-wins`).
fn parse_write_mode(s: &str) -> Result<WriteMode, String> {
    match s {
        "cas" | "last-writer-wins" => Ok(WriteMode::from_env_value(Some(s))),
        _ => Err(format!("unknown write mode {s:?}: expected cas or last-writer-wins")),
    }
}
