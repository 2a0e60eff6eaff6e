//! Reading `H5D_CHUNKED_REF_INDIRECT` datasets: chunks are byte ranges of HDF5 files in the store, located
//! through a chunk table dataset (offset, size[, file_uri]) built here as HSDS (and h5pyd's hsload) would.

mod common;

use std::io::Write;

use bytes::Bytes;
use common::*;
use hsds_handler::store::{MemoryStore, PutMode, Store};
use hsds_handler::Service;
use serde_json::{json, Value};

const DOM: &str = "/home/test_user1/linked.h5";

async fn setup() -> (Service, std::sync::Arc<MemoryStore>) {
    let (svc, store) = service();
    user_domain(&svc, DOM).await;
    (svc, store)
}

async fn create(svc: &Service, body: Value) -> String {
    let (s, v) = call_json(svc, req("POST", "/datasets", Some("test_user1"), Some(DOM)), &body).await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// A chunk table dataset of `shape` holding `entries` (JSON `[offset, size, file_uri]` rows in C order).
async fn chunk_table(svc: &Service, shape: &[u64], entries: Value) -> String {
    let ty = json!({"class": "H5T_COMPOUND", "fields": [
        {"name": "offset", "type": "H5T_STD_I64LE"},
        {"name": "size", "type": "H5T_STD_I32LE"},
        {"name": "file_uri", "type": {"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII",
            "strPad": "H5T_STR_NULLPAD", "length": 32}}]});
    let id = create(svc, json!({"type": ty, "shape": shape})).await;
    let path = format!("/datasets/{id}/value");
    let (s, v) = call_json(svc, req("PUT", &path, Some("test_user1"), Some(DOM)), &json!({"value": entries})).await;
    assert_eq!(s, 200, "{v}");
    id
}

fn ints(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn zlib(raw: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(raw).unwrap();
    e.finish().unwrap()
}

/// The values of an HDF5 chunk of `rows` x `cols` starting at (`r0`, `c0`) of a dataset holding `10 i + j`.
fn block(r0: i32, c0: i32, rows: i32, cols: i32) -> Vec<u8> {
    ints(&(0..rows).flat_map(|i| (0..cols).map(move |j| (r0 + i) * 10 + c0 + j)).collect::<Vec<_>>())
}

/// A fake HDF5 file: `header` junk bytes, then the chunks; returns (offset, size) of each chunk.
async fn put_file(store: &MemoryStore, key: &str, chunks: &[Vec<u8>]) -> Vec<(u64, u64)> {
    let mut file = vec![0xAB; 96];
    let mut at = Vec::new();
    for c in chunks {
        at.push((file.len() as u64, c.len() as u64));
        file.extend_from_slice(c);
        file.extend_from_slice(&[0xCD; 7]);
    }
    store.put("hsdstest", key, Bytes::from(file), PutMode::Overwrite).await.unwrap();
    at
}

fn get_value(id: &str, select: Option<&str>) -> hsds_handler::Request {
    let r = req("GET", &format!("/datasets/{id}/value"), Some("test_user1"), Some(DOM));
    match select {
        Some(s) => r.param("select", s),
        None => r,
    }
}

#[tokio::test]
async fn chunks_are_read_from_the_files_the_chunk_table_names() {
    let (svc, store) = setup().await;
    // (6, 4) int32 in (3, 2) chunks, deflate: chunk 0_0 and 0_1 in f.h5, 1_0 in g.h5, 1_1 never written.
    let f = put_file(&store, "files/f.h5", &[zlib(&block(0, 0, 3, 2)), zlib(&block(0, 2, 3, 2))]).await;
    let g = put_file(&store, "files/g.h5", &[zlib(&block(3, 0, 3, 2))]).await;
    let table = chunk_table(
        &svc,
        &[2, 2],
        json!([
            [[f[0].0, f[0].1, "s3://hsdstest/files/f.h5"], [f[1].0, f[1].1, "s3://hsdstest/files/f.h5"]],
            [[g[0].0, g[0].1, "hsdstest/files/g.h5"], [0, 0, ""]]
        ]),
    )
    .await;
    let layout = json!({"class": "H5D_CHUNKED_REF_INDIRECT", "dims": [3, 2], "chunk_table": table});
    let filters = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 6}]);
    let id = create(
        &svc,
        json!({"type": "H5T_STD_I32LE", "shape": [6, 4],
            "creationProperties": {"layout": layout, "filters": filters, "fillValue": 7}}),
    )
    .await;
    let (s, v) = call(&svc, get_value(&id, None)).await;
    assert_eq!(s, 200, "{v}");
    let expect: Vec<Vec<i32>> =
        (0..6).map(|i| (0..4).map(|j| if i >= 3 && j >= 2 { 7 } else { i * 10 + j }).collect()).collect();
    assert_eq!(v["value"], json!(expect));
    // A binary read across all four chunks.
    let rsp = svc.handle(get_value(&id, Some("[2:5,1:3]")).header("accept", "application/octet-stream")).await;
    assert_eq!(rsp.status, 200);
    assert_eq!(rsp.body.as_ref(), ints(&[21, 22, 31, 7, 41, 7]).as_slice());
}

#[tokio::test]
async fn hyper_dims_aggregate_several_hdf5_chunks_into_one() {
    let (svc, store) = setup().await;
    // One (4, 6) HSDS chunk made of (2, 3) HDF5 chunks, unfiltered; the file_uri comes from the layout,
    // the table's third field is ignored; HDF5 chunk (1, 1) was never written.
    let f = put_file(&store, "h.h5", &[block(0, 0, 2, 3), block(0, 3, 2, 3), block(2, 0, 2, 3)]).await;
    let table = chunk_table(
        &svc,
        &[2, 2],
        json!([[[f[0].0, f[0].1, "nowhere/x"], [f[1].0, f[1].1, ""]], [[f[2].0, f[2].1, ""], [0, 0, ""]]]),
    )
    .await;
    let layout = json!({"class": "H5D_CHUNKED_REF_INDIRECT", "dims": [4, 6], "hyper_dims": [2, 3],
        "chunk_table": table, "file_uri": "s3://hsdstest/h.h5"});
    let id =
        create(&svc, json!({"type": "H5T_STD_I32LE", "shape": [4, 6], "creationProperties": {"layout": layout}})).await;
    let (s, v) = call(&svc, get_value(&id, None)).await;
    assert_eq!(s, 200, "{v}");
    let expect: Vec<Vec<i32>> =
        (0..4).map(|i| (0..6).map(|j| if i >= 2 && j >= 3 { 0 } else { i * 10 + j }).collect()).collect();
    assert_eq!(v["value"], json!(expect));
    let (s, v) = call(&svc, get_value(&id, Some("[1:3,2:4]"))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"], json!([[12, 13], [22, 0]]));
}

#[tokio::test]
async fn bad_chunk_tables_are_400_or_404_with_a_reason() {
    let (svc, store) = setup().await;
    let f = put_file(&store, "files/f.h5", &[block(0, 0, 2, 2)]).await;
    let table = chunk_table(&svc, &[2, 2], json!([[[f[0].0, f[0].1, ""], [0, 0, ""]], [[0, 0, ""], [0, 0, ""]]])).await;
    let indirect = |extra: Value| {
        let mut layout = json!({"class": "H5D_CHUNKED_REF_INDIRECT", "dims": [2, 2], "chunk_table": table});
        layout.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"type": "H5T_STD_I32LE", "shape": [4, 4], "creationProperties": {"layout": layout}})
    };
    // No file_uri in the layout nor in the table entry of a chunk that has data.
    let id = create(&svc, indirect(json!({}))).await;
    let (s, v) = call(&svc, get_value(&id, None)).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("file_uri"), "{v}");
    // Chunks without data need no file.
    let (s, v) = call(&svc, get_value(&id, Some("[2:4,0:4]"))).await;
    assert_eq!((s, v["value"].clone()), (200, json!([[0, 0, 0, 0], [0, 0, 0, 0]])));
    // hyper_dims that do not divide the chunk dims.
    let id = create(&svc, indirect(json!({"hyper_dims": [3, 2], "file_uri": "hsdstest/files/f.h5"}))).await;
    let (s, v) = call(&svc, get_value(&id, None)).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("hyper_dims"), "{v}");
    // A chunk table of another rank.
    let flat = chunk_table(&svc, &[4], json!([[0, 0, ""], [0, 0, ""], [0, 0, ""], [0, 0, ""]])).await;
    let layout = json!({"class": "H5D_CHUNKED_REF_INDIRECT", "dims": [2, 2], "chunk_table": flat});
    let id =
        create(&svc, json!({"type": "H5T_STD_I32LE", "shape": [4, 4], "creationProperties": {"layout": layout}})).await;
    let (s, v) = call(&svc, get_value(&id, None)).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("rank"), "{v}");
    // A chunk table that was deleted.
    let id = create(&svc, indirect(json!({"file_uri": "hsdstest/files/f.h5"}))).await;
    let (s, _) = call(&svc, req("DELETE", &format!("/datasets/{table}"), Some("test_user1"), Some(DOM))).await;
    assert_eq!(s, 200);
    let (s, v) = call(&svc, get_value(&id, None)).await;
    assert_eq!(s, 410, "{v}"); // the table is Gone, as any deleted object
}
