//! Unit tests of the chunk pipeline: HSDS filter handling, round trips, golden frames, corrupt input.

use serde_json::json;

use super::*;

#[test]
fn gzip_round_trip_is_a_blosc_zlib_frame() {
    let p = Pipeline::from_filters(&json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "name": "gzip"}]), 4).unwrap();
    let raw: Vec<u8> = (0..4096u32).flat_map(|i| (i / 7).to_le_bytes()).collect();
    let stored = p.encode(&raw).unwrap();
    assert_eq!(&stored[..4], &[2, 1, 0x60, 1]);
    assert!(stored.len() < raw.len() / 4);
    assert_eq!(p.decode(&stored, raw.len()).unwrap(), raw);
}
