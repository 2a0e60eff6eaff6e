//! Attribute routes through `Service::handle`, over objects written directly in HSDS's stored form.

mod common;

use base64::Engine;
use common::*;
use hsds_handler::model::{DomainPath, ObjId, ObjKind};
use hsds_handler::store::json::{get_json, put_json};
use hsds_handler::store::MemoryStore;
use hsds_handler::Service;
use serde_json::{json, Value};

const DOMAIN: &str = "/home/test_user1/attrs.h5";
const BUCKET: &str = "hsdstest";

struct Fixture {
    svc: Service,
    store: std::sync::Arc<MemoryStore>,
    root: ObjId,
    dset: ObjId,
    ctype: ObjId,
}

/// A domain owned by test_user1 (test_user2 may only read) with a root group, a dataset and a committed type.
async fn fixture() -> Fixture {
    let (svc, store) = service();
    let root = ObjId::new_root();
    let dset = ObjId::new_child(ObjKind::Dataset, &root);
    let ctype = ObjId::new_child(ObjKind::Datatype, &root);
    let t = 1_700_000_000.0;
    let flags = |all: bool| json!({"create": all, "read": true, "update": all, "delete": all, "readACL": all, "updateACL": all});
    let domain = json!({"owner": "test_user1", "acls": {"test_user1": flags(true), "default": flags(false)},
        "created": t, "lastModified": t, "root": root.to_string()});
    let path = DomainPath::parse(DOMAIN).unwrap();
    put_json(store.as_ref(), BUCKET, &path.key(), &domain).await.unwrap();
    let group = json!({"id": root.to_string(), "root": root.to_string(), "created": t, "lastModified": t,
        "links": {}, "attributes": {}});
    put_json(store.as_ref(), BUCKET, &root.s3_key(), &group).await.unwrap();
    let ds = json!({"id": dset.to_string(), "root": root.to_string(), "created": t, "lastModified": t,
        "type": {"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}, "shape": {"class": "H5S_SIMPLE", "dims": [4]},
        "attributes": {}});
    put_json(store.as_ref(), BUCKET, &dset.s3_key(), &ds).await.unwrap();
    let ct = json!({"id": ctype.to_string(), "root": root.to_string(), "created": t, "lastModified": t,
        "type": {"class": "H5T_FLOAT", "base": "H5T_IEEE_F64BE"}, "attributes": {}});
    put_json(store.as_ref(), BUCKET, &ctype.s3_key(), &ct).await.unwrap();
    Fixture { svc, store, root, dset, ctype }
}

impl Fixture {
    async fn stored(&self, id: &ObjId) -> Value {
        get_json(self.store.as_ref(), BUCKET, &id.s3_key()).await.unwrap().0
    }
    async fn put(&self, id: &ObjId, name: &str, body: Value) -> (u16, Value) {
        let path = format!("/{}/{}/attributes/{}", id.kind().collection(), id, name);
        call_json(&self.svc, req("PUT", &path, Some("test_user1"), Some(DOMAIN)), &body).await
    }
    async fn get(&self, path: &str, user: &str) -> (u16, Value) {
        call(&self.svc, req("GET", path, Some(user), Some(DOMAIN))).await
    }
}

fn gpath(id: &ObjId) -> String {
    format!("/groups/{id}/attributes")
}

#[tokio::test]
async fn put_get_round_trip_stores_hsds_json() {
    let f = fixture().await;
    let (s, _) =
        f.put(&f.root, "a1", json!({"type": "H5T_STD_I32LE", "shape": [2, 2], "value": [[1, 2], [3, 4]]})).await;
    assert_eq!(s, 201);
    let stored = f.stored(&f.root).await;
    let a = &stored["attributes"]["a1"];
    assert_eq!(a["type"], json!({"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}));
    assert_eq!(a["shape"], json!({"class": "H5S_SIMPLE", "dims": [2, 2]}));
    assert_eq!(a["value"], json!([[1, 2], [3, 4]]));
    assert!(a["created"].as_f64().unwrap() > 1.7e9);
    assert_eq!(a.as_object().unwrap().keys().collect::<Vec<_>>(), ["type", "shape", "value", "created"]);
    assert!(stored["lastModified"].as_f64().unwrap() > 1_700_000_000.0);

    let (s, body) = f.get(&format!("{}/a1", gpath(&f.root)), "test_user1").await;
    assert_eq!(s, 200);
    assert_eq!(body["name"], "a1");
    assert_eq!(body["value"], json!([[1, 2], [3, 4]]));
    assert_eq!(body["lastModified"], body["created"]);
    assert!(body["hrefs"].as_array().unwrap().len() == 3);
}

#[tokio::test]
async fn identical_reput_is_200_different_is_409_replace_keeps_created() {
    let f = fixture().await;
    let body = json!({"type": "H5T_IEEE_F32LE", "shape": "H5S_SCALAR", "value": 1.5});
    assert_eq!(f.put(&f.root, "x", body.clone()).await.0, 201);
    let created = f.stored(&f.root).await["attributes"]["x"]["created"].clone();
    assert_eq!(f.put(&f.root, "x", body).await.0, 200);
    let (s, e) = f.put(&f.root, "x", json!({"type": "H5T_IEEE_F32LE", "value": 2.5})).await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(f.stored(&f.root).await["attributes"]["x"]["value"], json!(1.5));
    let path = format!("{}/x", gpath(&f.root));
    let r = req("PUT", &path, Some("test_user1"), Some(DOMAIN)).param("replace", "1");
    let (s, _) = call_json(&f.svc, r, &json!({"type": "H5T_IEEE_F32LE", "value": 2.5})).await;
    assert_eq!(s, 201);
    let a = &f.stored(&f.root).await["attributes"]["x"];
    assert_eq!(a["value"], json!(2.5));
    assert_eq!(a["shape"], json!({"class": "H5S_SCALAR"}));
    assert_eq!(a["created"], created);
}

#[tokio::test]
async fn h5pyd_style_multi_put_across_objects_with_created_and_base64() {
    let f = fixture().await;
    let created = hsds_handler::service::now() - 1.0;
    let b64 = base64::engine::general_purpose::STANDARD.encode([1u8, 0, 0, 0, 2, 0, 0, 0]);
    let body = json!({"obj_ids": {
        f.root.to_string(): {"attributes": {
            "s": {"type": {"class": "H5T_STRING", "charSet": "H5T_CSET_UTF8", "length": "H5T_VARIABLE", "strPad": "H5T_STR_NULLTERM"},
                  "shape": {"class": "H5S_SCALAR"}, "value": "héllo", "created": created}}},
        f.dset.to_string(): {"attributes": {
            "b": {"type": {"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}, "shape": {"class": "H5S_SIMPLE", "dims": [2]},
                  "value": b64, "encoding": "base64", "created": created}}}}});
    let (s, e) = call_json(&f.svc, req("PUT", &gpath(&f.root), Some("test_user1"), Some(DOMAIN)), &body).await;
    assert_eq!(s, 201, "{e}");
    let g = f.stored(&f.root).await;
    assert_eq!(g["attributes"]["s"]["value"], json!("héllo"));
    assert_eq!(g["attributes"]["s"]["created"], json!(created));
    let d = f.stored(&f.dset).await;
    // representable base64 values are stored as JSON, without encoding (HSDS)
    assert_eq!(d["attributes"]["b"]["value"], json!([1, 2]));
    assert!(d["attributes"]["b"].get("encoding").is_none());
    // re-sending everything (h5pyd's first flush) is a 200
    let (s, _) = call_json(&f.svc, req("PUT", &gpath(&f.root), Some("test_user1"), Some(DOMAIN)), &body).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn multi_put_conflict_on_one_object_writes_nothing() {
    let f = fixture().await;
    assert_eq!(f.put(&f.dset, "a", json!({"type": "H5T_STD_I8LE", "value": 1})).await.0, 201);
    let body = json!({"obj_ids": [f.root.to_string(), f.dset.to_string()],
        "attributes": {"a": {"type": "H5T_STD_I8LE", "value": 2}}});
    let (s, _) = call_json(&f.svc, req("PUT", &gpath(&f.root), Some("test_user1"), Some(DOMAIN)), &body).await;
    assert_eq!(s, 409);
    assert!(f.stored(&f.root).await["attributes"].as_object().unwrap().is_empty());
    // one bad attribute in the batch: 400, nothing written
    let body =
        json!({"attributes": {"ok": {"type": "H5T_STD_I8LE", "value": 1}, "bad": {"type": {"class": "H5T_NOPE"}}}});
    let (s, e) = call_json(&f.svc, req("PUT", &gpath(&f.root), Some("test_user1"), Some(DOMAIN)), &body).await;
    assert_eq!(s, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("unknown type class"), "{e}");
    assert!(f.stored(&f.root).await["attributes"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_gets_hsds_status_with_message_and_nothing_written() {
    let f = fixture().await;
    // HSDS 1.0.2 answers 500 for a value out of range and for a body `"type" in` fails on (a number)
    let cases = [
        (json!({"type": {"class": "H5T_FOO"}}), 400, "unknown type class"),
        (json!({"shape": [2]}), 400, "expected type"),
        (json!({"type": "H5T_STD_U8LE", "shape": [2], "value": [1, 300]}), 500, "out of range"),
        (json!({"type": "H5T_STD_U8LE", "shape": [3], "value": [1, 2]}), 400, "doesn't match"),
        (json!({"type": "H5T_STD_U8LE", "shape": [2], "value": "!!", "encoding": "base64"}), 400, "base64"),
        (
            json!({"type": "H5T_STD_U16LE", "shape": [2], "value": "AAAA", "encoding": "base64"}),
            400,
            "expected 4 bytes",
        ),
        (json!({"type": "H5T_STD_U8LE", "shape": "H5S_NULL", "value": 1}), 400, "H5S_NULL"),
        (json!({"type": "H5T_STD_U8LE", "shape": "H5S_BOGUS"}), 400, "invalid shape"),
        (json!(5), 500, "expected an object"),
        (json!("s"), 400, "expected an object"),
    ];
    for (body, status, msg) in cases {
        let (s, e) = f.put(&f.root, "bad", body.clone()).await;
        assert_eq!(s, status, "{body}: {e}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(m.contains(msg), "{body}: {m}");
    }
    assert!(f.stored(&f.root).await["attributes"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn committed_type_is_resolved_with_its_id() {
    let f = fixture().await;
    let (s, e) = f.put(&f.root, "c", json!({"type": f.ctype.to_string(), "value": 0.5})).await;
    assert_eq!(s, 201, "{e}");
    let a = &f.stored(&f.root).await["attributes"]["c"];
    assert_eq!(a["type"], json!({"class": "H5T_FLOAT", "base": "H5T_IEEE_F64BE", "id": f.ctype.to_string()}));
    let other = ObjId::new_child(ObjKind::Datatype, &ObjId::new_root());
    let (s, _) = f.put(&f.root, "d", json!({"type": other.to_string(), "value": 0.5})).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn list_order_paging_pattern_and_data() {
    let f = fixture().await;
    for (name, v) in [("b", 2), ("a", 1), ("c", 3)] {
        assert_eq!(f.put(&f.root, name, json!({"type": "H5T_STD_I16BE", "value": v})).await.0, 201);
    }
    let names = |b: &Value| b["attributes"].as_array().unwrap().iter().map(|a| a["name"].clone()).collect::<Vec<_>>();
    let (_, b) = f.get(&gpath(&f.root), "test_user2").await;
    assert_eq!(names(&b), [json!("a"), json!("b"), json!("c")]);
    assert!(b["attributes"][0].get("value").is_none());
    let r = req("GET", &gpath(&f.root), Some("test_user1"), Some(DOMAIN)).param("CreateOrder", "1");
    assert_eq!(names(&call(&f.svc, r).await.1), [json!("b"), json!("a"), json!("c")]);
    let r = req("GET", &gpath(&f.root), Some("test_user1"), Some(DOMAIN)).param("Marker", "a").param("Limit", "1");
    assert_eq!(names(&call(&f.svc, r).await.1), [json!("b")]);
    let r = req("GET", &gpath(&f.root), Some("test_user1"), Some(DOMAIN)).param("pattern", "[ac]");
    assert_eq!(names(&call(&f.svc, r).await.1), [json!("a"), json!("c")]);
    let r = req("GET", &gpath(&f.root), Some("test_user1"), Some(DOMAIN))
        .param("IncludeData", "1")
        .param("encoding", "base64");
    let (_, b) = call(&f.svc, r).await;
    assert_eq!(b["attributes"][0]["value"], json!("AAE=")); // 1 as big-endian i16
    assert_eq!(b["attributes"][0]["encoding"], "base64");
    let r = req("GET", &gpath(&f.root), Some("test_user1"), Some(DOMAIN))
        .param("IncludeData", "1")
        .param("max_data_size", "1");
    assert!(call(&f.svc, r).await.1["attributes"][0].get("value").is_none());
}

#[tokio::test]
async fn post_by_names_and_obj_ids() {
    let f = fixture().await;
    f.put(&f.root, "a", json!({"type": "H5T_STD_I8LE", "value": 1})).await;
    f.put(&f.dset, "d", json!({"type": "H5T_STD_I8LE", "value": 2})).await;
    let r = req("POST", &gpath(&f.root), Some("test_user2"), Some(DOMAIN)).param("IncludeData", "1");
    let (s, b) = call_json(&f.svc, r, &json!({"attr_names": ["a"]})).await;
    assert_eq!(s, 200);
    assert_eq!(b["attributes"][0]["value"], 1);
    let r = req("POST", &gpath(&f.root), Some("test_user2"), Some(DOMAIN));
    assert_eq!(call_json(&f.svc, r, &json!({"attr_names": ["a", "zz"]})).await.0, 404);
    let r = req("POST", &gpath(&f.root), Some("test_user2"), Some(DOMAIN));
    let (s, b) = call_json(&f.svc, r, &json!({"obj_ids": [f.root.to_string(), f.dset.to_string()]})).await;
    assert_eq!(s, 200);
    assert_eq!(b["attributes"][f.dset.to_string()][0]["name"], "d");
}

#[tokio::test]
async fn delete_with_separator_ignores_missing_names() {
    let f = fixture().await;
    for n in ["a|1", "b", "c"] {
        f.put(&f.root, &n.replace('|', "%7C"), json!({"type": "H5T_STD_I8LE", "value": 1})).await;
    }
    assert!(f.stored(&f.root).await["attributes"].get("a|1").is_some());
    // missing names are ignored, as HSDS 1.0.2 does (200)
    let r = req("DELETE", &gpath(&f.root), Some("test_user1"), Some(DOMAIN)).param("attr_names", "zz/yy");
    assert_eq!(call(&f.svc, r).await.0, 200);
    assert_eq!(f.stored(&f.root).await["attributes"].as_object().unwrap().len(), 3);
    let r = req("DELETE", &gpath(&f.root), Some("test_user2"), Some(DOMAIN)).param("attr_names", "b");
    assert_eq!(call(&f.svc, r).await.0, 403);
    let r = req("DELETE", &gpath(&f.root), Some("test_user1"), Some(DOMAIN))
        .param("attr_names", "a|1;b")
        .param("separator", ";");
    assert_eq!(call(&f.svc, r).await.0, 200);
    let r = req("DELETE", &format!("{}/c", gpath(&f.root)), Some("test_user1"), Some(DOMAIN));
    assert_eq!(call(&f.svc, r).await.0, 200);
    assert!(f.stored(&f.root).await["attributes"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn value_routes_json_base64_and_binary() {
    let f = fixture().await;
    f.put(&f.dset, "v", json!({"type": "H5T_STD_U16LE", "shape": [3], "value": [1, 2, 3]})).await;
    let vpath = format!("/datasets/{}/attributes/v/value", f.dset);
    let (s, b) = f.get(&vpath, "test_user1").await;
    assert_eq!((s, b["value"].clone()), (200, json!([1, 2, 3])));
    let r = req("GET", &vpath, Some("test_user1"), Some(DOMAIN)).header("accept", "application/octet-stream");
    let rsp = f.svc.handle(r).await;
    assert_eq!(rsp.body.as_ref(), &[1, 0, 2, 0, 3, 0]);
    let created = f.stored(&f.dset).await["attributes"]["v"]["created"].clone();
    // binary PUT
    let r = req("PUT", &vpath, Some("test_user1"), Some(DOMAIN))
        .header("content-type", "application/octet-stream")
        .body(vec![9u8, 0, 8, 0, 7, 0]);
    assert_eq!(call(&f.svc, r).await.0, 200);
    let a = &f.stored(&f.dset).await["attributes"]["v"];
    assert_eq!(a["value"], json!([9, 8, 7]));
    assert_eq!(a["created"], created);
    // wrong binary length: 400, unchanged
    let r = req("PUT", &vpath, Some("test_user1"), Some(DOMAIN))
        .header("content-type", "application/octet-stream")
        .body(vec![1u8, 2, 3]);
    let (s, e) = call(&f.svc, r).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(f.stored(&f.dset).await["attributes"]["v"]["value"], json!([9, 8, 7]));
    // JSON PUT needs update permission
    let r = req("PUT", &vpath, Some("test_user2"), Some(DOMAIN));
    assert_eq!(call_json(&f.svc, r, &json!({"value": [1, 1, 1]})).await.0, 403);
    let r = req("PUT", &vpath, Some("test_user1"), Some(DOMAIN));
    assert_eq!(call_json(&f.svc, r, &json!({"value": [4, 5, 6]})).await.0, 200);
    let r = req("GET", &vpath, Some("test_user1"), Some(DOMAIN)).param("encoding", "base64");
    assert_eq!(call(&f.svc, r).await.1["value"], json!("BAAFAAYA"));
}

#[tokio::test]
async fn non_utf8_fixed_strings_are_stored_as_base64() {
    let f = fixture().await;
    let t = json!({"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII", "length": 2, "strPad": "H5T_STR_NULLPAD"});
    let (s, _) = f.put(&f.root, "raw", json!({"type": t, "shape": [1], "value": "//4=", "encoding": "base64"})).await;
    assert_eq!(s, 201);
    let a = &f.stored(&f.root).await["attributes"]["raw"];
    assert_eq!(a["value"], "//4=");
    assert_eq!(a["encoding"], "base64");
    let (_, b) = f.get(&format!("{}/raw", gpath(&f.root)), "test_user1").await;
    assert_eq!((b["value"].clone(), b["encoding"].clone()), (json!("//4="), json!("base64")));
}

#[tokio::test]
async fn acls_and_membership() {
    let f = fixture().await;
    let path = format!("{}/x", gpath(&f.root));
    let r = req("PUT", &path, Some("test_user2"), Some(DOMAIN));
    assert_eq!(call_json(&f.svc, r, &json!({"type": "H5T_STD_I8LE"})).await.0, 403);
    let r = req("PUT", &path, None, Some(DOMAIN));
    assert_eq!(call_json(&f.svc, r, &json!({"type": "H5T_STD_I8LE"})).await.0, 401);
    // as HSDS, which reads the object first: an id naming nothing is 404, one of another domain 400
    let stranger = ObjId::new_root();
    let (s, _) = f.put(&stranger, "x", json!({"type": "H5T_STD_I8LE"})).await;
    assert_eq!(s, 404);
    let foreign = ObjId::new_root();
    let group = json!({"id": foreign.to_string(), "root": foreign.to_string(), "links": {}, "attributes": {}});
    put_json(f.store.as_ref(), BUCKET, &foreign.s3_key(), &group).await.unwrap();
    let (s, _) = f.put(&foreign, "x", json!({"type": "H5T_STD_I8LE"})).await;
    assert_eq!(s, 400);
    let (s, _) = f.get(&format!("{}/nope", gpath(&f.root)), "test_user1").await;
    assert_eq!(s, 404);
    // null-space attributes: stored with value null, value route refuses
    assert_eq!(f.put(&f.root, "n", json!({"type": "H5T_STD_I8LE", "shape": "H5S_NULL"})).await.0, 201);
    assert_eq!(f.stored(&f.root).await["attributes"]["n"]["value"], Value::Null);
    assert_eq!(f.get(&format!("{}/n/value", gpath(&f.root)), "test_user1").await.0, 400);
}

/// The same PUTs were sent to HSDS 1.0.2 (curl, `/tmp/hsref-types`); this is what it stored, minus
/// `created`. Deliberate difference: for a value that is not representable as JSON (`raw`), HSDS stores
/// `encoding` but drops `value` (its GET then fails with 500); we keep the base64 `value`.
#[tokio::test]
async fn stored_attributes_match_hsds_1_0_2() {
    let f = fixture().await;
    let puts = [
        ("a1", json!({"type":"H5T_STD_I32LE","shape":[2,2],"value":[[1,2],[3,4]]})),
        ("f16", json!({"type":"H5T_IEEE_F16LE","shape":[2],"value":[0.1,2]})),
        ("b64", json!({"type":"H5T_STD_I32LE","shape":[2],"value":"AQAAAAIAAAA=","encoding":"base64"})),
        ("b64s", json!({"type":"H5T_STD_I32LE","shape":"H5S_SCALAR","value":"AQAAAA==","encoding":"base64"})),
        (
            "vs",
            json!({"type":{"class":"H5T_STRING","charSet":"H5T_CSET_UTF8","length":"H5T_VARIABLE"},"value":"héllo"}),
        ),
        (
            "cmp",
            json!({"type":{"class":"H5T_COMPOUND","fields":[{"name":"a","type":"H5T_STD_I8LE"},{"name":"b","type":"H5T_IEEE_F32BE"}]},"shape":[2],"value":[[1,2.5],[3,4.5]]}),
        ),
        ("nul", json!({"type":"H5T_STD_I8LE","shape":"H5S_NULL"})),
        (
            "en",
            json!({"type":{"class":"H5T_ENUM","base":{"class":"H5T_INTEGER","base":"H5T_STD_I8LE"},"mapping":{"FALSE":0,"TRUE":1}},"shape":[2],"value":[true,false]}),
        ),
    ];
    for (name, body) in puts {
        assert_eq!(f.put(&f.root, name, body).await.0, 201, "{name}");
    }
    let hsds: Value = serde_json::from_str(r#"{"a1": {"type": {"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}, "shape": {"class": "H5S_SIMPLE", "dims": [2, 2]}, "value": [[1, 2], [3, 4]]}, "f16": {"type": {"class": "H5T_FLOAT", "base": "H5T_IEEE_F16LE"}, "shape": {"class": "H5S_SIMPLE", "dims": [2]}, "value": [0.1, 2]}, "b64": {"type": {"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}, "shape": {"class": "H5S_SIMPLE", "dims": [2]}, "value": [1, 2]}, "b64s": {"type": {"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}, "shape": {"class": "H5S_SCALAR"}, "value": 1}, "vs": {"type": {"class": "H5T_STRING", "charSet": "H5T_CSET_UTF8", "length": "H5T_VARIABLE"}, "shape": {"class": "H5S_SCALAR"}, "value": "h\u00e9llo"}, "cmp": {"type": {"class": "H5T_COMPOUND", "fields": [{"name": "a", "type": "H5T_STD_I8LE"}, {"name": "b", "type": "H5T_IEEE_F32BE"}]}, "shape": {"class": "H5S_SIMPLE", "dims": [2]}, "value": [[1, 2.5], [3, 4.5]]}, "nul": {"type": {"class": "H5T_INTEGER", "base": "H5T_STD_I8LE"}, "shape": {"class": "H5S_NULL"}, "value": null}, "en": {"type": {"class": "H5T_ENUM", "base": {"class": "H5T_INTEGER", "base": "H5T_STD_I8LE"}, "mapping": {"FALSE": 0, "TRUE": 1}}, "shape": {"class": "H5S_SIMPLE", "dims": [2]}, "value": [true, false]}}"#).unwrap();
    let mut ours = f.stored(&f.root).await["attributes"].clone();
    for (_, a) in ours.as_object_mut().unwrap() {
        assert!(a.as_object_mut().unwrap().remove("created").unwrap().is_f64());
    }
    assert_eq!(ours, hsds);
    // key order as HSDS writes it
    let stored = f.stored(&f.root).await;
    assert_eq!(
        stored["attributes"]["a1"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["type", "shape", "value", "created"]
    );
}
