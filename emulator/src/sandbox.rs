//! Function instances: `bootstrap` processes with Lambda's environment, a warm pool, cold starts on
//! demand up to the concurrency limit, one invocation at a time per process, timeouts, memory limits,
//! and START/END/REPORT log lines with measured memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::kills::Kills;
use crate::limits::{rss_and_peak_kb, InstanceCgroup, Limits};
use crate::runtime_api::{new_trace_id, Invocation, Outcome, RuntimeApi, StreamEnd, Streaming, MAX_RESPONSE_BYTES};
use crate::signal::sigkill;

/// Lambda's limit on the INIT phase.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an invocation's log `X-Amz-Log-Result` carries.
pub const LOG_TAIL_BYTES: usize = 4096;
/// Account id used in ARNs.
pub const ACCOUNT_ID: &str = "123456789012";
/// Region reported to the function.
pub const REGION: &str = "us-east-1";

/// What to run and how.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The `bootstrap` executable.
    pub bootstrap: PathBuf,
    /// Arguments it is started with: none for a real `bootstrap`; `["function"]` when the `hslambda` CLI
    /// serves as its own function.
    pub args: Vec<String>,
    /// Function name (`AWS_LAMBDA_FUNCTION_NAME`, and the name the Invoke API answers to).
    pub name: String,
    /// Memory size in MB.
    pub memory_mb: u32,
    /// Function timeout.
    pub timeout: Duration,
    /// Most instances alive at once (Lambda's reserved concurrency).
    pub concurrency: usize,
    /// Extra environment for the function (S3 endpoint, bucket, users file, ...).
    pub env: Vec<(String, String)>,
    /// Print the functions' log lines and REPORT lines on stdout.
    pub print_logs: bool,
    /// How long a warm instance may sit idle before it is reaped (Lambda recycles idle environments
    /// after minutes; the next invocation is then a cold start).
    pub idle_timeout: Duration,
    /// Retries of a failed Event (asynchronous) invocation: Lambda's `MaximumRetryAttempts`, 0-2.
    pub event_max_retries: u32,
    /// Wait before the first retry of a failed Event invocation; the n-th retry waits n times this
    /// (Lambda: about 1 minute, then 2).
    pub event_retry_delay: Duration,
}

impl FunctionConfig {
    /// The function's ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}", self.name)
    }
}

/// Finds `bootstrap`: `$HSLAMBDA_BOOTSTRAP`, else `$HSLAMBDA_BIN_DIR/bootstrap`, else next to the running executable.
pub fn locate_bootstrap() -> Result<PathBuf, String> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let (path, how) = if let Some(p) = env("HSLAMBDA_BOOTSTRAP") {
        (PathBuf::from(p), "HSLAMBDA_BOOTSTRAP")
    } else if let Some(d) = env("HSLAMBDA_BIN_DIR") {
        (PathBuf::from(d).join("bootstrap"), "HSLAMBDA_BIN_DIR")
    } else {
        let exe = std::env::current_exe().map_err(|e| format!("cannot locate the running executable: {e}"))?;
        let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        // Test binaries live in target/<profile>/deps; bootstrap is one level up.
        let candidates = [dir.join("bootstrap"), dir.join("../bootstrap")];
        let found = candidates.iter().find(|p| p.is_file()).cloned();
        (found.unwrap_or_else(|| dir.join("bootstrap")), "the directory of the running executable")
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the function binary `bootstrap` was not found at {} (located via {how}); build it with \
             `cargo build --release --workspace` (or point HSLAMBDA_BOOTSTRAP at it)",
            path.display()
        ))
    }
}

/// Whether to wait for a free instance slot or fail at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Queue until a slot frees (the HTTP front door).
    Wait,
    /// Refuse with [`InvokeError::Throttled`] when every slot is busy (the Invoke API: 429).
    Throttle,
}

/// The measured figures of one invocation, as in Lambda's REPORT line.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Invoke-phase duration in ms.
    pub duration_ms: f64,
    /// Billed ms: duration (plus init on a cold start) rounded up to the next ms.
    pub billed_ms: u64,
    /// Configured memory in MB.
    pub memory_mb: u32,
    /// Peak RSS of the process (VmHWM) in MB.
    pub max_memory_used_mb: u64,
    /// Process spawn → first `/next`, on a cold start.
    pub init_duration_ms: Option<f64>,
    /// `timeout` or `error` (sandbox-level failures), else `None`.
    pub status: Option<&'static str>,
    /// The sandbox error type (`Runtime.ExitError`, `Runtime.OutOfMemory`, ...).
    pub error_type: Option<String>,
}

impl Report {
    /// The REPORT line for request `id`, tab-separated like Lambda's.
    pub fn line(&self, id: &str) -> String {
        let mut s = format!(
            "REPORT RequestId: {id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            self.duration_ms, self.billed_ms, self.memory_mb, self.max_memory_used_mb
        );
        if let Some(init) = self.init_duration_ms {
            s.push_str(&format!("\tInit Duration: {init:.2} ms"));
        }
        if let Some(status) = self.status {
            s.push_str(&format!("\tStatus: {status}"));
        }
        if let Some(t) = &self.error_type {
            s.push_str(&format!("\tError Type: {t}"));
        }
        s
    }
}

/// The result of one invocation.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The request id given to the function.
    pub request_id: String,
    /// The function's response, or the error document.
    pub payload: Bytes,
    /// Set when the invocation failed (`X-Amz-Function-Error: Unhandled`).
    pub function_error: bool,
    /// The invocation's log: START, the function's lines, END, REPORT.
    pub log: String,
    /// The REPORT figures.
    pub report: Report,
}

impl Invoked {
    /// The last 4 KB of the log (what `X-Amz-Log-Result` carries, before base64).
    pub fn log_tail(&self) -> &str {
        let mut start = self.log.len().saturating_sub(LOG_TAIL_BYTES);
        while !self.log.is_char_boundary(start) {
            start += 1;
        }
        &self.log[start..]
    }
}

/// How an invocation answered: finished, or streaming its response.
#[derive(Debug)]
pub enum Answer {
    /// A buffered response, a function error, a timeout or a crash.
    Done(Invoked),
    /// The function is streaming its response.
    Streaming(StreamingInvocation),
}

/// A streamed response in progress: read `body` to its end, then `done` tells how the invocation ended
/// (with the error document after a mid-stream error, the log and the REPORT figures).
#[derive(Debug)]
pub struct StreamingInvocation {
    /// The request id given to the function.
    pub request_id: String,
    /// The response's `Content-Type`.
    pub content_type: Option<String>,
    /// The body, piece by piece as the function writes it.
    pub body: mpsc::Receiver<Bytes>,
    /// The finished invocation (its payload is empty unless it failed).
    pub done: oneshot::Receiver<Invoked>,
}

/// The start of a streamed response: its content type and its body channel.
struct StreamStart {
    content_type: Option<String>,
    body: mpsc::Receiver<Bytes>,
}

/// What is left to do once a streamed response has started: wait for its end, then report.
struct PendingStream {
    inst: Instance,
    request_id: String,
    start_line: String,
    started: Instant,
    end: oneshot::Receiver<StreamEnd>,
}

/// Why an invocation did not run.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// Every instance is busy and the caller asked not to wait.
    #[error("Rate Exceeded.")]
    Throttled,
    /// The function process could not be started.
    #[error("cannot start the function: {0}")]
    Spawn(String),
    /// The sandbox is shutting down.
    #[error("the emulator is shutting down")]
    ShuttingDown,
}

/// One running `bootstrap` process and its Runtime API.
struct Instance {
    /// Key of this process in the sandbox's `live` table.
    id: u64,
    live: Arc<StdMutex<HashMap<u64, u32>>>,
    pid: u32,
    tx: mpsc::Sender<Invocation>,
    api: Arc<RuntimeApi>,
    exited: watch::Receiver<Option<String>>,
    oom: Arc<AtomicBool>,
    peak_kb: Arc<AtomicU64>,
    /// The instance's cgroups, when the plan uses them and creating them worked.
    cgroup: Option<InstanceCgroup>,
    logs: Arc<StdMutex<String>>,
    spawned: Instant,
    /// Cold until its first invocation has reported the Init Duration.
    cold: bool,
    /// When it last went back to the idle pool.
    idle_since: Instant,
    tasks: Vec<JoinHandle<()>>,
    /// The concurrency slot held while a streamed response is in progress.
    stream_slot: Option<OwnedSemaphorePermit>,
}

impl Instance {
    fn alive(&self) -> bool {
        self.exited.borrow().is_none()
    }

    fn kill(&self) {
        if self.alive() {
            // Our own child, not yet reaped (exit not yet observed).
            sigkill(self.pid);
        }
    }

    /// Max Memory Used: the larger of the cgroup's peak and the process's peak RSS. The cgroup counts what the
    /// kernel charged to it (all anonymous memory, forks included) but not the executable's pages when the page
    /// cache already held them — which a fresh Lambda sandbox does count, and VmHWM does.
    fn peak_mb(&self) -> u64 {
        if let Some((_, hwm)) = rss_and_peak_kb(self.pid).filter(|_| self.alive()) {
            self.peak_kb.fetch_max(hwm, Ordering::Relaxed);
        }
        let cgroup_kb = self.cgroup.as_ref().and_then(InstanceCgroup::peak_bytes).map_or(0, |b| b.div_ceil(1024));
        self.peak_kb.load(Ordering::Relaxed).max(cgroup_kb).div_ceil(1024)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        // The exit waiter is aborted below and never sees this exit: the process is no longer live.
        self.live.lock().unwrap().remove(&self.id);
        for t in &self.tasks {
            t.abort();
        }
        // Its cgroups go with it, and whatever the function forked into them (off the async threads: removal
        // waits for the killed processes to leave).
        if let Some(cg) = self.cgroup.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(move || cg.remove())),
                Err(_) => cg.remove(),
            }
        }
    }
}

/// The pool of function instances for one function.
pub struct Sandbox {
    cfg: FunctionConfig,
    limits: Limits,
    idle: StdMutex<Vec<Instance>>,
    slots: Arc<Semaphore>,
    next_id: AtomicU64,
    /// pid of every live process, for shutdown.
    live: Arc<StdMutex<HashMap<u64, u32>>>,
    closed: AtomicBool,
    /// Instances killed at random points of their invocations (off unless a rate is set).
    kills: Kills,
}

fn exit_description(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(9)) => "signal: killed".into(),
        (None, Some(6)) => "signal: aborted".into(),
        (None, Some(11)) => "signal: segmentation fault".into(),
        (None, Some(15)) => "signal: terminated".into(),
        (None, Some(s)) => format!("signal: {s}"),
        _ => "unknown exit".into(),
    }
}

fn error_doc(error_type: &str, message: String) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

fn log_stream_name() -> String {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 86400;
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}/{m:02}/{d:02}/[$LATEST]{}", uuid::Uuid::new_v4().simple())
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn pipe_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    logs: Arc<StdMutex<String>>,
    print: bool,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if print {
                println!("{line}");
            }
            let mut buf = logs.lock().unwrap();
            buf.push_str(&line);
            buf.push('\n');
            // Keep memory bounded for chatty functions: only the tail is ever reported.
            if buf.len() > 64 * LOG_TAIL_BYTES {
                let cut = buf.len() - 16 * LOG_TAIL_BYTES;
                let cut = (cut..buf.len()).find(|i| buf.is_char_boundary(*i)).unwrap_or(buf.len());
                buf.drain(..cut);
            }
        }
    })
}

impl Sandbox {
    /// A pool for `cfg`, limited as `limits` says. No process starts until the first invocation.
    pub fn new(mut cfg: FunctionConfig, limits: Limits) -> Arc<Self> {
        // The process runs in the binary's directory (LAMBDA_TASK_ROOT): a relative path would break.
        if let Ok(abs) = cfg.bootstrap.canonicalize() {
            cfg.bootstrap = abs;
        }
        Arc::new(Sandbox {
            slots: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            cfg,
            limits,
            idle: StdMutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            live: Arc::new(StdMutex::new(HashMap::new())),
            closed: AtomicBool::new(false),
            kills: Kills::default(),
        })
    }

    /// The function's configuration.
    pub fn config(&self) -> &FunctionConfig {
        &self.cfg
    }

    /// What memory/CPU limits apply.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The instance killer: its rate (0 until set), seed and count of kills.
    pub fn kills(&self) -> &Kills {
        &self.kills
    }

    /// Number of warm idle instances.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap().len()
    }

    /// Number of invocations holding a concurrency slot (running, or admitted and starting an instance):
    /// tests wait for it instead of sleeping before they expect a throttle.
    pub fn busy_count(&self) -> usize {
        self.cfg.concurrency.max(1) - self.slots.available_permits()
    }

    /// Number of live function processes.
    pub fn live_count(&self) -> usize {
        self.live.lock().unwrap().len()
    }

    /// Kills every idle (warm) instance, so the next invocation is a cold start; returns how many.
    /// The tuning bench uses it to measure cold starts, as Lambda's idle reaping would cause them.
    pub fn reap_idle(&self) -> usize {
        self.reap_idle_for(Duration::ZERO)
    }

    /// Kills the warm instances idle for at least `age`; returns how many.
    pub fn reap_idle_for(&self, age: Duration) -> usize {
        let reaped: Vec<Instance> = {
            let mut idle = self.idle.lock().unwrap();
            let (old, keep) = std::mem::take(&mut *idle).into_iter().partition(|i| i.idle_since.elapsed() >= age);
            *idle = keep;
            old
        };
        reaped.len()
    }

    /// Reaps instances idle longer than the configured `idle_timeout`, checking a few times per timeout,
    /// until the sandbox is dropped or shut down.
    pub fn spawn_reaper(self: &Arc<Self>) -> JoinHandle<()> {
        let weak = Arc::downgrade(self);
        let every = (self.cfg.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(10));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(sandbox) = weak.upgrade() else { return };
                if sandbox.closed.load(Ordering::SeqCst) {
                    return;
                }
                let n = sandbox.reap_idle_for(sandbox.cfg.idle_timeout);
                if n > 0 {
                    tracing::info!("reaped {n} instance(s) idle for {:?}", sandbox.cfg.idle_timeout);
                }
            }
        })
    }

    /// Kills every function process and refuses further invocations.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.slots.close();
        self.idle.lock().unwrap().clear();
        for (_, pid) in self.live.lock().unwrap().drain() {
            // A child we spawned; at worst the process is already gone.
            sigkill(pid);
        }
        self.limits.cleanup();
    }

    async fn spawn(&self) -> Result<Instance, InvokeError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| InvokeError::Spawn(e.to_string()))?;
        let addr = listener.local_addr().map_err(|e| InvokeError::Spawn(e.to_string()))?;
        let (tx, rx) = mpsc::channel(1);
        let api = RuntimeApi::new(rx, self.cfg.arn());
        let router = api.router();
        let server = tokio::spawn(async move {
            let _ = axum::serve(crate::tcp::QuickAckListener(listener), router).await;
        });

        let mut cmd = tokio::process::Command::new(&self.cfg.bootstrap);
        cmd.args(&self.cfg.args).env_clear();
        for k in ["PATH", "HOME", "LOG_LEVEL", "RUST_LOG", "RUST_BACKTRACE"] {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        let task_root = self.cfg.bootstrap.parent().map(Path::to_path_buf).unwrap_or_default();
        let memory = self.cfg.memory_mb.to_string();
        let runtime_api = addr.to_string();
        let log_group = format!("/aws/lambda/{}", self.cfg.name);
        let log_stream = log_stream_name();
        let lambda_env: [(&str, &str); 14] = [
            ("AWS_LAMBDA_FUNCTION_NAME", &self.cfg.name),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_RUNTIME_API", &runtime_api),
            ("AWS_LAMBDA_LOG_GROUP_NAME", &log_group),
            ("AWS_LAMBDA_LOG_STREAM_NAME", &log_stream),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("LAMBDA_TASK_ROOT", task_root.to_str().unwrap_or("/var/task")),
            ("_HANDLER", "bootstrap"),
            ("TZ", ":UTC"),
            ("LANG", "en_US.UTF-8"),
            ("AWS_LC_SYS_NO_JITTER_ENTROPY", "1"),
        ];
        cmd.envs(lambda_env);
        cmd.envs(self.cfg.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.current_dir(&task_root).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.kill_on_drop(true);
        let cgroup = match self.limits.instance_cgroup(id) {
            Ok(cg) => cg,
            Err(e) => {
                tracing::warn!("{e}: this instance runs without cgroup limits (memory enforced by polling RSS)");
                None
            }
        };
        let join: Vec<std::ffi::CString> = cgroup
            .iter()
            .flat_map(InstanceCgroup::procs_files)
            .filter_map(|p| std::ffi::CString::new(p.into_os_string().into_encoded_bytes()).ok())
            .collect();
        // SAFETY: runs in the forked child before exec and calls only async-signal-safe functions (prctl, open,
        // write, close) on memory prepared before the fork. The function dies with the emulator, and joins its
        // cgroups ("0" is the writing process) before `bootstrap` runs, so all its memory is accounted there.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                for file in &join {
                    let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                Ok(())
            });
        }
        let spawned = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            server.abort();
            if let Some(cg) = &cgroup {
                cg.remove();
            }
            InvokeError::Spawn(format!("{}: {e}", self.cfg.bootstrap.display()))
        })?;
        let pid = child.id().unwrap_or(0);
        self.live.lock().unwrap().insert(id, pid);

        let logs = Arc::new(StdMutex::new(String::new()));
        let print = self.cfg.print_logs;
        let out = pipe_lines(child.stdout.take().expect("piped stdout"), logs.clone(), print);
        let err = pipe_lines(child.stderr.take().expect("piped stderr"), logs.clone(), print);

        let (exit_tx, exited) = watch::channel(None);
        let live = self.live.clone();
        let waiter = tokio::spawn(async move {
            let desc = match child.wait().await {
                Ok(status) => exit_description(status),
                Err(e) => format!("wait failed: {e}"),
            };
            live.lock().unwrap().remove(&id);
            let _ = exit_tx.send(Some(desc));
        });

        let oom = Arc::new(AtomicBool::new(false));
        let peak_kb = Arc::new(AtomicU64::new(0));
        let monitor = {
            let (oom, peak_kb, exited) = (oom.clone(), peak_kb.clone(), exited.clone());
            let limit_kb = u64::from(self.cfg.memory_mb) * 1024;
            // RSS polling where the plan has no memory cgroup, or this instance's could not be made.
            let enforce = !cgroup.as_ref().is_some_and(InstanceCgroup::limits_memory);
            tokio::spawn(async move {
                while exited.borrow().is_none() {
                    if let Some((rss, hwm)) = rss_and_peak_kb(pid) {
                        peak_kb.fetch_max(hwm, Ordering::Relaxed);
                        if enforce && rss > limit_kb && exited.borrow().is_none() {
                            oom.store(true, Ordering::SeqCst);
                            // Our unreaped child (exit not yet observed).
                            sigkill(pid);
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };

        Ok(Instance {
            id,
            live: self.live.clone(),
            pid,
            tx,
            api,
            exited,
            oom,
            peak_kb,
            cgroup,
            logs,
            spawned,
            cold: true,
            idle_since: Instant::now(),
            tasks: vec![server, out, err, waiter, monitor],
            stream_slot: None,
        })
    }

    fn take_idle(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().unwrap();
        while let Some(inst) = idle.pop() {
            if inst.alive() {
                return Some(inst);
            }
        }
        None
    }

    async fn admit(&self, admission: Admission) -> Result<OwnedSemaphorePermit, InvokeError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(InvokeError::ShuttingDown);
        }
        match admission {
            Admission::Throttle => self.slots.clone().try_acquire_owned().map_err(|e| match e {
                tokio::sync::TryAcquireError::Closed => InvokeError::ShuttingDown,
                tokio::sync::TryAcquireError::NoPermits => InvokeError::Throttled,
            }),
            Admission::Wait => self.slots.clone().acquire_owned().await.map_err(|_| InvokeError::ShuttingDown),
        }
    }

    /// Runs one invocation of `event` to completion (response, function error, timeout or crash).
    pub async fn invoke(
        &self,
        event: Bytes,
        client_context: Option<String>,
        admission: Admission,
    ) -> Result<Invoked, InvokeError> {
        self.invoke_as(uuid::Uuid::new_v4().to_string(), event, client_context, admission).await
    }

    /// [`Sandbox::invoke`] under a given request id: Lambda retries an Event invocation under the id
    /// the caller was given. A streamed response is collected, up to the 6 MB a buffered caller may get.
    pub async fn invoke_as(
        &self,
        request_id: String,
        event: Bytes,
        client_context: Option<String>,
        admission: Admission,
    ) -> Result<Invoked, InvokeError> {
        let pending = match self.begin(request_id, event, client_context, admission).await? {
            Ok(done) => return Ok(done),
            Err(pending) => pending,
        };
        let (mut streaming, pending) = pending;
        let collect = async {
            let mut body = Vec::new();
            while let Some(piece) = streaming.body.recv().await {
                if body.len() <= MAX_RESPONSE_BYTES {
                    body.extend_from_slice(&piece);
                }
            }
            body
        };
        let (body, mut done) = tokio::join!(collect, self.finish_stream(pending));
        if !done.function_error {
            if body.len() > MAX_RESPONSE_BYTES {
                let msg = format!(
                    "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                );
                done.payload = error_doc("Function.ResponseSizeTooLarge", msg);
                done.function_error = true;
            } else {
                done.payload = Bytes::from(body);
            }
        }
        Ok(done)
    }

    /// Runs one invocation whose response may stream: a buffered answer comes back [`Answer::Done`], a
    /// streamed one as soon as the function starts it ([`Answer::Streaming`]); the instance returns to the
    /// pool, and the REPORT line is written, when the stream ends.
    pub async fn invoke_streaming(
        self: &Arc<Self>,
        event: Bytes,
        client_context: Option<String>,
        admission: Admission,
    ) -> Result<Answer, InvokeError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        match self.begin(request_id, event, client_context, admission).await? {
            Ok(done) => Ok(Answer::Done(done)),
            Err((streaming, pending)) => {
                let (done_tx, done_rx) = oneshot::channel();
                let me = self.clone();
                let request_id = pending.request_id.clone();
                tokio::spawn(async move {
                    let _ = done_tx.send(me.finish_stream(pending).await);
                });
                Ok(Answer::Streaming(StreamingInvocation {
                    request_id,
                    content_type: streaming.content_type,
                    body: streaming.body,
                    done: done_rx,
                }))
            }
        }
    }

    /// Starts an invocation and runs it until it is done (`Ok`) or its response starts streaming (`Err`).
    async fn begin(
        &self,
        request_id: String,
        event: Bytes,
        client_context: Option<String>,
        admission: Admission,
    ) -> Result<Result<Invoked, (StreamStart, PendingStream)>, InvokeError> {
        let slot = self.admit(admission).await?;
        let mut inst = match self.take_idle() {
            Some(inst) => inst,
            None => self.spawn().await?,
        };
        inst.logs.lock().unwrap().clear();
        let start_line = format!("START RequestId: {request_id} Version: $LATEST");
        if self.cfg.print_logs {
            println!("{start_line}");
        }

        let (started_tx, started_rx) = oneshot::channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        let inv = Invocation {
            request_id: request_id.clone(),
            event,
            timeout: self.cfg.timeout,
            trace_id: new_trace_id(),
            client_context,
            started: started_tx,
            reply: reply_tx,
        };
        match self.run(&mut inst, inv, started_rx, reply_rx).await {
            Ended::Streaming(Streaming { content_type, body, end }, started) => {
                // The slot stays taken until the stream ends: the instance is busy until then.
                inst.stream_slot = Some(slot);
                Ok(Err((
                    StreamStart { content_type, body },
                    PendingStream { inst, request_id, start_line, started, end },
                )))
            }
            ended => Ok(Ok(self.conclude(inst, request_id, start_line, ended).await)),
        }
    }

    /// Waits for a streamed response to end (or the function to die or time out), then reports it.
    async fn finish_stream(&self, p: PendingStream) -> Invoked {
        let PendingStream { mut inst, request_id, start_line, started, end } = p;
        let deadline = tokio::time::Instant::from_std(started) + self.cfg.timeout;
        let mut exited = inst.exited.clone();
        let ended = tokio::select! {
            e = end => match e {
                Ok(StreamEnd::Complete { .. }) => Ended::Response(Bytes::new(), started.elapsed()),
                Ok(StreamEnd::Failed(err)) => Ended::FunctionError(error_doc(&err.error_type, err.body), started.elapsed()),
                Err(_) => self.crashed(&inst, &request_id, started.elapsed()),
            },
            _ = exited.wait_for(|e| e.is_some()) => self.crashed(&inst, &request_id, started.elapsed()),
            _ = tokio::time::sleep_until(deadline) => {
                inst.kill();
                Ended::Timeout(started.elapsed())
            }
        };
        inst.stream_slot = None;
        self.conclude(inst, request_id, start_line, ended).await
    }

    /// Writes END and REPORT for a finished invocation, returns the instance to the pool (or kills it),
    /// and builds the caller's [`Invoked`].
    async fn conclude(&self, mut inst: Instance, request_id: String, start_line: String, ended: Ended) -> Invoked {
        // Let the log readers pick up what the process printed before answering (already in the pipe).
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        let (payload, function_error, status, error_type, duration, keep) = match ended {
            Ended::Response(p, d) => (p, false, None, None, d, true),
            Ended::FunctionError(p, d) => (p, true, None, None, d, true),
            Ended::Timeout(d) => {
                let msg = format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    self.cfg.timeout.as_secs_f64()
                );
                (error_doc("Sandbox.Timedout", msg), true, Some("timeout"), None, d, false)
            }
            Ended::Sandbox { error_type, payload, d } => (payload, true, Some("error"), Some(error_type), d, false),
            Ended::Streaming(..) => unreachable!("a streaming answer is concluded by finish_stream"),
        };
        let init_ms = if inst.cold {
            inst.cold = false;
            Some(inst.api.first_next().unwrap_or_else(Instant::now).duration_since(inst.spawned).as_secs_f64() * 1000.0)
        } else {
            None
        };
        let duration_ms = duration.as_secs_f64() * 1000.0;
        let report = Report {
            duration_ms,
            billed_ms: (duration_ms + init_ms.unwrap_or(0.0)).ceil().max(1.0) as u64,
            memory_mb: self.cfg.memory_mb,
            max_memory_used_mb: inst.peak_mb(),
            init_duration_ms: init_ms,
            status,
            error_type,
        };
        let end_line = format!("END RequestId: {request_id}");
        let report_line = report.line(&request_id);
        if self.cfg.print_logs {
            println!("{end_line}\n{report_line}");
        }
        let log = {
            let mut logs = inst.logs.lock().unwrap();
            let log = format!("{start_line}\n{logs}{end_line}\n{report_line}\n");
            logs.clear();
            log
        };
        if keep && inst.alive() && !self.closed.load(Ordering::SeqCst) {
            inst.idle_since = Instant::now();
            self.idle.lock().unwrap().push(inst);
        } else {
            inst.kill();
        }
        Invoked { request_id, payload, function_error, log, report }
    }

    async fn run(
        &self,
        inst: &mut Instance,
        inv: Invocation,
        started_rx: oneshot::Receiver<Instant>,
        reply_rx: oneshot::Receiver<Outcome>,
    ) -> Ended {
        let request_id = inv.request_id.clone();
        let crashed = |inst: &Instance, d: Duration| self.crashed(inst, &request_id, d);
        if inst.tx.send(inv).await.is_err() {
            return crashed(inst, Duration::ZERO);
        }
        // INIT: until the process takes the event.
        let mut exited = inst.exited.clone();
        let started = tokio::select! {
            s = started_rx => match s { Ok(at) => at, Err(_) => return crashed(inst, Duration::ZERO) },
            _ = exited.wait_for(|e| e.is_some()) => return crashed(inst, Duration::ZERO),
            _ = inst.api.init_failed.notified() => {
                let err = inst.api.init_error().expect("init error recorded before notify");
                let error_type = err.error_type.unwrap_or_else(|| "Runtime.Unknown".into());
                return Ended::Sandbox { error_type, payload: err.body, d: Duration::ZERO };
            }
            _ = tokio::time::sleep(INIT_TIMEOUT) => {
                let msg = format!("RequestId: {request_id} Error: Init phase timed out after {:.2} seconds", INIT_TIMEOUT.as_secs_f64());
                return Ended::Sandbox { error_type: "Sandbox.Timedout".into(), payload: error_doc("Sandbox.Timedout", msg), d: Duration::ZERO };
            }
        };
        // INVOKE: until the process answers, dies, runs out of time, or is killed by the instance killer.
        let deadline = tokio::time::Instant::from_std(started) + self.cfg.timeout;
        let kill_at = self.kills.draw().map(|after| tokio::time::Instant::from_std(started) + after);
        let killer = async {
            match kill_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // `None`: the killer's point came first.
        let ended = tokio::select! {
            // An answer that arrived before the kill point wins: that invocation was not killed.
            biased;
            r = reply_rx => Some(match r {
                Ok(Outcome::Response(p)) => {
                    self.kills.observe(started.elapsed());
                    Ended::Response(p, started.elapsed())
                }
                Ok(Outcome::Streaming(st)) => Ended::Streaming(st, started),
                Ok(Outcome::Error { body, .. }) => Ended::FunctionError(body, started.elapsed()),
                Err(_) => crashed(inst, started.elapsed()),
            }),
            _ = exited.wait_for(|e| e.is_some()) => {
                // An answer posted just before exiting still counts.
                Some(crashed(inst, started.elapsed()))
            }
            _ = tokio::time::sleep_until(deadline) => {
                inst.kill();
                Some(Ended::Timeout(started.elapsed()))
            }
            _ = killer => None,
        };
        if let Some(ended) = ended {
            return ended;
        }
        inst.kill();
        self.kills.killed();
        // Answered as Lambda answers a runtime that died mid-invocation (Runtime.ExitError).
        let _ = exited.wait_for(|e| e.is_some()).await;
        crashed(inst, started.elapsed())
    }

    /// How an invocation ended when its process died: the init error it reported, out of memory, or exit.
    fn crashed(&self, inst: &Instance, request_id: &str, d: Duration) -> Ended {
        // A process that reported an init error and then exited failed with that error.
        if let Some(err) = inst.api.init_error() {
            let error_type = err.error_type.unwrap_or_else(|| "Runtime.Unknown".into());
            return Ended::Sandbox { error_type, payload: err.body, d };
        }
        let exit = inst.exited.borrow().clone().unwrap_or_else(|| "unknown exit".into());
        let kernel_oom = inst.cgroup.as_ref().is_some_and(InstanceCgroup::oom_killed);
        let error_type = if inst.oom.load(Ordering::SeqCst) || (exit == "signal: killed" && kernel_oom) {
            "Runtime.OutOfMemory"
        } else {
            "Runtime.ExitError"
        };
        let msg = format!("RequestId: {request_id} Error: Runtime exited with error: {exit}");
        Ended::Sandbox { error_type: error_type.into(), payload: error_doc(error_type, msg), d }
    }
}

enum Ended {
    Response(Bytes, Duration),
    FunctionError(Bytes, Duration),
    Timeout(Duration),
    Sandbox {
        error_type: String,
        payload: Bytes,
        d: Duration,
    },
    /// The response is streaming; the invocation ends with the stream.
    Streaming(Streaming, Instant),
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_line_format() {
        let r = Report {
            duration_ms: 12.345,
            billed_ms: 58,
            memory_mb: 1024,
            max_memory_used_mb: 31,
            init_duration_ms: Some(45.0),
            status: Some("timeout"),
            error_type: None,
        };
        assert_eq!(
            r.line("abc"),
            "REPORT RequestId: abc\tDuration: 12.35 ms\tBilled Duration: 58 ms\tMemory Size: 1024 MB\t\
             Max Memory Used: 31 MB\tInit Duration: 45.00 ms\tStatus: timeout"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
