//! Raw zlib streams (RFC 1950): how HDF5's deflate filter stores linked chunks, what HSDS's `_uncompress`
//! falls back to for gzip/deflate datasets when the bytes are not a blosc frame, and the streams inside blosc
//! zlib frames ([`super::blosc_zlib`]).
//!
//! Inflating uses libdeflate (the `libdeflater` crate), which decodes a whole stream into a buffer of known
//! size 1.3-2x faster than zlib's streaming inflate (see BENCHMARKS.md "Chunk codecs").

use std::cell::RefCell;

use libdeflater::{DecompressionError, Decompressor};

use super::CodecError;

thread_local! {
    /// One libdeflate decompressor per thread (its ~10 KB of tables are reused by every stream it inflates).
    static DECOMPRESSOR: RefCell<Decompressor> = RefCell::new(Decompressor::new());
}

/// Inflates a complete zlib stream into `out`, returning how many bytes it held (at most `out.len()`); the
/// Adler-32 checksum is verified.
pub(crate) fn inflate_into(stream: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
    let result = DECOMPRESSOR.with(|d| d.borrow_mut().zlib_decompress(stream, out));
    result.map_err(|e| match e {
        DecompressionError::InsufficientSpace => {
            CodecError::corrupt(format!("zlib stream inflates to more than the {} bytes expected", out.len()))
        }
        DecompressionError::BadData => CodecError::corrupt("zlib stream does not inflate (corrupt or truncated)"),
    })
}

/// Inflates a complete zlib stream that must hold at most `max_len` bytes. The output buffer is reserved at
/// `max_len` but only the pages the stream fills are touched.
pub(crate) fn decompress(stream: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![0u8; max_len];
    let n = inflate_into(stream, &mut out)?;
    if n < out.len() {
        out.truncate(n);
        out.shrink_to_fit();
    }
    Ok(out)
}

/// Deflates `raw` into a zlib stream at `level` (0-9), as HDF5's deflate filter stores linked chunks.
#[cfg(test)]
pub(crate) fn compress(raw: &[u8], level: u8) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(u32::from(level.min(9))));
    std::io::Write::write_all(&mut enc, raw).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}
