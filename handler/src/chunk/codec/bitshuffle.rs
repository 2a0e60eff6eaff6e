//! Bitshuffle + LZ4 (HDF5 filter 32008 format, as HSDS `storUtil._shuffle` writes it): a 12-byte big-endian header
//! (total raw bytes: u64, block bytes: u32), then per block a u32 BE compressed size and an LZ4 block of the
//! bit-transposed block.

use super::CodecError;

/// Upper bound of the encoded size of `raw_len` raw bytes.
pub fn max_encoded_len(raw_len: usize, _item_size: usize) -> usize {
    raw_len + raw_len / 255 * 2 + 16 * 1024 + 12
}

/// Bitshuffles and LZ4-compresses `raw`.
pub fn compress(_raw: &[u8], _item_size: usize) -> Result<Vec<u8>, CodecError> {
    Err(CodecError::Encode("bitshuffle is not implemented yet".into()))
}

/// Reverses [`compress`]; the result holds at most `max_len` bytes.
pub fn decompress(_data: &[u8], _item_size: usize, _max_len: usize) -> Result<Vec<u8>, CodecError> {
    Err(CodecError::corrupt("bitshuffle is not implemented yet"))
}
