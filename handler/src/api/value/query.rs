//! Queries over dataset values, as HSDS 1.0.2 runs them: `GET /datasets/{id}/value?query=` (the matching
//! elements), `GET /datasets/{id}/query?query=` (their `n × rank` coordinates) and `PUT
//! /datasets/{id}/value?query=` (set the matching elements, answer their coordinates).
//!
//! HSDS evaluates a query chunk by chunk (chunks in grid-index order, matches in C order inside a chunk)
//! and stops at `Limit`; results come back in that order, which for a dataset of rank > 1 is not the C
//! order of the whole selection. The selection is read here page by page along its first axis and the
//! matches are put in HSDS's order at the end.

use serde_json::{json, Value};

use super::params::Params;
use super::{hrefs, json_opts, read_selection, Fields, MAX_BINARY_RESPONSE, MAX_JSON_RESPONSE_RAW};
use crate::api::dataset::DatasetDoc;
use crate::api::{Ctx, DomainDoc};
use crate::chunk::engine::{self, Merge};
use crate::error::{ApiError, ApiResult};
use crate::model::elements::{field_indices, field_ranges, split_elements};
use crate::model::query::Query;
use crate::model::selection::{Axis, Selection};
use crate::model::types::Datatype;
use crate::model::value::{bytes_to_json_with, json_to_bytes};
use crate::request::Response;

/// Raw bytes of the selection read per page while scanning.
const QUERY_PAGE_BYTES: u64 = 8 << 20;

/// Elements matched by a query, in HSDS's order: their dataset coordinates and packed (whole) elements.
#[derive(Default)]
struct Found {
    coords: Vec<Vec<u64>>,
    rows: Vec<Vec<u8>>,
}

/// Parses `query` against the dataset type (400 when malformed or naming a field the type lacks).
pub fn parse(ds: &DatasetDoc, query: &str) -> ApiResult<Query> {
    Query::parse(query, &ds.dtype).map_err(|e| ApiError::bad_request(format!("query: {query} is not valid: {e}")))
}

/// Scans `sel` of `ds` and returns the elements matching `q`, up to `limit` (0: all).
async fn run(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    q: &Query,
    sel: &Selection,
    limit: usize,
) -> ApiResult<Found> {
    if ds.shape.is_scalar() {
        // HSDS 1.0.2 fails on it (500) on `GET /query` and in query updates; see [`scalar_values`].
        return Err(ApiError::bad_input_500("query is not supported for scalar datasets"));
    }
    // A single ascending range is already in HSDS's order: the scan may stop at the limit.
    let in_order = matches!(sel.axes(), [Axis::Slice { .. }]);
    let row_bytes = (ds.dtype.item_size().unwrap_or(64) as u64).max(1) * sel.first_axis_row_count().max(1);
    let page_rows = (QUERY_PAGE_BYTES / row_bytes).max(1);
    let first_len = sel.shape().first().copied().unwrap_or(0);
    let mut found = Found::default();
    let mut at = 0;
    while at < first_len {
        let page = sel.first_axis_rows(at..at.saturating_add(page_rows));
        let n = page.count()? as usize;
        let data = read_selection(ctx, dom, ds, &page).await?;
        let rows = match ds.dtype.item_size() {
            Some(is) => data.chunks_exact(is.max(1)).map(<[u8]>::to_vec).collect(),
            None => split_elements(&ds.dtype, &data, n).map_err(|e| ApiError::internal(e.to_string()))?,
        };
        let mut coords = Vec::with_capacity(n);
        page.for_each_coord(|c| coords.push(c.to_vec()));
        for (row, coord) in rows.into_iter().zip(coords) {
            if q.matches(&row).map_err(|e| ApiError::internal(e.to_string()))? {
                found.coords.push(coord);
                found.rows.push(row);
            }
        }
        if in_order && limit > 0 && found.rows.len() >= limit {
            break;
        }
        at = at.saturating_add(page_rows);
    }
    if !in_order {
        found = hsds_order(found, &ds.chunks.grid.chunk_dims);
    }
    if limit > 0 {
        found.coords.truncate(limit);
        found.rows.truncate(limit);
    }
    Ok(found)
}

/// Puts matches in HSDS's order — by chunk grid index, then C order — once each (HSDS masks the selection,
/// so an element listed twice matches once).
fn hsds_order(found: Found, chunk_dims: &[u64]) -> Found {
    let key = |c: &[u64]| -> Vec<u64> {
        let grid = c.iter().zip(chunk_dims).map(|(&x, &d)| x / d.max(1));
        grid.chain(c.iter().copied()).collect()
    };
    let mut all: Vec<(Vec<u64>, Vec<u64>, Vec<u8>)> =
        found.coords.into_iter().zip(found.rows).map(|(c, r)| (key(&c), c, r)).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.1 == b.1);
    let (coords, rows) = all.into_iter().map(|(_, c, r)| (c, r)).unzip();
    Found { coords, rows }
}

/// 413 when an answer of `bytes` for `matched` elements is over the response-size limit of this request's
/// answer format.
fn check_size(ctx: &Ctx<'_>, bytes: u64, matched: usize) -> ApiResult<()> {
    let max = if ctx.req.wants_binary() { MAX_BINARY_RESPONSE } else { MAX_JSON_RESPONSE_RAW };
    if bytes > max {
        return Err(ApiError::too_large(format!(
            "the query matched {matched} elements ({bytes} bytes), over the {max}-byte response limit of this \
             function; use Limit or a narrower select"
        )));
    }
    Ok(())
}

/// `GET value?query=`: the matching elements (projected on `fields`), binary or `{"status", "value", "hrefs"}`.
pub async fn get_values(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    query: &str,
    sel: &Selection,
    fields: &Fields,
    limit: usize,
) -> ApiResult<Response> {
    let q = parse(ds, query)?;
    if ds.shape.is_scalar() {
        return scalar_values(ctx, dom, ds, &q, sel, fields).await;
    }
    let found = run(ctx, dom, ds, &q, sel, limit).await?;
    let n = found.rows.len();
    let data = fields.project(ds, found.rows.concat(), n)?;
    check_size(ctx, data.len() as u64, n)?;
    if ctx.req.wants_binary() {
        return Ok(Response::binary(data));
    }
    let value = bytes_to_json_with(&fields.dtype(ds), &[n as u64], &data, json_opts(ctx))?;
    Ok(Response::json(200, &json!({"status": 200, "value": value, "hrefs": hrefs(ctx, ds, "value")})))
}

/// `GET value?query=` of a scalar dataset, as HSDS 1.0.2 answers it: the element when it matches (JSON: the
/// bare value); when it does not, an empty binary answer, and 500 for JSON (HSDS fails building it).
async fn scalar_values(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    q: &Query,
    sel: &Selection,
    fields: &Fields,
) -> ApiResult<Response> {
    let data = read_selection(ctx, dom, ds, sel).await?;
    let matched = q.matches(&data).map_err(|e| ApiError::internal(e.to_string()))?;
    let data = if matched { fields.project(ds, data, 1)? } else { Vec::new() };
    if ctx.req.wants_binary() {
        return Ok(Response::binary(data));
    }
    if !matched {
        return Err(ApiError::bad_input_500("the scalar dataset's value does not match the query"));
    }
    let value = bytes_to_json_with(&fields.dtype(ds), &[], &data, json_opts(ctx))?;
    Ok(Response::json(200, &json!({"status": 200, "value": value, "hrefs": hrefs(ctx, ds, "value")})))
}

/// The coordinates of matches as HSDS's `arrayResponse` sends them: int64 `n × rank` binary, or JSON
/// `{"indices": [[...], ...], "hrefs": [...]}`.
fn indices_response(ctx: &Ctx<'_>, ds: &DatasetDoc, coords: &[Vec<u64>], part: &str) -> ApiResult<Response> {
    check_size(ctx, coords.len() as u64 * ds.extent.len() as u64 * 8, coords.len())?;
    if ctx.req.wants_binary() {
        return Ok(Response::binary(
            coords.iter().flatten().flat_map(|x| (*x as i64).to_le_bytes()).collect::<Vec<u8>>(),
        ));
    }
    Ok(Response::json(200, &json!({"indices": coords, "hrefs": hrefs(ctx, ds, part)})))
}

/// `GET /datasets/{id}/query?query=` (+ `select`, `Limit`): the coordinates of the matching elements.
pub async fn get_query(ctx: &Ctx<'_>, id: &crate::model::ObjId) -> ApiResult<Response> {
    let (dom, ds) = super::authorize_dataset(ctx, crate::auth::Action::Read, id).await?;
    if ds.shape.is_null() {
        return Err(ApiError::bad_request("Null space datasets can not be used as target for GET query"));
    }
    let p = Params::query_string(ctx.req);
    let sel = super::selection(&ds, &p)?;
    let query = p.query()?.ok_or_else(|| ApiError::bad_request("query parameter is required for GET_Query"))?;
    let q = parse(&ds, &query)?;
    let found = run(ctx, &dom, &ds, &q, &sel, p.limit()?).await?;
    indices_response(ctx, &ds, &found.coords, "query")
}

/// `PUT value?query=`: sets the matching elements (up to `Limit`) — for a compound, the fields named by
/// the body's keys (`{field: value, ...}`); otherwise the body's `value` — each chunk a compare-and-swap,
/// and answers their coordinates as [`indices_response`].
pub async fn update(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    q: &Query,
    p: &Params<'_>,
    sel: &Selection,
) -> ApiResult<Response> {
    if q.has_where() {
        return Err(ApiError::bad_request("a query update can't use a where clause"));
    }
    let body = p.body.as_ref().ok_or_else(|| ApiError::bad_request("a query update needs a JSON body"))?;
    let (one, merge) = match &ds.dtype {
        Datatype::Compound { .. } => {
            if body.is_empty() {
                return Err(ApiError::bad_request("expected a JSON object of field values for the query update"));
            }
            let names: Vec<&str> = body.keys().map(String::as_str).collect();
            let idx = field_indices(&ds.dtype, &names)?;
            let sub = ds.dtype.sub_compound(&names)?;
            let ranges = field_ranges(&ds.dtype, &idx)
                .ok_or_else(|| ApiError::new(501, "query updates of variable-length compounds are not supported"))?;
            let values: Vec<Value> = body.values().cloned().collect();
            let one = json_to_bytes(&sub, &[], &Value::Array(values))?;
            let merge = Merge::Fields { sub_size: one.len(), ranges };
            (one, merge)
        }
        dt => {
            let v = body.get("value").ok_or_else(|| ApiError::bad_request("a query update needs a value"))?;
            (json_to_bytes(dt, &[], v)?, Merge::Whole)
        }
    };
    let found = run(ctx, dom, ds, q, sel, p.limit()?).await?;
    if !found.coords.is_empty() {
        let points = Selection::points(found.coords.clone(), &ds.extent)?;
        let data = one.repeat(found.coords.len());
        engine::write_merged(ctx.store(), &ctx.bucket, &ds.chunks, &points, &data, &merge).await?;
    }
    indices_response(ctx, ds, &found.coords, "value")
}
