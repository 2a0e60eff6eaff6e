//! Our writer of blosc1 frames with the zlib codec (HSDS's gzip/deflate chunks), the counterpart of
//! [`super::blosc_zlib`].
//!
//! The frame layout — header, block size, byte shuffle, split streams, streams stored raw when they do not
//! shrink, and the whole frame stored raw ("memcpyed") when it would not fit in `nbytes + 16` — follows c-blosc
//! 1.21's compressor (`blosc_compress_context`, `compute_blocksize`, `blosc_c`, split mode
//! `BLOSC_FORWARD_COMPAT_SPLIT`), so c-blosc and numcodecs (HSDS) read our frames as their own. Only the deflate
//! encoder differs: libdeflate instead of zlib's `compress2` at the same level, 2.7x faster on HSDS's float
//! chunks at the same ratio (zlib 39 MB/s, libdeflate 106 MB/s, level 5, one 625 KB chunk of a float32 random
//! walk), so the compressed bytes are not byte-identical to numcodecs' — valid zlib streams decoding to the same
//! data. Writes were bound by this compression: a 625 KB chunk took 18 ms to frame with c-blosc.

use libdeflater::{CompressionLvl, Compressor};

use super::blosc::{BloscShuffle, CODEC_ZLIB, FLAG_DONT_SPLIT, FLAG_MEMCPYED, FLAG_SHUFFLE, HEADER_LEN};

/// c-blosc's `L1`: the base of its block size choice.
const L1: usize = 32 * 1024;
/// c-blosc's `MIN_BUFFERSIZE`: smaller inputs are stored raw, and no split stream is smaller.
const MIN_BUFFER: usize = 128;
/// c-blosc's `MAX_SPLITS`.
const MAX_SPLITS: usize = 16;
/// Format version and zlib format version bytes c-blosc 1.x writes.
const FORMAT_VERSION: u8 = 2;
const ZLIB_VERSION: u8 = 1;

/// Whether this writer frames `raw` at `level` (else c-blosc does): levels 1-9 of inputs c-blosc would
/// compress at all (it stores inputs under 128 bytes, and level 0, raw).
pub(super) fn writes(raw: &[u8], level: u8, typesize: usize) -> bool {
    (1..=9).contains(&level)
        && raw.len() >= MIN_BUFFER
        && (1..=255).contains(&typesize)
        && raw.len() <= i32::MAX as usize / 2
}

/// Whether c-blosc splits blocks of `blocksize` into `typesize` streams (`split_block`, forward-compatible mode,
/// for a codec other than zstd).
fn splits(typesize: usize, blocksize: usize) -> bool {
    typesize <= MAX_SPLITS && blocksize / typesize >= MIN_BUFFER
}

/// c-blosc's block size for a zlib frame of `nbytes` at `level` (`compute_blocksize`, no forced size).
fn blocksize(level: u8, typesize: usize, nbytes: usize) -> usize {
    if nbytes < typesize {
        return 1;
    }
    let mut bs = nbytes;
    if nbytes >= L1 {
        // zlib is one of c-blosc's "HCR" codecs: twice L1, then scaled by level.
        bs = L1 * 2;
        bs = match level {
            1 => bs / 2,
            2 => bs,
            3 => bs * 2,
            4 | 5 => bs * 4,
            6..=8 => bs * 8,
            _ => bs * 16,
        };
    }
    if splits(typesize, bs) {
        bs = bs.min(1 << 18) * typesize;
        bs = bs.clamp(1 << 16, 1 << 20);
    }
    bs = bs.min(nbytes);
    if bs > typesize {
        bs = bs / typesize * typesize;
    }
    bs
}

/// Frames `raw` (see [`writes`]) as c-blosc would with the zlib codec at `level`, byte-shuffled by `typesize`
/// when `shuffle` says so.
pub(super) fn encode(raw: &[u8], level: u8, shuffle: BloscShuffle, typesize: usize) -> Vec<u8> {
    let nbytes = raw.len();
    let bs = blocksize(level, typesize, nbytes);
    let nblocks = nbytes.div_ceil(bs);
    let dont_split = !splits(typesize, bs);
    let mut flags = CODEC_ZLIB << 5;
    if shuffle == BloscShuffle::Byte {
        flags |= FLAG_SHUFFLE;
    }
    if dont_split {
        flags |= FLAG_DONT_SPLIT;
    }
    let header = |flags: u8, cbytes: usize| {
        let mut h = vec![FORMAT_VERSION, ZLIB_VERSION, flags, typesize as u8];
        for word in [nbytes, bs, cbytes] {
            h.extend_from_slice(&(word as u32).to_le_bytes());
        }
        h
    };
    // The most a frame may take (numcodecs gives c-blosc nbytes + 16); past that it is stored raw.
    let max = nbytes + HEADER_LEN;
    let mut out = header(flags, 0);
    out.resize(HEADER_LEN + 4 * nblocks, 0);
    let mut compressor = Compressor::new(CompressionLvl::new(i32::from(level)).unwrap_or_default());
    let mut shuffled = Vec::new();
    let mut fits = true;
    'blocks: for (j, block) in raw.chunks(bs).enumerate() {
        let start = out.len() as u32;
        out[HEADER_LEN + 4 * j..HEADER_LEN + 4 * j + 4].copy_from_slice(&start.to_le_bytes());
        let block: &[u8] = if shuffle == BloscShuffle::Byte && typesize > 1 {
            shuffle_block(block, typesize, &mut shuffled);
            &shuffled
        } else {
            block
        };
        let nsplits = if !dont_split && block.len() == bs { typesize } else { 1 };
        for stream in block.chunks(block.len() / nsplits) {
            let at = out.len();
            if at + 4 > max {
                fits = false;
                break 'blocks;
            }
            let room = stream.len().min(max - at - 4);
            out.resize(at + 4 + room, 0);
            let n = match compressor.zlib_compress(stream, &mut out[at + 4..]) {
                Ok(n) if n < stream.len() => n,
                // Did not shrink (or did not fit): stored raw, if that fits.
                _ if at + 4 + stream.len() <= max => {
                    out.resize(at + 4 + stream.len(), 0);
                    out[at + 4..].copy_from_slice(stream);
                    stream.len()
                }
                _ => {
                    fits = false;
                    break 'blocks;
                }
            };
            out.truncate(at + 4 + n);
            out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
        }
    }
    if !fits {
        let mut raw_frame = header(flags | FLAG_MEMCPYED, max);
        raw_frame.extend_from_slice(raw);
        return raw_frame;
    }
    let cbytes = out.len() as u32;
    out[12..16].copy_from_slice(&cbytes.to_le_bytes());
    out
}

/// c-blosc's byte shuffle of one block into `out`: byte `j` of every whole item forms plane `j`; the bytes past
/// the last whole item follow as they are.
fn shuffle_block(block: &[u8], typesize: usize, out: &mut Vec<u8>) {
    out.clear();
    out.resize(block.len(), 0);
    let items = block.len() / typesize;
    let whole = items * typesize;
    for (i, item) in block[..whole].chunks_exact(typesize).enumerate() {
        for (j, &byte) in item.iter().enumerate() {
            out[j * items + i] = byte;
        }
    }
    out[whole..].copy_from_slice(&block[whole..]);
}
