//! Warm-instance metadata reads: domain and object JSON are cached across invocations and validated by
//! ETag on every use, so a warm read moves no body, yet another instance's write is seen at once and
//! the ACLs of the current domain JSON always apply.

mod common;

use std::sync::Arc;

use common::*;
use hsds_handler::store::MemoryStore;
use hsds_handler::{Config, Service};
use serde_json::json;

const DOM: &str = "/home/test_user1/warm.h5";

/// Two warm instances (`a`, `b`) of the function over one store, a domain of test_user1 and a group in it.
async fn setup() -> (Service, Service, Arc<MemoryStore>, String) {
    let store = Arc::new(MemoryStore::new());
    let instance = || {
        let mut svc = Service::new(store.clone(), Config::default()).expect("service");
        svc.users.load_passwd(PASSWD).expect("passwd");
        svc
    };
    let (a, b) = (instance(), instance());
    let dom = user_domain(&a, DOM).await;
    let link = json!({"link": {"id": dom["root"], "name": "g"}});
    let (s, g) = call_json(&a, req("POST", "/groups", Some("test_user1"), Some(DOM)), &link).await;
    assert_eq!(s, 201);
    (a, b, store, g["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn warm_reads_are_answered_not_modified() {
    let (a, _b, store, gid) = setup().await;
    let group = format!("/groups/{gid}");
    let (s, first) = call(&a, req("GET", &group, Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    call(&a, req("GET", "/", Some("test_user1"), Some(DOM))).await;
    store.take_get_counts();
    let (s, again) = call(&a, req("GET", &group, Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(again, first);
    // The domain and the group were each validated, and neither body was transferred again.
    assert_eq!(store.take_get_counts(), (0, 2));
    assert_eq!(call(&a, req("GET", "/", Some("test_user1"), Some(DOM))).await.0, 200);
    assert_eq!(store.take_get_counts(), (0, 1));
}

#[tokio::test]
async fn another_instances_writes_are_seen_at_once() {
    let (a, b, _store, gid) = setup().await;
    let group = format!("/groups/{gid}");
    let (_, before) = call(&a, req("GET", &group, Some("test_user1"), Some(DOM))).await;
    assert_eq!(before["linkCount"], 0);
    let link = json!({"h5path": "somewhere"});
    let path = format!("{group}/links/soft");
    assert_eq!(call_json(&b, req("PUT", &path, Some("test_user1"), Some(DOM)), &link).await.0, 201);
    let (_, after) = call(&a, req("GET", &group, Some("test_user1"), Some(DOM))).await;
    assert_eq!(after["linkCount"], 1);
    let (s, links) = call(&a, req("GET", &format!("{group}/links"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(links["links"][0]["title"], "soft");

    // Deleted by b: a answers 410 Gone (b's tombstone), not its cached copy.
    assert_eq!(call(&b, req("DELETE", &group, Some("test_user1"), Some(DOM))).await.0, 200);
    assert_eq!(call(&a, req("GET", &group, Some("test_user1"), Some(DOM))).await.0, 410);
}

#[tokio::test]
async fn acl_changes_by_another_instance_apply_at_once() {
    let (a, b, _store, gid) = setup().await;
    let group = format!("/groups/{gid}");
    // test_user2 has no access: a caches the domain while refusing.
    assert_eq!(call(&a, req("GET", &group, Some("test_user2"), Some(DOM))).await.0, 403);
    assert_eq!(call(&a, req("GET", "/", Some("test_user2"), Some(DOM))).await.0, 403);
    let grant = json!({"read": true});
    let acl = req("PUT", "/acls/test_user2", Some("test_user1"), Some(DOM));
    assert_eq!(call_json(&b, acl, &grant).await.0, 201);
    assert_eq!(call(&a, req("GET", &group, Some("test_user2"), Some(DOM))).await.0, 200);
    assert_eq!(call(&a, req("GET", "/", Some("test_user2"), Some(DOM))).await.0, 200);
    let revoke = json!({"read": false});
    let acl = req("PUT", "/acls/test_user2", Some("test_user1"), Some(DOM));
    assert_eq!(call_json(&b, acl, &revoke).await.0, 201);
    assert_eq!(call(&a, req("GET", &group, Some("test_user2"), Some(DOM))).await.0, 403);
    assert_eq!(call(&a, req("GET", "/", Some("test_user2"), Some(DOM))).await.0, 403);
}

#[tokio::test]
async fn checks_win_over_a_missing_object() {
    let (a, _b, _store, gid) = setup().await;
    // An id of this domain that does not exist: 404 for the owner, but 403 for a user without access and
    // 401 for anonymous (the concurrent object read must not leak existence).
    let missing = gid[..gid.len() - 4].to_string() + "0000";
    let path = format!("/groups/{missing}");
    assert_eq!(call(&a, req("GET", &path, Some("test_user1"), Some(DOM))).await.0, 404);
    assert_eq!(call(&a, req("GET", &path, Some("test_user2"), Some(DOM))).await.0, 403);
    let anonymous = call(&a, req("GET", &path, None, Some(DOM))).await.0;
    assert!(anonymous == 401 || anonymous == 403, "anonymous got {anonymous}");
    // A group of another domain: 400 (not a member), whether or not it exists.
    let (_, other) = call(&a, req("PUT", "/", Some("test_user1"), Some("/home/test_user1/other.h5"))).await;
    let other_root = other["root"].as_str().unwrap();
    let path = format!("/groups/{other_root}");
    assert_eq!(call(&a, req("GET", &path, Some("test_user1"), Some(DOM))).await.0, 400);
}
