//! Groups: `GET/POST /groups`, `GET/DELETE /groups/{id}`.

use serde_json::{json, Map, Value};

use super::create::{self, create_items, created_response, parse_create_item};
use super::link::checked_link;
use super::object;
use super::Ctx;
use crate::auth::Action;
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjId, ObjKind};
use crate::request::Response;

/// `GET /groups`: ids of every group reachable from the root (root excluded), sorted; `Limit`/`Marker`.
pub async fn list_groups(ctx: &Ctx<'_>) -> ApiResult<Response> {
    object::list_objects(ctx, ObjKind::Group).await
}

/// `POST /groups`: one group (`link{id,name}` or `h5path`+`parent_id`, `creationProperties`, `links`),
/// or a list of them with client-chosen ids (h5pyd 1.0). 201 with the new group(s).
pub async fn post_groups(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let dom = ctx.authorize(Action::Create).await?;
    let (items, was_list) = create_items(ctx)?;
    let ts = ctx.now;
    let mut objects = Vec::with_capacity(items.len());
    for item in &items {
        if item.contains_key("type") || item.contains_key("shape") {
            return Err(ApiError::bad_request("type and shape are not allowed for group creation"));
        }
        let mut obj = parse_create_item(ctx, &dom, ObjKind::Group, item).await?;
        if !obj.fields.contains_key("creationProperties") {
            obj.fields.insert("creationProperties".into(), json!({}));
        }
        if let Some(links) = item.get("links") {
            obj.fields.insert("links".into(), initial_links(ctx, &dom, links, ts).await?);
        }
        objects.push(obj);
    }
    let created = create::create_objects(ctx, &dom, objects).await?;
    Ok(created_response(created.iter().map(create::create_response).collect(), was_list))
}

/// Normalises the `links` a new group is created with.
async fn initial_links(ctx: &Ctx<'_>, dom: &super::DomainDoc, links: &Value, ts: f64) -> ApiResult<Value> {
    let m = links.as_object().ok_or_else(|| ApiError::bad_request("links must be a dict {title: link}"))?;
    let mut out = Map::new();
    for (t, l) in m {
        out.insert(t.clone(), checked_link(ctx, dom, t, l, ts).await?);
    }
    Ok(Value::Object(out))
}

/// `GET /groups/{id}` (or `/groups/?h5path=`): the group with `linkCount`, `attributeCount`, and with
/// `include_links`/`include_attrs` the `links`/`attributes` dicts keyed by title/name.
pub async fn get_group(ctx: &Ctx<'_>, id: Option<ObjId>) -> ApiResult<Response> {
    object::get_object(ctx, ObjKind::Group, id).await
}

/// `DELETE /groups/{id}`: 200 `{}`; the root group is 403. Links to it and its children are left alone.
pub async fn delete_group(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    object::delete_object(ctx, id).await
}
