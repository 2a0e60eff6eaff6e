//! Limits of the engine: how many bytes and chunks it keeps in flight, when it decodes only a chunk's
//! prefix, and what one request may touch (checked before any work starts, so an oversized request fails
//! fast instead of exhausting a small function).

use super::ChunkedDataset;
use crate::chunk::{ChunkError, ChunkResult};
use crate::model::selection::Selection;

/// Bytes of raw chunk data the engine keeps in flight at once (fetching, decoding or encoding), at most: a
/// function with less than 512 MB gets a sixteenth of its memory ([`in_flight_bytes_for_memory`]).
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

/// This function's memory size in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, read once); `None` off Lambda.
pub fn function_memory_mb() -> Option<u64> {
    static MB: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *MB.get_or_init(|| std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok().and_then(|v| v.trim().parse().ok()))
}

/// Bytes of raw chunk data in flight for a function with `memory_mb`: [`IN_FLIGHT_BYTES`], or a sixteenth of
/// the memory when that is less. A chunk in flight costs about twice its raw size (the bytes fetched and the
/// bytes decoded), so at 128 MB the full 32 MB kept ~60 MB of a streamed read's peak in chunks of one band
/// (eight 3.2 MB chunks fetched at once). Below 512 MB a function has under 0.3 vCPU, so fetching fewer
/// chunks at once costs it little time.
pub fn in_flight_bytes_for_memory(memory_mb: Option<u64>) -> u64 {
    memory_mb.map_or(IN_FLIGHT_BYTES, |mb| IN_FLIGHT_BYTES.min((mb << 20) / 16))
}

/// [`largest_chunk_for_memory`] of this process.
fn largest_chunk() -> Option<u64> {
    largest_chunk_for_memory(function_memory_mb())
}

/// Refuses ([`ChunkError::TooLarge`]), before any work starts, a selection touching more than [`MAX_CHUNKS_PER_REQUEST`]
/// chunks, and any access to chunks larger than this function's memory allows ([`largest_chunk`]).
pub(super) fn check_limits(sel: &Selection, ds: &ChunkedDataset) -> ChunkResult<()> {
    let chunk_bytes = ds.chunk_bytes() as u64;
    if let Some(limit) = largest_chunk().filter(|l| !ds.is_vlen() && chunk_bytes > *l) {
        return Err(ChunkError::TooLarge(format!(
            "the dataset's chunks are {chunk_bytes} bytes each, more than this function can decode with its memory \
             (at most {limit} bytes, a quarter of AWS_LAMBDA_FUNCTION_MEMORY_SIZE); give the function more memory"
        )));
    }
    let n = chunks_touched(sel, &ds.grid.chunk_dims);
    if n > MAX_CHUNKS_PER_REQUEST {
        return Err(ChunkError::TooLarge(format!(
            "the selection touches {n} chunks of {:?}, over this function's limit of {MAX_CHUNKS_PER_REQUEST} chunks per \
             request; select fewer elements per request (e.g. fewer rows of the first dimension)",
            ds.grid.chunk_dims
        )));
    }
    Ok(())
}

impl ChunkedDataset {
    /// How many chunks may be in flight at once (by [`in_flight_bytes_for_memory`], at least 1).
    pub fn max_in_flight(&self) -> usize {
        let guess = if self.is_vlen() { self.grid.chunk_elements() as usize * 64 } else { self.chunk_bytes() };
        let budget = in_flight_bytes_for_memory(function_memory_mb());
        ((budget / (guess.max(1) as u64)) as usize).clamp(1, MAX_CHUNKS_IN_FLIGHT)
    }
}
