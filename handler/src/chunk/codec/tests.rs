//! Unit tests of the chunk pipeline: golden frames made by numcodecs/HSDS (`fixtures/chunks/make_golden.py`),
//! HSDS's filter validation, round trips of every codec, and corrupt input.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/chunks")
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn golden_frames() -> Vec<Value> {
    let manifest: Value = serde_json::from_slice(&read_fixture("manifest.json")).unwrap();
    manifest["frames"].as_array().unwrap().clone()
}

/// A zlib frame made by c-blosc (numcodecs' writer), whatever our own writer would do.
fn cblosc_zlib(raw: &[u8], level: u8, shuffle: blosc::BloscShuffle, typesize: usize) -> Vec<u8> {
    blosc::compress_with(raw, Cname::Zlib, level, shuffle, typesize, blosc::Writer::CBlosc).unwrap()
}

/// A float32 random walk: the kind of data chunks hold.
fn walk_f32(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut x = 0f32;
    (0..n)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            x += (state % 2001) as f32 / 1000.0 - 1.0;
            x.to_le_bytes()
        })
        .collect()
}

fn filters_for(compressor: Option<&str>, shuffle: Option<&str>) -> Value {
    let mut list = Vec::new();
    if let Some(name) = shuffle {
        list.push(json!({"class": "H5Z_FILTER_SHUFFLE", "id": 2, "name": name}));
    }
    if let Some(name) = compressor {
        list.push(json!({"class": "H5Z_FILTER_USER", "name": name}));
    }
    normalize_filters(&Value::Array(list)).unwrap()
}

#[test]
fn every_golden_frame_decodes_to_its_raw_chunk() {
    let frames = golden_frames();
    assert!(frames.len() >= 30, "manifest lists {} frames", frames.len());
    for frame in frames {
        let name = frame["file"].as_str().unwrap();
        let raw = read_fixture(frame["raw"].as_str().unwrap());
        let pipeline =
            Pipeline::from_filters(&frame["filters"], frame["item_size"].as_u64().unwrap() as usize).unwrap();
        let decoded = pipeline.decode(&read_fixture(name), raw.len()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(decoded == raw, "{name} decodes to different bytes");
    }
}

#[test]
fn our_zlib_reader_matches_c_blosc_on_every_golden_frame() {
    let mut zlib_frames = 0;
    for frame in golden_frames() {
        let stored = read_fixture(frame["file"].as_str().unwrap());
        let Some(head) = blosc::header(&stored) else { continue };
        let name = frame["file"].as_str().unwrap();
        let ours = blosc::decompress(&stored, head, head.nbytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let reference = reference_blosc_decode(&stored, head.nbytes).unwrap();
        assert!(ours == reference, "{name}: our reader and c-blosc differ");
        zlib_frames += usize::from(blosc_zlib::reads(&head));
    }
    assert!(zlib_frames >= 5, "only {zlib_frames} golden zlib frames");
}

/// A zlib frame made by c-blosc, decoded by our reader and by c-blosc: the same bytes, and the raw input.
fn assert_zlib_frame_reads_like_c_blosc(raw: &[u8], level: u8, shuffle: blosc::BloscShuffle, typesize: usize) {
    let frame = cblosc_zlib(raw, level, shuffle, typesize);
    let head = blosc::header(&frame).unwrap();
    let what = format!("{} bytes, level {level}, {shuffle:?}, typesize {typesize}, {head:?}", raw.len());
    let ours = blosc::decompress(&frame, head, raw.len()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let reference = reference_blosc_decode(&frame, raw.len()).unwrap();
    assert!(ours == reference, "{what}: our reader and c-blosc differ");
    assert!(ours == raw, "{what}: does not round trip");
}

#[test]
fn our_zlib_reader_handles_split_leftover_and_unsplit_blocks() {
    let raw = walk_f32(100_003, 9); // 400012 bytes: not a multiple of 8 or 16
    for typesize in [1, 2, 3, 4, 8, 16, 17, 40] {
        for level in [1, 5, 9] {
            let len = raw.len() / typesize * typesize - typesize; // whole items, and a leftover block
            let frame = cblosc_zlib(&raw[..len], level, blosc::BloscShuffle::Byte, typesize);
            let head = blosc::header(&frame).unwrap();
            assert!(blosc_zlib::reads(&head));
            assert_zlib_frame_reads_like_c_blosc(&raw[..len], level, blosc::BloscShuffle::Byte, typesize);
            assert_zlib_frame_reads_like_c_blosc(&raw[..len], level, blosc::BloscShuffle::None, typesize);
            assert_zlib_frame_reads_like_c_blosc(&raw[..len + 1], level, blosc::BloscShuffle::Byte, typesize);
        }
    }
    // Incompressible bytes: c-blosc stores streams raw (length == plane size), or the whole frame (memcpyed).
    let noise = noise_bytes(70_000, 7);
    for typesize in [1, 4] {
        assert_zlib_frame_reads_like_c_blosc(&noise, 5, blosc::BloscShuffle::Byte, typesize);
        assert_zlib_frame_reads_like_c_blosc(&noise, 0, blosc::BloscShuffle::None, typesize);
    }
}

#[test]
fn our_blosc_frames_match_numcodecs() {
    let (mut identical, mut zlib) = (0, 0);
    for frame in golden_frames().into_iter().filter(|f| f["identical"] == true) {
        let name = frame["file"].as_str().unwrap();
        let raw = read_fixture(frame["raw"].as_str().unwrap());
        let pipeline =
            Pipeline::from_filters(&frame["filters"], frame["item_size"].as_u64().unwrap() as usize).unwrap();
        if pipeline.ops().shuffle == ShuffleOp::Bit {
            continue; // our LZ4 blocks come from lz4_flex, not liblz4; decoding is checked above
        }
        let golden = read_fixture(name);
        let ours = pipeline.encode(&raw).unwrap();
        match (blosc::header(&golden), blosc::header(&ours)) {
            // Zlib frames come from our writer: c-blosc's layout, libdeflate's streams (see the next test).
            (Some(g), Some(o)) if g.codec() == blosc::CODEC_ZLIB && ours != golden => {
                assert_eq!(
                    (o.versionlz, o.flags, o.typesize, o.nbytes, o.blocksize),
                    (g.versionlz, g.flags, g.typesize, g.nbytes, g.blocksize),
                    "{name}: another frame layout"
                );
                assert!(
                    reference_blosc_decode(&ours, raw.len()).unwrap() == raw,
                    "{name}: c-blosc reads ours differently"
                );
                zlib += 1;
            }
            _ => {
                assert!(ours == golden, "our encoding differs from {name}");
                identical += 1;
            }
        }
    }
    assert!(identical >= 10, "only {identical} byte-identical frames checked");
    assert!(zlib >= 5, "only {zlib} zlib frames checked");
}

/// Our zlib frame writer against c-blosc's on the shapes of data and parameters that matter: the same header
/// (version, flags, typesize, block size; raw "memcpyed" frames for what does not compress), a size within a
/// few percent, and frames that c-blosc and our reader both decode to the input.
#[test]
fn our_zlib_writer_frames_like_c_blosc() {
    let walk = walk_f32(300_001, 3); // 1.2 MB: several blocks at every level, and a leftover block
    let noise = noise_bytes(90_000, 11);
    let zeros = vec![0u8; 50_000];
    for (what, data) in [("walk", &walk[..]), ("noise", &noise[..]), ("zeros", &zeros[..]), ("small", &walk[..1000])] {
        for typesize in [1, 2, 4, 8, 16, 17] {
            for level in [1, 5, 9] {
                for shuffle in [blosc::BloscShuffle::None, blosc::BloscShuffle::Byte] {
                    let case = format!("{what}, typesize {typesize}, level {level}, {shuffle:?}");
                    let ours = blosc::compress(data, Cname::Zlib, level, shuffle, typesize).unwrap();
                    let theirs = cblosc_zlib(data, level, shuffle, typesize);
                    let (o, t) = (blosc::header(&ours).unwrap(), blosc::header(&theirs).unwrap());
                    assert_eq!(
                        (o.versionlz, o.flags, o.typesize, o.nbytes, o.blocksize),
                        (t.versionlz, t.flags, t.typesize, t.nbytes, t.blocksize),
                        "{case}: another frame layout"
                    );
                    assert_eq!(o.cbytes, ours.len(), "{case}");
                    assert!(
                        ours.len() <= theirs.len() + theirs.len() / 20 + 64,
                        "{case}: {} vs {}",
                        ours.len(),
                        theirs.len()
                    );
                    assert!(
                        reference_blosc_decode(&ours, data.len()).unwrap() == data,
                        "{case}: c-blosc reads it differently"
                    );
                    assert!(
                        blosc::decompress(&ours, o, data.len()).unwrap() == data,
                        "{case}: our reader reads it differently"
                    );
                }
            }
        }
    }
}

#[test]
fn shuffled_frames_use_the_item_size_and_compress_better_than_hsds() {
    let raw = read_fixture("raw_f4.bin");
    let ours = Pipeline::from_filters(&filters_for(Some("lz4"), Some("shuffle")), 4).unwrap().encode(&raw).unwrap();
    let hsds = read_fixture("hsds_lz4_shuffle_f4.bin");
    assert_eq!((ours[2] & 1, ours[3]), (1, 4), "shuffle flag and typesize 4");
    assert_eq!(hsds[3], 1, "HSDS frames with typesize 1");
    assert!(ours.len() < hsds.len() * 9 / 10, "ours {} vs HSDS {}", ours.len(), hsds.len());
}

#[test]
fn hsds_filter_validation_is_reproduced() {
    // Expected results from HSDS 1.0.2 + h5json 2.0.1 (normalizeFilters, validateDatasetCreationProps,
    // getSupportedFilters), run in the reference venv.
    let accepted = [
        (
            json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 9}]),
            json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "level": 9, "name": "gzip"}]),
        ),
        (json!([{"class": "H5Z_FILTER_DEFLATE"}]), json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "name": "gzip"}])),
        (
            json!([{"class": "H5Z_FILTER_USER", "name": "lz4", "level": 5}]),
            json!([{"class": "H5Z_FILTER_LZ4", "name": "lz4", "level": 5, "id": 32004}]),
        ),
        (
            json!([{"class": "H5Z_FILTER_USER", "id": 32015}]),
            json!([{"class": "H5Z_FILTER_ZSTD", "id": 32015, "name": "zstd"}]),
        ),
        (
            json!([{"class": "H5Z_FILTER_USER", "name": "deflate"}]),
            json!([{"class": "H5Z_FILTER_DEFLATE", "name": "deflate", "id": 1}]),
        ),
        (
            json!([{"class": "H5Z_FILTER_BITSHUFFLE"}]),
            json!([{"class": "H5Z_FILTER_BITSHUFFLE", "id": 32008, "name": "bitshuffle"}]),
        ),
        (
            json!([{"class": "H5Z_FILTER_SCALEOFFSET", "scaleType": "H5Z_SO_INT", "scaleOffset": 2}]),
            json!([{"class": "H5Z_FILTER_SCALEOFFSET", "scaleType": "H5Z_SO_INT", "scaleOffset": 2, "id": 6, "name": "scaleoffset"}]),
        ),
        (json!([]), json!([])),
    ];
    for (input, expected) in accepted {
        let got = normalize_filters(&input).unwrap_or_else(|e| panic!("{input} rejected: {e}"));
        assert_eq!(got, expected);
        assert_eq!(serde_json::to_string(&got).unwrap(), serde_json::to_string(&expected).unwrap(), "key order");
    }
    let rejected = [
        json!([1]),
        json!(["gzip"]),
        json!("gzip"),
        json!(null),
        json!([{"class": "H5Z_FILTER_LZF"}]),
        json!([{"class": "H5Z_FILTER_SZIP"}]),
        json!([{"class": "H5Z_FILTER_SNAPPY"}]),
        json!([{"class": "H5Z_FILTER_NONE"}]),
        json!([{"class": "H5Z_FILTER_ZSTD", "level": 3}]),
        json!([{"class": "H5Z_FILTER_BLOSC", "id": 32001, "name": "blosclz", "level": 3}]),
        json!([{"class": "H5Z_FILTER_LZ4", "level": 12}]),
        json!([{"class": "H5Z_FILTER_DEFLATE", "level": "5"}]),
        json!([{"class": "H5Z_FILTER_DEFLATE", "id": 2}]),
        json!([{"class": "H5Z_FILTER_DEFLATE", "foo": 1}]),
        json!([{"class": "H5Z_FILTER_USER", "id": 40000}]),
        json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "name": "zlib"}]),
        json!([{"id": 1, "name": "gzip"}]),
    ];
    for input in rejected {
        let err = normalize_filters(&input).expect_err(&input.to_string());
        assert!(matches!(err, ModelError::Invalid(_)), "{input}: {err:?}");
    }
}

#[test]
fn filter_ops_follow_hsds_get_filter_ops() {
    let ops = |filters: Value, item_size| Pipeline::from_filters(&filters, item_size).unwrap().ops();
    let gzip = ops(json!([{"class": "H5Z_FILTER_DEFLATE", "id": 1, "name": "deflate"}]), 4);
    assert_eq!(gzip, FilterOps { compressor: Some(Cname::Zlib), level: 5, shuffle: ShuffleOp::None });
    let lz4 = ops(
        json!([{"class": "H5Z_FILTER_LZ4", "id": 32004, "name": "lz4", "level": 7}, {"class": "H5Z_FILTER_SHUFFLE", "id": 2, "name": "shuffle"}]),
        8,
    );
    assert_eq!(lz4, FilterOps { compressor: Some(Cname::Lz4), level: 7, shuffle: ShuffleOp::Byte });
    // Shuffle is ignored for variable-length types (item size 0).
    assert_eq!(ops(filters_for(Some("zstd"), Some("shuffle")), 0).shuffle, ShuffleOp::None);
    // The first compression-class filter wins; scaleoffset means "no compression" in HSDS.
    let so = ops(
        json!([{"class": "H5Z_FILTER_SCALEOFFSET", "id": 6, "name": "scaleoffset"}, {"class": "H5Z_FILTER_DEFLATE", "id": 1, "name": "gzip"}]),
        4,
    );
    assert_eq!(so.compressor, None);
    for absent in [json!(null), json!([]), json!([{"class": "H5Z_FILTER_FLETCHER32", "id": 3, "name": "fletcher32"}])] {
        assert!(Pipeline::from_filters(&absent, 4).unwrap().is_identity(), "{absent}");
    }
    assert!(Pipeline::from_filters(&json!([{"class": "H5Z_FILTER_LZF", "id": 32000, "name": "lzf"}]), 4).is_err());
}

#[test]
fn shuffle_without_compressor_is_stored_and_read_raw() {
    let raw = walk_f32(1000, 3);
    let pipeline = Pipeline::from_filters(&filters_for(None, Some("shuffle")), 4).unwrap();
    assert!(pipeline.is_identity());
    assert_eq!(pipeline.encode(&raw).unwrap(), raw);
    assert_eq!(pipeline.decode(&raw, raw.len()).unwrap(), raw);
}

#[test]
fn bitshuffle_writes_hsds_header_and_round_trips() {
    let raw = walk_f32(5000, 9); // two full 2048-item blocks, one partial block of 904 items
    for compressor in [None, Some("lz4"), Some("zstd")] {
        let pipeline = Pipeline::from_filters(&filters_for(compressor, Some("bitshuffle")), 4).unwrap();
        assert!(!pipeline.is_identity());
        let stored = pipeline.encode(&raw).unwrap();
        if compressor.is_none() {
            assert_eq!(&stored[..12], &[0, 0, 0, 0, 0, 0, 0x4e, 0x20, 0, 0, 0x20, 0], "total 20000, blocks 8192");
        }
        assert_eq!(pipeline.decode(&stored, raw.len()).unwrap(), raw);
    }
}

#[test]
fn raw_zlib_streams_are_read_for_deflate_only() {
    let raw = walk_f32(3000, 5);
    let stream = zlib::compress(&raw, 6);
    let deflate = Pipeline::from_filters(&filters_for(Some("deflate"), None), 4).unwrap();
    assert_eq!(deflate.decode(&stream, raw.len()).unwrap(), raw);
    assert_eq!(deflate.decode_bounded(&stream, 1 << 20).unwrap(), raw);
    assert!(deflate.decode_bounded(&stream[..stream.len() / 2], 1 << 20).is_err(), "truncated stream");
    let shuffled = zlib::compress(&shuffle::shuffle(&raw, 4).unwrap(), 6);
    let deflate_shuffle = Pipeline::from_filters(&filters_for(Some("gzip"), Some("shuffle")), 4).unwrap();
    assert_eq!(deflate_shuffle.decode(&shuffled, raw.len()).unwrap(), raw);
    let lz4 = Pipeline::from_filters(&filters_for(Some("lz4"), None), 4).unwrap();
    assert!(matches!(lz4.decode(&stream, raw.len()), Err(CodecError::Corrupt(_))));
}

#[test]
fn wrong_sizes_are_errors() {
    let raw = walk_f32(1024, 1);
    for name in ["gzip", "lz4", "zstd"] {
        let pipeline = Pipeline::from_filters(&filters_for(Some(name), None), 4).unwrap();
        let stored = pipeline.encode(&raw).unwrap();
        assert!(matches!(pipeline.decode(&stored, raw.len() - 4), Err(CodecError::WrongSize { .. })), "{name}");
        assert!(matches!(pipeline.decode(&stored, raw.len() + 4), Err(CodecError::WrongSize { .. })), "{name}");
        assert!(pipeline.decode(&stored[..stored.len() - 1], raw.len()).is_err(), "{name} truncated");
    }
    let identity = Pipeline::from_filters(&Value::Null, 4).unwrap();
    assert!(matches!(identity.decode(&raw, raw.len() + 1), Err(CodecError::WrongSize { .. })));
}

#[test]
fn codec_errors_are_500s() {
    let err: ApiError = CodecError::corrupt("not a blosc frame").into();
    assert_eq!(err.status, 500);
    assert!(err.message.contains("corrupt"), "{}", err.message);
}

use crate::error::ApiError;

/// Every codec this module can write, with and without shuffle.
fn all_filter_lists() -> Vec<Value> {
    let mut lists = vec![Value::Null];
    for shuffle in [None, Some("shuffle"), Some("bitshuffle")] {
        for compressor in [None, Some("blosclz"), Some("lz4"), Some("lz4hc"), Some("gzip"), Some("zstd")] {
            lists.push(filters_for(compressor, shuffle));
        }
    }
    lists
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_codec_round_trips(
        list in prop::sample::select(all_filter_lists()),
        item_size in prop::sample::select(vec![1usize, 2, 4, 8, 12]),
        items in 0usize..3000,
        seed in any::<u64>(),
        noisy in any::<bool>(),
    ) {
        let raw: Vec<u8> = if noisy {
            let mut state = seed | 1;
            (0..items * item_size).map(|_| { state = state.wrapping_mul(6364136223846793005).wrapping_add(1); (state >> 56) as u8 }).collect()
        } else {
            walk_f32(items * item_size / 4 + 1, seed)[..items * item_size].to_vec()
        };
        let pipeline = Pipeline::from_filters(&list, item_size).unwrap();
        let stored = pipeline.encode(&raw).unwrap();
        prop_assert_eq!(pipeline.decode(&stored, raw.len()).unwrap(), raw);
    }

    #[test]
    fn random_bytes_never_panic(
        list in prop::sample::select(all_filter_lists()),
        stored in prop::collection::vec(any::<u8>(), 0..600),
        expected_len in 0usize..5000,
    ) {
        let pipeline = Pipeline::from_filters(&list, 4).unwrap();
        if let Ok(raw) = pipeline.decode(&stored, expected_len) {
            prop_assert_eq!(raw.len(), expected_len);
        }
    }

    #[test]
    fn corrupted_frames_never_panic_or_overrun(
        list in prop::sample::select(all_filter_lists()),
        seed in any::<u64>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let raw = walk_f32(2048, seed);
        let pipeline = Pipeline::from_filters(&list, 4).unwrap();
        let mut stored = pipeline.encode(&raw).unwrap();
        for (at, byte) in flips {
            let i = at.index(stored.len());
            stored[i] ^= byte;
        }
        if truncate {
            stored.truncate(cut.index(stored.len() + 1));
        }
        if let Ok(out) = pipeline.decode(&stored, raw.len()) {
            prop_assert_eq!(out.len(), raw.len());
        }
    }

    #[test]
    fn c_blosc_zlib_frames_read_the_same_with_our_reader(
        typesize in prop::sample::select(vec![1usize, 2, 3, 4, 5, 8, 12, 16, 17, 32]),
        len in prop_oneof![0usize..2048, 2048usize..300_000],
        level in 0u8..=9,
        shuffle in any::<bool>(),
        seed in any::<u64>(),
        noisy in any::<bool>(),
    ) {
        let raw: Vec<u8> = if noisy {
            let mut state = seed | 1;
            (0..len).map(|_| { state = state.wrapping_mul(6364136223846793005).wrapping_add(1); (state >> 56) as u8 }).collect()
        } else {
            walk_f32(len / 4 + 1, seed)[..len].to_vec()
        };
        let shuffle = if shuffle { blosc::BloscShuffle::Byte } else { blosc::BloscShuffle::None };
        assert_zlib_frame_reads_like_c_blosc(&raw, level, shuffle, typesize);
    }

    #[test]
    fn corrupted_zlib_frames_never_panic_and_never_differ_from_c_blosc(
        typesize in prop::sample::select(vec![1usize, 4, 8]),
        seed in any::<u64>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let raw = walk_f32(40_000, seed);
        let mut frame = cblosc_zlib(&raw, 1, blosc::BloscShuffle::Byte, typesize);
        for (at, byte) in flips {
            let i = at.index(frame.len());
            frame[i] ^= byte;
        }
        if truncate {
            frame.truncate(cut.index(frame.len() + 1));
        }
        if let Some(head) = blosc::header(&frame) {
            let ours = blosc::decompress(&frame, head, raw.len());
            if let (Ok(ours), Ok(reference)) = (&ours, reference_blosc_decode(&frame, raw.len())) {
                prop_assert_eq!(ours, &reference);
            }
        }
    }

    #[test]
    fn huge_announced_sizes_are_refused_before_allocating(
        list in prop::sample::select(all_filter_lists()),
        claimed in (1u32 << 24)..u32::MAX,
    ) {
        // A blosc header / bitshuffle header announcing far more than the chunk size.
        let mut blosc = vec![2u8, 1, 0x21, 4];
        blosc.extend_from_slice(&claimed.to_le_bytes());
        blosc.extend_from_slice(&65536u32.to_le_bytes());
        blosc.extend_from_slice(&32u32.to_le_bytes());
        blosc.extend_from_slice(&[0; 16]);
        let mut bits = u64::from(claimed).to_be_bytes().to_vec();
        bits.extend_from_slice(&8192u32.to_be_bytes());
        let pipeline = Pipeline::from_filters(&list, 4).unwrap();
        prop_assert!(pipeline.decode(&blosc, 4096).is_err());
        prop_assert!(pipeline.decode(&bits, 4096).is_err());
    }
}
