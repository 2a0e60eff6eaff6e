//! Decoding only the first bytes of a stored chunk, for selections that touch only the start of a chunk
//! (a time slice `[t, :, :]` of a `(time, y, x)` cube needs the first `y * x` elements of each chunk).
//!
//! A deflate stream can be inflated up to any point, so for zlib chunks without shuffle — HSDS's "gzip"
//! datasets: blosc1 frames with the zlib codec, or raw zlib streams of linked HDF5 files — the decoder stops
//! once the needed prefix is out, instead of inflating the whole chunk. Blosc1 frame layout (c-blosc 1.21
//! `blosc_d`): 16-byte header (`version versionlz flags typesize nbytes blocksize cbytes`), one `i32` start per
//! block, and per block one or `typesize` split streams, each an `i32` compressed length then the bytes (a
//! length equal to the split size means stored raw); a frame c-blosc stored uncompressed ("memcpyed") holds the
//! raw bytes after its header. Anything else (shuffle, other codecs, odd headers) is left to the full decoder:
//! [`decode_prefix`] returns `None`.
//!
//! Since only the start of the stored bytes is read, the engine fetches just that much of the chunk object
//! with a ranged GET ([`stored_prefix_len`]); a frame cut short there decodes as long as the needed bytes are
//! in it, and reports an error otherwise (then the engine reads the whole object).

use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_IGNORE_ADLER32, TINFL_FLAG_PARSE_ZLIB_HEADER,
    TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{decompress, DecompressorOxide};

use super::codec::{zlib, Cname, CodecError, Pipeline, ShuffleOp};

/// c-blosc's zlib codec number (header flags bits 5-7).
const BLOSC_ZLIB: u8 = 3;
/// Header flag bits that change the byte order of a block (byte shuffle, bitshuffle) or mean "stored raw".
const SHUFFLE_FLAGS: u8 = 0x01 | 0x04;
const MEMCPYED: u8 = 0x02;
/// Header flag: blocks are not split into typesize streams.
const DONT_SPLIT: u8 = 0x10;
/// c-blosc's `MAX_SPLITS` and `MIN_BUFFERSIZE`, for frames written before the split flag existed.
const MAX_SPLITS: usize = 16;
const MIN_BUFFERSIZE: usize = 128;

/// The first `need` bytes of the chunk stored as `stored` (whose full raw size is `chunk_len`), or `None`
/// when this pipeline or these bytes cannot be decoded partially (then decode the whole chunk).
///
/// # Errors
/// [`CodecError::Corrupt`] when the bytes are a frame or stream of the supported kind but do not inflate.
pub fn decode_prefix(
    pipeline: &Pipeline,
    stored: &[u8],
    chunk_len: usize,
    need: usize,
) -> Option<Result<Vec<u8>, CodecError>> {
    if !supports_prefix(pipeline) || need > chunk_len {
        return None;
    }
    match stored.first() {
        Some(2) => blosc_prefix(stored, chunk_len, need),
        // A zlib stream starts with CMF 0x78 (deflate, 32K window); HSDS falls back to it when not blosc.
        Some(0x78) => Some(inflate_into(stored, need).map(|v| v.0)),
        _ => None,
    }
}

/// Whether chunks of this pipeline may be decoded partially (zlib without shuffle), judging by the filters alone.
pub fn supports_prefix(pipeline: &Pipeline) -> bool {
    let ops = pipeline.ops();
    ops.compressor == Some(Cname::Zlib) && ops.shuffle == ShuffleOp::None
}

/// How many leading bytes of a stored chunk to fetch for its first `need` decoded bytes: the blosc header and
/// block table (a few hundred bytes for chunks of a few MB), the compressed bytes — at most `need` plus
/// deflate's few bytes of framing per stored block, since zlib never stores data larger than raw — and slack
/// for a dynamic block's Huffman tables. A prefix that falls short fails to decode and the caller reads the
/// whole object, so this is a guess that is right almost always, never a correctness condition.
pub fn stored_prefix_len(need: usize) -> u64 {
    (need + need / 16 + 16 * 1024) as u64
}

fn word(b: &[u8], at: usize) -> Option<usize> {
    let w = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
}

fn blosc_prefix(frame: &[u8], chunk_len: usize, need: usize) -> Option<Result<Vec<u8>, CodecError>> {
    let (flags, typesize) = (*frame.get(2)?, *frame.get(3)? as usize);
    let (nbytes, blocksize, cbytes) = (word(frame, 4)?, word(frame, 8)?, word(frame, 12)?);
    if nbytes != chunk_len || cbytes < 16 {
        return None;
    }
    // A frame read with a ranged GET ends early; one that is whole stops at its `cbytes`.
    let frame = &frame[..cbytes.min(frame.len())];
    let corrupt = || CodecError::corrupt("blosc frame is truncated or its block table is invalid");
    if flags & MEMCPYED != 0 {
        return Some(frame.get(16..16 + need).map(<[u8]>::to_vec).ok_or_else(corrupt));
    }
    let plain = (flags & SHUFFLE_FLAGS == 0 || typesize == 1) && flags >> 5 == BLOSC_ZLIB;
    if !plain || typesize == 0 || blocksize == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(need);
    let mut block = 0;
    while out.len() < need {
        let start = block * blocksize;
        let bsize = blocksize.min(nbytes - start);
        let leftover = bsize < blocksize;
        let splits =
            if flags & DONT_SPLIT == 0 && typesize <= MAX_SPLITS && blocksize / typesize >= MIN_BUFFERSIZE && !leftover
            {
                typesize
            } else {
                1
            };
        let neblock = bsize / splits;
        let Some(mut at) = word(frame, 16 + 4 * block) else { return Some(Err(corrupt())) };
        for _ in 0..splits {
            if out.len() >= need {
                break;
            }
            let Some(len) = word(frame, at) else { return Some(Err(corrupt())) };
            // The stream may be cut short by the end of a ranged read: inflate what is there.
            let Some(src) = frame.get(at + 4..(at + 4 + len).min(frame.len())) else { return Some(Err(corrupt())) };
            let want = neblock.min(need - out.len());
            if len == neblock {
                let Some(raw) = src.get(..want) else { return Some(Err(corrupt())) };
                out.extend_from_slice(raw);
            } else if want == neblock || (src.len() == len && want * 2 >= neblock) {
                // The whole stream is needed, or most of it and all of it was read: libdeflate inflates it in one
                // go, at twice miniz's speed, and the bytes past `want` are dropped.
                let at = out.len();
                out.resize(at + neblock, 0);
                match zlib::inflate_into(src, &mut out[at..]) {
                    Ok(n) if n == neblock => out.truncate(at + want),
                    Ok(n) => {
                        return Some(Err(CodecError::corrupt(format!("a stream inflates to {n} of {neblock} bytes"))))
                    }
                    Err(e) => return Some(Err(e)),
                }
            } else {
                match inflate_into(src, want) {
                    Ok((part, _)) => out.extend_from_slice(&part),
                    Err(e) => return Some(Err(e)),
                }
            }
            at += 4 + len;
        }
        block += 1;
    }
    Some(Ok(out))
}

/// Inflates the zlib stream `src` until `want` bytes are out; returns them and the input bytes consumed.
///
/// miniz_oxide's core decoder writes straight into a buffer of exactly `want` bytes (the start of the
/// stream, so every back-reference lies inside it) and stops when it is full: a 2.5 KB prefix costs the
/// Huffman tables and 2.5 KB of symbols, not the 32 KB window a streaming inflater fills per call.
fn inflate_into(src: &[u8], want: usize) -> Result<(Vec<u8>, usize), CodecError> {
    let mut out = vec![0u8; want];
    let mut r = DecompressorOxide::new();
    // More input may follow (a ranged read cuts streams short): running out is "need more", not an error.
    let flags = TINFL_FLAG_PARSE_ZLIB_HEADER
        | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        | TINFL_FLAG_HAS_MORE_INPUT
        | TINFL_FLAG_IGNORE_ADLER32;
    let (status, consumed, written) = decompress(&mut r, src, &mut out, 0, flags);
    if (status as i32) < 0 {
        return Err(CodecError::corrupt(format!("zlib stream does not inflate: {status:?}")));
    }
    if written < want {
        return Err(CodecError::corrupt(format!("zlib stream ends after {written} of {want} bytes")));
    }
    Ok((out, consumed))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn data(n: usize) -> Vec<u8> {
        // A random walk of f32, like selbench.py's cube: compresses a little, not much.
        let mut x = 0f32;
        let mut s = 7u64;
        (0..n / 4)
            .flat_map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                x += ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
                x.to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn prefixes_equal_the_full_decode() {
        let raw = data(625_000);
        for level in [1, 4, 9] {
            let gzip =
                Pipeline::from_filters(&json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": level}]), 4).unwrap();
            let frame = gzip.encode(&raw).unwrap();
            for need in [1, 2500, 70_000, 300_001, 625_000] {
                let got = decode_prefix(&gzip, &frame, raw.len(), need).expect("zlib frame").unwrap();
                assert_eq!(got, &raw[..need], "level {level}, need {need}");
            }
            // A raw zlib stream (a linked HDF5 chunk).
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
            std::io::Write::write_all(&mut z, &raw).unwrap();
            let stream = z.finish().unwrap();
            assert_eq!(decode_prefix(&gzip, &stream, raw.len(), 4096).unwrap().unwrap(), &raw[..4096]);
        }
    }

    #[test]
    fn frames_cut_short_by_a_ranged_read_decode_their_prefix_or_fail() {
        let raw = data(625_000);
        let gzip = Pipeline::from_filters(&json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]), 4).unwrap();
        let frame = gzip.encode(&raw).unwrap();
        for need in [1, 2500, 40_000, 150_000, 300_001, 500_000] {
            let head = &frame[..(stored_prefix_len(need) as usize).min(frame.len())];
            let got = decode_prefix(&gzip, head, raw.len(), need).expect("zlib frame").unwrap();
            assert_eq!(got, &raw[..need], "need {need}");
        }
        // Too short for what is needed: an error (the engine then reads the whole object), never short data.
        assert!(decode_prefix(&gzip, &frame[..5000], raw.len(), 100_000).unwrap().is_err());
        assert!(decode_prefix(&gzip, &frame[..10], raw.len(), 100).is_none());
    }

    #[test]
    fn memcpyed_frames_serve_their_raw_bytes() {
        // Random bytes do not compress: c-blosc stores them raw after the 16-byte header.
        let raw = crate::chunk::codec::noise_bytes(100_000, 3);
        let gzip = Pipeline::from_filters(&json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]), 4).unwrap();
        let frame = gzip.encode(&raw).unwrap();
        assert_ne!(frame[2] & MEMCPYED, 0, "expected c-blosc to store random bytes raw");
        assert_eq!(decode_prefix(&gzip, &frame, raw.len(), 777).unwrap().unwrap(), &raw[..777]);
        assert!(decode_prefix(&gzip, &frame[..100], raw.len(), 777).unwrap().is_err());
    }

    #[test]
    fn other_pipelines_and_broken_frames_are_left_to_the_full_decoder() {
        let raw = data(40_000);
        let shuffled = Pipeline::from_filters(
            &json!([{"class": "H5Z_FILTER_SHUFFLE", "id": 2, "name": "shuffle"}, {"class": "H5Z_FILTER_DEFLATE", "id": 1}]),
            4,
        )
        .unwrap();
        assert!(decode_prefix(&shuffled, &shuffled.encode(&raw).unwrap(), raw.len(), 100).is_none());
        let lz4 = Pipeline::from_filters(&json!([{"class": "H5Z_FILTER_LZ4", "id": 32004}]), 4).unwrap();
        assert!(decode_prefix(&lz4, &lz4.encode(&raw).unwrap(), raw.len(), 100).is_none());
        let gzip = Pipeline::from_filters(&json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1}]), 4).unwrap();
        let frame = gzip.encode(&raw).unwrap();
        assert!(decode_prefix(&gzip, &frame, raw.len() + 4, 100).is_none()); // another chunk size
        let mut cut = frame[..frame.len() / 2].to_vec();
        let n = cut.len() as u32;
        cut[12..16].copy_from_slice(&n.to_le_bytes());
        assert!(decode_prefix(&gzip, &cut, raw.len(), raw.len()).unwrap().is_err());
    }
}
