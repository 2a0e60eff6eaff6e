//! Behaviour of `GET/PUT/POST /datasets/{id}/value`, with chunk bytes compared to what HSDS 1.0.2 wrote
//! for the same requests (captured from the reference server's data directory).

mod common;

use common::*;
use hsds_handler::store::{MemoryStore, Store};
use hsds_handler::{Request, Service};
use serde_json::{json, Value};

const DOM: &str = "/home/test_user1/v.h5";

async fn setup() -> (Service, std::sync::Arc<MemoryStore>) {
    let (svc, store) = service();
    user_domain(&svc, DOM).await;
    (svc, store)
}

async fn dataset(svc: &Service, body: Value) -> String {
    let (s, v) = call_json(svc, req("POST", "/datasets", Some("test_user1"), Some(DOM)), &body).await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn value_req(method: &str, id: &str) -> Request {
    req(method, &format!("/datasets/{id}/value"), Some("test_user1"), Some(DOM))
}

/// What HSDS 1.0.2 stored or answered for the same requests (fixtures/hsds/answers.json, `chunks`, written by
/// fixtures/hsds/probe.py), as hex.
fn hsds_hex(case: &str, name: &str) -> String {
    let answers = hsds_answers();
    let hex = answers["chunks"][case][name].as_str();
    hex.unwrap_or_else(|| panic!("fixtures/hsds/answers.json has no chunks.{case}.{name:?}: rerun its probe"))
        .to_string()
}

fn chunk_key(id: &str, index: &str) -> String {
    format!("db/{}-{}/d/{}/{index}", &id[2..10], &id[11..19], &id[20..])
}

fn ints(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[tokio::test]
async fn json_hyperslab_write_matches_hsds_chunk_bytes() {
    let (svc, store) = setup().await;
    let id = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [40, 30], "maxdims": [80, 0], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [10, 10]}, "fillValue": 7}})).await;
    let value: Vec<Vec<i32>> = (0..10).map(|i| (0..4).map(|j| i * 4 + j).collect()).collect();
    let rsp = svc.handle(value_req("PUT", &id).param("select", "[5:15,8:12]").json(&json!({"value": value}))).await;
    assert_eq!(rsp.status, 200);
    assert_eq!(rsp.json_body().unwrap(), json!({}));
    // HSDS 1.0.2 wrote chunks 0_0, 0_1, 1_0, 1_1; chunk 1_0 starts with 8 fill values, then 20, 21, then fill.
    let keys: Vec<String> =
        store.list_all("hsdstest", &chunk_key(&id, "")).await.unwrap().into_iter().map(|e| e.key).collect();
    assert_eq!(keys.iter().filter(|k| !k.ends_with("json")).count(), 4);
    let c = store.get("hsdstest", &chunk_key(&id, "1_0")).await.unwrap().body;
    assert_eq!(c.len(), 400);
    assert_eq!(&c[..48], ints(&[7, 7, 7, 7, 7, 7, 7, 7, 20, 21, 7, 7]).as_slice());
    // Writing fill into a missing chunk creates nothing (HSDS: 3_0 absent).
    let rsp = svc.handle(value_req("PUT", &id).param("select", "[30:31,0:1]").json(&json!({"value": [[7]]}))).await;
    assert_eq!(rsp.status, 200);
    assert!(store.get("hsdstest", &chunk_key(&id, "3_0")).await.is_err());
    let (s, v) = call(&svc, value_req("GET", &id).param("select", "[14:16,10:13]")).await;
    assert_eq!(s, 200);
    assert_eq!(v["value"], json!([[38, 39, 7], [7, 7, 7]]));
    let (_, v) = call(&svc, value_req("GET", &id).param("select", "[14,10:13]").param("reduce_dim", "1")).await;
    assert_eq!(v["value"], json!([38, 39, 7]));
}

#[tokio::test]
async fn contiguous_and_scalar_datasets_use_chunk_zero() {
    let (svc, store) = setup().await;
    let id =
        dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [10], "creationProperties": {"fillValue": 7}})).await;
    let (s, _) = call_json(&svc, value_req("PUT", &id).param("select", "[2:4]"), &json!({"value": [1, 2]})).await;
    assert_eq!(s, 200);
    // Exactly the bytes of HSDS's chunk object `.../0` for this request.
    let c = store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().body;
    assert_eq!(c.as_ref(), ints(&[7, 7, 1, 2, 7, 7, 7, 7, 7, 7]).as_slice());
    let sid = dataset(&svc, json!({"type": "H5T_STD_I32LE"})).await;
    let (s, _) = call_json(&svc, value_req("PUT", &sid), &json!({"value": 42})).await;
    assert_eq!(s, 200);
    let (_, v) = call(&svc, value_req("GET", &sid)).await;
    assert_eq!(v["value"], json!(42));
    assert_eq!(store.get("hsdstest", &chunk_key(&sid, "0")).await.unwrap().body.as_ref(), ints(&[42]).as_slice());
    // HSDS 1.0.2 reads a scalar dataset's one element whatever `select` says
    let (s, v) = call(&svc, value_req("GET", &sid).param("select", "[0:1]")).await;
    assert_eq!((s, v["value"].clone()), (200, json!(42)));
    let nid = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": "H5S_NULL"})).await;
    assert_eq!(call(&svc, value_req("GET", &nid)).await.0, 400);
}

#[tokio::test]
async fn binary_write_read_and_points() {
    let (svc, _store) = setup().await;
    let id = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [6, 5], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [4, 2]}}})).await;
    let data: Vec<i32> = (0..30).collect();
    let r = value_req("PUT", &id).header("content-type", "application/octet-stream").body(ints(&data));
    let rsp = svc.handle(r).await;
    assert_eq!(rsp.status, 200);
    let rsp = svc
        .handle(value_req("GET", &id).param("select", "[1:6:2,[0,4]]").header("accept", "application/octet-stream"))
        .await;
    assert_eq!(rsp.status, 200);
    assert_eq!(rsp.get_header("content-type"), Some("application/octet-stream"));
    assert_eq!(rsp.body.as_ref(), ints(&[5, 9, 15, 19, 25, 29]).as_slice());
    // h5pyd point read: uint64 LE n×rank body, binary answer in request order.
    let pts: Vec<u8> = [5u64, 4, 0, 0, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let r = value_req("POST", &id)
        .header("content-type", "application/octet-stream")
        .header("accept", "application/octet-stream")
        .body(pts);
    let rsp = svc.handle(r).await;
    assert_eq!(rsp.status, 200);
    assert_eq!(rsp.body.as_ref(), ints(&[29, 0, 13]).as_slice());
    let (s, v) = call_json(&svc, value_req("POST", &id), &json!({"points": [[1, 1], [5, 0]]})).await;
    assert_eq!((s, v["value"].clone()), (200, json!([6, 25])));
    let (s, v) = call_json(&svc, value_req("POST", &id), &json!({"select": "[0:2,0:2]"})).await;
    assert_eq!((s, v["value"].clone()), (200, json!([[0, 1], [5, 6]])));
    // Point write (h5pyd: JSON points + value_base64).
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(ints(&[-1, -2]));
    let (s, _) =
        call_json(&svc, value_req("PUT", &id), &json!({"points": [[0, 0], [5, 4]], "value_base64": b64})).await;
    assert_eq!(s, 200);
    let (_, v) = call_json(&svc, value_req("POST", &id), &json!({"points": [[0, 0], [5, 4], [0, 1]]})).await;
    assert_eq!(v["value"], json!([-1, -2, 1]));
    let (s, v) = call_json(
        &svc,
        value_req("PUT", &id).param("select", "[2,:]").param("element_count", "1"),
        &json!({"value": [3]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = call(&svc, value_req("GET", &id).param("select", "[2,:]")).await;
    assert_eq!(v["value"], json!([[3, 3, 3, 3, 3]]));
}

#[tokio::test]
async fn bad_writes_are_400_and_change_no_chunk() {
    let (svc, store) = setup().await;
    let id = dataset(&svc, json!({"type": "H5T_STD_U8LE", "shape": [10]})).await;
    let (s, _) = call_json(&svc, value_req("PUT", &id), &json!({"value": (0..10).collect::<Vec<u8>>()})).await;
    assert_eq!(s, 200);
    let before = store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().etag;
    let bad: Vec<Request> = vec![
        value_req("PUT", &id).header("content-type", "application/octet-stream").body(vec![1u8; 9]),
        value_req("PUT", &id)
            .param("select", "[0:11]")
            .header("content-type", "application/octet-stream")
            .body(vec![1u8; 11]),
        value_req("PUT", &id).json(&json!({"value": [1, 2, 3]})),
        value_req("PUT", &id).json(&json!({"value": [1, 2, 3, 4, 5, 6, 7, 8, 9, 300]})),
        value_req("PUT", &id).json(&json!({"value": ["a", 2, 3, 4, 5, 6, 7, 8, 9, 10]})),
        value_req("PUT", &id).json(&json!({"points": [[10]], "value": [1]})),
        value_req("PUT", &id).param("select", "[0:5:0]").json(&json!({"value": [1]})),
    ];
    for r in bad {
        let rsp = svc.handle(r).await;
        assert_eq!(rsp.status, 400, "{:?}", rsp.json_body());
    }
    assert_eq!(store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().etag, before);
    let (s, _) = call_json(
        &svc,
        req("PUT", &format!("/datasets/{id}/value"), Some("test_user2"), Some(DOM)),
        &json!({"value": 1}),
    )
    .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn compound_and_float_values_round_trip() {
    let (svc, _store) = setup().await;
    let ty = json!({"class": "H5T_COMPOUND", "fields": [{"name": "a", "type": "H5T_STD_I16LE"}, {"name": "b", "type": "H5T_IEEE_F64LE"}]});
    let id = dataset(&svc, json!({"type": ty, "shape": [3]})).await;
    let (s, _) = call_json(&svc, value_req("PUT", &id), &json!({"value": [[1, 0.5], [2, -1.25], [3, 1e10]]})).await;
    assert_eq!(s, 200);
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(v["value"], json!([[1, 0.5], [2, -1.25], [3, 1e10]]));
    let rsp =
        svc.handle(value_req("GET", &id).param("select", "[1:2]").header("accept", "application/octet-stream")).await;
    let mut want = 2i16.to_le_bytes().to_vec();
    want.extend((-1.25f64).to_le_bytes());
    assert_eq!(rsp.body.as_ref(), want.as_slice());
    let fid =
        dataset(&svc, json!({"type": "H5T_IEEE_F32LE", "shape": [3], "creationProperties": {"fillValue": "nan"}}))
            .await;
    let (_, v) = call(&svc, value_req("GET", &fid)).await;
    assert_eq!(v["value"], json!(["NaN", "NaN", "NaN"]));
    let (_, v) = call(&svc, value_req("GET", &fid).param("ignore_nan", "1")).await;
    assert_eq!(v["value"], json!([null, null, null]));
}

#[tokio::test]
async fn oversized_reads_get_413_naming_a_page_size() {
    let (svc, _store) = setup().await;
    let id = dataset(&svc, json!({"type": "H5T_IEEE_F64LE", "shape": [1000, 1000]})).await;
    let rsp = svc.handle(value_req("GET", &id).header("accept", "application/octet-stream")).await;
    assert_eq!(rsp.status, 413);
    let msg = rsp.json_body().unwrap()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("at most 362 rows"), "{msg}");
    let rsp = svc
        .handle(value_req("GET", &id).param("select", "[0:362,:]").header("accept", "application/octet-stream"))
        .await;
    assert_eq!(rsp.status, 200);
    assert_eq!(rsp.body.len(), 362 * 8000);
}

#[tokio::test]
async fn half_floats_and_enums_through_json() {
    let (svc, store) = setup().await;
    let id = dataset(&svc, json!({"type": "H5T_IEEE_F16LE", "shape": [3]})).await;
    let (s, v) = call_json(&svc, value_req("PUT", &id), &json!({"value": [1.5, -2.0, 65504.0]})).await;
    assert_eq!(s, 200, "{v}");
    // numpy float16 bytes: 1.5 = 0x3e00, -2 = 0xc000, 65504 = 0x7bff
    let c = store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().body;
    assert_eq!(c.as_ref(), &[0x00, 0x3e, 0x00, 0xc0, 0xff, 0x7b]);
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(v["value"], json!([1.5, -2.0, 65504.0]));
    let ty = json!({"class": "H5T_ENUM", "base": {"class": "H5T_INTEGER", "base": "H5T_STD_I8LE"}, "mapping": {"FALSE": 0, "TRUE": 1}});
    let id = dataset(&svc, json!({"type": ty, "shape": [2]})).await;
    let (s, _) = call_json(&svc, value_req("PUT", &id), &json!({"value": [true, false]})).await;
    assert_eq!(s, 200);
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(v["value"], json!([true, false]));
}

fn vstr() -> Value {
    json!({"class": "H5T_STRING", "charSet": "H5T_CSET_UTF8", "strPad": "H5T_STR_NULLTERM", "length": "H5T_VARIABLE"})
}

#[tokio::test]
async fn vlen_strings_store_hsds_chunk_bytes() {
    let (svc, store) = setup().await;
    let id = dataset(
        &svc,
        json!({"type": vstr(), "shape": [6], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [4]}}}),
    )
    .await;
    let (s, v) =
        call_json(&svc, value_req("PUT", &id).param("select", "[3:5]"), &json!({"value": ["ab", "héllo"]})).await;
    assert_eq!(s, 200, "{v}");
    // Exactly what HSDS 1.0.2 stored for this request (vlen: 4-byte count + UTF-8, unset = 00000000).
    let c0 = store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().body;
    assert_eq!(hex::encode(&c0), hsds_hex("vlen_strings", "chunk 0"));
    let c1 = store.get("hsdstest", &chunk_key(&id, "1")).await.unwrap().body;
    assert_eq!(hex::encode(&c1), hsds_hex("vlen_strings", "chunk 1"));
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(v["value"], json!(["", "", "", "ab", "héllo", ""]));
    let rsp = svc.handle(value_req("GET", &id).header("accept", "application/octet-stream")).await;
    assert_eq!(hex::encode(&rsp.body), hsds_hex("vlen_strings", "binary read"));
    // Binary write of one element (h5pyd 1.0: u32 length + bytes), then a read of part of a chunk.
    let r = value_req("PUT", &id)
        .param("select", "[0:1]")
        .header("content-type", "application/octet-stream")
        .body(hex::decode("03000000787a7a").unwrap());
    assert_eq!(svc.handle(r).await.status, 200);
    let (_, v) = call(&svc, value_req("GET", &id).param("select", "[0:5:2]")).await;
    assert_eq!(v["value"], json!(["xzz", "", "héllo"]));
    // Bodies that do not hold exactly the selected elements are refused (500, as HSDS 1.0.2 fails on them) and
    // change nothing.
    let etag = store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().etag;
    for body in ["0300000078", "03000000787a7a00", "ffffffff"] {
        let r = value_req("PUT", &id)
            .param("select", "[0:1]")
            .header("content-type", "application/octet-stream")
            .body(hex::decode(body).unwrap());
        assert_eq!(svc.handle(r).await.status, 500, "{body}");
    }
    assert_eq!(store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().etag, etag);
}

#[tokio::test]
async fn vlen_sequences_and_vlen_compounds() {
    let (svc, store) = setup().await;
    let vi = json!({"class": "H5T_VLEN", "base": {"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}});
    let id = dataset(&svc, json!({"type": vi, "shape": [3]})).await;
    let (s, _) =
        call_json(&svc, value_req("PUT", &id).param("select", "[0:2]"), &json!({"value": [[1, 2], [3]]})).await;
    assert_eq!(s, 200);
    let c = store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().body;
    assert_eq!(hex::encode(&c), hsds_hex("vlen_sequence", "chunk 0"));
    let r = value_req("PUT", &id)
        .param("select", "[1:3]")
        .header("content-type", "application/octet-stream")
        .body(hex::decode("0400000007000000080000000800000009000000").unwrap());
    assert_eq!(svc.handle(r).await.status, 200);
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(v["value"], json!([[1, 2], [7], [8, 9]]));
    let (_, v) = call_json(&svc, value_req("POST", &id), &json!({"points": [2, 0]})).await;
    assert_eq!(v["value"], json!([[8, 9], [1, 2]]));
    let ct = json!({"class": "H5T_COMPOUND", "fields": [{"name": "a", "type": "H5T_STD_I32LE"}, {"name": "s", "type": vstr()}]});
    let f = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]);
    let id = dataset(&svc, json!({"type": ct, "shape": [2], "creationProperties": {"filters": f}})).await;
    let (s, _) = call_json(&svc, value_req("PUT", &id).param("select", "[1:2]"), &json!({"value": [[5, "xy"]]})).await;
    assert_eq!(s, 200);
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(v["value"], json!([[0, ""], [5, "xy"]]));
    // HSDS 1.0.2 stored a blosc1 frame (typesize 1) of these 18 bytes.
    let c = store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().body;
    assert_eq!(&c[..2], &[2, 1]);
    assert_eq!(hex::encode(&c), hsds_hex("vlen_compound_deflate", "chunk 0"));
}

fn stock_type() -> Value {
    json!({"class": "H5T_COMPOUND", "fields": [
        {"name": "sym", "type": {"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII", "strPad": "H5T_STR_NULLPAD", "length": 4}},
        {"name": "open", "type": "H5T_IEEE_F32LE"},
        {"name": "vol", "type": "H5T_STD_I32LE"}]})
}

async fn stocks(svc: &Service) -> String {
    let id = dataset(svc, json!({"type": stock_type(), "shape": [8], "maxdims": [0], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [4]}}})).await;
    let rows = json!([
        ["AAPL", 1.5, 10],
        ["EBAY", 2.5, 20],
        ["AAPL", 3.5, 30],
        ["GOOG", 4.5, 40],
        ["EBAY", 5.5, 50],
        ["AAPL", 6.5, 60],
        ["GOOG", 7.5, 70],
        ["AAPL", 8.5, 80]
    ]);
    let (s, _) = call_json(svc, value_req("PUT", &id), &json!({"value": rows})).await;
    assert_eq!(s, 200);
    id
}

/// Requests and answers mirror what HSDS 1.0.2 returned for the same dataset (see the module docs).
#[tokio::test]
async fn queries_answer_rows_and_indices_like_hsds() {
    let (svc, _store) = setup().await;
    let id = stocks(&svc).await;
    let query_req =
        |q: &str| req("GET", &format!("/datasets/{id}/query"), Some("test_user1"), Some(DOM)).param("query", q);
    let (s, v) = call(&svc, value_req("GET", &id).param("query", "open > 3 AND vol < 70")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"], json!([["AAPL", 3.5, 30], ["GOOG", 4.5, 40], ["EBAY", 5.5, 50], ["AAPL", 6.5, 60]]));
    assert_eq!(v["status"], json!(200));
    let (_, v) = call(&svc, query_req("open > 3 AND vol < 70")).await;
    assert_eq!(v["indices"], json!([[2], [3], [4], [5]]));
    let (_, v) = call(&svc, value_req("GET", &id).param("query", "open > 3").param("Limit", "2")).await;
    assert_eq!(v["value"], json!([["AAPL", 3.5, 30], ["GOOG", 4.5, 40]]));
    let (_, v) = call(&svc, query_req("open > 3").param("select", "[2:6]")).await;
    assert_eq!(v["indices"], json!([[2], [3], [4], [5]]));
    let (_, v) = call(&svc, value_req("GET", &id).param("query", "open > 3").param("fields", "vol:sym")).await;
    assert_eq!(v["value"], json!([[30, "AAPL"], [40, "GOOG"], [50, "EBAY"], [60, "AAPL"], [70, "GOOG"], [80, "AAPL"]]));
    let (_, v) = call(&svc, query_req("open > 1 where sym in (b'EBAY', b'GOOG')")).await;
    assert_eq!(v["indices"], json!([[1], [3], [4], [6]]));
    let (_, v) = call(&svc, value_req("GET", &id).param("query", "open > 300")).await;
    assert_eq!(v["value"], json!([]));
    let (s, _) = call(&svc, req("GET", &format!("/datasets/{id}/query"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 400, "GET /query needs a query");
    // h5pyd 1.0 read_where: packed rows, no index (HSDS 1.0.2 bytes).
    let rsp = svc
        .handle(
            value_req("GET", &id)
                .param("query", "open > 3")
                .param("Limit", "2")
                .header("accept", "application/octet-stream"),
        )
        .await;
    assert_eq!(hex::encode(&rsp.body), hsds_hex("stock_query", "binary read"));
    for bad in ["nope > 1", "open >", "vol == 'x'", "(open > 1"] {
        let (s, v) = call(&svc, value_req("GET", &id).param("query", bad)).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}

/// HSDS 1.0.2 reads `fields`, `select`/`start`/`stop`/`step`, `element_count`, `append`, `query` and `Limit`
/// from a JSON body as well as from the query string (a POST with `fields` in the body once answered every
/// field).
#[tokio::test]
async fn parameters_in_the_json_body_act_as_in_the_query_string() {
    let (svc, _store) = setup().await;
    let id = stocks(&svc).await;
    let (s, v) = call_json(&svc, value_req("POST", &id), &json!({"points": [1, 3], "fields": "vol"})).await;
    assert_eq!((s, v["value"].clone()), (200, json!([[20], [40]])));
    let (_, v) = call_json(&svc, value_req("POST", &id), &json!({"start": 6, "stop": 8, "fields": "sym"})).await;
    assert_eq!(v["value"], json!([["GOOG"], ["AAPL"]]));
    let (s, _) = call_json(&svc, value_req("POST", &id).param("select", "[0:1]"), &json!({"select": "[1:2]"})).await;
    assert_eq!(s, 400, "select in both places");
    let (s, _) =
        call_json(&svc, value_req("PUT", &id), &json!({"fields": "vol", "select": "[0:2]", "value": [7, 8]})).await;
    assert_eq!(s, 200, "a one-field projection takes bare values");
    let (s, _) = call_json(
        &svc,
        value_req("PUT", &id),
        &json!({"fields": "open", "start": [2], "stop": [8], "value": [0.5], "element_count": 1}),
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = call(&svc, value_req("GET", &id).param("select", "[0:3]")).await;
    assert_eq!(v["value"], json!([["AAPL", 1.5, 7], ["EBAY", 2.5, 8], ["AAPL", 0.5, 30]]));
    let (s, v) = call_json(&svc, value_req("PUT", &id), &json!({"value": [["NEW", 1.0, 1]], "append": 1})).await;
    assert_eq!((s, v), (200, json!({})));
    let (_, v) = call(&svc, value_req("GET", &id).param("select", "[8:9]")).await;
    assert_eq!(v["value"], json!([["NEW", 1.0, 1]]));
    // a query in the body: HSDS passes the whole body on as the update, so its keys must be fields
    let (s, _) = call_json(&svc, value_req("PUT", &id), &json!({"query": "vol > 1", "vol": 2})).await;
    assert_eq!(s, 400);
    let (s, _) = call_json(&svc, value_req("PUT", &id), &json!({"value": [1], "element_count": "1"})).await;
    assert_eq!(s, 400, "element_count in a body must be a JSON integer");
}

/// `"fillValue": null` fills a float dataset with NaN (numpy's None), as HSDS 1.0.2; a variable-length
/// sequence of variable-length sequences can't be written (HSDS can neither write nor read it).
#[tokio::test]
async fn null_fill_values_and_vlen_of_vlen() {
    let (svc, _store) = setup().await;
    let id =
        dataset(&svc, json!({"type": "H5T_IEEE_F32LE", "shape": [2], "creationProperties": {"fillValue": null}})).await;
    let (_, v) = call(&svc, value_req("GET", &id).param("ignore_nan", "1")).await;
    assert_eq!(v["value"], json!([null, null]));
    let vv = json!({"class": "H5T_VLEN", "base": {"class": "H5T_VLEN", "base": "H5T_STD_I32LE"}});
    let id = dataset(&svc, json!({"type": vv, "shape": [1]})).await;
    // HSDS 1.0.2 fails on a JSON body (500) and refuses a binary one (400)
    let (s, v) = call_json(&svc, value_req("PUT", &id), &json!({"value": [[[1], [2, 3]]]})).await;
    assert_eq!((s, &v["error"]["bad_input"]), (500, &json!(true)), "{v}");
    let r = value_req("PUT", &id).header("content-type", "application/octet-stream").body(vec![0u8; 4]);
    assert_eq!(svc.handle(r).await.status, 400);
}

/// `regionref=`: checked as HSDS 1.0.2 checks it; a null reference reads as 204 and is refused on PUT; a
/// region reads and writes just its elements of the URL's dataset (never the whole dataset).
#[tokio::test]
async fn regionref_reads_and_writes_the_referenced_region() {
    let (svc, _store) = setup().await;
    let id = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [4]})).await;
    let rr =
        dataset(&svc, json!({"type": {"class": "H5T_REFERENCE", "base": "H5T_STD_REF_DSETREG"}, "shape": [2]})).await;
    let src = format!("/datasets/{rr}");
    for (regionref, select, want) in [
        ("/nope".to_string(), "[0]", 400),
        (format!("/datasets/{id}"), "[0]", 400),
        (format!("/datasets/{id}/attributes/nope"), "[0]", 404),
        (format!("/datasets/{}", id.replacen("d-", "g-", 1)), "[0]", 400),
        (src.clone(), "[0:2]", 400),
        (src.clone(), "[0]", 204),
    ] {
        let (s, v) = call(&svc, value_req("GET", &id).param("regionref", &regionref).param("select", select)).await;
        assert_eq!(s, want, "{regionref}: {v}");
    }
    let put = |select: &str| value_req("PUT", &id).param("regionref", &src).param("select", select);
    assert_eq!(call_json(&svc, put("[0]"), &json!({"value": [1, 2]})).await.0, 400, "a null reference");
    let refs = json!({"value": [
        {"id": id, "select_type": "H5S_SEL_POINTS", "selection": [[0], [3]]},
        {"id": id, "select_type": "H5S_SEL_HYPERSLABS", "selection": [[[1], [2]]]},
    ]});
    assert_eq!(call_json(&svc, value_req("PUT", &rr), &refs).await.0, 200);
    assert_eq!(call_json(&svc, value_req("PUT", &id), &json!({"value": [10, 11, 12, 13]})).await.0, 200);
    let (s, v) = call(&svc, value_req("GET", &id).param("regionref", &src).param("select", "[0]")).await;
    assert_eq!((s, &v["value"]), (200, &json!([10, 13])));
    assert_eq!(call_json(&svc, put("[1]"), &json!({"value": [-1, -2]})).await.0, 200);
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(v["value"], json!([10, -1, -2, 13]));
    let (_, v) = call(&svc, value_req("GET", &rr)).await;
    assert_eq!(v["value"][0]["id"], json!(id[2..]), "read back as HSDS shows it: the bare uuid");
}

/// `creationProperties.initializer = ["arange", ...]`: never-written chunks read, and are first written, as
/// HSDS's arange values; an initializer HSDS does not run leaves fill.
#[tokio::test]
async fn the_arange_initializer_fills_unwritten_chunks() {
    let (svc, _store) = setup().await;
    let cp = json!({"initializer": ["arange", "--start=3"], "layout": {"class": "H5D_CHUNKED", "dims": [4]}});
    let id = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [10], "creationProperties": cp})).await;
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(v["value"], json!([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    let (s, _) = call_json(&svc, value_req("PUT", &id).param("select", "[9:10]"), &json!({"value": [-1]})).await;
    assert_eq!(s, 200);
    let (_, v) = call(&svc, value_req("GET", &id).param("select", "[7:10]")).await;
    assert_eq!(v["value"], json!([10, 11, -1]));
    let cp = json!({"initializer": ["chunklocator"], "fillValue": 7});
    let id = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [2], "creationProperties": cp})).await;
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(v["value"], json!([7, 7]));
    let cp = json!({"initializer": ["arange"]});
    let id = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [2, 2], "creationProperties": cp})).await;
    let (s, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(s, 500, "arange needs a 1-D dataset (HSDS 1.0.2 fails on it): {v}");
}

/// HSDS runs a query chunk by chunk (grid order, C order inside a chunk): for a rank-2 dataset of 2×2
/// chunks the matches do not come in the C order of the whole dataset.
#[tokio::test]
async fn rank_2_queries_come_in_hsds_chunk_order() {
    let (svc, _store) = setup().await;
    let layout = json!({"class": "H5D_CHUNKED", "dims": [2, 2]});
    let id = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [4, 4], "creationProperties": {"layout": layout}}))
        .await;
    let value: Vec<Vec<i32>> = (0..4).map(|i| (0..4).map(|j| i * 4 + j).collect()).collect();
    let (s, _) = call_json(&svc, value_req("PUT", &id), &json!({"value": value})).await;
    assert_eq!(s, 200);
    let (s, v) = call(&svc, value_req("GET", &id).param("query", "_ > 5")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"], json!([6, 7, 8, 9, 12, 13, 10, 11, 14, 15]));
    let q = req("GET", &format!("/datasets/{id}/query"), Some("test_user1"), Some(DOM));
    let (_, v) = call(&svc, q.clone().param("query", "_ > 5").param("Limit", "3")).await;
    assert_eq!(v["indices"], json!([[1, 2], [1, 3], [2, 0]]));
    let rsp = svc.handle(q.param("query", "_ == 9").header("accept", "application/octet-stream")).await;
    assert_eq!(rsp.body.to_vec(), [2i64, 1].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
    // a query update of a non-compound dataset sets the body's value
    let (s, v) = call_json(&svc, value_req("PUT", &id).param("query", "_ >= 14"), &json!({"value": -1})).await;
    assert_eq!((s, v["indices"].clone()), (200, json!([[3, 2], [3, 3]])));
    let (_, v) = call(&svc, value_req("GET", &id).param("select", "[3,:]")).await;
    assert_eq!(v["value"], json!([[12, 13, -1, -1]]));
}

#[tokio::test]
async fn fields_reads_writes_and_query_updates() {
    let (svc, store) = setup().await;
    let id = stocks(&svc).await;
    let (_, v) = call(&svc, value_req("GET", &id).param("fields", "vol:sym").param("select", "[0:2]")).await;
    assert_eq!(v["value"], json!([[10, "AAPL"], [20, "EBAY"]]));
    let rsp = svc
        .handle(
            value_req("GET", &id)
                .param("fields", "vol")
                .param("select", "[0:2]")
                .header("accept", "application/octet-stream"),
        )
        .await;
    assert_eq!(hex::encode(&rsp.body), "0a00000014000000");
    let (s, _) = call_json(
        &svc,
        value_req("PUT", &id).param("fields", "vol").param("select", "[0:2]"),
        &json!({"value": [[100], [200]]}),
    )
    .await;
    assert_eq!(s, 200);
    let mut bin = 7i32.to_le_bytes().to_vec();
    bin.extend(b"ZZZZ");
    let r = value_req("PUT", &id)
        .param("fields", "vol:sym")
        .param("select", "[2:3]")
        .header("content-type", "application/octet-stream")
        .body(bin);
    assert_eq!(svc.handle(r).await.status, 200);
    let (_, v) = call(&svc, value_req("GET", &id).param("select", "[0:3]")).await;
    assert_eq!(v["value"], json!([["AAPL", 1.5, 100], ["EBAY", 2.5, 200], ["ZZZZ", 3.5, 7]]));
    let (s, _) = call(&svc, value_req("GET", &id).param("fields", "nope")).await;
    assert_eq!(s, 400);
    // Query update (HSDS 1.0.2 answers the indices).
    let (s, v) = call_json(&svc, value_req("PUT", &id).param("query", "sym == b'GOOG'"), &json!({"vol": 999})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["indices"], json!([[3], [6]]));
    let (_, v) = call_json(
        &svc,
        value_req("PUT", &id).param("query", "sym == b'AAPL'").param("Limit", "1"),
        &json!({"open": 0.25, "vol": 1}),
    )
    .await;
    assert_eq!(v["indices"], json!([[0]]));
    let (_, v) = call(&svc, value_req("GET", &id)).await;
    assert_eq!(
        v["value"],
        json!([
            ["AAPL", 0.25, 1],
            ["EBAY", 2.5, 200],
            ["ZZZZ", 3.5, 7],
            ["GOOG", 4.5, 999],
            ["EBAY", 5.5, 50],
            ["AAPL", 6.5, 60],
            ["GOOG", 7.5, 999],
            ["AAPL", 8.5, 80]
        ])
    );
    let before = store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().etag;
    for (q, body) in [
        ("where sym in (b'GOOG')", json!({"vol": 5})),
        ("vol > 1", json!({"nope": 5})),
        ("vol > 1", json!({"vol": "x"})),
        ("vol >", json!({"vol": 1})),
    ] {
        let (s, v) = call_json(&svc, value_req("PUT", &id).param("query", q), &body).await;
        assert_eq!(s, 400, "{q} {body}: {v}");
    }
    assert_eq!(store.get("hsdstest", &chunk_key(&id, "0")).await.unwrap().etag, before);
}

#[tokio::test]
async fn append_extends_then_writes() {
    let (svc, store) = setup().await;
    let id = stocks(&svc).await;
    let (s, v) =
        call_json(&svc, value_req("PUT", &id).param("append", "1"), &json!({"value": [["ZZZZ", 9.5, 90]]})).await;
    assert_eq!((s, v), (200, json!({})));
    let (s, v) = call_json(
        &svc,
        value_req("PUT", &id).param("append", "2").param("append_dim", "0"),
        &json!({"value": [["YYYY", 9.5, 90], ["XXXX", 1, 2]]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = call(&svc, req("GET", &format!("/datasets/{id}/shape"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(v["shape"]["dims"], json!([11]));
    let (_, v) = call(&svc, value_req("GET", &id).param("select", "[8:11]")).await;
    assert_eq!(v["value"], json!([["ZZZZ", 9.5, 90], ["YYYY", 9.5, 90], ["XXXX", 1.0, 2]]));
    // Bad appends change neither the shape nor any chunk.
    let fixed = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [4], "maxdims": [5]})).await;
    for (params, body) in [
        (vec![("append", "2")], json!({"value": [1, 2]})), // past maxdims: 409
        (vec![("append", "1")], json!({"value": [1, 2]})), // wrong count
        (vec![("append", "0")], json!({"value": []})),
        (vec![("append", "1"), ("append_dim", "1")], json!({"value": [1]})),
        (vec![("append", "1"), ("select", "[0:1]")], json!({"value": [1]})),
    ] {
        let mut r = value_req("PUT", &fixed);
        for (k, v) in &params {
            r = r.param(k, v);
        }
        let (s, v) = call_json(&svc, r, &body).await;
        assert!(s == 400 || s == 409, "{params:?}: {s} {v}");
        if params[0].1 == "2" {
            assert_eq!(s, 409);
        }
    }
    let (_, v) = call(&svc, req("GET", &format!("/datasets/{fixed}/shape"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(v["shape"]["dims"], json!([4]));
    assert!(store.get("hsdstest", &chunk_key(&fixed, "0")).await.is_err());
}

/// Every kind of bad input gets a clear 400/409/413 and leaves every chunk and the shape as they were.
#[tokio::test]
async fn bad_input_is_rejected_with_clear_errors_and_no_chunk_changes() {
    let (svc, store) = setup().await;
    let id = stocks(&svc).await;
    let snapshot = |store: std::sync::Arc<MemoryStore>, id: String| async move {
        let mut tags = Vec::new();
        for e in store.list_all("hsdstest", &chunk_key(&id, "")).await.unwrap() {
            tags.push((e.key.clone(), store.get("hsdstest", &e.key).await.unwrap().etag));
        }
        tags
    };
    let before = snapshot(store.clone(), id.clone()).await;
    let row = json!([["ABCD", 1.0, 1]]);
    let bin = |r: Request, body: Vec<u8>| r.header("content-type", "application/octet-stream").body(body);
    let cases: Vec<(u16, Request)> = vec![
        (400, value_req("GET", &id).param("select", "[0:9]")),
        (400, value_req("GET", &id).param("select", "[5:3]")),
        (400, value_req("GET", &id).param("select", "[0:4,0:1]")),
        (400, value_req("GET", &id).param("select", "[0:4:0]")),
        (400, value_req("GET", &id).param("select", "[0:4:-1]")),
        (400, value_req("GET", &id).param("select", "[a:b]")),
        (400, value_req("GET", &id).param("select", "0:4")),
        (400, value_req("GET", &id).param("fields", "sym:nope")),
        (400, value_req("GET", &id).param("query", "vol >> 3")),
        (400, value_req("GET", &id).param("query", "open > 1").param("Limit", "x")),
        (400, value_req("PUT", &id).param("select", "[0:1]").json(&json!({"value": [["ABCD", "x", 1]]}))),
        (400, value_req("PUT", &id).param("select", "[0:2]").json(&json!({"value": row}))),
        (400, value_req("PUT", &id).param("select", "[0:1]").json(&json!({"value_base64": "not base64!"}))),
        (400, value_req("PUT", &id).param("select", "[0:1]").json(&json!({"value_base64": "AAAA"}))),
        (400, value_req("PUT", &id).param("select", "[0:1]").json(&json!({"nothing": 1}))),
        (400, value_req("PUT", &id).json(&json!({"points": [[8]], "value": row}))),
        (400, value_req("PUT", &id).json(&json!({"points": [[1, 1]], "value": row}))),
        (400, value_req("PUT", &id).param("fields", "vol").param("select", "[0:1]").json(&json!({"value": [["x"]]}))),
        (400, bin(value_req("PUT", &id).param("select", "[0:1]"), vec![0; 11])),
        (400, bin(value_req("PUT", &id).param("select", "[0:1]").param("fields", "vol"), vec![0; 12])),
        (400, bin(value_req("POST", &id), vec![0; 7])),
        (400, bin(value_req("POST", &id), 9u64.to_le_bytes().to_vec())),
        (400, value_req("PUT", &id).param("select", "[0:1]").param("element_count", "2").json(&json!({"value": row}))),
        (400, value_req("PUT", &id).param("select", "[0:1]").param("element_count", "x").json(&json!({"value": row}))),
        (400, value_req("PUT", &id).param("append", "-1").json(&json!({"value": row}))),
        (400, value_req("PUT", &id).param("append", "1").param("append_dim", "1").json(&json!({"value": row}))),
        (400, value_req("PUT", &id).body("{not json")),
    ];
    for (want, r) in cases {
        let desc = format!("{} {:?}", r.method, r.params);
        let rsp = svc.handle(r).await;
        let body = rsp.json_body().unwrap_or(Value::Null);
        assert_eq!(rsp.status, want, "{desc}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.len() > 10, "{desc}: unclear message {body}");
    }
    assert_eq!(snapshot(store.clone(), id.clone()).await, before);
    // Shape changes: below 0 and past maxdims.
    let fixed = dataset(&svc, json!({"type": "H5T_STD_I32LE", "shape": [4], "maxdims": [6]})).await;
    let shape_req = || req("PUT", &format!("/datasets/{fixed}/shape"), Some("test_user1"), Some(DOM));
    for (want, body) in [
        (400, json!({"shape": [-1]})),
        (409, json!({"shape": [7]})),
        (409, json!({"extend": 3})),
        (400, json!({"extend": -2})),
    ] {
        let (s, v) = call_json(&svc, shape_req(), &body).await;
        assert_eq!(s, want, "{body}: {v}");
    }
    let (_, v) = call(&svc, req("GET", &format!("/datasets/{fixed}/shape"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(v["shape"]["dims"], json!([4]));
}
