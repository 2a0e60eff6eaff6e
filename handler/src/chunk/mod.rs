//! Chunk bytes: codecs (blosc1 frames, zlib, shuffle, lz4, zstd), partial decoding of chunk prefixes, the
//! warm cache of decoded objects, and the engine that reads and writes selections chunk by chunk.
//!
//! The layer reports failures as [`ChunkError`] (by kind); `crate::error` maps them to HTTP statuses.

pub mod cache;
pub mod codec;
pub mod engine;
pub mod error;
pub mod layouts;
pub mod partial_decode;

pub use error::{ChunkError, ChunkResult};
