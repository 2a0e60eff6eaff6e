//! Dataset values: `GET/PUT/POST /datasets/{id}/value` and `GET /datasets/{id}/query`.
//!
//! A request is turned into a [`Selection`] (hyperslab `select`, body `start/stop/step`, or points),
//! checked in full (bounds, body length, value shape and types) before any chunk is read or written,
//! then served by the chunk engine. Bodies and responses are JSON (`{"value": ...}`) or
//! `application/octet-stream` (packed little-endian C-order elements). Parameters come from the query
//! string or a JSON body as HSDS 1.0.2 reads them ([`params`]); queries are in [`query`].

use serde_json::{json, Value};

use super::dataset::{authorize_dataset, load_dataset, DatasetDoc};
use super::{Ctx, DomainDoc};
use crate::auth::Action;
use crate::chunk::engine::{self, Merge};
use crate::error::{ApiError, ApiResult};
use crate::model::elements::{field_indices, field_ranges, project};
use crate::model::layout::ChunkSource;
use crate::model::selection::Selection;
use crate::model::shape::{MaxDim, Shape};
use crate::model::types::Datatype;
use crate::model::value::{
    bytes_to_json_with, decode_base64, json_to_bytes, validate_bytes, JsonOpts, MAX_VALUE_BYTES,
};
use crate::model::{ObjId, ObjKind};
use crate::request::Response;

mod early;
mod params;
pub mod query;
mod regionref;
mod stream;

use params::Params;
pub use query::get_query;
use regionref::{put_region_selection, region_selection, regionref_param};

/// Largest raw binary response served: Lambda's 6 MB synchronous limit after hex encoding (× 2) of the
/// direct-invoke contract, with room for headers.
pub const MAX_BINARY_RESPONSE: u64 = 2_900_000;
/// Largest selection answered as JSON, in raw bytes (JSON text is several times larger than the data).
pub const MAX_JSON_RESPONSE_RAW: u64 = 1_000_000;

/// `GET /datasets/{id}/value`: `select`, `fields=a:b`, `query` (+`Limit`), `reduce_dim`, `ignore_nan`;
/// binary with `Accept: application/octet-stream`. JSON answers carry `"status": 200`, as HSDS's do.
pub async fn get_value(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let p = Params::query_string(ctx.req);
    // A warm instance asks about the chunks it has cached while it reads the domain and the dataset.
    let (authorized, listed) = tokio::join!(authorize_dataset(ctx, Action::Read, id), early::revalidate(ctx, id, &p));
    let (dom, mut ds) = authorized?;
    ctx.svc.layouts.remember(&ds.chunks);
    ds.chunks.listed = listed;
    if ds.shape.is_null() {
        return Err(ApiError::bad_request("Null space datasets can not be used as target for GET value"));
    }
    let sel = match regionref_param(&p) {
        Some(path) => {
            if p.query()?.is_some() {
                return Err(ApiError::bad_request("regionref cannot be combined with query"));
            }
            match region_selection(ctx, &dom, &ds, path).await? {
                Some((sel, _)) => sel,
                None => return Ok(Response::empty(204)),
            }
        }
        None => selection(&ds, &p)?,
    };
    let fields = Fields::new(&ds, p.fields()?)?;
    if !ctx.req.wants_binary() && fields.sub.as_ref().is_some_and(Datatype::is_vlen) {
        return Err(ApiError::bad_input_500(
            "a JSON read of variable-length fields of a compound fails in HSDS 1.0.2 (500); read them as binary \
             (Accept: application/octet-stream) or without fields",
        ));
    }
    let limit = p.limit()?;
    if let Some(q) = p.query()? {
        return query::get_values(ctx, &dom, &ds, &q, &sel, &fields, limit).await;
    }
    read_response(ctx, &dom, &ds, &sel, &fields, true).await
}

/// `POST /datasets/{id}/value`: a binary uint64 point list, or a JSON body with `points`, or a selection
/// (`select`, `start`/`stop`/`step`); `fields` in the body or the query string.
pub async fn post_value(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let (dom, ds) = authorize_dataset(ctx, Action::Read, id).await?;
    match ds.shape {
        Shape::Null => return Err(ApiError::bad_request("POST value not supported for datasets with NULL shape")),
        Shape::Scalar => return Err(ApiError::bad_request("POST value not supported for datasets with SCALAR shape")),
        Shape::Simple { .. } => {}
    }
    if ctx.req.body.is_empty() {
        return Err(ApiError::bad_request("POST Value with no body"));
    }
    let p = Params::with_body(ctx)?;
    let fields = Fields::new(&ds, p.fields()?)?;
    let sel = if ctx.req.body_is_binary() {
        Selection::points_from_bytes(&ctx.req.body, &ds.extent)?
    } else {
        let points = p.body_value("points");
        if points.is_some() && p.is_select() {
            return Err(ApiError::bad_request("Unexpected points and select key in request body"));
        }
        let sel = selection(&ds, &p)?;
        match points {
            Some(v @ Value::Array(_)) => Selection::points_from_json(v, &ds.extent)?,
            Some(_) => return Err(ApiError::bad_request("POST Value expected list of points")),
            None if p.is_select() => sel,
            None => return Err(ApiError::bad_request("Expected points or select key in request body")),
        }
    };
    read_response(ctx, &dom, &ds, &sel, &fields, false).await
}

/// `PUT /datasets/{id}/value`: binary body over `select`, or JSON `{value | value_base64, [points | select |
/// start,stop,step]}`; `fields` (the data holds only those fields), `element_count` broadcast, `append=n`
/// (+`append_dim`) to extend then write, `query` (+`Limit`) with a `{field: value}` body to update the
/// matching elements — each from the body or the query string. Answers 200 `{}` (a query update answers
/// the matching coordinates).
pub async fn put_value(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let (dom, ds) = authorize_dataset(ctx, Action::Update, id).await?;
    if ctx.req.body.is_empty() {
        return Err(ApiError::bad_request("PUT Value with no body"));
    }
    if ds.shape.is_null() {
        return Err(ApiError::bad_request("Null space datasets can not be used as target for PUT value"));
    }
    if ds.dtype.has_vlen_of_vlen() {
        // HSDS 1.0.2 refuses a binary body (400) and fails on a JSON one (500).
        let status = if ctx.req.body_is_binary() { 400 } else { 500 };
        return Err(ApiError::bad_input(
            status,
            "variable-length sequences of variable-length data can't be written (HSDS 1.0.2 can neither write nor \
             read them)",
        ));
    }
    let p = Params::with_body(ctx)?;
    let fields = Fields::new(&ds, p.fields()?)?;
    let append = append_rows(&ds, &p)?;
    let points = p.body_value("points").map(|v| Selection::points_from_json(v, &ds.extent)).transpose()?;
    if points.is_some() && append.is_some() {
        return Err(ApiError::bad_request("points not valid with append update"));
    }
    let sel = match regionref_param(&p) {
        Some(path) => put_region_selection(ctx, &dom, &ds, &p, path, append.is_some(), points.is_some()).await?,
        None => selection(&ds, &p)?,
    };
    let query = p.query()?;
    let query = match query {
        Some(_) if append.is_some() => {
            return Err(ApiError::bad_request("Query string can not be used with append parameter"))
        }
        Some(q) => Some(query::parse(&ds, &q)?),
        None => None,
    };
    let count = p.element_count()?;
    if let Some(q) = query {
        return query::update(ctx, &dom, &ds, &q, &p, &sel).await;
    }
    if let Some((n, dim)) = append {
        return append_values(ctx, &ds, &p, &fields, count, n, dim).await;
    }
    let sel = points.unwrap_or(sel);
    let data = request_data(ctx, &ds, &p, &fields, &sel, count)?;
    engine::write_merged(ctx.store(), &ctx.bucket, &ds.chunks, &sel, &data, &fields.merge()?).await?;
    Ok(Response::json(200, &json!({})))
}

/// The selection of a request (`_getSelect`): the whole dataset unless one is named; a scalar dataset is
/// always its one element, whatever `select` says (as HSDS).
fn selection(ds: &DatasetDoc, p: &Params<'_>) -> ApiResult<Selection> {
    let text = p.select_text()?;
    match (&ds.shape, text) {
        (Shape::Null, _) => Err(ApiError::bad_request("a null-space dataset holds no values")),
        (Shape::Scalar, _) | (_, None) => Ok(Selection::all(&ds.extent)),
        (Shape::Simple { .. }, Some(s)) => Ok(Selection::parse(&s, &ds.extent)?),
    }
}

/// `_getAppendRows`: the rows to append and the dimension, checked against the dataset (400 for a scalar,
/// a selection, no maxdims, a bad dimension; 409 past maxdims).
fn append_rows(ds: &DatasetDoc, p: &Params<'_>) -> ApiResult<Option<(u64, usize)>> {
    let Some(n) = p.append()? else { return Ok(None) };
    let Shape::Simple { dims, maxdims } = &ds.shape else {
        return Err(ApiError::bad_request("append can't be used in scalar or null space datasets"));
    };
    if p.is_select() {
        return Err(ApiError::bad_request("select query parameter can not be used with append"));
    }
    let Some(maxdims) = maxdims else {
        return Err(ApiError::bad_request("Dataset shape must be extensible for packet updates"));
    };
    let dim = p.append_dim()?;
    let dim = usize::try_from(dim)
        .ok()
        .filter(|d| *d < dims.len())
        .ok_or_else(|| ApiError::bad_request("invalid append_dim"))?;
    if let MaxDim::Fixed(m) = maxdims[dim] {
        if dims[dim].saturating_add(n) > m {
            return Err(ApiError::conflict(format!("unable to append {n} rows to dimension {dim}: maxdims is {m}")));
        }
    }
    Ok(Some((n, dim)))
}

/// The packed data of a write request over `sel`: the binary body, or the JSON body's `value_base64` or
/// `value`, broadcast by `element_count`, checked to hold exactly the selected elements.
fn request_data(
    ctx: &Ctx<'_>,
    ds: &DatasetDoc,
    p: &Params<'_>,
    fields: &Fields,
    sel: &Selection,
    count: Option<u64>,
) -> ApiResult<Vec<u8>> {
    let dt = fields.dtype(ds);
    let n = sel.count()?;
    if n == 0 {
        return Err(ApiError::bad_request("Selection is empty"));
    }
    let bc = broadcast_shape(sel, count)?;
    let data = if ctx.req.body_is_binary() {
        ctx.req.body.to_vec()
    } else if let Some(b64) = p.body_value("value_base64") {
        let s = b64.as_str().ok_or_else(|| ApiError::bad_request("value_base64 must be a string"))?;
        decode_base64(s).map_err(|e| ApiError::bad_request(format!("value_base64: {e}")))?
    } else {
        let v = p
            .body_value("value")
            .ok_or_else(|| ApiError::bad_request("request has no value or value_base64 key in body"))?;
        values_to_bytes(&dt, v, sel, bc.as_deref(), ds.shape.is_scalar())?
    };
    let data = match &bc {
        None => data,
        Some(shape) => broadcast(ctx, data, n, shape.iter().product(), &dt)?,
    };
    validate_bytes(&dt, n, &data).map_err(|e| {
        // HSDS 1.0.2 checks the length of fixed-size data (400) but fails on malformed variable-length data (500).
        let status = if dt.item_size().is_some() { 400 } else { 500 };
        ApiError::bad_input(status, format!("the request data does not hold the {n} selected element(s): {e}"))
    })?;
    Ok(data)
}

/// `append=n` along `dim`: checks the data for the n new rows, extends the dataset (a compare-and-swap on
/// its JSON; 409 past maxdims), then writes the rows.
async fn append_values(
    ctx: &Ctx<'_>,
    ds: &DatasetDoc,
    p: &Params<'_>,
    fields: &Fields,
    count: Option<u64>,
    n: u64,
    dim: usize,
) -> ApiResult<Response> {
    if let Some(d) = (0..ds.extent.len()).find(|&d| d != dim && ds.extent[d] == 0) {
        return Err(ApiError::bad_request(format!(
            "zero-extent datashape in dimension {d} must be extended before appending values"
        )));
    }
    let (old, new) = super::dataset::extend_plan(ds, n, dim)?;
    let sel = rows_between(&old, &new, dim)?;
    let data = request_data(ctx, ds, p, fields, &sel, count)?;
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
pub struct Fields {
    /// Field indices, in request order; `None` means whole elements.
    idx: Option<Vec<usize>>,
    /// The sub-compound of those fields.
    sub: Option<Datatype>,
    /// Byte ranges of the fields (fixed-size compounds only).
    ranges: Option<Vec<(usize, usize, usize)>>,
}

impl Fields {
    /// The projection named by `fields` (`a:b`), whole elements when `None`; 400 for unknown fields.
    fn new(ds: &DatasetDoc, fields: Option<String>) -> ApiResult<Fields> {
        let Some(f) = fields else { return Ok(Fields { idx: None, sub: None, ranges: None }) };
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
            // HSDS 1.0.2 fails on it (500).
            (Some(_), None) => {
                Err(ApiError::bad_input_500("writing single fields of variable-length compounds is not supported"))
            }
        }
    }
}

/// `getBroadcastShape`: with `element_count=k` below the selection's element count, the shape the data
/// has — `[1]`, or the trailing dims of the selection whose product is k; 400 when there is none.
fn broadcast_shape(sel: &Selection, count: Option<u64>) -> ApiResult<Option<Vec<u64>>> {
    let Some(k) = count else { return Ok(None) };
    let shape = sel.shape();
    let n: u64 = shape.iter().product();
    if k == n {
        return Ok(None);
    }
    if k == 1 {
        return Ok(Some(vec![1]));
    }
    (1..shape.len()).map(|i| shape[i..].to_vec()).rev().find(|t| t.iter().product::<u64>() == k).map(Some).ok_or_else(
        || ApiError::bad_request(format!("element_count {k} not compatible with selection shape: {shape:?}")),
    )
}

/// Repeats `k` packed elements over `n` selected elements (k divides n, from [`broadcast_shape`]).
fn broadcast(ctx: &Ctx<'_>, data: Vec<u8>, n: u64, k: u64, dt: &Datatype) -> ApiResult<Vec<u8>> {
    validate_bytes(dt, k, &data).map_err(|e| {
        ApiError::bad_request(format!("the request data does not hold the {k} element(s) of element_count: {e}"))
    })?;
    // Refuse before allocating: element_count=1 over a 10^12-element selection must not try to build 1 TB.
    // The limit is HSDS's max_request_size (as HSDS applies it to broadcast writes), at most MAX_VALUE_BYTES.
    let limit = ctx.svc.config.max_request_size.min(MAX_VALUE_BYTES);
    let total = (data.len() as u64).checked_mul(n / k).filter(|b| *b <= limit);
    if total.is_none() {
        return Err(ApiError::too_large(format!(
            "broadcasting {k} element(s) over {n} selected elements exceeds the {limit}-byte limit of one \
             request; write a smaller selection at a time"
        )));
    }
    Ok(data.repeat((n / k) as usize))
}

/// The `hrefs` of a value or query answer: self, root, home, owner (HSDS's `get_hrefs`).
fn hrefs(ctx: &Ctx<'_>, ds: &DatasetDoc, part: &str) -> Value {
    json!([
        ctx.rel("self", &format!("/datasets/{}/{part}", ds.id)),
        ctx.rel("root", &format!("/groups/{}", ds.id.root())),
        ctx.rel("home", "/"),
        ctx.rel("owner", &format!("/datasets/{}", ds.id))
    ])
}

/// Reads the selection and answers it as binary or JSON, refusing oversized answers before reading.
/// `get`: answer as HSDS's GET does — the JSON carries `"status": 200` and `reduce_dim` applies (its POST
/// does neither).
async fn read_response(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    sel: &Selection,
    fields: &Fields,
    get: bool,
) -> ApiResult<Response> {
    if crate::stream::streaming() {
        return stream::streamed_read(ctx, dom, ds, sel, fields, get).await;
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
    let shape = if get && ctx.req.flag("reduce_dim") { sel.reduced_shape() } else { sel.shape() };
    let dims = if ds.shape.is_scalar() { Vec::new() } else { shape };
    let value = bytes_to_json_with(&fields.dtype(ds), &dims, &data, json_opts(ctx))?;
    let mut body = json!({"value": value, "hrefs": hrefs(ctx, ds, "value")});
    if get {
        body["status"] = json!(200);
    }
    Ok(Response::json(200, &body))
}

/// Reads `sel` of `ds`; an `H5D_CHUNKED_REF_INDIRECT` dataset through its chunk table, which must be a
/// dataset of the same domain (400 otherwise, 404 when it is gone).
pub(super) async fn read_selection(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    sel: &Selection,
) -> ApiResult<Vec<u8>> {
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

/// Packs a JSON value for the selection (nested lists matching its shape, a flat list, or for a scalar
/// dataset a bare element or a one-element list) into C-order element bytes. With a broadcast shape
/// (`element_count`), the value has that shape.
fn values_to_bytes(
    dt: &Datatype,
    v: &Value,
    sel: &Selection,
    broadcast: Option<&[u64]>,
    scalar: bool,
) -> ApiResult<Vec<u8>> {
    // A projection on one field (`fields=a`) takes that field's bare values as well as one-item lists.
    if let Datatype::Compound { fields } = dt {
        if let [only] = fields.as_slice() {
            if let Ok(b) = values_to_bytes(&only.dtype, v, sel, broadcast, scalar) {
                return Ok(b);
            }
        }
    }
    let dims: Vec<u64> = match broadcast {
        Some(shape) => shape.to_vec(),
        None if scalar => match json_to_bytes(dt, &[], v) {
            Ok(b) => return Ok(b),
            Err(_) => vec![1],
        },
        None => sel.shape(),
    };
    Ok(json_to_bytes(dt, &dims, v)?)
}
