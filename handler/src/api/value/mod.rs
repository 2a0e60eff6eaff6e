//! Dataset values: `GET/PUT/POST /datasets/{id}/value`.
//!
//! A request is turned into a [`Selection`] (hyperslab `select`, body `start/stop/step`, or points),
//! checked in full (bounds, body length, value shape and types) before any chunk is read or written,
//! then served by the chunk engine. Bodies and responses are JSON (`{"value": ...}`) or
//! `application/octet-stream` (packed little-endian C-order elements).

use serde_json::{json, Value};

use super::dataset::{authorize_dataset, load_dataset, DatasetDoc};
use super::{Ctx, DomainDoc};
use crate::auth::Action;
use crate::chunk::engine::{self, Merge};
use crate::error::{ApiError, ApiResult};
use crate::model::elements::{field_indices, field_ranges, project, split_elements};
use crate::model::layout::ChunkSource;
use crate::model::query::Query;
use crate::model::selection::Selection;
use crate::model::shape::Shape;
use crate::model::types::Datatype;
use crate::model::value::{
    bytes_to_json_with, decode_base64, json_to_bytes, validate_bytes, JsonOpts, MAX_VALUE_BYTES,
};
use crate::model::{ObjId, ObjKind};
use crate::request::Response;

mod stream;

/// Largest raw binary response served: Lambda's 6 MB synchronous limit after hex encoding (× 2) of the
/// direct-invoke contract, with room for headers.
pub const MAX_BINARY_RESPONSE: u64 = 2_900_000;
/// Largest selection answered as JSON, in raw bytes (JSON text is several times larger than the data).
pub const MAX_JSON_RESPONSE_RAW: u64 = 1_000_000;

/// Rows of a query scanned per engine read, at most (bounded further by bytes, see [`QUERY_PAGE_BYTES`]).
const QUERY_PAGE_BYTES: u64 = 8 << 20;

/// `GET /datasets/{id}/value`: `select`, `fields=a:b`, `query` (+`Limit`), `reduce_dim`, `ignore_nan`;
/// binary with `Accept: application/octet-stream`.
pub async fn get_value(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let (dom, ds) = authorize_dataset(ctx, Action::Read, id).await?;
    let fields = Fields::from_request(ctx, &ds)?;
    let sel = match ctx.req.get_param("select") {
        Some(s) => parse_select(&ds, s)?,
        None => whole(&ds)?,
    };
    if let Some(q) = ctx.req.get_param("query") {
        let found = run_query(ctx, &dom, &ds, q, &sel).await?;
        return query_response(ctx, &ds, &fields, found);
    }
    read_response(ctx, &dom, &ds, &sel, &fields).await
}

/// `POST /datasets/{id}/value`: a binary uint64 point list, or JSON `{"points"}` / `{"select"}` / `start,stop,step`.
pub async fn post_value(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let (dom, ds) = authorize_dataset(ctx, Action::Read, id).await?;
    let fields = Fields::from_request(ctx, &ds)?;
    if !matches!(ds.shape, Shape::Simple { .. }) {
        return Err(ApiError::bad_request("POST value is not allowed for scalar or null-space datasets"));
    }
    let sel = if ctx.req.body_is_binary() {
        Selection::points_from_bytes(&ctx.req.body, &ds.extent)?
    } else {
        let body = ctx.body_object()?;
        body_selection(ctx, &ds, &body)?.unwrap_or(whole(&ds)?)
    };
    read_response(ctx, &dom, &ds, &sel, &fields).await
}

/// `PUT /datasets/{id}/value`: binary body over `select`, or JSON `{value | value_base64, [points | select |
/// start,stop,step]}`; `fields=a:b` (the data holds only those fields), `element_count` broadcast,
/// `append=n` (+`append_dim`) to extend then write, `query` (+`Limit`) with a `{field: value}` body to update
/// the matching rows. Answers exactly 200 `{}` (a query update answers the matching indices and rows).
pub async fn put_value(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let (dom, ds) = authorize_dataset(ctx, Action::Update, id).await?;
    if ds.shape.is_null() {
        return Err(ApiError::bad_request("a null-space dataset holds no values"));
    }
    let fields = Fields::from_request(ctx, &ds)?;
    if let Some(q) = ctx.req.get_param("query") {
        return query_update(ctx, &dom, &ds, q).await;
    }
    if let Some(n) = ctx.req.get_param("append") {
        return append(ctx, &ds, n, &fields).await;
    }
    let (sel, data) = request_data(ctx, &ds, &fields, None)?;
    engine::write_merged(ctx.store(), &ctx.bucket, &ds.chunks, &sel, &data, &fields.merge()?).await?;
    Ok(Response::json(200, &json!({})))
}

/// The selection and packed data of a write request. With `append_extent`, the selection is built against
/// that (future) extent and no selection may be given.
fn request_data(
    ctx: &Ctx<'_>,
    ds: &DatasetDoc,
    fields: &Fields,
    append_sel: Option<Selection>,
) -> ApiResult<(Selection, Vec<u8>)> {
    let dt = fields.dtype(ds);
    let (sel, data) = if ctx.req.body_is_binary() {
        let sel = match (append_sel, ctx.req.get_param("select")) {
            (Some(s), None) => s,
            (Some(_), Some(_)) => return Err(ApiError::bad_request("append can't be combined with select")),
            (None, Some(s)) => parse_select(ds, s)?,
            (None, None) => whole(ds)?,
        };
        (sel, ctx.req.body.to_vec())
    } else {
        let body = ctx.body_object()?;
        let sel = match (append_sel, body_selection(ctx, ds, &body)?) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request("append can't be combined with select, points or start/stop"))
            }
            (Some(s), None) | (None, Some(s)) => s,
            (None, None) => match ctx.req.get_param("select") {
                Some(s) => parse_select(ds, s)?,
                None => whole(ds)?,
            },
        };
        let data = if let Some(b64) = body.get("value_base64") {
            let s = b64.as_str().ok_or_else(|| ApiError::bad_request("value_base64 must be a string"))?;
            decode_base64(s).map_err(|e| ApiError::bad_request(format!("value_base64: {e}")))?
        } else {
            let v = body.get("value").ok_or_else(|| ApiError::bad_request("the body has no value or value_base64"))?;
            values_to_bytes(&dt, v, &sel, element_count(ctx)?, ds.shape.is_scalar())?
        };
        (sel, data)
    };
    let data = broadcast(ctx, data, &sel, &dt)?;
    let n = sel.count()?;
    validate_bytes(&dt, n, &data).map_err(|e| {
        ApiError::bad_request(format!("the request data does not hold the {n} selected element(s): {e}"))
    })?;
    Ok((sel, data))
}

/// `append=n` (+ `append_dim`, default 0): checks the data for the n new rows, extends the dataset (a
/// compare-and-swap on its JSON; 409 past maxdims), then writes the rows.
async fn append(ctx: &Ctx<'_>, ds: &DatasetDoc, n: &str, fields: &Fields) -> ApiResult<Response> {
    let n: u64 =
        n.parse().ok().filter(|n| *n > 0).ok_or_else(|| ApiError::bad_request("append must be a positive integer"))?;
    let dim: usize = match ctx.req.get_param("append_dim") {
        Some(d) => d.parse().map_err(|_| ApiError::bad_request("append_dim must be a dimension index"))?,
        None => 0,
    };
    if ds.shape.is_scalar() || dim >= ds.extent.len() {
        return Err(ApiError::bad_request(format!("append_dim {dim} is not a dimension of this dataset")));
    }
    if ctx.req.get_param("select").is_some() {
        return Err(ApiError::bad_request("append can't be combined with select"));
    }
    let (old, new) = super::dataset::extend_plan(ds, n, dim)?;
    let (sel, data) = request_data(ctx, ds, fields, Some(rows_between(&old, &new, dim)?))?;
    let merge = fields.merge()?;
    let (old, new) = super::dataset::extend(ctx, ds, n, dim).await?;
    // A concurrent append may have moved the rows: write where this request's extension actually is.
    let sel2 = rows_between(&old, &new, dim)?;
    if sel2.shape() != sel.shape() {
        return Err(ApiError::conflict("the dataset shape changed during the append; its new rows hold fill"));
    }
    let mut grown = ds.chunks.clone();
    grown.extent = new;
    engine::write_merged(ctx.store(), &ctx.bucket, &grown, &sel2, &data, &merge).await?;
    Ok(Response::json(200, &json!({})))
}

/// The rows `old[dim]..new[dim]` (everything along the other dims) of extent `new`.
fn rows_between(old: &[u64], new: &[u64], dim: usize) -> ApiResult<Selection> {
    let mut start = vec![0i64; old.len()];
    start[dim] = old[dim] as i64;
    let stop = new.iter().map(|&x| x as i64).collect();
    Ok(Selection::from_bounds(Some(start), Some(stop), None, new)?)
}

/// A `fields=a:b` projection of a compound dataset.
#[derive(Clone)]
struct Fields {
    /// Field indices, in request order; `None` means whole elements.
    idx: Option<Vec<usize>>,
    /// The sub-compound of those fields.
    sub: Option<Datatype>,
    /// Byte ranges of the fields (fixed-size compounds only).
    ranges: Option<Vec<(usize, usize, usize)>>,
}

impl Fields {
    fn from_request(ctx: &Ctx<'_>, ds: &DatasetDoc) -> ApiResult<Fields> {
        let Some(f) = ctx.req.get_param("fields") else { return Ok(Fields { idx: None, sub: None, ranges: None }) };
        let names: Vec<&str> = f.split(':').collect();
        let idx = field_indices(&ds.dtype, &names)?;
        let sub = ds.dtype.sub_compound(&names)?;
        let ranges = field_ranges(&ds.dtype, &idx);
        Ok(Fields { idx: Some(idx), sub: Some(sub), ranges })
    }

    /// The type of the data the request carries.
    fn dtype(&self, ds: &DatasetDoc) -> Datatype {
        self.sub.clone().unwrap_or_else(|| ds.dtype.clone())
    }

    /// Projects `n` packed dataset elements onto the fields.
    fn project(&self, ds: &DatasetDoc, data: Vec<u8>, n: usize) -> ApiResult<Vec<u8>> {
        match &self.idx {
            None => Ok(data),
            Some(idx) => Ok(project(&ds.dtype, idx, &data, n).map_err(|e| ApiError::internal(e.to_string()))?),
        }
    }

    /// How a write with these fields merges into stored elements.
    fn merge(&self) -> ApiResult<Merge> {
        match (&self.sub, &self.ranges) {
            (None, _) => Ok(Merge::Whole),
            (Some(sub), Some(ranges)) => {
                Ok(Merge::Fields { sub_size: sub.item_size().unwrap_or(0), ranges: ranges.clone() })
            }
            (Some(_), None) => {
                Err(ApiError::new(501, "writing single fields of variable-length compounds is not supported"))
            }
        }
    }
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
    if k == 0 || !n.is_multiple_of(k) || !whole {
        return Err(ApiError::bad_request(format!(
            "element_count {k} does not broadcast over a selection of {n} elements with {} bytes of data",
            data.len()
        )));
    }
    // Refuse before allocating: element_count=1 over a 10^12-element selection must not try to build 1 TB.
    // The limit is HSDS's max_request_size (as HSDS applies it to broadcast writes), at most MAX_VALUE_BYTES.
    let limit = ctx.svc.config.max_request_size.min(MAX_VALUE_BYTES);
    let total = (data.len() as u64).checked_mul((n / k) as u64).filter(|b| *b <= limit);
    if total.is_none() {
        return Err(ApiError::too_large(format!(
            "broadcasting {k} element(s) over {n} selected elements exceeds the {limit}-byte limit of one \
             request; write a smaller selection at a time"
        )));
    }
    Ok(data.repeat(n / k))
}

/// Reads the selection and answers it as binary or JSON, refusing oversized answers before reading.
async fn read_response(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    sel: &Selection,
    fields: &Fields,
) -> ApiResult<Response> {
    if crate::stream::streaming() {
        return stream::streamed_read(ctx, dom, ds, sel, fields).await;
    }
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
    let data = read_selection(ctx, dom, ds, sel).await?;
    let data = fields.project(ds, data, sel.count()? as usize)?;
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
    let value = bytes_to_json_with(&fields.dtype(ds), &dims, &data, json_opts(ctx))?;
    let hrefs = json!([
        ctx.rel("self", &format!("/datasets/{}/value", ds.id)),
        ctx.rel("root", &format!("/groups/{}", ds.id.root())),
        ctx.rel("home", "/"),
        ctx.rel("owner", &format!("/datasets/{}", ds.id))
    ]);
    // HSDS's `GET_Value` answers `{"status": 200, "value", "hrefs"}`, its `POST_Value` `{"value", "hrefs"}`
    let mut rsp = json!({"value": value, "hrefs": hrefs});
    if ctx.req.method == "GET" {
        rsp["status"] = json!(200);
    }
    Ok(Response::json(200, &rsp))
}

/// Reads `sel` of `ds`; an `H5D_CHUNKED_REF_INDIRECT` dataset through its chunk table, which must be a
/// dataset of the same domain (400 otherwise, 404 when it is gone).
async fn read_selection(ctx: &Ctx<'_>, dom: &DomainDoc, ds: &DatasetDoc, sel: &Selection) -> ApiResult<Vec<u8>> {
    let ChunkSource::ChunkedRefIndirect { chunk_table, .. } = &ds.chunks.grid.source else {
        return Ok(engine::read(ctx.store(), &ctx.bucket, &ds.chunks, sel).await?);
    };
    let table_id = ObjId::parse_kind(chunk_table, ObjKind::Dataset)
        .map_err(|e| ApiError::bad_request(format!("dataset {}: invalid chunk_table in its layout: {e}", ds.id)))?;
    let table = load_dataset(ctx, dom, &table_id).await?;
    Ok(engine::read_indirect(ctx.store(), &ctx.bucket, &ds.chunks, &table.chunks, sel).await?)
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

/// Rows matched by a query: absolute indices and the packed (whole) rows.
struct Found {
    index: Vec<u64>,
    rows: Vec<Vec<u8>>,
}

/// The `Limit` parameter (0 or absent: no limit).
fn limit_param(ctx: &Ctx<'_>) -> ApiResult<usize> {
    match ctx.req.get_param("Limit") {
        None => Ok(0),
        Some(l) => l.parse().map_err(|_| ApiError::bad_request("Limit must be a non-negative integer")),
    }
}

/// Scans `sel` (a range of a rank-1 dataset) page by page and returns the rows matching `query`, up to `Limit`.
async fn run_query(ctx: &Ctx<'_>, dom: &DomainDoc, ds: &DatasetDoc, query: &str, sel: &Selection) -> ApiResult<Found> {
    if ds.extent.len() != 1 || ds.shape.is_scalar() {
        return Err(ApiError::bad_request("query is only supported for one-dimensional datasets"));
    }
    let q = Query::parse(query, &ds.dtype)?;
    let limit = limit_param(ctx)?;
    let (start, stop, step) = match sel.axes() {
        [crate::model::selection::Axis::Slice { start, stop, step, .. }] => (*start, *stop, *step),
        _ => return Err(ApiError::bad_request("a query's select must be a range such as [100:200]")),
    };
    let row_guess = ds.dtype.item_size().unwrap_or(64) as u64;
    let chunk = ds.chunks.grid.chunk_dims[0].max(1);
    let page_rows = (QUERY_PAGE_BYTES / row_guess / chunk).max(1) * chunk * step;
    let mut found = Found { index: Vec::new(), rows: Vec::new() };
    let mut at = start;
    while at < stop {
        let end = (at + page_rows).min(stop);
        let page =
            Selection::from_bounds(Some(vec![at as i64]), Some(vec![end as i64]), Some(vec![step as i64]), &ds.extent)?;
        let n = page.count()? as usize;
        let data = read_selection(ctx, dom, ds, &page).await?;
        let rows = match ds.dtype.item_size() {
            Some(is) => data.chunks_exact(is.max(1)).map(<[u8]>::to_vec).collect(),
            None => split_elements(&ds.dtype, &data, n).map_err(|e| ApiError::internal(e.to_string()))?,
        };
        for (k, row) in rows.into_iter().enumerate() {
            if q.matches(&row).map_err(|e| ApiError::internal(e.to_string()))? {
                found.index.push(at + k as u64 * step);
                found.rows.push(row);
                if limit > 0 && found.index.len() >= limit {
                    return Ok(found);
                }
            }
        }
        // the next page starts on the stride
        at += (n as u64) * step;
    }
    Ok(found)
}

/// Query results: binary = the packed matching rows (projected on `fields`) with no index, as h5pyd 1.0
/// expects; JSON = `{"value": [rows as HSDS 1.0.2 gives them], "index": [...]}` (the index for h5pyd 0.24).
fn query_response(ctx: &Ctx<'_>, ds: &DatasetDoc, fields: &Fields, found: Found) -> ApiResult<Response> {
    let n = found.rows.len();
    let data = fields.project(ds, found.rows.concat(), n)?;
    let binary = ctx.req.wants_binary();
    let limit = if binary { MAX_BINARY_RESPONSE } else { MAX_JSON_RESPONSE_RAW };
    if data.len() as u64 > limit {
        return Err(ApiError::too_large(format!(
            "the query matched {n} rows ({} bytes), over the {limit}-byte response limit of this function; \
             use Limit or a narrower select",
            data.len()
        )));
    }
    if binary {
        return Ok(Response::binary(data));
    }
    let value = bytes_to_json_with(&fields.dtype(ds), &[n as u64], &data, json_opts(ctx))?;
    let hrefs = json!([
        ctx.rel("self", &format!("/datasets/{}/value", ds.id)),
        ctx.rel("root", &format!("/groups/{}", ds.id.root())),
        ctx.rel("home", "/"),
        ctx.rel("owner", &format!("/datasets/{}", ds.id))
    ]);
    Ok(Response::json(200, &json!({"value": value, "index": found.index, "hrefs": hrefs})))
}

/// `PUT value?query=` with a JSON `{field: value, ...}` body: sets those fields in every matching row (up to
/// `Limit`), each chunk a compare-and-swap. Answers `{"indices": [[i], ...]}` as HSDS 1.0.2, plus the
/// updated rows as `value`.
async fn query_update(ctx: &Ctx<'_>, dom: &DomainDoc, ds: &DatasetDoc, query: &str) -> ApiResult<Response> {
    if !matches!(ds.dtype, Datatype::Compound { .. }) {
        return Err(ApiError::bad_request("query updates need a compound dataset"));
    }
    if Query::parse(query, &ds.dtype)?.has_where() {
        return Err(ApiError::bad_request("a query update can't use a where clause"));
    }
    let body = ctx.body_object()?;
    if body.is_empty() {
        return Err(ApiError::bad_request("a query update body must map field names to new values"));
    }
    let names: Vec<&str> = body.keys().map(String::as_str).collect();
    let idx = field_indices(&ds.dtype, &names)?;
    let sub = ds.dtype.sub_compound(&names)?;
    let ranges = field_ranges(&ds.dtype, &idx)
        .ok_or_else(|| ApiError::new(501, "query updates of variable-length compounds are not supported"))?;
    let values: Vec<Value> = body.values().cloned().collect();
    let one = json_to_bytes(&sub, &[], &Value::Array(values))?;
    let sel = match ctx.req.get_param("select") {
        Some(s) => parse_select(ds, s)?,
        None => whole(ds)?,
    };
    let mut found = run_query(ctx, dom, ds, query, &sel).await?;
    if !found.index.is_empty() {
        let points = Selection::points(found.index.iter().map(|&i| vec![i]).collect(), &ds.extent)?;
        let merge = Merge::Fields { sub_size: one.len(), ranges: ranges.clone() };
        engine::write_merged(ctx.store(), &ctx.bucket, &ds.chunks, &points, &one.repeat(found.index.len()), &merge)
            .await?;
        for row in &mut found.rows {
            for &(eo, so, l) in &ranges {
                row[eo..eo + l].copy_from_slice(&one[so..so + l]);
            }
        }
    }
    let n = found.rows.len() as u64;
    let value = bytes_to_json_with(&ds.dtype, &[n], &found.rows.concat(), json_opts(ctx))?;
    let indices: Vec<Value> = found.index.iter().map(|i| json!([i])).collect();
    Ok(Response::json(200, &json!({"indices": indices, "value": value})))
}
