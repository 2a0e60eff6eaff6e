//! Revalidating the cached chunks of one read with one LIST page instead of one conditional GET each.
//!
//! A warm instance keeps decoded chunks ([`crate::chunk::cache::WarmCache`]) but must never serve one another
//! instance has rewritten or deleted, so every use asks the store. S3 LIST is strongly consistent, as GET
//! is: a page names each key it covers with the object's current ETag, and a key inside the covered range
//! that the page does not name does not exist. One page of the dataset's directory thus answers for many
//! chunks at once.
//!
//! The page starts just before the smallest key the read needs and holds at most [`LIST_SPAN_PER_CHUNK`]
//! keys per needed chunk (at most [`LIST_MAX_KEYS`]): when the needed keys are dense in their key range the
//! page covers them all; when they are sparse it ends early and the keys past its end are revalidated one
//! by one as before. It is asked for only when at least [`MIN_CACHED_FOR_LIST`] of the read's chunks are
//! cached (for fewer, conditional GETs cost no more).

use std::collections::HashMap;

use super::ChunkedDataset;
use crate::chunk::ChunkResult;
use crate::model::layout::ChunkSource;
use crate::store::{ETag, ListOptions, Store};

/// Fewest cached chunks of one read for which one LIST replaces their conditional GETs.
pub const MIN_CACHED_FOR_LIST: usize = 2;
/// Keys a revalidating LIST page may hold per chunk the read needs.
pub const LIST_SPAN_PER_CHUNK: usize = 16;
/// Most keys of one revalidating LIST page (S3's page size).
pub const LIST_MAX_KEYS: usize = 1000;

/// What a LIST page said about one chunk key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// The chunk exists with this ETag.
    Present(ETag),
    /// The key is inside the listed range and absent: the chunk does not exist.
    Absent,
}

/// The chunk keys one LIST page covered, with what it said about each; keys it did not cover are absent
/// from the map (revalidate them one by one).
pub type ChunkListing = HashMap<String, Listed>;

/// True when two ETags name the same object version (S3 quotes them; listings and GETs may differ in that).
pub fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

impl ChunkedDataset {
    /// The keys of chunks `indices` and how many of them are cached, when this dataset's cached chunks are
    /// revalidated by listing (a live cache of HSDS chunk objects; chunks in linked HDF5 files are not listed).
    fn keys_and_cached(&self, bucket: &str, indices: &[Vec<u64>]) -> Option<(Vec<String>, usize)> {
        let cache = self.live_cache().filter(|_| matches!(self.grid.source, ChunkSource::Hsds))?;
        let keys: Vec<String> = indices.iter().map(|i| self.chunk_key(i)).collect();
        let cached = keys.iter().filter(|k| cache.contains(bucket, k)).count();
        Some((keys, cached))
    }

    /// What the store says now about the cached chunks among `indices`, for a read that has not started yet
    /// (the API revalidates a warm read's chunks while it reads the domain and the dataset): one LIST page
    /// when at least [`MIN_CACHED_FOR_LIST`] are cached (as [`ChunkedDataset::list_chunks_of_read`]); for a
    /// read of one cached chunk, its conditional GET (a chunk changed since it was cached is fetched and cached
    /// again on the way); else nothing. Store errors are returned; the caller may ignore them and read as usual.
    pub async fn revalidate_cached(
        &self,
        store: &dyn Store,
        bucket: &str,
        indices: &[Vec<u64>],
    ) -> ChunkResult<ChunkListing> {
        match self.keys_and_cached(bucket, indices) {
            Some((keys, cached)) if cached >= MIN_CACHED_FOR_LIST => self.list_keys(store, bucket, keys).await,
            Some((mut keys, 1)) if keys.len() == 1 => {
                let key = keys.remove(0);
                let found = self.load(store, bucket, &key, None, None).await?;
                let listed = found.map_or(Listed::Absent, |(_, etag)| Listed::Present(etag));
                Ok(ChunkListing::from([(key, listed)]))
            }
            _ => Ok(ChunkListing::new()),
        }
    }

    /// One LIST page covering the chunks `indices` of a read, when at least [`MIN_CACHED_FOR_LIST`] of them
    /// are cached (else an empty listing: every chunk is fetched or revalidated alone).
    pub(super) async fn list_chunks_of_read(
        &self,
        store: &dyn Store,
        bucket: &str,
        indices: &[Vec<u64>],
    ) -> ChunkResult<ChunkListing> {
        match self.keys_and_cached(bucket, indices) {
            Some((keys, cached)) if cached >= MIN_CACHED_FOR_LIST => self.list_keys(store, bucket, keys).await,
            _ => Ok(ChunkListing::new()),
        }
    }

    /// One LIST page of this dataset's directory starting at the smallest of `keys`, and what it says about
    /// each of them it covers.
    async fn list_keys(&self, store: &dyn Store, bucket: &str, mut keys: Vec<String>) -> ChunkResult<ChunkListing> {
        keys.sort_unstable();
        let Some(first) = keys.first() else { return Ok(ChunkListing::new()) };
        // A proper prefix of the smallest key sorts before it and after every key that sorts before it
        // except keys starting with that prefix, which the page then merely includes.
        let mut after = first.clone();
        after.pop();
        let prefix = format!("{}/", self.id.object_dir());
        let max_keys = keys.len().saturating_mul(LIST_SPAN_PER_CHUNK).min(LIST_MAX_KEYS);
        let page =
            store.list(bucket, ListOptions::prefix(&prefix).start_after(Some(&after)).max_keys(max_keys)).await?;
        let listed: HashMap<&str, Option<&ETag>> =
            page.objects.iter().map(|o| (o.key.as_str(), o.etag.as_ref())).collect();
        // Every key up to the last one listed is covered; all of them when no more follow.
        let last = page.objects.last().map(|o| o.key.as_str());
        let covered = |k: &str| !page.truncated || last.is_some_and(|l| k <= l);
        let mut out = ChunkListing::new();
        for key in keys.into_iter().filter(|k| covered(k)) {
            match listed.get(key.as_str()) {
                Some(Some(etag)) => {
                    out.insert(key, Listed::Present((*etag).clone()));
                }
                // Listed without an ETag: nothing to compare, revalidate it alone.
                Some(None) => {}
                None => {
                    out.insert(key, Listed::Absent);
                }
            }
        }
        Ok(out)
    }
}
