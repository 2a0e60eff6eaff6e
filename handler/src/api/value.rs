//! Dataset values: `GET/PUT/POST /datasets/{id}/value`.
//!
//! A request is turned into a [`Selection`] (hyperslab `select`, body `start/stop/step`, or points),
//! checked in full (bounds, body length, value shape and types) before any chunk is read or written,
//! then served by the chunk engine. Bodies and responses are JSON (`{"value": ...}`) or
//! `application/octet-stream` (packed little-endian C-order elements).

use base64::Engine as _;
use serde_json::{json, Value};

use super::dataset::{load_dataset, DatasetDoc};
use super::Ctx;
use crate::auth::Action;
use crate::chunk::engine;
use crate::error::{ApiError, ApiResult};
use crate::model::selection::Selection;
use crate::model::shape::Shape;
use crate::model::types::{ByteOrder, Datatype, StrLength};
use crate::model::value::MAX_VALUE_BYTES;
use crate::model::ObjId;
use crate::request::Response;

/// Largest raw binary response served: Lambda's 6 MB synchronous limit after hex encoding (× 2) of the
/// direct-invoke contract, with room for headers.
pub const MAX_BINARY_RESPONSE: u64 = 2_900_000;
/// Largest selection answered as JSON, in raw bytes (JSON text is several times larger than the data).
pub const MAX_JSON_RESPONSE_RAW: u64 = 1_000_000;

/// `GET /datasets/{id}/value`: `select`, `fields` (not yet), `reduce_dim`; binary with `Accept: application/octet-stream`.
pub async fn get_value(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let dom = ctx.authorize(Action::Read).await?;
    let ds = load_dataset(ctx, &dom, id).await?;
    unsupported_params(ctx)?;
    let sel = match ctx.req.get_param("select") {
        Some(s) => parse_select(&ds, s)?,
        None => whole(&ds)?,
    };
    read_response(ctx, &ds, &sel).await
}

/// `POST /datasets/{id}/value`: a binary uint64 point list, or JSON `{"points"}` / `{"select"}` / `start,stop,step`.
pub async fn post_value(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let dom = ctx.authorize(Action::Read).await?;
    let ds = load_dataset(ctx, &dom, id).await?;
    unsupported_params(ctx)?;
    if !matches!(ds.shape, Shape::Simple { .. }) {
        return Err(ApiError::bad_request("POST value is not allowed for scalar or null-space datasets"));
    }
    let sel = if ctx.req.body_is_binary() {
        Selection::points_from_bytes(&ctx.req.body, &ds.extent)?
    } else {
        let body = ctx.body_object()?;
        body_selection(ctx, &ds, &body)?.unwrap_or(whole(&ds)?)
    };
    read_response(ctx, &ds, &sel).await
}

/// `PUT /datasets/{id}/value`: binary body over `select`, or JSON `{value | value_base64, [points | select |
/// start,stop,step]}`; `element_count` broadcast; answers exactly 200 `{}`.
pub async fn put_value(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let dom = ctx.authorize(Action::Update).await?;
    let ds = load_dataset(ctx, &dom, id).await?;
    unsupported_params(ctx)?;
    if ds.shape.is_null() {
        return Err(ApiError::bad_request("a null-space dataset holds no values"));
    }
    let is = ds.item_size()?;
    let (sel, data) = if ctx.req.body_is_binary() {
        let sel = match ctx.req.get_param("select") {
            Some(s) => parse_select(&ds, s)?,
            None => whole(&ds)?,
        };
        (sel, ctx.req.body.to_vec())
    } else {
        let body = ctx.body_object()?;
        let sel = match body_selection(ctx, &ds, &body)? {
            Some(s) => s,
            None => match ctx.req.get_param("select") {
                Some(s) => parse_select(&ds, s)?,
                None => whole(&ds)?,
            },
        };
        let data = if let Some(b64) = body.get("value_base64") {
            let s = b64.as_str().ok_or_else(|| ApiError::bad_request("value_base64 must be a string"))?;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| ApiError::bad_request(format!("value_base64 is not valid base64: {e}")))?
        } else {
            let v = body.get("value").ok_or_else(|| ApiError::bad_request("the body has no value or value_base64"))?;
            values_to_bytes(&ds.dtype, v, &sel, element_count(ctx)?, ds.shape.is_scalar())?
        };
        (sel, data)
    };
    let data = broadcast(ctx, data, &sel, is)?;
    let want = value_bytes(&sel, is, write_limit(ctx))?;
    if data.len() != want {
        return Err(ApiError::bad_request(format!(
            "the request holds {} bytes of data but the selection needs {want}",
            data.len()
        )));
    }
    engine::write(ctx.store(), &ctx.bucket, &ds.chunks, &sel, &data).await?;
    Ok(Response::json(200, &json!({})))
}

/// Rejects parameters this handler does not implement yet, rather than silently ignoring them.
fn unsupported_params(ctx: &Ctx<'_>) -> ApiResult<()> {
    for p in ["query", "fields", "append"] {
        if ctx.req.get_param(p).is_some() {
            return Err(ApiError::new(501, format!("the {p} parameter is not supported yet")));
        }
    }
    Ok(())
}

fn whole(ds: &DatasetDoc) -> ApiResult<Selection> {
    if ds.shape.is_null() {
        return Err(ApiError::bad_request("a null-space dataset holds no values"));
    }
    Ok(Selection::all(&ds.extent))
}

fn parse_select(ds: &DatasetDoc, s: &str) -> ApiResult<Selection> {
    if ds.shape.is_scalar() {
        return Err(ApiError::bad_request("select is not allowed for a scalar dataset"));
    }
    Ok(Selection::parse(s, &ds.extent)?)
}

fn int_list(v: &Value, what: &str) -> ApiResult<Vec<i64>> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| vec![n]),
        Value::Array(a) => a.iter().map(Value::as_i64).collect(),
        _ => None,
    }
    .ok_or_else(|| ApiError::bad_request(format!("{what} must be an integer or a list of integers")))
}

/// The selection named by a JSON body: `points`, `select`, or `start`/`stop`/`step`; `None` when none.
fn body_selection(
    ctx: &Ctx<'_>,
    ds: &DatasetDoc,
    body: &serde_json::Map<String, Value>,
) -> ApiResult<Option<Selection>> {
    if let Some(p) = body.get("points") {
        if body.contains_key("select") || ctx.req.get_param("select").is_some() {
            return Err(ApiError::bad_request("points and select can't be combined"));
        }
        return Ok(Some(Selection::points_from_json(p, &ds.extent)?));
    }
    if let Some(s) = body.get("select") {
        if ctx.req.get_param("select").is_some() {
            return Err(ApiError::bad_request("give select either as a parameter or in the body, not both"));
        }
        let s = s.as_str().ok_or_else(|| ApiError::bad_request("select must be a string"))?;
        return Ok(Some(parse_select(ds, s)?));
    }
    if ["start", "stop", "step"].iter().any(|k| body.contains_key(*k)) {
        let get = |k: &str| body.get(k).map(|v| int_list(v, k)).transpose();
        return Ok(Some(Selection::from_bounds(get("start")?, get("stop")?, get("step")?, &ds.extent)?));
    }
    Ok(None)
}

/// The `element_count` parameter, if given.
fn element_count(ctx: &Ctx<'_>) -> ApiResult<Option<usize>> {
    ctx.req
        .get_param("element_count")
        .map(|k| k.parse().map_err(|_| ApiError::bad_request("element_count must be a positive integer")))
        .transpose()
}

/// The most bytes one write may carry after `element_count` broadcasting: HSDS's `max_request_size`, and never
/// more than [`MAX_VALUE_BYTES`].
fn write_limit(ctx: &Ctx<'_>) -> u64 {
    ctx.svc.config.max_request_size.min(MAX_VALUE_BYTES)
}

/// Bytes of data a write over `sel` takes (`count × item size`), or 413 past `limit`, before anything of that
/// size is allocated.
fn value_bytes(sel: &Selection, is: usize, limit: u64) -> ApiResult<usize> {
    let n = sel.count()?;
    n.checked_mul(is as u64).filter(|b| *b <= limit).map(|b| b as usize).ok_or_else(|| {
        ApiError::too_large(format!(
            "writing {n} elements of {is} bytes exceeds the {limit}-byte limit of one request; \
             write a smaller selection at a time"
        ))
    })
}

/// `element_count=k`: the body holds k elements repeated over the selection (k = 1 or the trailing dims).
fn broadcast(ctx: &Ctx<'_>, data: Vec<u8>, sel: &Selection, is: usize) -> ApiResult<Vec<u8>> {
    let Some(k) = element_count(ctx)? else { return Ok(data) };
    value_bytes(sel, is, write_limit(ctx))?;
    let n = sel.count()? as usize;
    if k == 0 || n % k != 0 || data.len() != k * is {
        return Err(ApiError::bad_request(format!(
            "element_count {k} does not broadcast over a selection of {n} elements with {} bytes of data",
            data.len()
        )));
    }
    Ok(data.repeat(n / k))
}

/// Reads the selection and answers it as binary or JSON, refusing oversized answers before reading.
async fn read_response(ctx: &Ctx<'_>, ds: &DatasetDoc, sel: &Selection) -> ApiResult<Response> {
    let is = ds.item_size()? as u64;
    let bytes = sel.count()?.checked_mul(is).ok_or_else(|| ApiError::too_large("selection too large"))?;
    let binary = ctx.req.wants_binary();
    let limit = if binary { MAX_BINARY_RESPONSE } else { MAX_JSON_RESPONSE_RAW };
    if bytes > limit {
        let row = sel.first_axis_row_count().max(1) * is;
        return Err(ApiError::too_large(format!(
            "the selection is {bytes} bytes, over the {limit}-byte response limit of this function; \
             read at most {} rows along the first dimension per request",
            (limit / row).max(1)
        )));
    }
    let data = engine::read(ctx.store(), &ctx.bucket, &ds.chunks, sel).await?;
    if binary {
        return Ok(Response::binary(data));
    }
    let shape = if ctx.req.flag("reduce_dim") { sel.reduced_shape() } else { sel.shape() };
    let value = if ds.shape.is_scalar() {
        bytes_to_value(&ds.dtype, &data, ctx.req.flag("ignore_nan"))?
    } else {
        nest(&ds.dtype, &data, &shape, is as usize, ctx.req.flag("ignore_nan"))?
    };
    let hrefs = json!([
        ctx.rel("self", &format!("/datasets/{}/value", ds.id)),
        ctx.rel("root", &format!("/groups/{}", ds.id.root())),
        ctx.rel("home", "/"),
        ctx.rel("owner", &format!("/datasets/{}", ds.id))
    ]);
    Ok(Response::json(200, &json!({"value": value, "hrefs": hrefs})))
}

/// Nested JSON lists of `shape` from packed elements.
fn nest(dt: &Datatype, data: &[u8], shape: &[u64], is: usize, ignore_nan: bool) -> ApiResult<Value> {
    if shape.is_empty() {
        return bytes_to_value(dt, &data[..is], ignore_nan);
    }
    let inner: usize = shape[1..].iter().product::<u64>() as usize * is;
    (0..shape[0] as usize)
        .map(|i| nest(dt, &data[i * inner..(i + 1) * inner], &shape[1..], is, ignore_nan))
        .collect::<ApiResult<Vec<_>>>()
        .map(Value::Array)
}

/// Packs a JSON value (nested lists matching the selection shape, or a scalar for scalar datasets) into
/// C-order element bytes. A flat list of the right length is accepted too.
fn values_to_bytes(
    dt: &Datatype,
    v: &Value,
    sel: &Selection,
    count: Option<usize>,
    scalar: bool,
) -> ApiResult<Vec<u8>> {
    let is = dt.item_size().ok_or_else(vlen_unsupported)?;
    let n = match count {
        Some(k) => k,
        None => value_bytes(sel, is, MAX_VALUE_BYTES)? / is.max(1),
    };
    // Reserve no more than the body can plausibly fill: a huge selection with a one-element body must fail
    // on its length, not on allocating the whole selection first.
    let mut out = Vec::with_capacity(n.saturating_mul(is).min(1 << 20));
    if scalar && !v.is_array() {
        value_to_bytes(dt, v, &mut out)?;
        return Ok(out);
    }
    let shape = sel.shape();
    flatten(dt, v, &shape, &mut out)?;
    if Some(out.len()) != n.checked_mul(is) {
        return Err(ApiError::bad_request(format!(
            "the value holds {} elements but the selection has {n}",
            out.len() / is.max(1)
        )));
    }
    Ok(out)
}

fn flatten(dt: &Datatype, v: &Value, shape: &[u64], out: &mut Vec<u8>) -> ApiResult<()> {
    let elementary = match dt {
        Datatype::Compound { .. } | Datatype::Array { .. } => shape.is_empty(),
        _ => !v.is_array(),
    };
    if elementary {
        return value_to_bytes(dt, v, out);
    }
    let list = v.as_array().ok_or_else(|| ApiError::bad_request(format!("expected a list of values, got {v}")))?;
    let rest = if shape.is_empty() { shape } else { &shape[1..] };
    for item in list {
        flatten(dt, item, rest, out)?;
    }
    Ok(())
}

fn vlen_unsupported() -> ApiError {
    ApiError::new(501, "values of variable-length types are not supported yet")
}

fn mismatch(dt: &Datatype, v: &Value) -> ApiError {
    ApiError::bad_request(format!("value {v} does not match the dataset type {}", dt.class()))
}

/// Packs one JSON element of type `dt`.
pub(crate) fn value_to_bytes(dt: &Datatype, v: &Value, out: &mut Vec<u8>) -> ApiResult<()> {
    match dt {
        Datatype::Integer { size, signed, order } => {
            let raw: i128 = v
                .as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from))
                .or_else(|| v.as_bool().map(i128::from))
                .ok_or_else(|| mismatch(dt, v))?;
            let bits = *size as u32 * 8;
            let (lo, hi) =
                if *signed { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) } else { (0, (1i128 << bits) - 1) };
            if raw < lo || raw > hi {
                return Err(ApiError::bad_request(format!("value {raw} is out of range for a {size}-byte integer")));
            }
            let le = raw.to_le_bytes();
            push_ordered(&le[..*size], *order, out);
        }
        Datatype::Float { size, order } => {
            let f = match v {
                Value::Number(n) => n.as_f64().ok_or_else(|| mismatch(dt, v))?,
                Value::String(s) => match s.to_ascii_lowercase().as_str() {
                    "nan" => f64::NAN,
                    "inf" | "infinity" => f64::INFINITY,
                    "-inf" | "-infinity" => f64::NEG_INFINITY,
                    _ => return Err(mismatch(dt, v)),
                },
                _ => return Err(mismatch(dt, v)),
            };
            match size {
                4 => push_ordered(&(f as f32).to_le_bytes(), *order, out),
                8 => push_ordered(&f.to_le_bytes(), *order, out),
                _ => return Err(ApiError::new(501, "JSON values of 16-bit floats are not supported yet; send binary")),
            }
        }
        Datatype::String { length: StrLength::Fixed(n), .. } => {
            let s = v.as_str().ok_or_else(|| mismatch(dt, v))?.as_bytes();
            if s.len() > *n {
                return Err(ApiError::bad_request(format!("string of {} bytes does not fit in {n}", s.len())));
            }
            out.extend_from_slice(s);
            out.resize(out.len() + n - s.len(), 0);
        }
        Datatype::Compound { fields } => {
            let items: Vec<&Value> = match v {
                Value::Array(a) if a.len() == fields.len() => a.iter().collect(),
                Value::Object(m) => {
                    fields.iter().map(|f| m.get(&f.name).ok_or_else(|| mismatch(dt, v))).collect::<ApiResult<_>>()?
                }
                _ => return Err(mismatch(dt, v)),
            };
            for (f, item) in fields.iter().zip(items) {
                value_to_bytes(&f.dtype, item, out)?;
            }
        }
        Datatype::Array { dims, base } => {
            let n: usize = dims.iter().product();
            let start = out.len();
            flatten(base, v, &dims.iter().map(|&d| d as u64).collect::<Vec<_>>(), out)?;
            let is = base.item_size().ok_or_else(vlen_unsupported)?;
            if out.len() - start != n * is {
                return Err(mismatch(dt, v));
            }
        }
        Datatype::Enum { base, .. } => value_to_bytes(base, v, out)?,
        Datatype::Reference { .. } | Datatype::Opaque { .. } => {
            let is = dt.item_size().ok_or_else(vlen_unsupported)?;
            let s = v.as_str().ok_or_else(|| mismatch(dt, v))?.as_bytes();
            if s.len() > is {
                return Err(mismatch(dt, v));
            }
            out.extend_from_slice(s);
            out.resize(out.len() + is - s.len(), 0);
        }
        _ => return Err(vlen_unsupported()),
    }
    Ok(())
}

fn push_ordered(le: &[u8], order: ByteOrder, out: &mut Vec<u8>) {
    match order {
        ByteOrder::Little => out.extend_from_slice(le),
        ByteOrder::Big => out.extend(le.iter().rev()),
    }
}

fn ordered(b: &[u8], order: ByteOrder) -> Vec<u8> {
    match order {
        ByteOrder::Little => b.to_vec(),
        ByteOrder::Big => b.iter().rev().copied().collect(),
    }
}

/// One element of type `dt` as JSON (NaN/Inf as `"NaN"`/`"Infinity"` strings, or null with `ignore_nan`).
pub(crate) fn bytes_to_value(dt: &Datatype, b: &[u8], ignore_nan: bool) -> ApiResult<Value> {
    Ok(match dt {
        Datatype::Integer { size, signed, order } => {
            let le = ordered(&b[..*size], *order);
            let mut buf = [0u8; 16];
            buf[..*size].copy_from_slice(&le);
            if *signed && le[*size - 1] & 0x80 != 0 {
                buf[*size..].fill(0xff);
            }
            let v = i128::from_le_bytes(buf);
            if *signed {
                json!(v as i64)
            } else {
                json!(v as u64)
            }
        }
        Datatype::Float { size, order } => {
            let le = ordered(&b[..*size], *order);
            let f = match size {
                4 => f32::from_le_bytes(le.try_into().expect("4 bytes")) as f64,
                8 => f64::from_le_bytes(le.try_into().expect("8 bytes")),
                _ => {
                    return Err(ApiError::new(
                        501,
                        "JSON values of 16-bit floats are not supported yet; ask for binary",
                    ))
                }
            };
            if f.is_finite() {
                json!(f)
            } else if ignore_nan {
                Value::Null
            } else if f.is_nan() {
                json!("NaN")
            } else if f > 0.0 {
                json!("Infinity")
            } else {
                json!("-Infinity")
            }
        }
        Datatype::String { length: StrLength::Fixed(n), .. } | Datatype::Opaque { size: n, .. } => {
            let s = &b[..*n];
            let end = s.iter().position(|&c| c == 0).unwrap_or(*n);
            json!(String::from_utf8_lossy(&s[..end]))
        }
        Datatype::Reference { .. } => {
            let is = dt.item_size().ok_or_else(vlen_unsupported)?;
            let end = b[..is].iter().position(|&c| c == 0).unwrap_or(is);
            json!(String::from_utf8_lossy(&b[..end]))
        }
        Datatype::Compound { fields } => {
            let mut off = 0;
            let mut out = Vec::new();
            for f in fields {
                let is = f.dtype.item_size().ok_or_else(vlen_unsupported)?;
                out.push(bytes_to_value(&f.dtype, &b[off..off + is], ignore_nan)?);
                off += is;
            }
            Value::Array(out)
        }
        Datatype::Array { dims, base } => {
            let is = base.item_size().ok_or_else(vlen_unsupported)?;
            nest(base, b, &dims.iter().map(|&d| d as u64).collect::<Vec<_>>(), is, ignore_nan)?
        }
        Datatype::Enum { base, .. } => bytes_to_value(base, b, ignore_nan)?,
        _ => return Err(vlen_unsupported()),
    })
}
