//! HDF5-style byte shuffle (numcodecs `Shuffle(elementsize)`, HDF5 filter 2): byte `j` of item `i` moves to
//! position `j * count + i`, grouping equal-significance bytes so they compress better.

use super::CodecError;

/// Shuffles `raw` as numcodecs `Shuffle(item_size).encode(raw)`; `raw.len()` must be a multiple of `item_size`.
/// Only linked HDF5 chunks are stored this way, so only tests write it.
#[cfg(test)]
pub(super) fn shuffle(raw: &[u8], item_size: usize) -> Result<Vec<u8>, CodecError> {
    let count = item_count(raw.len(), item_size)?;
    if item_size <= 1 {
        return Ok(raw.to_vec());
    }
    let mut out = vec![0u8; raw.len()];
    for (i, item) in raw.chunks_exact(item_size).enumerate() {
        for (j, &byte) in item.iter().enumerate() {
            out[j * count + i] = byte;
        }
    }
    Ok(out)
}

/// Reverses [`shuffle`], as numcodecs `Shuffle(item_size).decode(data)`.
pub(super) fn unshuffle(data: &[u8], item_size: usize) -> Result<Vec<u8>, CodecError> {
    let count = item_count(data.len(), item_size)?;
    if item_size <= 1 {
        return Ok(data.to_vec());
    }
    let mut out = vec![0u8; data.len()];
    for (i, item) in out.chunks_exact_mut(item_size).enumerate() {
        for (j, byte) in item.iter_mut().enumerate() {
            *byte = data[j * count + i];
        }
    }
    Ok(out)
}

/// Number of items in `len` bytes; an item size of 0 or 1 means nothing to shuffle (one byte per item).
fn item_count(len: usize, item_size: usize) -> Result<usize, CodecError> {
    let item_size = item_size.max(1);
    if !len.is_multiple_of(item_size) {
        return Err(CodecError::corrupt(format!(
            "{len} shuffled bytes are not a whole number of {item_size}-byte items"
        )));
    }
    Ok(len / item_size)
}
