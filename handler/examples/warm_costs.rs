//! Where a warm metadata request's time goes inside the function, hop by hop (BENCHMARKS.md, "Request
//! latency through the whole stack"):
//!
//! * `handler /about`: `event::handle_event` on an API Gateway v2 `GET /about` event, in-process (no I/O):
//!   the fixed cost of decoding an event, authenticating and encoding the response;
//! * with an S3 endpoint argument (a running `hslambda up`'s S3): one object's round trip through
//!   `S3Store` as a full GET and as a conditional GET answered 304, once through aws-sdk-s3 (endpoint rules,
//!   SigV4, retry layers) and once through the store's lean signed GET path (`store/s3_get.rs`), and the same
//!   304 as a bare unsigned HTTP/1.1 request on one keep-alive connection, so each layer's share is the
//!   difference.
//!
//! Run: `cargo run -p hsds-handler --example warm_costs [-- http://127.0.0.1:5102 BUCKET KEY]`
//! (add `--release` for the release profile). Prints medians over 2000 calls after 100 warm-ups.

use std::time::Instant;

use hsds_handler::store::{MemoryStore, S3Settings, S3Store, Store};
use hsds_handler::{event, Config, Service};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const N: usize = 2000;

async fn median_us<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..100 {
        f().await;
    }
    let mut ts = Vec::with_capacity(N);
    for _ in 0..N {
        let t0 = Instant::now();
        f().await;
        ts.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    ts.sort_by(f64::total_cmp);
    println!("{what:<48} p50 {:>8.1} us   p90 {:>8.1} us", ts[N / 2], ts[N * 9 / 10]);
}

/// One HTTP/1.1 request on `conn`; reads the status line and headers, then Content-Length bytes.
async fn raw_get(conn: &mut tokio::net::TcpStream, request: &[u8]) -> u16 {
    conn.write_all(request).await.unwrap();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).map(|v| v.trim().parse().unwrap()).unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
    }
    head[9..12].parse().unwrap()
}

#[tokio::main]
async fn main() {
    let svc = Service::new(std::sync::Arc::new(MemoryStore::new()), Config::default()).unwrap();
    let ev = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/about", "rawQueryString": "",
        "headers": {"host": "127.0.0.1:5101", "accept": "*/*", "user-agent": "python-requests/2.32"},
        "requestContext": {"http": {"method": "GET", "path": "/about", "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1"}, "requestId": "r", "routeKey": "$default", "stage": "$default"},
        "isBase64Encoded": false,
    });
    median_us("handler /about (in-process, no I/O)", || async {
        let out = event::handle_event(&svc, &ev, None).await;
        assert_eq!(out["statusCode"], 200);
    })
    .await;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, bucket, key] = args.as_slice() else { return };
    let store = |lean_gets: bool| {
        S3Store::connect(S3Settings {
            endpoint: Some(endpoint.clone()),
            region: "us-east-1".into(),
            credentials: Some(("hslambda".into(), "hslambda-secret".into(), None)),
            lean_gets,
        })
    };
    let etag = store(true).get(bucket, key).await.expect("GET the object").etag;
    for (name, s3) in [("aws-sdk-s3", store(false)), ("lean signed GET", store(true))] {
        median_us(&format!("S3Store::get (200), {name}"), || async {
            s3.get(bucket, key).await.unwrap();
        })
        .await;
        median_us(&format!("S3Store::get_if_none_match (304), {name}"), || async {
            assert!(s3.get_if_none_match(bucket, key, &etag).await.unwrap().is_none());
        })
        .await;
    }
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    conn.set_nodelay(true).unwrap();
    let request = format!("GET /{bucket}/{key} HTTP/1.1\r\nHost: {host}\r\nIf-None-Match: {etag}\r\n\r\n");
    let conn = tokio::sync::Mutex::new(conn);
    median_us("bare HTTP/1.1 GET, unsigned (304)", || async {
        let mut c = conn.lock().await;
        assert_eq!(raw_get(&mut c, request.as_bytes()).await, 304);
    })
    .await;
}
