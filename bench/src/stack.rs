//! The one way the bench starts a private, throw-away stack: a temporary directory with a users file and
//! the S3 data, and a function configuration for it — so `hslambda race`, `soak`, `load` and `bench` need
//! nothing running.
//!
//! [`StackDir`] is the directory alone (tune starts one stack per memory size × timeout over the same
//! data); [`BenchStack`] is a started stack with the bench user's `/home/bench` folder ready (race, soak,
//! load).

use std::path::PathBuf;
use std::time::Duration;

use lambda_emulator::sandbox::{locate_bootstrap, FunctionConfig};
use lambda_emulator::{default_function, Stack, StackConfig};
use serde_json::json;

use crate::rest_client::RestClient;

/// The bench user (password `bench`) of a private stack; its admin is `admin`/`admin`.
pub const BENCH_USER: &str = "bench";
/// Password of [`BENCH_USER`].
pub const BENCH_PASSWORD: &str = "bench";
/// Users file of every private stack: the admin, [`BENCH_USER`], and HSDS's test users (which the tune
/// and selection workloads log in as).
pub const USERS: &str = "admin:admin\nbench:bench\ntest_user1:test\ntest_user2:test\n";

/// The executable a private stack runs as the function, with its arguments: a built `bootstrap` (no
/// arguments), or `hslambda function` — the CLI itself, which links the handler, so the bench commands work
/// from a fresh clone where only `hslambda` was built.
#[derive(Debug, Clone)]
pub struct FunctionExe {
    /// Executable spawned per instance.
    pub path: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

impl From<PathBuf> for FunctionExe {
    /// A `bootstrap` binary: no arguments.
    fn from(path: PathBuf) -> FunctionExe {
        FunctionExe { path, args: Vec::new() }
    }
}

/// The function executable: `given`, else a `bootstrap` located by the emulator's rules
/// ([`locate_bootstrap`]).
pub fn bootstrap(given: Option<&FunctionExe>) -> anyhow::Result<FunctionExe> {
    match given {
        Some(b) => Ok(b.clone()),
        None => locate_bootstrap().map(FunctionExe::from).map_err(anyhow::Error::msg),
    }
}

/// A function configuration for a private stack: `exe` with the given memory, timeout and concurrency,
/// Lambda's defaults otherwise, no extra environment.
pub fn function(exe: FunctionExe, memory_mb: u32, timeout: Duration, concurrency: usize) -> FunctionConfig {
    let mut f = default_function(exe.path);
    f.args = exe.args;
    f.memory_mb = memory_mb;
    f.timeout = timeout;
    f.concurrency = concurrency;
    f
}

/// A temporary directory holding a private stack's users file ([`USERS`]) and, unless another data
/// directory is given, its S3 data; removed on drop.
pub struct StackDir {
    _dir: tempfile::TempDir,
    users: PathBuf,
    data_dir: PathBuf,
}

impl StackDir {
    /// Creates the directory and its users file; the S3 data goes to `data_dir` if given.
    pub fn new(data_dir: Option<PathBuf>) -> anyhow::Result<StackDir> {
        let dir = tempfile::Builder::new().prefix("hslambda-bench-").tempdir()?;
        let users = dir.path().join("passwd.txt");
        std::fs::write(&users, USERS)?;
        let data_dir = data_dir.unwrap_or_else(|| dir.path().join("data"));
        Ok(StackDir { _dir: dir, users, data_dir })
    }

    /// Starts a stack on loopback with free ports over this directory's data, running `function` (its
    /// `env` is kept); cgroups are tried when `use_cgroups`.
    pub async fn start(&self, function: FunctionConfig, use_cgroups: bool) -> anyhow::Result<Stack> {
        Stack::start(self.config(function, use_cgroups)).await
    }

    /// The configuration [`StackDir::start`] uses, for a caller that changes a setting (e.g. the
    /// streaming bandwidth) before starting it.
    pub fn config(&self, function: FunctionConfig, use_cgroups: bool) -> StackConfig {
        StackConfig::local(self.data_dir.clone(), self.users.clone(), function, use_cgroups)
    }
}

/// A running private stack, the folder its bench user works in, and the directory it lives in (removed
/// on drop).
pub struct BenchStack {
    /// The stack.
    pub stack: Stack,
    /// Front-door URL.
    pub endpoint: String,
    /// The folder [`BENCH_USER`] owns: `/home/bench`.
    pub folder: String,
    _dir: StackDir,
}

impl BenchStack {
    /// Starts a stack on free ports running `function` (its `env` is kept), with cgroups when the host
    /// allows, and creates `/home` and `/home/bench`.
    pub async fn start(function: FunctionConfig) -> anyhow::Result<BenchStack> {
        let dir = StackDir::new(None)?;
        let stack = dir.start(function, true).await?;
        let endpoint = format!("http://{}", stack.front_addr);
        for (folder, owner) in [("/home", None), ("/home/bench", Some(BENCH_USER))] {
            let admin = RestClient::new(&endpoint, "admin", "admin", folder);
            let mut body = json!({"folder": true});
            if let Some(o) = owner {
                body["owner"] = json!(o);
            }
            let r = admin.put("/", &[], body).await?;
            anyhow::ensure!(r.status == 201, "creating folder {folder} failed: {} {}", r.status, r.json);
        }
        Ok(BenchStack { stack, endpoint, folder: "/home/bench".into(), _dir: dir })
    }

    /// A function configuration for a private stack: `exe` with the given memory, concurrency and env,
    /// and a 60 s timeout.
    pub fn function(
        exe: FunctionExe,
        memory_mb: u32,
        concurrency: usize,
        env: Vec<(String, String)>,
    ) -> FunctionConfig {
        let mut f = function(exe, memory_mb, Duration::from_secs(60), concurrency);
        f.env = env;
        f
    }
}

impl Drop for BenchStack {
    fn drop(&mut self) {
        self.stack.shutdown();
    }
}
