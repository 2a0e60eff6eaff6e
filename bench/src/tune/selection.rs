//! `hslambda bench selection`: selbench.py's access patterns against the hslambda stack and, when
//! given, HSDS 1.0.2, in one run: per-pattern median and p90 client-side latency, bytes, MB/s and the
//! hslambda/HSDS ratio.
//!
//! Both servers get the same cube (same shape, chunks, gzip, values) through the REST API. Before each
//! pattern the hslambda function's warm instances are reaped, so the pattern starts on a fresh instance;
//! then, as selbench.py does, one unmeasured request and `reps` measured ones. Unless `chunk_cache` is
//! set, the function runs with its chunk cache off (`HSLAMBDA_CHUNK_CACHE_MB=0`), so every measured
//! request reads and decodes its chunks from S3 (cold), while HSDS serves repeats from its chunk cache.
//!
//! For HSDS's cold figures, `hsds_cold_endpoint` names a second HSDS 1.0.2 on the same storage whose chunk
//! cache is smaller than one chunk (`CHUNK_MEM_CACHE_SIZE=500000 hsds-ref.sh start PORT` beside the first):
//! its data nodes then never keep a chunk (HSDS caches a read chunk only if it fits), so every request
//! decodes its chunks too. It reads the cube the first HSDS wrote, once both answer the same bytes.

use std::time::{Duration, Instant};

use lambda_emulator::s3_latency::S3Model;
use lambda_emulator::streaming::StreamBandwidth;
use lambda_emulator::Stack;
use serde::Serialize;

use super::workload::{self, CubeSpec};
use crate::rest_client::{Body, RestClient};
use crate::stack::{self, StackDir};

/// What `bench selection` is asked to do.
#[derive(Debug, Clone)]
pub struct SelectionOptions {
    /// The cube (selbench.py's default is 2000×200×200 in 250×25×25 chunks).
    pub cube: CubeSpec,
    /// Measured requests per pattern.
    pub reps: usize,
    /// Memory size of the hslambda function.
    pub memory_mb: u32,
    /// S3 latency model for the hslambda stack.
    pub s3_model: Option<S3Model>,
    /// The function executable (default: a located `bootstrap`).
    pub bootstrap: Option<stack::FunctionExe>,
    /// HSDS endpoint to compare with, its user and password, and admin credentials for the folder.
    pub hsds_endpoint: Option<String>,
    /// HSDS user.
    pub hsds_user: String,
    /// HSDS password.
    pub hsds_password: String,
    /// Keep hslambda's chunk cache on (warm repeats); off by default, so hslambda's figures are cold reads.
    pub chunk_cache: bool,
    /// A second HSDS on the same storage with a chunk cache smaller than a chunk (HSDS cold), if compared.
    pub hsds_cold_endpoint: Option<String>,
    /// Whether hslambda's streamed answers are paced to Lambda's streaming bandwidth (the default front
    /// door streams; `Unlimited` compares the servers, `Lambda` shows what AWS would give).
    pub stream_bandwidth: StreamBandwidth,
}

/// One server's timings of one pattern.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// HTTP status of the responses (the last one).
    pub status: u16,
    /// Median client-side latency (ms).
    pub median_ms: f64,
    /// 90th percentile (ms).
    pub p90_ms: f64,
    /// Response bytes.
    pub bytes: usize,
    /// Throughput at the median.
    pub mb_per_s: f64,
}

/// One pattern's results.
#[derive(Debug, Clone, Serialize)]
pub struct PatternResult {
    /// selbench.py's pattern name.
    pub pattern: String,
    /// The selection.
    pub select: String,
    /// hslambda.
    pub hslambda: Timing,
    /// HSDS, when compared.
    pub hsds: Option<Timing>,
    /// hslambda median / HSDS median (both must have succeeded).
    pub ratio: Option<f64>,
    /// HSDS with no chunk cache, when compared.
    pub hsds_cold: Option<Timing>,
    /// hslambda median / cold HSDS median.
    pub ratio_cold: Option<f64>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct SelectionReport {
    /// The cube.
    pub cube: CubeSpec,
    /// Measured requests per pattern.
    pub reps: usize,
    /// hslambda's memory size.
    pub memory_mb: u32,
    /// Whether hslambda's chunk cache was on.
    pub chunk_cache: bool,
    /// The streaming bandwidth in force (`lambda` or `unlimited`).
    pub stream_bandwidth: StreamBandwidth,
    /// What the emulator applied (limits.rs).
    pub limits: Vec<String>,
    /// The S3 latency model, if any.
    pub s3_model: Option<S3Model>,
    /// HSDS endpoint, if compared.
    pub hsds_endpoint: Option<String>,
    /// Cold HSDS endpoint, if compared.
    pub hsds_cold_endpoint: Option<String>,
    /// Setup wall times (s): hslambda, HSDS.
    pub setup_s: (f64, Option<f64>),
    /// Per pattern.
    pub patterns: Vec<PatternResult>,
}

/// The function's chunk cache size variable (MB; 0 turns the cache off).
pub const CHUNK_CACHE_ENV: &str = "HSLAMBDA_CHUNK_CACHE_MB";

/// selbench.py's patterns for `cube`, in its order.
pub fn patterns(cube: &CubeSpec) -> Vec<(&'static str, String)> {
    let [t, y, x] = cube.shape;
    let [ct, cy, cx] = cube.chunks;
    vec![
        ("timeseries_point", format!("[0:{t},{},{}]", y / 2, x / 2)),
        ("timeslice_plane", format!("[{},0:{y},0:{x}]", t / 2)),
        ("block_1chunk", format!("[0:{ct},0:{cy},0:{cx}]")),
        ("block_64chunks", format!("[0:{},0:{},0:{}]", (ct * 4).min(t), (cy * 4).min(y), (cx * 4).min(x))),
        ("strided", format!("[0:{t}:10,0:{y}:10,0:{x}:10]")),
    ]
}

async fn prepare(
    endpoint: &str,
    admin: (&str, &str),
    user: (&str, &str),
    cube: &CubeSpec,
) -> anyhow::Result<(RestClient, String)> {
    let folder = format!("/home/{}", user.0);
    workload::ensure_folder(endpoint, admin, &folder, user.0).await?;
    let domain = format!("{folder}/selbench-{}.h5", uuid::Uuid::new_v4().simple());
    let client = RestClient::new(endpoint, user.0, user.1, &domain);
    let root = client.create_domain().await?;
    let id = workload::fill_cube(&client, &root, "cube", cube).await?;
    Ok((client, id))
}

/// Waits until `cold` (a second HSDS on the same storage) answers `sel` of dataset `id` with the same bytes
/// as `warm`, which wrote it: HSDS flushes chunks and metadata to storage a moment after acknowledging.
async fn wait_same_answer(warm: &RestClient, cold: &RestClient, id: &str, sel: &str) -> anyhow::Result<()> {
    let path = format!("/datasets/{id}/value");
    let params = [("select", sel.to_string())];
    let want = warm.send(reqwest::Method::GET, &path, &params, None::<Body>, true).await?;
    anyhow::ensure!(want.status == 200, "HSDS answered {} to {sel}", want.status);
    let t0 = Instant::now();
    loop {
        let got = cold.send(reqwest::Method::GET, &path, &params, None::<Body>, true).await?;
        if got.status == 200 && got.bytes == want.bytes {
            return Ok(());
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(60),
            "the cold HSDS still answers {sel} differently (HTTP {}) after 60 s: is it on the same storage?",
            got.status
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn time_pattern(client: &RestClient, id: &str, sel: &str, reps: usize) -> anyhow::Result<Timing> {
    let path = format!("/datasets/{id}/value");
    let params = [("select", sel.to_string())];
    let get = || client.send(reqwest::Method::GET, &path, &params, None::<Body>, true);
    let first = get().await?;
    let mut ts = Vec::with_capacity(reps);
    let mut last = first;
    for _ in 0..reps {
        let t = Instant::now();
        last = get().await?;
        ts.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ts.sort_by(f64::total_cmp);
    let median = if ts.is_empty() { 0.0 } else { ts[ts.len() / 2] };
    let p90 = if ts.is_empty() { 0.0 } else { ts[((ts.len() as f64 * 0.9) as usize).saturating_sub(1)] };
    let bytes = last.bytes.len();
    Ok(Timing {
        status: last.status,
        median_ms: median,
        p90_ms: p90,
        bytes,
        mb_per_s: if median > 0.0 { bytes as f64 / 1e6 / (median / 1000.0) } else { 0.0 },
    })
}

/// Runs every pattern against hslambda (own stack) and, if given, HSDS.
pub async fn run(opts: &SelectionOptions) -> anyhow::Result<SelectionReport> {
    let bootstrap = stack::bootstrap(opts.bootstrap.as_ref())?;
    let mut function = stack::function(bootstrap, opts.memory_mb, Duration::from_secs(60), 1);
    if !opts.chunk_cache {
        function.env.push((CHUNK_CACHE_ENV.into(), "0".into()));
    }
    let dir = StackDir::new(None)?;
    let mut config = dir.config(function, true);
    config.stream_bandwidth = opts.stream_bandwidth;
    let stack = Stack::start(config).await?;
    let front = format!("http://{}", stack.front_addr);
    let t0 = Instant::now();
    let (ours, our_id) = prepare(&front, ("admin", "admin"), ("test_user1", "test"), &opts.cube).await?;
    let our_setup = t0.elapsed().as_secs_f64();
    stack.faults.set_model(opts.s3_model).await;

    let mut hsds = None;
    let mut hsds_setup = None;
    if let Some(ep) = &opts.hsds_endpoint {
        let t0 = Instant::now();
        hsds = Some(prepare(ep, ("admin", "admin"), (&opts.hsds_user, &opts.hsds_password), &opts.cube).await?);
        hsds_setup = Some(t0.elapsed().as_secs_f64());
    }
    let mut hsds_cold = None;
    if let (Some(ep), Some((warm, id))) = (&opts.hsds_cold_endpoint, &hsds) {
        let cold = RestClient::new(ep, &opts.hsds_user, &opts.hsds_password, &warm.domain);
        let strided = patterns(&opts.cube).pop().expect("patterns").1;
        wait_same_answer(warm, &cold, id, &strided).await?;
        hsds_cold = Some(cold);
    }

    let mut out = Vec::new();
    for (name, sel) in patterns(&opts.cube) {
        stack.sandbox.reap_idle();
        let ours_t = time_pattern(&ours, &our_id, &sel, opts.reps).await?;
        let theirs = match &hsds {
            Some((c, id)) => Some(time_pattern(c, id, &sel, opts.reps).await?),
            None => None,
        };
        let cold = match (&hsds_cold, &hsds) {
            (Some(c), Some((_, id))) => Some(time_pattern(c, id, &sel, opts.reps).await?),
            _ => None,
        };
        let ratio_to = |h: &Option<Timing>| {
            h.as_ref()
                .filter(|h| h.status == 200 && ours_t.status == 200 && h.median_ms > 0.0)
                .map(|h| ours_t.median_ms / h.median_ms)
        };
        let (ratio, ratio_cold) = (ratio_to(&theirs), ratio_to(&cold));
        out.push(PatternResult {
            pattern: name.into(),
            select: sel,
            hslambda: ours_t,
            hsds: theirs,
            ratio,
            hsds_cold: cold,
            ratio_cold,
        });
    }
    let limits = stack.sandbox.limits().describe();
    stack.shutdown();
    Ok(SelectionReport {
        cube: opts.cube,
        reps: opts.reps,
        memory_mb: opts.memory_mb,
        chunk_cache: opts.chunk_cache,
        stream_bandwidth: opts.stream_bandwidth,
        limits,
        s3_model: opts.s3_model,
        hsds_endpoint: opts.hsds_endpoint.clone(),
        hsds_cold_endpoint: opts.hsds_cold_endpoint.clone().filter(|_| hsds_cold.is_some()),
        setup_s: (our_setup, hsds_setup),
        patterns: out,
    })
}

fn cell(t: Option<&Timing>) -> String {
    match t {
        Some(t) if t.status == 200 => format!("{:.1} ({:.1} MB/s)", t.median_ms, t.mb_per_s),
        Some(t) => format!("HTTP {}", t.status),
        None => "-".into(),
    }
}

/// A Markdown table (for BENCHMARKS.md and the terminal); the cold-HSDS columns appear when it was compared.
pub fn markdown(r: &SelectionReport) -> String {
    let with_cold = r.patterns.iter().any(|p| p.hsds_cold.is_some());
    let mut s = format!(
        "cube {:?} float32 gzip, chunks {:?}; {} reps per pattern (median of client-side wall time); hslambda {} MB, \
         chunk cache {}, streaming bandwidth {}\n\n",
        r.cube.shape,
        r.cube.chunks,
        r.reps,
        r.memory_mb,
        if r.chunk_cache { "on (warm repeats)" } else { "off (every request reads S3 and decodes)" },
        match r.stream_bandwidth {
            StreamBandwidth::Lambda => "Lambda's (6 MB free, then 2 MB/s)",
            StreamBandwidth::Unlimited => "unlimited (loopback speed)",
        }
    );
    s.push_str("| pattern | select | bytes | hslambda median ms | HSDS median ms | hslambda / HSDS |");
    if with_cold {
        s.push_str(" HSDS without chunk cache, median ms | hslambda / HSDS without cache |");
    }
    s.push_str(if with_cold {
        "\n|---|---|---:|---:|---:|---:|---:|---:|\n"
    } else {
        "\n|---|---|---:|---:|---:|---:|\n"
    });
    let ratio = |x: Option<f64>| x.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    for p in &r.patterns {
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} |",
            p.pattern,
            p.select,
            p.hsds.as_ref().map(|h| h.bytes).unwrap_or(p.hslambda.bytes),
            cell(Some(&p.hslambda)),
            cell(p.hsds.as_ref()),
            ratio(p.ratio)
        ));
        if with_cold {
            s.push_str(&format!(" {} | {} |", cell(p.hsds_cold.as_ref()), ratio(p.ratio_cold)));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selbench_patterns() {
        let p = patterns(&CubeSpec { shape: [2000, 200, 200], chunks: [250, 25, 25] });
        let names: Vec<&str> = p.iter().map(|x| x.0).collect();
        assert_eq!(names, ["timeseries_point", "timeslice_plane", "block_1chunk", "block_64chunks", "strided"]);
        assert_eq!(p[0].1, "[0:2000,100,100]");
        assert_eq!(p[3].1, "[0:1000,0:100,0:100]");
        assert_eq!(p[4].1, "[0:2000:10,0:200:10,0:200:10]");
    }
}
