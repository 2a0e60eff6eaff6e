//! The race scenarios at small scale: with compare-and-swap no acknowledged write is ever lost and a write
//! racing a delete or a shrink leaves no stale data behind; with `HSLAMBDA_WRITE_MODE=last-writer-wins`
//! (HSDS on Lambda's behaviour) the same scenarios do lose writes, which is what the bench exists to show.

mod common;

use hslambda_bench::race::{run_scenario, RaceOptions, Scenario};
use hslambda_bench::stack::{BenchStack, BENCH_PASSWORD, BENCH_USER};

async fn run(env: Vec<(String, String)>, writers: usize, rounds: usize) -> Vec<hslambda_bench::race::RaceReport> {
    let bench = BenchStack::start(BenchStack::function(common::bootstrap().into(), 512, writers, env)).await.unwrap();
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
    for r in run(vec![], 8, 4).await {
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
    let reports = run(env, 8, 4).await;
    let lost: usize = reports.iter().map(|r| r.violations()).sum();
    assert!(lost > 0, "8 concurrent unsynchronised writers x 8 scenarios lost nothing: {reports:?}");
}
