//! Dataset values: `GET/PUT/POST /datasets/{id}/value`.
//!
//! A request is turned into a [`Selection`] (hyperslab `select`, body `start/stop/step`, or points),
//! checked in full (bounds, body length, value shape and types) before any chunk is read or written,
//! then served by the chunk engine. Bodies and responses are JSON (`{"value": ...}`) or
//! `application/octet-stream` (packed little-endian C-order elements).

use serde_json::{json, Value};

use super::dataset::{load_dataset, DatasetDoc};
use super::Ctx;
use crate::auth::Action;
use crate::chunk::engine;
use crate::error::{ApiError, ApiResult};
use crate::model::selection::Selection;
use crate::model::shape::Shape;
use crate::model::types::Datatype;
use crate::model::value::{bytes_to_json_with, decode_base64, json_to_bytes, validate_bytes, JsonOpts};
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
            decode_base64(s).map_err(|e| ApiError::bad_request(format!("value_base64: {e}")))?
        } else {
            let v = body.get("value").ok_or_else(|| ApiError::bad_request("the body has no value or value_base64"))?;
            values_to_bytes(&ds.dtype, v, &sel, element_count(ctx)?, ds.shape.is_scalar())?
        };
        (sel, data)
    };
    let data = broadcast(ctx, data, &sel, &ds.dtype)?;
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

/// `element_count=k`: the body holds k elements repeated over the selection (k = 1 or the trailing dims).
fn broadcast(ctx: &Ctx<'_>, data: Vec<u8>, sel: &Selection, dt: &Datatype) -> ApiResult<Vec<u8>> {
    let Some(k) = element_count(ctx)? else { return Ok(data) };
    let n = sel.count()? as usize;
    let whole = validate_bytes(dt, k as u64, &data).is_ok();
    if k == 0 || n % k != 0 || !whole {
        return Err(ApiError::bad_request(format!(
            "element_count {k} does not broadcast over a selection of {n} elements with {} bytes of data",
            data.len()
        )));
    }
    Ok(data.repeat(n / k))
}

/// Reads the selection and answers it as binary or JSON, refusing oversized answers before reading.
async fn read_response(ctx: &Ctx<'_>, ds: &DatasetDoc, sel: &Selection) -> ApiResult<Response> {
    // Variable-length elements take at least their 4-byte count; the real size is checked after reading.
    let is = ds.dtype.item_size().unwrap_or(4) as u64;
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
    if data.len() as u64 > limit {
        return Err(ApiError::too_large(format!(
            "the selection holds {} bytes of variable-length data, over the {limit}-byte response limit of \
             this function; read fewer elements per request",
            data.len()
        )));
    }
    if binary {
        return Ok(Response::binary(data));
    }
    let shape = if ctx.req.flag("reduce_dim") { sel.reduced_shape() } else { sel.shape() };
    let dims = if ds.shape.is_scalar() { Vec::new() } else { shape };
    let value = bytes_to_json_with(&ds.dtype, &dims, &data, json_opts(ctx))?;
    let hrefs = json!([
        ctx.rel("self", &format!("/datasets/{}/value", ds.id)),
        ctx.rel("root", &format!("/groups/{}", ds.id.root())),
        ctx.rel("home", "/"),
        ctx.rel("owner", &format!("/datasets/{}", ds.id))
    ]);
    Ok(Response::json(200, &json!({"value": value, "hrefs": hrefs})))
}

/// JSON options of a read request (`ignore_nan`).
fn json_opts(ctx: &Ctx<'_>) -> JsonOpts {
    JsonOpts { ignore_nan: ctx.req.flag("ignore_nan"), strict: false }
}

/// Packs a JSON value for the selection (nested lists matching its shape, a flat list, or a bare element
/// for scalar datasets) into C-order element bytes. With `element_count=k` the value holds k elements
/// (flat, or nested like the trailing dims of the selection).
fn values_to_bytes(
    dt: &Datatype,
    v: &Value,
    sel: &Selection,
    count: Option<usize>,
    scalar: bool,
) -> ApiResult<Vec<u8>> {
    let dims: Vec<u64> = match count {
        Some(k) => {
            let shape = sel.shape();
            (0..shape.len())
                .map(|i| shape[i..].to_vec())
                .find(|t| t.iter().product::<u64>() == k as u64)
                .unwrap_or_else(|| vec![k as u64])
        }
        None if scalar => Vec::new(),
        None => sel.shape(),
    };
    Ok(json_to_bytes(dt, &dims, v)?)
}
