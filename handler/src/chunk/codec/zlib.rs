//! Raw zlib streams (RFC 1950): how HDF5's deflate filter stores linked chunks, and what HSDS's `_uncompress`
//! falls back to for gzip/deflate datasets when the bytes are not a blosc frame.

use flate2::{Decompress, FlushDecompress, Status};

use super::CodecError;

/// Inflates a complete zlib stream that must hold at most `max_len` bytes, into a buffer allocated once with
/// capacity `max_len` (the decoder never grows it).
pub fn decompress(stream: &[u8], max_len: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(max_len);
    let mut inflater = Decompress::new(true);
    let status = inflater
        .decompress_vec(stream, &mut out, FlushDecompress::Finish)
        .map_err(|e| CodecError::corrupt(format!("zlib stream does not inflate: {e}")))?;
    match status {
        Status::StreamEnd => Ok(out),
        _ if out.len() == max_len => {
            Err(CodecError::corrupt(format!("zlib stream inflates to more than the {max_len} bytes expected")))
        }
        _ => Err(CodecError::corrupt(format!("zlib stream is truncated after {} bytes", out.len()))),
    }
}

/// Deflates `raw` into a zlib stream at `level` (0-9), as HDF5's deflate filter stores linked chunks.
#[cfg(test)]
pub fn compress(raw: &[u8], level: u8) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(u32::from(level.min(9))));
    std::io::Write::write_all(&mut enc, raw).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}
