//! Committed datatypes: `GET/POST /datatypes`, `GET/DELETE /datatypes/{id}`.

use serde_json::{json, Value};

use super::object::{self, create_items, created_response, parse_create_item};
use super::Ctx;
use crate::auth::Action;
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjId, ObjKind};
use crate::request::Response;

/// `GET /datatypes`: ids of every committed type reachable from the root, sorted; `Limit`/`Marker`.
pub async fn list_datatypes(ctx: &Ctx<'_>) -> ApiResult<Response> {
    object::list_objects(ctx, ObjKind::Datatype).await
}

/// `POST /datatypes`: one type (`type`, `link{id,name}` or `h5path`) or a list with client-chosen ids.
pub async fn post_datatypes(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let dom = ctx.authorize(Action::Create).await?;
    let (items, was_list) = create_items(ctx)?;
    let mut objects = Vec::with_capacity(items.len());
    for item in &items {
        let ty = item.get("type").ok_or_else(|| ApiError::bad_request("a committed datatype needs a type"))?;
        if item.contains_key("shape") {
            return Err(ApiError::bad_request("shape is not allowed for datatype creation"));
        }
        let mut obj = parse_create_item(ctx, &dom, ObjKind::Datatype, item)?;
        obj.fields.remove("creationProperties"); // HSDS's ctype DN does not store them
        obj.fields.insert("type".into(), normalize_type(ty)?);
        objects.push(obj);
    }
    let created = object::create_objects(ctx, &dom, objects).await?;
    Ok(created_response(created.iter().map(object::create_response).collect(), was_list))
}

/// `GET /datatypes/{id}` (or `/datatypes/?h5path=`).
pub async fn get_datatype(ctx: &Ctx<'_>, id: Option<ObjId>) -> ApiResult<Response> {
    object::get_object(ctx, ObjKind::Datatype, id).await
}

/// `DELETE /datatypes/{id}`: 200 `{}`.
pub async fn delete_datatype(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    object::delete_object(ctx, id).await
}

// TODO(types): replace with model::types validation/normalisation once the types branch lands.
/// Minimal type normalisation: a predefined type name becomes `{"class", "base"}`; a JSON object
/// must at least carry a `class` string. Anything else is 400.
fn normalize_type(ty: &Value) -> ApiResult<Value> {
    match ty {
        Value::String(s) => {
            let class = if s.starts_with("H5T_STD_I") || s.starts_with("H5T_STD_U") {
                "H5T_INTEGER"
            } else if s.starts_with("H5T_IEEE_F") {
                "H5T_FLOAT"
            } else {
                return Err(ApiError::bad_request(format!("unknown predefined type {s:?}")));
            };
            let valid = matches!(&s[s.len().saturating_sub(2)..], "LE" | "BE")
                && ["8", "16", "32", "64"].iter().any(|b| s[..s.len() - 2].ends_with(b));
            if !valid {
                return Err(ApiError::bad_request(format!("unknown predefined type {s:?}")));
            }
            Ok(json!({"class": class, "base": s}))
        }
        Value::Object(m) if m.get("class").and_then(Value::as_str).is_some_and(|c| c.starts_with("H5T_")) => {
            Ok(ty.clone())
        }
        _ => Err(ApiError::bad_request("type must be a predefined type name or a JSON type with a class")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_names() {
        assert_eq!(
            normalize_type(&json!("H5T_STD_I32LE")).unwrap(),
            json!({"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"})
        );
        assert_eq!(normalize_type(&json!("H5T_IEEE_F64BE")).unwrap()["class"], "H5T_FLOAT");
        assert!(normalize_type(&json!("H5T_STD_I33LE")).is_err());
        assert!(normalize_type(&json!("nope")).is_err());
        assert!(normalize_type(&json!(5)).is_err());
    }
}
