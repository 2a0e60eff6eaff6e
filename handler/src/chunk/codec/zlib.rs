//! Raw zlib streams (RFC 1950): how HDF5's deflate filter stores linked chunks, and what HSDS's `_uncompress`
//! falls back to for gzip/deflate datasets when the bytes are not a blosc frame.

use std::io::Read;

use flate2::read::ZlibDecoder;

use super::CodecError;

/// Inflates a zlib stream that must hold at most `max_len` bytes; never buffers more than `max_len + 1` bytes.
pub fn decompress(stream: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(max_len);
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    ZlibDecoder::new(stream)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| CodecError::corrupt(format!("zlib stream does not inflate: {e}")))?;
    if out.len() > max_len {
        return Err(CodecError::corrupt(format!("zlib stream inflates to more than the {max_len} bytes expected")));
    }
    Ok(out)
}

/// Deflates `raw` into a zlib stream at `level` (0-9), as HDF5's deflate filter stores linked chunks.
#[cfg(test)]
pub fn compress(raw: &[u8], level: u8) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(u32::from(level.min(9))));
    std::io::Write::write_all(&mut enc, raw).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}
