//! Golden vectors generated with numpy/h5json (`arrayToBytes`, `bytesArrayToList`; see `golden.json`
//! and the generator in the module docs of this file) plus property round trips.
//!
//! Regenerate: `/tmp/probe-venv/bin/python golden_types.py > golden.json` (script in the report).

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::model::types::Datatype;

fn golden() -> Vec<Value> {
    serde_json::from_str::<Value>(include_str!("golden.json")).unwrap().as_array().unwrap().clone()
}

fn dims_of(c: &Value) -> Vec<u64> {
    c["dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect()
}

#[test]
fn json_to_bytes_matches_numpy() {
    for c in golden() {
        let dt = Datatype::from_json(&c["type"]).unwrap();
        let bytes = json_to_bytes(&dt, &dims_of(&c), &c["value"]).unwrap();
        assert_eq!(hex::encode(&bytes), c["hex"].as_str().unwrap(), "type {}", c["type"]);
    }
}

#[test]
fn bytes_to_json_matches_hsds() {
    for c in golden() {
        let dt = Datatype::from_json(&c["type"]).unwrap();
        let bytes = hex::decode(c["hex"].as_str().unwrap()).unwrap();
        let got = bytes_to_json(&dt, &dims_of(&c), &bytes).unwrap();
        let mut want = c["json"].clone();
        // HSDS quirk: an empty vlen sequence reads back as 0 (numpy's zero-initialised object); we answer [].
        if let (Datatype::Vlen { .. }, Some(list)) = (&dt, want.as_array_mut()) {
            for x in list.iter_mut().filter(|x| **x == json!(0)) {
                *x = json!([]);
            }
        }
        assert_eq!(got, want, "type {}", c["type"]);
    }
}

#[test]
fn value_forms_flat_scalar_and_wrapped() {
    let i4 = Datatype::from_json(&json!("H5T_STD_I32LE")).unwrap();
    let nested = json_to_bytes(&i4, &[2, 2], &json!([[1, 2], [3, 4]])).unwrap();
    assert_eq!(json_to_bytes(&i4, &[2, 2], &json!([1, 2, 3, 4])).unwrap(), nested);
    assert_eq!(json_to_bytes(&i4, &[], &json!(7)).unwrap(), 7i32.to_le_bytes());
    assert_eq!(json_to_bytes(&i4, &[], &json!([7])).unwrap(), 7i32.to_le_bytes());
    assert_eq!(json_to_bytes(&i4, &[1], &json!(7)).unwrap(), 7i32.to_le_bytes());
    assert_eq!(bytes_to_json(&i4, &[], &7i32.to_le_bytes()).unwrap(), json!(7));
    assert_eq!(json_to_bytes(&i4, &[0], &json!([])).unwrap(), Vec::<u8>::new());
}

#[test]
fn nan_and_inf_handling() {
    let f4 = Datatype::from_json(&json!("H5T_IEEE_F32LE")).unwrap();
    let b = json_to_bytes(&f4, &[4], &json!(["nan", "inf", "-Infinity", null])).unwrap();
    assert!(f32::from_le_bytes(b[0..4].try_into().unwrap()).is_nan());
    assert_eq!(f32::from_le_bytes(b[4..8].try_into().unwrap()), f32::INFINITY);
    assert_eq!(bytes_to_json(&f4, &[4], &b).unwrap(), json!(["NaN", "Infinity", "-Infinity", "NaN"]));
    let ign = JsonOpts { ignore_nan: true, strict: false };
    assert_eq!(bytes_to_json_with(&f4, &[4], &b, ign).unwrap(), json!([null, null, null, null]));
    let strict = JsonOpts { ignore_nan: false, strict: true };
    assert!(bytes_to_json_with(&f4, &[4], &b, strict).is_err());
}

#[test]
fn bad_values_are_rejected() {
    let i1 = Datatype::from_json(&json!("H5T_STD_U8LE")).unwrap();
    let e = |dt: &Datatype, d: &[u64], v: Value| json_to_bytes(dt, d, &v).unwrap_err().to_string();
    assert!(e(&i1, &[2], json!([1, 256])).contains("out of range"));
    assert!(e(&i1, &[2], json!([1, "x"])).contains("expected an integer"));
    assert!(e(&i1, &[3], json!([1, 2])).contains("doesn't match the shape"));
    assert!(e(&i1, &[2, 2], json!([[1, 2], [3]])).contains("doesn't match"));
    let cmp = Datatype::from_json(&json!({"class":"H5T_COMPOUND","fields":[{"name":"a","type":"H5T_STD_I8LE"},{"name":"b","type":"H5T_STD_I8LE"}]})).unwrap();
    assert!(e(&cmp, &[], json!([1])).contains("field"));
    let op = Datatype::from_json(&json!({"class":"H5T_OPAQUE","size":2})).unwrap();
    assert!(e(&op, &[], json!("!!notbase64")).contains("base64"));
    assert!(e(&op, &[], json!("AQIDBA==")).contains("longer"));
    let huge = Datatype::from_json(&json!({"class":"H5T_OPAQUE","size":1_000_000_000})).unwrap();
    assert!(matches!(json_to_bytes(&huge, &[], &json!("")), Err(ModelError::TooLarge(_))));
}

#[test]
fn malformed_bytes_are_rejected() {
    let i4 = Datatype::from_json(&json!("H5T_STD_I32LE")).unwrap();
    assert!(bytes_to_json(&i4, &[2], &[0; 7]).unwrap_err().to_string().contains("expected 8 bytes"));
    let vs =
        Datatype::from_json(&json!({"class":"H5T_STRING","charSet":"H5T_CSET_UTF8","length":"H5T_VARIABLE"})).unwrap();
    assert!(validate_bytes(&vs, 1, &[5, 0, 0, 0, b'a']).is_err());
    assert!(validate_bytes(&vs, 1, &[0xff, 0xff, 0xff, 0xff]).is_err());
    assert!(validate_bytes(&vs, 1, &[1, 0, 0, 0, b'a', 0]).is_err());
    validate_bytes(&vs, 1, &[1, 0, 0, 0, b'a']).unwrap();
    let fs = Datatype::from_json(&json!({"class":"H5T_STRING","charSet":"H5T_CSET_ASCII","length":2})).unwrap();
    let strict = JsonOpts { ignore_nan: false, strict: true };
    assert!(bytes_to_json_with(&fs, &[], &[0xff, 0xfe], strict).is_err());
}

#[test]
fn fill_values() {
    let f8 = Datatype::from_json(&json!("H5T_IEEE_F64LE")).unwrap();
    assert!(f64::from_le_bytes(fill_value_bytes(&f8, &json!("nan"), None).unwrap().try_into().unwrap()).is_nan());
    assert_eq!(fill_value_bytes(&f8, &json!(1.5), None).unwrap(), 1.5f64.to_le_bytes());
    let enc = encode_base64(&2.5f64.to_le_bytes());
    assert_eq!(fill_value_bytes(&f8, &json!(enc), Some("base64")).unwrap(), 2.5f64.to_le_bytes());
    assert!(fill_value_bytes(&f8, &json!("AAAA"), Some("base64")).is_err());
    let cmp = Datatype::from_json(&json!({"class":"H5T_COMPOUND","fields":[{"name":"a","type":"H5T_STD_I8LE"},{"name":"b","type":"H5T_STD_U16BE"}]})).unwrap();
    assert_eq!(fill_value_bytes(&cmp, &json!([1, 2]), None).unwrap(), vec![1, 0, 2]);
}

#[test]
fn f16_conversions_match_numpy_rounding() {
    // np.float16(x).view('u2') for these values
    for (x, bits) in
        [(0.1, 0x2e66u16), (65504.0, 0x7bff), (65520.0, 0x7c00), (1e-6, 0x0011), (6e-8, 0x0001), (-0.0, 0x8000)]
    {
        assert_eq!(f64_to_f16(x), bits, "{x}");
    }
    for h in [0u16, 1, 0x3c00, 0x7bff, 0x8001, 0xc000] {
        assert_eq!(f64_to_f16(f16_to_f64(h)), h);
    }
}

fn arb_type() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!("H5T_STD_I8LE")),
        Just(json!("H5T_STD_U16BE")),
        Just(json!("H5T_STD_I64LE")),
        Just(json!("H5T_IEEE_F32BE")),
        Just(json!("H5T_IEEE_F64LE")),
        Just(json!({"class":"H5T_STRING","charSet":"H5T_CSET_UTF8","length":"H5T_VARIABLE"})),
        Just(json!({"class":"H5T_STRING","charSet":"H5T_CSET_ASCII","length":6})),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(|ts| {
                let fields: Vec<Value> =
                    ts.into_iter().enumerate().map(|(i, t)| json!({"name": format!("f{i}"), "type": t})).collect();
                json!({"class":"H5T_COMPOUND","fields":fields})
            }),
            inner.prop_map(|t| json!({"class":"H5T_VLEN","base":t})),
        ]
    })
}

fn arb_value(dt: &Datatype) -> BoxedStrategy<Value> {
    match dt {
        Datatype::Integer { size: 1, signed: true, .. } => any::<i8>().prop_map(|x| json!(x)).boxed(),
        Datatype::Integer { size: 2, .. } => any::<u16>().prop_map(|x| json!(x)).boxed(),
        Datatype::Integer { .. } => any::<i64>().prop_map(|x| json!(x)).boxed(),
        Datatype::Float { size: 4, .. } => {
            any::<f32>().prop_filter("finite", |f| f.is_finite()).prop_map(|x| json!(x as f64)).boxed()
        }
        Datatype::Float { .. } => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|x| json!(x)).boxed(),
        Datatype::String { length: StrLength::Variable, .. } => ".{0,8}".prop_map(|s: String| json!(s)).boxed(),
        Datatype::String { .. } => "[a-z]{0,6}".prop_map(|s: String| json!(s)).boxed(),
        Datatype::Compound { fields } => {
            let parts: Vec<BoxedStrategy<Value>> = fields.iter().map(|f| arb_value(&f.dtype)).collect();
            parts.prop_map(Value::Array).boxed()
        }
        Datatype::Vlen { base } => prop::collection::vec(arb_value(base), 0..4).prop_map(Value::Array).boxed(),
        _ => unreachable!("not generated"),
    }
}

/// Nested lists per dims (a bare element for scalar), from a flat list in C order.
fn nest(flat: &[Value], dims: &[u64]) -> Value {
    match dims.split_first() {
        None => flat[0].clone(),
        Some((d, rest)) => {
            let step: u64 = rest.iter().product();
            Value::Array((0..*d).map(|i| nest(&flat[(i * step) as usize..], rest)).collect())
        }
    }
}

proptest! {
    #[test]
    fn json_bytes_json_round_trip((t, dims, v) in arb_type().prop_flat_map(|t| {
        let dt = Datatype::from_json(&t).unwrap();
        (Just(t), prop::collection::vec(0u64..3, 0..3)).prop_flat_map(move |(t, dims)| {
            let n: u64 = dims.iter().product();
            let vals = prop::collection::vec(arb_value(&dt), n as usize);
            (Just(t), Just(dims), vals)
        })
    })) {
        let dt = Datatype::from_json(&t).unwrap();
        let flat = nest(&v, &dims);
        let bytes = json_to_bytes(&dt, &dims, &flat).unwrap();
        validate_bytes(&dt, dims.iter().product(), &bytes).unwrap();
        let back = bytes_to_json(&dt, &dims, &bytes).unwrap();
        let again = json_to_bytes(&dt, &dims, &back).unwrap();
        prop_assert_eq!(&bytes, &again);
        if let Some(size) = dt.item_size() {
            prop_assert_eq!(bytes.len() as u64, size as u64 * dims.iter().product::<u64>());
        }
    }

    #[test]
    fn f16_round_trip_is_stable(x in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let h = f64_to_f16(x);
        prop_assert_eq!(f64_to_f16(f16_to_f64(h)), h);
    }
}
