//! `hslambda bench tune`: which memory size and timeout should the function have?
//!
//! Runs a workload across a matrix of memory sizes × timeouts × start modes (cold: a new instance per
//! measured invocation; warm: one reused instance), reads each invocation's REPORT line (duration,
//! billed duration, init duration, max memory used, status) from the Invoke API's log tail — as AWS
//! Lambda Power Tuning does — and prices it for x86_64 and arm64. The result is a table, Power-Tuning
//! compatible JSON with richer per-setting data, and an HTML report with a cost-vs-duration chart.
//!
//! By default the bench brings up its own stacks over a temporary data directory (one stack per memory
//! × timeout, all on the same data, the S3 latency model applied); with an endpoint it drives a running
//! `hslambda up` instead, whose memory size is fixed.

pub mod chart;
pub mod cost;
pub mod report;
pub mod selection;
pub mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use lambda_emulator::s3_latency::S3Model;
use lambda_emulator::sandbox::Report;
use lambda_emulator::Stack;
use serde::Serialize;
use serde_json::Value;

use crate::stack::{self, StackDir};
use cost::{pick, Arch, Candidate, Picks, Prices, Summary};
use report::parse_report_line;
use workload::{CubeSpec, Fixture, Workload};

/// Cold or warm measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartMode {
    /// A new instance (process spawn + INIT) for every measured invocation.
    Cold,
    /// One instance, warmed by an unmeasured first invocation, reused.
    Warm,
}

impl StartMode {
    /// Parses `cold` / `warm`.
    pub fn from_name(s: &str) -> Option<StartMode> {
        match s {
            "cold" => Some(StartMode::Cold),
            "warm" => Some(StartMode::Warm),
            _ => None,
        }
    }

    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            StartMode::Cold => "cold",
            StartMode::Warm => "warm",
        }
    }
}

/// Everything `bench tune` is asked to do.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// The workload.
    pub workload: Workload,
    /// Memory sizes in MB (128–10240).
    pub memories: Vec<u32>,
    /// Timeouts in seconds (1–900).
    pub timeouts: Vec<u64>,
    /// Start modes.
    pub modes: Vec<StartMode>,
    /// Measured invocations per setting.
    pub invocations: usize,
    /// Prices.
    pub prices: Prices,
    /// Power Tuning's `balancedWeight` (0 = speed only, 1 = cost only).
    pub balanced_weight: f64,
    /// S3 latency model for the bench's own stacks (`None`: raw local disk speed).
    pub s3_model: Option<S3Model>,
    /// A running stack's front door instead of the bench's own stacks.
    pub endpoint: Option<String>,
    /// User, password and folder for the data on an endpoint.
    pub user: String,
    /// Password of `user`.
    pub password: String,
    /// Folder the bench's domain is created in.
    pub folder: String,
    /// Data directory for the bench's own stacks (default: a temporary one).
    pub data_dir: Option<PathBuf>,
    /// The function executable for the bench's own stacks (default: a located `bootstrap`).
    pub bootstrap: Option<stack::FunctionExe>,
    /// Try cgroups (memory.max, cpu.max) for the bench's own stacks.
    pub use_cgroups: bool,
    /// The cube the data workloads read.
    pub cube: CubeSpec,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// The function's chunk cache size in MB at every setting (`Some(0)`: off, so every invocation does
    /// the same decoding work whatever its memory); `None`: the function sizes it from its memory.
    pub chunk_cache_mb: Option<u32>,
}

/// How one invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx from the handler.
    Ok,
    /// The handler answered an HTTP error status.
    HttpError(u16),
    /// The function failed (unhandled error, crash).
    FunctionError,
    /// `Status: timeout`.
    Timeout,
    /// `Runtime.OutOfMemory`.
    OutOfMemory,
}

/// One measured invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Invoke-phase duration (ms).
    pub duration_ms: f64,
    /// Billed ms (INIT included on a cold start).
    pub billed_ms: u64,
    /// INIT duration on a cold start (ms).
    pub init_ms: Option<f64>,
    /// Max Memory Used (MB).
    pub max_memory_mb: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// Cost of one setting on one architecture.
#[derive(Debug, Clone, Serialize)]
pub struct ArchCost {
    /// Architecture.
    pub arch: Arch,
    /// Mean cost of one invocation, duration (incl. INIT) plus request charge (USD).
    pub per_invocation: f64,
    /// The same per million invocations (USD).
    pub per_million: f64,
    /// Power Tuning's `averagePrice`: duration cost of the mean billed duration, no request charge.
    pub duration_only: f64,
}

/// Aggregated results of one memory × timeout × mode setting.
#[derive(Debug, Clone, Serialize)]
pub struct SettingResult {
    /// Memory size (MB).
    pub memory_mb: u32,
    /// Timeout (s).
    pub timeout_s: u64,
    /// Cold or warm.
    pub mode: StartMode,
    /// Invoke-phase duration (ms).
    pub duration_ms: Summary,
    /// Billed duration (ms).
    pub billed_ms: Summary,
    /// INIT duration (ms), cold starts only.
    pub init_ms: Option<Summary>,
    /// Largest Max Memory Used seen (MB).
    pub max_memory_used_mb: u64,
    /// Successful invocations.
    pub ok: usize,
    /// HTTP error answers and function errors.
    pub errors: usize,
    /// Timeouts.
    pub timeouts: usize,
    /// Out-of-memory kills.
    pub ooms: usize,
    /// HTTP statuses of the handler's answers.
    pub http_status: BTreeMap<u16, usize>,
    /// Cost per architecture.
    pub cost: Vec<ArchCost>,
    /// Wall time of the whole setting (s), for the bench's own speed.
    pub wall_s: f64,
}

impl SettingResult {
    /// Whether every invocation succeeded (only those settings are recommended).
    pub fn clean(&self) -> bool {
        self.errors == 0 && self.timeouts == 0 && self.ooms == 0 && self.ok > 0
    }

    /// The duration the recommendation compares: trimmed mean, plus INIT for cold starts (as Power Tuning).
    pub fn compared_duration(&self) -> f64 {
        self.duration_ms.trimmed_mean + self.init_ms.map(|s| s.trimmed_mean).unwrap_or(0.0)
    }

    /// The cost entry of `arch`.
    pub fn cost_of(&self, arch: Arch) -> &ArchCost {
        self.cost.iter().find(|c| c.arch == arch).expect("every setting is priced for every arch")
    }

    /// Aggregates `samples`.
    pub fn from_samples(
        memory_mb: u32,
        timeout_s: u64,
        mode: StartMode,
        samples: &[Sample],
        prices: &Prices,
        wall: Duration,
    ) -> SettingResult {
        let durations: Vec<f64> = samples.iter().map(|s| s.duration_ms).collect();
        let billed: Vec<f64> = samples.iter().map(|s| s.billed_ms as f64).collect();
        let inits: Vec<f64> = samples.iter().filter_map(|s| s.init_ms).collect();
        let count = |f: &dyn Fn(&Outcome) -> bool| samples.iter().filter(|s| f(&s.outcome)).count();
        let mut http_status = BTreeMap::new();
        for s in samples {
            match s.outcome {
                Outcome::Ok => *http_status.entry(200).or_insert(0) += 1,
                Outcome::HttpError(c) => *http_status.entry(c).or_insert(0) += 1,
                _ => {}
            }
        }
        let billed_summary = Summary::of(&billed);
        let cost = Arch::ALL
            .iter()
            .map(|&arch| {
                let per = prices.invocation_cost(arch, memory_mb, billed_summary.mean);
                ArchCost {
                    arch,
                    per_invocation: per,
                    per_million: per * 1e6,
                    duration_only: prices.duration_cost(arch, memory_mb, billed_summary.mean),
                }
            })
            .collect();
        SettingResult {
            memory_mb,
            timeout_s,
            mode,
            duration_ms: Summary::of(&durations),
            billed_ms: billed_summary,
            init_ms: (!inits.is_empty()).then(|| Summary::of(&inits)),
            max_memory_used_mb: samples.iter().map(|s| s.max_memory_mb).max().unwrap_or(0),
            ok: count(&|o| *o == Outcome::Ok),
            errors: count(&|o| matches!(o, Outcome::HttpError(_) | Outcome::FunctionError)),
            timeouts: count(&|o| *o == Outcome::Timeout),
            ooms: count(&|o| *o == Outcome::OutOfMemory),
            http_status,
            cost,
            wall_s: wall.as_secs_f64(),
        }
    }
}

/// The recommendation for one architecture and start mode.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    /// Architecture priced.
    pub arch: Arch,
    /// Start mode measured.
    pub mode: StartMode,
    /// Index into `settings` of the cheapest, fastest and balanced settings.
    pub picks: Picks,
}

/// Everything a tuning run found.
#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    /// Workload name.
    pub workload: String,
    /// Measured invocations per setting.
    pub invocations: usize,
    /// Where it ran: `own stacks` or the endpoint URL.
    pub target: String,
    /// What the emulator applied, one line per limit (from `limits.rs`).
    pub limits: Vec<String>,
    /// Whether CPU was shaped in proportion to memory (if not, durations are not comparable to AWS).
    pub cpu_shaped: bool,
    /// The S3 latency model in force, if any.
    pub s3_model: Option<S3Model>,
    /// Prices used.
    pub prices: Prices,
    /// Power Tuning's balancedWeight.
    pub balanced_weight: f64,
    /// Notes (skipped modes, assumptions).
    pub notes: Vec<String>,
    /// One entry per setting, in run order.
    pub settings: Vec<SettingResult>,
    /// Per arch and mode.
    pub recommendations: Vec<Recommendation>,
    /// Wall time of the data setup (s).
    pub setup_s: f64,
    /// Wall time of the whole run (s).
    pub elapsed_s: f64,
}

impl TuneReport {
    /// Works out the recommendations from the settings (clean settings only).
    pub fn recommend(&mut self) {
        self.recommendations.clear();
        let modes: Vec<StartMode> = {
            let mut m: Vec<StartMode> = self.settings.iter().map(|s| s.mode).collect();
            m.sort();
            m.dedup();
            m
        };
        for arch in Arch::ALL {
            for &mode in &modes {
                let candidates: Vec<Candidate> = self
                    .settings
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.mode == mode && s.clean())
                    .map(|(i, s)| Candidate {
                        index: i,
                        cost: s.cost_of(arch).per_invocation,
                        duration: s.compared_duration(),
                    })
                    .collect();
                if let Some(picks) = pick(&candidates, self.balanced_weight) {
                    self.recommendations.push(Recommendation { arch, mode, picks });
                }
            }
        }
    }
}

/// A place to send events: the Invoke API URL of a function.
pub struct Invoker {
    http: reqwest::Client,
    url: String,
}

impl Invoker {
    /// The Invoke API of function `name` behind `endpoint`.
    pub fn new(endpoint: &str, name: &str) -> Invoker {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(960)).build().expect("reqwest client");
        Invoker { http, url: format!("{}/2015-03-31/functions/{name}/invocations", endpoint.trim_end_matches('/')) }
    }

    /// Invokes with `event` (RequestResponse, log tail) and reads the REPORT line.
    pub async fn invoke(&self, event: Vec<u8>) -> anyhow::Result<Sample> {
        let resp = self.http.post(&self.url).header("x-amz-log-type", "Tail").body(event).send().await?;
        let status = resp.status();
        let function_error = resp.headers().contains_key("x-amz-function-error");
        let log = resp
            .headers()
            .get("x-amz-log-result")
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v.as_bytes()).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let payload = resp.bytes().await?;
        anyhow::ensure!(
            status.is_success(),
            "Invoke API {} answered {status}: {}",
            self.url,
            String::from_utf8_lossy(&payload)
        );
        let report: Report = log
            .lines()
            .rev()
            .find_map(parse_report_line)
            .ok_or_else(|| anyhow::anyhow!("no REPORT line in the invocation's log tail"))?;
        let outcome = if report.status == Some("timeout") {
            Outcome::Timeout
        } else if report.error_type.as_deref() == Some("Runtime.OutOfMemory") {
            Outcome::OutOfMemory
        } else if function_error {
            Outcome::FunctionError
        } else {
            let code = serde_json::from_slice::<Value>(&payload)
                .ok()
                .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
                .unwrap_or(200) as u16;
            if code < 400 {
                Outcome::Ok
            } else {
                Outcome::HttpError(code)
            }
        };
        Ok(Sample {
            duration_ms: report.duration_ms,
            billed_ms: report.billed_ms,
            init_ms: report.init_duration_ms,
            max_memory_mb: report.max_memory_used_mb,
            outcome,
        })
    }
}

/// Checks the options make sense before anything starts.
pub fn validate(opts: &TuneOptions) -> Result<(), String> {
    if opts.memories.is_empty() || opts.timeouts.is_empty() || opts.modes.is_empty() {
        return Err("give at least one memory size, one timeout and one start mode".into());
    }
    if let Some(m) = opts.memories.iter().find(|m| !(128..=10240).contains(*m)) {
        return Err(format!("memory size {m} MB is outside Lambda's 128-10240 MB"));
    }
    if let Some(t) = opts.timeouts.iter().find(|t| !(1..=900).contains(*t)) {
        return Err(format!("timeout {t} s is outside Lambda's 1-900 s"));
    }
    if opts.invocations == 0 {
        return Err("--invocations must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&opts.balanced_weight) {
        return Err(format!("balanced weight {} must be between 0 and 1", opts.balanced_weight));
    }
    Ok(())
}

/// The events the workload cycles through.
fn events(opts: &TuneOptions, fx: Option<&Fixture>) -> anyhow::Result<Vec<Vec<u8>>> {
    if let Workload::Event(path) = &opts.workload {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading event file {}: {e}", path.display()))?;
        serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| anyhow::anyhow!("event file {} is not JSON: {e}", path.display()))?;
        return Ok(vec![bytes]);
    }
    let fx = fx.ok_or_else(|| anyhow::anyhow!("workload {} needs its data", opts.workload.name()))?;
    Ok(workload::requests(&opts.workload, fx).iter().map(|r| workload::event(r, fx)).collect())
}

fn progress_bar(total: u64, show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} invocations  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb
}

/// Measures one setting: `n` invocations cycling through `events`.
async fn measure(
    invoker: &Invoker,
    events: &[Vec<u8>],
    n: usize,
    mode: StartMode,
    stack: Option<&Stack>,
    pb: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::with_capacity(n);
    if mode == StartMode::Warm {
        invoker.invoke(events[0].clone()).await?; // warm-up: INIT happens here, unmeasured
    }
    for i in 0..n {
        if mode == StartMode::Cold {
            if let Some(s) = stack {
                s.sandbox.reap_idle();
            }
        }
        samples.push(invoker.invoke(events[i % events.len()].clone()).await?);
        pb.inc(1);
    }
    Ok(samples)
}

/// Runs the whole matrix.
pub async fn run(opts: &TuneOptions) -> anyhow::Result<TuneReport> {
    validate(opts).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let mut notes = Vec::new();
    let domain = format!("{}/tune-{}.h5", opts.folder.trim_end_matches('/'), uuid::Uuid::new_v4().simple());
    let needs_data = !matches!(opts.workload, Workload::Event(_));

    if let Some(endpoint) = &opts.endpoint {
        return run_remote(opts, endpoint, &domain, needs_data, started).await;
    }

    let bootstrap = stack::bootstrap(opts.bootstrap.as_ref())?;
    let dir = StackDir::new(opts.data_dir.clone())?;
    let function = |memory, timeout| {
        let mut f = stack::function(bootstrap.clone(), memory, Duration::from_secs(timeout), 1);
        if let Some(mb) = opts.chunk_cache_mb {
            f.env.push((selection::CHUNK_CACHE_ENV.into(), mb.to_string()));
        }
        f
    };
    if let Some(mb) = opts.chunk_cache_mb {
        notes.push(format!(
            "function chunk cache fixed at {mb} MB at every memory size ({}={mb}){}",
            selection::CHUNK_CACHE_ENV,
            if mb == 0 { ": every invocation reads and decodes its chunks" } else { "" }
        ));
    }

    // Data, once, in a setup stack without the latency model.
    let setup_started = Instant::now();
    let fixture = if needs_data {
        let stack = dir.start(function(3008, 120), false).await?;
        let front = format!("http://{}", stack.front_addr);
        workload::ensure_folder(&front, ("admin", "admin"), &opts.folder, "test_user1").await?;
        let fx = workload::setup(&front, ("test_user1", "test"), &domain, &opts.workload, opts.cube).await?;
        stack.shutdown();
        Some(fx)
    } else {
        None
    };
    let setup_s = setup_started.elapsed().as_secs_f64();
    let events = events(opts, fixture.as_ref())?;

    let total = (opts.memories.len() * opts.timeouts.len() * opts.modes.len() * opts.invocations) as u64;
    let pb = progress_bar(total, opts.progress);
    let mut settings = Vec::new();
    let mut limits = Vec::new();
    let mut cpu_shaped = true;
    for &memory in &opts.memories {
        for &timeout in &opts.timeouts {
            let stack = dir.start(function(memory, timeout), opts.use_cgroups).await?;
            stack.faults.set_model(opts.s3_model).await;
            let l = stack.sandbox.limits();
            cpu_shaped &= l.cpu_shaped();
            // What was applied at each size (the CPU quota differs per size).
            limits.extend(l.describe());
            let invoker = Invoker::new(&format!("http://{}", stack.front_addr), &stack.sandbox.config().name);
            for &mode in &opts.modes {
                pb.set_message(format!("{memory} MB, {timeout} s, {}", mode.name()));
                let t0 = Instant::now();
                let samples = measure(&invoker, &events, opts.invocations, mode, Some(&stack), &pb).await?;
                settings.push(SettingResult::from_samples(memory, timeout, mode, &samples, &opts.prices, t0.elapsed()));
            }
            stack.shutdown();
        }
    }
    pb.finish_and_clear();
    if !cpu_shaped {
        notes.push(
            "CPU was NOT shaped in proportion to memory (no usable cgroup v2 cpu.max here): every memory size ran \
             at host speed, so durations are not comparable to AWS and the memory/duration trade-off is understated."
                .into(),
        );
    }
    let mut report = TuneReport {
        workload: opts.workload.name(),
        invocations: opts.invocations,
        target: "own stacks (temporary data directory)".into(),
        limits,
        cpu_shaped,
        s3_model: opts.s3_model,
        prices: opts.prices,
        balanced_weight: opts.balanced_weight,
        notes,
        settings,
        recommendations: Vec::new(),
        setup_s,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    report.recommend();
    Ok(report)
}

async fn run_remote(
    opts: &TuneOptions,
    endpoint: &str,
    domain: &str,
    needs_data: bool,
    started: Instant,
) -> anyhow::Result<TuneReport> {
    let mut notes = vec![format!(
        "Ran against the running stack at {endpoint}: its memory size and timeout are fixed, so the matrix is that \
         one setting; the S3 latency model is whatever that stack applies."
    )];
    let status: Option<Value> = match reqwest::get(format!("{}/_emulator/status", endpoint.trim_end_matches('/'))).await
    {
        Ok(r) if r.status().is_success() => r.json().await.ok(),
        _ => None,
    };
    let memory = status.as_ref().and_then(|s| s["memory_mb"].as_u64()).map(|m| m as u32).unwrap_or(opts.memories[0]);
    let timeout = status.as_ref().and_then(|s| s["timeout_s"].as_f64()).map(|t| t as u64).unwrap_or(opts.timeouts[0]);
    let name = status.as_ref().and_then(|s| s["function"].as_str()).unwrap_or("hslambda").to_string();
    let limits: Vec<String> = status
        .as_ref()
        .and_then(|s| s["limits"].as_array())
        .map(|a| a.iter().filter_map(|l| l.as_str().map(str::to_string)).collect())
        .unwrap_or_else(|| vec!["limits unknown (the endpoint has no /_emulator/status)".into()]);
    let cpu_shaped = limits.iter().any(|l| l.starts_with("CPU share") && l.contains(": applied"));
    if status.is_none() {
        notes.push(format!(
            "{endpoint} has no /_emulator/status: memory {memory} MB and timeout {timeout} s are assumed"
        ));
    }
    let setup_started = Instant::now();
    let fixture = if needs_data {
        let _ = workload::ensure_folder(endpoint, ("admin", "admin"), &opts.folder, &opts.user).await;
        Some(workload::setup(endpoint, (&opts.user, &opts.password), domain, &opts.workload, opts.cube).await?)
    } else {
        None
    };
    let setup_s = setup_started.elapsed().as_secs_f64();
    let events = events(opts, fixture.as_ref())?;
    let modes: Vec<StartMode> = opts.modes.iter().copied().filter(|m| *m == StartMode::Warm).collect();
    if modes.len() < opts.modes.len() {
        notes.push("cold starts cannot be forced on a remote endpoint: cold mode skipped".into());
    }
    let pb = progress_bar((modes.len() * opts.invocations) as u64, opts.progress);
    let invoker = Invoker::new(endpoint, &name);
    let mut settings = Vec::new();
    for mode in modes {
        let t0 = Instant::now();
        let samples = measure(&invoker, &events, opts.invocations, mode, None, &pb).await?;
        settings.push(SettingResult::from_samples(memory, timeout, mode, &samples, &opts.prices, t0.elapsed()));
    }
    pb.finish_and_clear();
    if !cpu_shaped {
        notes.push("CPU was NOT shaped in proportion to memory: durations are not comparable to AWS.".into());
    }
    let mut report = TuneReport {
        workload: opts.workload.name(),
        invocations: opts.invocations,
        target: endpoint.to_string(),
        limits,
        cpu_shaped,
        s3_model: None,
        prices: opts.prices,
        balanced_weight: opts.balanced_weight,
        notes,
        settings,
        recommendations: Vec::new(),
        setup_s,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    report.recommend();
    Ok(report)
}
