//! Shared helpers for the end-to-end tests: locating (building if needed) `bootstrap`, starting a stack
//! on free ports over a temporary data directory, and a tiny Python test function for the failure modes
//! the real handler never shows (sleeping past the timeout, crashing, allocating past the memory limit).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use lambda_emulator::faults::FaultRule;
use lambda_emulator::gateway::FrontDoor;
use lambda_emulator::{default_function, Stack, StackConfig};

/// The `target/<profile>` directory the test binary was built into.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf()
}

/// The `bootstrap` binary: `$HSLAMBDA_BIN_DIR/bootstrap`, else `target/<profile>/bootstrap`, built with
/// cargo (same profile) on first use when it is missing.
pub(crate) fn bootstrap() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(dir) = std::env::var_os("HSLAMBDA_BIN_DIR").filter(|d| !d.is_empty()) {
            let p = PathBuf::from(dir).join("bootstrap");
            assert!(p.is_file(), "HSLAMBDA_BIN_DIR is set but {} does not exist", p.display());
            return p;
        }
        let dir = profile_dir();
        let p = dir.join("bootstrap");
        if !p.is_file() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["build", "-p", "hsds-handler", "--bin", "bootstrap"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let status = cmd.current_dir(env!("CARGO_MANIFEST_DIR")).status().expect("running cargo build");
            assert!(status.success(), "cargo build of bootstrap failed");
        }
        assert!(p.is_file(), "bootstrap not found at {}", p.display());
        p
    })
    .clone()
}

/// A Python function speaking the Runtime API. The event's `action` picks its behaviour:
/// `sleep` (`seconds`), `exit` (`code`), `alloc` (`mb`), `error`; anything else echoes back the
/// event, the `/next` headers, the Lambda environment and its pid. With `record` (a file path) every attempt
/// first appends `<request id> <epoch seconds>` to that file.
pub(crate) const TEST_FUNCTION: &str = r#"#!/usr/bin/env python3
import json, os, sys, time, urllib.error, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
def post(path, body, headers={}):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    urllib.request.urlopen(req).read()
print("test function init", flush=True)
while True:
    with urllib.request.urlopen(base + "/invocation/next") as r:
        headers = {k.lower(): v for k, v in r.headers.items()}
        event = json.loads(r.read() or b"{}")
    rid = headers["lambda-runtime-aws-request-id"]
    action = event.get("action")
    extra = {}
    if "record" in event:
        with open(event["record"], "a") as f:
            f.write(rid + " " + repr(time.time()) + "\n")
    print("handling", action, flush=True)
    if action == "sleep":
        time.sleep(event["seconds"])
    elif action == "exit":
        sys.exit(event.get("code", 42))
    elif action == "big":
        try:
            post("/invocation/" + rid + "/response", "x" * (7 << 20))
        except urllib.error.HTTPError as e:
            print("response refused:", e.code, flush=True)
        continue
    elif action == "alloc":
        hog = b"x" * (event["mb"] << 20)
        time.sleep(1)
    elif action == "fork":
        child = os.fork()
        if child == 0:
            time.sleep(600)
            os._exit(0)
        extra["child"] = child
    elif action == "burn":
        # `procs` busy processes (the function and its forks) for `seconds` of wall time; cpu_s is the CPU
        # time all of them got.
        t0, end = os.times(), time.monotonic() + event["seconds"]
        kids = []
        for _ in range(event.get("procs", 1) - 1):
            kid = os.fork()
            if kid == 0:
                while time.monotonic() < end:
                    pass
                os._exit(0)
            kids.append(kid)
        while time.monotonic() < end:
            pass
        for kid in kids:
            os.waitpid(kid, 0)
        t1 = os.times()
        extra["cpu_s"] = sum(t1[:4]) - sum(t0[:4])
    if action == "error":
        post("/invocation/" + rid + "/error", {"errorType": "Boom", "errorMessage": "it went boom"},
             {"Lambda-Runtime-Function-Error-Type": "Boom"})
        continue
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "BUCKET", "PASSWORD", "_HANDLER", "LAMBDA_"))}
    post("/invocation/" + rid + "/response", {"event": event, "headers": headers, "env": env, "pid": os.getpid(), **extra})
"#;

/// Writes [`TEST_FUNCTION`] as an executable into `dir` and returns its path.
pub(crate) fn test_function(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("bootstrap.py");
    std::fs::write(&p, TEST_FUNCTION).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Options for [`start`].
pub(crate) struct Opts {
    pub bootstrap: PathBuf,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub concurrency: usize,
    pub faults: Vec<FaultRule>,
    pub kill_rate: f64,
    pub users: Option<String>,
    pub idle_timeout: Duration,
    pub event_max_retries: u32,
    pub event_retry_delay: Duration,
    pub front_door: FrontDoor,
    pub use_cgroups: bool,
    pub s3_auth: lambda_emulator::s3::S3Auth,
}

impl Opts {
    /// `up`'s defaults around the function at `bootstrap`.
    pub(crate) fn with(bootstrap: PathBuf) -> Self {
        Opts {
            bootstrap,
            memory_mb: 1024,
            timeout: Duration::from_secs(30),
            concurrency: 10,
            faults: Vec::new(),
            kill_rate: 0.0,
            users: None,
            idle_timeout: Duration::from_secs(600),
            event_max_retries: 2,
            event_retry_delay: Duration::from_secs(60),
            front_door: FrontDoor::ApiGateway,
            use_cgroups: false,
            s3_auth: Default::default(),
        }
    }

    /// The real handler with `up`'s defaults.
    pub(crate) fn handler() -> Self {
        Opts::with(bootstrap())
    }

    /// A stack whose function never runs (S3-only tests).
    pub(crate) fn s3_only() -> Self {
        Opts::with(PathBuf::from("/nonexistent/bootstrap"))
    }
}

/// A running stack and the temporary directory it lives in.
pub(crate) struct TestStack {
    pub stack: Stack,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TestStack {
    /// aws-sdk-s3 against this stack's S3, signing with the emulator's access key and `secret`.
    pub(crate) fn sdk_client(&self, secret: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(format!("http://{}", self.stack.s3_addr))
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                lambda_emulator::s3::ACCESS_KEY,
                secret,
                None,
                None,
                "test",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Front door URL for `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.stack.front_addr)
    }

    /// S3 URL for `key` in the default bucket.
    pub(crate) fn s3(&self, key: &str) -> String {
        format!("http://{}/hsdstest/{key}", self.stack.s3_addr)
    }

    /// The bucket's directory on disk.
    pub(crate) fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join("data").join("hsdstest")
    }
}

/// Starts a stack on free ports over a fresh temporary data directory.
pub(crate) async fn start(opts: Opts) -> TestStack {
    let dir = tempfile::tempdir().unwrap();
    let users_file = opts.users.map(|text| {
        let p = dir.path().join("passwd.txt");
        std::fs::write(&p, text).unwrap();
        p
    });
    let mut function = default_function(opts.bootstrap);
    function.memory_mb = opts.memory_mb;
    function.timeout = opts.timeout;
    function.concurrency = opts.concurrency;
    function.idle_timeout = opts.idle_timeout;
    function.event_max_retries = opts.event_max_retries;
    function.event_retry_delay = opts.event_retry_delay;
    let stack = Stack::start(StackConfig {
        host: "127.0.0.1".into(),
        port: 0,
        s3_port: 0,
        invoke_port: None,
        data_dir: dir.path().join("data"),
        bucket: "hsdstest".into(),
        users_file,
        function,
        s3_faults: opts.faults,
        kill_rate: opts.kill_rate,
        use_cgroups: opts.use_cgroups,
        front_door: opts.front_door,
        stream_bandwidth: Default::default(),
        s3_auth: opts.s3_auth,
    })
    .await
    .expect("stack starts");
    TestStack { stack, dir, http: reqwest::Client::new() }
}
