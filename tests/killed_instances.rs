//! Killed instances (issue 19): the emulator kills function instances (SIGKILL) at random points of their
//! invocations — in multi-chunk value writes, JSON compare-and-swap updates of links and attributes,
//! creates and deletes. A killed request is answered as Lambda answers a crashed runtime (500 at the front
//! door) and is not acknowledged; the client retries it, as a client of Lambda does. Afterwards every
//! acknowledged write is intact, every object's JSON parses, every chunk decodes, every link resolves (or
//! its target answers 404, as HSDS answers a dangling link) and nothing was applied twice.

mod common;

use std::collections::BTreeMap;

use common::{start, Opts, TestStack};
use hslambda_bench::soak::unparsable_objects;
use serde_json::{json, Value};

const DOMAIN: &str = "domain=/killed.h5";
/// Elements of the dataset, in chunks of [`CHUNK`].
const LEN: usize = 64;
const CHUNK: usize = 8;
/// Most attempts of one request before the test gives up (at a kill rate of 0.5, 25 kills in a row do not
/// happen).
const ATTEMPTS: usize = 25;

/// Sends one request as admin; (status, JSON body).
async fn call(t: &TestStack, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut req = t.http.request(method, t.url(&format!("{path}{sep}{DOMAIN}"))).basic_auth("admin", Some("admin"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("the front door answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Retries a request until it is acknowledged, as a client of Lambda does after a 5xx. `after_loss` is
/// the status that also means done once an earlier attempt went unanswered (that attempt may have been
/// applied: 409 for a create, 404 for a delete). Returns the acknowledged body and how many attempts
/// failed.
async fn until_acked(
    t: &TestStack,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    after_loss: Option<u16>,
) -> (Value, usize) {
    for failed in 0..ATTEMPTS {
        let (s, b) = call(t, method.clone(), path, body.clone()).await;
        if (200..300).contains(&s) || (failed > 0 && Some(s) == after_loss) {
            return (b, failed);
        }
        assert!(s >= 500, "{method} {path}: a killed or faulted request is a 5xx, not {s} {b}");
        assert!(b.is_object(), "{method} {path}: the 5xx answer is JSON: {b}");
    }
    panic!("{method} {path}: not acknowledged after {ATTEMPTS} attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_instances_lose_no_acknowledged_write_and_leave_everything_readable() {
    use reqwest::Method;
    let mut opts = Opts::handler();
    opts.users = Some("admin:admin\n".into());
    opts.concurrency = 2;
    let t = start(opts).await;

    // Setup without kills: the domain, a chunked dataset and a group for links and attributes.
    let (s, dom) = call(&t, Method::PUT, "/", None).await;
    assert_eq!(s, 201, "create domain: {dom}");
    let root = dom["root"].as_str().unwrap().to_string();
    let spec = json!({"type": "H5T_STD_I32LE", "shape": [LEN], "link": {"id": root, "name": "values"},
        "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [CHUNK]},
            "filters": [{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]}});
    let (s, ds) = call(&t, Method::POST, "/datasets", Some(spec)).await;
    assert_eq!(s, 201, "create dataset: {ds}");
    let did = ds["id"].as_str().unwrap().to_string();
    let (s, g) = call(&t, Method::POST, "/groups", Some(json!({"link": {"id": root, "name": "g"}}))).await;
    assert_eq!(s, 201, "create group: {g}");
    let gid = g["id"].as_str().unwrap().to_string();

    let kills = t.stack.sandbox.kills();
    kills.reseed(19);
    kills.set_rate(0.5);
    let mut failed = 0;

    // Multi-chunk value writes: each round writes a slab over three or four chunks.
    let mut model = vec![0i64; LEN];
    for round in 0..16usize {
        let start = (round * 5) % (LEN - 26);
        let end = start + 20 + round % 7;
        let values: Vec<i64> = (start..end).map(|i| (round * 1000 + i) as i64).collect();
        let path = format!("/datasets/{did}/value?select=[{start}:{end}]");
        failed += until_acked(&t, Method::PUT, &path, Some(json!({ "value": values })), None).await.1;
        model[start..end].copy_from_slice(&values);
    }
    // Compare-and-swap updates of the group's JSON: links and attributes created, attributes replaced.
    for i in 0..8 {
        let link = format!("/groups/{gid}/links/soft{i}");
        failed += until_acked(&t, Method::PUT, &link, Some(json!({"h5path": format!("/nowhere{i}")})), None).await.1;
        let attr = format!("/groups/{gid}/attributes/a{i}");
        let first = json!({"type": "H5T_STD_I64LE", "shape": [], "value": i});
        failed += until_acked(&t, Method::PUT, &attr, Some(first), None).await.1;
        let second = json!({"type": "H5T_STD_I64LE", "shape": [], "value": 100 + i});
        failed += until_acked(&t, Method::PUT, &format!("{attr}?replace=1"), Some(second), None).await.1;
    }
    // Creates: groups linked into g (a retry after a lost answer finds its link taken: 409).
    for i in 0..6 {
        let body = json!({"link": {"id": gid, "name": format!("sub{i}")}});
        failed += until_acked(&t, Method::POST, "/groups", Some(body), Some(409)).await.1;
    }
    // Deletes: half the links and attributes (a retry after a lost answer finds them gone: 404).
    for i in (0..8).step_by(2) {
        failed += until_acked(&t, Method::DELETE, &format!("/groups/{gid}/links/soft{i}"), None, Some(404)).await.1;
        failed += until_acked(&t, Method::DELETE, &format!("/groups/{gid}/attributes/a{i}"), None, Some(404)).await.1;
    }
    let killed = kills.count();
    kills.set_rate(0.0);
    assert!(killed >= 3, "instances were killed mid-invocation ({killed})");
    assert!(failed as u64 >= killed, "every kill failed a request ({failed} failures, {killed} kills)");

    // Every object's JSON parses.
    let bad = unparsable_objects(&t.bucket_dir());
    assert!(bad.is_empty(), "objects whose JSON does not parse: {bad:?}");
    // Every chunk decodes, and every acknowledged value is there.
    for c in (0..LEN).step_by(CHUNK) {
        let (s, v) = call(&t, Method::GET, &format!("/datasets/{did}/value?select=[{c}:{}]", c + CHUNK), None).await;
        assert_eq!(s, 200, "chunk at {c} reads: {v}");
        assert_eq!(v["value"], json!(model[c..c + CHUNK]), "chunk at {c}");
    }
    // Links: each exactly once; the deleted ones gone; every hard link's group reads or is a 404.
    let (s, links) = call(&t, Method::GET, &format!("/groups/{gid}/links"), None).await;
    assert_eq!(s, 200, "{links}");
    let mut titles = BTreeMap::new();
    for l in links["links"].as_array().unwrap() {
        *titles.entry(l["title"].as_str().unwrap().to_string()).or_insert(0) += 1;
        if let Some(id) = l["id"].as_str() {
            let (s, body) = call(&t, Method::GET, &format!("/groups/{id}"), None).await;
            assert!(s == 200 || s == 404, "hard link {} to {id}: {s} {body}", l["title"]);
        }
    }
    let mut want: Vec<String> = (1..8).step_by(2).map(|i| format!("soft{i}")).collect();
    want.extend((0..6).map(|i| format!("sub{i}")));
    want.sort();
    assert_eq!(titles.keys().cloned().collect::<Vec<_>>(), want, "the links acknowledged, minus those deleted");
    assert!(titles.values().all(|n| *n == 1), "no link listed twice: {titles:?}");
    for i in 0..6 {
        // The acknowledged create's group: linked, and readable.
        let (s, l) = call(&t, Method::GET, &format!("/groups/{gid}/links/sub{i}"), None).await;
        assert_eq!(s, 200, "{l}");
        let id = l["link"]["id"].as_str().unwrap();
        let (s, body) = call(&t, Method::GET, &format!("/groups/{id}"), None).await;
        assert_eq!(s, 200, "group sub{i} ({id}) reads: {body}");
    }
    // Attributes: the replaced values, each once; the deleted ones gone.
    let (s, attrs) = call(&t, Method::GET, &format!("/groups/{gid}/attributes?IncludeData=1"), None).await;
    assert_eq!(s, 200, "{attrs}");
    let got: Vec<(String, Value)> = attrs["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().to_string(), a["value"].clone()))
        .collect();
    let want: Vec<(String, Value)> = (1..8).step_by(2).map(|i| (format!("a{i}"), json!(100 + i))).collect();
    assert_eq!(got, want, "attributes after kills");
}
