//! Taking turns on a contended object: a small *turn* object beside it that says "a writer that has already
//! lost a race is retrying this object now; wait", and lists the writers waiting, oldest first.
//!
//! Why: when many writers update one object, every compare-and-swap attempt reads, parses, changes,
//! serialises and uploads the whole object, and only one attempt per change can win. With 32 writers on
//! one group's attributes, ~12 attempts were spent per success (CPU-bound on the emulator's 2 cores: the
//! JSON of 3200 attributes parsed and written again and again), so the tail grew to seconds. A writer that
//! has lost a race therefore first takes the turn (`PUT If-None-Match: *` of the turn object) and only the
//! turn's holder retries the object.
//!
//! **A queue, oldest first.** A writer that finds the turn held writes itself into the turn object's queue
//! (a compare-and-swap on the turn object, a few hundred bytes) with the time its update started. The holder,
//! when done, hands the turn to the oldest writer in the queue (rewriting the turn object with that writer as
//! holder and a fresh [`LEASE`]), or deletes it when nobody waits. So the turn goes first-come-first-served
//! instead of to whichever waiter happens to look first after it was given back: with 31 waiters looking at
//! random times, an unlucky writer lost that lottery again and again (32 writers × 100 on one object's
//! attributes: p50 0.6 s but p99 2.4–5 s, max 12 s). The writer next in line looks often
//! ([`Turn::Theirs`] says so), the others rarely (the schedule is in [`super::retry`]), so the looks cost the
//! store little and a hand-over is noticed within a few milliseconds.
//!
//! **Only a hint.** Correctness never depends on it: every write is still a compare-and-swap on the
//! object's ETag, newcomers' first attempts ignore the turn, and a turn whose holder died (killed instance,
//! failed request) expires after [`LEASE`] and is broken by the next waiter that looks — also when it was
//! handed to a waiter that had died or given up meanwhile. A writer that ends without the turn takes itself
//! out of the queue ([`leave`]); a queue entry lost to a race (the turn deleted as it registered) only means
//! the writer takes the turn as a free one later. Two writers believing they hold the turn only means two
//! attempts race, as without turns. An uncontended update never looks at the turn: it stays one GET and one
//! conditional PUT. Failures talking to the store about the turn make the writer retry as if there were no
//! turn.
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
use serde::{Deserialize, Serialize};

use super::{ETag, PutMode, Store, StoreError};

/// How long a turn is valid after it was taken or handed over; a waiter that finds an older one breaks it.
/// Far longer than a holder's attempts take (milliseconds), short enough that a dead holder delays others
/// briefly.
pub const LEASE: Duration = Duration::from_secs(2);

/// How long this instance remembers that an object was contended ([`recently_contended`]).
pub const CONTENDED_MEMORY: Duration = Duration::from_secs(1);

/// How many times [`leave`] re-reads the turn object when its compare-and-swap loses to a writer joining
/// the queue at the same moment; then it gives up (the turn expires after [`LEASE`]).
const LEAVE_TRIES: usize = 8;

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

/// One writer's place in the queue: who it is (random, so an ambiguous write is recognised on re-read) and
/// since when it has been trying to update the object (the queue's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Random, so that a writer finds itself in the turn object.
    pub token: u64,
    /// When the writer's update started (milliseconds since the epoch).
    pub since_ms: u64,
}

impl Ticket {
    /// A new writer's ticket, dated now.
    pub fn new() -> Ticket {
        Ticket { token: rand::random(), since_ms: now_ms() }
    }
}

impl Default for Ticket {
    fn default() -> Self {
        Self::new()
    }
}

/// What the turn object holds.
#[derive(Debug, Serialize, Deserialize)]
struct TurnDoc {
    /// The holder's token.
    token: u64,
    /// When the holder's lease ends (milliseconds since the epoch).
    expires_ms: u64,
    /// The writers waiting, oldest first.
    #[serde(default)]
    queue: Vec<Ticket>,
}

impl TurnDoc {
    fn held_by(holder: Ticket, queue: Vec<Ticket>) -> TurnDoc {
        TurnDoc { token: holder.token, expires_ms: now_ms() + LEASE.as_millis() as u64, queue }
    }

    /// Reads a turn object's bytes; `None` for bytes that are not a turn (then it counts as expired).
    fn parse(body: &[u8]) -> Option<TurnDoc> {
        serde_json::from_slice(body).ok()
    }

    fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a turn always serialises"))
    }

    /// Adds `t` to the queue in its place by age (ties by token), unless it is there.
    fn enqueue(&mut self, t: Ticket) {
        if !self.queue.contains(&t) {
            self.queue.push(t);
            self.queue.sort_by_key(|w| (w.since_ms, w.token));
        }
    }
}

/// What a writer that lost a race may do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// It holds the turn: retry the object now.
    Mine,
    /// Another writer holds a live turn: wait, then look again.
    Theirs {
        /// This writer is first in the queue: it gets the turn when the holder is done, so it looks often.
        next: bool,
    },
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

/// Looks at the turn of `key` for writer `me`: free, expired or handed to `me` → [`Turn::Mine`]; held by
/// another writer → `me` joins the queue (if not yet in it) and gets [`Turn::Theirs`].
pub async fn take(store: &dyn Store, bucket: &str, key: &str, me: Ticket) -> Turn {
    let tk = turn_key(key);
    let (doc, etag) = match store.get(bucket, &tk).await {
        Ok(obj) => (TurnDoc::parse(&obj.body), obj.etag),
        Err(StoreError::NotFound(_)) => {
            return claim(store, bucket, &tk, me, TurnDoc::held_by(me, Vec::new()), None).await
        }
        Err(_) => return Turn::Unknown,
    };
    let Some(mut doc) = doc else {
        return claim(store, bucket, &tk, me, TurnDoc::held_by(me, Vec::new()), Some(etag)).await;
    };
    if doc.token == me.token {
        return Turn::Mine;
    }
    if doc.expires_ms <= now_ms() {
        doc.queue.retain(|w| w.token != me.token);
        return claim(store, bucket, &tk, me, TurnDoc::held_by(me, doc.queue), Some(etag)).await;
    }
    if !doc.queue.contains(&me) {
        doc.enqueue(me);
        // Lost to another writer joining or leaving: this writer joins at its next look.
        let _ = store.put(bucket, &tk, doc.to_bytes(), PutMode::Update(etag)).await;
    }
    Turn::Theirs { next: doc.queue.first() == Some(&me) }
}

/// Writes `doc` (naming `me` holder) over the turn object: created when `etag` is `None`, else only if it is
/// still the version read. A lost compare-and-swap is re-read: the turn may be `me`'s own (the write applied
/// but its answer lost).
async fn claim(store: &dyn Store, bucket: &str, tk: &str, me: Ticket, doc: TurnDoc, etag: Option<ETag>) -> Turn {
    let mode = etag.map_or(PutMode::Create, PutMode::Update);
    match store.put(bucket, tk, doc.to_bytes(), mode).await {
        Ok(_) => Turn::Mine,
        Err(StoreError::Precondition(_)) => match store.get(bucket, tk).await {
            Ok(obj) if TurnDoc::parse(&obj.body).is_some_and(|d| d.token == me.token) => Turn::Mine,
            _ => Turn::Theirs { next: false },
        },
        Err(_) => Turn::Unknown,
    }
}

/// Writer `me` is done with `key` (whether it wrote, failed or gave up): if it holds the turn, the turn goes to
/// the oldest waiter, or is deleted when nobody waits; if it is in the queue, it leaves it. Best effort: a turn
/// left behind expires after [`LEASE`].
pub async fn leave(store: &dyn Store, bucket: &str, key: &str, me: Ticket) {
    let tk = turn_key(key);
    for _ in 0..LEAVE_TRIES {
        let Ok(obj) = store.get(bucket, &tk).await else { return };
        let Some(mut doc) = TurnDoc::parse(&obj.body) else { return };
        let next = if doc.token == me.token {
            if doc.queue.is_empty() {
                // A writer joining right now loses its place with this delete; it then finds the turn free.
                let _ = store.delete(bucket, &tk).await;
                return;
            }
            let heir = doc.queue.remove(0);
            TurnDoc::held_by(heir, doc.queue)
        } else if doc.queue.contains(&me) {
            doc.queue.retain(|w| w.token != me.token);
            doc
        } else {
            return;
        };
        match store.put(bucket, &tk, next.to_bytes(), PutMode::Update(obj.etag)).await {
            Err(StoreError::Precondition(_)) => continue,
            _ => return,
        }
    }
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

    fn ticket(since_ms: u64) -> Ticket {
        Ticket { token: rand::random(), since_ms }
    }

    async fn doc(store: &dyn Store, key: &str) -> Option<TurnDoc> {
        store.get("b", &turn_key(key)).await.ok().and_then(|o| TurnDoc::parse(&o.body))
    }

    #[tokio::test]
    async fn one_writer_holds_the_turn_until_it_leaves() {
        let store = MemoryStore::new();
        let (a, b) = (Ticket::new(), Ticket::new());
        assert_eq!(take(&store, "b", "k", a).await, Turn::Mine);
        assert_eq!(take(&store, "b", "k", a).await, Turn::Mine, "looking again does not lose it");
        assert_eq!(take(&store, "b", "k", b).await, Turn::Theirs { next: true });
        leave(&store, "b", "k", b).await;
        assert!(doc(&store, "k").await.unwrap().queue.is_empty(), "a writer that gives up leaves the queue");
        leave(&store, "b", "k", a).await;
        assert!(doc(&store, "k").await.is_none(), "nobody waits: the turn object is deleted");
        assert_eq!(take(&store, "b", "k", b).await, Turn::Mine);
    }

    /// The holder hands the turn to the writer that has waited longest, whatever order they looked in; the
    /// others stay queued behind it.
    #[tokio::test]
    async fn the_turn_goes_to_the_oldest_waiter() {
        let store = MemoryStore::new();
        let (holder, young, old, middle) = (ticket(10), ticket(300), ticket(100), ticket(200));
        assert_eq!(take(&store, "b", "k", holder).await, Turn::Mine);
        assert_eq!(take(&store, "b", "k", young).await, Turn::Theirs { next: true });
        assert_eq!(take(&store, "b", "k", old).await, Turn::Theirs { next: true });
        assert_eq!(take(&store, "b", "k", middle).await, Turn::Theirs { next: false });
        assert_eq!(take(&store, "b", "k", young).await, Turn::Theirs { next: false }, "an older writer came");
        leave(&store, "b", "k", holder).await;
        assert_eq!(take(&store, "b", "k", young).await, Turn::Theirs { next: false });
        assert_eq!(take(&store, "b", "k", middle).await, Turn::Theirs { next: true });
        assert_eq!(take(&store, "b", "k", old).await, Turn::Mine);
        leave(&store, "b", "k", old).await;
        assert_eq!(take(&store, "b", "k", young).await, Turn::Theirs { next: true });
        assert_eq!(take(&store, "b", "k", middle).await, Turn::Mine);
        leave(&store, "b", "k", middle).await;
        assert_eq!(take(&store, "b", "k", young).await, Turn::Mine);
        assert!(doc(&store, "k").await.unwrap().queue.is_empty());
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
        let (a, b) = (ticket(1), ticket(2));
        assert_eq!(take(&store, "b", "k", a).await, Turn::Mine);
        assert_eq!(take(&store, "b", "k", b).await, Turn::Theirs { next: true });
        // Handing on applies (and is answered 412): b holds it, a neither holds it nor waits.
        leave(&store, "b", "k", a).await;
        assert_eq!(take(&store, "b", "k", b).await, Turn::Mine);
        let after = doc(&store, "k").await.unwrap();
        assert_eq!((after.token, after.queue), (b.token, vec![]));
    }

    /// A holder that died (or a waiter handed the turn after it died) leaves the turn behind; after the lease
    /// the next waiter that looks breaks it and keeps the queue. Bytes that are not a turn count as expired.
    #[tokio::test]
    async fn an_expired_or_garbled_turn_is_broken() {
        let store = MemoryStore::new();
        let (dead, waiting, looker) = (ticket(1), ticket(2), ticket(3));
        let old = TurnDoc { token: dead.token, expires_ms: now_ms() - 1, queue: vec![waiting, looker] };
        store.put("b", &turn_key("k"), old.to_bytes(), PutMode::Create).await.unwrap();
        assert_eq!(take(&store, "b", "k", looker).await, Turn::Mine);
        assert_eq!(doc(&store, "k").await.unwrap().queue, vec![waiting]);
        store.put("b", &turn_key("j"), Bytes::from_static(b"{"), PutMode::Create).await.unwrap();
        assert_eq!(take(&store, "b", "j", looker).await, Turn::Mine);
        let live = TurnDoc::held_by(dead, Vec::new());
        store.put("b", &turn_key("i"), live.to_bytes(), PutMode::Create).await.unwrap();
        assert_eq!(take(&store, "b", "i", looker).await, Turn::Theirs { next: true });
    }
}
