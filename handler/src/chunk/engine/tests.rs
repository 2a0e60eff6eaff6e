//! Engine tests through its public functions: limits, read/write round trips, partial decoding, races,
//! the warm cache and trimming.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::chunk::partial_decode;
use crate::error::ApiError;
use crate::model::layout::ChunkSource;
use crate::model::selection::Selection;
use crate::store::{MemoryStore, Store};

/// An int32 dataset of `extent` in `chunks` with `filters` and fill value `fill`, no cache.
pub(crate) fn dataset(extent: &[u64], chunks: &[u64], filters: serde_json::Value, fill: i32) -> ChunkedDataset {
    let id = ObjId::parse("d-f9aaa28e-d42e10e5-0123-456789-abcdef").unwrap();
    ChunkedDataset {
        id,
        extent: extent.to_vec(),
        grid: ChunkGrid { chunk_dims: chunks.to_vec(), source: ChunkSource::Hsds },
        item_size: 4,
        dtype: Datatype::from_json(&json!("H5T_STD_I32LE")).unwrap(),
        fill: fill.to_le_bytes().to_vec(),
        init: None,
        pipeline: Pipeline::from_filters(&filters, 4).unwrap(),
        cas: true,
        cache: None,
        listed: None,
    }
}

/// Stores the dataset's JSON (id and shape), which writes re-read to confirm the dataset still holds them.
async fn stored(store: &dyn Store, ds: &ChunkedDataset) {
    let doc = json!({"id": ds.id.to_string(), "shape": {"class": "H5S_SIMPLE", "dims": ds.extent}});
    crate::store::json::put_json(store, "b", &ds.id.s3_key(), &doc).await.unwrap();
}

fn ints(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn chunks_touched_counts_without_listing() {
    let sel = |s: &str, extent: &[u64]| Selection::parse(s, extent).unwrap();
    let count = |s: &Selection, c: &[u64]| (chunks_touched(s, c), s.chunks(c).len() as u64);
    for (select, extent, chunks) in [
        ("[0:100]", vec![100], vec![10]),
        ("[3:97:5]", vec![100], vec![3]),
        ("[3:97:4]", vec![100], vec![3]),
        ("[5:6, 0:100:7]", vec![10, 100], vec![4, 5]),
        ("[[1,2,50,51,99]]", vec![100], vec![10]),
        ("[0:1000:20, 7]", vec![1000, 10], vec![1, 1]),
    ] {
        let s = sel(select, &extent);
        let (fast, listed) = count(&s, &chunks);
        assert_eq!(fast, listed, "{select} over chunks {chunks:?}");
    }
    let huge = sel("[0:750000]", &[1_000_000]);
    assert_eq!(chunks_touched(&huge, &[1]), 750_000);
}

#[tokio::test]
async fn too_many_chunks_are_refused_before_any_work() {
    let store = MemoryStore::new();
    let ds = dataset(&[1_000_000], &[1], json!([]), 0);
    let sel = Selection::parse("[0:750000]", &ds.extent).unwrap();
    let e = ApiError::from(read(&store, "b", &ds, &sel).await.unwrap_err());
    assert_eq!(e.status, 413);
    assert!(e.message.contains("750000 chunks") && e.message.contains("10000"), "{}", e.message);
    let data = vec![1u8; 750_000 * 4];
    let e = ApiError::from(write(&store, "b", &ds, &sel, &data).await.unwrap_err());
    assert_eq!(e.status, 413);
    assert!(store.list("b", crate::store::ListOptions::default()).await.unwrap().objects.is_empty(), "nothing written");
}

/// A small function keeps fewer chunk bytes in flight (a streamed read at 128 MB peaked at ~75 MB with 32 MB);
/// from 512 MB on, the full budget.
#[test]
fn small_functions_keep_fewer_chunks_in_flight() {
    assert_eq!(in_flight_bytes_for_memory(Some(128)), 8 << 20);
    assert_eq!(in_flight_bytes_for_memory(Some(256)), 16 << 20);
    assert_eq!(in_flight_bytes_for_memory(Some(512)), IN_FLIGHT_BYTES);
    assert_eq!(in_flight_bytes_for_memory(Some(10240)), IN_FLIGHT_BYTES);
    assert_eq!(in_flight_bytes_for_memory(None), IN_FLIGHT_BYTES);
}

#[test]
fn largest_chunk_is_a_quarter_of_the_memory() {
    assert_eq!(largest_chunk_for_memory(Some(128)), Some(32 << 20));
    assert_eq!(largest_chunk_for_memory(None), None);
}

#[tokio::test]
async fn write_then_read_with_fill_and_edges() {
    let store = MemoryStore::new();
    let ds = dataset(&[40, 30], &[10, 10], json!(null), 7);
    stored(&store, &ds).await;
    let sel = Selection::parse("[5:15,8:12]", &[40, 30]).unwrap();
    let data: Vec<i32> = (0..40).collect();
    let stats = write(&store, "b", &ds, &sel, &ints(&data)).await.unwrap();
    assert_eq!((stats.touched, stats.written), (4, 4));
    // Same bytes as HSDS 1.0.2 wrote for this request: chunk 1_0 row 0 = fill x8, then 20, 21.
    let c = store.get("b", &ds.chunk_key(&[1, 0])).await.unwrap().body;
    assert_eq!(c.len(), 400);
    assert_eq!(&c[..40], ints(&[7, 7, 7, 7, 7, 7, 7, 7, 20, 21]).as_slice());
    let back = read(&store, "b", &ds, &sel).await.unwrap();
    assert_eq!(back, ints(&data));
    let corner = read(&store, "b", &ds, &Selection::parse("[39,29]", &[40, 30]).unwrap()).await.unwrap();
    assert_eq!(corner, ints(&[7]));
}

#[tokio::test]
async fn unchanged_and_fill_only_chunks_are_not_written() {
    let store = MemoryStore::new();
    let ds = dataset(&[40, 30], &[10, 10], json!(null), 7);
    stored(&store, &ds).await;
    let sel = Selection::parse("[30:31,0:1]", &[40, 30]).unwrap();
    let stats = write(&store, "b", &ds, &sel, &ints(&[7])).await.unwrap();
    assert_eq!(stats.written, 0);
    assert!(list_chunks(&store, "b", &ds.id).await.unwrap().is_empty());
    write(&store, "b", &ds, &sel, &ints(&[1])).await.unwrap();
    let etag = store.get("b", &ds.chunk_key(&[3, 0])).await.unwrap().etag;
    assert_eq!(write(&store, "b", &ds, &sel, &ints(&[1])).await.unwrap().written, 0);
    assert_eq!(store.get("b", &ds.chunk_key(&[3, 0])).await.unwrap().etag, etag);
}

#[tokio::test]
async fn compressed_chunks_round_trip() {
    let store = MemoryStore::new();
    let f = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "name": "deflate", "level": 5}]);
    let ds = dataset(&[100], &[50], f, 0);
    stored(&store, &ds).await;
    let sel = Selection::all(&[100]);
    let data: Vec<i32> = (0..100).collect();
    write(&store, "b", &ds, &sel, &ints(&data)).await.unwrap();
    let stored = store.get("b", &ds.chunk_key(&[1])).await.unwrap().body;
    assert_eq!(&stored[..2], &[2, 1]); // a blosc1 frame, as HSDS writes
    assert_eq!(read(&store, "b", &ds, &sel).await.unwrap(), ints(&data));
}

#[tokio::test]
async fn slices_at_the_start_of_gzip_chunks_decode_only_that_far_and_read_right() {
    let store = MemoryStore::new();
    let f = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 4}]);
    let ds = dataset(&[8, 10, 10], &[4, 10, 10], f, 0);
    stored(&store, &ds).await;
    let data: Vec<i32> = (0..800).collect();
    write(&store, "b", &ds, &Selection::all(&[8, 10, 10]), &ints(&data)).await.unwrap();
    // [4, :, :] reads the first quarter of chunk 1 only: the prefix decoder serves it.
    let plane = read(&store, "b", &ds, &Selection::parse("[4,:,:]", &[8, 10, 10]).unwrap()).await.unwrap();
    assert_eq!(plane, ints(&data[400..500]));
    let stored = store.get("b", &ds.chunk_key(&[1, 0, 0])).await.unwrap().body;
    let part =
        partial_decode::decode_prefix(&ds.pipeline, &stored, ds.chunk_bytes(), 400).expect("zlib frame").unwrap();
    assert_eq!(part.len(), 400);
    let corner = read(&store, "b", &ds, &Selection::parse("[0:8:4,0:2,9]", &[8, 10, 10]).unwrap()).await.unwrap();
    assert_eq!(corner, ints(&[9, 19, 409, 419]));
}

#[tokio::test]
async fn a_slice_at_the_start_of_big_gzip_chunks_fetches_only_their_first_bytes() {
    let store = MemoryStore::new();
    let f = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]);
    let ds = dataset(&[500, 50, 50], &[250, 50, 50], f, 0);
    stored(&store, &ds).await;
    // Values that compress a little, like measurements (20 random bits each): chunks of 2.5 MB stored
    // as ~2 MB, of which a 10 KB plane needs the first ~10 KB.
    let mut x = 7u64;
    let data: Vec<i32> = (0..500 * 2500)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 44) as i32
        })
        .collect();
    write(&store, "b", &ds, &Selection::all(&[500, 50, 50]), &ints(&data)).await.unwrap();
    let stored_bytes = store.get("b", &ds.chunk_key(&[1, 0, 0])).await.unwrap().body.len();
    let before = store.bytes_served();
    let plane = read(&store, "b", &ds, &Selection::parse("[250,:,:]", &[500, 50, 50]).unwrap()).await.unwrap();
    assert_eq!(plane, ints(&data[250 * 2500..251 * 2500]));
    let fetched = (store.bytes_served() - before) as usize;
    assert!(fetched < stored_bytes / 4, "a 10 KB plane fetched {fetched} bytes of a {stored_bytes}-byte chunk object");
    // A plane 60 % of the way into a chunk: its prefix, not the whole object.
    let before = store.bytes_served();
    let plane = read(&store, "b", &ds, &Selection::parse("[400,:,:]", &[500, 50, 50]).unwrap()).await.unwrap();
    assert_eq!(plane, ints(&data[400 * 2500..401 * 2500]));
    let fetched = (store.bytes_served() - before) as usize;
    let range = partial_decode::stored_prefix_len(151 * 2500 * 4) as usize;
    assert!(fetched <= range && range < stored_bytes, "a plane at 60 % fetched {fetched} of {stored_bytes} bytes");
    // Whole-chunk reads still fetch everything and read right.
    let all = read(&store, "b", &ds, &Selection::all(&[500, 50, 50])).await.unwrap();
    assert_eq!(all, ints(&data));
}

#[tokio::test]
async fn wrong_length_is_rejected_before_any_write() {
    let store = MemoryStore::new();
    let ds = dataset(&[10], &[10], json!(null), 0);
    stored(&store, &ds).await;
    let e = ApiError::from(write(&store, "b", &ds, &Selection::all(&[10]), &ints(&[1, 2])).await.unwrap_err());
    assert_eq!(e.status, 400);
    assert!(list_chunks(&store, "b", &ds.id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_to_one_chunk_lose_nothing() {
    let store = Arc::new(MemoryStore::new());
    let ds = Arc::new(dataset(&[64], &[64], json!(null), 0));
    stored(store.as_ref(), &ds).await;
    let mut tasks = Vec::new();
    for i in 0..32u64 {
        let (store, ds) = (store.clone(), ds.clone());
        tasks.push(tokio::spawn(async move {
            let sel = Selection::parse(&format!("[{i}]"), &[64]).unwrap();
            write(store.as_ref(), "b", &ds, &sel, &ints(&[i as i32 + 1])).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = read(store.as_ref(), "b", &ds, &Selection::parse("[0:32]", &[64]).unwrap()).await.unwrap();
    assert_eq!(all, ints(&(1..=32).collect::<Vec<i32>>()));
}

#[tokio::test]
async fn cached_chunks_are_revalidated_and_never_stale() {
    let store = MemoryStore::new();
    let mut ds = dataset(&[8], &[4], json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]), 0);
    stored(&store, &ds).await;
    let cache = Arc::new(WarmCache::new(1 << 20));
    ds.cache = Some(cache.clone());
    let all = Selection::all(&[8]);
    write(&store, "b", &ds, &all, &ints(&[1, 2, 3, 4, 5, 6, 7, 8])).await.unwrap();
    assert_eq!(cache.stats().entries, 2); // writes leave the chunks they wrote, under their new ETags
    assert_eq!(read(&store, "b", &ds, &all).await.unwrap(), ints(&[1, 2, 3, 4, 5, 6, 7, 8]));
    // Another writer (a different Lambda instance) replaces chunk 1 behind the cache's back.
    let mut other = ds.clone();
    other.cache = None;
    write(&store, "b", &other, &Selection::parse("[4:8]", &[8]).unwrap(), &ints(&[9, 9, 9, 9])).await.unwrap();
    assert_eq!(read(&store, "b", &ds, &all).await.unwrap(), ints(&[1, 2, 3, 4, 9, 9, 9, 9]));
    store.delete("b", &ds.chunk_key(&[0])).await.unwrap();
    assert_eq!(read(&store, "b", &ds, &all).await.unwrap(), ints(&[0, 0, 0, 0, 9, 9, 9, 9]));
    assert_eq!(cache.stats().entries, 1);
    // A read-modify-write through a stale entry still wins the CAS against the current chunk.
    write(&store, "b", &other, &Selection::parse("[4]", &[8]).unwrap(), &ints(&[5])).await.unwrap();
    write(&store, "b", &ds, &Selection::parse("[5]", &[8]).unwrap(), &ints(&[6])).await.unwrap();
    assert_eq!(read(&store, "b", &other, &all).await.unwrap(), ints(&[0, 0, 0, 0, 5, 6, 9, 9]));
}

/// A warm read revalidates its cached chunks with one LIST page instead of a conditional GET each, and still
/// never serves a chunk another instance rewrote (its new ETag is listed) or deleted (not listed: fill).
#[tokio::test]
async fn one_listing_revalidates_the_cached_chunks_of_a_read() {
    let store = MemoryStore::new();
    let mut ds = dataset(&[16], &[4], json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]), -1);
    stored(&store, &ds).await;
    let cache = Arc::new(WarmCache::new(1 << 20));
    ds.cache = Some(cache.clone());
    let all = Selection::all(&[16]);
    let values: Vec<i32> = (0..16).collect();
    write(&store, "b", &ds, &all, &ints(&values)).await.unwrap();
    store.take_get_counts();
    store.take_list_count();
    assert_eq!(read(&store, "b", &ds, &all).await.unwrap(), ints(&values));
    assert_eq!((store.take_list_count(), store.take_get_counts()), (1, (0, 0)), "one LIST, no GET");
    // Another instance (a second handle on the store, no cache) rewrites chunk 2 and deletes chunk 0.
    let mut other = ds.clone();
    other.cache = None;
    write(&store, "b", &other, &Selection::parse("[8:12]", &[16]).unwrap(), &ints(&[7, 7, 7, 7])).await.unwrap();
    store.delete("b", &ds.chunk_key(&[0])).await.unwrap();
    store.take_get_counts();
    let mut want = vec![-1, -1, -1, -1, 4, 5, 6, 7, 7, 7, 7, 7, 12, 13, 14, 15];
    assert_eq!(read(&store, "b", &ds, &all).await.unwrap(), ints(&want));
    // Only the rewritten chunk is fetched; the deleted one is known missing from the listing.
    assert_eq!((store.take_list_count(), store.take_get_counts()), (1, (1, 0)));
    assert_eq!(cache.stats().entries, 3);
    // A read touching one cached chunk revalidates it with a conditional GET, no listing.
    assert_eq!(read(&store, "b", &ds, &Selection::parse("[5]", &[16]).unwrap()).await.unwrap(), ints(&[5]));
    assert_eq!((store.take_list_count(), store.take_get_counts()), (0, (0, 1)));
    // Rewritten again between two reads, through a store handle the cache never saw.
    write(&store, "b", &other, &Selection::parse("[12:16]", &[16]).unwrap(), &ints(&[3, 3, 3, 3])).await.unwrap();
    want[12..].copy_from_slice(&[3, 3, 3, 3]);
    assert_eq!(read(&store, "b", &ds, &all).await.unwrap(), ints(&want));
}

/// When the needed chunks are sparse in key order the LIST page ends before the last of them; those past
/// its end are revalidated one by one, and the read is the same.
#[tokio::test]
async fn chunks_past_the_listed_page_are_revalidated_one_by_one() {
    let store = MemoryStore::new();
    let mut ds = dataset(&[1000], &[1], json!([]), -1);
    stored(&store, &ds).await;
    ds.cache = Some(Arc::new(WarmCache::new(1 << 20)));
    let values: Vec<i32> = (0..1000).collect();
    write(&store, "b", &ds, &Selection::all(&[1000]), &ints(&values)).await.unwrap();
    // Keys 0, 100, ..., 900 among the keys "0", "1", "10", "100", "101", ...: a page of 16 keys per chunk
    // (160) ends in the 200s.
    let sel = Selection::parse("[0:1000:100]", &[1000]).unwrap();
    let want: Vec<i32> = (0..1000).step_by(100).collect();
    read(&store, "b", &ds, &sel).await.unwrap();
    store.take_get_counts();
    store.take_list_count();
    assert_eq!(read(&store, "b", &ds, &sel).await.unwrap(), ints(&want));
    assert_eq!((store.take_list_count(), store.take_get_counts()), (1, (0, 7)), "0, 100, 200 listed; 7 alone");
    store.delete("b", &ds.chunk_key(&[900])).await.unwrap();
    let mut want = want;
    want[9] = -1;
    assert_eq!(read(&store, "b", &ds, &sel).await.unwrap(), ints(&want));
}

/// A 100x10x10 dataset of 0..10000 in one gzip chunk, written to `store`, read through an empty cache.
async fn one_gzip_chunk_with_a_cache(store: &MemoryStore) -> (ChunkedDataset, Arc<WarmCache>, Vec<i32>) {
    let f = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 5}]);
    let mut ds = dataset(&[100, 10, 10], &[100, 10, 10], f, 0);
    stored(store, &ds).await;
    let data: Vec<i32> = (0..10_000).collect();
    write(store, "b", &ds, &Selection::all(&[100, 10, 10]), &ints(&data)).await.unwrap();
    let cache = Arc::new(WarmCache::new(1 << 20));
    ds.cache = Some(cache.clone());
    (ds, cache, data)
}

/// With a chunk cache, a read needing 40 % of a chunk decodes it whole and keeps it (the next slices of the
/// chunk are then cache hits); one needing 1 % still decodes only its prefix and keeps nothing.
#[tokio::test]
async fn with_a_cache_mid_chunk_reads_decode_whole_chunks_and_keep_them() {
    let store = MemoryStore::new();
    let (ds, cache, data) = one_gzip_chunk_with_a_cache(&store).await;
    let start = read(&store, "b", &ds, &Selection::parse("[0,:,:]", &[100, 10, 10]).unwrap()).await.unwrap();
    assert_eq!(start, ints(&data[..100]));
    assert_eq!(cache.stats().entries, 0, "a 1 % prefix is decoded alone, not cached");
    let mid = read(&store, "b", &ds, &Selection::parse("[39,:,:]", &[100, 10, 10]).unwrap()).await.unwrap();
    assert_eq!(mid, ints(&data[3900..4000]));
    assert_eq!(cache.stats().entries, 1, "a 40 % prefix decodes the chunk whole and keeps it");
}

/// A small prefix of a chunk read a second time decodes the chunk whole and keeps it: the third read is a
/// revalidation, not a fetch.
#[tokio::test]
async fn a_prefix_read_twice_keeps_the_whole_chunk() {
    let store = MemoryStore::new();
    let (ds, cache, data) = one_gzip_chunk_with_a_cache(&store).await;
    let plane = Selection::parse("[0,:,:]", &[100, 10, 10]).unwrap();
    for (entries, what) in [(0, "the first prefix read keeps nothing"), (1, "the second keeps the chunk")] {
        assert_eq!(read(&store, "b", &ds, &plane).await.unwrap(), ints(&data[..100]));
        assert_eq!(cache.stats().entries, entries, "{what}");
    }
    store.take_get_counts();
    assert_eq!(read(&store, "b", &ds, &plane).await.unwrap(), ints(&data[..100]));
    assert_eq!(store.take_get_counts(), (0, 1), "a conditional GET answered 'not modified'");
}

#[tokio::test]
async fn trim_resets_edges_and_deletes_outside_chunks() {
    let store = MemoryStore::new();
    let ds = dataset(&[20], &[5], json!(null), 9);
    stored(&store, &ds).await;
    let data: Vec<i32> = (0..20).collect();
    write(&store, "b", &ds, &Selection::all(&[20]), &ints(&data)).await.unwrap();
    trim_to_extent(&store, "b", &ds, &[7]).await.unwrap();
    assert_eq!(list_chunks(&store, "b", &ds.id).await.unwrap().len(), 2);
    let grown = read(&store, "b", &ds, &Selection::parse("[0:12]", &[20]).unwrap()).await.unwrap();
    assert_eq!(grown, ints(&[0, 1, 2, 3, 4, 5, 6, 9, 9, 9, 9, 9]));
}
