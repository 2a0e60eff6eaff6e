//! Peak memory of one `bootstrap`-like process serving the largest binary value response that fits
//! Lambda's 6 MB payload (2.9 MB raw, hex-encoded by the direct-invoke contract) from gzip chunks.
//!
//! The service runs in-process over a MemoryStore. After the chunks are written, the process's peak RSS
//! (VmHWM) is reset through `/proc/self/clear_refs`, then one request is served and VmHWM read again, so
//! the figure is the memory the request needed on top of the process and the stored (compressed) chunks.
//!
//! Run: `cargo run --release -p hsds-handler --example peak_rss` (figures in BENCHMARKS.md).

use std::sync::Arc;

use hsds_handler::store::MemoryStore;
use hsds_handler::{Config, Request, Service};
use serde_json::{json, Value};

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn auth(r: Request, user: &str, pwd: &str) -> Request {
    use base64::Engine;
    r.header(
        "authorization",
        &format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pwd}"))),
    )
}

async fn call(svc: &Service, r: Request, body: Option<Value>) -> (u16, Value) {
    let r = match body {
        Some(b) => r.json(&b),
        None => r,
    };
    let rsp = svc.handle(r).await;
    (rsp.status, rsp.json_body().unwrap_or(Value::Null))
}

/// Random-walk-ish float32 rows (poorly compressible, like real data).
fn rows(t0: usize, n: usize, plane: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * plane * 4);
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ t0 as u64;
    for t in 0..n {
        for i in 0..plane {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = (t0 + t) as f32 * 0.01 + (i % 97) as f32 + (state >> 40) as f32 / (1u64 << 24) as f32;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

async fn scenario(svc: &Service, dom: &str, name: &str, shape: [usize; 3], chunks: [usize; 3], select: &str) {
    let a = |r: Request| auth(r, "test_user1", "test").param("domain", dom);
    let body = json!({"type": "H5T_IEEE_F32LE", "shape": shape, "creationProperties": {
        "layout": {"class": "H5D_CHUNKED", "dims": chunks},
        "filters": [{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]}});
    let (s, v) = call(svc, a(Request::new("POST", "/datasets")), Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let plane = shape[1] * shape[2];
    for t0 in (0..shape[0]).step_by(chunks[0]) {
        let n = chunks[0].min(shape[0] - t0);
        let r = a(Request::new("PUT", &format!("/datasets/{id}/value")))
            .param("select", &format!("[{t0}:{},:,:]", t0 + n))
            .header("content-type", "application/octet-stream")
            .body(rows(t0, n, plane));
        assert_eq!(svc.handle(r).await.status, 200);
    }
    let before = status_kb("VmRSS:");
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM (Linux only)");
    let r = a(Request::new("GET", &format!("/datasets/{id}/value")))
        .param("select", select)
        .header("accept", "application/octet-stream");
    let rsp = svc.handle(r).await;
    assert_eq!(rsp.status, 200, "{:?}", rsp.json_body());
    let hwm = status_kb("VmHWM:");
    println!(
        "{name}: select={select} response={} bytes; VmRSS before={} MB; VmHWM during request={} MB (+{} MB)",
        rsp.body.len(),
        before / 1024,
        hwm / 1024,
        hwm.saturating_sub(before) / 1024
    );
    drop(rsp);
    let (s, _) = call(svc, a(Request::new("DELETE", &format!("/datasets/{id}"))), None).await;
    assert_eq!(s, 200);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let store = Arc::new(MemoryStore::new());
    let mut svc = Service::new(store, Config::default()).expect("service");
    svc.users.load_passwd("admin:admin\ntest_user1:test\n").expect("users");
    let admin = |r: Request| auth(r, "admin", "admin");
    call(&svc, admin(Request::new("PUT", "/")).param("domain", "/home"), Some(json!({"folder": true}))).await;
    let owner = json!({"folder": true, "owner": "test_user1"});
    call(&svc, admin(Request::new("PUT", "/")).param("domain", "/home/test_user1"), Some(owner)).await;
    let dom = "/home/test_user1/rss.h5";
    let (s, _) = call(&svc, auth(Request::new("PUT", "/"), "test_user1", "test").param("domain", dom), None).await;
    assert_eq!(s, 201);
    println!("chunk cache capacity: {} bytes", svc.chunk_cache.capacity());
    // 2.9 MB contiguous block from 625 KB chunks (selbench cube chunking).
    scenario(&svc, dom, "block", [500, 100, 100], [250, 25, 25], "[0:290,0:50,0:50]").await;
    // 2.9 MB spread over 64 chunks of 4 MB (the largest HSDS chunk): every chunk is fetched and decoded whole.
    scenario(&svc, dom, "spread", [1024, 256, 256], [16, 256, 256], "[0:1024,0:2,0:256:1]").await;
}
