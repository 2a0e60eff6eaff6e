//! `hslambda`: run the local AWS stack around the `bootstrap` function (`up`), look at its data in h5web
//! (`view`) and talk to it (`invoke`).
//! Argument parsing and wiring only; the work is in the `lambda-emulator` (the local AWS) and
//! `hslambda-bench` (race, soak, load, tune) crates.

mod function;
mod load_cmd;
mod race_cmd;
mod soak_cmd;
mod viewer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use clap::{Args, Parser, Subcommand};
use hslambda_bench::tune::{self, cost::Prices, selection::SelectionOptions, workload::CubeSpec, workload::Workload};
use hslambda_bench::tune::{StartMode, TuneOptions};
use lambda_emulator::faults::FaultRule;
use lambda_emulator::gateway::FrontDoor;
use lambda_emulator::s3::S3Auth;
use lambda_emulator::s3_latency::S3Model;
use lambda_emulator::streaming::StreamBandwidth;
use lambda_emulator::{default_function, Stack, StackConfig};

#[derive(Parser)]
#[command(name = "hslambda", version, about = "The HDF REST API on AWS Lambda, and a local AWS to run it in")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per run: boxing the big variants buys nothing
enum Command {
    /// Start the local stack: S3 on a directory, the Lambda service running `bootstrap`, an HTTP front door.
    Up(UpArgs),
    /// Start the stack as `up` does, and an h5web page on it (built with npm on first use) to browse its
    /// domains in a web browser.
    View(ViewArgs),
    /// Send an event file to the Invoke API of a running stack; print the response and the REPORT line.
    Invoke(InvokeArgs),
    /// Concurrent writers against one function, then a check that no acknowledged write was lost.
    Race(race_cmd::RaceArgs),
    /// Mixed reads and writes under S3 faults, then a check that every acknowledged write is intact.
    Soak(soak_cmd::SoakArgs),
    /// Invocations at and above the concurrency limit: no leaked processes or descriptors, bounded RSS, 429s.
    Load(load_cmd::LoadArgs),
    /// Benchmarks: `tune` (memory size / timeout / cost) and `selection` (hslambda vs HSDS).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Be the Lambda function (what `up` runs when no `bootstrap` binary is at hand): the same runtime loop
    /// as `bootstrap`, talking to $AWS_LAMBDA_RUNTIME_API.
    #[command(name = "function", hide = true)]
    Function,
}

#[derive(Args)]
struct UpArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// HTTP front door port (API Gateway HTTP API + Lambda Invoke API).
    #[arg(long, default_value_t = 5101)]
    port: u16,
    /// S3 port.
    #[arg(long, default_value_t = 5102)]
    s3_port: u16,
    /// Also serve the Lambda Invoke API alone on this port.
    #[arg(long)]
    invoke_port: Option<u16>,
    /// Data directory, laid out as HSDS's POSIX storage: <data-dir>/<bucket>/<key>.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// HSDS passwd.txt-format users file (name:password lines), given to the function as PASSWORD_FILE.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Bucket the function serves by default (created as <data-dir>/<bucket>/ if missing).
    #[arg(long, default_value = "hsdstest")]
    bucket: String,
    /// Function memory size in MB (128-10240).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(128..=10240))]
    memory: u32,
    /// Function timeout in seconds (1-900).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=900))]
    timeout: u64,
    /// Most function instances running at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    concurrency: u64,
    /// S3 fault rule, repeatable: prefix=db/,latency=50,rate=0.1,status=503.
    #[arg(long = "s3-fault", value_parser = FaultRule::parse)]
    s3_faults: Vec<FaultRule>,
    /// Fraction (0-1) of invocations whose function instance is killed (SIGKILL) at a random point while it
    /// runs; the caller gets Lambda's Runtime.ExitError answer (500 at the front door). 0: never.
    #[arg(long, default_value_t = 0.0, value_parser = lambda_emulator::kills::parse_rate)]
    kill_rate: f64,
    /// Extra environment variable for the function, repeatable: NAME=VALUE.
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Do not try cgroups (enforce memory by polling RSS; CPU not shaped).
    #[arg(long)]
    no_cgroups: bool,
    /// Seconds a warm function instance may stay idle before it is reaped (the next request is a cold start).
    #[arg(long, default_value_t = 600.0, value_parser = parse_seconds)]
    idle_timeout: f64,
    /// Retries of a failed Event (asynchronous) invocation, as Lambda's MaximumRetryAttempts (0-2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=2))]
    event_max_retries: u32,
    /// Seconds before the first retry of a failed Event invocation; the second waits twice as long.
    #[arg(long, default_value_t = 60.0, value_parser = parse_seconds)]
    event_retry_delay: f64,
    /// What the HTTP port imitates: function-url-stream (Function URL, InvokeMode RESPONSE_STREAM: responses
    /// stream, up to 200 MB), api-gateway (HTTP API, buffered 6 MB: 30 s cap, throttled -> 500), function-url
    /// (InvokeMode BUFFERED: no cap beyond the function timeout, throttled -> 429) or rest-api-stream (REST API,
    /// responseTransferMode STREAM, payload 1.0 events).
    #[arg(long, default_value = "function-url-stream", value_parser = FrontDoor::parse)]
    front_door: FrontDoor,
    /// The function executable (a built `bootstrap`). Default: a `bootstrap` beside hslambda that is not
    /// older than it, else hslambda itself serves as the function.
    #[arg(long = "function", value_name = "PATH")]
    function_binary: Option<PathBuf>,
    /// Run the function against this external S3 endpoint (moto, MinIO, AWS) instead of the built-in S3:
    /// sets its AWS_S3_GATEWAY (credentials: --env AWS_ACCESS_KEY_ID=... --env AWS_SECRET_ACCESS_KEY=...).
    /// The bucket must exist there.
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// Streamed responses at Lambda's bandwidth (`lambda`: the first 6 MB unthrottled, then 2 MB/s) or
    /// `unlimited`.
    #[arg(long, default_value = "lambda", value_parser = StreamBandwidth::parse)]
    stream_bandwidth: StreamBandwidth,
    /// The built-in S3's access: `open` (unsigned requests allowed; it listens on --host, loopback by default)
    /// or `required` (SigV4 signatures with the emulator's keys only).
    #[arg(long, default_value = "open", value_parser = S3Auth::parse)]
    s3_auth: S3Auth,
}

#[derive(Args)]
struct ViewArgs {
    /// Domain to open first, e.g. /home/alice/demo.h5 (the page can open any other).
    domain: Option<String>,
    /// Port of the h5web page.
    #[arg(long, default_value_t = 5103)]
    view_port: u16,
    /// Serve this already built page (a `vite build` output of viewer/) instead of building one with npm.
    #[arg(long, value_name = "DIR")]
    viewer_dist: Option<PathBuf>,
    #[command(flatten)]
    up: UpArgs,
}

#[derive(Args)]
struct InvokeArgs {
    /// Event JSON file ("-" for stdin).
    event: PathBuf,
    /// Front door (or Invoke API) URL of the running stack.
    #[arg(long, default_value = "http://127.0.0.1:5101")]
    endpoint: String,
    /// Function name.
    #[arg(long, default_value = "hslambda")]
    function: String,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Run a workload across memory sizes × timeouts × cold/warm; report durations, memory, cost and the
    /// cheapest/fastest/balanced setting (table, Power-Tuning-compatible JSON, HTML with a chart).
    Tune(Box<TuneArgs>),
    /// selbench.py's selection patterns against an hslambda stack and, optionally, HSDS 1.0.2.
    Selection(SelectionArgs),
}

#[derive(Args)]
struct TuneArgs {
    /// Built-in workload: metadata, timeseries, block, strided, writes (ignored with --event).
    #[arg(long, default_value = "timeseries")]
    workload: String,
    /// Replay this recorded Invoke API event file instead of a built-in workload.
    #[arg(long)]
    event: Option<PathBuf>,
    /// Memory sizes in MB, comma-separated (128-10240).
    #[arg(long, value_delimiter = ',', default_value = "128,256,512,1024,1769,3008",
          value_parser = clap::value_parser!(u32).range(128..=10240))]
    memory: Vec<u32>,
    /// Timeouts in seconds, comma-separated (1-900).
    #[arg(long, value_delimiter = ',', default_value = "30")]
    timeouts: Vec<u64>,
    /// Start modes: cold (new instance per invocation), warm (one reused instance).
    #[arg(long, value_delimiter = ',', default_value = "cold,warm")]
    modes: Vec<String>,
    /// Measured invocations per setting.
    #[arg(short = 'n', long, default_value_t = 20)]
    invocations: usize,
    /// Duration price per GB-s on x86_64 (USD).
    #[arg(long, default_value_t = 0.0000166667)]
    price_x86: f64,
    /// Duration price per GB-s on arm64 (USD).
    #[arg(long, default_value_t = 0.0000133334)]
    price_arm: f64,
    /// Price per million requests (USD).
    #[arg(long, default_value_t = 0.20)]
    price_requests: f64,
    /// Power Tuning's balancedWeight: 0 = speed only, 1 = cost only.
    #[arg(long, default_value_t = 0.5)]
    balanced_weight: f64,
    /// S3 latency model: p50=25,p99=150,mbps=90 (first-byte ms, MB/s per connection), or `none`.
    #[arg(long, default_value = "default")]
    s3_latency: String,
    /// Drive a running `hslambda up` (front door URL) instead of the bench's own stacks.
    #[arg(long)]
    endpoint: Option<String>,
    /// User the events authenticate as (with --endpoint; own stacks use test_user1).
    #[arg(long, default_value = "test_user1")]
    user: String,
    /// Password of --user.
    #[arg(long, default_value = "test")]
    password: String,
    /// Folder the bench's domain is created in.
    #[arg(long, default_value = "/home/test_user1")]
    folder: String,
    /// Data directory for the bench's own stacks (default: a temporary one).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Cube shape T,Y,X for the data workloads.
    #[arg(long, default_value = "1200,64,64")]
    shape: String,
    /// Cube chunk shape.
    #[arg(long, default_value = "60,16,16")]
    chunks: String,
    /// Do not try cgroups (memory by RSS polling, CPU not shaped).
    #[arg(long)]
    no_cgroups: bool,
    /// Write the Power-Tuning-compatible JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// The function's chunk cache in MB at every size (0 = off, for like-for-like CPU comparisons);
    /// by default the function sizes it from its memory.
    #[arg(long)]
    chunk_cache_mb: Option<u32>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct SelectionArgs {
    /// HSDS endpoint to compare with (e.g. http://127.0.0.1:5130).
    #[arg(long)]
    hsds_endpoint: Option<String>,
    /// A second HSDS on the same storage with a chunk cache smaller than one chunk, for HSDS's cold figures
    /// (e.g. `CHUNK_MEM_CACHE_SIZE=500000 hsds-ref.sh start 5252` beside the first); needs --hsds-endpoint.
    #[arg(long, requires = "hsds_endpoint")]
    hsds_cold_endpoint: Option<String>,
    /// HSDS user (its folder /home/<user> is created as admin:admin if missing).
    #[arg(long, default_value = "test_user1")]
    hsds_user: String,
    /// HSDS password.
    #[arg(long, default_value = "test")]
    hsds_password: String,
    /// Cube shape T,Y,X (selbench.py's default).
    #[arg(long, default_value = "2000,200,200")]
    shape: String,
    /// Chunk shape.
    #[arg(long, default_value = "250,25,25")]
    chunks: String,
    /// Measured requests per pattern.
    #[arg(long, default_value_t = 15)]
    reps: usize,
    /// hslambda memory size (MB).
    #[arg(long, default_value_t = 1769, value_parser = clap::value_parser!(u32).range(128..=10240))]
    memory: u32,
    /// S3 latency model for hslambda's S3 (`none` for local disk speed).
    #[arg(long, default_value = "none")]
    s3_latency: String,
    /// Keep hslambda's chunk cache on (by default it is off, so hslambda's figures are cold reads).
    #[arg(long)]
    chunk_cache: bool,
    /// Pace hslambda's streamed answers as Lambda does (`lambda`: 6 MB free, then 2 MB/s) or not
    /// (`unlimited`, the default here: the bench compares servers; `lambda` shows what AWS would give).
    #[arg(long, default_value = "unlimited", value_parser = StreamBandwidth::parse)]
    stream_bandwidth: StreamBandwidth,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_s3_latency(s: &str) -> anyhow::Result<Option<S3Model>> {
    if s == "none" {
        return Ok(None);
    }
    S3Model::parse(s).map(Some).map_err(anyhow::Error::msg)
}

async fn bench_tune(a: TuneArgs) -> anyhow::Result<()> {
    let workload = match &a.event {
        Some(p) => Workload::Event(p.clone()),
        None => Workload::from_name(&a.workload)
            .with_context(|| format!("unknown workload {:?} (one of {})", a.workload, Workload::NAMES.join(", ")))?,
    };
    let modes = a
        .modes
        .iter()
        .map(|m| StartMode::from_name(m).with_context(|| format!("unknown start mode {m:?} (cold, warm)")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Own stacks run the function; an --endpoint run drives someone else's.
    let bootstrap = if a.endpoint.is_none() { Some(function::for_bench("bench tune")?) } else { None };
    let opts = TuneOptions {
        workload,
        memories: a.memory,
        timeouts: a.timeouts,
        modes,
        invocations: a.invocations,
        prices: Prices { x86_64_gb_s: a.price_x86, arm64_gb_s: a.price_arm, per_million_requests: a.price_requests },
        balanced_weight: a.balanced_weight,
        s3_model: parse_s3_latency(&a.s3_latency)?,
        endpoint: a.endpoint,
        user: a.user,
        password: a.password,
        folder: a.folder,
        data_dir: a.data_dir,
        bootstrap,
        use_cgroups: !a.no_cgroups,
        cube: CubeSpec::parse(&a.shape, &a.chunks).map_err(anyhow::Error::msg)?,
        progress: !a.quiet,
        chunk_cache_mb: a.chunk_cache_mb,
    };
    let report = tune::run(&opts).await?;
    print!("{}", tune::report::table(&report));
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&tune::report::json(&report))?;
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
        println!("JSON: {}", p.display());
    }
    if let Some(p) = &a.html {
        std::fs::write(p, tune::report::html(&report)).with_context(|| format!("writing {}", p.display()))?;
        println!("HTML: {}", p.display());
    }
    Ok(())
}

async fn bench_selection(a: SelectionArgs) -> anyhow::Result<()> {
    let opts = SelectionOptions {
        cube: CubeSpec::parse(&a.shape, &a.chunks).map_err(anyhow::Error::msg)?,
        reps: a.reps,
        memory_mb: a.memory,
        s3_model: parse_s3_latency(&a.s3_latency)?,
        bootstrap: Some(function::for_bench("bench selection")?),
        hsds_endpoint: a.hsds_endpoint,
        hsds_user: a.hsds_user,
        hsds_password: a.hsds_password,
        chunk_cache: a.chunk_cache,
        hsds_cold_endpoint: a.hsds_cold_endpoint,
        stream_bandwidth: a.stream_bandwidth,
    };
    let report = tune::selection::run(&opts).await?;
    print!("{}", tune::selection::markdown(&report));
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", p.display()))?;
        println!("JSON: {}", p.display());
    }
    Ok(())
}

/// A duration in seconds (fractions allowed) between 0 and an hour.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 3600")),
    }
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let stack = start_stack(args).await?;
    println!("Ctrl-C to stop.");
    until_stopped(stack).await
}

/// `view`: the page (built first, so a missing npm fails before anything starts), the stack, the page's
/// server; then the URL to open.
async fn view(args: ViewArgs) -> anyhow::Result<()> {
    let dist = match args.viewer_dist {
        Some(d) if d.join("index.html").is_file() => d,
        Some(d) => anyhow::bail!("--viewer-dist {}: no index.html there (give a `vite build` output)", d.display()),
        None => viewer::ensure_built()?,
    };
    let host = args.up.host.clone();
    let listener = tokio::net::TcpListener::bind((host.as_str(), args.view_port))
        .await
        .with_context(|| format!("cannot listen on {host}:{} for the h5web page", args.view_port))?;
    let stack = start_stack(args.up).await?;
    let config = viewer::PageConfig { port: stack.front_addr.port(), domain: args.domain.clone() };
    let addr = viewer::serve(listener, dist, config).await?;
    let shown = if addr.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], addr.port())) } else { addr };
    let query = args.domain.map(|d| format!("?domain={}", viewer::query_escape(&d))).unwrap_or_default();
    println!("h5web: open http://{shown}/{query}  (the page calls the front door directly; Ctrl-C to stop)");
    until_stopped(stack).await
}

/// Starts the stack described by `args` and prints what runs where.
async fn start_stack(args: UpArgs) -> anyhow::Result<Stack> {
    let binary = function::resolve(args.function_binary.as_deref())?;
    let mut function = default_function(binary.path);
    function.args = binary.args;
    function.memory_mb = args.memory;
    function.timeout = Duration::from_secs(args.timeout);
    function.concurrency = args.concurrency as usize;
    function.env = args.env;
    if let Some(url) = &args.s3_endpoint {
        function.env.push(("AWS_S3_GATEWAY".into(), url.clone()));
    }
    function.print_logs = true;
    function.idle_timeout = Duration::from_secs_f64(args.idle_timeout);
    function.event_max_retries = args.event_max_retries;
    function.event_retry_delay = Duration::from_secs_f64(args.event_retry_delay);
    let config = StackConfig {
        host: args.host,
        port: args.port,
        s3_port: args.s3_port,
        invoke_port: args.invoke_port,
        data_dir: args.data_dir,
        bucket: args.bucket,
        users_file: args.users,
        function,
        s3_faults: args.s3_faults,
        kill_rate: args.kill_rate,
        use_cgroups: !args.no_cgroups,
        front_door: args.front_door,
        stream_bandwidth: args.stream_bandwidth,
        s3_auth: args.s3_auth,
    };
    let stack = Stack::start(config).await?;
    let f = stack.sandbox.config();
    let command = std::iter::once(f.bootstrap.display().to_string()).chain(f.args.iter().cloned()).collect::<Vec<_>>();
    println!("hslambda up: function {} runs `{}` ({})", f.name, command.join(" "), binary.how);
    println!("  memory {} MB, timeout {} s, concurrency {}", f.memory_mb, f.timeout.as_secs(), f.concurrency);
    if let Some(url) = &args.s3_endpoint {
        println!("  the function's S3: {url} (external; the built-in S3 below still serves the data directory)");
    }
    match &stack.config.users_file {
        Some(u) => println!("  users: {}", u.display()),
        None => println!("  users: none (anonymous access only; pass --users passwd.txt)"),
    }
    println!(
        "  idle instances reaped after {} s; failed Event invocations retried {} time(s), first after {} s",
        f.idle_timeout.as_secs_f64(),
        f.event_max_retries,
        f.event_retry_delay.as_secs_f64()
    );
    if stack.config.front_door == FrontDoor::ApiGateway && f.timeout > lambda_emulator::gateway::INTEGRATION_TIMEOUT {
        println!(
            "  note: the function timeout ({} s) exceeds API Gateway's 30 s integration timeout: front-door \
             requests running longer get 503 (the Invoke API waits the full timeout)",
            f.timeout.as_secs()
        );
    }
    for line in stack.endpoints() {
        println!("  {line}");
    }
    for line in stack.sandbox.limits().describe() {
        println!("  {line}");
    }
    for rule in stack.faults.get().await {
        println!("  S3 fault: {rule:?}");
    }
    if stack.config.kill_rate > 0.0 {
        println!("  instance kills: {} of invocations killed at a random point (--kill-rate)", stack.config.kill_rate);
    }
    Ok(stack)
}

/// Waits for Ctrl-C or SIGTERM, then stops `stack`.
async fn until_stopped(stack: Stack) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    println!("hslambda: stopping ({} function processes)", stack.sandbox.live_count());
    stack.shutdown();
    Ok(())
}

async fn invoke(args: InvokeArgs) -> anyhow::Result<()> {
    let event = if args.event.as_os_str() == "-" {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read(&args.event).with_context(|| format!("reading event file {}", args.event.display()))?
    };
    let url = format!("{}/2015-03-31/functions/{}/invocations", args.endpoint.trim_end_matches('/'), args.function);
    let resp = reqwest::Client::new()
        .post(&url)
        .header("x-amz-log-type", "Tail")
        .body(event)
        .send()
        .await
        .with_context(|| format!("POST {url} (is `hslambda up` running?)"))?;
    let status = resp.status();
    let function_error = resp.headers().get("x-amz-function-error").and_then(|v| v.to_str().ok()).map(str::to_string);
    let log = resp
        .headers()
        .get("x-amz-log-result")
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v.as_bytes()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let body = resp.text().await?;
    println!("{body}");
    if let Some(report) = log.as_deref().and_then(|l| l.lines().find(|l| l.starts_with("REPORT"))) {
        eprintln!("{report}");
    }
    if let Some(err) = function_error {
        anyhow::bail!("function error: {err}");
    }
    if !status.is_success() {
        anyhow::bail!("Invoke API answered {status}");
    }
    Ok(())
}

// One thread runs the emulator's I/O (front door, Invoke and Runtime APIs, S3), as in the function: an
// invocation hands over between those servers several times, and on a multi-thread runtime each hand-over
// wakes another worker (futexes and context switches were a third of the emulator's CPU). File reads and
// writes still run on the blocking pool. Measured on 2 cores: front door GET /about p50 0.33 → 0.31 ms,
// `hslambda load` 5711 → 6046 invocations/s (BENCHMARKS.md).
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Function = cli.command {
        // The function process: its own logging and runtime, exactly as `bootstrap` starts.
        return match hsds_handler::runtime::main() {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hslambda function: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    // User errors (a missing file, a port in use, ...) as one line with their causes, no backtrace.
    match run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hslambda: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn run(command: Command) -> anyhow::Result<()> {
    hsds_handler::alloc::keep_freed_memory();
    // s3s logs every S3 error answer (404s, 412s of lost races, injected faults) at ERROR: those are answers
    // to the function, which reports what matters itself, so they are off unless HSLAMBDA_LOG asks for them.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HSLAMBDA_LOG")
                .unwrap_or_else(|_| "warn,s3s::ops=off,s3s::service=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match command {
        Command::Function => anyhow::bail!("`hslambda function` runs on its own runtime (see main)"),
        Command::Up(args) => up(args).await,
        Command::View(args) => view(args).await,
        Command::Invoke(args) => invoke(args).await,
        Command::Race(args) => race_cmd::race(args).await,
        Command::Soak(args) => soak_cmd::soak(args).await,
        Command::Load(args) => load_cmd::load(args).await,
        Command::Bench(BenchCommand::Tune(args)) => bench_tune(*args).await,
        Command::Bench(BenchCommand::Selection(args)) => bench_selection(args).await,
    }
}
