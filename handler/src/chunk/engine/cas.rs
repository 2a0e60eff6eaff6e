//! One chunk's compare-and-swap on its ETag: read it (or start from fill), apply an edit, write it with
//! `If-Match` (`If-None-Match: *` for a new chunk), and on a lost race re-read and re-apply. Unchanged
//! chunks, and new chunks that would hold only fill, are not written. Without CAS (last writer wins) the
//! write is a plain overwrite.

use bytes::Bytes;

use super::ChunkedDataset;
use crate::chunk::ChunkResult;
use crate::store::retry::CasRetry;
use crate::store::{PutMode, Store, StoreError};

/// One chunk's compare-and-swap: `apply` edits the decoded chunk (its size may change for variable-length
/// types) and says whether it changed. Returns (written, lost races).
pub async fn write_chunk(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    index: &[u64],
    apply: impl FnMut(&mut Vec<u8>) -> ChunkResult<bool>,
) -> ChunkResult<(bool, usize)> {
    let retry = CasRetry::new(&ds.chunk_key(index));
    write_chunk_with(store, bucket, ds, index, retry, apply).await
}

/// [`write_chunk`] on a given retry schedule.
pub(super) async fn write_chunk_with(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    index: &[u64],
    mut retry: CasRetry,
    apply: impl FnMut(&mut Vec<u8>) -> ChunkResult<bool>,
) -> ChunkResult<(bool, usize)> {
    let out = attempts(store, bucket, ds, index, &mut retry, apply).await;
    retry.finish(store, bucket).await;
    out
}

/// The attempts of [`write_chunk_with`], until one wins, `apply` fails or `retry` gives up.
async fn attempts(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    index: &[u64],
    retry: &mut CasRetry,
    mut apply: impl FnMut(&mut Vec<u8>) -> ChunkResult<bool>,
) -> ChunkResult<(bool, usize)> {
    let key = ds.chunk_key(index);
    loop {
        retry.begin_attempt(store, bucket).await?;
        let (mut chunk, mode) = match ds.load(store, bucket, &key, None, None).await? {
            Some((data, etag)) => (data.to_vec(), PutMode::Update(etag)),
            None => (ds.initial_chunk(index)?, PutMode::Create),
        };
        if !apply(&mut chunk)? || (mode == PutMode::Create && ds.is_all_fill(&chunk)) {
            return Ok((false, retry.lost()));
        }
        let mode = if ds.cas { mode } else { PutMode::Overwrite };
        let raw = Bytes::from(chunk);
        match store.put(bucket, &key, ds.encode(raw.clone()).await?, mode).await {
            Ok(etag) => {
                if let Some(c) = &ds.cache {
                    c.put(bucket, &key, etag, raw);
                }
                return Ok((true, retry.lost()));
            }
            Err(StoreError::Precondition(_)) => {
                if let Some(c) = &ds.cache {
                    c.remove(bucket, &key);
                }
                retry.lost_race(store, bucket).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
