//! A process-wide cache of stored objects' bytes, kept across invocations of a warm Lambda instance: the
//! service keeps one for decoded chunks (used by the engine) and one for metadata JSON (used by the API
//! context).
//!
//! Entries are keyed by (bucket, key) and hold the object's bytes (a chunk's decoded bytes, say) with the
//! ETag they came from. No user trusts an entry blindly: every read asks the store
//! `get_if_none_match(etag)`, or one LIST page for several chunks of a read (`chunk::engine::listing`), and
//! only the entry's own ETag as the current one reuses it, so the cache saves the transfer and the decoding,
//! never correctness. The cache is bounded in bytes, evicting least recently used entries; writes put the
//! chunk they wrote (with its new ETag) and drop entries that lost a race.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

use crate::store::ETag;

/// Memory settings (MB) at or below which the cache is off: the engine needs that memory for requests.
pub const NO_CACHE_AT_MB: u64 = 128;
/// Environment variable that sets the cache size in MB, overriding the sizing from the function's memory.
pub const CACHE_MB_ENV: &str = "HSLAMBDA_CHUNK_CACHE_MB";
/// Cache size when not running on Lambda (no `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
pub const DEFAULT_CAPACITY: usize = 64 << 20;
/// Keys remembered as "only a prefix was decoded" ([`WarmCache::prefix_read_again`]), oldest forgotten first.
pub const PREFIX_READS_REMEMBERED: usize = 4096;

/// Cache capacity in bytes for a function with `memory_mb` of memory: a quarter of it, none at 128 MB or
/// less, [`DEFAULT_CAPACITY`] when unknown.
pub fn capacity_for_memory(memory_mb: Option<u64>) -> usize {
    match memory_mb {
        None => DEFAULT_CAPACITY,
        Some(mb) if mb <= NO_CACHE_AT_MB => 0,
        Some(mb) => (mb << 20) as usize / 4,
    }
}

#[derive(Debug)]
struct Entry {
    etag: ETag,
    data: Bytes,
    tick: u64,
}

#[derive(Debug, Default)]
struct State {
    map: HashMap<(String, String), Entry>,
    lru: BTreeMap<u64, (String, String)>,
    tick: u64,
    bytes: usize,
    /// Keys of which only a prefix was decoded, and the order they were noted in.
    prefix_reads: HashSet<(String, String)>,
    prefix_order: VecDeque<(String, String)>,
}

/// Counters for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held.
    pub entries: usize,
    /// Bytes held.
    pub bytes: usize,
}

/// A byte-bounded LRU of objects' bytes (decoded chunks, metadata JSON), validated by ETag by its users
/// (see the module docs).
#[derive(Debug)]
pub struct WarmCache {
    capacity: usize,
    state: Mutex<State>,
}

impl WarmCache {
    /// A cache holding at most `capacity` bytes of chunk data (0 disables it).
    pub fn new(capacity: usize) -> Self {
        WarmCache { capacity, state: Mutex::new(State::default()) }
    }

    /// A cache of `HSLAMBDA_CHUNK_CACHE_MB` megabytes when set (0 turns it off, e.g. to measure cold reads),
    /// else sized from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` by [`capacity_for_memory`].
    pub fn from_env() -> Self {
        let env_mb = |k: &str| std::env::var(k).ok().and_then(|v| v.trim().parse::<u64>().ok());
        match env_mb(CACHE_MB_ENV) {
            Some(mb) => Self::new((mb << 20) as usize),
            None => Self::new(capacity_for_memory(env_mb("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))),
        }
    }

    /// The capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached (ETag, decoded bytes) of a chunk, marking it recently used. The caller must validate the
    /// ETag against the store before using the bytes.
    pub fn get(&self, bucket: &str, key: &str) -> Option<(ETag, Bytes)> {
        if self.capacity == 0 {
            return None;
        }
        let mut st = self.lock();
        st.tick += 1;
        let tick = st.tick;
        let k = (bucket.to_string(), key.to_string());
        let e = st.map.get_mut(&k)?;
        let old = std::mem::replace(&mut e.tick, tick);
        let found = (e.etag.clone(), e.data.clone());
        st.lru.remove(&old);
        st.lru.insert(tick, k);
        Some(found)
    }

    /// Whether an entry for the key is held (without marking it used).
    pub fn contains(&self, bucket: &str, key: &str) -> bool {
        self.capacity > 0 && self.lock().map.contains_key(&(bucket.to_string(), key.to_string()))
    }

    /// Stores a chunk's decoded bytes under the ETag of the stored object they came from; evicts least
    /// recently used entries to stay within the capacity. Chunks larger than the whole cache are skipped.
    pub fn put(&self, bucket: &str, key: &str, etag: ETag, data: Bytes) {
        if data.len() > self.capacity || self.capacity == 0 {
            self.remove(bucket, key);
            return;
        }
        let mut st = self.lock();
        st.tick += 1;
        let tick = st.tick;
        let k = (bucket.to_string(), key.to_string());
        st.bytes += data.len();
        if let Some(old) = st.map.insert(k.clone(), Entry { etag, data, tick }) {
            st.bytes -= old.data.len();
            st.lru.remove(&old.tick);
        }
        st.lru.insert(tick, k);
        while st.bytes > self.capacity {
            let Some((_, victim)) = st.lru.pop_first() else { break };
            if let Some(e) = st.map.remove(&victim) {
                st.bytes -= e.data.len();
            }
        }
    }

    /// Notes that only a prefix of the object at `key` was decoded (and not kept); true when that had already
    /// happened: a chunk whose start is read again and again (a time slice of a time-chunked cube, say) is
    /// then worth decoding whole once and keeping, so the next reads of it cost a revalidation, not a fetch.
    pub fn prefix_read_again(&self, bucket: &str, key: &str) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let mut st = self.lock();
        let k = (bucket.to_string(), key.to_string());
        if st.prefix_reads.remove(&k) {
            return true;
        }
        if st.prefix_order.len() >= PREFIX_READS_REMEMBERED {
            if let Some(old) = st.prefix_order.pop_front() {
                st.prefix_reads.remove(&old);
            }
        }
        st.prefix_reads.insert(k.clone());
        st.prefix_order.push_back(k);
        false
    }

    /// Drops a chunk (deleted, or its cached version is known to be stale).
    pub fn remove(&self, bucket: &str, key: &str) {
        let mut st = self.lock();
        if let Some(e) = st.map.remove(&(bucket.to_string(), key.to_string())) {
            st.bytes -= e.data.len();
            st.lru.remove(&e.tick);
        }
    }

    /// Current size.
    pub fn stats(&self) -> CacheStats {
        let st = self.lock();
        CacheStats { entries: st.map.len(), bytes: st.bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizing_from_lambda_memory() {
        assert_eq!(capacity_for_memory(Some(128)), 0);
        assert_eq!(capacity_for_memory(Some(1024)), 256 << 20);
        assert_eq!(capacity_for_memory(None), DEFAULT_CAPACITY);
    }

    #[test]
    fn evicts_least_recently_used_within_the_byte_bound() {
        let c = WarmCache::new(10);
        c.put("b", "k1", "e1".into(), Bytes::from(vec![1; 4]));
        c.put("b", "k2", "e2".into(), Bytes::from(vec![2; 4]));
        assert!(c.get("b", "k1").is_some()); // k1 is now the most recent
        c.put("b", "k3", "e3".into(), Bytes::from(vec![3; 4]));
        assert!(c.get("b", "k2").is_none());
        assert_eq!(c.get("b", "k1").unwrap().0, "e1");
        assert_eq!(c.stats(), CacheStats { entries: 2, bytes: 8 });
        c.put("b", "k1", "e4".into(), Bytes::from(vec![9; 2]));
        assert_eq!(c.stats().bytes, 6);
        c.put("b", "big", "e".into(), Bytes::from(vec![0; 11]));
        assert!(c.get("b", "big").is_none());
        c.remove("b", "k1");
        assert_eq!(c.stats(), CacheStats { entries: 1, bytes: 4 });
        let off = WarmCache::new(0);
        off.put("b", "k", "e".into(), Bytes::new());
        assert!(off.get("b", "k").is_none());
    }
}
