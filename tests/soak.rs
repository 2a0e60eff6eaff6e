//! The fault soak and the load run at small scale (the long runs are in BENCHMARKS.md, "Faults and load").
//! The two tests take turns: the load run counts this process's child processes and descriptors.

mod common;

use std::time::Duration;

use hslambda_bench::load::{run_load, LoadOptions};
use hslambda_bench::soak::{run_soak, SoakOptions};
use lambda_emulator::faults::FaultRule;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_under_s3_faults_loses_no_acknowledged_write() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let phase = |status| {
        vec![FaultRule {
            latency_ms: 200,
            latency_rate: 0.05,
            error_rate: 0.1,
            status,
            drop_rate: 0.05,
            after_rate: 0.05,
            ..FaultRule::default()
        }]
    };
    let opts = SoakOptions {
        clients: 6,
        duration: Duration::from_secs(8),
        phases: vec![phase(503), phase(500)],
        phase: Duration::from_secs(1),
        memory_mb: 256,
        timeout: Duration::from_secs(10),
        seed: 7,
        kill_rate: 0.05,
    };
    let r = run_soak(common::bootstrap().into(), &opts).await.unwrap();
    let text = r.format();
    assert!(r.passed(), "{text}");
    assert_eq!((r.lost_writes, r.unreadable, r.duplicates, r.bad_reads, r.unclean()), (0, 0, 0, 0, 0), "{text}");
    assert!(r.kills > 0, "instances were killed: {text}");
    let f = r.faults;
    assert!(
        f.slow_down_503 > 0 && f.internal_500 > 0 && f.dropped > 0 && f.delayed > 0 && f.applied_then_failed > 0,
        "every fault kind: {text}"
    );
    assert!(r.acknowledged_writes > 20, "{text}");
    // One request makes several S3 calls, a fifth of which fail: without the S3 client's retries most
    // requests would fail; with them nearly all succeed.
    assert!(r.ok * 10 >= r.requests * 8, "retries should absorb most injected faults: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_above_the_concurrency_limit_is_throttled_and_leaks_nothing() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let opts =
        LoadOptions { concurrency: 2, clients: 6, duration: Duration::from_secs(5), memory_mb: 128, rss_growth_mb: 16 };
    let r = run_load(common::bootstrap().into(), &opts).await.unwrap();
    let text = r.format();
    assert!(r.passed(), "{text}");
    assert!(r.throttled > 0 && r.ok > 0, "{text}");
    assert!(r.peak_instances <= 2 && r.after.instances <= 2, "{text}");
    assert_eq!((r.after.zombies, r.leaked_after_shutdown), (0, 0), "{text}");
}
