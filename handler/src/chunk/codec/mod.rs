//! Chunk codecs: how chunk bytes are stored, byte-compatible with HSDS 1.0.2 (`storUtil._compress`/`_uncompress`).
//!
//! A [`Pipeline`] is built once per dataset from `creationProperties.filters` and turns a chunk's raw C-order bytes
//! into stored bytes and back:
//!
//! * **compressor** (gzip/deflate, blosclz, lz4, lz4hc, zstd): a blosc1 frame as numcodecs `Blosc` writes it (c-blosc
//!   1.21.6, cname `zlib` for gzip/deflate). Zlib frames are read by our own decoder on libdeflate (`blosc_zlib`,
//!   2-4x faster than c-blosc's zlib), all other frames by c-blosc. HSDS frames with typesize 1; we frame with the dataset's item size and
//!   byte shuffle when the list has `shuffle`, which compresses better and which HSDS (numcodecs) reads like any
//!   frame. On read, bytes that are not a blosc frame are inflated as a raw zlib stream for gzip/deflate datasets
//!   (linked HDF5 chunks), then byte-unshuffled if the list has `shuffle`.
//! * **shuffle without a compressor**: stored raw, read raw. HSDS writes such chunks raw but unshuffles them on read
//!   (a bug that corrupts every value once the chunk leaves its cache); the raw bytes are the on-disk truth.
//! * **bitshuffle** (`H5Z_FILTER_SHUFFLE` named "bitshuffle"): bitshuffle+LZ4 with HSDS's 12-byte header, then the
//!   compressor's blosc frame (shuffle off) if there is one.
//! * fletcher32, nbit, scaleoffset: accepted and stored, but no-ops, as in HSDS.

mod bitshuffle;
mod blosc;
mod blosc_zlib;
mod blosc_zlib_write;
mod filters;
mod shuffle;
pub(crate) mod zlib;

pub use blosc::Cname;
pub use filters::{normalize_filters, FilterOps, ShuffleOp};

use crate::model::ModelError;

/// Compressor names HSDS reports as `compressors` in `GET /` (`storUtil.getCompressors()`), in its order: the
/// blosc compressor list with `zlib` renamed `gzip`, then `deflate` as an alias.
pub const COMPRESSORS: &[&str] = &["blosclz", "lz4", "lz4hc", "gzip", "zstd", "deflate"];

/// Why stored chunk bytes could not be decoded, or raw bytes encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The stored bytes are not a valid encoding for this dataset's filters.
    #[error("{0}")]
    Corrupt(String),
    /// The stored bytes decode (or claim to decode) to a size other than the chunk size.
    #[error("decodes to {actual} bytes, expected {expected}")]
    WrongSize {
        /// The size the caller expected (or the most it allows).
        expected: usize,
        /// The size the stored bytes decode to or announce.
        actual: usize,
    },
    /// A chunk too large for a blosc1 frame.
    #[error("{len} bytes is more than the {max} bytes a blosc frame can hold")]
    TooLarge {
        /// Size of the raw chunk.
        len: usize,
        /// The largest size that can be framed.
        max: usize,
    },
    /// The compressor failed on valid input (should not happen).
    #[error("compression failed: {0}")]
    Encode(String),
}

impl CodecError {
    /// Shorthand for [`CodecError::Corrupt`].
    pub fn corrupt(msg: impl Into<String>) -> Self {
        CodecError::Corrupt(msg.into())
    }
}

/// The encode/decode steps for one dataset's chunks, built once per dataset from its filter list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    ops: FilterOps,
    /// Bytes per element; 0 for variable-length types.
    item_size: usize,
}

impl Pipeline {
    /// Builds the pipeline for a dataset from its stored `creationProperties.filters` (a list, or absent/`null`)
    /// and its element size in bytes. Pass `item_size` 0 for variable-length types: HSDS never shuffles those,
    /// and their chunks are framed with typesize 1.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] for a malformed list, or a compressor HSDS cannot run (lzf, szip, snappy).
    pub fn from_filters(filters: &serde_json::Value, item_size: usize) -> Result<Pipeline, ModelError> {
        let ops = FilterOps::from_filters(filters, item_size == 0)?;
        Ok(Pipeline { ops, item_size })
    }

    /// The operations this pipeline runs.
    pub fn ops(&self) -> FilterOps {
        self.ops
    }

    /// Whether chunks are stored raw (no compressor, no bitshuffle): encode and decode are then plain copies.
    pub fn is_identity(&self) -> bool {
        self.ops.compressor.is_none() && self.ops.shuffle != ShuffleOp::Bit
    }

    /// Encodes one chunk's raw bytes into the bytes to store.
    ///
    /// # Errors
    /// [`CodecError::TooLarge`] for a chunk over 2 GiB; [`CodecError::Encode`] if the compressor fails.
    pub fn encode(&self, raw: &[u8]) -> Result<Vec<u8>, CodecError> {
        let bitshuffled;
        let (data, shuffle, typesize) = match self.ops.shuffle {
            ShuffleOp::Bit => {
                bitshuffled = bitshuffle::compress(raw, self.item_size)?;
                (bitshuffled.as_slice(), blosc::BloscShuffle::None, 1)
            }
            ShuffleOp::Byte => (raw, blosc::BloscShuffle::Byte, self.item_size),
            ShuffleOp::None => (raw, blosc::BloscShuffle::None, 1),
        };
        match self.ops.compressor {
            Some(cname) => blosc::compress(data, cname, self.ops.level, shuffle, typesize),
            None => Ok(data.to_vec()),
        }
    }

    /// Decodes stored chunk bytes, which must hold exactly `expected_len` raw bytes (the chunk's full size).
    /// Never allocates much more than `expected_len`, whatever the stored bytes say.
    ///
    /// # Errors
    /// [`CodecError::WrongSize`] or [`CodecError::Corrupt`] when the stored bytes do not decode to `expected_len`
    /// bytes.
    pub fn decode(&self, stored: &[u8], expected_len: usize) -> Result<Vec<u8>, CodecError> {
        let raw = self.decode_bounded(stored, expected_len)?;
        if raw.len() != expected_len {
            return Err(CodecError::WrongSize { expected: expected_len, actual: raw.len() });
        }
        Ok(raw)
    }

    /// Decodes stored chunk bytes of unknown raw size (variable-length types), allowing at most `max_len` bytes.
    ///
    /// # Errors
    /// [`CodecError::WrongSize`] or [`CodecError::Corrupt`] when the stored bytes do not decode within `max_len`.
    pub fn decode_bounded(&self, stored: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
        let bit = self.ops.shuffle == ShuffleOp::Bit;
        // A bitshuffled chunk is bigger than its raw size before compression, by at most this bound.
        let stage_max = if bit { bitshuffle::max_encoded_len(max_len, self.item_size) } else { max_len };
        let data = match self.ops.compressor {
            None if stored.len() > stage_max => {
                return Err(CodecError::WrongSize { expected: stage_max, actual: stored.len() });
            }
            None => stored.to_vec(),
            Some(cname) => self.decompress(stored, cname, stage_max)?,
        };
        if bit {
            bitshuffle::decompress(&data, self.item_size, max_len)
        } else {
            Ok(data)
        }
    }

    /// The compressor stage of HSDS's `_uncompress`: a blosc frame if the bytes look like one, else (gzip/deflate
    /// only) a raw zlib stream, byte-unshuffled afterwards when the filters include shuffle.
    fn decompress(&self, stored: &[u8], cname: Cname, max_len: usize) -> Result<Vec<u8>, CodecError> {
        if let Some(head) = blosc::header(stored) {
            return blosc::decompress(stored, head, max_len);
        }
        if cname != Cname::Zlib {
            return Err(CodecError::corrupt(format!("not a blosc frame ({} bytes)", stored.len())));
        }
        let raw = zlib::decompress(stored, max_len)?;
        match self.ops.shuffle {
            ShuffleOp::Byte => shuffle::unshuffle(&raw, self.item_size),
            _ => Ok(raw),
        }
    }
}

/// Frames `raw` as HSDS writes a gzip chunk (numcodecs `Blosc("zlib", level, NOSHUFFLE)` on bytes: typesize 1)
/// with c-blosc alone: byte-identical to HSDS's chunk, the reference our zlib writer is timed against.
///
/// # Errors
/// [`CodecError::TooLarge`] past blosc1's 2 GB frame limit.
pub fn reference_blosc_gzip_encode(raw: &[u8], level: u8) -> Result<Vec<u8>, CodecError> {
    blosc::compress_with(raw, Cname::Zlib, level, blosc::BloscShuffle::None, 1, blosc::Writer::CBlosc)
}

/// Decodes a blosc1 frame with c-blosc alone, whatever its codec, allowing at most `max_len` bytes: the reference
/// our zlib frame reader is tested and benchmarked against (`Pipeline::decode` uses the faster one).
///
/// # Errors
/// [`CodecError::Corrupt`] when `frame` is not a blosc1 frame or does not decode; [`CodecError::WrongSize`]
/// when it announces more than `max_len` bytes.
pub fn reference_blosc_decode(frame: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
    let head = blosc::header(frame).ok_or_else(|| CodecError::corrupt("not a blosc frame"))?;
    blosc::decompress_with(frame, head, max_len, blosc::Reader::CBlosc)
}

#[cfg(test)]
mod tests;

/// `n` pseudo-random bytes (an LCG seeded with `seed`): data no codec compresses, for tests.
#[cfg(test)]
pub(crate) fn noise_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}
