//! Committed datatypes: `GET/POST /datatypes`, `GET/DELETE /datatypes/{id}`.

use super::create::{self, create_items, created_response, parse_create_item};
use super::object;
use super::Ctx;
use crate::auth::Action;
use crate::error::{ApiError, ApiResult};
use crate::model::types::normalize_type_json;
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
        let mut obj = parse_create_item(ctx, &dom, ObjKind::Datatype, item).await?;
        obj.fields.remove("creationProperties"); // HSDS's ctype DN does not store them
        obj.fields.insert("type".into(), normalize_type_json(ty)?);
        objects.push(obj);
    }
    let created = create::create_objects(ctx, &dom, objects).await?;
    Ok(created_response(created.iter().map(create::create_response).collect(), was_list))
}

/// `GET /datatypes/{id}` (or `/datatypes/?h5path=`).
pub async fn get_datatype(ctx: &Ctx<'_>, id: Option<ObjId>) -> ApiResult<Response> {
    object::get_object(ctx, ObjKind::Datatype, id).await
}

/// `DELETE /datatypes/{id}`: 200 `{}`.
pub async fn delete_datatype(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    object::delete_object(ctx, id).await
}
