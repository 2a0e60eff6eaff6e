//! Dataset value benches: selection assembly (chunk decomposition + run copies) for the `selbench.py`
//! access patterns, and the chunk engine reading a 40 MB float32 gzip block (64 chunks of random-walk data,
//! like `selbench.py`'s cube) from an in-memory store.
//!
//! Run: `cargo bench --bench values` (figures in BENCHMARKS.md, section "Dataset values").

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hsds_handler::chunk::codec::Pipeline;
use hsds_handler::chunk::engine::{self, ChunkedDataset};
use hsds_handler::model::layout::{ChunkGrid, ChunkSource};
use hsds_handler::model::selection::Selection;
use hsds_handler::model::types::Datatype;
use hsds_handler::model::ObjId;
use hsds_handler::store::{MemoryStore, Store};
use serde_json::json;

const SHAPE: [u64; 3] = [2000, 200, 200];
const CHUNKS: [u64; 3] = [250, 25, 25];

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
            })
        });
    }
    g.finish();
}

/// A random walk along time per (y, x) cell, like `selbench.py`'s `standard_normal().cumsum(axis=0)`.
fn random_walk(shape: [usize; 3]) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut normal = move || {
        // sum of 4 uniforms, centred: close enough to a normal for compressibility
        let mut s = 0.0f32;
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s += (state >> 40) as f32 / (1u64 << 24) as f32;
        }
        (s - 2.0) * 1.7
    };
    let plane = shape[1] * shape[2];
    let mut vals = vec![0f32; shape[0] * plane];
    for t in 0..shape[0] {
        for i in 0..plane {
            let prev = if t == 0 { 0.0 } else { vals[(t - 1) * plane + i] };
            vals[t * plane + i] = prev + normal();
        }
    }
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn gzip_dataset(extent: &[u64]) -> ChunkedDataset {
    let filters = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "name": "deflate", "level": 5}]);
    ChunkedDataset {
        id: ObjId::parse("d-f9aaa28e-d42e10e5-0123-456789-abcdef").unwrap(),
        extent: extent.to_vec(),
        grid: ChunkGrid { chunk_dims: CHUNKS.to_vec(), source: ChunkSource::Hsds },
        item_size: 4,
        dtype: Datatype::from_json(&json!("H5T_IEEE_F32LE")).unwrap(),
        fill: vec![0; 4],
        pipeline: Pipeline::from_filters(&filters, 4).unwrap(),
        cas: true,
        cache: None,
    }
}

/// The engine reading the 40 MB `block_64chunks` selection (64 gzip chunks of 625 KB) from a MemoryStore.
fn engine_read(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let extent = [1000u64, 100, 100];
    let store = MemoryStore::new();
    let ds = gzip_dataset(&extent);
    let data = random_walk([1000, 100, 100]);
    let all = Selection::all(&extent);
    rt.block_on(engine::write(&store, "b", &ds, &all, &data)).unwrap();
    let mut g = c.benchmark_group("engine_read");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("block_64chunks_gzip_40MB", |b| {
        b.iter(|| {
            let out = rt.block_on(engine::read(&store, "b", &ds, &all)).unwrap();
            assert_eq!(out.len(), data.len());
            black_box(out)
        })
    });
    // The codec alone, one chunk on one thread: 64 x this is the serial decode cost of the read above.
    let stored = rt.block_on(store.get("b", &ds.chunk_key(&[0, 0, 0]))).unwrap().body;
    let chunk_len = ds.chunk_bytes();
    g.throughput(Throughput::Bytes(chunk_len as u64));
    g.bench_function("decode_one_625KB_chunk", |b| {
        b.iter(|| black_box(ds.pipeline.decode(black_box(&stored), chunk_len).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, selection_assembly, engine_read);
criterion_main!(benches);
