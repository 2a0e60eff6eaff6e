//! The HSDS-style gzip float32 cube shared by `benches/values.rs` and `handler/examples/decode_speed.rs`
//! (included by both with `#[path]`): a random walk along time per cell like `selbench.py`'s
//! `standard_normal().cumsum(axis=0)`, chunked (250, 25, 25) and written as HSDS writes gzip (blosc1 zlib
//! frames, level 5).

use hsds_handler::chunk::codec::Pipeline;
use hsds_handler::chunk::engine::ChunkedDataset;
use hsds_handler::model::layout::{ChunkGrid, ChunkSource};
use hsds_handler::model::types::Datatype;
use hsds_handler::model::ObjId;
use hsds_handler::store::Store;
use serde_json::json;

/// Chunk shape of the cube (selbench.py's default).
pub(crate) const CHUNKS: [u64; 3] = [250, 25, 25];

/// A random walk along the first axis per (y, x) cell (the step is a centred sum of 4 uniforms: close enough
/// to a normal for compressibility), float32 little-endian, C order.
pub(crate) fn random_walk(shape: [usize; 3]) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let plane = shape[1] * shape[2];
    let mut cells = vec![0f32; plane];
    let mut out = Vec::with_capacity(shape[0] * plane * 4);
    for _ in 0..shape[0] {
        for cell in cells.iter_mut() {
            let mut s = 0.0f32;
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s += (state >> 40) as f32 / (1u64 << 24) as f32;
            }
            *cell += (s - 2.0) * 1.7;
            out.extend_from_slice(&cell.to_le_bytes());
        }
    }
    out
}

/// A float32 dataset of `extent` with gzip level 5 (deflate filter), [`CHUNKS`] chunks, fill 0.
pub(crate) fn gzip_dataset(extent: &[u64]) -> ChunkedDataset {
    let filters = json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "name": "deflate", "level": 5}]);
    ChunkedDataset {
        id: ObjId::parse("d-f9aaa28e-d42e10e5-0123-456789-abcdef").unwrap(),
        extent: extent.to_vec(),
        grid: ChunkGrid { chunk_dims: CHUNKS.to_vec(), source: ChunkSource::Hsds },
        item_size: 4,
        dtype: Datatype::from_json(&json!("H5T_IEEE_F32LE")).unwrap(),
        fill: vec![0; 4],
        init: None,
        pipeline: Pipeline::from_filters(&filters, 4).unwrap(),
        cas: true,
        cache: None,
        listed: None,
    }
}

/// Stores the dataset's JSON (id and shape): value writes re-read it to confirm the dataset still exists.
pub(crate) async fn store_dataset_json(store: &dyn Store, bucket: &str, ds: &ChunkedDataset) {
    let doc = json!({"id": ds.id.to_string(), "shape": {"class": "H5S_SIMPLE", "dims": ds.extent}});
    hsds_handler::store::json::put_json(store, bucket, &ds.id.s3_key(), &doc).await.unwrap();
}
