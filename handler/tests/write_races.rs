//! Writes that race a DELETE or a shrink of their object, and writes that cannot win their compare-and-swap
//! before the deadline: the answer is a clear 410 / 409 / 404 / 503, and the store never keeps an orphan
//! chunk, a chunk outside the current shape, a resurrected object or a half-applied update.
//!
//! The other invocation is simulated deterministically by a store wrapper that acts just before this
//! request's first put of a chosen key (as if the other request had won the race at that moment).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use common::{call, call_json, req, PASSWD};
use hsds_handler::deadline::{with_deadline, MARGIN};
use hsds_handler::model::ObjId;
use hsds_handler::store::json::{get_json, put_json};
use hsds_handler::store::retry::CLEANUP_RESERVE;
use hsds_handler::store::{ETag, ListOptions, Listing, MemoryStore, Object, PutMode, Store, StoreError, StoreResult};
use hsds_handler::{Config, Service};
use serde_json::{json, Value};

const BUCKET: &str = "hsdstest";
/// Time a never-winning write may spend losing before it gives up (503): generous, so that a stalled
/// scheduler does not use it all up and make the deadline answer (504) instead.
const CONTENTION: Duration = Duration::from_secs(3);
const DOMAIN: &str = "/home/test_user1/races.h5";

type Trigger = Box<dyn Fn(&str) -> bool + Send + Sync>;
type Action = Box<dyn FnOnce(&MemoryStore) + Send>;

/// A store that lets another (simulated) writer act at a chosen moment.
struct Interfering {
    inner: Arc<MemoryStore>,
    /// Runs once, just before the first put of a key the trigger accepts.
    before_put: Mutex<Option<(Trigger, Action)>>,
    /// Every conditional put of a key this accepts fails, as if another writer always got there first.
    always_lose: Option<Trigger>,
}

#[async_trait]
impl Store for Interfering {
    async fn get(&self, bucket: &str, key: &str) -> StoreResult<Object> {
        self.inner.get(bucket, key).await
    }
    async fn get_if_none_match(&self, bucket: &str, key: &str, etag: &str) -> StoreResult<Option<Object>> {
        self.inner.get_if_none_match(bucket, key, etag).await
    }
    async fn get_range(&self, bucket: &str, key: &str, offset: u64, len: u64) -> StoreResult<Bytes> {
        self.inner.get_range(bucket, key, offset, len).await
    }
    async fn put(&self, bucket: &str, key: &str, body: Bytes, mode: PutMode) -> StoreResult<ETag> {
        let action = {
            let mut hook = self.before_put.lock().unwrap();
            match hook.as_ref() {
                Some((trigger, _)) if trigger(key) => hook.take().map(|(_, a)| a),
                _ => None,
            }
        };
        if let Some(action) = action {
            action(&self.inner);
        }
        if self.always_lose.as_ref().is_some_and(|lose| lose(key)) && mode != PutMode::Overwrite {
            return Err(StoreError::Precondition(key.to_string()));
        }
        self.inner.put(bucket, key, body, mode).await
    }
    async fn list(&self, bucket: &str, opts: ListOptions<'_>) -> StoreResult<Listing> {
        self.inner.list(bucket, opts).await
    }
    async fn delete(&self, bucket: &str, key: &str) -> StoreResult<()> {
        self.inner.delete(bucket, key).await
    }
}

/// A service over `store` with the HSDS test users.
fn service_over(store: Arc<dyn Store>) -> Service {
    let mut svc = Service::new(store, Config::default()).expect("service");
    svc.users.load_passwd(PASSWD).expect("passwd");
    svc
}

/// A plain service with `/home/test_user1/races.h5`; returns it, its store and the root group id.
async fn setup() -> (Service, Arc<MemoryStore>, String) {
    let store = Arc::new(MemoryStore::new());
    let svc = service_over(store.clone());
    for (d, owner) in [("/home", None), ("/home/test_user1", Some("test_user1"))] {
        let body = owner.map_or(json!({"folder": true}), |o| json!({"folder": true, "owner": o}));
        assert_eq!(call_json(&svc, req("PUT", "/", Some("admin"), Some(d)), &body).await.0, 201);
    }
    let (s, v) = call_json(&svc, req("PUT", "/", Some("test_user1"), Some(DOMAIN)), &json!({})).await;
    assert_eq!(s, 201);
    (svc, store, v["root"].as_str().unwrap().to_string())
}

async fn create_dataset(svc: &Service, spec: Value) -> ObjId {
    let (s, v) = call_json(svc, req("POST", "/datasets", Some("test_user1"), Some(DOMAIN)), &spec).await;
    assert_eq!(s, 201, "{v}");
    ObjId::parse(v["id"].as_str().unwrap()).unwrap()
}

/// The same store seen through a wrapper that runs `action` before the first put `trigger` accepts.
fn interfering(store: &Arc<MemoryStore>, trigger: Trigger, action: Action, always_lose: Option<Trigger>) -> Service {
    service_over(Arc::new(Interfering {
        inner: store.clone(),
        before_put: Mutex::new(Some((trigger, action))),
        always_lose,
    }))
}

/// The same store seen through a wrapper where every conditional put of a key `lose` accepts fails.
fn never_wins(store: &Arc<MemoryStore>, lose: Trigger) -> Service {
    interfering(store, Box::new(|_: &str| false), Box::new(|_: &MemoryStore| {}), Some(lose))
}

/// Every key of the bucket with its ETag.
fn snapshot(store: &MemoryStore) -> Vec<(String, ETag)> {
    store.keys(BUCKET).into_iter().map(|k| (k.clone(), store.get_now_etag(BUCKET, &k))).collect()
}

/// Keys of the dataset's chunk objects.
fn chunk_keys(store: &MemoryStore, id: &ObjId) -> Vec<String> {
    let dir = format!("{}/", id.object_dir());
    store.keys(BUCKET).into_iter().filter(|k| k.starts_with(&dir) && !k.ends_with("json")).collect()
}

fn is_chunk_of(id: &ObjId) -> Trigger {
    let dir = format!("{}/", id.object_dir());
    Box::new(move |k: &str| k.starts_with(&dir) && !k.ends_with("json"))
}

fn put_value(id: &ObjId, select: &str, value: Value) -> hsds_handler::Request {
    req("PUT", &format!("/datasets/{id}/value"), Some("test_user1"), Some(DOMAIN))
        .param("select", select)
        .json(&json!({ "value": value }))
}

#[tokio::test]
async fn a_write_racing_a_dataset_delete_answers_410_and_leaves_no_chunk() {
    let (svc, store, _) = setup().await;
    let id = create_dataset(
        &svc,
        json!({"type": "H5T_STD_I32LE", "shape": [20], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [10]}}}),
    )
    .await;
    // The DELETE removes the dataset's JSON (its first step) just as this write puts its first chunk.
    let json_key = id.s3_key();
    let racing =
        interfering(&store, is_chunk_of(&id), Box::new(move |s: &MemoryStore| s.delete_now(BUCKET, &json_key)), None);
    let (status, body) = call(&racing, put_value(&id, "[0:20]", json!((1..=20).collect::<Vec<i32>>()))).await;
    assert_eq!(status, 410, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("was deleted while this write was in flight"));
    assert_eq!(chunk_keys(&store, &id), Vec::<String>::new(), "no orphan chunk");
    let (s, _) = call(&svc, req("GET", &format!("/datasets/{id}"), Some("test_user1"), Some(DOMAIN))).await;
    assert_eq!(s, 404, "the dataset is not resurrected");
}

#[tokio::test]
async fn a_dataset_delete_after_the_write_confirmed_removes_its_chunks() {
    let (svc, store, _) = setup().await;
    let id = create_dataset(
        &svc,
        json!({"type": "H5T_STD_I32LE", "shape": [20], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [10]}}}),
    )
    .await;
    assert_eq!(call(&svc, put_value(&id, "[0:20]", json!(vec![3; 20]))).await.0, 200);
    assert_eq!(chunk_keys(&store, &id).len(), 2);
    let del = req("DELETE", &format!("/datasets/{id}"), Some("test_user1"), Some(DOMAIN));
    assert_eq!(call(&svc, del).await.0, 200);
    assert_eq!(chunk_keys(&store, &id), Vec::<String>::new());
    assert!(!store.keys(BUCKET).contains(&id.s3_key()));
}

#[tokio::test]
async fn a_write_racing_a_shrink_answers_409_and_keeps_nothing_outside_the_new_shape() {
    let (svc, store, _) = setup().await;
    let id = create_dataset(
        &svc,
        json!({"type": "H5T_STD_I32LE", "shape": [40], "maxdims": [40],
               "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [10]}}}),
    )
    .await;
    // A PUT /shape to [15] swaps the JSON (and trims the chunks it finds: none yet) as this write starts
    // putting chunks that were planned for the old extent.
    let json_key = id.s3_key();
    let shrink = Box::new(move |s: &MemoryStore| {
        let mut doc = s.get_now(BUCKET, &json_key);
        doc["shape"]["dims"] = json!([15]);
        s.put_now(BUCKET, &json_key, &doc);
    });
    let racing = interfering(&store, is_chunk_of(&id), shrink, None);
    let (status, body) = call(&racing, put_value(&id, "[10:30]", json!(vec![1; 20]))).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("resized to [15]"), "{body}");
    let chunks = chunk_keys(&store, &id);
    assert_eq!(chunks.len(), 1, "only chunk 1 (elements 10..20) overlaps the new shape: {chunks:?}");
    // Grow back: the elements beyond 15 read as fill, never the stale values of the refused write.
    let grow = req("PUT", &format!("/datasets/{id}/shape"), Some("test_user1"), Some(DOMAIN));
    assert_eq!(call_json(&svc, grow, &json!({"shape": [40]})).await.0, 201);
    let read = req("GET", &format!("/datasets/{id}/value"), Some("test_user1"), Some(DOMAIN)).param("select", "[8:32]");
    let (s, v) = call(&svc, read).await;
    assert_eq!(s, 200);
    let mut want = vec![0; 24];
    want[2..7].fill(1);
    assert_eq!(v["value"], json!(want));
}

#[tokio::test]
async fn a_write_racing_a_grow_is_kept() {
    let (svc, store, _) = setup().await;
    let id = create_dataset(
        &svc,
        json!({"type": "H5T_STD_I32LE", "shape": [20], "maxdims": [40],
               "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [10]}}}),
    )
    .await;
    let json_key = id.s3_key();
    let grow = Box::new(move |s: &MemoryStore| {
        let mut doc = s.get_now(BUCKET, &json_key);
        doc["shape"]["dims"] = json!([40]);
        s.put_now(BUCKET, &json_key, &doc);
    });
    let racing = interfering(&store, is_chunk_of(&id), grow, None);
    assert_eq!(call(&racing, put_value(&id, "[5:15]", json!(vec![2; 10]))).await.0, 200);
    let read = req("GET", &format!("/datasets/{id}/value"), Some("test_user1"), Some(DOMAIN)).param("select", "[5:15]");
    assert_eq!(call(&svc, read).await.1["value"], json!(vec![2; 10]));
}

#[tokio::test]
async fn link_and_attribute_writes_racing_a_group_delete_do_not_recreate_it() {
    let (svc, store, root) = setup().await;
    for what in ["links/l", "attributes/a"] {
        let (s, g) = call_json(&svc, req("POST", "/groups", Some("test_user1"), Some(DOMAIN)), &json!({})).await;
        assert_eq!(s, 201);
        let gid = ObjId::parse(g["id"].as_str().unwrap()).unwrap();
        // The DELETE lands between this request's read of the group and its conditional write.
        let (key, victim) = (gid.s3_key(), gid.s3_key());
        let racing = interfering(
            &store,
            Box::new(move |k: &str| k == key),
            Box::new(move |s: &MemoryStore| s.delete_now(BUCKET, &victim)),
            None,
        );
        let body = if what.starts_with("links") {
            json!({"h5path": "/x"})
        } else {
            json!({"type": "H5T_STD_I32LE", "value": 1})
        };
        let r = req("PUT", &format!("/groups/{gid}/{what}"), Some("test_user1"), Some(DOMAIN));
        let (status, v) = call_json(&racing, r, &body).await;
        assert_eq!(status, 404, "{what}: {v}");
        assert!(!store.keys(BUCKET).contains(&gid.s3_key()), "{what}: the deleted group was recreated");
    }
    let (s, _) = call(&svc, req("GET", &format!("/groups/{root}"), Some("test_user1"), Some(DOMAIN))).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn writes_that_never_win_give_up_with_503_before_the_deadline_and_write_nothing() {
    let (svc, store, root) = setup().await;
    let id = create_dataset(
        &svc,
        json!({"type": "H5T_STD_I32LE", "shape": [20], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [20]}}}),
    )
    .await;
    assert_eq!(call(&svc, put_value(&id, "[0:20]", json!(vec![5; 20]))).await.0, 200);
    let before = snapshot(&store);
    // Every conditional put loses, as if an endless stream of other writers always got there first.
    let contended = never_wins(&store, Box::new(|_: &str| true));
    let writes = [
        put_value(&id, "[3:4]", json!([9])),
        req("PUT", &format!("/groups/{root}/links/l"), Some("test_user1"), Some(DOMAIN)).json(&json!({"h5path": "/x"})),
        req("PUT", &format!("/groups/{root}/attributes/a"), Some("test_user1"), Some(DOMAIN))
            .json(&json!({"type": "H5T_STD_I32LE", "value": 1})),
        req("PUT", "/acls/test_user2", Some("test_user1"), Some(DOMAIN)).json(&json!({"read": true})),
    ];
    // The four run side by side, each with a contention window (CONTENTION) long enough that a scheduler
    // stall on a loaded machine does not eat it and turn the expected 503 into a 504.
    let answers = futures::future::join_all(writes.into_iter().map(|w| {
        let what = w.path.clone();
        let deadline = Instant::now() + MARGIN + CLEANUP_RESERVE + CONTENTION;
        let contended = &contended;
        async move { (what, with_deadline(Some(deadline), contended.handle(w)).await) }
    }))
    .await;
    for (what, rsp) in answers {
        assert_eq!(rsp.status, 503, "{what}: {:?}", rsp.json_body());
        let msg = rsp.json_body().unwrap()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains("concurrent requests") && msg.contains("nothing was written"), "{what}: {msg}");
    }
    assert_eq!(snapshot(&store), before, "a write that gave up changed the store");
}

#[tokio::test]
async fn a_multi_chunk_write_that_gives_up_on_one_chunk_takes_back_the_others() {
    let (svc, store, _) = setup().await;
    let id = create_dataset(
        &svc,
        json!({"type": "H5T_STD_I32LE", "shape": [30], "creationProperties": {"layout": {"class": "H5D_CHUNKED", "dims": [10]}}}),
    )
    .await;
    assert_eq!(call(&svc, put_value(&id, "[0:20]", json!(vec![5; 20]))).await.0, 200);
    let before = snapshot(&store);
    // Chunks 0 and 2 are won at once (2 is created); chunk 1 never is.
    let chunk1 = id.chunk_key(&[1]);
    let contended = never_wins(&store, Box::new(move |k: &str| k == chunk1));
    let deadline = Instant::now() + MARGIN + CLEANUP_RESERVE + CONTENTION;
    let rsp = with_deadline(Some(deadline), contended.handle(put_value(&id, "[5:25]", json!(vec![9; 20])))).await;
    assert_eq!(rsp.status, 503, "{:?}", rsp.json_body());
    let read = req("GET", &format!("/datasets/{id}/value"), Some("test_user1"), Some(DOMAIN));
    let mut want = vec![5; 20];
    want.extend([0; 10]);
    assert_eq!(call(&svc, read).await.1["value"], json!(want), "the written chunks were taken back");
    let after: Vec<(String, ETag)> = snapshot(&store).into_iter().filter(|(k, _)| *k != id.chunk_key(&[2])).collect();
    assert_eq!(after, before, "chunk 0 holds exactly its old bytes again");
}

/// Synchronous helpers for the simulated other writer (the memory store never awaits).
trait Now {
    fn delete_now(&self, bucket: &str, key: &str);
    fn get_now(&self, bucket: &str, key: &str) -> Value;
    fn get_now_etag(&self, bucket: &str, key: &str) -> ETag;
    fn put_now(&self, bucket: &str, key: &str, v: &Value);
}

impl Now for MemoryStore {
    fn delete_now(&self, bucket: &str, key: &str) {
        futures::executor::block_on(self.delete(bucket, key)).unwrap();
    }
    fn get_now(&self, bucket: &str, key: &str) -> Value {
        futures::executor::block_on(get_json(self, bucket, key)).unwrap().0
    }
    fn get_now_etag(&self, bucket: &str, key: &str) -> ETag {
        futures::executor::block_on(self.get(bucket, key)).unwrap().etag
    }
    fn put_now(&self, bucket: &str, key: &str, v: &Value) {
        futures::executor::block_on(put_json(self, bucket, key, v)).unwrap();
    }
}
