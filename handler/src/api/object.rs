//! The routes every object kind shares: `GET` one object (by id or h5path), `DELETE` it, and list the
//! ids of a kind reachable from the root.

use serde_json::json;

use super::context::Tombstone;
use super::graph::{alias_paths, reachable_ids, resolve_h5path, Follow};
use super::paging::{limit_param, page};
use super::render::{object_hrefs, object_response, Include};
use super::Ctx;
use crate::auth::Action;
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjId, ObjKind};
use crate::request::Response;

/// Serves `GET /{collection}/{id}` (or `/{collection}/?h5path=`) for any kind: read check, resolve
/// the id, load, describe with `include_*`, `getalias`, hrefs. `id` `None` means "take `h5path`".
pub async fn get_object(ctx: &Ctx<'_>, kind: ObjKind, id: Option<ObjId>) -> ApiResult<Response> {
    let h5path = ctx.req.get_param("h5path");
    let (dom, id, obj) = match (id, h5path) {
        (Some(id), None) => {
            let (dom, obj) = ctx.authorize_object(Action::Read, &id).await?;
            (dom, id, obj)
        }
        (id, Some(h5path)) => {
            // HSDS: an absolute h5path starts at the root (ignoring any id in the path); a relative one
            // needs a start: the id in the path, or (datasets, datatypes) `grpid`.
            let dom = ctx.authorize(Action::Read).await?;
            let start = match id {
                _ if h5path.starts_with('/') => dom.require_root()?,
                Some(id) => id,
                None => match ctx.req.get_param("grpid").filter(|_| kind != ObjKind::Group) {
                    Some(g) => ObjId::parse_kind(g, ObjKind::Group)?,
                    None => {
                        return Err(ApiError::bad_request(format!(
                            "h5path {h5path:?} must be absolute when no parent group id is given"
                        )))
                    }
                },
            };
            ctx.check_member(&dom, &start).await?;
            // HSDS's object GETs never follow external links (a 400 when the path meets one)
            let follow = Follow { external: false, ..Follow::from_request(ctx) };
            let (dom, found) = resolve_h5path(ctx, &dom, &start, h5path, follow).await?;
            if found.kind() != kind {
                return Err(ApiError::not_found(format!(
                    "h5path {h5path} names a {}, not a {}",
                    found.kind().collection().trim_end_matches('s'),
                    kind.collection().trim_end_matches('s')
                )));
            }
            let (obj, _) = ctx.load_object(&dom, &found).await?;
            (dom, found, obj)
        }
        (None, None) => {
            return Err(ApiError::bad_request(format!("GET /{}/ needs an id or h5path", kind.collection())))
        }
    };
    let mut rsp = object_response(ctx, &dom, &obj, Include::from_request(ctx));
    if ctx.req.flag("getalias") {
        let paths = alias_paths(ctx, &dom, &id).await?;
        rsp["alias"] = json!(paths);
    }
    rsp["hrefs"] = object_hrefs(ctx, &id, &obj);
    Ok(Response::json(200, &rsp))
}

/// Serves `DELETE /{collection}/{id}`: `delete` check, membership, 404 when absent (410 when deleted
/// before); the root group is 403. A tombstone is written first, so later reads answer 410 Gone.
/// Links to the object are left as they are (HSDS does not cascade either).
pub async fn delete_object(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let dom = ctx.authorize(Action::Delete).await?;
    if dom.root().as_ref() == Some(id) {
        return Err(ApiError::forbidden("the root group can't be deleted; delete the domain instead"));
    }
    ctx.load_object(&dom, id).await?;
    ctx.mark_gone(Tombstone::Object(id)).await?;
    ctx.store().delete(&ctx.bucket, &id.s3_key()).await?;
    Ok(Response::json(200, &json!({})))
}

/// Serves `GET /groups|/datasets|/datatypes`: the ids reachable from the root, paged by `Limit`/`Marker`.
pub async fn list_objects(ctx: &Ctx<'_>, kind: ObjKind) -> ApiResult<Response> {
    let dom = ctx.authorize(Action::Read).await?;
    let root = dom.require_root()?;
    let ids = reachable_ids(ctx, &dom, kind).await?;
    let ids = page(ids, ctx.req.get_param("Marker"), limit_param(ctx)?, |s| s.as_str());
    let hrefs = json!([
        ctx.rel("self", &format!("/{}", kind.collection())),
        ctx.rel("root", &format!("/groups/{root}")),
        ctx.rel("home", "/"),
    ]);
    Ok(Response::json(200, &json!({ kind.collection(): ids, "hrefs": hrefs })))
}
