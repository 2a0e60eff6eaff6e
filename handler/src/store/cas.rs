//! The compare-and-swap loop every metadata update goes through ([`update_json`]).
//!
//! HSDS on Lambda does unsynchronised read-modify-writes, so two concurrent invocations can lose an
//! update. Here every update reads the object with its ETag, applies the change in memory and writes
//! it back with `If-Match`; a 412 means someone else won, so the loop re-reads and re-applies the change.

use serde_json::Value;

use super::json::{get_json, to_bytes};
use super::retry::CasRetry;
use super::{PutMode, Store, StoreError};

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
    let mut retry = CasRetry::new(key).taking_turns();
    let out = attempts(store, bucket, key, &mut retry, apply).await;
    retry.finish(store, bucket).await;
    out
}

/// The attempts of [`update_json`], until one wins, `apply` fails or `retry` gives up.
async fn attempts<T, E, F>(
    store: &dyn Store,
    bucket: &str,
    key: &str,
    retry: &mut CasRetry,
    mut apply: F,
) -> Result<T, E>
where
    F: FnMut(&mut Value) -> Result<Change<T>, E>,
    E: From<StoreError>,
{
    loop {
        retry.begin_attempt(store, bucket).await?;
        let (mut value, etag) = get_json(store, bucket, key).await?;
        let out = match apply(&mut value)? {
            Change::Keep(out) => return Ok(out),
            Change::Write(out) => out,
        };
        match store.put(bucket, key, to_bytes(&value), PutMode::Update(etag)).await {
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
    use crate::store::json::create_json;
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
