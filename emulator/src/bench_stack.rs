//! A private, throw-away stack for benches and scenario runs: a temp data directory, known users, and the
//! `/home/<user>` folder they work in — so `hslambda race` and `hslambda bench` need nothing running.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::rest_client::RestClient;
use crate::sandbox::FunctionConfig;
use crate::{Stack, StackConfig};

/// The bench user (password `bench`) and admin (`admin`/`admin`) of a private stack.
pub const BENCH_USER: &str = "bench";
/// Password of [`BENCH_USER`].
pub const BENCH_PASSWORD: &str = "bench";

/// A running private stack and the directory it lives in (removed on drop).
pub struct BenchStack {
    /// The stack.
    pub stack: Stack,
    /// Front-door URL.
    pub endpoint: String,
    /// The folder [`BENCH_USER`] owns: `/home/bench`.
    pub folder: String,
    _dir: tempfile::TempDir,
}

impl BenchStack {
    /// Starts a stack on free ports running `function` (its `env` is kept), with users admin and bench, and
    /// creates `/home` and `/home/bench`.
    pub async fn start(function: FunctionConfig) -> anyhow::Result<BenchStack> {
        let dir = tempfile::Builder::new().prefix("hslambda-bench-").tempdir()?;
        let users: PathBuf = dir.path().join("passwd.txt");
        std::fs::write(&users, format!("admin:admin\n{BENCH_USER}:{BENCH_PASSWORD}\n"))?;
        let stack = Stack::start(StackConfig::local(dir.path().join("data"), users, function, true)).await?;
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

    /// A function configuration for a private stack: `bootstrap` with the given memory, concurrency and env.
    pub fn function(
        bootstrap: PathBuf,
        memory_mb: u32,
        concurrency: usize,
        env: Vec<(String, String)>,
    ) -> FunctionConfig {
        let mut f = crate::default_function(bootstrap);
        f.memory_mb = memory_mb;
        f.concurrency = concurrency;
        f.timeout = Duration::from_secs(60);
        f.env = env;
        f
    }
}

impl Drop for BenchStack {
    fn drop(&mut self) {
        self.stack.shutdown();
    }
}
