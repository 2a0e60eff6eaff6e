//! `hslambda`: run the local AWS stack around the `bootstrap` function (`up`) and talk to it (`invoke`).
//! Argument parsing and wiring only; the work is in the `lambda-emulator` crate.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use clap::{Args, Parser, Subcommand};
use lambda_emulator::faults::FaultRule;
use lambda_emulator::sandbox::locate_bootstrap;
use lambda_emulator::{default_function, Stack, StackConfig};

#[derive(Parser)]
#[command(name = "hslambda", version, about = "The HDF REST API on AWS Lambda, and a local AWS to run it in")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the local stack: S3 on a directory, the Lambda service running `bootstrap`, an HTTP front door.
    Up(UpArgs),
    /// Send an event file to the Invoke API of a running stack; print the response and the REPORT line.
    Invoke(InvokeArgs),
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
    /// Extra environment variable for the function, repeatable: NAME=VALUE.
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Do not try cgroups (enforce memory by polling RSS; CPU not shaped).
    #[arg(long)]
    no_cgroups: bool,
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

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let bootstrap = locate_bootstrap().map_err(anyhow::Error::msg)?;
    let mut function = default_function(bootstrap);
    function.memory_mb = args.memory;
    function.timeout = Duration::from_secs(args.timeout);
    function.concurrency = args.concurrency as usize;
    function.env = args.env;
    function.print_logs = true;
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
        use_cgroups: !args.no_cgroups,
    };
    let stack = Stack::start(config).await?;
    let f = stack.sandbox.config();
    println!("hslambda up: function {} ({})", f.name, f.bootstrap.display());
    println!("  memory {} MB, timeout {} s, concurrency {}", f.memory_mb, f.timeout.as_secs(), f.concurrency);
    match &stack.config.users_file {
        Some(u) => println!("  users: {}", u.display()),
        None => println!("  users: none (anonymous access only; pass --users passwd.txt)"),
    }
    if f.timeout > lambda_emulator::gateway::INTEGRATION_TIMEOUT {
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
    println!("Ctrl-C to stop.");

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HSLAMBDA_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Up(args) => up(args).await,
        Command::Invoke(args) => invoke(args).await,
    }
}
