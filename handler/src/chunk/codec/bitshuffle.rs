//! Bitshuffle + LZ4 (the HDF5 bshuf filter 32008 format, as HSDS `storUtil._shuffle` writes it with the
//! `bitshuffle` package): a 12-byte big-endian header (total raw bytes: u64, block bytes: u32), then for each block
//! of `block` items a u32 BE compressed size and an LZ4 block of the bit-transposed items. A final partial block is
//! rounded down to a multiple of 8 items; the last `len % 8` items are appended raw.
//!
//! The bit transpose of a block of `n` items of `s` bytes writes bit `k` of byte `j` of item `i` to bit `i % 8` of
//! byte `i / 8` of row `8 j + k` (rows of `n / 8` bytes). LZ4 is `lz4_flex` (safe Rust): our blocks may differ
//! byte-wise from liblz4's, but any LZ4 decoder reads them.

use super::CodecError;

/// Length of HSDS's header.
const HEADER_LEN: usize = 12;
/// Block size in items HSDS writes with (config `bit_shuffle_default_blocksize`).
const DEFAULT_BLOCK_ITEMS: usize = 2048;

/// Upper bound of the encoded size of `raw_len` raw bytes in blocks of at least 8 items of `item_size` bytes:
/// header, plus per block a 4-byte size and LZ4's worst case (`n + n / 255 + 16`).
pub(super) fn max_encoded_len(raw_len: usize, item_size: usize) -> usize {
    let blocks = raw_len / (8 * item_size.max(1)) + 1;
    HEADER_LEN + raw_len + raw_len / 255 + blocks * 20
}

/// Bitshuffles and LZ4-compresses `raw` (items of `item_size` bytes) with HSDS's header and block size.
///
/// # Errors
/// [`CodecError::Encode`] if `raw` is not a whole number of items.
pub(super) fn compress(raw: &[u8], item_size: usize) -> Result<Vec<u8>, CodecError> {
    let s = item_size.max(1);
    if !raw.len().is_multiple_of(s) {
        return Err(CodecError::Encode(format!("{} bytes are not a whole number of {s}-byte items", raw.len())));
    }
    let block_bytes = DEFAULT_BLOCK_ITEMS * s;
    let mut out = Vec::with_capacity(max_encoded_len(raw.len(), s));
    out.extend_from_slice(&(raw.len() as u64).to_be_bytes());
    out.extend_from_slice(&(block_bytes as u32).to_be_bytes());
    let whole = raw.len() - raw.len() % (8 * s);
    for block in raw[..whole].chunks(block_bytes) {
        let packed = lz4_flex::block::compress(&transpose(block, s));
        out.extend_from_slice(&(packed.len() as u32).to_be_bytes());
        out.extend_from_slice(&packed);
    }
    out.extend_from_slice(&raw[whole..]);
    Ok(out)
}

/// Reverses [`compress`] for any block size; the result must hold at most `max_len` bytes.
///
/// # Errors
/// [`CodecError::Corrupt`] or [`CodecError::WrongSize`] when `data` is not a valid bitshuffle stream within `max_len`.
pub(super) fn decompress(data: &[u8], item_size: usize, max_len: usize) -> Result<Vec<u8>, CodecError> {
    let s = item_size.max(1);
    let Some((head, mut rest)) = data.split_first_chunk::<HEADER_LEN>() else {
        return Err(CodecError::corrupt(format!("{} bytes is too short for a bitshuffle header", data.len())));
    };
    let total = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
    let block_bytes = u32::from_be_bytes(head[8..].try_into().expect("4 bytes")) as usize;
    let total = usize::try_from(total).ok().filter(|&t| t <= max_len);
    let Some(total) = total else {
        return Err(CodecError::corrupt(format!("bitshuffle header says more than the {max_len} bytes expected")));
    };
    if total % s != 0 || block_bytes == 0 || !block_bytes.is_multiple_of(8 * s) {
        return Err(CodecError::corrupt(format!(
            "bitshuffle header ({total} bytes, blocks of {block_bytes}) does not fit {s}-byte items"
        )));
    }
    let whole = total - total % (8 * s);
    let mut out = Vec::with_capacity(total);
    let mut block = vec![0u8; block_bytes.min(whole)];
    while out.len() < whole {
        let n = block_bytes.min(whole - out.len());
        let (size, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| CodecError::corrupt("bitshuffle stream ends before its last block"))?;
        let size = u32::from_be_bytes(*size) as usize;
        let packed = tail.get(..size).ok_or_else(|| CodecError::corrupt("bitshuffle block runs past the end"))?;
        let got = lz4_flex::block::decompress_into(packed, &mut block[..n])
            .map_err(|e| CodecError::corrupt(format!("bitshuffle LZ4 block does not decode: {e}")))?;
        if got != n {
            return Err(CodecError::corrupt(format!("bitshuffle block decodes to {got} bytes, expected {n}")));
        }
        out.extend_from_slice(&untranspose(&block[..n], s));
        rest = &tail[size..];
    }
    if rest.len() != total - whole {
        return Err(CodecError::corrupt(format!(
            "bitshuffle stream has {} trailing bytes, expected {}",
            rest.len(),
            total - whole
        )));
    }
    out.extend_from_slice(rest);
    Ok(out)
}

/// Transposes the 8x8 bit matrix held in `x` (bit `8 r + c` ↔ bit `8 c + r`); its own inverse.
fn transpose_8x8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

/// Bit-transposes a block of `block.len() / s` items (a multiple of 8) of `s` bytes.
fn transpose(block: &[u8], s: usize) -> Vec<u8> {
    let row = block.len() / s / 8;
    let mut out = vec![0u8; block.len()];
    for (g, items) in block.chunks_exact(8 * s).enumerate() {
        for j in 0..s {
            let x = (0..8).fold(0u64, |x, t| x | u64::from(items[t * s + j]) << (8 * t));
            let y = transpose_8x8(x).to_le_bytes();
            for (k, &byte) in y.iter().enumerate() {
                out[(j * 8 + k) * row + g] = byte;
            }
        }
    }
    out
}

/// Reverses [`transpose`].
fn untranspose(block: &[u8], s: usize) -> Vec<u8> {
    let row = block.len() / s / 8;
    let mut out = vec![0u8; block.len()];
    for (g, items) in out.chunks_exact_mut(8 * s).enumerate() {
        for j in 0..s {
            let y = (0..8).fold(0u64, |y, k| y | u64::from(block[(j * 8 + k) * row + g]) << (8 * k));
            for (t, &byte) in transpose_8x8(y).to_le_bytes().iter().enumerate() {
                items[t * s + j] = byte;
            }
        }
    }
    out
}
