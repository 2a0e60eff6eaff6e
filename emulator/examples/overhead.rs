//! Measures the emulator: cold start of a function (process spawn → first `/next`, the REPORT's Init
//! Duration) and the per-invocation overhead of the HTTP front door on a warm `/about`.
//!
//! `cargo run --release -p lambda-emulator --example overhead -- target/release/bootstrap [warm-requests]`

use std::time::{Duration, Instant};

use lambda_emulator::sandbox::Admission;
use lambda_emulator::{default_function, Stack, StackConfig};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn stack(bootstrap: &std::path::Path, dir: &std::path::Path) -> Stack {
    let function = default_function(bootstrap.to_path_buf());
    Stack::start(StackConfig {
        host: "127.0.0.1".into(),
        port: 0,
        s3_port: 0,
        invoke_port: None,
        data_dir: dir.join("data"),
        bucket: "hsdstest".into(),
        users_file: None,
        function,
        s3_faults: Vec::new(),
        kill_rate: 0.0,
        use_cgroups: false,
        front_door: Default::default(),
        stream_bandwidth: Default::default(),
        s3_auth: Default::default(),
    })
    .await
    .expect("stack starts")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bootstrap = std::path::PathBuf::from(args.get(1).expect("usage: overhead <bootstrap> [n]"));
    let n: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    // Cold starts: a fresh stack each time; the first /about pays spawn + init.
    let (mut init, mut first) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let s = stack(&bootstrap, dir.path()).await;
        let event = serde_json::json!({"method": "GET", "path": "/about"}).to_string();
        let t0 = Instant::now();
        let done = s.sandbox.invoke(event.into(), None, Admission::Wait).await.unwrap();
        first.push(t0.elapsed().as_secs_f64() * 1000.0);
        init.push(done.report.init_duration_ms.unwrap());
        s.shutdown();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "cold start (spawn -> first /next): p50 {:.1} ms, min {:.1} ms; first invocation end-to-end p50 {:.1} ms",
        percentile(&mut init, 0.5),
        percentile(&mut init, 0.0),
        percentile(&mut first, 0.5)
    );

    // Warm: front-door latency vs the function's own Duration for the same request.
    let s = stack(&bootstrap, dir.path()).await;
    let url = format!("http://{}/about", s.front_addr);
    let v2 = |p: &str| {
        serde_json::json!({"version": "2.0", "rawPath": p, "rawQueryString": "", "headers": {},
            "requestContext": {"http": {"method": "GET", "path": p}}, "isBase64Encoded": false})
        .to_string()
    };
    for _ in 0..50 {
        http.get(&url).send().await.unwrap().bytes().await.unwrap();
    }
    let (mut front, mut direct, mut duration) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let t0 = Instant::now();
        let r = http.get(&url).send().await.unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
        front.push(t0.elapsed().as_secs_f64() * 1000.0);
        let t0 = Instant::now();
        let done = s.sandbox.invoke(v2("/about").into(), None, Admission::Wait).await.unwrap();
        direct.push(t0.elapsed().as_secs_f64() * 1000.0);
        duration.push(done.report.duration_ms);
    }
    let (f, d, dur) = (percentile(&mut front, 0.5), percentile(&mut direct, 0.5), percentile(&mut duration, 0.5));
    println!("warm /about, {n} requests: front door p50 {f:.3} ms (p99 {:.3}); sandbox.invoke p50 {d:.3} ms; function Duration p50 {dur:.3} ms", percentile(&mut front, 0.99));
    println!("emulator overhead p50: front door {:.3} ms, Runtime API + sandbox only {:.3} ms", f - dur, d - dur);
    s.shutdown();
}
