//! `hslambda load`: invocations through the Lambda Invoke API at and above the function's concurrency limit,
//! checking what a long run must not do: leak function processes or file descriptors (of the emulator
//! and of the `bootstrap` instances, counted in `/proc` before and after), let warm instances grow in
//! memory (RSS after many invocations within a bound), or answer excess load with anything but 429
//! `TooManyRequestsException`.
//!
//! Process and descriptor counts come from `/proc`: the function instances are the children of this
//! process, so the counts are only meaningful when this process runs no other stack at the same time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use lambda_emulator::limits::rss_and_peak_kb;
use serde_json::json;

use crate::report::{verdict, Latency};
use crate::rest_client::RestClient;
use crate::stack::{BenchStack, BENCH_PASSWORD, BENCH_USER};

/// How hard and how long to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The function's concurrency limit.
    pub concurrency: usize,
    /// Concurrent clients (above `concurrency` to provoke throttling).
    pub clients: usize,
    /// How long the load runs.
    pub duration: Duration,
    /// Function memory in MB.
    pub memory_mb: u32,
    /// Allowed growth of a warm instance's RSS between warm-up and the end of the run, in MB.
    pub rss_growth_mb: u64,
}

/// Processes, descriptors and memory at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    /// Open descriptors of this (the emulator's) process.
    pub emulator_fds: usize,
    /// Live (non-zombie) child processes: the function instances.
    pub instances: usize,
    /// Exited children not yet reaped.
    pub zombies: usize,
    /// Open descriptors of the busiest instance.
    pub max_instance_fds: usize,
    /// Largest RSS of an instance, in MB.
    pub max_instance_rss_mb: u64,
}

/// What a load run did and found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadReport {
    /// Invocations sent during the run.
    pub invocations: u64,
    /// Answered 200 with a function response of status 200.
    pub ok: u64,
    /// Answered 429 `TooManyRequestsException`.
    pub throttled: u64,
    /// Anything else, by Invoke API status (a 200 whose function response failed counts as 200 here).
    pub other: BTreeMap<u16, u64>,
    /// Invocations with no HTTP answer.
    pub transport_errors: u64,
    /// Most instances alive at once, sampled during the run.
    pub peak_instances: usize,
    /// After warm-up.
    pub before: Snapshot,
    /// After the run, once the clients are gone.
    pub after: Snapshot,
    /// Instances left running after the stack shut down.
    pub leaked_after_shutdown: usize,
    /// Latency of the answered invocations.
    pub latency: Latency,
    /// Wall time of the run in seconds.
    pub seconds: f64,
    /// The options' concurrency, for the checks.
    pub concurrency: usize,
    /// The options' RSS growth bound in MB.
    pub rss_growth_mb: u64,
    /// Why the run failed, if it did.
    pub problems: Vec<String>,
}

/// Descriptors a run may add to the emulator: idle keep-alive connections from the instances to S3 and
/// the Runtime API (per instance) and a few listener-side ones.
const FD_SLACK_PER_INSTANCE: usize = 8;
/// Descriptors an instance may add (its S3 connection pool grows with parallel chunk fetches).
const INSTANCE_FD_SLACK: usize = 24;

impl LoadReport {
    /// Fills `problems`; `expect_throttling` when there were more clients than the concurrency limit.
    fn check(&mut self, expect_throttling: bool) {
        let (b, a) = (&self.before, &self.after);
        let mut p = Vec::new();
        if self.ok == 0 {
            p.push("no invocation succeeded".to_string());
        }
        if expect_throttling && self.throttled == 0 {
            p.push("more clients than the concurrency limit, yet nothing was throttled (429)".into());
        }
        if !self.other.is_empty() || self.transport_errors > 0 {
            p.push(format!("answers other than 200/429: {:?}, {} without answer", self.other, self.transport_errors));
        }
        if self.peak_instances > self.concurrency || a.instances > self.concurrency {
            p.push(format!("{} instances alive at peak, limit {}", self.peak_instances, self.concurrency));
        }
        if a.zombies > 0 || self.leaked_after_shutdown > 0 {
            p.push(format!("{} zombies, {} instances left after shutdown", a.zombies, self.leaked_after_shutdown));
        }
        let fd_bound = b.emulator_fds + FD_SLACK_PER_INSTANCE * self.concurrency;
        if a.emulator_fds > fd_bound {
            p.push(format!("emulator descriptors {} -> {} (bound {fd_bound})", b.emulator_fds, a.emulator_fds));
        }
        if a.max_instance_fds > b.max_instance_fds + INSTANCE_FD_SLACK {
            p.push(format!("instance descriptors {} -> {}", b.max_instance_fds, a.max_instance_fds));
        }
        if a.max_instance_rss_mb > b.max_instance_rss_mb + self.rss_growth_mb {
            p.push(format!(
                "warm instance RSS {} MB -> {} MB (bound +{} MB)",
                b.max_instance_rss_mb, a.max_instance_rss_mb, self.rss_growth_mb
            ));
        }
        self.problems = p;
    }

    /// True when no check failed.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report for the terminal.
    pub fn format(&self) -> String {
        let (b, a) = (&self.before, &self.after);
        let mut s = format!(
            "invocations     {} in {:.1} s ({:.0}/s): ok {}, throttled 429 {}, other {:?}, no answer {}\n\
             instances       peak {} (limit {}), after {} , zombies {}, left after shutdown {}\n\
             emulator fds    {} -> {}\n\
             instance fds    {} -> {} (busiest instance)\n\
             instance RSS    {} MB -> {} MB (largest warm instance; bound +{} MB)\n\
             {}",
            self.invocations,
            self.seconds,
            self.invocations as f64 / self.seconds.max(1e-9),
            self.ok,
            self.throttled,
            self.other,
            self.transport_errors,
            self.peak_instances,
            self.concurrency,
            a.instances,
            a.zombies,
            self.leaked_after_shutdown,
            b.emulator_fds,
            a.emulator_fds,
            b.max_instance_fds,
            a.max_instance_fds,
            b.max_instance_rss_mb,
            a.max_instance_rss_mb,
            self.rss_growth_mb,
            self.latency.line(),
        );
        s += &verdict(&self.problems, self.passed());
        s
    }
}

fn count_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Children of `parent` from `/proc/<pid>/stat`: (pid, is a zombie).
fn children(parent: u32) -> Vec<(u32, bool)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the parenthesised command: state, ppid, ...
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut f = rest.split_whitespace();
            let state = f.next()?;
            let ppid: u32 = f.next()?.parse().ok()?;
            (ppid == parent).then_some((pid, state == "Z"))
        })
        .collect()
}

/// Processes, descriptors and memory of this process and its function instances now.
pub fn snapshot() -> Snapshot {
    let me = std::process::id();
    let kids = children(me);
    let live: Vec<u32> = kids.iter().filter(|(_, z)| !z).map(|(p, _)| *p).collect();
    Snapshot {
        emulator_fds: count_fds(me),
        instances: live.len(),
        zombies: kids.len() - live.len(),
        max_instance_fds: live.iter().map(|p| count_fds(*p)).max().unwrap_or(0),
        max_instance_rss_mb: live
            .iter()
            .filter_map(|p| rss_and_peak_kb(*p))
            .map(|(rss, _)| rss / 1024)
            .max()
            .unwrap_or(0),
    }
}

/// The direct-invoke events the clients send in turn: metadata and a small value read.
fn events(domain: &str, root: &str, dataset: &str) -> Vec<bytes::Bytes> {
    let auth =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{BENCH_USER}:{BENCH_PASSWORD}")));
    let headers = json!({"Authorization": auth});
    let event = |path: String, extra: serde_json::Value| {
        let mut params = json!({"domain": domain});
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        bytes::Bytes::from(json!({"method": "GET", "path": path, "params": params, "headers": headers}).to_string())
    };
    vec![
        event("/".into(), json!({})),
        event(format!("/groups/{root}"), json!({})),
        event(format!("/datasets/{dataset}/value"), json!({"select": "[0:64]"})),
    ]
}

struct Tally {
    ok: u64,
    throttled: u64,
    other: BTreeMap<u16, u64>,
    transport_errors: u64,
    latencies: Vec<Duration>,
}

async fn client(http: reqwest::Client, url: String, events: Arc<Vec<bytes::Bytes>>, until: Instant) -> Tally {
    let mut t = Tally { ok: 0, throttled: 0, other: BTreeMap::new(), transport_errors: 0, latencies: Vec::new() };
    let mut i = 0;
    while Instant::now() < until {
        i += 1;
        let t0 = Instant::now();
        let sent = http.post(&url).body(events[i % events.len()].clone()).send().await;
        let reply = match sent {
            Ok(r) => {
                let error_type = r.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(String::from);
                Ok((r.status().as_u16(), error_type, r.bytes().await.unwrap_or_default()))
            }
            Err(e) => Err(e),
        };
        match reply {
            Ok((200, _, body)) => {
                t.latencies.push(t0.elapsed());
                let payload: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if payload["statusCode"].as_u64() == Some(200) {
                    t.ok += 1;
                } else {
                    *t.other.entry(200).or_default() += 1;
                }
            }
            Ok((429, error_type, _)) => {
                if error_type.as_deref() == Some("TooManyRequestsException") {
                    t.throttled += 1;
                } else {
                    *t.other.entry(429).or_default() += 1;
                }
                // A throttled client backs off briefly, as SDKs do, instead of spinning.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok((status, _, _)) => *t.other.entry(status).or_default() += 1,
            Err(_) => t.transport_errors += 1,
        }
    }
    t
}

/// Runs `clients` concurrent Invoke API callers for `duration`, sampling the live instances meanwhile.
async fn drive(
    url: &str,
    events: &Arc<Vec<bytes::Bytes>>,
    clients: usize,
    duration: Duration,
    peak: &AtomicUsize,
) -> Tally {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("reqwest client");
    let until = Instant::now() + duration;
    let tasks: Vec<_> =
        (0..clients).map(|_| tokio::spawn(client(http.clone(), url.to_string(), events.clone(), until))).collect();
    while Instant::now() < until {
        peak.fetch_max(snapshot().instances, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut all = Tally { ok: 0, throttled: 0, other: BTreeMap::new(), transport_errors: 0, latencies: Vec::new() };
    for task in tasks {
        let Ok(mut t) = task.await else { continue };
        all.ok += t.ok;
        all.throttled += t.throttled;
        all.transport_errors += t.transport_errors;
        for (s, n) in t.other {
            *all.other.entry(s).or_default() += n;
        }
        all.latencies.append(&mut t.latencies);
    }
    all
}

/// Runs a load test on a private stack running `bootstrap`: warm-up at the concurrency limit, a snapshot,
/// the load with `clients` callers, a second snapshot once the clients are gone, then shutdown and a check
/// that no instance outlived it.
pub async fn run_load(bootstrap: crate::stack::FunctionExe, opts: &LoadOptions) -> anyhow::Result<LoadReport> {
    let bench =
        BenchStack::start(BenchStack::function(bootstrap, opts.memory_mb, opts.concurrency, Vec::new())).await?;
    let domain = format!("{}/load-{}.h5", bench.folder, uuid::Uuid::new_v4().simple());
    let rest = RestClient::new(&bench.endpoint, BENCH_USER, BENCH_PASSWORD, &domain);
    let root = rest.create_domain().await?;
    let spec = json!({"type": "H5T_STD_I32LE", "shape": [1024], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [256]}}});
    let dataset = rest.create_dataset(&root, "d", spec).await?;
    let w = rest
        .put(
            &format!("/datasets/{dataset}/value"),
            &[("select", "[0:64]".into())],
            json!({"value": (0..64).collect::<Vec<i32>>()}),
        )
        .await?;
    anyhow::ensure!(w.ok(), "writing the load dataset failed: {} {}", w.status, w.json);
    drop(rest);

    let url = format!("{}/2015-03-31/functions/{}/invocations", bench.endpoint, bench.stack.sandbox.config().name);
    let events = Arc::new(events(&domain, &root, &dataset));
    let peak = AtomicUsize::new(0);
    // Warm-up at the limit, so every instance exists (and has its connections) before the first snapshot.
    let warm_up = (opts.duration / 10).clamp(Duration::from_secs(1), Duration::from_secs(10));
    drive(&url, &events, opts.concurrency, warm_up, &peak).await;
    let settle = Duration::from_millis(500);
    tokio::time::sleep(settle).await;
    let before = snapshot();

    let started = Instant::now();
    let mut tally = drive(&url, &events, opts.clients, opts.duration, &peak).await;
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let after = snapshot();

    let pids: Vec<u32> = children(std::process::id()).into_iter().map(|(p, _)| p).collect();
    bench.stack.shutdown();
    drop(bench);
    let mut leaked = pids.len();
    for _ in 0..50 {
        leaked = pids.iter().filter(|p| children(std::process::id()).iter().any(|(c, z)| c == *p && !z)).count();
        if leaked == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut report = LoadReport {
        invocations: tally.ok + tally.throttled + tally.other.values().sum::<u64>() + tally.transport_errors,
        ok: tally.ok,
        throttled: tally.throttled,
        other: tally.other,
        transport_errors: tally.transport_errors,
        peak_instances: peak.load(Ordering::Relaxed),
        before,
        after,
        leaked_after_shutdown: leaked,
        latency: Latency::of(&mut tally.latencies),
        seconds,
        concurrency: opts.concurrency,
        rss_growth_mb: opts.rss_growth_mb,
        problems: Vec::new(),
    };
    report.check(opts.clients > opts.concurrency);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_seen_with_its_descriptors() {
        let s = snapshot();
        assert!(s.emulator_fds >= 3, "stdin/stdout/stderr at least: {s:?}");
        let child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let kids = children(std::process::id());
        assert!(kids.iter().any(|(p, _)| *p == child.id()), "{kids:?}");
        let mut child = child;
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn checks_flag_leaks_growth_and_missing_throttling() {
        let base =
            Snapshot { emulator_fds: 40, instances: 2, zombies: 0, max_instance_fds: 20, max_instance_rss_mb: 12 };
        let mut r = LoadReport {
            invocations: 100,
            ok: 90,
            throttled: 10,
            peak_instances: 2,
            before: base.clone(),
            after: base.clone(),
            concurrency: 2,
            rss_growth_mb: 16,
            ..Default::default()
        };
        r.check(true);
        assert!(r.passed(), "{:?}", r.problems);
        r.after.max_instance_rss_mb = 40;
        r.after.emulator_fds = 400;
        r.after.zombies = 1;
        r.check(true);
        assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
        let mut quiet = LoadReport { throttled: 0, ..r.clone() };
        quiet.after = base;
        quiet.check(true);
        assert!(quiet.problems.iter().any(|p| p.contains("throttled")));
        quiet.check(false);
        assert!(quiet.passed(), "{:?}", quiet.problems);
    }
}
