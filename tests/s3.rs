//! The emulator's S3: atomic conditional writes, read preconditions, ETags (also for files HSDS wrote
//! directly into the directory), listings, deletes, SigV4 and anonymous access, fault injection.

mod common;

use std::sync::Arc;

use common::{start, Opts};
use lambda_emulator::faults::FaultRule;
use reqwest::StatusCode;

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

async fn put(http: &reqwest::Client, url: &str, body: &[u8], cond: Option<(&str, &str)>) -> reqwest::Response {
    let mut req = http.put(url).body(body.to_vec());
    if let Some((h, v)) = cond {
        req = req.header(h, v);
    }
    req.send().await.unwrap()
}

fn etag_of(resp: &reqwest::Response) -> String {
    resp.headers()["etag"].to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_if_none_match_creators_exactly_one_wins() {
    let t = Arc::new(start(Opts::s3_only()).await);
    for round in 0..3 {
        let url = t.s3(&format!("db/race-{round}/.group.json"));
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let (t, url) = (t.clone(), url.clone());
                tokio::spawn(async move {
                    let body = format!("writer {i:02} ").repeat(64 * 1024); // ~640 KB, so writes overlap
                                                                            // A loser gets its 412 as an answer: the emulator reads a rejected body before answering,
                                                                            // so a broken connection here is a failure, not a disguised 412.
                    let r = t.http.put(&url).body(body.clone()).header("if-none-match", "*").send().await;
                    (
                        r.unwrap_or_else(|e| panic!("writer {i}: transport error instead of an answer: {e}")).status(),
                        body,
                    )
                })
            })
            .collect();
        let results: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
        let winners: Vec<_> = results.iter().filter(|(s, _)| *s == StatusCode::OK).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one creator must win");
        assert!(results.iter().all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::PRECONDITION_FAILED));
        let stored = t.http.get(&url).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(stored, winners[0].1.as_bytes(), "the stored object is the winner's");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_match_race_has_one_winner_and_no_lost_update() {
    let t = Arc::new(start(Opts::s3_only()).await);
    let url = t.s3("db/counter.json");
    let first = put(&t.http, &url, b"v0", None).await;
    let etag0 = etag_of(&first);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (t, url, etag0) = (t.clone(), url.clone(), etag0.clone());
            tokio::spawn(async move {
                put(&t.http, &url, format!("v1 by {i}").as_bytes(), Some(("if-match", &etag0))).await.status()
            })
        })
        .collect();
    let statuses: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::PRECONDITION_FAILED).count(), 15);
}

#[tokio::test]
async fn conditional_write_semantics_match_s3() {
    let t = start(Opts::s3_only()).await;
    let url = t.s3("a/obj");
    // If-Match on a missing key: 404 NoSuchKey, as S3 answers.
    let r = put(&t.http, &url, b"x", Some(("if-match", "\"0123\""))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("NoSuchKey"));
    let r = put(&t.http, &url, b"hello", Some(("if-none-match", "*"))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let etag = etag_of(&r);
    assert_eq!(etag, format!("\"{}\"", md5_hex(b"hello")));
    assert_eq!(
        put(&t.http, &url, b"again", Some(("if-none-match", "*"))).await.status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        put(&t.http, &url, b"x", Some(("if-match", "\"0123\""))).await.status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(put(&t.http, &url, b"world", Some(("if-match", &etag))).await.status(), StatusCode::OK);
    assert_eq!(t.http.get(&url).send().await.unwrap().text().await.unwrap(), "world");
}

#[tokio::test]
async fn get_and_head_honour_preconditions() {
    let t = start(Opts::s3_only()).await;
    let url = t.s3("g/obj");
    let etag = etag_of(&put(&t.http, &url, b"data", None).await);
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = t.http.request(method.clone(), &url).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{method} If-None-Match current");
        assert_eq!(etag_of(&r), etag);
        let r = t.http.request(method.clone(), &url).header("if-none-match", "\"other\"").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = t.http.request(method.clone(), &url).header("if-match", "\"other\"").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED, "{method} If-Match mismatch");
        let r = t.http.request(method.clone(), &url).header("if-match", &etag).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = t.http.get(t.s3("g/missing")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn conditional_gets_see_every_write_at_once() {
    // The server remembers ETags between requests (a warm 304 reads no sidecar): a write must never
    // leave a remembered ETag behind, whether the object was read before or not.
    let t = start(Opts::s3_only()).await;
    let url = t.s3("db/0123abcd-4567/g/0001/.group.json");
    let mut etag = etag_of(&put(&t.http, &url, b"{\"v\": 0}", None).await);
    for i in 1..20 {
        let r = t.http.get(&url).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "round {i}: unchanged object");
        // Same size every time, so only the write itself can invalidate what the server remembers.
        let body = format!("{{\"v\": {}}}", i % 10);
        let r = put(&t.http, &url, body.as_bytes(), Some(("if-match", &etag))).await;
        assert_eq!(r.status(), StatusCode::OK, "round {i}: compare-and-swap on the current ETag");
        let new_etag = etag_of(&r);
        let r = t.http.get(&url).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "round {i}: the old ETag must not be current any more");
        assert_eq!(etag_of(&r), new_etag);
        assert_eq!(r.text().await.unwrap(), body);
        etag = new_etag;
    }
    t.http.delete(&url).send().await.unwrap();
    let r = t.http.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn files_written_directly_get_md5_etags_and_fresh_ones_after_rewrite() {
    let t = start(Opts::s3_only()).await;
    // As HSDS 1.0.2's POSIX storage writes them: plain files, no s3s-fs sidecar.
    let dir = t.bucket_dir().join("db/0123abcd-4567");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".domain.json"), b"{\"root\": \"g-1\"}").unwrap();
    let url = t.s3("db/0123abcd-4567/.domain.json");
    let r = t.http.head(&url).send().await.unwrap();
    assert_eq!(etag_of(&r), format!("\"{}\"", md5_hex(b"{\"root\": \"g-1\"}")));
    // Rewritten behind the emulator's back (same size, same inode; its mtime set apart explicitly rather than
    // by sleeping past the file system's timestamp granularity): the ETag follows the bytes.
    std::fs::write(dir.join(".domain.json"), b"{\"root\": \"g-2\"}").unwrap();
    let file = std::fs::File::options().write(true).open(dir.join(".domain.json")).unwrap();
    // Later than anything the emulator recorded (an older mtime would make a cached sidecar look fresh).
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600)).unwrap();
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(etag_of(&r), format!("\"{}\"", md5_hex(b"{\"root\": \"g-2\"}")));
    assert_eq!(r.text().await.unwrap(), "{\"root\": \"g-2\"}");
    // And compare-and-swap works against such a file.
    let r = put(&t.http, &url, b"{}", Some(("if-match", &format!("\"{}\"", md5_hex(b"{\"root\": \"g-2\"}"))))).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn listings_carry_etags() {
    let t = start(Opts::s3_only()).await;
    put(&t.http, &t.s3("p/a"), b"aaa", None).await;
    put(&t.http, &t.s3("p/b/c"), b"ccc", None).await;
    std::fs::write(t.bucket_dir().join("p/direct"), b"ddd").unwrap();
    let xml = t.http.get(format!("http://{}/hsdstest?list-type=2&prefix=p/", t.stack.s3_addr)).send().await.unwrap();
    let xml = xml.text().await.unwrap();
    for body in [&b"aaa"[..], b"ccc", b"ddd"] {
        assert!(xml.contains(&format!("<ETag>\"{}\"</ETag>", md5_hex(body))), "{xml}");
    }
    assert_eq!(xml.matches("<StorageClass>STANDARD</StorageClass>").count(), 3);
}

#[tokio::test]
async fn deletes_leave_no_empty_directories_behind() {
    let t = start(Opts::s3_only()).await;
    put(&t.http, &t.s3("c/d"), b"1", None).await;
    assert_eq!(t.http.delete(t.s3("c/d")).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(!t.bucket_dir().join("c").exists());
    // So the key `c` is now storable.
    assert_eq!(put(&t.http, &t.s3("c"), b"2", None).await.status(), StatusCode::OK);
    // Known limit of file-system storage: `c` and `c/d` cannot coexist; the error says so.
    let r = put(&t.http, &t.s3("c/d"), b"3", None).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.text().await.unwrap().contains("collides"));
}

#[tokio::test]
async fn sigv4_signed_requests_work() {
    let t = start(Opts::s3_only()).await;
    let s3 = t.sdk_client(lambda_emulator::s3::SECRET_KEY);
    let put = s3.put_object().bucket("hsdstest").key("s/k").if_none_match("*").body(b"signed".to_vec().into());
    let out = put.send().await.unwrap();
    let etag = out.e_tag().unwrap().to_string();
    let again =
        s3.put_object().bucket("hsdstest").key("s/k").if_none_match("*").body(b"x".to_vec().into()).send().await;
    assert_eq!(again.unwrap_err().raw_response().unwrap().status().as_u16(), 412);
    let got = s3.get_object().bucket("hsdstest").key("s/k").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], b"signed");
    // A signature made with a wrong secret is refused.
    let bad = t.sdk_client("wrong");
    let err = bad.get_object().bucket("hsdstest").key("s/k").send().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
}

#[tokio::test]
async fn faults_are_injected_per_prefix_and_changeable_at_run_time() {
    let mut opts = Opts::s3_only();
    opts.faults = vec![FaultRule::parse("prefix=slow/,rate=1,status=503").unwrap()];
    let t = start(opts).await;
    let r = put(&t.http, &t.s3("slow/x"), b"1", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("SlowDown"));
    assert_eq!(put(&t.http, &t.s3("fast/x"), b"1", None).await.status(), StatusCode::OK);

    // Replace the table through the admin route: now 500s under fast/, with latency.
    let rules = r#"[{"prefix":"fast/","error_rate":1.0,"status":500,"latency_ms":50}]"#;
    let r = t.http.put(t.url("/_emulator/s3/faults")).body(rules).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t0 = std::time::Instant::now();
    assert_eq!(put(&t.http, &t.s3("fast/x"), b"1", None).await.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(t0.elapsed() >= std::time::Duration::from_millis(50));
    assert_eq!(put(&t.http, &t.s3("slow/x"), b"1", None).await.status(), StatusCode::OK);
    let bad = t.http.put(t.url("/_emulator/s3/faults")).body(r#"[{"error_rate":3}]"#).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

/// The function's S3 store against the emulator's S3, its GETs through the lean signed path (the default
/// for a plain-`http` endpoint) and through aws-sdk-s3: the same objects, ETags, 304s, ranges, 404s and
/// errors, for keys that need percent-encoding in the URL and in the signature.
#[tokio::test]
async fn lean_and_sdk_gets_read_the_same() {
    use hsds_handler::store::{PutMode, S3Settings, S3Store, Store, StoreError};
    let t = start(Opts::s3_only()).await;
    let settings = |secret: &str, lean_gets: bool| S3Settings {
        endpoint: Some(format!("http://{}", t.stack.s3_addr)),
        region: "us-east-1".into(),
        credentials: Some((lambda_emulator::s3::ACCESS_KEY.into(), secret.into(), None)),
        lean_gets,
    };
    let lean = S3Store::connect(settings(lambda_emulator::s3::SECRET_KEY, true));
    let sdk = S3Store::connect(settings(lambda_emulator::s3::SECRET_KEY, false));
    assert!(lean.lean_gets() && !sdk.lean_gets());
    let keys = ["home/u/plain.h5/.domain.json", "home/u/a file+b=c&d%e (1)/ü/.domain.json", "db/x/d/y/0_0_1"];
    for (i, key) in keys.iter().enumerate() {
        let body = bytes::Bytes::from(format!("object {i}: {}", "z".repeat(1000 * i)));
        let etag = sdk.put("hsdstest", key, body.clone(), PutMode::Overwrite).await.unwrap();
        for store in [&lean, &sdk] {
            let got = store.get("hsdstest", key).await.unwrap();
            assert_eq!((&got.body, &got.etag), (&body, &etag), "{key}");
            assert!(store.get_if_none_match("hsdstest", key, &etag).await.unwrap().is_none(), "{key}: 304");
            let fresh = store.get_if_none_match("hsdstest", key, "\"0\"").await.unwrap().expect("200");
            assert_eq!(fresh.body, body);
            assert_eq!(store.get_range("hsdstest", key, 2, 5).await.unwrap(), body.slice(2..7));
            // A range past the end gives what there is, as S3 does.
            assert_eq!(store.get_range("hsdstest", key, 3, 1 << 20).await.unwrap(), body.slice(3..));
        }
    }
    for store in [&lean, &sdk] {
        assert!(matches!(store.get("hsdstest", "no/such/key").await, Err(StoreError::NotFound(_))));
        assert!(matches!(store.get_range("hsdstest", "no/such/key", 0, 10).await, Err(StoreError::NotFound(_))));
    }
    // A wrong secret is refused (403) at once, not retried: exactly one request reaches S3.
    for lean_gets in [true, false] {
        let bad = S3Store::connect(settings("wrong", lean_gets));
        let before = t.stack.faults.counts().requests;
        match bad.get("hsdstest", keys[0]).await {
            Err(StoreError::Other(msg)) => assert!(msg.contains("403"), "{msg}"),
            other => panic!("expected a 403 error, got {other:?}"),
        }
        let sent = t.stack.faults.counts().requests - before;
        assert_eq!(sent, 1, "lean_gets={lean_gets}: a 403 was retried ({sent} requests)");
    }
}

/// Listings through the lean path and through aws-sdk-s3 are the same pages: keys that need escaping in the
/// query, the signature and the XML, with and without a delimiter, `start_after` and `max_keys` paging.
#[tokio::test]
async fn lean_and_sdk_listings_are_the_same() {
    use hsds_handler::store::{ListOptions, PutMode, S3Settings, S3Store, Store};
    let t = start(Opts::s3_only()).await;
    let settings = |lean_gets: bool| S3Settings {
        endpoint: Some(format!("http://{}", t.stack.s3_addr)),
        region: "us-east-1".into(),
        credentials: Some((lambda_emulator::s3::ACCESS_KEY.into(), lambda_emulator::s3::SECRET_KEY.into(), None)),
        lean_gets,
    };
    let (lean, sdk) = (S3Store::connect(settings(true)), S3Store::connect(settings(false)));
    let keys =
        ["l/a&b <c>/.domain.json", "l/a file+b=c%d (1)/\u{fc}", "l/d/.dataset.json", "l/d/0_1", "l/d/0_10", "l/d/1_0"];
    for key in keys {
        sdk.put("hsdstest", key, bytes::Bytes::from(key.to_string()), PutMode::Overwrite).await.unwrap();
    }
    let pages = [
        ListOptions::prefix("l/"),
        ListOptions::prefix("l/").delimiter("/"),
        ListOptions::prefix("l/d/").start_after(Some("l/d/0_")).max_keys(2),
        ListOptions::prefix("l/a").max_keys(1),
        ListOptions::prefix("l/a file+b=c%d (1)/"),
        ListOptions::prefix("none/"),
    ];
    for opts in pages {
        let (a, b) = (lean.list("hsdstest", opts).await.unwrap(), sdk.list("hsdstest", opts).await.unwrap());
        let entries = |l: &hsds_handler::store::Listing| {
            l.objects.iter().map(|o| (o.key.clone(), o.size, o.etag.clone(), o.last_modified)).collect::<Vec<_>>()
        };
        assert_eq!((entries(&a), &a.prefixes, a.truncated), (entries(&b), &b.prefixes, b.truncated), "{opts:?}");
    }
    let all = lean.list("hsdstest", ListOptions::prefix("l/")).await.unwrap();
    assert_eq!(all.objects.len(), keys.len());
    let page =
        lean.list("hsdstest", ListOptions::prefix("l/d/").start_after(Some("l/d/0_")).max_keys(2)).await.unwrap();
    let got: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!((got, page.truncated), (vec!["l/d/0_1", "l/d/0_10"], true));
}

/// Transient S3 failures (503s, dropped connections) are retried by the lean GET path like by the SDK:
/// reads under a 15 % fault rate all succeed (without retries 20 reads would all pass only 4 % of the time;
/// with 5 attempts one fails 0.008 % of the time); under 100 % it gives up with `Unavailable`.
#[tokio::test]
async fn lean_gets_retry_transient_failures() {
    use hsds_handler::store::{S3Settings, S3Store, Store, StoreError};
    let mut opts = Opts::s3_only();
    opts.faults = vec![
        FaultRule::parse("prefix=flaky/,rate=0.15,status=503").unwrap(),
        FaultRule::parse("prefix=dropped/,drop=0.15").unwrap(),
        FaultRule::parse("prefix=down/,rate=1,status=503").unwrap(),
    ];
    let t = start(opts).await;
    let store = S3Store::connect(S3Settings {
        endpoint: Some(format!("http://{}", t.stack.s3_addr)),
        region: "us-east-1".into(),
        credentials: Some((lambda_emulator::s3::ACCESS_KEY.into(), lambda_emulator::s3::SECRET_KEY.into(), None)),
        lean_gets: true,
    });
    for prefix in ["flaky/", "dropped/"] {
        // Written straight into the directory: the fault rules apply to every request under the prefix.
        let dir = t.dir.path().join("data").join("hsdstest").join(prefix.trim_end_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..20 {
            std::fs::write(dir.join(format!("k{i}")), format!("value {i}")).unwrap();
        }
        for i in 0..20 {
            let got = store.get("hsdstest", &format!("{prefix}k{i}")).await.unwrap();
            assert_eq!(&got.body[..], format!("value {i}").as_bytes());
        }
    }
    // Under 100 % 503s it gives up after exactly its attempt budget (5 requests), within a generous deadline.
    let before = t.stack.faults.counts().requests;
    let got = tokio::time::timeout(std::time::Duration::from_secs(60), store.get("hsdstest", "down/k")).await;
    match got.expect("the lean GET kept retrying for a minute") {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("503"), "{msg}"),
        other => panic!("expected Unavailable after retries, got {other:?}"),
    }
    assert_eq!(t.stack.faults.counts().requests - before, 5, "one first attempt and four retries");
}

/// GETs as S3 answers them, on the emulator's one-read path and on s3s-fs's (objects with user metadata):
/// Content-Type and user metadata come back, ranges (bounded, open, suffix) give 206 with Content-Range,
/// a range past the end is refused (416 InvalidRange), a missing key is 404.
#[tokio::test]
async fn gets_serve_types_metadata_and_ranges_like_s3() {
    let t = start(Opts::s3_only()).await;
    let s3 = t.sdk_client(lambda_emulator::s3::SECRET_KEY);
    let body = b"0123456789".to_vec();
    s3.put_object()
        .bucket("hsdstest")
        .key("t/typed")
        .content_type("text/plain")
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("hsdstest")
        .key("t/meta")
        .metadata("origin", "test")
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    let typed = s3.get_object().bucket("hsdstest").key("t/typed").send().await.unwrap();
    assert_eq!(typed.content_type(), Some("text/plain"));
    assert_eq!(&typed.body.collect().await.unwrap().into_bytes()[..], b"0123456789");
    let meta = s3.get_object().bucket("hsdstest").key("t/meta").send().await.unwrap();
    assert_eq!(meta.metadata().and_then(|m| m.get("origin")).map(String::as_str), Some("test"));
    for key in ["t/typed", "t/meta"] {
        for (range, want, content_range) in [
            ("bytes=2-5", &b"2345"[..], "bytes 2-5/10"),
            ("bytes=7-", b"789", "bytes 7-9/10"),
            ("bytes=-3", b"789", "bytes 7-9/10"),
        ] {
            let got = s3.get_object().bucket("hsdstest").key(key).range(range).send().await.unwrap();
            assert_eq!(got.content_range(), Some(content_range), "{key} {range}");
            assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], want, "{key} {range}");
        }
        let err = s3.get_object().bucket("hsdstest").key(key).range("bytes=10-20").send().await.unwrap_err();
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 416, "{key}");
    }
    let err = s3.get_object().bucket("hsdstest").key("t/none").send().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 404);
}
