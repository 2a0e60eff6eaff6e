//! Taking turns on a contended object: a small *turn* object beside it that says "a writer that has already
//! lost a race is retrying this object now; wait".
//!
//! Why: when many writers update one object, every compare-and-swap attempt reads, parses, changes,
//! serialises and uploads the whole object, and only one attempt per change can win. With 32 writers on
//! one group's attributes, ~12 attempts were spent per success (CPU-bound on the emulator's 2 cores: the
//! JSON of 3200 attributes parsed and written again and again), so the tail grew to seconds. A writer that
//! has lost a race therefore first takes the turn (`PUT If-None-Match: *` of the turn object) and only the
//! turn's holder retries the object; the others poll the turn object (a GET of a few bytes) on the
//! age-priority schedule of [`super::retry`], never more often than [`super::retry::TURN_POLL_FLOOR`] or their
//! last attempt's duration, and take it when the holder deletes it.
//!
//! **Only a hint.** Correctness never depends on it: every write is still a compare-and-swap on the
//! object's ETag, newcomers' first attempts ignore the turn, and a turn whose holder died (killed instance,
//! failed DELETE) expires after [`LEASE`] and is broken by the next waiter. Two writers believing they hold
//! the turn (a lease broken twice at once) only means two attempts race, as without turns. An uncontended
//! update never looks at the turn: it stays one GET and one conditional PUT. Failures talking to the store
//! about the turn make the writer retry as if there were no turn.
//!
//! **Where.** For a key under `db/<root>/` the turn is `db/<root>/turn/<rest of the key>.turn`: a key HSDS's
//! storage scan rejects as "not an object key" and ignores (its `getObjId` knows keys of three or five
//! parts only; these have four or six), outside every dataset's chunk directory, and deleted with the
//! domain's objects. Any other key (a domain's
//! `.domain.json`) gets `<key>.turn` beside it: not a folder prefix, so no listing shows it. Every turn key
//! ends in `.turn`, so nothing that looks for `.group.json` or chunk names takes it for an object.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Value};

use super::{PutMode, Store, StoreError};

/// How long a turn is valid after it was taken; a waiter that finds an older one deletes it. Far longer
/// than a holder's attempts take (milliseconds), short enough that a killed holder delays others briefly.
pub const LEASE: Duration = Duration::from_secs(2);

/// How long this instance remembers that an object was contended ([`recently_contended`]).
pub const CONTENDED_MEMORY: Duration = Duration::from_secs(1);

/// Objects (`bucket/key`) this instance lost a race on or held the turn of, with when. A Lambda instance
/// serves one request at a time and lives on between them, so this is what it saw during its last requests.
static CONTENDED: LazyLock<Mutex<HashMap<String, Instant>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Remembers that `key` was contended just now.
pub fn note_contended(bucket: &str, key: &str) {
    let mut seen = CONTENDED.lock().unwrap_or_else(|e| e.into_inner());
    if seen.len() >= 256 {
        seen.retain(|_, at| at.elapsed() < CONTENDED_MEMORY);
    }
    seen.insert(format!("{bucket}/{key}"), Instant::now());
}

/// Whether this instance saw `key` contended within the last [`CONTENDED_MEMORY`]: then even a first attempt
/// queues for the turn.
pub fn recently_contended(bucket: &str, key: &str) -> bool {
    let seen = CONTENDED.lock().unwrap_or_else(|e| e.into_inner());
    seen.get(&format!("{bucket}/{key}")).is_some_and(|at| at.elapsed() < CONTENDED_MEMORY)
}

/// What a writer that lost a race may do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// It took the turn: retry the object now.
    Mine,
    /// Another writer holds a live turn: wait, then look again.
    Theirs,
    /// The store did not answer about the turn: retry the object after the usual pause.
    Unknown,
}

/// The turn object's key for `key`.
pub fn turn_key(key: &str) -> String {
    match key.strip_prefix("db/").and_then(|rest| rest.split_once('/')) {
        Some((root, rest)) => format!("db/{root}/turn/{rest}.turn"),
        None => format!("{key}.turn"),
    }
}

/// Tries to take the turn of `key`: free or expired → [`Turn::Mine`] (an expired one is deleted first).
pub async fn take(store: &dyn Store, bucket: &str, key: &str) -> Turn {
    let tk = turn_key(key);
    match store.get(bucket, &tk).await {
        Ok(obj) if !expired(&obj.body, now_ms()) => return Turn::Theirs,
        Ok(_) => {
            if store.delete(bucket, &tk).await.is_err() {
                return Turn::Unknown;
            }
        }
        Err(StoreError::NotFound(_)) => {}
        Err(_) => return Turn::Unknown,
    }
    let until = now_ms() + LEASE.as_millis() as u64;
    // The random token makes every turn's bytes unique, so an ambiguous PUT is told apart on re-read.
    let body = Bytes::from(json!({"expires_ms": until, "token": rand::random::<u64>()}).to_string());
    match store.put(bucket, &tk, body.clone(), PutMode::Create).await {
        Ok(_) => Turn::Mine,
        // Taken, perhaps by this very PUT: applied, its answer lost, and the store's retry found the turn there.
        Err(StoreError::Precondition(_)) => match store.get(bucket, &tk).await {
            Ok(obj) if obj.body == body => Turn::Mine,
            _ => Turn::Theirs,
        },
        Err(_) => Turn::Unknown,
    }
}

/// Gives the turn of `key` back (best effort: a turn left behind expires after [`LEASE`]).
pub async fn release(store: &dyn Store, bucket: &str, key: &str) {
    let _ = store.delete(bucket, &turn_key(key)).await;
}

/// Whether a turn object's bytes say it has expired at `now_ms`; one that does not parse has.
fn expired(body: &[u8], now_ms: u64) -> bool {
    serde_json::from_slice::<Value>(body).ok().and_then(|v| v["expires_ms"].as_u64()).is_none_or(|t| t <= now_ms)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ETag, ListOptions, Listing, MemoryStore, Object, StoreResult};

    #[test]
    fn turn_keys_stay_out_of_hsds_object_and_chunk_keys() {
        assert_eq!(
            turn_key("db/0123abcd-4567ef01/g/89abcdef-0123-4567-89ab/.group.json"),
            "db/0123abcd-4567ef01/turn/g/89abcdef-0123-4567-89ab/.group.json.turn"
        );
        assert_eq!(turn_key("db/0123abcd-4567ef01/.group.json"), "db/0123abcd-4567ef01/turn/.group.json.turn");
        assert_eq!(turn_key("db/0123abcd-4567ef01/d/89ab/2_0"), "db/0123abcd-4567ef01/turn/d/89ab/2_0.turn");
        assert_eq!(turn_key("home/u/f.h5/.domain.json"), "home/u/f.h5/.domain.json.turn");
    }

    #[tokio::test]
    async fn one_writer_holds_the_turn_until_it_releases_it() {
        let store = MemoryStore::new();
        assert_eq!(take(&store, "b", "k").await, Turn::Mine);
        assert_eq!(take(&store, "b", "k").await, Turn::Theirs);
        release(&store, "b", "k").await;
        assert_eq!(take(&store, "b", "k").await, Turn::Mine);
    }

    /// A store that applies a PUT and then answers 412, as S3 does to a retry whose first try was applied
    /// but whose answer was lost.
    struct AnswerLost(MemoryStore);

    #[async_trait::async_trait]
    impl Store for AnswerLost {
        async fn get(&self, bucket: &str, key: &str) -> StoreResult<Object> {
            self.0.get(bucket, key).await
        }
        async fn get_if_none_match(&self, bucket: &str, key: &str, etag: &str) -> StoreResult<Option<Object>> {
            self.0.get_if_none_match(bucket, key, etag).await
        }
        async fn get_range(&self, bucket: &str, key: &str, offset: u64, len: u64) -> StoreResult<Bytes> {
            self.0.get_range(bucket, key, offset, len).await
        }
        async fn put(&self, bucket: &str, key: &str, body: Bytes, mode: PutMode) -> StoreResult<ETag> {
            self.0.put(bucket, key, body, mode).await?;
            Err(StoreError::Precondition(key.to_string()))
        }
        async fn list(&self, bucket: &str, opts: ListOptions<'_>) -> StoreResult<Listing> {
            self.0.list(bucket, opts).await
        }
        async fn delete(&self, bucket: &str, key: &str) -> StoreResult<()> {
            self.0.delete(bucket, key).await
        }
    }

    /// A turn whose PUT was applied but answered 412 is this writer's own (else it would wait out its own
    /// lease); a turn another writer holds stays theirs.
    #[tokio::test]
    async fn a_turn_taken_by_an_ambiguous_put_is_mine() {
        let store = AnswerLost(MemoryStore::new());
        assert_eq!(take(&store, "b", "k").await, Turn::Mine);
        assert_eq!(take(&store, "b", "k").await, Turn::Theirs);
    }

    /// A holder that died leaves its turn behind; after the lease the next waiter breaks it.
    #[tokio::test]
    async fn an_expired_or_garbled_turn_is_broken() {
        let store = MemoryStore::new();
        let old = json!({"expires_ms": now_ms() - 1, "token": 1}).to_string();
        store.put("b", &turn_key("k"), Bytes::from(old), PutMode::Create).await.unwrap();
        assert_eq!(take(&store, "b", "k").await, Turn::Mine);
        store.put("b", &turn_key("j"), Bytes::from_static(b"{"), PutMode::Create).await.unwrap();
        assert_eq!(take(&store, "b", "j").await, Turn::Mine);
        assert!(!expired(json!({"expires_ms": now_ms() + 60_000}).to_string().as_bytes(), now_ms()));
    }
}
