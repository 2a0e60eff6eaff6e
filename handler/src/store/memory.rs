//! In-memory [`Store`] for unit tests: the same conditional semantics as S3, atomically.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use md5::{Digest, Md5};

use super::{ETag, ListEntry, ListOptions, Listing, Object, PutMode, Store, StoreError, StoreResult};

/// A store holding objects in a `BTreeMap` keyed by `(bucket, key)`.
#[derive(Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<(String, String), Object>>,
    /// Body bytes returned by GETs so far (full, ranged and conditional).
    served: AtomicU64,
    /// GETs that returned a body (full, ranged, and conditional ones that were not "not modified").
    bodies: AtomicU64,
    /// Conditional GETs answered "not modified".
    not_modified: AtomicU64,
    /// LIST requests.
    lists: AtomicU64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of objects in all buckets (for tests that check nothing was written).
    pub fn len(&self) -> usize {
        self.objects.lock().unwrap().len()
    }

    /// True when no object exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Body bytes returned by GETs so far, for tests of how much a read fetches.
    pub fn bytes_served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    fn lookup(&self, bucket: &str, key: &str) -> StoreResult<Object> {
        let map = self.objects.lock().unwrap();
        map.get(&(bucket.to_string(), key.to_string())).cloned().ok_or_else(|| StoreError::NotFound(key.to_string()))
    }

    /// (GETs that returned a body, conditional GETs answered "not modified") since the last call: what a test of
    /// caching asserts.
    pub fn take_get_counts(&self) -> (u64, u64) {
        (self.bodies.swap(0, Ordering::SeqCst), self.not_modified.swap(0, Ordering::SeqCst))
    }

    /// LIST requests since the last call.
    pub fn take_list_count(&self) -> u64 {
        self.lists.swap(0, Ordering::SeqCst)
    }

    fn serve(&self, body: &[u8]) {
        self.served.fetch_add(body.len() as u64, Ordering::Relaxed);
        self.bodies.fetch_add(1, Ordering::SeqCst);
    }

    /// Every key of `bucket`, in order.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.objects.lock().unwrap().keys().filter(|(b, _)| b == bucket).map(|(_, k)| k.clone()).collect()
    }
}

fn etag_of(body: &[u8]) -> ETag {
    format!("\"{}\"", hex::encode(Md5::digest(body)))
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, bucket: &str, key: &str) -> StoreResult<Object> {
        let obj = self.lookup(bucket, key)?;
        self.serve(&obj.body);
        Ok(obj)
    }

    async fn get_if_none_match(&self, bucket: &str, key: &str, etag: &str) -> StoreResult<Option<Object>> {
        let obj = self.lookup(bucket, key)?;
        if obj.etag == etag {
            self.not_modified.fetch_add(1, Ordering::SeqCst);
            return Ok(None);
        }
        self.serve(&obj.body);
        Ok(Some(obj))
    }

    async fn get_range(&self, bucket: &str, key: &str, offset: u64, len: u64) -> StoreResult<Bytes> {
        let obj = self.lookup(bucket, key)?;
        let start = (offset as usize).min(obj.body.len());
        let end = (offset.saturating_add(len) as usize).min(obj.body.len());
        self.serve(&obj.body[start..end]);
        Ok(obj.body.slice(start..end))
    }

    async fn put(&self, bucket: &str, key: &str, body: Bytes, mode: PutMode) -> StoreResult<ETag> {
        let mut map = self.objects.lock().unwrap();
        let k = (bucket.to_string(), key.to_string());
        match (&mode, map.get(&k)) {
            (PutMode::Create, Some(_)) => return Err(StoreError::Precondition(key.to_string())),
            (PutMode::Update(_), None) => return Err(StoreError::Precondition(key.to_string())),
            (PutMode::Update(want), Some(cur)) if &cur.etag != want => {
                return Err(StoreError::Precondition(key.to_string()))
            }
            _ => {}
        }
        let etag = etag_of(&body);
        map.insert(k, Object { body, etag: etag.clone() });
        Ok(etag)
    }

    async fn list(&self, bucket: &str, opts: ListOptions<'_>) -> StoreResult<Listing> {
        let ListOptions { prefix, delimiter, start_after, max_keys } = opts;
        self.lists.fetch_add(1, Ordering::SeqCst);
        let map = self.objects.lock().unwrap();
        let max = max_keys.unwrap_or(1000);
        let mut out = Listing::default();
        let mut count = 0;
        for ((b, key), obj) in map.range((bucket.to_string(), prefix.to_string())..) {
            if b != bucket || !key.starts_with(prefix) {
                break;
            }
            if start_after.is_some_and(|a| key.as_str() <= a) {
                continue;
            }
            if let Some(d) = delimiter {
                if let Some(pos) = key[prefix.len()..].find(d) {
                    let p = key[..prefix.len() + pos + d.len()].to_string();
                    if start_after.is_some_and(|a| p.as_str() <= a) || out.prefixes.last() == Some(&p) {
                        continue;
                    }
                    if count == max {
                        out.truncated = true;
                        break;
                    }
                    out.prefixes.push(p);
                    count += 1;
                    continue;
                }
            }
            if count == max {
                out.truncated = true;
                break;
            }
            out.objects.push(ListEntry {
                key: key.clone(),
                size: obj.body.len() as u64,
                etag: Some(obj.etag.clone()),
                last_modified: 0.0,
            });
            count += 1;
        }
        Ok(out)
    }

    async fn delete(&self, bucket: &str, key: &str) -> StoreResult<()> {
        self.objects.lock().unwrap().remove(&(bucket.to_string(), key.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conditional_puts() {
        let s = MemoryStore::new();
        let e1 = s.put_if_absent("b", "k", Bytes::from_static(b"1")).await.unwrap();
        assert_eq!(
            s.put_if_absent("b", "k", Bytes::from_static(b"2")).await,
            Err(StoreError::Precondition("k".into()))
        );
        assert!(s.put_if_match("b", "k", Bytes::from_static(b"3"), "\"nope\"").await.is_err());
        let e2 = s.put_if_match("b", "k", Bytes::from_static(b"3"), &e1).await.unwrap();
        assert_ne!(e1, e2);
        assert!(s.put_if_match("b", "missing", Bytes::new(), &e2).await.is_err());
        assert!(s.get_if_none_match("b", "k", &e2).await.unwrap().is_none());
        assert_eq!(&s.get("b", "k").await.unwrap().body[..], b"3");
    }

    #[tokio::test]
    async fn listing_with_delimiter_and_pages() {
        let s = MemoryStore::new();
        for k in ["a/1", "a/2", "a/x/1", "a/x/2", "a/y/1", "b/1"] {
            s.put("bk", k, Bytes::new(), PutMode::Overwrite).await.unwrap();
        }
        let l = s.list("bk", ListOptions::prefix("a/").delimiter("/")).await.unwrap();
        let keys: Vec<_> = l.objects.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a/1", "a/2"]);
        assert_eq!(l.prefixes, ["a/x/", "a/y/"]);
        let p1 = s.list("bk", ListOptions::prefix("a/").max_keys(2)).await.unwrap();
        assert!(p1.truncated);
        let all = s.list_all("bk", "a/").await.unwrap();
        assert_eq!(all.len(), 5);
    }
}
