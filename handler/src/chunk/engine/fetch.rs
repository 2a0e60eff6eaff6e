//! Fetching one chunk: an HSDS chunk object from the store, through the warm cache (revalidated by ETag),
//! decoded whole or, when the reader needs only its start, partially ([`crate::chunk::partial_decode`]);
//! chunks of linked HDF5 files are handed to `linked`. Also the codec calls (decode, encode), which run
//! in blocking tasks.

use bytes::Bytes;

use super::limits::{MAX_VLEN_CHUNK_BYTES, PREFIX_MAX_PERCENT, PREFIX_MAX_PERCENT_CACHED};
use super::listing::{same_etag, ChunkListing, Listed};
use super::ChunkedDataset;
use crate::chunk::cache::WarmCache;
use crate::chunk::partial_decode;
use crate::chunk::{ChunkError, ChunkResult};
use crate::model::layout::ChunkSource;
use crate::model::value::MAX_VLEN_ELEMENT;
use crate::store::{ETag, Store, StoreError};

impl ChunkedDataset {
    /// Decodes a stored chunk object (in a blocking task: codecs are CPU-bound).
    pub(super) async fn decode(&self, stored: Bytes) -> ChunkResult<Bytes> {
        let len = self.chunk_bytes();
        if self.pipeline.is_identity() {
            if !self.is_vlen() && stored.len() != len {
                return Err(ChunkError::Corrupt(format!(
                    "stored chunk of {} bytes, expected {len} for a chunk of {:?}",
                    stored.len(),
                    self.grid.chunk_dims
                )));
            }
            return Ok(stored);
        }
        let p = self.pipeline.clone();
        let vlen = self.is_vlen();
        let max = (self.grid.chunk_elements() as usize).saturating_mul(4 + MAX_VLEN_ELEMENT).min(MAX_VLEN_CHUNK_BYTES);
        let raw =
            tokio::task::spawn_blocking(
                move || if vlen { p.decode_bounded(&stored, max) } else { p.decode(&stored, len) },
            )
            .await
            .map_err(|e| ChunkError::Internal(format!("chunk decoder failed: {e}")))??;
        Ok(Bytes::from(raw))
    }

    /// Encodes a chunk for storing (in a blocking task).
    pub(super) async fn encode(&self, raw: Bytes) -> ChunkResult<Bytes> {
        if self.pipeline.is_identity() {
            return Ok(raw);
        }
        let p = self.pipeline.clone();
        let enc = tokio::task::spawn_blocking(move || p.encode(&raw))
            .await
            .map_err(|e| ChunkError::Internal(format!("chunk encoder failed: {e}")))??;
        Ok(Bytes::from(enc))
    }

    /// The chunk cache, when there is one with room (a cache of capacity 0 is off).
    pub(super) fn live_cache(&self) -> Option<&WarmCache> {
        self.cache.as_deref().filter(|c| c.capacity() > 0)
    }

    /// Reads and decodes an HSDS chunk object with its ETag (through the cache when there is one);
    /// `None` when it does not exist. A cached chunk is used without asking the store only when `listed`
    /// (what a LIST page of this read said about the key) names the cached ETag.
    ///
    /// With `need` (bytes), a chunk that is not cached and whose codec can stop early is decoded only up to
    /// `need` bytes ([`partial_decode::decode_prefix`]); such partial chunks are not cached.
    pub(super) async fn load(
        &self,
        store: &dyn Store,
        bucket: &str,
        key: &str,
        need: Option<usize>,
        listed: Option<&Listed>,
    ) -> ChunkResult<Option<(Bytes, ETag)>> {
        let cache = self.live_cache();
        let fresh = match cache.and_then(|c| c.get(bucket, key)) {
            Some((etag, data)) if matches!(listed, Some(Listed::Present(cur)) if same_etag(cur, &etag)) => {
                return Ok(Some((data, etag)))
            }
            Some((etag, data)) => match store.get_if_none_match(bucket, key, &etag).await {
                Ok(None) => return Ok(Some((data, etag))),
                Ok(Some(obj)) => obj,
                Err(StoreError::NotFound(_)) => {
                    cache.expect("cached").remove(bucket, key);
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            },
            None => match store.get(bucket, key).await {
                Ok(obj) => obj,
                Err(StoreError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
        };
        if let Some(need) = need {
            let (p, len, body) = (self.pipeline.clone(), self.chunk_bytes(), fresh.body.clone());
            let partial = tokio::task::spawn_blocking(move || partial_decode::decode_prefix(&p, &body, len, need))
                .await
                .map_err(|e| ChunkError::Internal(format!("chunk decoder failed: {e}")))?;
            if let Some(partial) = partial {
                return Ok(Some((Bytes::from(partial?), fresh.etag)));
            }
        }
        let data = self.decode(fresh.body).await?;
        if let Some(c) = cache {
            c.put(bucket, key, fresh.etag.clone(), data.clone());
        }
        Ok(Some((data, fresh.etag)))
    }

    /// The first `need` decoded bytes of a chunk read with a ranged GET of only the stored bytes they come from
    /// ([`partial_decode::stored_prefix_len`]): `Some(None)` when the chunk does not exist, `None` when this way does
    /// not apply — the chunk is cached (revalidating it is cheaper), the pipeline cannot stop early, or the
    /// range fell short — and the caller reads the whole object.
    async fn load_prefix(
        &self,
        store: &dyn Store,
        bucket: &str,
        key: &str,
        need: usize,
    ) -> ChunkResult<Option<Option<Bytes>>> {
        let cached = self.live_cache().is_some_and(|c| c.get(bucket, key).is_some());
        if cached || !partial_decode::supports_prefix(&self.pipeline) {
            return Ok(None);
        }
        let head = match store.get_range(bucket, key, 0, partial_decode::stored_prefix_len(need)).await {
            Ok(head) => head,
            Err(StoreError::NotFound(_)) => return Ok(Some(None)),
            Err(e) => return Err(e.into()),
        };
        let (p, len) = (self.pipeline.clone(), self.chunk_bytes());
        let partial = tokio::task::spawn_blocking(move || partial_decode::decode_prefix(&p, &head, len, need))
            .await
            .map_err(|e| ChunkError::Internal(format!("chunk decoder failed: {e}")))?;
        Ok(match partial {
            Some(Ok(data)) => Some(Some(Bytes::from(data))),
            // Not a frame that decodes partially, or cut too short: read it whole.
            None | Some(Err(_)) => None,
        })
    }

    /// Fetches and decodes one chunk; `None` when it does not exist (read as fill).
    pub async fn fetch(&self, store: &dyn Store, bucket: &str, index: &[u64]) -> ChunkResult<Option<Bytes>> {
        self.fetch_prefix(store, bucket, index, self.chunk_bytes()).await
    }

    /// Like [`ChunkedDataset::fetch`], for a reader that uses only the first `need` bytes of the chunk: when
    /// that is at most [`PREFIX_MAX_PERCENT`] percent of it ([`PREFIX_MAX_PERCENT_CACHED`] with a chunk cache),
    /// HSDS chunks may come back decoded only that far (at least `need` bytes).
    pub async fn fetch_prefix(
        &self,
        store: &dyn Store,
        bucket: &str,
        index: &[u64],
        need: usize,
    ) -> ChunkResult<Option<Bytes>> {
        self.fetch_listed(store, bucket, index, need, &ChunkListing::new()).await
    }

    /// [`ChunkedDataset::fetch_prefix`] trusting what one LIST page of the read said about the chunk
    /// ([`ChunkedDataset::list_chunks_of_read`]): listed absent reads as missing without a request, listed
    /// with the cached ETag is served from the cache.
    pub(super) async fn fetch_listed(
        &self,
        store: &dyn Store,
        bucket: &str,
        index: &[u64],
        need: usize,
        listing: &ChunkListing,
    ) -> ChunkResult<Option<Bytes>> {
        match &self.grid.source {
            ChunkSource::Hsds => match self.fetch_hsds(store, bucket, index, need, listing).await? {
                None if self.init.is_some() => Ok(Some(Bytes::from(self.initial_chunk(index)?))),
                found => Ok(found),
            },
            ChunkSource::ChunkedRef { file_uri, chunks } => {
                self.fetch_chunked_ref(store, file_uri, chunks, index).await
            }
            ChunkSource::ContiguousRef { file_uri, offset, size } => {
                self.fetch_contiguous(store, file_uri, *offset, *size, index).await.map(|c| Some(Bytes::from(c)))
            }
            ChunkSource::ChunkedRefIndirect { .. } => {
                Err(ChunkError::Internal("H5D_CHUNKED_REF_INDIRECT chunks are located through the chunk table".into()))
            }
        }
    }

    /// [`ChunkedDataset::fetch_prefix`] of an HSDS chunk object: its prefix alone when that share is small
    /// enough, else the whole chunk (through the cache).
    async fn fetch_hsds(
        &self,
        store: &dyn Store,
        bucket: &str,
        index: &[u64],
        need: usize,
        listing: &ChunkListing,
    ) -> ChunkResult<Option<Bytes>> {
        let key = self.chunk_key(index);
        let listed = listing.get(&key);
        if listed == Some(&Listed::Absent) {
            if let Some(c) = self.live_cache() {
                c.remove(bucket, &key);
            }
            return Ok(None);
        }
        let share = if self.live_cache().is_some() { PREFIX_MAX_PERCENT_CACHED } else { PREFIX_MAX_PERCENT };
        let small = !self.is_vlen() && need.saturating_mul(100) <= self.chunk_bytes().saturating_mul(share);
        // A small prefix is decoded alone, unless the cache saw a prefix of this (uncached) chunk read before:
        // then the chunk is decoded whole and kept.
        let again =
            small && self.live_cache().is_some_and(|c| !c.contains(bucket, &key) && c.prefix_read_again(bucket, &key));
        let partial = (small && !again).then_some(need);
        if let Some(need) = partial {
            if let Some(prefix) = self.load_prefix(store, bucket, &key, need).await? {
                return Ok(prefix);
            }
        }
        Ok(self.load(store, bucket, &key, partial, listed).await?.map(|(data, _)| data))
    }
}
