//! Behaviour of `GET /acls`, `GET/PUT /acls/{user}`.

mod common;

use common::*;
use hsds_handler::store::json::get_json;
use hsds_handler::Service;
use serde_json::json;

const DOM: &str = "/home/test_user1/a.h5";

async fn setup() -> (Service, std::sync::Arc<hsds_handler::store::MemoryStore>) {
    let (svc, store) = service();
    user_domain(&svc, DOM).await;
    (svc, store)
}

#[tokio::test]
async fn read_acls() {
    let (svc, _store) = setup().await;
    let (s, v) = call(&svc, req("GET", "/acls", Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["acls"],
        json!([{"userName": "test_user1", "create": true, "read": true, "update": true, "delete": true, "readACL": true, "updateACL": true}])
    );
    let rels: Vec<&str> = v["hrefs"].as_array().unwrap().iter().map(|h| h["rel"].as_str().unwrap()).collect();
    assert_eq!(rels, ["self", "root", "home", "owner"]);
    let (s, v) = call(&svc, req("GET", "/acls/test_user1", Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(v["acl"]["userName"], "test_user1");
    assert_eq!(v["acl"]["updateACL"], true);
    assert_eq!(call(&svc, req("GET", "/acls/test_user2", Some("test_user1"), Some(DOM))).await.0, 404);
    assert_eq!(call(&svc, req("GET", "/acls", Some("test_user2"), Some(DOM))).await.0, 403);
    let (s, admin_view) = call(&svc, req("GET", "/acls", Some("admin"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(admin_view["acls"], v_acls_of_owner(), "admin sees the same list");
}

/// The owner's ACL list of a fresh domain.
fn v_acls_of_owner() -> serde_json::Value {
    json!([{"userName": "test_user1", "create": true, "read": true, "update": true, "delete": true, "readACL": true, "updateACL": true}])
}

#[tokio::test]
async fn put_acl_grants_and_is_stored_like_hsds() {
    let (svc, store) = setup().await;
    let (s, v) =
        call_json(&svc, req("PUT", "/acls/test_user2", Some("test_user1"), Some(DOM)), &json!({"read": true})).await;
    assert_eq!((s, v), (201, json!({})));
    let (d, _) = get_json(store.as_ref(), "hsdstest", "home/test_user1/a.h5/.domain.json").await.unwrap();
    assert_eq!(
        d["acls"]["test_user2"],
        json!({"create": false, "read": true, "update": false, "delete": false, "readACL": false, "updateACL": false,
               "domain": "hsdstest/home/test_user1/a.h5"})
    );
    assert_eq!(call(&svc, req("GET", "/", Some("test_user2"), Some(DOM))).await.0, 200);
    // test_user2 can read its own entry but not others
    let (s, v) = call(&svc, req("GET", "/acls/test_user2", Some("test_user2"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(v["acl"]["read"], true);
    assert_eq!(call(&svc, req("GET", "/acls/test_user1", Some("test_user2"), Some(DOM))).await.0, 403);
    // updating keeps other flags
    let body = json!({"update": true});
    assert_eq!(call_json(&svc, req("PUT", "/acls/test_user2", Some("test_user1"), Some(DOM)), &body).await.0, 201);
    let (_, v) = call(&svc, req("GET", "/acls/test_user2", Some("test_user1"), Some(DOM))).await;
    assert_eq!((v["acl"]["read"].clone(), v["acl"]["update"].clone()), (json!(true), json!(true)));
    // default entry: anonymous readers
    let body = json!({"read": true});
    assert_eq!(call_json(&svc, req("PUT", "/acls/default", Some("test_user1"), Some(DOM)), &body).await.0, 201);
    assert_eq!(call(&svc, req("GET", "/", None, Some(DOM))).await.0, 200);
}

#[tokio::test]
async fn put_acl_needs_update_acl_and_valid_input() {
    let (svc, store) = setup().await;
    let before = get_json(store.as_ref(), "hsdstest", "home/test_user1/a.h5/.domain.json").await.unwrap().1;
    let body = json!({"read": true});
    // HSDS 1.0.2 lets any authenticated user do this; we require updateACL
    assert_eq!(call_json(&svc, req("PUT", "/acls/test_user2", Some("test_user2"), Some(DOM)), &body).await.0, 403);
    assert_eq!(call_json(&svc, req("PUT", "/acls/test_user2", None, Some(DOM)), &body).await.0, 401);
    // a body that is not an object: 500, as HSDS 1.0.2 answers it (it calls `.keys()` on it)
    let cases = [(json!({"read": "yes"}), 400), (json!({"bogus": true}), 400), (json!([true]), 500)];
    for (bad, status) in cases {
        let (s, v) = call_json(&svc, req("PUT", "/acls/test_user2", Some("test_user1"), Some(DOM)), &bad).await;
        assert_eq!(s, status, "{bad} → {v}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 5);
    }
    assert_eq!(call_json(&svc, req("PUT", "/acls/bad%01name", Some("test_user1"), Some(DOM)), &body).await.0, 400);
    let malformed = req("PUT", "/acls/test_user2", Some("test_user1"), Some(DOM)).body("{");
    assert_eq!(call(&svc, malformed).await.0, 400);
    let after = get_json(store.as_ref(), "hsdstest", "home/test_user1/a.h5/.domain.json").await.unwrap().1;
    assert_eq!(before, after, "nothing written");
    // admin may always
    assert_eq!(call_json(&svc, req("PUT", "/acls/test_user2", Some("admin"), Some(DOM)), &body).await.0, 201);
    // like HSDS, entries for users this deployment does not know are allowed (another may know them)
    assert_eq!(call_json(&svc, req("PUT", "/acls/nobody", Some("test_user1"), Some(DOM)), &body).await.0, 201);
    // ... and both were stored as given, not merely answered 201
    for user in ["test_user2", "nobody"] {
        let (s, v) = call(&svc, req("GET", &format!("/acls/{user}"), Some("test_user1"), Some(DOM))).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            (&v["acl"]["userName"], &v["acl"]["read"], &v["acl"]["update"]),
            (&json!(user), &json!(true), &json!(false)),
            "{v}"
        );
    }
}

#[tokio::test]
async fn own_false_flag_is_authoritative() {
    let (svc, _store) = setup().await;
    for (user, read) in [("default", true), ("test_user2", false)] {
        let body = json!({"read": read});
        assert_eq!(
            call_json(&svc, req("PUT", &format!("/acls/{user}"), Some("test_user1"), Some(DOM)), &body).await.0,
            201
        );
    }
    assert_eq!(call(&svc, req("GET", "/", Some("test_user2"), Some(DOM))).await.0, 403);
    assert_eq!(call(&svc, req("GET", "/", None, Some(DOM))).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acl_updates_are_not_lost() {
    let (svc, _store) = setup().await;
    let svc = std::sync::Arc::new(svc);
    let mut tasks = Vec::new();
    for flag in ["create", "read", "update", "delete", "readACL", "updateACL"] {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({ flag: true });
            call_json(&svc, req("PUT", "/acls/test_user2", Some("test_user1"), Some(DOM)), &body).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let (_, v) = call(&svc, req("GET", "/acls/test_user2", Some("test_user1"), Some(DOM))).await;
    for flag in ["create", "read", "update", "delete", "readACL", "updateACL"] {
        assert_eq!(v["acl"][flag], true, "{flag} lost: {v}");
    }
}
