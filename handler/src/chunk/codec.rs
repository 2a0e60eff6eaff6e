//! Chunk codecs: blosc1 frames (as numcodecs writes them), raw zlib, shuffle, lz4, zstd; filter pipelines from HSDS filter JSON.
