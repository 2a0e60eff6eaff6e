//! Decode speed of gzip chunks, side by side in one run: our blosc zlib reader (libdeflate) against c-blosc
//! on one 625 KB chunk, the same for encoding (our writer against c-blosc), and `engine::read` of a 40 MB
//! block (64 such chunks) on a 2-worker runtime, the case of `cargo bench --bench values -- engine_read`,
//! without building the whole workspace in release.
//!
//! The chunks are written as HSDS writes gzip (blosc1 zlib frames, level 5, typesize 1, no shuffle), from a
//! float32 random walk along time per cell like `selbench.py`'s cube. Prints medians of `--reps` runs.
//!
//! Run: `cargo run --release -p hsds-handler --no-default-features --example decode_speed [-- REPS]`

use std::time::{Duration, Instant};

use hsds_handler::chunk::codec::{reference_blosc_decode, reference_blosc_gzip_encode};
use hsds_handler::chunk::engine;
use hsds_handler::model::selection::Selection;
use hsds_handler::store::{MemoryStore, Store};

#[path = "../../benches/support/cube.rs"]
mod cube;

const EXTENT: [u64; 3] = [1000, 100, 100];

/// Median wall time of `reps` runs of `f`.
fn median(reps: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[reps / 2]
}

fn mib_s(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / (1 << 20) as f64
}

fn main() {
    let reps: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(15);
    let ds = cube::gzip_dataset(&EXTENT);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = MemoryStore::new();
    let data = cube::random_walk(EXTENT.map(|n| n as usize));
    let all = Selection::all(&EXTENT);
    rt.block_on(cube::store_dataset_json(&store, "b", &ds));
    rt.block_on(engine::write(&store, "b", &ds, &all, &data)).unwrap();

    let stored = rt.block_on(store.get("b", &ds.chunk_key(&[0, 0, 0]))).unwrap().body;
    let len = ds.chunk_bytes();
    assert_eq!(ds.pipeline.decode(&stored, len).unwrap(), reference_blosc_decode(&stored, len).unwrap());
    let ours = median(reps * 4, || drop(ds.pipeline.decode(&stored, len).unwrap()));
    let cblosc = median(reps * 4, || drop(reference_blosc_decode(&stored, len).unwrap()));
    println!(
        "one 625 KB chunk (ratio {:.2}): ours {:.2} ms = {:.0} MiB/s, c-blosc {:.2} ms = {:.0} MiB/s, speed-up {:.2}x",
        len as f64 / stored.len() as f64,
        ours.as_secs_f64() * 1e3,
        mib_s(len, ours),
        cblosc.as_secs_f64() * 1e3,
        mib_s(len, cblosc),
        cblosc.as_secs_f64() / ours.as_secs_f64()
    );
    // Encoding, as every chunk write does: our writer against c-blosc (HSDS's own bytes), same raw chunk.
    let raw = ds.pipeline.decode(&stored, len).unwrap();
    let ours_enc = median(reps, || drop(ds.pipeline.encode(&raw).unwrap()));
    let cblosc_enc = median(reps, || drop(reference_blosc_gzip_encode(&raw, 5).unwrap()));
    println!(
        "one 625 KB chunk encoded (gzip level 5): ours {:.2} ms = {:.0} MiB/s ({} bytes), c-blosc {:.2} ms = {:.0} MiB/s \
         ({} bytes), speed-up {:.2}x",
        ours_enc.as_secs_f64() * 1e3,
        mib_s(len, ours_enc),
        ds.pipeline.encode(&raw).unwrap().len(),
        cblosc_enc.as_secs_f64() * 1e3,
        mib_s(len, cblosc_enc),
        reference_blosc_gzip_encode(&raw, 5).unwrap().len(),
        cblosc_enc.as_secs_f64() / ours_enc.as_secs_f64()
    );
    let read = median(reps, || {
        let out = rt.block_on(engine::read(&store, "b", &ds, &all)).unwrap();
        assert_eq!(out.len(), data.len());
    });
    println!(
        "engine::read of the 40 MB block (64 chunks, 2 workers): {:.1} ms = {:.0} MiB/s; serial decode of its 64 \
         chunks would take {:.1} ms",
        read.as_secs_f64() * 1e3,
        mib_s(data.len(), read),
        64.0 * ours.as_secs_f64() * 1e3
    );
}
