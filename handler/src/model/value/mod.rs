//! Element values: JSON ⇄ packed bytes, exactly as HSDS/numpy lay them out (`h5json/array_util.py`).
//!
//! Packed form: C order, each element in its declared byte order; compounds field by field with no
//! padding; fixed strings NUL-padded; variable-length elements (vlen strings, `H5T_VLEN` sequences,
//! region references) as a 4-byte little-endian **byte count** followed by the bytes (UTF-8 text, or the
//! packed base values). The same bytes are used in chunk objects and `application/octet-stream` bodies.
//!
//! JSON form (`bytesArrayToList`): nested lists per dims (a bare element for scalar), compounds as lists
//! in field order, enums as integers (the TRUE/FALSE bool enum as `true`/`false`), strings and object
//! references as strings, opaque as base64 (`""` when all zero), vlen sequences as lists, region references
//! as `{"id", ...}` objects or `null` ([`super::region`]).
//!
//! Non-finite floats: HSDS answers the non-standard literals `NaN`/`Infinity` (or `null` with
//! `ignore_nan`). A `serde_json::Value` cannot hold those, so here they become the strings `"NaN"`,
//! `"Infinity"`, `"-Infinity"` (or `null` with [`JsonOpts::ignore_nan`]); inputs accept those strings,
//! `"nan"`/`"inf"`/`"-inf"` and `null` (numpy's reading of `None`) for float elements.

use base64::Engine;
use serde_json::{json, Number, Value};

use super::region::RegionRef;
use super::shape::checked_product;
use super::types::{ByteOrder, Datatype, RefKind, StrLength};
use super::ModelError;

/// Largest packed value built from one JSON request (256 MiB): bigger requests get 413 before allocating.
pub const MAX_VALUE_BYTES: u64 = 256 << 20;

/// Most elements turned into one JSON value.
pub const MAX_JSON_ELEMENTS: u64 = 1 << 22;

/// Most bytes reserved before packing a JSON value; bigger values grow as their elements are packed.
const INITIAL_CAPACITY: usize = 1 << 20;

/// Largest single variable-length element (HSDS `MAX_VLEN_ELEMENT`).
pub const MAX_VLEN_ELEMENT: usize = 1_000_000;

/// Options for [`bytes_to_json_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonOpts {
    /// Render NaN/±Inf as `null` (the `ignore_nan` request parameter).
    pub ignore_nan: bool,
    /// Fail (instead of substituting) when a value has no faithful JSON form: non-UTF-8 string bytes or
    /// non-finite floats. Used to decide whether an attribute is stored as JSON or as base64.
    pub strict: bool,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Decodes standard base64 (whitespace ignored, as Python's `decodebytes` does); a clear 400 otherwise.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, ModelError> {
    let cleaned: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    b64().decode(cleaned.as_bytes()).map_err(|e| ModelError::invalid(format!("invalid base64 data: {e}")))
}

/// Encodes bytes as standard base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    b64().encode(bytes)
}

// ---------------------------------------------------------------------------------------------------
// JSON → bytes

/// Packs a JSON value for an array of `dims` (`[]` = one scalar element) of `dtype`.
///
/// Accepts nested lists matching `dims`, a flat list of all elements, or a bare element when there is
/// exactly one (numpy's reshape rules as HSDS applies them). Errors say what did not match.
pub fn json_to_bytes(dtype: &Datatype, dims: &[u64], value: &Value) -> Result<Vec<u8>, ModelError> {
    let n = checked_product(dims)?;
    if let (Datatype::Reference { kind: RefKind::Region, .. }, Value::Object(_)) = (dtype, value) {
        // h5json fills every element with a lone region reference (numpy broadcasting)
        let mut one = Vec::new();
        encode_elem(dtype, value, &mut one)?;
        if (one.len() as u64).saturating_mul(n) > MAX_VALUE_BYTES {
            return Err(ModelError::TooLarge(format!("value exceeds the {MAX_VALUE_BYTES}-byte limit")));
        }
        return Ok(one.repeat(n as usize));
    }
    let elems = leaves(value, dims, n)?;
    // A one-item list around the element is accepted for a single element only: inside a list of several,
    // `[1, [2]]` is ragged, which numpy (HSDS) refuses.
    let encode: fn(&Datatype, &Value, &mut Vec<u8>) -> Result<(), ModelError> =
        if n == 1 { encode_top } else { encode_elem };
    if let Some(size) = dtype.item_size() {
        let total = (size as u64).checked_mul(n).filter(|t| *t <= MAX_VALUE_BYTES).ok_or_else(|| {
            ModelError::TooLarge(format!("{n} elements of {size} bytes exceed the {MAX_VALUE_BYTES}-byte value limit"))
        })?;
        // Grow as elements are packed rather than reserving `total` up front: a small body that names a huge type
        // and then fails on its first element must not have allocated the whole size first.
        let mut out = Vec::with_capacity((total as usize).min(INITIAL_CAPACITY));
        for e in elems {
            encode(dtype, e, &mut out)?;
        }
        Ok(out)
    } else {
        let mut out = Vec::new();
        for e in elems {
            encode(dtype, e, &mut out)?;
            if out.len() as u64 > MAX_VALUE_BYTES {
                return Err(ModelError::TooLarge(format!("value exceeds the {MAX_VALUE_BYTES}-byte limit")));
            }
        }
        Ok(out)
    }
}

/// Encodes one element, also accepting a one-item list around it (`[5]` for a scalar).
fn encode_top(dtype: &Datatype, v: &Value, out: &mut Vec<u8>) -> Result<(), ModelError> {
    let mark = out.len();
    match encode_elem(dtype, v, out) {
        Ok(()) => Ok(()),
        Err(e) => match v {
            Value::Array(a) if a.len() == 1 => {
                out.truncate(mark);
                encode_elem(dtype, &a[0], out).map_err(|_| e)
            }
            _ => Err(e),
        },
    }
}

fn exact<'a>(v: &'a Value, dims: &[u64], out: &mut Vec<&'a Value>) -> bool {
    match dims.split_first() {
        None => {
            out.push(v);
            true
        }
        Some((d, rest)) => match v {
            Value::Array(a) if a.len() as u64 == *d => a.iter().all(|x| exact(x, rest, out)),
            _ => false,
        },
    }
}

/// The element values of `v` for an array of `dims` holding `n` elements.
fn leaves<'a>(v: &'a Value, dims: &[u64], n: u64) -> Result<Vec<&'a Value>, ModelError> {
    let mut out = Vec::new();
    if exact(v, dims, &mut out) {
        return Ok(out);
    }
    if let Value::Array(a) = v {
        if a.len() as u64 == n {
            return Ok(a.iter().collect());
        }
    }
    if n == 1 && !v.is_array() {
        return Ok(vec![v]);
    }
    Err(ModelError::invalid(format!(
        "value doesn't match the shape {dims:?}: expected {n} element(s) as nested lists, got {}",
        describe(v)
    )))
}

fn describe(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("a list of {} item(s)", a.len()),
        Value::Object(_) => "an object".to_string(),
        other => {
            let s = other.to_string();
            if s.chars().count() > 40 {
                format!("{}...", s.chars().take(40).collect::<String>())
            } else {
                s
            }
        }
    }
}

fn put_uint(out: &mut Vec<u8>, x: u64, size: usize, order: ByteOrder) {
    let le = x.to_le_bytes();
    match order {
        ByteOrder::Little => out.extend_from_slice(&le[..size]),
        ByteOrder::Big => out.extend(le[..size].iter().rev()),
    }
}

/// An integer element from JSON: integers, booleans, decimal strings, and numbers with a fraction truncated
/// toward zero, as numpy casts them (HSDS 1.0.2 writes `[1.5, -2.7, "3"]` into an integer dataset as
/// `[1, -2, 3]`).
fn json_int(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)).or_else(|| {
            let f = n.as_f64()?;
            (f.is_finite() && f.abs() < 1.9e19).then_some(f.trunc() as i128)
        }),
        Value::Bool(b) => Some(*b as i128),
        // numpy parses decimal strings: `"7"` is 7 (`"1.5"` is not an integer)
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn encode_int(v: &Value, size: usize, signed: bool, order: ByteOrder, out: &mut Vec<u8>) -> Result<(), ModelError> {
    let i =
        json_int(v).ok_or_else(|| ModelError::invalid(format!("expected an integer value, got {}", describe(v))))?;
    let bits = size as u32 * 8;
    let (lo, hi) = if signed { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) } else { (0, (1i128 << bits) - 1) };
    if i < lo || i > hi {
        return Err(ModelError::OutOfRange(format!(
            "value {i} is out of range for a {}{bits}-bit integer",
            if signed { "signed " } else { "unsigned " }
        )));
    }
    put_uint(out, i as u64, size, order);
    Ok(())
}

fn json_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Null => Some(f64::NAN),
        Value::Bool(b) => Some(*b as u8 as f64),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "nan" => Some(f64::NAN),
            "inf" | "infinity" | "+inf" | "+infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            // numpy parses decimal strings: `"1.5"` is 1.5
            other => other.trim().parse().ok(),
        },
        _ => None,
    }
}

fn encode_float(v: &Value, size: usize, order: ByteOrder, out: &mut Vec<u8>) -> Result<(), ModelError> {
    let f = json_float(v).ok_or_else(|| ModelError::invalid(format!("expected a float value, got {}", describe(v))))?;
    let bits = match size {
        2 => f64_to_f16(f) as u64,
        4 => (f as f32).to_bits() as u64,
        _ => f.to_bits(),
    };
    put_uint(out, bits, size, order);
    Ok(())
}

fn put_vlen_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), ModelError> {
    if bytes.len() > MAX_VLEN_ELEMENT {
        return Err(ModelError::invalid(format!(
            "variable-length element of {} bytes exceeds the limit of {MAX_VLEN_ELEMENT} bytes",
            bytes.len()
        )));
    }
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn put_fixed(out: &mut Vec<u8>, bytes: &[u8], size: usize) {
    let n = bytes.len().min(size);
    out.extend_from_slice(&bytes[..n]);
    out.resize(out.len() + (size - n), 0);
}

fn encode_elem(dt: &Datatype, v: &Value, out: &mut Vec<u8>) -> Result<(), ModelError> {
    match dt {
        Datatype::Integer { size, signed, order } => encode_int(v, *size, *signed, *order, out),
        Datatype::Float { size, order } => encode_float(v, *size, *order, out),
        Datatype::Enum { base, .. } => match **base {
            Datatype::Integer { size, signed, order } => encode_int(v, size, signed, order, out),
            _ => Err(ModelError::invalid("enum base must be an integer type")),
        },
        Datatype::String { length, .. } => {
            let s = match v {
                Value::String(s) => s.as_str(),
                Value::Null => "",
                other => return Err(ModelError::invalid(format!("expected a string value, got {}", describe(other)))),
            };
            match length {
                StrLength::Fixed(n) => {
                    put_fixed(out, s.as_bytes(), *n);
                    Ok(())
                }
                StrLength::Variable => put_vlen_bytes(out, s.as_bytes()),
            }
        }
        Datatype::Reference { kind: RefKind::Object, .. } => {
            let s = match v {
                Value::String(s) => s.as_str(),
                Value::Null => "",
                other => {
                    return Err(ModelError::invalid(format!(
                        "expected an object reference string such as \"groups/g-...\", got {}",
                        describe(other)
                    )))
                }
            };
            put_fixed(out, s.as_bytes(), dt.item_size().unwrap_or(48));
            Ok(())
        }
        Datatype::Reference { kind: RefKind::Region, .. } => {
            // keeps the kind (an `InvalidAs500` stays one: HSDS's status)
            let bad = |e: ModelError| match e {
                ModelError::InvalidAs500(m) => ModelError::invalid_as_500(format!("invalid region reference: {m}")),
                e => ModelError::invalid(format!("invalid region reference: {e}")),
            };
            let Some(r) = RegionRef::from_json(v).map_err(bad)? else { return put_vlen_bytes(out, &[]) };
            // HSDS stores some references it then cannot read (an id of 37 characters, points mixed with an
            // index): refuse those now rather than store an element no read can answer.
            r.to_json().map_err(bad)?;
            put_vlen_bytes(out, &r.to_bytes())
        }
        Datatype::Opaque { size, .. } => {
            let s = v.as_str().ok_or_else(|| {
                ModelError::invalid(format!("expected a base64 string for an opaque value, got {}", describe(v)))
            })?;
            let bytes = decode_base64(s)?;
            if bytes.len() > *size {
                return Err(ModelError::invalid(format!(
                    "opaque value of {} bytes is longer than the type size {size}",
                    bytes.len()
                )));
            }
            put_fixed(out, &bytes, *size);
            Ok(())
        }
        Datatype::Compound { fields } => {
            let items = v.as_array().ok_or_else(|| {
                ModelError::invalid(format!("expected a list of {} field values, got {}", fields.len(), describe(v)))
            })?;
            if items.len() != fields.len() {
                return Err(ModelError::invalid(format!(
                    "compound value has {} item(s) but the type has {} field(s)",
                    items.len(),
                    fields.len()
                )));
            }
            for (f, item) in fields.iter().zip(items) {
                encode_elem(&f.dtype, item, out)
                    .map_err(|e| ModelError::invalid(format!("field {:?}: {e}", f.name)))?;
            }
            Ok(())
        }
        Datatype::Array { dims, base } => {
            let d: Vec<u64> = dims.iter().map(|x| *x as u64).collect();
            let n = checked_product(&d)?;
            for e in leaves(v, &d, n)? {
                encode_elem(base, e, out)?;
            }
            Ok(())
        }
        Datatype::Vlen { base } => {
            let one;
            let items: &[Value] = match v {
                Value::Array(a) => a,
                Value::Null => &[],
                other => {
                    one = [other.clone()];
                    &one
                }
            };
            let mut inner = Vec::new();
            for item in items {
                encode_elem(base, item, &mut inner)?;
            }
            put_vlen_bytes(out, &inner)
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// bytes → JSON

/// Unpacks `bytes` holding an array of `dims` (`[]` = scalar) of `dtype` into JSON, with default options
/// (non-finite floats as strings, non-UTF-8 strings decoded lossily).
pub fn bytes_to_json(dtype: &Datatype, dims: &[u64], bytes: &[u8]) -> Result<Value, ModelError> {
    bytes_to_json_with(dtype, dims, bytes, JsonOpts::default())
}

/// [`bytes_to_json`] with explicit [`JsonOpts`]. Fails when the byte count does not match exactly.
pub fn bytes_to_json_with(dtype: &Datatype, dims: &[u64], bytes: &[u8], opts: JsonOpts) -> Result<Value, ModelError> {
    let n = checked_product(dims)?;
    check_fixed_len(dtype, n, bytes.len())?;
    // A JSON value costs tens of bytes per element in memory: refuse before building millions of them
    // (e.g. a scalar attribute value broadcast to a 200-million-element shape would need ~20 GB).
    // Also count the nested lists: dims like [10^12, 0] hold no element but 10^12 empty lists.
    let mut lists = 1u64;
    let too_many_lists = dims.iter().any(|d| {
        lists = lists.saturating_mul(*d);
        lists > MAX_JSON_ELEMENTS
    });
    if n > MAX_JSON_ELEMENTS || too_many_lists || (bytes.len() as u64) > MAX_JSON_ELEMENTS * 8 {
        return Err(ModelError::TooLarge(format!(
            "{n} elements ({} bytes) are too many to answer as JSON (at most {MAX_JSON_ELEMENTS}); \
             use Accept: application/octet-stream or a smaller selection",
            bytes.len()
        )));
    }
    let mut pos = 0usize;
    let v = decode_nested(dtype, dims, bytes, &mut pos, opts)?;
    if pos != bytes.len() {
        return Err(ModelError::invalid(format!(
            "{} trailing byte(s) after {n} element(s) of the type",
            bytes.len() - pos
        )));
    }
    Ok(v)
}

fn check_fixed_len(dtype: &Datatype, n: u64, len: usize) -> Result<(), ModelError> {
    if let Some(size) = dtype.item_size() {
        let expected = (size as u64).checked_mul(n);
        if expected != Some(len as u64) {
            return Err(ModelError::invalid(format!(
                "expected {} bytes ({n} element(s) of {size} bytes) but got {len}",
                expected.map(|e| e.to_string()).unwrap_or_else(|| "too many".into())
            )));
        }
    }
    Ok(())
}

/// Checks that `bytes` hold exactly `n` elements of `dtype` (length for fixed types; the vlen prefixes
/// otherwise) without building JSON. Used for binary request bodies.
pub fn validate_bytes(dtype: &Datatype, n: u64, bytes: &[u8]) -> Result<(), ModelError> {
    check_fixed_len(dtype, n, bytes.len())?;
    if dtype.item_size().is_some() {
        return Ok(());
    }
    let mut pos = 0usize;
    for _ in 0..n {
        decode_elem(dtype, bytes, &mut pos, JsonOpts::default())?;
    }
    if pos != bytes.len() {
        return Err(ModelError::invalid(format!("{} trailing byte(s) after {n} element(s)", bytes.len() - pos)));
    }
    Ok(())
}

fn decode_nested(dt: &Datatype, dims: &[u64], b: &[u8], pos: &mut usize, o: JsonOpts) -> Result<Value, ModelError> {
    match dims.split_first() {
        None => decode_elem(dt, b, pos, o),
        Some((d, rest)) => {
            // Every element takes at least one byte, so the bytes left bound the reservation (dims may be huge).
            let mut out = Vec::with_capacity((*d).min(1 << 16).min((b.len() - *pos) as u64 + 1) as usize);
            for _ in 0..*d {
                out.push(decode_nested(dt, rest, b, pos, o)?);
            }
            Ok(Value::Array(out))
        }
    }
}

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], ModelError> {
    let end = pos.checked_add(n).filter(|e| *e <= b.len()).ok_or_else(|| {
        ModelError::invalid(format!("data ends early: needed {n} more byte(s) at offset {pos}", pos = *pos))
    })?;
    let s = &b[*pos..end];
    *pos = end;
    Ok(s)
}

fn get_uint(b: &[u8], order: ByteOrder) -> u64 {
    let mut le = [0u8; 8];
    match order {
        ByteOrder::Little => le[..b.len()].copy_from_slice(b),
        ByteOrder::Big => b.iter().rev().enumerate().for_each(|(i, x)| le[i] = *x),
    }
    u64::from_le_bytes(le)
}

fn int_value(raw: u64, size: usize, signed: bool) -> Value {
    if signed {
        let shift = 64 - size as u32 * 8;
        json!(((raw << shift) as i64) >> shift)
    } else {
        json!(raw)
    }
}

fn float_value(f: f64, o: JsonOpts) -> Result<Value, ModelError> {
    if let Some(n) = Number::from_f64(f) {
        return Ok(Value::Number(n));
    }
    if o.strict {
        return Err(ModelError::invalid("non-finite float values have no JSON representation"));
    }
    if o.ignore_nan {
        return Ok(Value::Null);
    }
    Ok(json!(if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }))
}

fn text_value(bytes: &[u8], o: JsonOpts) -> Result<Value, ModelError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(json!(s)),
        Err(e) if o.strict => Err(ModelError::invalid(format!("string bytes are not valid UTF-8: {e}"))),
        Err(_) => Ok(json!(String::from_utf8_lossy(bytes))),
    }
}

fn strip_nuls(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|x| *x != 0).map_or(0, |p| p + 1);
    &b[..end]
}

fn vlen_len(b: &[u8], pos: &mut usize) -> Result<usize, ModelError> {
    let raw = take(b, pos, 4)?;
    let n = i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
    if n < 0 || n as usize > MAX_VLEN_ELEMENT {
        return Err(ModelError::invalid(format!(
            "invalid variable-length element byte count {n} (must be 0..{MAX_VLEN_ELEMENT})"
        )));
    }
    Ok(n as usize)
}

fn decode_elem(dt: &Datatype, b: &[u8], pos: &mut usize, o: JsonOpts) -> Result<Value, ModelError> {
    match dt {
        Datatype::Integer { size, signed, order } => {
            Ok(int_value(get_uint(take(b, pos, *size)?, *order), *size, *signed))
        }
        Datatype::Float { size, order } => {
            let raw = get_uint(take(b, pos, *size)?, *order);
            let f = match size {
                2 => f16_to_f64(raw as u16),
                4 => f32::from_bits(raw as u32) as f64,
                _ => f64::from_bits(raw),
            };
            float_value(f, o)
        }
        Datatype::Enum { base, .. } => {
            let Datatype::Integer { size, signed, order } = **base else {
                return Err(ModelError::invalid("enum base must be an integer type"));
            };
            let raw = get_uint(take(b, pos, size)?, order);
            if dt.is_bool_enum() {
                Ok(json!(raw != 0))
            } else {
                Ok(int_value(raw, size, signed))
            }
        }
        Datatype::String { length: StrLength::Fixed(n), .. } => text_value(strip_nuls(take(b, pos, *n)?), o),
        Datatype::Reference { kind: RefKind::Object, .. } => {
            let n = dt.item_size().unwrap_or(48);
            text_value(strip_nuls(take(b, pos, n)?), o)
        }
        Datatype::String { length: StrLength::Variable, .. } => {
            // both charsets hold UTF-8 text, as HSDS decodes them
            let n = vlen_len(b, pos)?;
            let bytes = take(b, pos, n)?;
            text_value(bytes, o)
        }
        Datatype::Reference { kind: RefKind::Region, .. } => {
            let n = vlen_len(b, pos)?;
            match RegionRef::from_bytes(take(b, pos, n)?)? {
                None => Ok(Value::Null),
                Some(r) => r.to_json(),
            }
        }
        Datatype::Opaque { size, .. } => {
            let bytes = take(b, pos, *size)?;
            if bytes.iter().all(|x| *x == 0) {
                Ok(json!(""))
            } else {
                Ok(json!(encode_base64(bytes)))
            }
        }
        Datatype::Compound { fields } => {
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                out.push(decode_elem(&f.dtype, b, pos, o)?);
            }
            Ok(Value::Array(out))
        }
        Datatype::Array { dims, base } => {
            let d: Vec<u64> = dims.iter().map(|x| *x as u64).collect();
            decode_nested(base, &d, b, pos, o)
        }
        Datatype::Vlen { base } => {
            let n = vlen_len(b, pos)?;
            let inner = take(b, pos, n)?;
            if n == 0 {
                // As HSDS 1.0.2 answers it: an empty sequence reads as 0 (numpy's zero-initialised object).
                return Ok(json!(0));
            }
            let mut ipos = 0usize;
            let mut out = Vec::new();
            if let Some(size) = base.item_size() {
                if n % size != 0 {
                    return Err(ModelError::invalid(format!(
                        "vlen element of {n} bytes is not a multiple of the base size {size}"
                    )));
                }
            }
            while ipos < inner.len() {
                out.push(decode_elem(base, inner, &mut ipos, o)?);
            }
            Ok(Value::Array(out))
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Fill values

/// Packs a dataset fill value (`creationProperties.fillValue`) as one element of `dtype`: a JSON scalar,
/// a list for compounds/arrays, `"nan"` for floats, or — with `encoding == Some("base64")`
/// (`fillValue_encoding`) — base64 of exactly one packed element.
pub fn fill_value_bytes(dtype: &Datatype, fill: &Value, encoding: Option<&str>) -> Result<Vec<u8>, ModelError> {
    match encoding {
        None => json_to_bytes(dtype, &[], fill).map_err(|e| ModelError::invalid(format!("invalid fillValue: {e}"))),
        Some("base64") => {
            let s = fill
                .as_str()
                .ok_or_else(|| ModelError::invalid("fillValue with fillValue_encoding base64 must be a string"))?;
            let bytes = decode_base64(s).map_err(|e| ModelError::invalid(format!("invalid fillValue: {e}")))?;
            validate_bytes(dtype, 1, &bytes).map_err(|e| ModelError::invalid(format!("invalid fillValue: {e}")))?;
            Ok(bytes)
        }
        Some(other) => Err(ModelError::invalid(format!("unsupported fillValue_encoding {other:?}: only \"base64\""))),
    }
}

// ---------------------------------------------------------------------------------------------------
// IEEE half precision

/// Converts to IEEE binary16 bits with round-to-nearest-even (as numpy's `npy_double_to_half`).
pub fn f64_to_f16(x: f64) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 48) & 0x8000) as u16;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let mant = bits & 0x000f_ffff_ffff_ffff;
    if exp == 0x7ff {
        return if mant == 0 { sign | 0x7c00 } else { sign | 0x7e00 };
    }
    let e = exp - 1023 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mant | (1u64 << 52);
        let shift = (43 - e) as u32;
        let mut h = m >> shift;
        let rem = m & ((1u64 << shift) - 1);
        let halfway = 1u64 << (shift - 1);
        if rem > halfway || (rem == halfway && h & 1 == 1) {
            h += 1;
        }
        return sign | h as u16;
    }
    let mut h = ((e as u64) << 10) | (mant >> 42);
    let rem = mant & ((1u64 << 42) - 1);
    let halfway = 1u64 << 41;
    if rem > halfway || (rem == halfway && h & 1 == 1) {
        h += 1;
    }
    sign | h as u16
}

/// Converts IEEE binary16 bits to f64 (exact).
pub fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let m = (h & 0x3ff) as f64;
    match exp {
        0 => sign * m * 2f64.powi(-24),
        0x1f if m == 0.0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        _ => sign * (1.0 + m / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests;
