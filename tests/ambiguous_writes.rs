//! Ambiguous writes: S3 applies a PUT and then the answer is lost (500 or a dropped connection). The
//! function's retry then finds its own write in place; it must answer success exactly once — no spurious
//! 409/412/503 for a write that happened, no change applied twice.

mod common;

use common::{start, Opts};
use lambda_emulator::faults::FaultRule;
use serde_json::{json, Value};

#[tokio::test]
async fn the_emulator_applies_the_write_then_fails_it() {
    let mut opts = Opts::s3_only();
    opts.faults = vec![FaultRule::parse("prefix=amb/,after=1").unwrap()];
    let t = start(opts).await;
    let r = t.http.put(t.s3("amb/k")).body("applied").send().await;
    match r {
        Ok(r) => assert_eq!(r.status(), 500, "the write's answer is replaced by a 500"),
        Err(e) => assert!(!e.is_timeout(), "or its connection is dropped: {e}"),
    }
    let got = t.http.get(t.s3("amb/k")).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "applied", "the write stood");
    // A write that fails its precondition is not applied, so it is answered as it is.
    let r = t.http.put(t.s3("amb/k")).header("if-none-match", "*").body("again").send().await.unwrap();
    assert_eq!(r.status(), 412);
    let other = t.http.put(t.s3("elsewhere/k")).body("x").send().await.unwrap();
    assert_eq!(other.status(), 200, "other prefixes are untouched");
    assert!(t.stack.faults.counts().applied_then_failed >= 1);
}

/// Sends one request as admin and returns (status, JSON body).
async fn call(t: &common::TestStack, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = t.http.request(method, t.url(path)).basic_auth("admin", Some("admin"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_metadata_and_value_write_answers_success_once_when_s3_loses_its_answers() {
    let mut opts = Opts::handler();
    opts.users = Some("admin:admin\n".into());
    // Every successful write to an object of the database (groups, links, attributes, datasets, chunks)
    // is applied and then fails; domain objects are left alone so the domain itself can be created.
    opts.faults = vec![FaultRule::parse("prefix=db/,after=1").unwrap()];
    let t = start(opts).await;
    use reqwest::Method;
    let d = "domain=/ambiguous.h5";

    let (s, dom) = call(&t, Method::PUT, &format!("/?{d}"), None).await;
    assert_eq!(s, 201, "create domain: {dom}");
    let root = dom["root"].as_str().unwrap().to_string();

    let (s, g) = call(&t, Method::POST, &format!("/groups?{d}"), Some(json!({}))).await;
    assert_eq!(s, 201, "create group: {g}");
    let gid = g["id"].as_str().unwrap().to_string();

    for i in 0..8 {
        let (s, body) =
            call(&t, Method::PUT, &format!("/groups/{root}/links/g{i}?{d}"), Some(json!({"id": gid}))).await;
        assert_eq!(s, 201, "link g{i}: {body}");
        let attr = json!({"type": "H5T_STD_I32LE", "shape": [], "value": i});
        let (s, body) = call(&t, Method::PUT, &format!("/groups/{gid}/attributes/a{i}?{d}"), Some(attr)).await;
        assert_eq!(s, 201, "attribute a{i}: {body}");
    }

    let (s, ds) =
        call(&t, Method::POST, &format!("/datasets?{d}"), Some(json!({"type": "H5T_STD_I32LE", "shape": [10]}))).await;
    assert_eq!(s, 201, "create dataset: {ds}");
    let did = ds["id"].as_str().unwrap().to_string();
    let values: Vec<i32> = (0..10).map(|i| i * 7).collect();
    let (s, body) = call(&t, Method::PUT, &format!("/datasets/{did}/value?{d}"), Some(json!({"value": values}))).await;
    assert_eq!(s, 200, "write values: {body}");

    let (_, links) = call(&t, Method::GET, &format!("/groups/{root}/links?{d}"), None).await;
    let titles: Vec<&str> = links["links"].as_array().unwrap().iter().map(|l| l["title"].as_str().unwrap()).collect();
    assert_eq!(titles, (0..8).map(|i| format!("g{i}")).collect::<Vec<_>>(), "each link exactly once");
    for i in 0..8 {
        let (s, a) = call(&t, Method::GET, &format!("/groups/{gid}/attributes/a{i}?{d}"), None).await;
        assert_eq!((s, a["value"].clone()), (200, json!(i)), "attribute a{i}");
    }
    let (_, attrs) = call(&t, Method::GET, &format!("/groups/{gid}/attributes?{d}"), None).await;
    assert_eq!(attrs["attributes"].as_array().unwrap().len(), 8);
    let (_, v) = call(&t, Method::GET, &format!("/datasets/{did}/value?{d}"), None).await;
    assert_eq!(v["value"], json!(values));

    let n = t.stack.faults.counts().applied_then_failed;
    assert!(n >= 19, "every write under db/ was applied then failed at least once ({n})");
}

/// Creates racing on one parent group while S3 loses some answers: a create whose link update was applied,
/// then failed, and then overtaken by another writer's update finds its own link on the re-read. It must
/// answer 201 once (not 409 "link already exists"), and every link names the object its create returned.
#[tokio::test]
async fn racing_creates_with_lost_answers_each_answer_201_once() {
    let mut opts = Opts::handler();
    opts.users = Some("admin:admin\n".into());
    opts.faults = vec![FaultRule::parse("prefix=db/,after=0.5").unwrap()];
    let t = std::sync::Arc::new(start(opts).await);
    let d = "domain=/ambiguous-race.h5";
    let (s, dom) = call(&t, reqwest::Method::PUT, &format!("/?{d}"), None).await;
    assert_eq!(s, 201, "create domain: {dom}");
    let root = dom["root"].as_str().unwrap().to_string();
    t.stack.faults.reseed(7);
    let creates = (0..8).map(|i| {
        let (t, root) = (t.clone(), root.clone());
        tokio::spawn(async move {
            let body = json!({"link": {"id": root, "name": format!("c{i}")}});
            let (s, g) = call(&t, reqwest::Method::POST, &format!("/groups?{d}"), Some(body)).await;
            assert_eq!(s, 201, "create c{i}: {g}");
            (format!("c{i}"), g["id"].as_str().unwrap().to_string())
        })
    });
    let made: Vec<(String, String)> =
        futures::future::join_all(creates).await.into_iter().map(Result::unwrap).collect();
    let (_, links) = call(&t, reqwest::Method::GET, &format!("/groups/{root}/links?{d}"), None).await;
    let mut found: Vec<(String, String)> = links["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["title"].as_str().unwrap().to_string(), l["id"].as_str().unwrap().to_string()))
        .collect();
    found.sort();
    let mut want = made;
    want.sort();
    assert_eq!(found, want, "each create's link exactly once, naming the group it returned");
    assert!(t.stack.faults.counts().applied_then_failed > 0);
}
