//! Dataset value benches: selection assembly (chunk decomposition + run copies) for the `selbench.py`
//! access patterns, and the chunk engine reading a 40 MB float32 gzip block (64 chunks of random-walk data,
//! like `selbench.py`'s cube) from an in-memory store.
//!
//! Run: `cargo bench --bench values` (figures in BENCHMARKS.md, section "Dataset values").

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hsds_handler::chunk::engine;
use hsds_handler::model::selection::Selection;
use hsds_handler::store::{MemoryStore, Store};

#[path = "support/cube.rs"]
mod cube;
use cube::{gzip_dataset, random_walk, CHUNKS};

const SHAPE: [u64; 3] = [2000, 200, 200];

/// The `selbench.py` patterns over the (2000, 200, 200) cube with (250, 25, 25) chunks.
fn patterns() -> Vec<(&'static str, String)> {
    let [t, y, x] = SHAPE;
    let [ct, cy, cx] = CHUNKS;
    vec![
        ("timeseries_point", format!("[0:{t},{},{}]", y / 2, x / 2)),
        ("timeslice_plane", format!("[{},0:{y},0:{x}]", t / 2)),
        ("block_1chunk", format!("[0:{ct},0:{cy},0:{cx}]")),
        ("block_64chunks", format!("[0:{},0:{},0:{}]", ct * 4, cy * 4, cx * 4)),
        ("strided", format!("[0:{t}:10,0:{y}:10,0:{x}:10]")),
    ]
}

/// Selection assembly without I/O: parse, split over the chunk grid, copy every run from a chunk buffer.
fn selection_assembly(c: &mut Criterion) {
    let chunk = vec![1u8; CHUNKS.iter().product::<u64>() as usize * 4];
    let mut g = c.benchmark_group("selection_assembly");
    for (name, sel) in patterns() {
        let s = Selection::parse(&sel, &SHAPE).unwrap();
        let bytes = s.count().unwrap() * 4;
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(name, |b| {
            b.iter(|| {
                let s = Selection::parse(black_box(&sel), &SHAPE).unwrap();
                let shape = s.shape();
                let mut out = vec![0u8; s.count().unwrap() as usize * 4];
                for part in s.chunks(&CHUNKS) {
                    part.for_each_run(&shape, |o, c, n| {
                        let (o, c, n) = (o as usize * 4, c as usize * 4, n as usize * 4);
                        out[o..o + n].copy_from_slice(&chunk[c..c + n]);
                    });
                }
                black_box(out)
            });
        });
    }
    g.finish();
}

/// The engine reading the 40 MB `block_64chunks` selection (64 gzip chunks of 625 KB) from a MemoryStore.
fn engine_read(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let extent = [1000u64, 100, 100];
    let store = MemoryStore::new();
    let ds = gzip_dataset(&extent);
    let data = random_walk([1000, 100, 100]);
    let all = Selection::all(&extent);
    rt.block_on(cube::store_dataset_json(&store, "b", &ds));
    rt.block_on(engine::write(&store, "b", &ds, &all, &data)).unwrap();
    let mut g = c.benchmark_group("engine_read");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("block_64chunks_gzip_40MB", |b| {
        b.iter(|| {
            let out = rt.block_on(engine::read(&store, "b", &ds, &all)).unwrap();
            assert_eq!(out.len(), data.len());
            black_box(out)
        });
    });
    // The codec alone, one chunk on one thread: 64 x this is the serial decode cost of the read above.
    let stored = rt.block_on(store.get("b", &ds.chunk_key(&[0, 0, 0]))).unwrap().body;
    let chunk_len = ds.chunk_bytes();
    g.throughput(Throughput::Bytes(chunk_len as u64));
    g.bench_function("decode_one_625KB_chunk", |b| {
        b.iter(|| black_box(ds.pipeline.decode(black_box(&stored), chunk_len).unwrap()));
    });
    g.finish();
}

criterion_group!(benches, selection_assembly, engine_read);
criterion_main!(benches);
