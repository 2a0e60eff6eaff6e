//! `regionref=` on value routes (HSDS `_resolveRegionRef`): the selection a stored region reference names,
//! applied to the dataset of the URL.

use super::params::Params;
use super::read_selection;
use crate::api::dataset::{load_dataset, DatasetDoc};
use crate::api::{Ctx, DomainDoc};
use crate::error::{ApiError, ApiResult};
use crate::model::elements::split_elements;
use crate::model::region::{target_selection, SEL_FANCY};
use crate::model::selection::Selection;
use crate::model::shape::Shape;
use crate::model::value::{bytes_to_json_with, JsonOpts};
use crate::model::{ObjId, ObjKind};

/// The `regionref` parameter (query string), when given.
pub(super) fn regionref_param<'p>(p: &'p Params<'_>) -> Option<&'p str> {
    p.param("regionref").filter(|r| !r.is_empty())
}

/// HSDS `_resolveRegionRef`: the selection on `ds` of the region reference at `path` —
/// `/datasets/{id}`, `/datasets/{id}/attributes/{name}` or `/groups/{id}/attributes/{name}` — with its
/// h5json select type; `None` when that reference is null. A source with more than one element needs a
/// `select` (query string) naming exactly one. 400 for another path form, an id not of the path's kind, a
/// source that is not a region reference or has a null space, a selection of other than one element, or a
/// region that does not fit `ds` (rank, extent); 404 for a missing object or attribute.
pub(super) async fn region_selection(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    path: &str,
) -> ApiResult<Option<(Selection, u8)>> {
    let bad = || ApiError::bad_request(format!("Invalid regionref path: {path}"));
    let (kind, id, attr) = match path.strip_prefix('/').unwrap_or("").split('/').collect::<Vec<_>>().as_slice() {
        [col @ ("groups" | "datasets"), id, "attributes", name] if !id.is_empty() && !name.is_empty() => {
            (ObjKind::from_collection(col).ok_or_else(bad)?, *id, Some(*name))
        }
        ["datasets", id] if !id.is_empty() => (ObjKind::Dataset, *id, None),
        _ => return Err(bad()),
    };
    let id =
        ObjId::parse_kind(id, kind).map_err(|_| ApiError::bad_request(format!("Invalid regionref object id: {id}")))?;
    let (obj, _) = ctx.load_object(dom, &id).await?;
    let source = match attr {
        Some(name) => obj["attributes"]
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("regionref attribute not found: {name}")))?,
        None => obj,
    };
    let ty = &source["type"];
    if ty["class"] != "H5T_REFERENCE" || ty["base"] != "H5T_STD_REF_DSETREG" {
        return Err(ApiError::bad_request("regionref path does not refer to a H5T_STD_REF_DSETREG value"));
    }
    let shape = Shape::from_json(&source["shape"])
        .map_err(|e| ApiError::internal(format!("regionref source {id}: stored shape: {e}")))?;
    if shape.is_null() {
        return Err(ApiError::bad_request("regionref source can not be a null-space object"));
    }
    let dims = shape.dims();
    let one = match (&shape, ctx.req.get_param("select").filter(|s| !s.is_empty())) {
        (Shape::Scalar, _) => Selection::all(&[1]),
        (_, None) => Selection::all(dims),
        (_, Some(s)) => {
            Selection::parse(s, dims).map_err(|e| ApiError::bad_request(format!("Invalid regionref select: {e}")))?
        }
    };
    let n = one.count()?;
    if n != 1 {
        return Err(ApiError::bad_request(format!("regionref selection must resolve to exactly one element, got {n}")));
    }
    let element = match attr {
        Some(_) => {
            let (dtype, shape) = crate::api::attribute::stored_type_shape(&source)?;
            let bytes = crate::api::attribute::stored_bytes(&source, &dtype, &shape)?;
            let mut index = 0;
            let extent = if shape.is_scalar() { vec![1] } else { dims.to_vec() };
            one.for_each_coord(|c| index = c.iter().zip(&extent).fold(0, |i, (c, e)| i * e + c));
            let elements = split_elements(&dtype, &bytes, shape.num_elements()? as usize)?;
            let element =
                elements.get(index as usize).ok_or_else(|| ApiError::internal("regionref element out of range"))?;
            bytes_to_json_with(&dtype, &[], element, JsonOpts::default())?
        }
        None => {
            let src = load_dataset(ctx, dom, &id).await?;
            let data = read_selection(ctx, dom, &src, &one).await?;
            bytes_to_json_with(&src.dtype, &[], &data, JsonOpts::default())?
        }
    };
    if element.is_null() {
        return Ok(None);
    }
    Ok(Some(target_selection(&element, ds.shape.dims(), &ds.extent)?))
}

/// The selection of a PUT with `regionref` (HSDS `PUT_Value`): not with `append`, `points` or `query`; a
/// null reference is refused, and so is a selection mixing coordinate lists with slices.
pub(super) async fn put_region_selection(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    p: &Params<'_>,
    path: &str,
    append: bool,
    points: bool,
) -> ApiResult<Selection> {
    if append {
        return Err(ApiError::bad_request("regionref cannot be combined with append"));
    }
    if points {
        return Err(ApiError::bad_request("regionref cannot be combined with points"));
    }
    if p.query()?.is_some() {
        return Err(ApiError::bad_request("regionref cannot be combined with query"));
    }
    match region_selection(ctx, dom, ds, path).await? {
        None => Err(ApiError::bad_request("regionref resolved to a null region reference")),
        Some((_, SEL_FANCY)) => Err(ApiError::bad_request("regionref selection type is not supported for PUT Value")),
        Some((sel, _)) => Ok(sel),
    }
}
