//! Resolving the `type` of a request body: predefined names, JSON types, and committed `t-...` datatype ids (which need a store lookup).

use serde_json::Value;

use super::context::{Ctx, DomainDoc};
use crate::error::{ApiError, ApiResult};
use crate::model::types::{is_committed_type_ref, normalize_type_json, Datatype};
use crate::model::{ObjId, ObjKind};

/// Returns the type JSON HSDS stores for a request's `type` value, as [`find_type`] does; 404 when a
/// committed datatype is absent.
pub async fn resolve_type(ctx: &Ctx<'_>, dom: &DomainDoc, v: &Value) -> ApiResult<Value> {
    find_type(ctx, dom, v)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{} not found", v.as_str().unwrap_or_default())))
}

/// Returns the type JSON HSDS stores for a request's `type` value: a committed datatype id becomes that
/// datatype's `type` JSON plus `"id": "t-..."` (400 when it is not in `dom`, `None` when absent); a
/// predefined name becomes `{"class","base"}`; any other type is validated and kept as sent.
pub async fn find_type(ctx: &Ctx<'_>, dom: &DomainDoc, v: &Value) -> ApiResult<Option<Value>> {
    if !is_committed_type_ref(v) {
        return Ok(Some(normalize_type_json(v)?));
    }
    let raw = v.as_str().unwrap_or_default();
    let id = ObjId::parse_kind(raw, ObjKind::Datatype)?;
    if dom.root().is_some_and(|r| !r.same_domain(&id)) {
        return Err(ApiError::bad_request(format!(
            "referenced committed datatype {raw} must belong to the same domain"
        )));
    }
    let Some((obj, _)) = ctx.find_object(dom, &id).await? else { return Ok(None) };
    let mut ty = obj
        .get("type")
        .cloned()
        .ok_or_else(|| ApiError::internal(format!("committed datatype {raw} has no type in storage")))?;
    Datatype::from_json(&ty).map_err(|e| ApiError::internal(format!("committed datatype {raw} is invalid: {e}")))?;
    if !ty.is_object() {
        ty = normalize_type_json(&ty).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    if let Value::Object(m) = &mut ty {
        m.insert("id".to_string(), Value::String(raw.to_string()));
    }
    Ok(Some(ty))
}
