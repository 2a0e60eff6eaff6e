//! The read/write engine: a selection served chunk by chunk into one output buffer, with bounded bytes
//! in flight.
//!
//! Chunks are full `chunk_dims` arrays in C order (edges padded with fill), stored under
//! `db/<..>/d/<..>/<i>_<j>` as HSDS writes them; a missing chunk reads as fill. Reads fetch and decode
//! chunks concurrently, at most [`ChunkedDataset::max_in_flight`] at a time, and copy each one into the
//! output as soon as it arrives. Writes are a compare-and-swap per chunk on its ETag: read (or start from
//! fill), apply, write with `If-Match` (`If-None-Match: *` for a new chunk), and re-read and re-apply on a
//! lost race. Unchanged chunks, and new chunks that would hold only fill, are not written (as HSDS).
//! A write then re-reads the dataset's JSON, so one racing a `DELETE` or a shrink removes or trims what it
//! wrote (410 / 409) instead of leaving orphan or stale chunks; and when one chunk of a write fails (e.g.
//! gives up on contention before the deadline), the chunks already written are taken back (503, nothing
//! half-applied).
//!
//! Variable-length types (vlen strings and sequences, compounds holding them): a chunk is its elements
//! packed one after the other (4-byte byte count + bytes for each vlen part, HSDS `arrayToBytes`), so
//! chunks have variable size; the engine splits them into elements ([`crate::model::elements`]) and copies
//! whole elements. Never-written elements are `00000000` (an empty string or sequence).
//!
//! With a [`ChunkCache`], decoded chunks are reused across requests after the store confirms their ETag.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::chunk::cache::ChunkCache;
use crate::chunk::codec::Pipeline;
use crate::chunk::prefix;
use crate::error::{ApiError, ApiResult};
use crate::model::chunk_table::{hyper_factors, hyper_index, table_points, ChunkRef, TableFormat};
use crate::model::elements::{split_elements, zero_element};
use crate::model::layout::{split_file_uri, ChunkGrid, ChunkSource};
use crate::model::selection::{ChunkPart, Selection};
use crate::model::shape::Shape;
use crate::model::types::Datatype;
use crate::model::value::MAX_VLEN_ELEMENT;
use crate::model::ObjId;
use crate::store::json::get_json;
use crate::store::retry::CasRetry;
use crate::store::{ETag, ListEntry, PutMode, Store, StoreError};

/// Bytes of raw chunk data the engine keeps in flight at once (fetching, decoding or encoding).
pub const IN_FLIGHT_BYTES: u64 = 32 * 1024 * 1024;
/// Most chunks in flight at once, whatever their size.
pub const MAX_CHUNKS_IN_FLIGHT: usize = 16;
/// A read that needs at most this share (percent) of a chunk, counted from its start, fetches and decodes only
/// that prefix when the function keeps no chunk cache; past it, reading and inflating the whole chunk in one
/// go costs about the same.
pub const PREFIX_MAX_PERCENT: usize = 75;
/// The same share with a chunk cache, where a whole decoded chunk also serves the next reads of it (the next
/// time slices of a chunk, say): only small prefixes are decoded alone then.
pub const PREFIX_MAX_PERCENT_CACHED: usize = 25;
/// Largest decoded chunk of a variable-length type (its size is not known before decoding).
pub const MAX_VLEN_CHUNK_BYTES: usize = 256 << 20;
/// Most chunks one read or write may touch (HSDS's `max_chunks_per_request` is 1000, but HSDS only logs
/// it). Each touched chunk is one S3 request and a part description in memory: with 1-element chunks a
/// modest selection would otherwise touch hundreds of thousands of chunks and exhaust a small function.
pub const MAX_CHUNKS_PER_REQUEST: u64 = 10_000;

/// Number of chunks of `chunk_dims` that `sel` touches, computed per axis without listing them.
pub fn chunks_touched(sel: &Selection, chunk_dims: &[u64]) -> u64 {
    use crate::model::selection::Axis;
    sel.axes()
        .iter()
        .map(|a| match a {
            Axis::Slice { start, stop, step, .. } if *stop <= *start => 0,
            // Steps no longer than a chunk visit every chunk between the first and last coordinate; longer
            // steps put each coordinate in a chunk of its own.
            Axis::Slice { dim, start, stop, step } => {
                let c = chunk_dims[*dim].max(1);
                let last = start + (stop - 1 - start) / step * step;
                if *step <= c {
                    last / c - start / c + 1
                } else {
                    a.len()
                }
            }
            Axis::Points { dims, points } => {
                let keys: std::collections::HashSet<Vec<u64>> = points
                    .iter()
                    .map(|p| dims.iter().zip(p).map(|(&d, &x)| x / chunk_dims[d].max(1)).collect())
                    .collect();
                keys.len() as u64
            }
        })
        .fold(1u64, u64::saturating_mul)
}

/// Largest decoded chunk a function with `memory_mb` of memory reads or writes: a quarter of its memory
/// (one chunk in flight, its encoded copy and the response must fit beside the process itself); no limit
/// when the memory is unknown (not on Lambda).
pub fn largest_chunk_for_memory(memory_mb: Option<u64>) -> Option<u64> {
    memory_mb.map(|mb| (mb << 20) / 4)
}

/// [`largest_chunk_for_memory`] of this process (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, read once).
fn largest_chunk() -> Option<u64> {
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        let mb = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok().and_then(|v| v.trim().parse().ok());
        largest_chunk_for_memory(mb)
    })
}

/// Refuses (413), before any work starts, a selection touching more than [`MAX_CHUNKS_PER_REQUEST`]
/// chunks, and any access to chunks larger than this function's memory allows ([`largest_chunk`]).
fn check_limits(sel: &Selection, ds: &ChunkedDataset) -> ApiResult<()> {
    let chunk_bytes = ds.chunk_bytes() as u64;
    if let Some(limit) = largest_chunk().filter(|l| !ds.is_vlen() && chunk_bytes > *l) {
        return Err(ApiError::too_large(format!(
            "the dataset's chunks are {chunk_bytes} bytes each, more than this function can decode with its memory \
             (at most {limit} bytes, a quarter of AWS_LAMBDA_FUNCTION_MEMORY_SIZE); give the function more memory"
        )));
    }
    let n = chunks_touched(sel, &ds.grid.chunk_dims);
    if n > MAX_CHUNKS_PER_REQUEST {
        return Err(ApiError::too_large(format!(
            "the selection touches {n} chunks of {:?}, over this function's limit of {MAX_CHUNKS_PER_REQUEST} chunks per \
             request; select fewer elements per request (e.g. fewer rows of the first dimension)",
            ds.grid.chunk_dims
        )));
    }
    Ok(())
}

/// Everything the engine needs to know about one dataset's chunks.
#[derive(Debug, Clone)]
pub struct ChunkedDataset {
    /// The dataset id (chunk keys derive from it).
    pub id: ObjId,
    /// Current extent (`[1]` for a scalar dataset).
    pub extent: Vec<u64>,
    /// Chunk dims and where chunk bytes live.
    pub grid: ChunkGrid,
    /// Bytes per element; 0 for variable-length types (see `dtype`).
    pub item_size: usize,
    /// The element type (needed to split variable-length chunks into elements).
    pub dtype: Datatype,
    /// One element of fill value (zeros when the dataset has none; `00000000` parts for vlen types).
    pub fill: Vec<u8>,
    /// The dataset's filter pipeline.
    pub pipeline: Pipeline,
    /// Whether writes use compare-and-swap (false: last writer wins, as HSDS on Lambda).
    pub cas: bool,
    /// Decoded chunks shared across requests (validated by ETag on every use).
    pub cache: Option<Arc<ChunkCache>>,
}

/// What a write did, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Chunks touched by the selection.
    pub touched: usize,
    /// Chunks actually written.
    pub written: usize,
    /// Lost compare-and-swap races that were retried.
    pub retries: usize,
}

/// Which bytes of each element a write replaces: all of them, or some fields of a fixed-size compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The data holds whole elements.
    Whole,
    /// The data holds elements of a sub-compound of `sub_size` bytes; each `(element offset, data offset,
    /// length)` range is copied into the stored element, the rest of it is kept.
    Fields {
        /// Bytes per data element.
        sub_size: usize,
        /// Byte ranges to copy.
        ranges: Vec<(usize, usize, usize)>,
    },
}

impl ChunkedDataset {
    /// Raw bytes of one chunk (fixed-size types; 0 for variable-length ones).
    pub fn chunk_bytes(&self) -> usize {
        self.grid.chunk_elements() as usize * self.item_size
    }

    fn is_vlen(&self) -> bool {
        self.item_size == 0
    }

    /// How many chunks may be in flight at once (by [`IN_FLIGHT_BYTES`], at least 1).
    pub fn max_in_flight(&self) -> usize {
        let guess = if self.is_vlen() { self.grid.chunk_elements() as usize * 64 } else { self.chunk_bytes() };
        ((IN_FLIGHT_BYTES / (guess.max(1) as u64)) as usize).clamp(1, MAX_CHUNKS_IN_FLIGHT)
    }

    /// A whole chunk of fill value.
    pub fn fill_chunk(&self) -> Vec<u8> {
        if self.fill.iter().all(|&b| b == 0) && !self.is_vlen() {
            return vec![0; self.chunk_bytes()];
        }
        self.fill.repeat(self.grid.chunk_elements() as usize)
    }

    fn is_all_fill(&self, chunk: &[u8]) -> bool {
        if self.is_vlen() {
            return chunk.len() == self.fill.len() * self.grid.chunk_elements() as usize
                && chunk.chunks_exact(self.fill.len().max(1)).all(|e| e == self.fill.as_slice());
        }
        chunk.chunks_exact(self.item_size.max(1)).all(|e| e == self.fill.as_slice())
    }

    /// The storage key of chunk `index`.
    pub fn chunk_key(&self, index: &[u64]) -> String {
        self.id.chunk_key(index)
    }

    /// The elements of a decoded variable-length chunk.
    fn elements(&self, chunk: &[u8]) -> ApiResult<Vec<Vec<u8>>> {
        split_elements(&self.dtype, chunk, self.grid.chunk_elements() as usize)
            .map_err(|e| ApiError::internal(format!("stored chunk of dataset {} is corrupt: {e}", self.id)))
    }

    async fn decode(&self, stored: Bytes) -> ApiResult<Bytes> {
        let len = self.chunk_bytes();
        if self.pipeline.is_identity() {
            if !self.is_vlen() && stored.len() != len {
                return Err(ApiError::internal(format!(
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
            .map_err(|e| ApiError::internal(format!("chunk decoder failed: {e}")))??;
        Ok(Bytes::from(raw))
    }

    async fn encode(&self, raw: Bytes) -> ApiResult<Bytes> {
        if self.pipeline.is_identity() {
            return Ok(raw);
        }
        let p = self.pipeline.clone();
        let enc = tokio::task::spawn_blocking(move || p.encode(&raw))
            .await
            .map_err(|e| ApiError::internal(format!("chunk encoder failed: {e}")))??;
        Ok(Bytes::from(enc))
    }

    /// The chunk cache, when there is one with room (a cache of capacity 0 is off).
    fn live_cache(&self) -> Option<&ChunkCache> {
        self.cache.as_deref().filter(|c| c.capacity() > 0)
    }

    /// Reads and decodes an HSDS chunk object with its ETag (through the cache when there is one);
    /// `None` when it does not exist.
    ///
    /// With `need` (bytes), a chunk that is not cached and whose codec can stop early is decoded only up to
    /// `need` bytes ([`prefix::decode_prefix`]); such partial chunks are not cached.
    async fn load(
        &self,
        store: &dyn Store,
        bucket: &str,
        key: &str,
        need: Option<usize>,
    ) -> ApiResult<Option<(Bytes, ETag)>> {
        let cache = self.live_cache();
        let fresh = match cache.and_then(|c| c.get(bucket, key)) {
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
            let partial = tokio::task::spawn_blocking(move || prefix::decode_prefix(&p, &body, len, need))
                .await
                .map_err(|e| ApiError::internal(format!("chunk decoder failed: {e}")))?;
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
    /// ([`prefix::stored_prefix_len`]): `Some(None)` when the chunk does not exist, `None` when this way does
    /// not apply — the chunk is cached (revalidating it is cheaper), the pipeline cannot stop early, or the
    /// range fell short — and the caller reads the whole object.
    async fn load_prefix(
        &self,
        store: &dyn Store,
        bucket: &str,
        key: &str,
        need: usize,
    ) -> ApiResult<Option<Option<Bytes>>> {
        let cached = self.live_cache().is_some_and(|c| c.get(bucket, key).is_some());
        if cached || !prefix::supports_prefix(&self.pipeline) {
            return Ok(None);
        }
        let head = match store.get_range(bucket, key, 0, prefix::stored_prefix_len(need)).await {
            Ok(head) => head,
            Err(StoreError::NotFound(_)) => return Ok(Some(None)),
            Err(e) => return Err(e.into()),
        };
        let (p, len) = (self.pipeline.clone(), self.chunk_bytes());
        let partial = tokio::task::spawn_blocking(move || prefix::decode_prefix(&p, &head, len, need))
            .await
            .map_err(|e| ApiError::internal(format!("chunk decoder failed: {e}")))?;
        Ok(match partial {
            Some(Ok(data)) => Some(Some(Bytes::from(data))),
            // Not a frame that decodes partially, or cut too short: read it whole.
            None | Some(Err(_)) => None,
        })
    }

    /// Fetches and decodes one chunk; `None` when it does not exist (read as fill).
    pub async fn fetch(&self, store: &dyn Store, bucket: &str, index: &[u64]) -> ApiResult<Option<Bytes>> {
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
    ) -> ApiResult<Option<Bytes>> {
        let stored = match &self.grid.source {
            ChunkSource::Hsds => {
                let share = if self.live_cache().is_some() { PREFIX_MAX_PERCENT_CACHED } else { PREFIX_MAX_PERCENT };
                let partial = (!self.is_vlen() && need.saturating_mul(100) <= self.chunk_bytes().saturating_mul(share))
                    .then_some(need);
                let key = self.chunk_key(index);
                if let Some(need) = partial {
                    if let Some(prefix) = self.load_prefix(store, bucket, &key, need).await? {
                        return Ok(prefix);
                    }
                }
                return Ok(self.load(store, bucket, &key, partial).await?.map(|(data, _)| data));
            }
            ChunkSource::ChunkedRef { file_uri, chunks } => {
                let key: Vec<String> = index.iter().map(u64::to_string).collect();
                let loc = chunks.get(&key.join("_")).and_then(|v| v.as_array());
                let (off, size) =
                    match loc.map(|a| (a.first().and_then(|v| v.as_u64()), a.get(1).and_then(|v| v.as_u64()))) {
                        Some((Some(o), Some(s))) if s > 0 => (o, s),
                        _ => return Ok(None),
                    };
                let (b, k) = split_file_uri(file_uri)?;
                store.get_range(&b, &k, off, size).await?
            }
            ChunkSource::ContiguousRef { file_uri, offset, size } => {
                return self
                    .fetch_contiguous(store, file_uri, *offset, *size, index)
                    .await
                    .map(|c| Some(Bytes::from(c)));
            }
            ChunkSource::ChunkedRefIndirect { .. } => {
                return Err(ApiError::internal("H5D_CHUNKED_REF_INDIRECT chunks are located through the chunk table"))
            }
        };
        self.decode(stored).await.map(Some)
    }

    /// A virtual chunk of an `H5D_CONTIGUOUS_REF` dataset: its bytes are one range of the file (the virtual
    /// chunk spans whole trailing dimensions), padded with fill past the end of the dataset.
    async fn fetch_contiguous(
        &self,
        store: &dyn Store,
        file_uri: &str,
        offset: u64,
        size: u64,
        index: &[u64],
    ) -> ApiResult<Vec<u8>> {
        let rank = self.extent.len();
        let mut stride = 1u64;
        let mut first = 0u64;
        for d in (0..rank).rev() {
            first += index[d] * self.grid.chunk_dims[d] * stride;
            stride *= self.extent[d];
        }
        let start = first * self.item_size as u64;
        let want = (self.chunk_bytes() as u64).min(size.saturating_sub(start));
        let mut chunk = self.fill_chunk();
        if want > 0 {
            let (b, k) = split_file_uri(file_uri)?;
            let got = store.get_range(&b, &k, offset + start, want).await?;
            let n = got.len().min(chunk.len());
            chunk[..n].copy_from_slice(&got[..n]);
        }
        Ok(chunk)
    }

    /// One chunk of an `H5D_CHUNKED_REF_INDIRECT` dataset from its located HDF5 chunks `refs` (position
    /// `sub` in C order of the chunk's `factors` grid, and byte range): each range is read and decoded as a
    /// chunk of `h5` (the HDF5 chunk shape) and placed; a single HDF5 chunk covering the whole chunk is used
    /// as is. Ranges cut short by the end of the file are zero-padded, as HSDS does.
    async fn fetch_hyperchunks(
        &self,
        store: &dyn Store,
        h5: &ChunkedDataset,
        factors: &[u64],
        refs: &[(u64, ChunkRef)],
    ) -> ApiResult<Bytes> {
        let h5_bytes = h5.chunk_bytes();
        let one = |r: ChunkRef| async move {
            let uri = r.file_uri.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "the chunk table of dataset {} gives no file_uri for a chunk and the layout has none",
                    self.id
                ))
            })?;
            let (b, k) = split_file_uri(&uri)?;
            let mut got = store.get_range(&b, &k, r.offset, r.size).await?;
            if (got.len() as u64) < r.size && got.len() < h5_bytes && h5.pipeline.is_identity() {
                let mut padded = got.to_vec();
                padded.resize(h5_bytes, 0);
                got = Bytes::from(padded);
            }
            h5.decode(got).await
        };
        if factors.iter().all(|&f| f == 1) {
            return match refs.first() {
                Some((_, r)) => one(r.clone()).await,
                None => Ok(Bytes::from(self.fill_chunk())),
            };
        }
        let fetches: Vec<_> = refs
            .iter()
            .map(|(sub, r)| {
                let f = one(r.clone());
                async move { Ok::<_, ApiError>((*sub, f.await?)) }
            })
            .collect();
        let mut results = stream::iter(fetches).buffer_unordered(MAX_CHUNKS_IN_FLIGHT);
        let mut chunk = self.fill_chunk();
        while let Some((sub, data)) = results.try_next().await? {
            place_hyperchunk(
                &mut chunk,
                &self.grid.chunk_dims,
                &h5.grid.chunk_dims,
                &hyper_index(sub, factors),
                &data,
                self.item_size,
            );
        }
        Ok(Bytes::from(chunk))
    }
}

/// Copies a decoded hyperchunk (`hyper` dims, C order) into `chunk` (`chunk_dims`) at hyperchunk position `pos`.
fn place_hyperchunk(chunk: &mut [u8], chunk_dims: &[u64], hyper: &[u64], pos: &[u64], data: &[u8], is: usize) {
    let rank = chunk_dims.len();
    if rank == 0 {
        return;
    }
    let row = hyper[rank - 1] as usize * is;
    let rows: u64 = hyper[..rank - 1].iter().product();
    for r in 0..rows {
        // Coordinates of this row inside the hyperchunk, then its element offset inside the chunk.
        let mut rem = r;
        let mut at = 0u64;
        let mut stride = chunk_dims[rank - 1];
        at += pos[rank - 1] * hyper[rank - 1];
        for d in (0..rank - 1).rev() {
            let x = rem % hyper[d];
            rem /= hyper[d];
            at += (pos[d] * hyper[d] + x) * stride;
            stride *= chunk_dims[d];
        }
        let (src, dst) = (r as usize * row, at as usize * is);
        chunk[dst..dst + row].copy_from_slice(&data[src..src + row]);
    }
}

/// Reads `sel` into one C-order buffer: `sel.count() * item_size` bytes, or for variable-length types the
/// selected elements packed one after the other. `H5D_CHUNKED_REF_INDIRECT` datasets need their chunk
/// table: read them with [`read_indirect`].
///
/// # Errors
/// Store failures, and chunks that cannot be decoded (500).
pub async fn read(store: &dyn Store, bucket: &str, ds: &ChunkedDataset, sel: &Selection) -> ApiResult<Vec<u8>> {
    if matches!(ds.grid.source, ChunkSource::ChunkedRefIndirect { .. }) {
        return Err(ApiError::internal(format!(
            "dataset {} is H5D_CHUNKED_REF_INDIRECT: read it with its chunk table",
            ds.id
        )));
    }
    check_limits(sel, ds)?;
    let parts = sel.chunks(&ds.grid.chunk_dims);
    assemble(ds, sel, parts, |index, need| async move { ds.fetch_prefix(store, bucket, &index, need).await }.boxed())
        .await
}

/// Reads `sel` of an `H5D_CHUNKED_REF_INDIRECT` dataset whose chunk table dataset is `table` (HSDS 1.0.2
/// `getChunkLocations`): the table elements of the selection's chunks are read with one point selection,
/// then each chunk's byte range(s) are read from the HDF5 file(s), decoded and (for `hyper_dims`) placed.
/// Chunks whose table entries have size 0, or lie outside the table, read as fill.
///
/// # Errors
/// 400 for a chunk table of another rank, type or layout, or `hyper_dims` that do not divide the chunk
/// dims; store and codec failures.
pub async fn read_indirect(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    table: &ChunkedDataset,
    sel: &Selection,
) -> ApiResult<Vec<u8>> {
    let ChunkSource::ChunkedRefIndirect { file_uri, hyper_dims, .. } = &ds.grid.source else {
        return read(store, bucket, ds, sel).await;
    };
    let rank = ds.grid.chunk_dims.len();
    if table.extent.len() != rank {
        return Err(ApiError::bad_request(format!(
            "the chunk table {} has rank {} but the dataset {} has rank {rank}",
            table.id,
            table.extent.len(),
            ds.id
        )));
    }
    if matches!(table.grid.source, ChunkSource::ChunkedRefIndirect { .. }) {
        return Err(ApiError::bad_request(format!("the chunk table {} is itself H5D_CHUNKED_REF_INDIRECT", table.id)));
    }
    let format = TableFormat::of(&table.dtype)?;
    let hyper = hyper_dims.clone().unwrap_or_else(|| ds.grid.chunk_dims.clone());
    let factors = hyper_factors(&ds.grid.chunk_dims, &hyper)?;
    check_limits(sel, ds)?;
    let parts = sel.chunks(&ds.grid.chunk_dims);
    // Table coordinates of every hyperchunk of every chunk touched, and which (chunk, hyperchunk) each is.
    let mut points = Vec::new();
    let mut owners = Vec::new();
    for part in &parts {
        for (sub, p) in table_points(&part.index, &factors).into_iter().enumerate() {
            if p.iter().zip(&table.extent).all(|(&c, &e)| c < e) {
                points.push(p);
                owners.push((part.index.clone(), sub as u64));
            }
        }
    }
    let mut located: HashMap<Vec<u64>, Vec<(u64, ChunkRef)>> = HashMap::new();
    if !points.is_empty() {
        let entries = read(store, bucket, table, &Selection::points(points, &table.extent)?).await?;
        for ((index, sub), elem) in owners.into_iter().zip(entries.chunks_exact(table.item_size.max(1))) {
            let mut r = format.entry(elem);
            if file_uri.is_some() {
                r.file_uri.clone_from(file_uri);
            }
            if r.size > 0 {
                located.entry(index).or_default().push((sub, r));
            }
        }
    }
    let h5 = ChunkedDataset {
        extent: hyper.clone(),
        grid: ChunkGrid { chunk_dims: hyper, source: ChunkSource::Hsds },
        cache: None,
        ..ds.clone()
    };
    let (located, h5, factors) = (&located, &h5, &factors);
    assemble(ds, sel, parts, |index, _| {
        async move {
            match located.get(&index) {
                None => Ok(None),
                Some(refs) => ds.fetch_hyperchunks(store, h5, factors, refs).await.map(Some),
            }
        }
        .boxed()
    })
    .await
}

/// Fetches every part of `sel` (at most [`ChunkedDataset::max_in_flight`] at a time) with `fetch(index,
/// bytes of the chunk the part reads from its start)` (the decoded chunk, `None` for fill) and copies each
/// into the output as it arrives.
async fn assemble<'a>(
    ds: &ChunkedDataset,
    sel: &Selection,
    parts: Vec<ChunkPart>,
    fetch: impl Fn(Vec<u64>, usize) -> BoxFuture<'a, ApiResult<Option<Bytes>>>,
) -> ApiResult<Vec<u8>> {
    let n = sel.count()? as usize;
    let is = ds.item_size;
    let shape = sel.shape();
    // Futures are collected first: a lazily mapped iterator inside the stream makes the future not `Send`.
    let fetches: Vec<_> = parts
        .into_iter()
        .map(|part| {
            let last: u64 = part.axes.iter().map(|a| a.iter().map(|&(_, c)| c).max().unwrap_or(0)).sum();
            let chunk = fetch(part.index.clone(), (last as usize + 1) * is);
            async move { Ok::<_, ApiError>((part, chunk.await?)) }
        })
        .collect();
    let mut results = stream::iter(fetches).buffer_unordered(ds.max_in_flight());
    if ds.is_vlen() {
        let mut out = vec![ds.fill.clone(); n];
        while let Some((part, chunk)) = results.try_next().await? {
            let Some(chunk) = chunk else { continue };
            let els = ds.elements(&chunk)?;
            part.for_each_run(&shape, |o, c, len| {
                out[o as usize..(o + len) as usize].clone_from_slice(&els[c as usize..(c + len) as usize])
            });
        }
        return Ok(out.concat());
    }
    let mut out = vec![0u8; n * is];
    while let Some((part, chunk)) = results.try_next().await? {
        copy_out(&part, &shape, chunk.as_deref(), &ds.fill, is, &mut out);
    }
    Ok(out)
}

fn copy_out(part: &ChunkPart, shape: &[u64], chunk: Option<&[u8]>, fill: &[u8], is: usize, out: &mut [u8]) {
    part.for_each_run(shape, |o, c, len| {
        let (o, c, len) = (o as usize * is, c as usize * is, len as usize * is);
        match chunk {
            Some(chunk) => out[o..o + len].copy_from_slice(&chunk[c..c + len]),
            None => out[o..o + len].chunks_exact_mut(is.max(1)).for_each(|e| e.copy_from_slice(fill)),
        }
    });
}

/// Writes `data` (C order over the selection: `sel.count() * item_size` bytes, or packed variable-length
/// elements) into the dataset.
///
/// # Errors
/// 400 for a wrong data length (nothing written); 503 when a chunk cannot be won within the CAS retries;
/// store and codec failures.
pub async fn write(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    sel: &Selection,
    data: &[u8],
) -> ApiResult<WriteStats> {
    write_merged(store, bucket, ds, sel, data, &Merge::Whole).await
}

/// [`write`] with a [`Merge`] mode: whole elements, or some fields of a fixed-size compound.
///
/// # Errors
/// As [`write`].
pub async fn write_merged(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    sel: &Selection,
    data: &[u8],
    merge: &Merge,
) -> ApiResult<WriteStats> {
    let n = sel.count()? as usize;
    check_limits(sel, ds)?;
    if ds.grid.source != ChunkSource::Hsds {
        return Err(ApiError::bad_request("datasets linked to HDF5 files (reference layouts) are read-only"));
    }
    let elems = if ds.is_vlen() {
        if *merge != Merge::Whole {
            return Err(ApiError::new(501, "writing single fields of variable-length compounds is not supported"));
        }
        Some(split_elements(&ds.dtype, data, n).map_err(|e| {
            ApiError::bad_request(format!("the request data is not {n} elements of the dataset type: {e}"))
        })?)
    } else {
        let es = match merge {
            Merge::Whole => ds.item_size,
            Merge::Fields { sub_size, .. } => *sub_size,
        };
        if data.len() != n * es {
            return Err(ApiError::bad_request(format!(
                "the request holds {} bytes of data but the selection needs {} ({n} elements of {es} bytes)",
                data.len(),
                n * es
            )));
        }
        None
    };
    let shape = sel.shape();
    let parts = sel.chunks(&ds.grid.chunk_dims);
    let touched = parts.len();
    let (shape, elems) = (&shape, &elems);
    let failed = &AtomicBool::new(false);
    let writes: Vec<_> = parts
        .iter()
        .map(|part| async move {
            let mut undo = None;
            if failed.load(Ordering::Relaxed) {
                return (part, Ok((false, 0)), undo); // another chunk failed: the write is being taken back
            }
            let outcome = write_chunk(store, bucket, ds, &part.index, |chunk: &mut Vec<u8>| {
                let before = ds.part_elements(part, shape, chunk)?;
                let changed = match elems {
                    Some(elems) => apply_elements(ds, part, shape, elems, chunk)?,
                    None => apply_in(part, shape, data, ds.item_size, merge, chunk),
                };
                undo = Some(Undo { before, after: ds.part_elements(part, shape, chunk)? });
                Ok(changed)
            })
            .await;
            if outcome.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            (part, outcome, undo)
        })
        .collect();
    // Every chunk's write runs to its end (none is dropped half-way), so a failure knows what to undo.
    let outcomes: Vec<_> = stream::iter(writes).buffer_unordered(ds.max_in_flight()).collect().await;
    let mut written = Vec::new();
    let mut failure = None;
    let mut retries = 0;
    for (part, outcome, undo) in outcomes {
        match (outcome, undo) {
            (Ok((true, r)), Some(undo)) => {
                retries += r;
                written.push((part, undo));
            }
            (Ok((_, r)), _) => retries += r,
            (Err(e), _) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        return Err(undo_written(store, bucket, ds, shape, &written, e).await);
    }
    let parts: Vec<&ChunkPart> = written.iter().map(|w| w.0).collect();
    if ds.cas && !parts.is_empty() {
        confirm_written(store, bucket, ds, shape, &parts).await?;
    }
    Ok(WriteStats { touched, written: parts.len(), retries })
}

/// The elements of one chunk that a write replaced, as they were before and after it: enough to take the
/// write back out of the chunk while keeping any later write to the same elements.
struct Undo {
    before: PartElements,
    after: PartElements,
}

/// The selected elements of one chunk, in run order: packed bytes for fixed-size types, one entry per
/// element for variable-length ones.
enum PartElements {
    Fixed(Vec<u8>),
    Vlen(Vec<Vec<u8>>),
}

impl ChunkedDataset {
    /// Copies out the elements of `chunk` that `part` selects.
    fn part_elements(&self, part: &ChunkPart, shape: &[u64], chunk: &[u8]) -> ApiResult<PartElements> {
        if self.is_vlen() {
            let els = self.elements(chunk)?;
            let mut out = Vec::with_capacity(part.count() as usize);
            part.for_each_run(shape, |_, c, len| out.extend_from_slice(&els[c as usize..(c + len) as usize]));
            return Ok(PartElements::Vlen(out));
        }
        let is = self.item_size;
        let mut out = Vec::with_capacity(part.count() as usize * is);
        part.for_each_run(shape, |_, c, len| out.extend_from_slice(&chunk[c as usize * is..(c + len) as usize * is]));
        Ok(PartElements::Fixed(out))
    }

    /// Puts back the `before` value of every element of the part that still holds its `after` value (an
    /// element another request wrote since is left alone); true when anything changed.
    fn restore_part(&self, part: &ChunkPart, shape: &[u64], undo: &Undo, chunk: &mut Vec<u8>) -> ApiResult<bool> {
        let mut changed = false;
        let mut k = 0usize;
        match (&undo.before, &undo.after) {
            (PartElements::Fixed(before), PartElements::Fixed(after)) => {
                let is = self.item_size;
                part.for_each_run(shape, |_, c, len| {
                    for e in c as usize..(c + len) as usize {
                        let (stored, saved) = (e * is..(e + 1) * is, k * is..(k + 1) * is);
                        if chunk[stored.clone()] == after[saved.clone()]
                            && before[saved.clone()] != after[saved.clone()]
                        {
                            chunk[stored].copy_from_slice(&before[saved]);
                            changed = true;
                        }
                        k += 1;
                    }
                });
            }
            (PartElements::Vlen(before), PartElements::Vlen(after)) => {
                let mut els = self.elements(chunk)?;
                part.for_each_run(shape, |_, c, len| {
                    for e in c as usize..(c + len) as usize {
                        if els[e] == after[k] && before[k] != after[k] {
                            els[e].clone_from(&before[k]);
                            changed = true;
                        }
                        k += 1;
                    }
                });
                if changed {
                    *chunk = els.concat();
                }
            }
            _ => return Err(ApiError::internal("chunk undo record of the wrong kind")),
        }
        Ok(changed)
    }
}

/// After one chunk of a write failed (e.g. gave up on contention): takes the write back out of the chunks
/// that were already written, so a failed write leaves nothing half-applied, and returns the error to
/// answer (the original one, or a 500 saying the undo failed too).
async fn undo_written(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    shape: &[u64],
    written: &[(&ChunkPart, Undo)],
    failure: ApiError,
) -> ApiError {
    let undos: Vec<_> = written
        .iter()
        .map(|(part, undo)| {
            let retry = CasRetry::for_cleanup(&ds.chunk_key(&part.index));
            write_chunk_with(store, bucket, ds, &part.index, retry, move |chunk| {
                ds.restore_part(part, shape, undo, chunk)
            })
        })
        .collect();
    let results: Vec<_> = stream::iter(undos).buffer_unordered(ds.max_in_flight()).collect().await;
    match results.into_iter().find_map(Result::err) {
        None => failure,
        Some(e) => {
            tracing::error!("dataset {}: undoing a failed write failed: {e}", ds.id);
            ApiError::internal(format!(
                "{} — and taking back the chunks already written failed too ({}): some of the write may remain",
                failure.message, e.message
            ))
        }
    }
}

/// After writing chunks, re-reads the dataset's JSON so that a write racing a `DELETE` or a shrink never
/// leaves chunks behind: a deleted dataset (or one replaced under the same key) gets the chunks just
/// written removed and a 410; a dataset shrunk so that written elements now fall outside it gets those
/// chunks trimmed to its new extent and a 409. Either way nothing outside the object's current shape
/// remains. (`DELETE` removes the JSON before listing chunks and a shrink swaps the JSON before trimming, so
/// whichever side runs second cleans up.)
async fn confirm_written(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    shape: &[u64],
    written: &[&ChunkPart],
) -> ApiResult<()> {
    let id = ds.id.to_string();
    let current = match get_json(store, bucket, &ds.id.s3_key()).await {
        Ok((json, _)) if json["id"].as_str() == Some(id.as_str()) => Some(json),
        Ok(_) | Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(json) = current else {
        for part in written {
            delete_chunk(store, bucket, ds, &part.index).await?;
        }
        return Err(ApiError::new(
            410,
            format!("dataset {id} was deleted while this write was in flight; nothing of the write was kept"),
        ));
    };
    let extent = match Shape::from_json(&json["shape"]) {
        Ok(Shape::Simple { dims, .. }) => dims,
        Ok(_) => return Ok(()),
        Err(e) => return Err(ApiError::internal(format!("{id}: stored shape: {e}"))),
    };
    if extent.len() != ds.extent.len() || extent.iter().zip(&ds.extent).all(|(now, was)| now >= was) {
        return Ok(());
    }
    let cd = &ds.grid.chunk_dims;
    let mut discarded = false;
    for part in written {
        let outside = outside_extent(&part.index, cd, &extent);
        part.for_each_run(shape, |_, c, len| discarded |= (c..c + len).any(|e| outside(e as usize)));
        trim_chunk(store, bucket, ds, &part.index, &extent).await?;
    }
    if discarded {
        return Err(ApiError::conflict(format!(
            "dataset {id} was resized to {extent:?} while this write was in flight; the elements of the write \
             outside the new shape were discarded"
        )));
    }
    Ok(())
}

/// Copies the part's elements (or fields of them) from `data` into `chunk`; true when any byte changed.
fn apply_in(part: &ChunkPart, shape: &[u64], data: &[u8], is: usize, merge: &Merge, chunk: &mut [u8]) -> bool {
    let mut changed = false;
    match merge {
        Merge::Whole => part.for_each_run(shape, |o, c, len| {
            let (o, c, len) = (o as usize * is, c as usize * is, len as usize * is);
            if chunk[c..c + len] != data[o..o + len] {
                chunk[c..c + len].copy_from_slice(&data[o..o + len]);
                changed = true;
            }
        }),
        Merge::Fields { sub_size, ranges } => part.for_each_run(shape, |o, c, len| {
            for k in 0..len as usize {
                let (src, dst) = ((o as usize + k) * sub_size, (c as usize + k) * is);
                for &(eo, so, l) in ranges {
                    if chunk[dst + eo..dst + eo + l] != data[src + so..src + so + l] {
                        chunk[dst + eo..dst + eo + l].copy_from_slice(&data[src + so..src + so + l]);
                        changed = true;
                    }
                }
            }
        }),
    }
    changed
}

/// Variable-length chunk update: split, replace the part's elements, re-pack; true when anything changed.
fn apply_elements(
    ds: &ChunkedDataset,
    part: &ChunkPart,
    shape: &[u64],
    elems: &[Vec<u8>],
    chunk: &mut Vec<u8>,
) -> ApiResult<bool> {
    let mut els = ds.elements(chunk)?;
    let mut changed = false;
    part.for_each_run(shape, |o, c, len| {
        for k in 0..len as usize {
            let (o, c) = (o as usize + k, c as usize + k);
            if els[c] != elems[o] {
                els[c].clone_from(&elems[o]);
                changed = true;
            }
        }
    });
    if changed {
        *chunk = els.concat();
    }
    Ok(changed)
}

/// One chunk's compare-and-swap: `apply` edits the decoded chunk (its size may change for variable-length
/// types) and says whether it changed. Returns (written, lost races).
pub async fn write_chunk(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    index: &[u64],
    apply: impl FnMut(&mut Vec<u8>) -> ApiResult<bool>,
) -> ApiResult<(bool, usize)> {
    let retry = CasRetry::new(&ds.chunk_key(index));
    write_chunk_with(store, bucket, ds, index, retry, apply).await
}

/// [`write_chunk`] on a given retry schedule.
async fn write_chunk_with(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    index: &[u64],
    mut retry: CasRetry,
    mut apply: impl FnMut(&mut Vec<u8>) -> ApiResult<bool>,
) -> ApiResult<(bool, usize)> {
    let key = ds.chunk_key(index);
    loop {
        retry.begin_attempt()?;
        let (mut chunk, mode) = match ds.load(store, bucket, &key, None).await? {
            Some((data, etag)) => (data.to_vec(), PutMode::Update(etag)),
            None => (ds.fill_chunk(), PutMode::Create),
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
                retry.lost_race().await?
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Every stored chunk object of dataset `id` (keys under its directory not ending in `json`).
///
/// # Errors
/// Store failures.
pub async fn list_chunks(store: &dyn Store, bucket: &str, id: &ObjId) -> ApiResult<Vec<ListEntry>> {
    let prefix = format!("{}/", id.object_dir());
    let all = store.list_all(bucket, &prefix).await?;
    Ok(all.into_iter().filter(|e| !e.key.ends_with("json") && !e.key[prefix.len()..].contains('/')).collect())
}

/// Parses a chunk key's index (`.../3_0` → `[3, 0]`).
pub fn chunk_index_of_key(key: &str) -> Option<Vec<u64>> {
    key.rsplit('/').next()?.split('_').map(|p| p.parse().ok()).collect()
}

/// After a shrink to `new_extent`: deletes chunks wholly outside it and resets the part of edge chunks
/// beyond it to fill (each a compare-and-swap), so a later grow reads fill there, as HSDS does.
///
/// # Errors
/// Store and codec failures.
pub async fn trim_to_extent(store: &dyn Store, bucket: &str, ds: &ChunkedDataset, new_extent: &[u64]) -> ApiResult<()> {
    for entry in list_chunks(store, bucket, &ds.id).await? {
        let Some(index) = chunk_index_of_key(&entry.key) else { continue };
        if index.len() == ds.grid.chunk_dims.len() {
            trim_chunk(store, bucket, ds, &index, new_extent).await?;
        }
    }
    Ok(())
}

/// Deletes one chunk object (and its cache entry).
async fn delete_chunk(store: &dyn Store, bucket: &str, ds: &ChunkedDataset, index: &[u64]) -> ApiResult<()> {
    let key = ds.chunk_key(index);
    match store.delete(bucket, &key).await {
        Ok(()) | Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(c) = &ds.cache {
        c.remove(bucket, &key);
    }
    Ok(())
}

/// Whether element `e` (C-order index inside chunk `index`) lies outside `extent`.
fn outside_extent<'a>(index: &'a [u64], cd: &'a [u64], extent: &'a [u64]) -> impl Fn(usize) -> bool + 'a {
    move |e: usize| {
        let mut rem = e as u64;
        let mut out = false;
        for d in (0..cd.len()).rev() {
            let x = rem % cd[d];
            rem /= cd[d];
            out |= index[d] * cd[d] + x >= extent[d];
        }
        out
    }
}

/// Fits chunk `index` to `new_extent`: deleted when wholly outside, untouched when wholly inside, else its
/// elements beyond the extent reset to fill (a compare-and-swap).
async fn trim_chunk(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    index: &[u64],
    new_extent: &[u64],
) -> ApiResult<()> {
    let cd = &ds.grid.chunk_dims;
    if index.iter().zip(cd).zip(new_extent).any(|((&i, &c), &e)| i * c >= e) {
        return delete_chunk(store, bucket, ds, index).await;
    }
    if index.iter().zip(cd).zip(new_extent).all(|((&i, &c), &e)| (i + 1) * c <= e) {
        return Ok(());
    }
    let outside = outside_extent(index, cd, new_extent);
    write_chunk(store, bucket, ds, index, |chunk| {
        let mut changed = false;
        if ds.is_vlen() {
            let mut els = ds.elements(chunk)?;
            for (e, elem) in els.iter_mut().enumerate() {
                if outside(e) && *elem != ds.fill {
                    elem.clone_from(&ds.fill);
                    changed = true;
                }
            }
            if changed {
                *chunk = els.concat();
            }
            return Ok(changed);
        }
        for (e, elem) in chunk.chunks_exact_mut(ds.item_size.max(1)).enumerate() {
            if outside(e) && elem != ds.fill.as_slice() {
                elem.copy_from_slice(&ds.fill);
                changed = true;
            }
        }
        Ok(changed)
    })
    .await?;
    Ok(())
}

/// The fill element of a dataset of `dtype`: `fill` for fixed-size types, HSDS's uninitialised element
/// (zeros, `00000000` for vlen parts) for variable-length ones.
pub fn fill_for(dtype: &Datatype, fill: Option<Vec<u8>>) -> Vec<u8> {
    match (dtype.item_size(), fill) {
        (Some(_), Some(f)) => f,
        _ => zero_element(dtype),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::store::MemoryStore;

    fn dataset(extent: &[u64], chunks: &[u64], filters: serde_json::Value, fill: i32) -> ChunkedDataset {
        let id = ObjId::parse("d-f9aaa28e-d42e10e5-0123-456789-abcdef").unwrap();
        ChunkedDataset {
            id,
            extent: extent.to_vec(),
            grid: ChunkGrid { chunk_dims: chunks.to_vec(), source: ChunkSource::Hsds },
            item_size: 4,
            dtype: Datatype::from_json(&json!("H5T_STD_I32LE")).unwrap(),
            fill: fill.to_le_bytes().to_vec(),
            pipeline: Pipeline::from_filters(&filters, 4).unwrap(),
            cas: true,
            cache: None,
        }
    }

    /// Stores the dataset's JSON (id and shape), which writes re-read to confirm the dataset still holds them.
    async fn stored(store: &dyn Store, ds: &ChunkedDataset) {
        let doc = json!({"id": ds.id.to_string(), "shape": {"class": "H5S_SIMPLE", "dims": ds.extent}});
        crate::store::json::put_json(store, "b", &ds.id.s3_key(), &doc).await.unwrap();
    }

    fn ints(v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn chunks_touched_counts_without_listing() {
        let sel = |s: &str, extent: &[u64]| Selection::parse(s, extent).unwrap();
        let count = |s: &Selection, c: &[u64]| (chunks_touched(s, c), s.chunks(c).len() as u64);
        for (select, extent, chunks) in [
            ("[0:100]", vec![100], vec![10]),
            ("[3:97:5]", vec![100], vec![3]),
            ("[3:97:4]", vec![100], vec![3]),
            ("[5:6, 0:100:7]", vec![10, 100], vec![4, 5]),
            ("[[1,2,50,51,99]]", vec![100], vec![10]),
            ("[0:1000:20, 7]", vec![1000, 10], vec![1, 1]),
        ] {
            let s = sel(select, &extent);
            let (fast, listed) = count(&s, &chunks);
            assert_eq!(fast, listed, "{select} over chunks {chunks:?}");
        }
        let huge = sel("[0:750000]", &[1_000_000]);
        assert_eq!(chunks_touched(&huge, &[1]), 750_000);
    }

    #[tokio::test]
    async fn too_many_chunks_are_refused_before_any_work() {
        let store = MemoryStore::new();
        let ds = dataset(&[1_000_000], &[1], json!([]), 0);
        let sel = Selection::parse("[0:750000]", &ds.extent).unwrap();
        let e = read(&store, "b", &ds, &sel).await.unwrap_err();
        assert_eq!(e.status, 413);
        assert!(e.message.contains("750000 chunks") && e.message.contains("10000"), "{}", e.message);
        let data = vec![1u8; 750_000 * 4];
        let e = write(&store, "b", &ds, &sel, &data).await.unwrap_err();
        assert_eq!(e.status, 413);
        assert!(
            store.list("b", crate::store::ListOptions::default()).await.unwrap().objects.is_empty(),
            "nothing written"
        );
    }

    #[test]
    fn largest_chunk_is_a_quarter_of_the_memory() {
        assert_eq!(largest_chunk_for_memory(Some(128)), Some(32 << 20));
        assert_eq!(largest_chunk_for_memory(None), None);
    }

    #[tokio::test]
    async fn write_then_read_with_fill_and_edges() {
        let store = MemoryStore::new();
        let ds = dataset(&[40, 30], &[10, 10], json!(null), 7);
        stored(&store, &ds).await;
        let sel = Selection::parse("[5:15,8:12]", &[40, 30]).unwrap();
        let data: Vec<i32> = (0..40).collect();
        let stats = write(&store, "b", &ds, &sel, &ints(&data)).await.unwrap();
        assert_eq!((stats.touched, stats.written), (4, 4));
        // Same bytes as HSDS 1.0.2 wrote for this request: chunk 1_0 row 0 = fill x8, then 20, 21.
        let c = store.get("b", &ds.chunk_key(&[1, 0])).await.unwrap().body;
        assert_eq!(c.len(), 400);
        assert_eq!(&c[..40], ints(&[7, 7, 7, 7, 7, 7, 7, 7, 20, 21]).as_slice());
        let back = read(&store, "b", &ds, &sel).await.unwrap();
        assert_eq!(back, ints(&data));
        let corner = read(&store, "b", &ds, &Selection::parse("[39,29]", &[40, 30]).unwrap()).await.unwrap();
        assert_eq!(corner, ints(&[7]));
    }

    #[tokio::test]
    async fn unchanged_and_fill_only_chunks_are_not_written() {
        let store = MemoryStore::new();
        let ds = dataset(&[40, 30], &[10, 10], json!(null), 7);
        stored(&store, &ds).await;
        let sel = Selection::parse("[30:31,0:1]", &[40, 30]).unwrap();
        let stats = write(&store, "b", &ds, &sel, &ints(&[7])).await.unwrap();
        assert_eq!(stats.written, 0);
        assert!(list_chunks(&store, "b", &ds.id).await.unwrap().is_empty());
        write(&store, "b", &ds, &sel, &ints(&[1])).await.unwrap();
        let etag = store.get("b", &ds.chunk_key(&[3, 0])).await.unwrap().etag;
        assert_eq!(write(&store, "b", &ds, &sel, &ints(&[1])).await.unwrap().written, 0);
        assert_eq!(store.get("b", &ds.chunk_key(&[3, 0])).await.unwrap().etag, etag);
    }

    #[tokio::test]
    async fn compressed_chunks_round_trip() {
        let store = MemoryStore::new();
        let f = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "name": "deflate", "level": 5}]);
        let ds = dataset(&[100], &[50], f, 0);
        stored(&store, &ds).await;
        let sel = Selection::all(&[100]);
        let data: Vec<i32> = (0..100).collect();
        write(&store, "b", &ds, &sel, &ints(&data)).await.unwrap();
        let stored = store.get("b", &ds.chunk_key(&[1])).await.unwrap().body;
        assert_eq!(&stored[..2], &[2, 1]); // a blosc1 frame, as HSDS writes
        assert_eq!(read(&store, "b", &ds, &sel).await.unwrap(), ints(&data));
    }

    #[tokio::test]
    async fn slices_at_the_start_of_gzip_chunks_decode_only_that_far_and_read_right() {
        let store = MemoryStore::new();
        let f = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 4}]);
        let ds = dataset(&[8, 10, 10], &[4, 10, 10], f, 0);
        stored(&store, &ds).await;
        let data: Vec<i32> = (0..800).collect();
        write(&store, "b", &ds, &Selection::all(&[8, 10, 10]), &ints(&data)).await.unwrap();
        // [4, :, :] reads the first quarter of chunk 1 only: the prefix decoder serves it.
        let plane = read(&store, "b", &ds, &Selection::parse("[4,:,:]", &[8, 10, 10]).unwrap()).await.unwrap();
        assert_eq!(plane, ints(&data[400..500]));
        let stored = store.get("b", &ds.chunk_key(&[1, 0, 0])).await.unwrap().body;
        let part = prefix::decode_prefix(&ds.pipeline, &stored, ds.chunk_bytes(), 400).expect("zlib frame").unwrap();
        assert_eq!(part.len(), 400);
        let corner = read(&store, "b", &ds, &Selection::parse("[0:8:4,0:2,9]", &[8, 10, 10]).unwrap()).await.unwrap();
        assert_eq!(corner, ints(&[9, 19, 409, 419]));
    }

    #[tokio::test]
    async fn a_slice_at_the_start_of_big_gzip_chunks_fetches_only_their_first_bytes() {
        let store = MemoryStore::new();
        let f = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]);
        let ds = dataset(&[500, 50, 50], &[250, 50, 50], f, 0);
        stored(&store, &ds).await;
        // Values that compress a little, like measurements (20 random bits each): chunks of 2.5 MB stored
        // as ~2 MB, of which a 10 KB plane needs the first ~10 KB.
        let mut x = 7u64;
        let data: Vec<i32> = (0..500 * 2500)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 44) as i32
            })
            .collect();
        write(&store, "b", &ds, &Selection::all(&[500, 50, 50]), &ints(&data)).await.unwrap();
        let stored_bytes = store.get("b", &ds.chunk_key(&[1, 0, 0])).await.unwrap().body.len();
        let before = store.bytes_served();
        let plane = read(&store, "b", &ds, &Selection::parse("[250,:,:]", &[500, 50, 50]).unwrap()).await.unwrap();
        assert_eq!(plane, ints(&data[250 * 2500..251 * 2500]));
        let fetched = (store.bytes_served() - before) as usize;
        assert!(
            fetched < stored_bytes / 4,
            "a 10 KB plane fetched {fetched} bytes of a {stored_bytes}-byte chunk object"
        );
        // A plane 60 % of the way into a chunk: its prefix, not the whole object.
        let before = store.bytes_served();
        let plane = read(&store, "b", &ds, &Selection::parse("[400,:,:]", &[500, 50, 50]).unwrap()).await.unwrap();
        assert_eq!(plane, ints(&data[400 * 2500..401 * 2500]));
        let fetched = (store.bytes_served() - before) as usize;
        let range = prefix::stored_prefix_len(151 * 2500 * 4) as usize;
        assert!(fetched <= range && range < stored_bytes, "a plane at 60 % fetched {fetched} of {stored_bytes} bytes");
        // Whole-chunk reads still fetch everything and read right.
        let all = read(&store, "b", &ds, &Selection::all(&[500, 50, 50])).await.unwrap();
        assert_eq!(all, ints(&data));
    }

    #[tokio::test]
    async fn wrong_length_is_rejected_before_any_write() {
        let store = MemoryStore::new();
        let ds = dataset(&[10], &[10], json!(null), 0);
        stored(&store, &ds).await;
        let e = write(&store, "b", &ds, &Selection::all(&[10]), &ints(&[1, 2])).await.unwrap_err();
        assert_eq!(e.status, 400);
        assert!(list_chunks(&store, "b", &ds.id).await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_to_one_chunk_lose_nothing() {
        let store = Arc::new(MemoryStore::new());
        let ds = Arc::new(dataset(&[64], &[64], json!(null), 0));
        stored(store.as_ref(), &ds).await;
        let mut tasks = Vec::new();
        for i in 0..32u64 {
            let (store, ds) = (store.clone(), ds.clone());
            tasks.push(tokio::spawn(async move {
                let sel = Selection::parse(&format!("[{i}]"), &[64]).unwrap();
                write(store.as_ref(), "b", &ds, &sel, &ints(&[i as i32 + 1])).await.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let all = read(store.as_ref(), "b", &ds, &Selection::parse("[0:32]", &[64]).unwrap()).await.unwrap();
        assert_eq!(all, ints(&(1..=32).collect::<Vec<i32>>()));
    }

    #[tokio::test]
    async fn cached_chunks_are_revalidated_and_never_stale() {
        let store = MemoryStore::new();
        let mut ds = dataset(&[8], &[4], json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]), 0);
        stored(&store, &ds).await;
        let cache = Arc::new(ChunkCache::new(1 << 20));
        ds.cache = Some(cache.clone());
        let all = Selection::all(&[8]);
        write(&store, "b", &ds, &all, &ints(&[1, 2, 3, 4, 5, 6, 7, 8])).await.unwrap();
        assert_eq!(cache.stats().entries, 2); // writes leave the chunks they wrote, under their new ETags
        assert_eq!(read(&store, "b", &ds, &all).await.unwrap(), ints(&[1, 2, 3, 4, 5, 6, 7, 8]));
        // Another writer (a different Lambda instance) replaces chunk 1 behind the cache's back.
        let mut other = ds.clone();
        other.cache = None;
        write(&store, "b", &other, &Selection::parse("[4:8]", &[8]).unwrap(), &ints(&[9, 9, 9, 9])).await.unwrap();
        assert_eq!(read(&store, "b", &ds, &all).await.unwrap(), ints(&[1, 2, 3, 4, 9, 9, 9, 9]));
        store.delete("b", &ds.chunk_key(&[0])).await.unwrap();
        assert_eq!(read(&store, "b", &ds, &all).await.unwrap(), ints(&[0, 0, 0, 0, 9, 9, 9, 9]));
        assert_eq!(cache.stats().entries, 1);
        // A read-modify-write through a stale entry still wins the CAS against the current chunk.
        write(&store, "b", &other, &Selection::parse("[4]", &[8]).unwrap(), &ints(&[5])).await.unwrap();
        write(&store, "b", &ds, &Selection::parse("[5]", &[8]).unwrap(), &ints(&[6])).await.unwrap();
        assert_eq!(read(&store, "b", &other, &all).await.unwrap(), ints(&[0, 0, 0, 0, 5, 6, 9, 9]));
    }

    /// With a chunk cache, a read needing 40 % of a chunk decodes it whole and keeps it (the next slices of the
    /// chunk are then cache hits); one needing 1 % still decodes only its prefix and keeps nothing.
    #[tokio::test]
    async fn with_a_cache_mid_chunk_reads_decode_whole_chunks_and_keep_them() {
        let store = MemoryStore::new();
        let f = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]);
        let mut ds = dataset(&[100, 10, 10], &[100, 10, 10], f, 0);
        stored(&store, &ds).await;
        let data: Vec<i32> = (0..10_000).collect();
        write(&store, "b", &ds, &Selection::all(&[100, 10, 10]), &ints(&data)).await.unwrap();
        let cache = Arc::new(ChunkCache::new(1 << 20));
        ds.cache = Some(cache.clone());
        let start = read(&store, "b", &ds, &Selection::parse("[0,:,:]", &[100, 10, 10]).unwrap()).await.unwrap();
        assert_eq!(start, ints(&data[..100]));
        assert_eq!(cache.stats().entries, 0, "a 1 % prefix is decoded alone, not cached");
        let mid = read(&store, "b", &ds, &Selection::parse("[39,:,:]", &[100, 10, 10]).unwrap()).await.unwrap();
        assert_eq!(mid, ints(&data[3900..4000]));
        assert_eq!(cache.stats().entries, 1, "a 40 % prefix decodes the chunk whole and keeps it");
    }

    #[tokio::test]
    async fn trim_resets_edges_and_deletes_outside_chunks() {
        let store = MemoryStore::new();
        let ds = dataset(&[20], &[5], json!(null), 9);
        stored(&store, &ds).await;
        let data: Vec<i32> = (0..20).collect();
        write(&store, "b", &ds, &Selection::all(&[20]), &ints(&data)).await.unwrap();
        trim_to_extent(&store, "b", &ds, &[7]).await.unwrap();
        assert_eq!(list_chunks(&store, "b", &ds.id).await.unwrap().len(), 2);
        let grown = read(&store, "b", &ds, &Selection::parse("[0:12]", &[20]).unwrap()).await.unwrap();
        assert_eq!(grown, ints(&[0, 1, 2, 3, 4, 5, 6, 9, 9, 9, 9, 9]));
    }
}
