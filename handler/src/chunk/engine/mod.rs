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
//! With a [`WarmCache`], decoded chunks are reused across requests after the store confirms their ETag.
//!
//! This file holds the dataset handle ([`ChunkedDataset`]); the rest is split by capability:
//! - [`limits`]: bytes and chunks in flight, and the per-request limits checked before any work;
//! - `fetch`: one chunk from the store (through the cache, partially decoded when that is enough);
//! - `linked`: chunks that live in HDF5 files (`H5D_CHUNKED_REF`, `H5D_CONTIGUOUS_REF`, `..._INDIRECT`);
//! - `read`: a selection into one output buffer ([`read`], [`read_indirect`]);
//! - `write`: a selection written chunk by chunk ([`write`], [`write_merged`]), checked against the
//!   dataset's current JSON afterwards;
//! - `undo`: taking a failed write back out of the chunks it already wrote;
//! - `cas`: one chunk's compare-and-swap ([`write_chunk`]);
//! - `extent`: chunk listing and trimming after a shrink ([`trim_to_extent`]).

use std::sync::Arc;

use crate::chunk::cache::WarmCache;
use crate::chunk::codec::Pipeline;
use crate::chunk::{ChunkError, ChunkResult};
use crate::model::elements::{split_elements, zero_element};
use crate::model::layout::{ChunkGrid, ChunkInit};
use crate::model::types::Datatype;
use crate::model::ObjId;
use listing::ChunkListing;

mod cas;
mod extent;
mod fetch;
pub mod limits;
mod linked;
pub mod listing;
mod read;
mod undo;
mod write;

#[cfg(test)]
pub(crate) mod tests;

pub use cas::write_chunk;
pub use extent::{chunk_index_of_key, list_chunks, trim_to_extent};
pub use limits::{
    chunks_touched, function_memory_mb, in_flight_bytes_for_memory, largest_chunk_for_memory, IN_FLIGHT_BYTES,
    MAX_CHUNKS_IN_FLIGHT, MAX_CHUNKS_PER_REQUEST, MAX_VLEN_CHUNK_BYTES, PREFIX_MAX_PERCENT, PREFIX_MAX_PERCENT_CACHED,
};
pub use read::{read, read_indirect};
pub use write::{write, write_merged, Merge, WriteStats};

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
    /// The chunk initializer whose values a never-written chunk holds instead of fill (HSDS's `arange`).
    pub init: Option<ChunkInit>,
    /// The dataset's filter pipeline.
    pub pipeline: Pipeline,
    /// Whether writes use compare-and-swap (false: last writer wins, as HSDS on Lambda).
    pub cas: bool,
    /// Decoded chunks shared across requests (validated by ETag on every use).
    pub cache: Option<Arc<WarmCache>>,
    /// What the store said about chunk keys at the start of this request, when the request revalidated its
    /// cached chunks early ([`ChunkedDataset::revalidate_cached`]): a read whose keys it all covers trusts it as
    /// its own LIST page instead of listing again.
    pub listed: Option<Arc<ChunkListing>>,
}

impl ChunkedDataset {
    /// Raw bytes of one chunk (fixed-size types; 0 for variable-length ones).
    pub fn chunk_bytes(&self) -> usize {
        self.grid.chunk_elements() as usize * self.item_size
    }

    fn is_vlen(&self) -> bool {
        self.item_size == 0
    }

    /// A whole chunk of fill value.
    pub fn fill_chunk(&self) -> Vec<u8> {
        if self.fill.iter().all(|&b| b == 0) && !self.is_vlen() {
            return vec![0; self.chunk_bytes()];
        }
        self.fill.repeat(self.grid.chunk_elements() as usize)
    }

    /// What chunk `index` holds before it is first written: the initializer's values, else fill.
    pub fn initial_chunk(&self, index: &[u64]) -> ChunkResult<Vec<u8>> {
        match &self.init {
            Some(init) => Ok(init.chunk(&self.dtype, index, &self.grid.chunk_dims)?),
            None => Ok(self.fill_chunk()),
        }
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
    fn elements(&self, chunk: &[u8]) -> ChunkResult<Vec<Vec<u8>>> {
        split_elements(&self.dtype, chunk, self.grid.chunk_elements() as usize)
            .map_err(|e| ChunkError::Corrupt(format!("stored chunk of dataset {} is corrupt: {e}", self.id)))
    }
}

/// The fill element of a dataset of `dtype`: `fill` for fixed-size types, HSDS's uninitialised element
/// (zeros, `00000000` for vlen parts) for variable-length ones.
pub fn fill_for(dtype: &Datatype, fill: Option<Vec<u8>>) -> Vec<u8> {
    match (dtype.item_size(), fill) {
        (Some(_), Some(f)) => f,
        _ => zero_element(dtype),
    }
}
