//! Warm-instance metadata reads: domain and object JSON are cached across invocations and validated by
//! ETag on every use, so a warm read moves no body, yet another instance's write is seen at once and
//! the ACLs of the current domain JSON always apply. Warm value reads ask about their cached chunks while
//! they read the domain and the dataset, and still see another instance's writes, resizes and deletes.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use hsds_handler::store::{ETag, ListOptions, Listing, MemoryStore, Object, PutMode, Store, StoreResult};
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

/// A warm value read asks the store about its cached chunks while it reads the domain and the dataset (the
/// layout this instance read before names them), uses that answer instead of asking again, and still sees at
/// once what another instance wrote, resized or deleted.
#[tokio::test]
async fn warm_value_reads_revalidate_early_and_see_other_instances_changes() {
    let (a, b, store, _) = setup().await;
    let (_, dom) = call(&a, req("GET", "/", Some("test_user1"), Some(DOM))).await;
    let body = json!({
        "type": "H5T_STD_I32LE", "shape": [8, 8], "maxdims": [16, 8],
        "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [4, 4]}},
        "link": {"id": dom["root"], "name": "d"},
    });
    let (s, d) = call_json(&a, req("POST", "/datasets", Some("test_user1"), Some(DOM)), &body).await;
    assert_eq!(s, 201, "{d}");
    let path = format!("/datasets/{}/value", d["id"].as_str().unwrap());
    let write = |svc, select, v, rows, cols| write_rows(svc, &path, select, v, rows, cols);
    let read = |svc, select| read_value(svc, &path, select);
    write(&a, "[0:8,0:8]", 1, 8, 8).await;
    assert_eq!(read(&a, "[0:8,0:8]").await, (200, json!(vec![vec![1; 8]; 8])));

    // Warm: one LIST (asked early, not again by the read), the domain and the dataset "not modified", no body.
    store.take_list_count();
    store.take_get_counts();
    assert_eq!(read(&a, "[0:8,0:8]").await, (200, json!(vec![vec![1; 8]; 8])));
    assert_eq!((store.take_list_count(), store.take_get_counts()), (1, (0, 2)));
    // One cached chunk: its conditional GET is the early question, not repeated by the read.
    assert_eq!(read(&a, "[0:4,0:4]").await, (200, json!(vec![vec![1; 4]; 4])));
    assert_eq!((store.take_list_count(), store.take_get_counts()), (0, (0, 3)));

    // Another instance rewrites everything: the early answer names the new chunks, which are read.
    write(&b, "[0:8,0:8]", 2, 8, 8).await;
    assert_eq!(read(&a, "[0:8,0:8]").await, (200, json!(vec![vec![2; 8]; 8])));
    write(&b, "[0:4,0:4]", 3, 4, 4).await;
    assert_eq!(read(&a, "[0:4,0:4]").await, (200, json!(vec![vec![3; 4]; 4])));

    // Resized by the other instance: a selection the remembered extent does not hold is read as usual, and
    // the next one (remembered anew) early again.
    let shape = req("PUT", &path.replace("/value", "/shape"), Some("test_user1"), Some(DOM));
    assert_eq!(call_json(&b, shape, &json!({"shape": [12, 8]})).await.0, 201);
    write(&b, "[8:12,0:8]", 4, 4, 8).await;
    let mut expect = vec![vec![2; 8]; 12];
    for row in &mut expect[8..] {
        *row = vec![4; 8];
    }
    assert_eq!(read(&a, "[4:12,0:8]").await, (200, json!(expect[4..])));
    write(&b, "[10:12,0:8]", 5, 2, 8).await;
    for row in &mut expect[10..] {
        *row = vec![5; 8];
    }
    assert_eq!(read(&a, "[4:12,0:8]").await, (200, json!(expect[4..])));

    // Deleted by the other instance: 410, whatever was learnt early.
    let dataset = path.replace("/value", "");
    assert_eq!(call(&b, req("DELETE", &dataset, Some("test_user1"), Some(DOM))).await.0, 200);
    assert_eq!(read(&a, "[0:8,0:8]").await.0, 410);
}

/// Writes `rows` × `cols` elements of value `v` into `select` of the dataset values at `path`.
async fn write_rows(svc: &Service, path: &str, select: &str, v: i32, rows: usize, cols: usize) {
    let r = req("PUT", path, Some("test_user1"), Some(DOM)).param("select", select);
    assert_eq!(call_json(svc, r, &json!({"value": vec![vec![v; cols]; rows]})).await.0, 200);
}

/// Status and `value` of a JSON read of `select` of the dataset values at `path`.
async fn read_value(svc: &Service, path: &str, select: &str) -> (u16, serde_json::Value) {
    let (s, v) = call(svc, req("GET", path, Some("test_user1"), Some(DOM)).param("select", select)).await;
    (s, v["value"].clone())
}

/// A store whose metadata answers take a while (as S3's do), logging when they end and when LISTs begin.
struct SlowMetadata {
    inner: Arc<MemoryStore>,
    log: std::sync::Mutex<Vec<&'static str>>,
}

#[async_trait::async_trait]
impl Store for SlowMetadata {
    async fn get(&self, bucket: &str, key: &str) -> StoreResult<Object> {
        self.inner.get(bucket, key).await
    }
    async fn get_if_none_match(&self, bucket: &str, key: &str, etag: &str) -> StoreResult<Option<Object>> {
        if !key.ends_with(".json") {
            return self.inner.get_if_none_match(bucket, key, etag).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let out = self.inner.get_if_none_match(bucket, key, etag).await;
        self.log.lock().unwrap().push("metadata answered");
        out
    }
    async fn get_range(&self, bucket: &str, key: &str, offset: u64, len: u64) -> StoreResult<Bytes> {
        self.inner.get_range(bucket, key, offset, len).await
    }
    async fn put(&self, bucket: &str, key: &str, body: Bytes, mode: PutMode) -> StoreResult<ETag> {
        self.inner.put(bucket, key, body, mode).await
    }
    async fn list(&self, bucket: &str, opts: ListOptions<'_>) -> StoreResult<Listing> {
        self.log.lock().unwrap().push("LIST asked");
        self.inner.list(bucket, opts).await
    }
    async fn delete(&self, bucket: &str, key: &str) -> StoreResult<()> {
        self.inner.delete(bucket, key).await
    }
}

/// The early question is asked while the metadata is still on its way: a warm read waits for one round trip
/// to the store, not two.
#[tokio::test]
async fn a_warm_read_lists_its_chunks_while_reading_the_metadata() {
    let (a, _, store, _) = setup().await;
    let slow = Arc::new(SlowMetadata { inner: store, log: Default::default() });
    let mut c = Service::new(slow.clone(), Config::default()).expect("service");
    c.users.load_passwd(PASSWD).expect("passwd");
    let (_, dom) = call(&a, req("GET", "/", Some("test_user1"), Some(DOM))).await;
    let body = json!({
        "type": "H5T_STD_I32LE", "shape": [8, 8],
        "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [4, 4]}},
        "link": {"id": dom["root"], "name": "d"},
    });
    let (_, d) = call_json(&a, req("POST", "/datasets", Some("test_user1"), Some(DOM)), &body).await;
    let path = format!("/datasets/{}/value", d["id"].as_str().unwrap());
    write_rows(&c, &path, "[0:8,0:8]", 7, 8, 8).await;
    assert_eq!(read_value(&c, &path, "[0:8,0:8]").await.0, 200);
    slow.log.lock().unwrap().clear();
    assert_eq!(read_value(&c, &path, "[0:8,0:8]").await, (200, json!(vec![vec![7; 8]; 8])));
    let log = slow.log.lock().unwrap().clone();
    assert_eq!(log, ["LIST asked", "metadata answered", "metadata answered"], "{log:?}");
}
