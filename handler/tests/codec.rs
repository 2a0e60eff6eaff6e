//! Chunk codec behaviour seen from outside the crate: bounded memory on hostile input, and (when the HSDS reference
//! venv exists) HSDS 1.0.2 itself decoding frames we write.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use hsds_handler::chunk::codec::{normalize_filters, Pipeline};
use serde_json::{json, Value};

/// Counts live heap bytes and their peak, so a test can see what one decode allocates.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Allocation counting is process-wide: tests that measure it run one at a time.
static MEASURE: Mutex<()> = Mutex::new(());

// SAFETY: defers to the system allocator unchanged; only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated (above what was live before) while running `f`.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - base)
}

fn filters(compressor: Option<&str>, shuffle: Option<&str>) -> Value {
    let mut list = Vec::new();
    if let Some(name) = shuffle {
        list.push(json!({"class": "H5Z_FILTER_SHUFFLE", "id": 2, "name": name}));
    }
    if let Some(name) = compressor {
        list.push(json!({"class": "H5Z_FILTER_USER", "name": name}));
    }
    normalize_filters(&Value::Array(list)).unwrap()
}

fn all_lists() -> Vec<Value> {
    let mut lists = Vec::new();
    for shuffle in [None, Some("shuffle"), Some("bitshuffle")] {
        for compressor in [None, Some("blosclz"), Some("lz4"), Some("lz4hc"), Some("gzip"), Some("zstd")] {
            lists.push(filters(compressor, shuffle));
        }
    }
    lists
}

fn walk_f32(n: usize) -> Vec<u8> {
    let mut x = 0f32;
    (0..n as u32)
        .flat_map(|i| {
            x += ((i.wrapping_mul(2654435761) >> 16) % 2001) as f32 / 1000.0 - 1.0;
            x.to_le_bytes()
        })
        .collect()
}

#[test]
fn decoding_hostile_bytes_allocates_about_the_chunk_size_at_most() {
    let _one = MEASURE.lock().unwrap();
    let expected = 64 * 1024;
    // Headers that announce 256 MiB: blosc, bitshuffle, and a zlib bomb (4 MiB of zeros deflated to ~4 KiB).
    let mut blosc = vec![2u8, 1, 0x21, 4];
    blosc.extend_from_slice(&(256u32 << 20).to_le_bytes());
    blosc.extend_from_slice(&(1u32 << 16).to_le_bytes());
    blosc.extend_from_slice(&64u32.to_le_bytes());
    blosc.resize(64, 0);
    let mut bits = (256u64 << 20).to_be_bytes().to_vec();
    bits.extend_from_slice(&8192u32.to_be_bytes());
    bits.resize(64, 0);
    let bomb = zlib_bomb();
    for list in all_lists() {
        let pipeline = Pipeline::from_filters(&list, 4).unwrap();
        for input in [&blosc, &bits, &bomb] {
            let (result, peak) = peak_during(|| pipeline.decode(input, expected));
            assert!(result.is_err(), "{list}");
            assert!(peak <= 3 * expected + 256 * 1024, "{list}: decoding {} bytes allocated {peak}", input.len());
        }
    }
}

#[test]
fn decoding_a_valid_chunk_allocates_little_beyond_its_size() {
    let _one = MEASURE.lock().unwrap();
    let raw = walk_f32(256 * 1024); // 1 MiB
    for list in all_lists() {
        let pipeline = Pipeline::from_filters(&list, 4).unwrap();
        let stored = pipeline.encode(&raw).unwrap();
        let (decoded, peak) = peak_during(|| pipeline.decode(&stored, raw.len()).unwrap());
        assert!(decoded == raw, "{list}");
        let bound = if list.to_string().contains("bitshuffle") { 3 * raw.len() } else { raw.len() + 256 * 1024 };
        assert!(peak <= bound, "{list}: decoding allocated {peak} bytes for a {}-byte chunk", raw.len());
    }
}

/// 4 MiB of zeros as a zlib stream.
fn zlib_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 4 << 20]).unwrap();
    enc.finish().unwrap()
}

#[test]
fn hsds_reads_the_frames_we_write() {
    // The interop venvs (HSDS 1.0.2): HSLAMBDA_VENV_DIR, which scripts/test sets, else the checkout's .venv
    // (tests/interop/setup-venv.sh). A missing HSDS fails the test; HSLAMBDA_TEST_NO_HSDS=1 opts out explicitly.
    if std::env::var_os("HSLAMBDA_TEST_NO_HSDS").is_some() {
        eprintln!("SKIPPED (HSLAMBDA_TEST_NO_HSDS is set): HSDS 1.0.2 reading our frames");
        return;
    }
    let venvs = std::env::var_os("HSLAMBDA_VENV_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let python = venvs.join("interop/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tests/interop/setup-venv.sh (or set HSLAMBDA_VENV_DIR; HSLAMBDA_TEST_NO_HSDS=1 skips)",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let raw = walk_f32(20_000);
    std::fs::write(dir.path().join("raw.bin"), &raw).unwrap();
    let mut frames = Vec::new();
    for (i, list) in all_lists().into_iter().enumerate() {
        for item_size in [1usize, 2, 4, 8] {
            let stored = Pipeline::from_filters(&list, item_size).unwrap().encode(&raw).unwrap();
            let file = format!("frame{i}_{item_size}.bin");
            std::fs::write(dir.path().join(&file), stored).unwrap();
            frames.push(json!({"file": file, "filters": list, "item_size": item_size}));
        }
    }
    std::fs::write(dir.path().join("frames.json"), Value::Array(frames).to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/chunks/check_ours.py");
    let out = std::process::Command::new(python).arg(script).arg(dir.path()).output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "HSDS could not read our frames:\n{report}");
    assert!(report.contains("HSDS decoded"), "{report}");
    eprintln!("{report}");
}
