//! Behaviour of `/datatypes` (committed types), checked against HSDS 1.0.2 responses.

mod common;

use common::*;
use hsds_handler::store::json::get_json;
use hsds_handler::Service;
use serde_json::{json, Value};

const DOM: &str = "/home/test_user1/a.h5";

async fn setup() -> (Service, std::sync::Arc<hsds_handler::store::MemoryStore>, String) {
    let (svc, store) = service();
    let v = user_domain(&svc, DOM).await;
    (svc, store, v["root"].as_str().unwrap().to_string())
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

async fn post(svc: &Service, body: Value) -> (u16, Value) {
    call_json(svc, req("POST", "/datatypes", Some("test_user1"), Some(DOM)), &body).await
}

#[tokio::test]
async fn create_get_list_delete() {
    let (svc, store, root) = setup().await;
    let (s, v) = post(&svc, json!({"type": "H5T_STD_I32LE", "link": {"id": root, "name": "int"}})).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(keys(&v), hsds_keys("POST /datatypes response"));
    assert_eq!(v["type"], json!({"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}));
    let id = v["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("t-"));
    let key = hsds_handler::model::ObjId::parse(&id).unwrap().s3_key();
    assert!(key.contains("/t/") && key.ends_with("/.datatype.json"));
    let (t, _) = get_json(store.as_ref(), "hsdstest", &key).await.unwrap();
    assert_eq!(keys(&t), hsds_keys("stored datatype"));
    let (s, v) = call(&svc, req("GET", &format!("/datatypes/{id}"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(keys(&v), hsds_keys("GET /datatypes/{id}"));
    let (s, v) = call(&svc, req("GET", "/datatypes/", Some("test_user1"), Some(DOM)).param("h5path", "/int")).await;
    assert_eq!((s, v["id"].clone()), (200, json!(id)));
    let (_, v) = call(&svc, req("GET", "/datatypes", Some("test_user1"), Some(DOM))).await;
    assert_eq!(v["datatypes"], json!([id]));
    // the h5path names a type, not a group: HSDS 1.0.2 answers 404 (no group at that path)
    assert_eq!(call(&svc, req("GET", "/groups/", Some("test_user1"), Some(DOM)).param("h5path", "/int")).await.0, 404);
    assert_eq!(call(&svc, req("DELETE", &format!("/datatypes/{id}"), Some("test_user1"), Some(DOM))).await.0, 200);
    // deleted: 410 Gone, as HSDS
    assert_eq!(call(&svc, req("GET", &format!("/datatypes/{id}"), Some("test_user1"), Some(DOM))).await.0, 410);
}

#[tokio::test]
async fn list_body_with_client_ids() {
    let (svc, _store, root) = setup().await;
    let a = format!("t-{}-3333-111111-111111", &root[2..19]);
    let b = format!("t-{}-4444-111111-111111", &root[2..19]);
    let body =
        json!([{"id": a, "type": {"class": "H5T_FLOAT", "base": "H5T_IEEE_F64LE"}}, {"id": b, "type": "H5T_STD_U8LE"}]);
    let (s, v) = call(&svc, req("POST", "/datatypes", Some("test_user1"), Some(DOM)).body(body.to_string())).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["objects"][1]["type"], json!({"class": "H5T_INTEGER", "base": "H5T_STD_U8LE"}));
    for (id, want) in [
        (&a, json!({"class": "H5T_FLOAT", "base": "H5T_IEEE_F64LE"})),
        (&b, json!({"class": "H5T_INTEGER", "base": "H5T_STD_U8LE"})),
    ] {
        let (s, v) = call(&svc, req("GET", &format!("/datatypes/{id}"), Some("test_user1"), Some(DOM))).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!((&v["id"], &v["type"]), (&json!(id), &want), "the type stored under the client's id");
    }
}

#[tokio::test]
async fn bad_types_write_nothing() {
    let (svc, store, root) = setup().await;
    let n = store.len();
    let gid = format!("g-{}-3333-111111-111111", &root[2..19]);
    for body in
        [json!({}), json!({"type": "H5T_NOPE"}), json!({"type": 5}), json!([{"id": gid, "type": "H5T_STD_I8LE"}])]
    {
        let (s, v) = post(&svc, body.clone()).await;
        assert_eq!(s, 400, "{body} → {v}");
    }
    assert_eq!(
        call_json(&svc, req("POST", "/datatypes", Some("test_user2"), Some(DOM)), &json!({"type": "H5T_STD_I8LE"}))
            .await
            .0,
        403
    );
    assert_eq!(store.len(), n);
}
