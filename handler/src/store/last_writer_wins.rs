//! [`LastWriterWins`]: a store wrapper that drops every write condition, reproducing how HSDS on Lambda
//! writes (unsynchronised read-modify-write). Only for demonstrating lost updates (`HSLAMBDA_WRITE_MODE=last-writer-wins`).

use async_trait::async_trait;
use bytes::Bytes;

use super::{ETag, ListOptions, Listing, Object, PutMode, Store, StoreResult};

/// Wraps a store so that `Create` and `Update` puts become unconditional overwrites.
pub struct LastWriterWins<S>(pub S);

#[async_trait]
impl<S: Store> Store for LastWriterWins<S> {
    async fn get(&self, bucket: &str, key: &str) -> StoreResult<Object> {
        self.0.get(bucket, key).await
    }
    async fn get_if_none_match(&self, bucket: &str, key: &str, etag: &str) -> StoreResult<Option<Object>> {
        self.0.get_if_none_match(bucket, key, etag).await
    }
    async fn get_range(&self, bucket: &str, key: &str, offset: u64, len: u64) -> StoreResult<Bytes> {
        self.0.get_range(bucket, key, offset, len).await
    }
    async fn put(&self, bucket: &str, key: &str, body: Bytes, _mode: PutMode) -> StoreResult<ETag> {
        self.0.put(bucket, key, body, PutMode::Overwrite).await
    }
    async fn list(&self, bucket: &str, opts: ListOptions<'_>) -> StoreResult<Listing> {
        self.0.list(bucket, opts).await
    }
    async fn delete(&self, bucket: &str, key: &str) -> StoreResult<()> {
        self.0.delete(bucket, key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn conditions_are_ignored() {
        let s = LastWriterWins(MemoryStore::new());
        s.put_if_absent("b", "k", Bytes::from_static(b"1")).await.unwrap();
        s.put_if_absent("b", "k", Bytes::from_static(b"2")).await.unwrap();
        s.put_if_match("b", "k", Bytes::from_static(b"3"), "\"stale\"").await.unwrap();
        assert_eq!(&s.get("b", "k").await.unwrap().body[..], b"3");
    }
}
