//! The emulator's S3 survives its own crash: `hslambda up` is killed (SIGKILL) in the middle of a burst of
//! PUTs and restarted on the same directory. No object is torn, every stored ETag is the MD5 of its
//! object's bytes, every acknowledged write is there, and conditional writes are still exact.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The body written to `key`: its size and bytes follow from the key, so any stored object can be checked.
fn body_of(key: &str) -> Vec<u8> {
    let seed = md5_hex(key.as_bytes());
    let n = 1 + (u32::from_str_radix(&seed[..5], 16).unwrap() as usize % (768 * 1024));
    seed.as_bytes().iter().cycle().take(n).copied().collect()
}

/// `hslambda up` on `data` in its own process group; returns it with its S3 port once S3 answers.
async fn up(data: &std::path::Path, http: &reqwest::Client) -> (Child, u16) {
    let s3_port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_hslambda"))
        .args(["up", "--no-cgroups", "--data-dir"])
        .arg(data)
        .args(["--port", &free_port().to_string(), "--s3-port", &s3_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while http.get(format!("http://127.0.0.1:{s3_port}/hsdstest?list-type=2")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "hslambda up did not serve S3");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, s3_port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_burst_the_s3_comes_back_with_no_torn_object_and_exact_etags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = reqwest::Client::new();
    let (mut child, port) = up(&data, &http).await;

    // Eight writers PUT distinct keys (plain and If-None-Match creates) until the server dies.
    let acknowledged = Arc::new(Mutex::new(BTreeMap::new()));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (http, acknowledged) = (http.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("db/w{w}/k{n:05}");
                    let body = body_of(&key);
                    let mut req = http.put(format!("http://127.0.0.1:{port}/hsdstest/{key}")).body(body.clone());
                    if n % 2 == 0 {
                        req = req.header("if-none-match", "*");
                    }
                    match req.send().await {
                        Ok(r) if r.status().is_success() => {
                            acknowledged.lock().unwrap().insert(key, md5_hex(&body));
                        }
                        Ok(r) => panic!("PUT {key}: {}", r.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = acknowledged.lock().unwrap().len();
    assert!(before > 8, "the burst was under way when the server was killed ({before} writes)");
    kill_group(&mut child);
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let (mut child, port) = up(&data, &http).await;
    let base = format!("http://127.0.0.1:{port}/hsdstest");
    // Every object in the bucket, page by page.
    let mut listed = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{base}?list-type=2&prefix=db/");
        if let Some(t) = &token {
            url += &format!("&continuation-token={}", urlencode(t));
        }
        let xml = http.get(url).send().await.unwrap().text().await.unwrap();
        for entry in xml.split("<Contents>").skip(1) {
            let tag = |t: &str| entry.split(&format!("<{t}>")).nth(1).and_then(|s| s.split(&format!("</{t}>")).next());
            let etag = tag("ETag").unwrap().replace("&quot;", "").replace('"', "");
            listed.insert(tag("Key").unwrap().to_string(), etag);
        }
        token = xml.split("<NextContinuationToken>").nth(1).and_then(|s| s.split('<').next()).map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    for (key, md5) in &acknowledged {
        assert_eq!(listed.get(key), Some(md5), "acknowledged write {key} is there with its ETag");
    }
    for (key, listed_etag) in &listed {
        let r = http.get(format!("{base}/{key}")).send().await.unwrap();
        let etag = r.headers()["etag"].to_str().unwrap().trim_matches('"').to_string();
        let bytes = r.bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), body_of(key).as_slice(), "{key} is whole (not torn)");
        assert_eq!((&etag, listed_etag), (&md5_hex(&bytes), &md5_hex(&bytes)), "{key}: ETags are the MD5 of the bytes");
    }
    // Conditional writes are still exact on objects written before the crash.
    let (key, md5) = acknowledged.iter().next().unwrap();
    let url = format!("{base}/{key}");
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(http.put(&url).header("if-none-match", "*").body("x").send().await.unwrap()), 412);
    assert_eq!(status(http.put(&url).header("if-match", "\"0000\"").body("x").send().await.unwrap()), 412);
    assert_eq!(status(http.put(&url).header("if-match", format!("\"{md5}\"")).body("x").send().await.unwrap()), 200);
    assert_eq!(http.get(&url).send().await.unwrap().text().await.unwrap(), "x");
    kill_group(&mut child);
    println!(
        "{} acknowledged writes before the kill, {} objects after the restart, all whole",
        acknowledged.len(),
        listed.len()
    );
}

/// SIGKILLs the child's whole process group (no clean-up runs: a crash) and reaps it.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
    let _ = child.wait();
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
