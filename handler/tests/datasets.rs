//! Behaviour of `POST/GET /datasets`, `GET/DELETE /datasets/{id}`, `/shape` and `/type`, checked against
//! what HSDS 1.0.2 stores for the same requests.

mod common;

use common::*;
use hsds_handler::store::json::get_json;
use hsds_handler::store::{MemoryStore, Store};
use hsds_handler::Service;
use serde_json::{json, Value};

const DOM: &str = "/home/test_user1/d.h5";

async fn setup() -> (Service, std::sync::Arc<MemoryStore>, String) {
    let (svc, store) = service();
    let v = user_domain(&svc, DOM).await;
    (svc, store, v["root"].as_str().unwrap().to_string())
}

async fn post(svc: &Service, body: Value) -> (u16, Value) {
    call_json(svc, req("POST", "/datasets", Some("test_user1"), Some(DOM)), &body).await
}

fn key_of(id: &str) -> String {
    format!("db/{}-{}/d/{}/.dataset.json", &id[2..10], &id[11..19], &id[20..])
}

async fn stored(store: &MemoryStore, id: &str) -> Value {
    get_json(store, "hsdstest", &key_of(id)).await.unwrap().0
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn create_stores_hsds_json_and_links_it() {
    let (svc, store, root) = setup().await;
    let (s, v) =
        post(&svc, json!({"type": "H5T_IEEE_F32LE", "shape": [10000, 10000], "link": {"id": root, "name": "big"}}))
            .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap();
    // HSDS 1.0.2 response and stored JSON for this request.
    assert_eq!(v["creationProperties"], json!({"layout": {"class": "H5D_CHUNKED", "dims": [625, 1250]}}));
    assert_eq!(v["attributeCount"], 0);
    let d = stored(&store, id).await;
    assert_eq!(
        sorted_keys(&d),
        ["attributes", "created", "creationProperties", "id", "lastModified", "root", "shape", "type"]
    );
    assert_eq!(d["type"], json!({"class": "H5T_FLOAT", "base": "H5T_IEEE_F32LE"}));
    assert_eq!(d["shape"], json!({"class": "H5S_SIMPLE", "dims": [10000, 10000]}));
    let (s, l) = call(&svc, req("GET", &format!("/groups/{root}/links/big"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert_eq!(l["link"]["id"], id);
}

#[tokio::test]
async fn shapes_layouts_fill_values_and_filters_as_hsds() {
    let (svc, store, _) = setup().await;
    let cases = [
        (
            json!({"type": "H5T_STD_I32LE", "shape": [100]}),
            json!({"layout": {"class": "H5D_CONTIGUOUS"}}),
            json!({"class": "H5S_SIMPLE", "dims": [100]}),
        ),
        (
            json!({"type": "H5T_STD_I64LE", "shape": [0], "maxdims": [0]}),
            json!({"layout": {"class": "H5D_CHUNKED", "dims": [131072]}}),
            json!({"class": "H5S_SIMPLE", "dims": [0], "maxdims": ["H5S_UNLIMITED"]}),
        ),
        (
            json!({"type": "H5T_STD_I32LE"}),
            json!({"layout": {"class": "H5D_CONTIGUOUS"}}),
            json!({"class": "H5S_SCALAR"}),
        ),
        (json!({"type": "H5T_STD_I32LE", "shape": "H5S_NULL"}), json!({"layout": {}}), json!({"class": "H5S_NULL"})),
        (
            json!({"type": "H5T_IEEE_F64LE", "shape": [5], "creationProperties": {"fillValue": "nan"}}),
            json!({"fillValue": "nan", "layout": {"class": "H5D_CONTIGUOUS"}}),
            json!({"class": "H5S_SIMPLE", "dims": [5]}),
        ),
        (
            json!({"type": "H5T_STD_I32LE", "shape": 5, "maxdims": 10}),
            json!({"layout": {"class": "H5D_CHUNKED", "dims": [10]}}),
            json!({"class": "H5S_SIMPLE", "dims": [5], "maxdims": [10]}),
        ),
        (
            json!({"type": "H5T_STD_I16LE", "shape": [3000, 3000], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [10, 10]}}}),
            json!({"layout": {"class": "H5D_CHUNKED", "dims": [10, 10]}}),
            json!({"class": "H5S_SIMPLE", "dims": [3000, 3000]}),
        ),
    ];
    for (body, cp, shape) in cases {
        let (s, v) = post(&svc, body.clone()).await;
        assert_eq!(s, 201, "{body}: {v}");
        let d = stored(&store, v["id"].as_str().unwrap()).await;
        assert_eq!(d["creationProperties"], cp, "{body}");
        assert_eq!(d["shape"], shape, "{body}");
    }
    let (s, v) = post(&svc, json!({"type": "H5T_STD_I32LE", "shape": [100], "creationProperties": {"filters": [{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 9}]}})).await;
    assert_eq!(s, 201, "{v}");
    let d = stored(&store, v["id"].as_str().unwrap()).await;
    assert_eq!(
        d["creationProperties"]["layout"],
        json!({"class": "H5D_CHUNKED", "dims": [100]}),
        "filters force chunking"
    );
    assert_eq!(d["creationProperties"]["filters"][0]["id"], 1);
}

#[tokio::test]
async fn bad_create_requests_get_hsds_status_and_store_nothing() {
    let (svc, store, _) = setup().await;
    let before = store.list_all("hsdstest", "db/").await.unwrap().len();
    for body in [
        json!({"shape": [10]}),
        json!({"type": "H5T_NOPE", "shape": [10]}),
        json!({"type": "H5T_STD_I32LE", "shape": [10], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [20]}}}),
        json!({"type": "H5T_STD_I32LE", "shape": [10], "creationProperties": {"fillValue": "abc"}}),
        json!({"type": "H5T_STD_I32LE", "shape": [10], "creationProperties": {"filters": [{"class": "H5Z_FILTER_LZF", "id": 32000}]}}),
        json!({"type": "t-00000000-00000000-0000-000000-000000", "shape": [10]}),
    ] {
        let (s, v) = post(&svc, body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // HSDS 1.0.2 does not check maxdims below the shape and fails later: 500, with the reason
    let (s, v) = post(&svc, json!({"type": "H5T_STD_I32LE", "shape": [10], "maxdims": [5]})).await;
    assert_eq!((s, v["error"]["message"].as_str()), (500, Some("maxdims 5 is smaller than dims 10")));
    assert_eq!(store.list_all("hsdstest", "db/").await.unwrap().len(), before);
}

#[tokio::test]
async fn list_body_with_client_ids_and_committed_types() {
    let (svc, store, root) = setup().await;
    let (s, t) =
        call_json(&svc, req("POST", "/datatypes", Some("test_user1"), Some(DOM)), &json!({"type": "H5T_STD_U8LE"}))
            .await;
    assert_eq!(s, 201, "{t}");
    let tid = t["id"].as_str().unwrap();
    let prefix = &root[2..19];
    let a = format!("d-{prefix}-0000-000000-00000a");
    let b = format!("d-{prefix}-0000-000000-00000b");
    // h5pyd 1.0 sends a list without a Content-Type header.
    let body = json!([
        {"id": a, "type": {"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}, "shape": [4], "creationProperties": {}},
        {"id": b, "type": tid, "shape": [3], "maxdims": ["H5S_UNLIMITED"], "creationProperties": {}},
    ]);
    let r = req("POST", "/datasets", Some("test_user1"), Some(DOM)).body(body.to_string());
    let (s, v) = call(&svc, r).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["objects"].as_array().unwrap().len(), 2);
    assert_eq!(stored(&store, &a).await["id"], a);
    let tb = stored(&store, &b).await["type"].clone();
    assert_eq!(tb, json!({"class": "H5T_INTEGER", "base": "H5T_STD_U8LE", "id": tid}));
    let (s, _) = call(
        &svc,
        req("POST", "/datasets", Some("test_user1"), Some(DOM))
            .body(json!([{"id": a, "type": "H5T_STD_I8LE"}]).to_string()),
    )
    .await;
    assert_eq!(s, 400, "re-creating an existing id (HSDS: 400)");
    let (s, l) = call(&svc, req("GET", "/datasets", Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200, "{l}");
}

#[tokio::test]
async fn get_dataset_type_shape_and_verbose() {
    let (svc, _store, root) = setup().await;
    let (_, v) = post(&svc, json!({"type": "H5T_STD_I32LE", "shape": [40, 30], "maxdims": [80, 0], "link": {"id": root, "name": "x"}, "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [10, 10]}}})).await;
    let id = v["id"].as_str().unwrap().to_string();
    let (s, d) =
        call(&svc, req("GET", &format!("/datasets/{id}"), Some("test_user1"), Some(DOM)).param("verbose", "1")).await;
    assert_eq!(s, 200, "{d}");
    // HSDS 1.0.2 answers without a top-level layout key.
    assert_eq!(d["creationProperties"]["layout"], json!({"class": "H5D_CHUNKED", "dims": [10, 10]}));
    assert!(d.get("layout").is_none());
    assert_eq!(d["num_chunks"], 0);
    let w = req("PUT", &format!("/datasets/{id}/value"), Some("test_user1"), Some(DOM)).param("select", "[0:20,0:1]");
    let (s, _) = call_json(&svc, w, &json!({"value": (0..20).map(|i| vec![i]).collect::<Vec<_>>()})).await;
    assert_eq!(s, 200);
    let (_, d) =
        call(&svc, req("GET", &format!("/datasets/{id}"), Some("test_user1"), Some(DOM)).param("verbose", "1")).await;
    assert_eq!(d["num_chunks"], 2);
    assert_eq!(d["allocated_size"], 800);
    let (s, t) = call(&svc, req("GET", &format!("/datasets/{id}/type"), Some("test_user1"), Some(DOM))).await;
    assert_eq!((s, t["type"]["base"].as_str()), (200, Some("H5T_STD_I32LE")));
    let (s, sh) = call(&svc, req("GET", &format!("/datasets/{id}/shape"), Some("test_user1"), Some(DOM))).await;
    assert_eq!((s, sh["shape"]["maxdims"].clone()), (200, json!([80, "H5S_UNLIMITED"])));
    let (s, _) = call(&svc, req("GET", &format!("/datasets/{id}"), Some("test_user2"), Some(DOM))).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn resize_grows_shrinks_and_refuses_past_maxdims() {
    let (svc, store, _) = setup().await;
    let (_, v) = post(&svc, json!({"type": "H5T_STD_I32LE", "shape": [20], "maxdims": [40], "creationProperties": {"fillValue": 9, "layout": {"class": "H5D_CHUNKED", "dims": [5]}}})).await;
    let id = v["id"].as_str().unwrap().to_string();
    let path = format!("/datasets/{id}");
    let w = req("PUT", &format!("{path}/value"), Some("test_user1"), Some(DOM));
    assert_eq!(call_json(&svc, w, &json!({"value": (0..20).collect::<Vec<i32>>()})).await.0, 200);
    let shape = |b: Value| {
        let svc = &svc;
        let r = req("PUT", &format!("{path}/shape"), Some("test_user1"), Some(DOM));
        async move { call_json(svc, r, &b).await }
    };
    assert_eq!(shape(json!({"shape": [41]})).await.0, 409);
    assert_eq!(shape(json!({"shape": [7]})).await.0, 201);
    assert_eq!(
        store.list_all("hsdstest", &format!("{}/", &key_of(&id)[..key_of(&id).len() - 14])).await.unwrap().len(),
        3,
        "2 chunks + JSON"
    );
    let (s, v) = shape(json!({"extend": 5, "extend_dim": 0})).await;
    assert_eq!((s, v["selection"].as_str()), (201, Some("[7:12]")));
    let (_, v) = call(&svc, req("GET", &format!("{path}/value"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(v["value"], json!([0, 1, 2, 3, 4, 5, 6, 9, 9, 9, 9, 9]));
    let (_, fixed) = post(&svc, json!({"type": "H5T_STD_I32LE", "shape": [20]})).await;
    let (s, _) = call_json(
        &svc,
        req("PUT", &format!("/datasets/{}/shape", fixed["id"].as_str().unwrap()), Some("test_user1"), Some(DOM)),
        &json!({"shape": [30]}),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn delete_removes_chunks_then_json() {
    let (svc, store, _) = setup().await;
    let (_, v) = post(&svc, json!({"type": "H5T_STD_I32LE", "shape": [20], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [5]}}})).await;
    let id = v["id"].as_str().unwrap().to_string();
    let w = req("PUT", &format!("/datasets/{id}/value"), Some("test_user1"), Some(DOM));
    assert_eq!(call_json(&svc, w, &json!({"value": (1..=20).collect::<Vec<i32>>()})).await.0, 200);
    let dir = key_of(&id).trim_end_matches(".dataset.json").to_string();
    assert_eq!(store.list_all("hsdstest", &dir).await.unwrap().len(), 5);
    let (s, _) = call(&svc, req("DELETE", &format!("/datasets/{id}"), Some("test_user2"), Some(DOM))).await;
    assert_eq!(s, 403);
    let (s, _) = call(&svc, req("DELETE", &format!("/datasets/{id}"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    assert!(store.list_all("hsdstest", &dir).await.unwrap().is_empty());
    let (s, _) = call(&svc, req("GET", &format!("/datasets/{id}"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 410, "deleted: Gone, as HSDS");
}

#[tokio::test]
async fn initial_value_in_post_is_written_and_bad_values_store_nothing() {
    let (svc, store, _) = setup().await;
    let (s, v) = post(&svc, json!({"type": "H5T_STD_I32LE", "shape": [4], "value": [1, 2, 3, 4]})).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let r = req("GET", &format!("/datasets/{id}/value"), Some("test_user1"), Some(DOM));
    let (_, v) = call(&svc, r).await;
    assert_eq!(v["value"], json!([1, 2, 3, 4]));
    let (s, v) = post(&svc, json!({"type": "H5T_STD_I32LE", "value": 7})).await;
    assert_eq!(s, 201, "{v}");
    let before = store.list_all("hsdstest", "db/").await.unwrap().len();
    for body in [
        json!({"type": "H5T_STD_I32LE", "shape": [4], "value": [1, 2, 3]}),
        json!({"type": "H5T_STD_U8LE", "shape": [2], "value": [1, 256]}),
        json!({"type": "H5T_STD_I32LE", "shape": [2], "value": ["a", "b"]}),
    ] {
        let (s, v) = post(&svc, body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
    }
    assert_eq!(store.list_all("hsdstest", "db/").await.unwrap().len(), before);
}
