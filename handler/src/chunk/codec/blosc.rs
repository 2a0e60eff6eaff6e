//! Blosc1 frames, as numcodecs `Blosc(cname, clevel, shuffle)` writes and reads them (HSDS `storUtil._compress`).
//!
//! Frames of every codec but zlib are produced and consumed by c-blosc 1.21.6 (the `blosc-src` crate), the same
//! library version that numcodecs 0.15 bundles, so they are byte-identical to numcodecs' for the same input, codec,
//! level, shuffle and typesize. Zlib frames (HSDS's gzip) are read by [`super::blosc_zlib`] and written by
//! [`super::blosc_zlib_write`]: c-blosc's layout with libdeflate's streams, which c-blosc reads as its own.
//! Only the two thread-safe `_ctx` entry points are called, each with one internal thread. The 16-byte
//! header is parsed in Rust (rather than through `blosc_cbuffer_sizes`/`blosc_cbuffer_metainfo`, which read 16 bytes
//! without knowing the buffer length), so every check that guards the C decoder happens on a bounds-checked slice.
//!
//! Frame header (little-endian): `version(=2) versionlz flags typesize nbytes:u32 blocksize:u32 cbytes:u32`.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

use super::CodecError;

/// Length of the blosc1 frame header; also the most a frame can exceed its input (`BLOSC_MAX_OVERHEAD`).
pub(super) const HEADER_LEN: usize = 16;
/// Largest input c-blosc 1.x can frame (`BLOSC_MAX_BUFFERSIZE`).
pub(super) const MAX_BUFFER: usize = i32::MAX as usize - HEADER_LEN;
/// The only frame format version c-blosc 1.x reads (`BLOSC_VERSION_FORMAT`).
const FORMAT_VERSION: u8 = 2;
/// Largest typesize a frame can carry; larger item sizes are framed with typesize 1, as c-blosc itself does.
const MAX_TYPESIZE: usize = 255;

/// A compressor inside a blosc1 frame. `Zlib` is what HSDS uses for the "gzip" and "deflate" filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cname {
    /// Blosc's own LZ77 codec (filter `H5Z_FILTER_BLOSC`, name "blosclz").
    BloscLz,
    /// LZ4 (filter "lz4").
    Lz4,
    /// LZ4 high-compression (filter "lz4hc").
    Lz4Hc,
    /// zlib (filters "gzip"/"deflate").
    Zlib,
    /// Zstandard (filter "zstd").
    Zstd,
}

impl Cname {
    /// The compressor name c-blosc (and numcodecs) use, as a C string.
    fn c_name(self) -> &'static CStr {
        match self {
            Cname::BloscLz => c"blosclz",
            Cname::Lz4 => c"lz4",
            Cname::Lz4Hc => c"lz4hc",
            Cname::Zlib => c"zlib",
            Cname::Zstd => c"zstd",
        }
    }
}

/// Byte-shuffle setting of a frame: `None` is numcodecs `Blosc.NOSHUFFLE`, `Byte` is `Blosc.SHUFFLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BloscShuffle {
    /// No shuffle (flag bit 0 clear).
    None,
    /// Byte shuffle by typesize (flag bit 0 set).
    Byte,
}

/// The 16-byte header of a blosc1 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    /// Version of the codec's own format (1 for every codec c-blosc 1.x writes).
    pub versionlz: u8,
    /// Flag bits: 0x1 byte shuffle, 0x2 stored uncompressed, 0x4 bit shuffle, 0x10 blocks not split,
    /// bits 5-7 the codec (see [`CODEC_ZLIB`]).
    pub flags: u8,
    /// Bytes per item the shuffle used; HSDS treats a frame with typesize 0 as "not blosc".
    pub typesize: u8,
    /// Uncompressed size.
    pub nbytes: usize,
    /// Uncompressed size of each block (the last one may be shorter).
    pub blocksize: usize,
    /// Size of the whole frame, header included.
    pub cbytes: usize,
}

/// Flag bit: the blocks are byte-shuffled by typesize (`BLOSC_DOSHUFFLE`).
pub(super) const FLAG_SHUFFLE: u8 = 0x1;
/// Flag bit: the data follows the header uncompressed (`BLOSC_MEMCPYED`).
pub(super) const FLAG_MEMCPYED: u8 = 0x2;
/// Flag bit: the blocks are bit-shuffled (`BLOSC_DOBITSHUFFLE`).
pub(super) const FLAG_BITSHUFFLE: u8 = 0x4;
/// Flag bit no c-blosc 1.x frame may carry ("compressor flags from the future").
pub(super) const FLAG_RESERVED: u8 = 0x8;
/// Flag bit: blocks are one stream each, never split by byte plane (`BLOSC_DONT_SPLIT`).
pub(super) const FLAG_DONT_SPLIT: u8 = 0x10;
/// The codec field (flag bits 5-7) of a zlib frame (`BLOSC_ZLIB_FORMAT`).
pub(super) const CODEC_ZLIB: u8 = 3;

impl Header {
    /// The codec field of the flags (0 blosclz, 1 lz4/lz4hc, 2 snappy, 3 zlib, 4 zstd).
    pub(super) fn codec(&self) -> u8 {
        self.flags >> 5
    }
}

/// The frame header, if `data` starts like a blosc1 frame: HSDS's `_uncompress` test, i.e. numcodecs
/// `cbuffer_metainfo(data)[0] > 0` (format version 2 and a non-zero typesize).
pub(super) fn header(data: &[u8]) -> Option<Header> {
    let head = data.get(..HEADER_LEN)?;
    if head[0] != FORMAT_VERSION || head[3] == 0 {
        return None;
    }
    let word = |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]) as usize;
    Some(Header {
        versionlz: head[1],
        flags: head[2],
        typesize: head[3],
        nbytes: word(4),
        blocksize: word(8),
        cbytes: word(12),
    })
}

extern "C" {
    // Declared here (rather than through `blosc_src`'s bindings) so each signature sits next to its one caller;
    // `blosc_src` is still linked for the C library it builds.
    fn blosc_compress_ctx(
        clevel: c_int,
        doshuffle: c_int,
        typesize: usize,
        nbytes: usize,
        src: *const c_void,
        dest: *mut c_void,
        destsize: usize,
        compressor: *const c_char,
        blocksize: usize,
        numinternalthreads: c_int,
    ) -> c_int;
    fn blosc_decompress_ctx(src: *const c_void, dest: *mut c_void, destsize: usize, numinternalthreads: c_int)
        -> c_int;
}

// Keeps the `blosc_src` crate (and so the static c-blosc library) linked in.
use blosc_src as _;

/// Frames `raw` as numcodecs `Blosc(cname, clevel=level, shuffle).encode(raw)` does for an item size of `typesize`:
/// zlib frames with our writer ([`super::blosc_zlib_write`]: the same layout, libdeflate's streams), the rest
/// with c-blosc.
pub(super) fn compress(
    raw: &[u8],
    cname: Cname,
    level: u8,
    shuffle: BloscShuffle,
    typesize: usize,
) -> Result<Vec<u8>, CodecError> {
    compress_with(raw, cname, level, shuffle, typesize, Writer::Fastest)
}

/// Which encoder frames data: [`Writer::Fastest`] is ours for zlib frames and c-blosc for the rest;
/// [`Writer::CBlosc`] is c-blosc for every frame (byte-identical to numcodecs; the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Writer {
    /// Our zlib writer (libdeflate) where it applies, else c-blosc.
    Fastest,
    /// c-blosc only.
    CBlosc,
}

/// [`compress`] with a choice of encoder.
pub(super) fn compress_with(
    raw: &[u8],
    cname: Cname,
    level: u8,
    shuffle: BloscShuffle,
    typesize: usize,
    writer: Writer,
) -> Result<Vec<u8>, CodecError> {
    if raw.len() > MAX_BUFFER {
        return Err(CodecError::TooLarge { len: raw.len(), max: MAX_BUFFER });
    }
    let typesize = if (1..=MAX_TYPESIZE).contains(&typesize) { typesize } else { 1 };
    if writer == Writer::Fastest && cname == Cname::Zlib && super::blosc_zlib_write::writes(raw, level, typesize) {
        return Ok(super::blosc_zlib_write::encode(raw, level, shuffle, typesize));
    }
    let doshuffle = match shuffle {
        BloscShuffle::None => 0,
        BloscShuffle::Byte => 1,
    };
    let mut out = vec![0u8; raw.len() + HEADER_LEN];
    // SAFETY: `raw` is valid for `raw.len()` bytes of reads and `out` for `out.len()` bytes of writes, the two do
    // not overlap, and the compressor name is a NUL-terminated static string. c-blosc writes at most `destsize`
    // bytes; with destsize = nbytes + BLOSC_MAX_OVERHEAD it always succeeds (falling back to a memcpy frame).
    // The `_ctx` variant keeps all state on its own stack, so concurrent calls are safe.
    let written = unsafe {
        blosc_compress_ctx(
            c_int::from(level.min(9)),
            doshuffle,
            typesize,
            raw.len(),
            raw.as_ptr().cast(),
            out.as_mut_ptr().cast(),
            out.len(),
            cname.c_name().as_ptr(),
            0,
            1,
        )
    };
    if written <= 0 {
        return Err(CodecError::Encode(format!("blosc {:?} compression failed with code {written}", cname)));
    }
    out.truncate(written as usize);
    Ok(out)
}

/// Decodes one blosc1 frame whose header says it holds `head.nbytes` bytes; `max_len` bounds that size so a
/// corrupt header cannot make us allocate more than the caller expects. Zlib frames (HSDS's gzip/deflate) are
/// decoded by [`super::blosc_zlib`], every other codec by c-blosc.
pub(super) fn decompress(frame: &[u8], head: Header, max_len: usize) -> Result<Vec<u8>, CodecError> {
    decompress_with(frame, head, max_len, Reader::Fastest)
}

/// Which decoder reads a frame: [`Reader::Fastest`] is ours for zlib frames and c-blosc for the rest;
/// [`Reader::CBlosc`] is c-blosc for every frame (the reference the other is checked against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reader {
    /// Our zlib reader (libdeflate) where it applies, else c-blosc.
    Fastest,
    /// c-blosc only.
    CBlosc,
}

/// [`decompress`] with a choice of decoder.
pub(super) fn decompress_with(
    frame: &[u8],
    head: Header,
    max_len: usize,
    reader: Reader,
) -> Result<Vec<u8>, CodecError> {
    if head.nbytes > max_len {
        return Err(CodecError::WrongSize { expected: max_len, actual: head.nbytes });
    }
    if head.cbytes < HEADER_LEN || head.cbytes > frame.len() {
        return Err(CodecError::corrupt(format!(
            "blosc frame header says {} bytes but {} bytes are stored",
            head.cbytes,
            frame.len()
        )));
    }
    if head.nbytes == 0 {
        return Ok(Vec::new());
    }
    let mut out = vec![0u8; head.nbytes];
    if reader == Reader::Fastest && super::blosc_zlib::reads(&head) {
        super::blosc_zlib::decode_into(&frame[..head.cbytes], head, &mut out)?;
    } else {
        c_blosc_decode_into(frame, head, &mut out)?;
    }
    Ok(out)
}

/// c-blosc's decoder, into `out` of exactly `head.nbytes` bytes; the caller checked `head.cbytes <= frame.len()`.
fn c_blosc_decode_into(frame: &[u8], head: Header, out: &mut [u8]) -> Result<(), CodecError> {
    // SAFETY: the caller checked that the header's compressed size (`cbytes`, which c-blosc uses as the bound of
    // every read it makes from `src`) lies within `frame`, so the decoder never reads past the slice; c-blosc
    // rejects frames whose `nbytes` exceeds `destsize` and never writes more than `destsize` bytes to `out`.
    // The `_ctx` variant keeps all state on its own stack, so concurrent calls are safe.
    let n = unsafe { blosc_decompress_ctx(frame.as_ptr().cast(), out.as_mut_ptr().cast(), out.len(), 1) };
    if n < 0 || n as usize != head.nbytes {
        return Err(CodecError::corrupt(format!("blosc frame does not decode (code {n})")));
    }
    Ok(())
}
