//! Our reader for blosc1 frames whose codec is zlib: HSDS's gzip/deflate chunks, the common case.
//!
//! c-blosc inflates these with zlib's streaming `uncompress`, which is the bottleneck of a gzip dataset read;
//! here every stream is inflated whole by libdeflate ([`super::zlib::inflate_into`]) straight into the output
//! (or into one byte plane when the frame is shuffled). The frame layout and every validity check follow
//! c-blosc 1.21 (`blosc_run_decompression_with_context`, `blosc_d`), so we accept exactly the frames it
//! accepts and produce the same bytes; [`super::blosc_zlib_write`] writes them, c-blosc every other codec.
//!
//! Layout after the 16-byte header (little-endian): `nblocks` i32 block starts (offsets from the frame start),
//! then per block `nsplits` streams, each a 4-byte compressed length and that many bytes; a stream whose length
//! equals its raw size is stored uncompressed. A block is split into `typesize` streams (one per byte plane)
//! unless the frame says "don't split", the typesize is over 16, a plane would be under 128 bytes, or it is
//! the last, shorter block.

use super::blosc::{Header, CODEC_ZLIB, FLAG_BITSHUFFLE, FLAG_DONT_SPLIT, FLAG_MEMCPYED, FLAG_RESERVED, FLAG_SHUFFLE};
use super::blosc::{HEADER_LEN, MAX_BUFFER};
use super::{zlib, CodecError};

/// Most byte planes a block is split into (`MAX_SPLITS`).
const MAX_SPLITS: usize = 16;
/// Smallest byte plane worth splitting (`MIN_BUFFERSIZE`).
const MIN_SPLIT: usize = 128;
/// Largest block c-blosc accepts (`BLOSC_MAX_BLOCKSIZE`).
const MAX_BLOCKSIZE: usize = (i32::MAX as usize - 255 * 4) / 3;
/// The only zlib format version c-blosc writes (`BLOSC_ZLIB_VERSION_FORMAT`).
const ZLIB_VERSION: u8 = 1;

/// Whether this reader decodes the frame: zlib codec, not bit-shuffled (HSDS never writes those; c-blosc does).
pub(super) fn reads(head: &Header) -> bool {
    head.codec() == CODEC_ZLIB && head.flags & FLAG_BITSHUFFLE == 0
}

/// Decodes a zlib frame (`frame` is exactly `head.cbytes` long) into `out`, which must be `head.nbytes` long.
pub(super) fn decode_into(frame: &[u8], head: Header, out: &mut [u8]) -> Result<(), CodecError> {
    debug_assert_eq!(frame.len(), head.cbytes);
    debug_assert_eq!(out.len(), head.nbytes);
    let (nbytes, blocksize, typesize) = (head.nbytes, head.blocksize, usize::from(head.typesize));
    if nbytes == 0 {
        return Ok(());
    }
    if blocksize == 0 || blocksize > nbytes || blocksize > MAX_BLOCKSIZE || typesize == 0 || nbytes > MAX_BUFFER {
        return Err(corrupt(format!("blocksize {blocksize} for {nbytes} bytes of typesize {typesize}")));
    }
    if head.flags & FLAG_RESERVED != 0 {
        return Err(corrupt("reserved flag bit 3 is set"));
    }
    if head.flags & FLAG_MEMCPYED != 0 {
        if frame.len() != nbytes + HEADER_LEN {
            return Err(corrupt(format!("{} bytes stored for {nbytes} uncompressed bytes", frame.len())));
        }
        out.copy_from_slice(&frame[HEADER_LEN..]);
        return Ok(());
    }
    if head.versionlz != ZLIB_VERSION {
        return Err(corrupt(format!("zlib format version {} (only 1 exists)", head.versionlz)));
    }
    let nblocks = nbytes.div_ceil(blocksize);
    if nblocks > (frame.len() - HEADER_LEN) / 4 {
        return Err(corrupt(format!("{nblocks} block starts do not fit in {} bytes", frame.len())));
    }
    let shuffled = head.flags & FLAG_SHUFFLE != 0 && typesize > 1;
    let may_split = head.flags & FLAG_DONT_SPLIT == 0 && typesize <= MAX_SPLITS && blocksize / typesize >= MIN_SPLIT;
    // A shuffled block's byte planes are inflated here, then scattered into the output.
    let mut planes = Vec::new();
    for (j, block) in out.chunks_mut(blocksize).enumerate() {
        let start = read_i32(frame, HEADER_LEN + 4 * j)?;
        let nsplits = if may_split && block.len() == blocksize { typesize } else { 1 };
        if block.len() % nsplits != 0 {
            return Err(corrupt(format!("blocksize {blocksize} is not a multiple of typesize {typesize}")));
        }
        let plane_len = block.len() / nsplits;
        let mut at = start;
        if !shuffled {
            for split in block.chunks_mut(plane_len) {
                at = inflate_split(frame, at, split)?;
            }
            continue;
        }
        // One plane at a time when the block is split (the buffer stays a plane, not a block, in size).
        planes.resize(plane_len, 0);
        if nsplits == 1 {
            inflate_split(frame, at, &mut planes[..plane_len])?;
            unshuffle_block(&planes[..plane_len], typesize, block);
            continue;
        }
        for j in 0..nsplits {
            at = inflate_split(frame, at, &mut planes[..plane_len])?;
            for (item, &byte) in block.chunks_exact_mut(typesize).zip(&planes[..plane_len]) {
                item[j] = byte;
            }
        }
    }
    Ok(())
}

/// Inflates (or copies) the stream at offset `at` into `dest`, which it must fill exactly; returns the offset
/// just after the stream.
fn inflate_split(frame: &[u8], at: usize, dest: &mut [u8]) -> Result<usize, CodecError> {
    let len = read_i32(frame, at)?;
    let data = frame
        .get(at + 4..)
        .and_then(|rest| rest.get(..len))
        .ok_or_else(|| corrupt(format!("stream of {len} bytes at offset {at} runs past the frame")))?;
    if len == dest.len() {
        dest.copy_from_slice(data);
    } else if zlib::inflate_into(data, dest)? != dest.len() {
        return Err(corrupt(format!("a stream inflates to fewer than its {} bytes", dest.len())));
    }
    Ok(at + 4 + len)
}

/// The non-negative little-endian i32 at `at` (a block start or stream length).
fn read_i32(frame: &[u8], at: usize) -> Result<usize, CodecError> {
    let bytes = frame.get(at..at + 4).ok_or_else(|| corrupt(format!("offset {at} is past the frame end")))?;
    let v = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    usize::try_from(v).map_err(|_| corrupt(format!("negative offset or length {v} at offset {at}")))
}

/// c-blosc's unshuffle of one block: `src` holds `typesize` planes of `block.len() / typesize` bytes (byte `j`
/// of every item), then the bytes left over past the last whole item, which are copied as they are.
fn unshuffle_block(src: &[u8], typesize: usize, block: &mut [u8]) {
    let len = block.len();
    let items = len / typesize;
    let whole = items * typesize;
    match typesize {
        2 => unshuffle_fixed::<2>(&src[..whole], &mut block[..whole]),
        4 => unshuffle_fixed::<4>(&src[..whole], &mut block[..whole]),
        8 => unshuffle_fixed::<8>(&src[..whole], &mut block[..whole]),
        _ => {
            for (j, plane) in src[..whole].chunks_exact(items.max(1)).enumerate() {
                for (item, &byte) in block[..whole].chunks_exact_mut(typesize).zip(plane) {
                    item[j] = byte;
                }
            }
        }
    }
    block[whole..].copy_from_slice(&src[whole..len]);
}

/// [`unshuffle_block`] for a typesize known at compile time: one pass writing whole items.
fn unshuffle_fixed<const N: usize>(src: &[u8], dest: &mut [u8]) {
    let items = dest.len() / N;
    let planes: [&[u8]; N] = std::array::from_fn(|j| &src[j * items..(j + 1) * items]);
    for (i, item) in dest.chunks_exact_mut(N).enumerate() {
        for j in 0..N {
            item[j] = planes[j][i];
        }
    }
}

fn corrupt(msg: impl std::fmt::Display) -> CodecError {
    CodecError::corrupt(format!("blosc zlib frame is corrupt: {msg}"))
}
