//! Shared helpers for the handler's behaviour tests: a service over an in-memory store with HSDS's test
//! users, and one-line request helpers.
#![allow(dead_code)]

use std::sync::Arc;

use base64::Engine;
use hsds_handler::store::MemoryStore;
use hsds_handler::{Config, Request, Service};
use serde_json::Value;

/// Users of HSDS's own test suite (`admin:admin`, `test_user1:test`, `test_user2:test`).
pub(crate) const PASSWD: &str = "admin:admin\ntest_user1:test\ntest_user2:test\n";

/// A service over a fresh in-memory store, with the HSDS test users, and the store itself.
pub(crate) fn service() -> (Service, Arc<MemoryStore>) {
    service_with(Config::default())
}

/// Like [`service`] with a custom configuration (users are still the HSDS test users).
pub(crate) fn service_with(config: Config) -> (Service, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let mut svc = Service::new(store.clone(), config).expect("service");
    svc.users.load_passwd(PASSWD).expect("passwd");
    (svc, store)
}

/// `Authorization` header value for HTTP Basic auth.
pub(crate) fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// A request as `user` (password `test`, or `admin` for admin) on `domain`.
pub(crate) fn req(method: &str, path: &str, user: Option<&str>, domain: Option<&str>) -> Request {
    let mut r = Request::new(method, path);
    if let Some(u) = user {
        let pwd = if u == "admin" { "admin" } else { "test" };
        r = r.header("authorization", &basic(u, pwd));
    }
    if let Some(d) = domain {
        r = r.param("domain", d);
    }
    r
}

/// Sends a request; returns status and JSON body (`Value::Null` for empty or binary bodies).
pub(crate) async fn call(svc: &Service, r: Request) -> (u16, Value) {
    let rsp = svc.handle(r).await;
    (rsp.status, rsp.json_body().unwrap_or(Value::Null))
}

/// Sends a request with a JSON body.
pub(crate) async fn call_json(svc: &Service, r: Request, body: &Value) -> (u16, Value) {
    call(svc, r.json(body)).await
}

/// Creates the folders `/home` and `/home/test_user1` (owned by test_user1) as admin, then `domain` as
/// test_user1 — the starting point of most behaviour tests. Returns the new domain's JSON (its `root`).
pub(crate) async fn user_domain(svc: &Service, domain: &str) -> Value {
    let (s, v) =
        call_json(svc, req("PUT", "/", Some("admin"), Some("/home")), &serde_json::json!({"folder": true})).await;
    assert_eq!(s, 201, "/home: {v}");
    let body = serde_json::json!({"folder": true, "owner": "test_user1"});
    let (s, v) = call_json(svc, req("PUT", "/", Some("admin"), Some("/home/test_user1")), &body).await;
    assert_eq!(s, 201, "/home/test_user1: {v}");
    let (s, v) = call(svc, req("PUT", "/", Some("test_user1"), Some(domain))).await;
    assert_eq!(s, 201, "{domain}: {v}");
    v
}

/// What HSDS 1.0.2 answered and stored for the same requests (fixtures/hsds/answers.json, written by
/// fixtures/hsds/probe.py): the handler tests compare with it instead of hand-copied probe results.
pub(crate) fn hsds_answers() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/hsds/answers.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixtures/hsds/answers.json")).expect("its JSON")
}

/// The keys, in order, of HSDS's response or stored object `what` (answers.json, `key_orders`).
pub(crate) fn hsds_keys(what: &str) -> Vec<String> {
    let keys = hsds_answers()["key_orders"][what].as_array().cloned();
    let keys = keys.unwrap_or_else(|| panic!("fixtures/hsds/answers.json has no key_orders.{what:?}: rerun its probe"));
    keys.iter().map(|k| k.as_str().unwrap().to_string()).collect()
}
