//! The race scenarios at small scale: with compare-and-swap no acknowledged write is ever lost and a write
//! racing a delete or a shrink leaves no stale data behind; with `HSLAMBDA_WRITE_MODE=last-writer-wins`
//! (HSDS on Lambda's behaviour) the same scenarios do lose writes, which is what the bench exists to show.

mod common;

use hslambda_bench::race::{run_scenario, RaceOptions, Scenario};
use hslambda_bench::stack::{BenchStack, BENCH_PASSWORD, BENCH_USER};
use lambda_emulator::faults::FaultRule;

/// Runs every scenario; `s3_latency_ms` is added to every S3 request (an emulator fault rule).
async fn run(
    env: Vec<(String, String)>,
    writers: usize,
    rounds: usize,
    s3_latency_ms: u64,
) -> Vec<hslambda_bench::race::RaceReport> {
    let bench = BenchStack::start(BenchStack::function(common::bootstrap().into(), 512, writers, env)).await.unwrap();
    if s3_latency_ms > 0 {
        bench.stack.faults.set(vec![FaultRule { latency_ms: s3_latency_ms, ..FaultRule::default() }]).await;
    }
    let opts = RaceOptions {
        endpoint: bench.endpoint.clone(),
        user: BENCH_USER.into(),
        password: BENCH_PASSWORD.into(),
        folder: bench.folder.clone(),
        writers,
        rounds,
    };
    let mut out = Vec::new();
    for s in Scenario::ALL {
        out.push(run_scenario(&opts, s).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compare_and_swap_loses_no_acknowledged_write() {
    for r in run(vec![], 8, 4, 0).await {
        assert_eq!(r.lost, 0, "{}: {:?}", r.scenario, r.lost_examples);
        assert_eq!(r.stale, 0, "{}: {:?}", r.scenario, r.stale_examples);
        assert_eq!(r.other_errors, 0, "{}: unexpected errors", r.scenario);
        assert!(r.acknowledged > 0, "{}: nothing acknowledged", r.scenario);
        assert_eq!(r.acknowledged + r.unavailable + r.refused, r.attempted, "{}", r.scenario);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn last_writer_wins_mode_shows_the_lost_updates() {
    let env = vec![("HSLAMBDA_WRITE_MODE".to_string(), "last-writer-wins".to_string())];
    // The race is forced, not hoped for: every S3 request takes 100 ms, so the 8 writers' reads of the
    // shared object all land before any of their writes does (each writer reads, then writes what it read
    // plus its own change), and all but one of the read-modify-write cycles overwrite another's update.
    let reports = run(env, 8, 2, 100).await;
    let lost: usize = reports.iter().map(|r| r.violations()).sum();
    assert!(lost > 0, "8 concurrent unsynchronised writers x 8 scenarios lost nothing: {reports:?}");
}
