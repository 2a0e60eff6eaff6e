//! Chunk codec throughput (raw bytes per second): encode/decode of 1 MiB and 4 MiB float32 chunks for each
//! compressor, the engine's case of a 40 MB gzip block in 64 chunks decoded on 2 threads, and our blosc zlib
//! reader (libdeflate) against c-blosc's own decoder on the same frames.
//!
//! Run: `cargo bench --bench codecs -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hsds_handler::chunk::codec::{normalize_filters, reference_blosc_decode, Pipeline};
use serde_json::{json, Value};

/// A float32 random walk (as `/work/shared/tools/selbench.py` makes): realistic, moderately compressible data.
fn walk_f32(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut x = 0f32;
    let mut out = Vec::with_capacity(n * 4);
    for _ in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Roughly normal steps: the sum of four uniforms, centred.
        let step: f32 = (0..4).map(|i| ((state >> (16 * i)) & 0xffff) as f32 / 65535.0).sum::<f32>() - 2.0;
        x += step;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn pipeline(compressor: &str, shuffle: bool) -> Pipeline {
    let mut list = vec![json!({"class": "H5Z_FILTER_USER", "name": compressor})];
    if shuffle {
        list.push(json!({"class": "H5Z_FILTER_SHUFFLE", "id": 2, "name": "shuffle"}));
    }
    Pipeline::from_filters(&normalize_filters(&Value::Array(list)).unwrap(), 4).unwrap()
}

fn per_codec(c: &mut Criterion) {
    for mib in [1usize, 4] {
        let raw = walk_f32(mib << 18, 7);
        let mut group = c.benchmark_group(format!("codec_{mib}MiB"));
        group.throughput(Throughput::Bytes(raw.len() as u64)).sample_size(10);
        for name in ["blosclz", "lz4", "lz4hc", "gzip", "zstd"] {
            for shuffle in [false, true] {
                let p = pipeline(name, shuffle);
                let id = format!("{name}{}", if shuffle { "+shuffle" } else { "" });
                let stored = p.encode(&raw).unwrap();
                eprintln!("{mib} MiB {id}: ratio {:.2}", raw.len() as f64 / stored.len() as f64);
                group.bench_function(BenchmarkId::new("encode", &id), |b| b.iter(|| p.encode(black_box(&raw))));
                group.bench_function(BenchmarkId::new("decode", &id), |b| {
                    b.iter(|| p.decode(black_box(&stored), raw.len()).unwrap());
                });
            }
        }
        group.finish();
    }
}

/// 40 MB of float32 in 64 gzip chunks (HSDS's default gzip: blosc zlib level 5, here with shuffle), decoded by two
/// threads taking alternate chunks, as the engine will.
fn parallel_gzip_block(c: &mut Criterion) {
    let chunk_items = 40_000_000 / 4 / 64;
    let p = pipeline("gzip", true);
    let chunks: Vec<Vec<u8>> = (0..64).map(|i| p.encode(&walk_f32(chunk_items, i + 1)).unwrap()).collect();
    let chunk_len = chunk_items * 4;
    let mut group = c.benchmark_group("gzip_40MB_64_chunks");
    group.throughput(Throughput::Bytes((chunk_len * 64) as u64)).sample_size(10);
    for threads in [1usize, 2] {
        group.bench_function(BenchmarkId::new("decode_threads", threads), |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let (p, chunks) = (&p, &chunks);
                        s.spawn(move || {
                            for stored in chunks.iter().skip(t).step_by(threads) {
                                black_box(p.decode(stored, chunk_len).unwrap());
                            }
                        });
                    }
                });
            });
        });
    }
    group.finish();
}

/// Blosc zlib frames decoded by our reader (`Pipeline::decode`) and by c-blosc (`reference_blosc_decode`):
/// a 625 KB chunk as HSDS writes it (typesize 1, no shuffle: the engine_read bench's chunks) and 4 MiB with
/// shuffle by item size (as we write with the shuffle filter).
fn zlib_reader_vs_c_blosc(c: &mut Criterion) {
    let mut group = c.benchmark_group("blosc_zlib_reader");
    group.sample_size(20);
    for (id, items, shuffle) in [("hsds_625KB", 160_000usize, false), ("shuffle_4MiB", 1 << 20, true)] {
        let raw = walk_f32(items, 3);
        let p = pipeline("gzip", shuffle);
        let stored = p.encode(&raw).unwrap();
        assert_eq!(reference_blosc_decode(&stored, raw.len()).unwrap(), p.decode(&stored, raw.len()).unwrap());
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_function(BenchmarkId::new("ours", id), |b| {
            b.iter(|| p.decode(black_box(&stored), raw.len()).unwrap());
        });
        group.bench_function(BenchmarkId::new("c_blosc", id), |b| {
            b.iter(|| reference_blosc_decode(black_box(&stored), raw.len()).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, per_codec, parallel_gzip_block, zlib_reader_vs_c_blosc);
criterion_main!(benches);
