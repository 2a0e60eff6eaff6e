//! Chunk bytes: codecs (blosc1 frames, zlib, shuffle, lz4, zstd) and the engine that reads and writes
//! selections chunk by chunk.

pub mod cache;
pub mod codec;
pub mod engine;
pub mod prefix;
