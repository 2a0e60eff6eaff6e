//! The compare-and-swap loop every metadata update goes through ([`update_json`]).
//!
//! HSDS on Lambda does unsynchronised read-modify-writes, so two concurrent invocations can lose an
//! update. Here every update reads the object with its ETag, applies the change in memory and writes
//! it back with `If-Match`; a 412 means someone else won, so the loop re-reads and re-applies the change.

use bytes::Bytes;
use serde_json::Value;

use super::entries::Entries;
use super::json::to_bytes;
use super::retry::CasRetry;
use super::{PutMode, Store, StoreError, StoreResult};

/// What an update closure decided.
pub enum Change<T> {
    /// The object was modified in place: write it back, then return T.
    Write(T),
    /// Nothing to write (e.g. an identical re-PUT): return T without writing.
    Keep(T),
}

/// Read-modify-write of one JSON object as a compare-and-swap on its ETag.
///
/// `apply` gets the current value and changes it in place; it may run several times (once per lost
/// race), so it must derive everything from the value it is given. Errors from `apply` abort the update
/// with nothing written. `NotFound` is returned (converted into `E`) when the object does not exist — an
/// update never recreates a deleted object, since `If-Match` fails on a missing key. Lost races are retried
/// on the [`CasRetry`] schedule, taking turns with other losers (until the deadline margin); then
/// `Contention`, with nothing written.
pub async fn update_json<T, E, F>(store: &dyn Store, bucket: &str, key: &str, apply: F) -> Result<T, E>
where
    F: FnMut(&mut Value) -> Result<Change<T>, E>,
    E: From<StoreError>,
{
    let parse = |bytes: &[u8]| crate::model::lenient_json::parse(bytes).map_err(|e| invalid(key, e));
    update_doc(store, bucket, key, parse, to_bytes, apply).await
}

/// [`update_json`] of one member map of an object (`attributes`, `links`, `acls`): `apply` gets the object
/// as [`Entries`], parsed only down to that member's entries, which is several times cheaper on a big
/// object than a whole `Value` tree (and the holder of a contended object's turn does it once per success).
pub async fn update_entries<T, E, F>(store: &dyn Store, bucket: &str, key: &str, member: &str, apply: F) -> Result<T, E>
where
    F: FnMut(&mut Entries) -> Result<Change<T>, E>,
    E: From<StoreError>,
{
    let parse = |bytes: &[u8]| Entries::parse(bytes, member).map_err(|e| invalid(key, e));
    update_doc(store, bucket, key, parse, Entries::to_bytes, apply).await
}

fn invalid(key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("{key} holds invalid JSON: {e}"))
}

/// The compare-and-swap of [`update_json`] and [`update_entries`] for a document `D` read by `parse` and
/// written by `encode`.
async fn update_doc<D, T, E, F>(
    store: &dyn Store,
    bucket: &str,
    key: &str,
    parse: impl Fn(&[u8]) -> StoreResult<D>,
    encode: impl Fn(&D) -> Bytes,
    apply: F,
) -> Result<T, E>
where
    F: FnMut(&mut D) -> Result<Change<T>, E>,
    E: From<StoreError>,
{
    let mut retry = CasRetry::new(key).taking_turns();
    let out = attempts(store, bucket, key, &mut retry, (parse, encode), apply).await;
    retry.finish(store, bucket).await;
    out
}

/// The attempts of [`update_doc`], until one wins, `apply` fails or `retry` gives up.
async fn attempts<D, T, E, F, P, W>(
    store: &dyn Store,
    bucket: &str,
    key: &str,
    retry: &mut CasRetry,
    (parse, encode): (P, W),
    mut apply: F,
) -> Result<T, E>
where
    P: Fn(&[u8]) -> StoreResult<D>,
    W: Fn(&D) -> Bytes,
    F: FnMut(&mut D) -> Result<Change<T>, E>,
    E: From<StoreError>,
{
    loop {
        retry.begin_attempt(store, bucket).await?;
        let obj = store.get(bucket, key).await?;
        let mut doc = parse(&obj.body)?;
        let out = match apply(&mut doc)? {
            Change::Keep(out) => return Ok(out),
            Change::Write(out) => out,
        };
        match store.put(bucket, key, encode(&doc), PutMode::Update(obj.etag)).await {
            Ok(_) => return Ok(out),
            // The object changed since it was read, or was deleted (a missing object fails `If-Match`).
            Err(StoreError::Precondition(_)) => retry.lost_race(store, bucket).await?,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::store::json::{create_json, get_json};
    use crate::store::MemoryStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_updates_are_not_lost() {
        let store = Arc::new(MemoryStore::new());
        create_json(store.as_ref(), "b", "k", &json!({"links": {}})).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                update_json::<(), StoreError, _>(store.as_ref(), "b", "k", |v| {
                    v["links"][format!("l{i}")] = json!(i);
                    Ok(Change::Write(()))
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let (v, _) = get_json(store.as_ref(), "b", "k").await.unwrap();
        assert_eq!(v["links"].as_object().unwrap().len(), 32);
    }

    /// The same through [`update_entries`]: every writer's entry is there, the other members untouched.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_entry_updates_are_not_lost() {
        let store = Arc::new(MemoryStore::new());
        create_json(store.as_ref(), "b", "k", &json!({"id": "g", "links": {}, "attributes": {"x": 1}})).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                update_entries::<(), StoreError, _>(store.as_ref(), "b", "k", "attributes", |e| {
                    e.insert(&format!("a{i}"), &json!({"value": i}));
                    e.set_top("lastModified", &json!(i));
                    Ok(Change::Write(()))
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let (v, _) = get_json(store.as_ref(), "b", "k").await.unwrap();
        assert_eq!(v["attributes"].as_object().unwrap().len(), 33);
        assert_eq!(
            (v["id"].clone(), v["links"].clone(), v["attributes"]["x"].clone()),
            (json!("g"), json!({}), json!(1))
        );
    }

    #[tokio::test]
    async fn failed_apply_writes_nothing() {
        let store = MemoryStore::new();
        let etag = create_json(&store, "b", "k", &json!({"a": 1})).await.unwrap();
        let r: Result<(), StoreError> = update_json(&store, "b", "k", |v| {
            v["a"] = json!(2);
            Err(StoreError::Other("no".into()))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(store.get("b", "k").await.unwrap().etag, etag);
    }
}
