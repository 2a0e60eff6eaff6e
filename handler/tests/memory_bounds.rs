//! Memory bounds on hostile-but-valid requests, as a 128 MB function sees them: selections touching too
//! many chunks get 413 naming the limit; many 1-byte points in 1-element chunks are served within a
//! bounded peak RSS (measured: VmHWM reset before the request); chunks too large for the memory get 413.
//!
//! One test function on purpose: peak RSS is per process, and `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` is read
//! once per process.

mod common;

use common::*;
use hsds_handler::chunk::engine::MAX_CHUNKS_PER_REQUEST;
use hsds_handler::Service;
use serde_json::{json, Value};

const DOMAIN: &str = "/home/test_user1/bounds.h5";

fn status_kb(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("status field")
}

/// Serves `r` and returns (status, body, growth of peak RSS during the request in MB).
async fn measured(svc: &Service, r: hsds_handler::Request) -> (u16, Value, u64) {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before = status_kb("VmRSS:");
    let rsp = svc.handle(r).await;
    let peak = status_kb("VmHWM:");
    (rsp.status, rsp.json_body().unwrap_or(Value::Null), peak.saturating_sub(before) / 1024)
}

async fn dataset(svc: &Service, root: &str, name: &str, ty: &str, shape: u64, chunk: u64) -> String {
    let body = json!({"type": ty, "shape": [shape], "link": {"id": root, "name": name},
        "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [chunk]}}});
    let (s, v) = call_json(svc, req("POST", "/datasets", Some("test_user1"), Some(DOMAIN)), &body).await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_but_valid_requests_stay_within_a_128_mb_function() {
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    let (svc, _store) = service();
    for (dom, body) in
        [("/home", json!({"folder": true})), ("/home/test_user1", json!({"folder": true, "owner": "test_user1"}))]
    {
        let (s, v) = call_json(&svc, req("PUT", "/", Some("admin"), Some(dom)), &body).await;
        assert_eq!(s, 201, "{v}");
    }
    let (s, v) = call(&svc, req("PUT", "/", Some("test_user1"), Some(DOMAIN))).await;
    assert_eq!(s, 201, "{v}");
    let root = v["root"].as_str().unwrap().to_string();

    // 1-element chunks: a modest selection touches 750k chunks -> 413 naming the limit, for reads and writes.
    let tiny = dataset(&svc, &root, "tiny", "H5T_STD_U8LE", 1_000_000, 1).await;
    let value = format!("/datasets/{tiny}/value");
    let get = req("GET", &value, Some("test_user1"), Some(DOMAIN)).param("select", "[0:750000]");
    let (s, v, grew) = measured(&svc, get).await;
    assert_eq!(s, 413, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("750000 chunks") && msg.contains(&MAX_CHUNKS_PER_REQUEST.to_string()), "{msg}");
    assert!(grew < 16, "refusing took {grew} MB");
    let put = req("PUT", &value, Some("test_user1"), Some(DOMAIN))
        .param("select", "[0:750000]")
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 750_000]);
    let (s, v, grew) = measured(&svc, put).await;
    assert_eq!(s, 413, "{v}");
    assert!(grew < 32, "refusing a 750 KB write took {grew} MB");

    // Many 1-byte points, each in its own chunk: just under the limit is served in bounded memory...
    let n = MAX_CHUNKS_PER_REQUEST as usize;
    let points: Vec<u64> = (0..n as u64).map(|i| i * 97).collect();
    let body = json!({"points": points, "value": vec![5u8; n]});
    let put = req("PUT", &value, Some("test_user1"), Some(DOMAIN)).json(&body);
    let (s, v, grew) = measured(&svc, put).await;
    assert_eq!(s, 200, "{v}");
    assert!(grew < 96, "writing {n} 1-byte points into {n} chunks raised peak RSS by {grew} MB");
    let check = req("POST", &value, Some("test_user1"), Some(DOMAIN)).json(&json!({"points": [0, 97, 98]}));
    let (s, v) = call(&svc, check).await;
    assert_eq!((s, v["value"].clone()), (200, json!([5, 5, 0])), "{v}");
    // ...and one point more is refused before any chunk is written.
    let more: Vec<u64> = (0..n as u64 + 1).map(|i| i * 97 + 1).collect();
    let body = json!({"points": more, "value": vec![9u8; n + 1]});
    let (s, v, grew) = measured(&svc, req("PUT", &value, Some("test_user1"), Some(DOMAIN)).json(&body)).await;
    assert_eq!(s, 413, "{v}");
    assert!(grew < 32, "refusing took {grew} MB");
    let (s, v) = call(&svc, req("POST", &value, Some("test_user1"), Some(DOMAIN)).json(&json!({"points": [1]}))).await;
    assert_eq!((s, v["value"].clone()), (200, json!([0])), "a refused write left data behind: {v}");

    // Chunks of 64 MB at 128 MB of memory: even a 10-element read is refused, not attempted.
    let big = dataset(&svc, &root, "big", "H5T_IEEE_F32LE", 32 << 20, 16 << 20).await;
    let get = req("GET", &format!("/datasets/{big}/value"), Some("test_user1"), Some(DOMAIN)).param("select", "[0:10]");
    let (s, v, grew) = measured(&svc, get).await;
    assert_eq!(s, 413, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("67108864 bytes") && msg.contains("memory"), "{msg}");
    assert!(grew < 16, "refusing took {grew} MB");
}
