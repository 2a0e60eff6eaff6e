//! A local AWS for one Lambda function: S3 on a directory, the Lambda service (Runtime API for the
//! function processes, Invoke API for clients) and an API-Gateway-like HTTP front door.
//!
//! The function is a separate `bootstrap` executable talking to the Runtime API, exactly as on Lambda;
//! this crate never links the handler. [`Stack::start`] brings everything up in the current tokio runtime.
//!
//! The test bench that drives it (race, soak, load, tune) is the separate `hslambda-bench` crate, which
//! depends on this one and never the other way.

pub mod event_queue;
pub mod faults;
pub mod gateway;
pub mod invoke_api;
pub mod kills;
pub mod limits;
pub mod runtime_api;
pub mod s3;
pub mod s3_keys;
pub mod s3_latency;
pub mod s3_list;
pub mod sandbox;
mod signal;
pub mod streaming;
pub mod tcp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::faults::{FaultRule, Faults};
use crate::gateway::FrontDoor;
use crate::limits::Limits;
use crate::sandbox::{FunctionConfig, Sandbox};
use crate::streaming::StreamBandwidth;

/// Everything `hslambda up` configures.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Address the servers bind to.
    pub host: String,
    /// Front door (API Gateway + Invoke API) port; 0 picks a free one.
    pub port: u16,
    /// S3 port; 0 picks a free one.
    pub s3_port: u16,
    /// Optional separate port for the Invoke API alone.
    pub invoke_port: Option<u16>,
    /// S3 root: one sub-directory per bucket.
    pub data_dir: PathBuf,
    /// Bucket the function uses by default; created if missing.
    pub bucket: String,
    /// HSDS `passwd.txt` users file, given to the function as `PASSWORD_FILE`.
    pub users_file: Option<PathBuf>,
    /// The function.
    pub function: FunctionConfig,
    /// S3 faults active from the start.
    pub s3_faults: Vec<FaultRule>,
    /// Fraction (0..=1) of invocations whose instance is killed (SIGKILL) at a random point while it runs
    /// (see [`kills`]); 0 turns the killer off.
    pub kill_rate: f64,
    /// Use cgroups when the host allows (else RSS polling only).
    pub use_cgroups: bool,
    /// Which AWS front door the HTTP port imitates.
    pub front_door: FrontDoor,
    /// Whether streamed responses are slowed to Lambda's streaming bandwidth.
    pub stream_bandwidth: StreamBandwidth,
    /// Whether the S3 server accepts unsigned requests (open on loopback by default, signed-only on request).
    pub s3_auth: s3::S3Auth,
}

/// State shared by the front-door routes.
#[derive(Clone)]
pub struct AppState {
    /// The function's instance pool.
    pub sandbox: Arc<Sandbox>,
    /// The live S3 fault table.
    pub faults: Faults,
    /// Which AWS front door the HTTP port imitates.
    pub front_door: FrontDoor,
    /// Whether streamed responses are slowed to Lambda's streaming bandwidth.
    pub stream_bandwidth: StreamBandwidth,
}

impl StackConfig {
    /// A private stack on loopback with free ports, bucket `hsdstest`, no faults: what benches and tests start.
    pub fn local(data_dir: PathBuf, users_file: PathBuf, function: FunctionConfig, use_cgroups: bool) -> Self {
        StackConfig {
            host: "127.0.0.1".into(),
            port: 0,
            s3_port: 0,
            invoke_port: None,
            data_dir,
            bucket: "hsdstest".into(),
            users_file: Some(users_file),
            function,
            s3_faults: Vec::new(),
            kill_rate: 0.0,
            use_cgroups,
            front_door: FrontDoor::default(),
            stream_bandwidth: StreamBandwidth::default(),
            s3_auth: s3::S3Auth::default(),
        }
    }
}

/// A running stack; dropping it (or [`Stack::shutdown`]) stops the servers and kills the functions.
pub struct Stack {
    /// Front door address.
    pub front_addr: SocketAddr,
    /// S3 address.
    pub s3_addr: SocketAddr,
    /// Separate Invoke API address, if one was asked for.
    pub invoke_addr: Option<SocketAddr>,
    /// The function's instance pool.
    pub sandbox: Arc<Sandbox>,
    /// The live S3 fault table.
    pub faults: Faults,
    /// The configuration it was started with (ports resolved).
    pub config: StackConfig,
    tasks: Vec<JoinHandle<()>>,
}

async fn bind(host: &str, port: u16, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind((host, port)).await.map_err(|e| anyhow::anyhow!("cannot listen on {host}:{port} for {what}: {e}"))
}

async fn get_faults(State(app): State<AppState>) -> Json<Vec<FaultRule>> {
    Json(app.faults.get().await)
}

async fn put_faults(State(app): State<AppState>, body: axum::body::Bytes) -> Response {
    let rules: Vec<FaultRule> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("expected a JSON list of {{prefix, latency_ms, error_rate, status}}: {e}");
            return (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "message": msg }))).into_response();
        }
    };
    if let Some(err) = rules.iter().find_map(|r| r.validate().err()) {
        return (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "message": err }))).into_response();
    }
    app.faults.set(rules.clone()).await;
    Json(rules).into_response()
}

async fn status(State(app): State<AppState>) -> Json<serde_json::Value> {
    let cfg = app.sandbox.config();
    Json(serde_json::json!({
        "function": cfg.name,
        "memory_mb": cfg.memory_mb,
        "timeout_s": cfg.timeout.as_secs_f64(),
        "concurrency": cfg.concurrency,
        "front_door": app.front_door.name(),
        "stream_bandwidth": app.stream_bandwidth.name(),
        "idle_timeout_s": cfg.idle_timeout.as_secs_f64(),
        "event_max_retries": cfg.event_max_retries,
        "event_retry_delay_s": cfg.event_retry_delay.as_secs_f64(),
        "kill_rate": app.sandbox.kills().rate(),
        "kills": app.sandbox.kills().count(),
        "live_instances": app.sandbox.live_count(),
        "idle_instances": app.sandbox.idle_count(),
        "limits": app.sandbox.limits().describe(),
    }))
}

fn invoke_routes() -> Router<AppState> {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke_api::handle))
        .route("/2021-11-15/functions/{name}/response-streaming-invocations", post(invoke_api::handle_streaming))
}

impl Stack {
    /// Creates the data directory and bucket, binds every port, and starts serving.
    pub async fn start(mut config: StackConfig) -> anyhow::Result<Stack> {
        let bucket_dir = config.data_dir.join(&config.bucket);
        std::fs::create_dir_all(&bucket_dir)
            .map_err(|e| anyhow::anyhow!("cannot create bucket directory {}: {e}", bucket_dir.display()))?;
        let faults = Faults::new(config.s3_faults.clone());
        let s3_listener = bind(&config.host, config.s3_port, "S3").await?;
        let s3_addr = s3_listener.local_addr()?;
        let front_listener = bind(&config.host, config.port, "the HTTP front door").await?;
        let front_addr = front_listener.local_addr()?;
        let invoke_listener = match config.invoke_port {
            Some(p) => Some(bind(&config.host, p, "the Invoke API").await?),
            None => None,
        };
        let invoke_addr = invoke_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        config.port = front_addr.port();
        config.s3_port = s3_addr.port();

        // The stack's S3 and bucket, unless the function's own environment names others (`hslambda up
        // --s3-endpoint`: the function against an external S3 such as moto, MinIO or AWS).
        let mut env = config.function.env.clone();
        // The deployer's side of the streaming decision (hsds_handler::stream): the function streams its
        // HTTP answers exactly when the front door does, unless the function's environment says otherwise.
        if !env.iter().any(|(k, _)| k == "HSLAMBDA_INVOKE_MODE") {
            env.push(("HSLAMBDA_INVOKE_MODE".into(), config.front_door.invoke_mode().into()));
        }
        let defaults = [
            ("AWS_S3_GATEWAY", format!("http://{s3_addr}")),
            ("BUCKET_NAME", config.bucket.clone()),
            ("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", s3::SECRET_KEY.to_string()),
        ];
        for (k, v) in defaults {
            if !config.function.env.iter().any(|(name, _)| name == k) {
                env.push((k.to_string(), v));
            }
        }
        if let Some(users) = &config.users_file {
            let abs = users.canonicalize().map_err(|e| anyhow::anyhow!("users file {}: {e}", users.display()))?;
            env.push(("PASSWORD_FILE".into(), abs.display().to_string()));
        }
        crate::limits::check_memory_mb(config.function.memory_mb).map_err(|e| anyhow::anyhow!(e))?;
        let mut function = config.function.clone();
        function.env = env;
        let limits = if config.use_cgroups {
            Limits::detect(function.memory_mb)
        } else {
            Limits::polling_only(function.memory_mb, "cgroups not requested")
        };
        let sandbox = Sandbox::new(function, limits);
        sandbox.kills().set_rate(config.kill_rate);
        let state = AppState {
            sandbox: sandbox.clone(),
            faults: faults.clone(),
            front_door: config.front_door,
            stream_bandwidth: config.stream_bandwidth,
        };

        let s3_service = s3::service(&config.data_dir, faults.clone(), config.s3_auth)?;
        let mut tasks = vec![tokio::spawn(s3::serve(s3_listener, s3_service, faults.clone())), sandbox.spawn_reaper()];

        let front = Router::new()
            .merge(invoke_routes())
            .route("/_emulator/s3/faults", get(get_faults).put(put_faults))
            .route("/_emulator/status", get(status))
            .fallback(gateway::handle)
            .layer(DefaultBodyLimit::disable())
            .with_state(state.clone());
        tasks.push(tokio::spawn(async move {
            let _ =
                axum::serve(tcp::no_delay(front_listener), front.into_make_service_with_connect_info::<SocketAddr>())
                    .await;
        }));
        if let Some(listener) = invoke_listener {
            let router = invoke_routes().layer(DefaultBodyLimit::disable()).with_state(state);
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(tcp::no_delay(listener), router).await;
            }));
        }
        Ok(Stack { front_addr, s3_addr, invoke_addr, sandbox, faults, config, tasks })
    }

    /// One line per endpoint served.
    pub fn endpoints(&self) -> Vec<String> {
        let f = self.front_addr;
        let mut v = vec![
            format!(
                "HTTP front door ({}): http://{f}/  e.g. curl http://{f}/about",
                self.config.front_door.describe()
            ),
            format!(
                "Lambda Invoke API: http://{f}/2015-03-31/functions/{}/invocations  (AWS_ENDPOINT_URL_LAMBDA=http://{f})",
                self.sandbox.config().name
            ),
        ];
        v.push(format!(
            "Lambda InvokeWithResponseStream: http://{f}/2021-11-15/functions/{}/response-streaming-invocations",
            self.sandbox.config().name
        ));
        v.push(match self.config.stream_bandwidth {
            StreamBandwidth::Lambda => format!(
                "streamed responses: Lambda's bandwidth model (first {} MB unthrottled, then 2 MB/s); \
                 --stream-bandwidth unlimited turns it off",
                self.config.front_door.unthrottled_bytes() >> 20
            ),
            StreamBandwidth::Unlimited => {
                "streamed responses: bandwidth unlimited (--stream-bandwidth unlimited; AWS allows 2 MB/s after the first 6 MB)"
                    .to_string()
            }
        });
        if let Some(i) = self.invoke_addr {
            v.push(format!("Lambda Invoke API (separate port): http://{i}"));
        }
        let access = match self.config.s3_auth {
            s3::S3Auth::Open => "unsigned, or signed with",
            s3::S3Auth::Required => "--s3-auth required: signed only, with",
        };
        v.push(format!(
            "S3: http://{}  bucket {:?} in {}  (AWS_ENDPOINT_URL_S3=http://{}, {access} AWS_ACCESS_KEY_ID=hslambda AWS_SECRET_ACCESS_KEY=hslambda-secret)",
            self.s3_addr,
            self.config.bucket,
            self.config.data_dir.display(),
            self.s3_addr
        ));
        if self.config.s3_auth == s3::S3Auth::Open && !self.s3_addr.ip().is_loopback() {
            v.push(format!(
                "warning: S3 listens on {} without authentication: anyone who reaches it can read and write the \
                 data directory (--s3-auth required, or --host 127.0.0.1)",
                self.s3_addr.ip()
            ));
        }
        v.push(format!(
            "S3 fault injection: GET/PUT http://{f}/_emulator/s3/faults   status: http://{f}/_emulator/status"
        ));
        v
    }

    /// Stops serving and kills every function process.
    pub fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.sandbox.shutdown();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A function configuration with Lambda's defaults for hslambda (1024 MB, 30 s, concurrency 10;
/// idle instances reaped after 10 minutes; failed Event invocations retried twice, after 1 and 2 minutes).
pub fn default_function(bootstrap: PathBuf) -> FunctionConfig {
    FunctionConfig {
        bootstrap,
        args: Vec::new(),
        name: "hslambda".into(),
        memory_mb: 1024,
        timeout: Duration::from_secs(30),
        concurrency: 10,
        env: Vec::new(),
        print_logs: false,
        idle_timeout: Duration::from_secs(600),
        event_max_retries: 2,
        event_retry_delay: Duration::from_secs(60),
    }
}
