//! Helpers shared by the group, dataset and datatype routes: creating, loading and describing objects,
//! resolving h5paths, and walking a domain's link graph.
//!
//! Object creation is validate-then-write: every item of a request is checked (ids, parents, link titles)
//! before anything is stored; objects are created with `If-None-Match: *` and the links to them added with
//! a compare-and-swap on the parent group. If a link cannot be added after all, the objects created by
//! the request are deleted again, so a failed request leaves the store as it found it.

use std::collections::{HashMap, HashSet};

use std::future::Future;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};

use super::link::{link_out, normalize_link, same_link};
use super::{Ctx, DomainDoc};
use crate::auth::Action;
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjId, ObjKind};
use crate::request::Response;
use crate::service::now;
use crate::store::json::{create_json, get_json, update_json, Change};
use crate::store::StoreError;

/// Most objects one list-bodied `POST /groups|/datasets|/datatypes` may create (h5pyd sends up to 300).
pub const MAX_CREATE_ITEMS: usize = 1000;
/// How many store requests one route keeps in flight.
pub const CONCURRENCY: usize = 16;
/// Most objects returned by `GET /?getobjs=1` (HSDS's `domain_req_max_objects_limit`).
pub const MAX_DOMAIN_OBJS: usize = 500;
/// How far in the past a client-supplied `created` may be and still be kept (HSDS `predate_max_time`).
pub const PREDATE_MAX_TIME: f64 = 10.0;

/// Where a new object is linked: nowhere (anonymous), or under a title in a parent group.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// No link: the object is anonymous.
    Anonymous,
    /// A hard link `title` in group `parent`.
    Link {
        /// The group that gets the link.
        parent: ObjId,
        /// The link title.
        title: String,
    },
    /// A path of hard links below `parent`; the last segment links the new object. With `implicit`,
    /// missing intermediate groups are created.
    Path {
        /// Where the path starts.
        parent: ObjId,
        /// The link titles, in order (at least one).
        titles: Vec<String>,
        /// Create missing intermediate groups.
        implicit: bool,
    },
}

/// One object to create: its id, the kind-specific keys to store (`type`, `shape`, `layout`,
/// `creationProperties`, `links`, ...) and where to link it.
#[derive(Debug, Clone)]
pub struct NewObject {
    /// The new object's id (client-chosen or fresh).
    pub id: ObjId,
    /// Stored keys besides `id`, `root`, `created`, `lastModified` and `attributes`.
    pub fields: Map<String, Value>,
    /// Where the object is linked.
    pub placement: Placement,
}

/// The id, placement and `creationProperties` of one create item (a `POST /groups|/datasets|/datatypes`
/// body or one element of a list body), as HSDS's `getCreateArgs` reads them: `id` (client-chosen, must be
/// of `kind` and in the domain), `link: {id, name}`, or `h5path` with optional `parent_id`.
pub fn parse_create_item(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    kind: ObjKind,
    item: &Map<String, Value>,
) -> ApiResult<NewObject> {
    let root = dom.require_root()?;
    let id = match item.get("id") {
        None => ObjId::new_child(kind, &root),
        Some(Value::String(s)) => {
            let id = ObjId::parse_kind(s, kind)?;
            if id.is_root() || !id.same_domain(&root) {
                return Err(ApiError::bad_request(format!(
                    "id {s} is not valid for root {root}: ids must share the root's first 16 hex digits"
                )));
            }
            id
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!("id must be a string, got {}", super::context::kind_of(other))))
        }
    };
    let placement = parse_placement(ctx, dom, &root, item)?;
    let mut fields = Map::new();
    if let Some(cp) = item.get("creationProperties") {
        if !cp.is_object() {
            return Err(ApiError::bad_request("creationProperties must be a JSON object"));
        }
        fields.insert("creationProperties".into(), cp.clone());
    }
    Ok(NewObject { id, fields, placement })
}

/// Reads `link: {id, name}` or `h5path` (+ `parent_id`) from a create item.
fn parse_placement(ctx: &Ctx<'_>, dom: &DomainDoc, root: &ObjId, item: &Map<String, Value>) -> ApiResult<Placement> {
    let parent_of = |v: Option<&Value>, what: &str| -> ApiResult<ObjId> {
        match v {
            None | Some(Value::Null) => Ok(root.clone()),
            Some(Value::String(s)) => {
                let id = ObjId::parse_kind(s, ObjKind::Group)?;
                ctx.check_member(dom, &id)?;
                Ok(id)
            }
            Some(_) => Err(ApiError::bad_request(format!("{what} must be a group id string"))),
        }
    };
    if let Some(link) = item.get("link") {
        if item.contains_key("h5path") {
            return Err(ApiError::bad_request("'link' can't be used together with 'h5path'"));
        }
        let link = link.as_object().ok_or_else(|| ApiError::bad_request("link must be an object {id, name}"))?;
        let parent = parent_of(link.get("id"), "link.id")?;
        let title = match link.get("name") {
            Some(Value::String(t)) => validate_title(t)?,
            _ => return Err(ApiError::bad_request("link.name must be a string")),
        };
        return Ok(Placement::Link { parent, title });
    }
    match item.get("h5path") {
        None | Some(Value::Null) => Ok(Placement::Anonymous),
        Some(Value::String(p)) => {
            let parent = parent_of(item.get("parent_id"), "parent_id")?;
            if p.starts_with('/') && &parent != root {
                return Err(ApiError::bad_request(format!("h5path {p} must be relative when parent_id is given")));
            }
            let titles: Vec<String> = p.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
            if titles.is_empty() {
                return Err(ApiError::bad_request(format!("h5path {p:?} names no link")));
            }
            Ok(Placement::Path { parent, titles, implicit: ctx.req.flag("implicit") })
        }
        Some(_) => Err(ApiError::bad_request("h5path must be a string")),
    }
}

/// Checks a link title: non-empty, no `/` (HSDS `validateLinkName`).
pub fn validate_title(title: &str) -> ApiResult<String> {
    if title.is_empty() {
        return Err(ApiError::bad_request("link title must not be empty"));
    }
    if title.contains('/') {
        return Err(ApiError::bad_request(format!("invalid link title {title:?}: contains a slash")));
    }
    Ok(title.to_string())
}

/// The stored JSON of a new object, keys in HSDS's order: `id, root, created, lastModified, <fields>,
/// attributes` (groups: `links` before `attributes`, as `group_dn.POST_Group` writes them).
pub fn new_object_json(id: &ObjId, fields: &Map<String, Value>, ts: f64) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id.to_string()));
    m.insert("root".into(), json!(id.root().to_string()));
    m.insert("created".into(), json!(ts));
    m.insert("lastModified".into(), json!(ts));
    if id.kind() == ObjKind::Group {
        m.insert("links".into(), fields.get("links").cloned().unwrap_or_else(|| json!({})));
        m.insert("attributes".into(), json!({}));
    }
    for (k, v) in fields {
        if k != "links" {
            m.insert(k.clone(), v.clone());
        }
    }
    if id.kind() != ObjKind::Group {
        m.insert("attributes".into(), json!({}));
    }
    Value::Object(m)
}

/// The body HSDS answers a create with: `id, root, created, lastModified`, then `linkCount` (groups),
/// `type`/`shape` (datatypes, datasets) and `attributeCount`.
pub fn create_response(obj: &Value) -> Value {
    let mut m = Map::new();
    for k in ["id", "root", "created", "lastModified"] {
        m.insert(k.into(), obj[k].clone());
    }
    if let Some(links) = obj.get("links").and_then(Value::as_object) {
        m.insert("linkCount".into(), json!(links.len()));
    }
    for k in ["type", "shape"] {
        if let Some(v) = obj.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    m.insert("attributeCount".into(), json!(obj.get("attributes").and_then(Value::as_object).map_or(0, |a| a.len())));
    Value::Object(m)
}

/// Answers a create: a bare object for a single-object body, `{"objects": [...]}` for a list of several
/// (a 1-item list gets a bare object too, as HSDS does). Always 201.
pub fn created_response(mut objects: Vec<Value>, was_list: bool) -> Response {
    if objects.len() == 1 || !was_list {
        Response::json(201, &objects.swap_remove(0))
    } else {
        Response::json(201, &json!({ "objects": objects }))
    }
}

/// Parses a create body into items: a JSON object is one item; a list is up to [`MAX_CREATE_ITEMS`]
/// items (empty list or no body = one anonymous object). Returns the items and whether it was a list.
pub fn create_items(ctx: &Ctx<'_>) -> ApiResult<(Vec<Map<String, Value>>, bool)> {
    match ctx.body_json()? {
        Value::Null => Ok((vec![Map::new()], false)),
        Value::Object(m) => Ok((vec![m], false)),
        Value::Array(items) if items.is_empty() => Ok((vec![Map::new()], true)),
        Value::Array(items) => {
            if items.len() > MAX_CREATE_ITEMS {
                return Err(ApiError::too_large(format!(
                    "{} objects in one request; send at most {MAX_CREATE_ITEMS} per request",
                    items.len()
                )));
            }
            let items = items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(m) => Ok(m),
                    other => Err(ApiError::bad_request(format!(
                        "item {i} of the body list is {}, expected an object",
                        super::context::kind_of(&other)
                    ))),
                })
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((items, true))
        }
        other => Err(ApiError::bad_request(format!(
            "expected a JSON object or list body, got {}",
            super::context::kind_of(&other)
        ))),
    }
}

/// Creates `items` in `dom` (the caller has checked `create`): validates ids and placements, writes each
/// object with `If-None-Match`, then adds the links (one compare-and-swap per parent group). Returns
/// the stored JSON of each object, in request order. On any failure nothing created here is left behind.
pub async fn create_objects(ctx: &Ctx<'_>, dom: &DomainDoc, items: Vec<NewObject>) -> ApiResult<Vec<Value>> {
    let mut seen = HashSet::new();
    for it in &items {
        if !seen.insert(it.id.clone()) {
            return Err(ApiError::bad_request(format!("id {} appears twice in the request", it.id)));
        }
    }
    let links = plan_links(ctx, dom, &items).await?;
    let ts = now();
    let objects: Vec<Value> = items.iter().map(|it| new_object_json(&it.id, &it.fields, ts)).collect();
    let created: Vec<Result<ObjId, ApiError>> = collect_all(
        objects
            .iter()
            .map(|obj| async move {
                let id = ObjId::parse(obj["id"].as_str().expect("id set above")).expect("valid id");
                match create_json(ctx.store(), &ctx.bucket, &id.s3_key(), obj).await {
                    Ok(_) => Ok(id),
                    Err(StoreError::Precondition(_)) => Err(ApiError::conflict(format!("object {id} already exists"))),
                    Err(e) => Err(e.into()),
                }
            })
            .collect::<Vec<_>>(),
    )
    .await;
    let written: Vec<ObjId> = created.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    if let Some(Err(e)) = created.into_iter().find(Result::is_err) {
        delete_keys(ctx, &written).await;
        return Err(e);
    }
    if let Err(e) = add_links(ctx, links, ts).await {
        delete_keys(ctx, &written).await;
        return Err(e);
    }
    Ok(objects)
}

/// The links a create request must add, per parent group: `title → target id`.
type LinkPlan = HashMap<ObjId, Vec<(String, ObjId)>>;

/// Resolves every placement to a parent group and title, checking parents exist and titles are free.
/// Intermediate groups of an `implicit` h5path are created here (they are harmless if the request fails).
async fn plan_links(ctx: &Ctx<'_>, dom: &DomainDoc, items: &[NewObject]) -> ApiResult<LinkPlan> {
    let mut plan: LinkPlan = HashMap::new();
    for it in items {
        let (parent, title) = match &it.placement {
            Placement::Anonymous => continue,
            Placement::Link { parent, title } => (parent.clone(), title.clone()),
            Placement::Path { parent, titles, implicit } => {
                let (last, dirs) = titles.split_last().expect("at least one title");
                let mut cur = parent.clone();
                for t in dirs {
                    cur = walk_or_create(ctx, dom, &cur, t, *implicit).await?;
                }
                (cur, last.clone())
            }
        };
        let entry = plan.entry(parent).or_default();
        if entry.iter().any(|(t, _)| t == &title) {
            return Err(ApiError::bad_request(format!("link {title} is given twice in the request")));
        }
        entry.push((title, it.id.clone()));
    }
    // Check every parent exists and no title is taken before anything is written.
    for (parent, titles) in &plan {
        let (group, _) = ctx.load_object(dom, parent).await?;
        for (title, _) in titles {
            if group["links"].get(title).is_some() {
                return Err(ApiError::conflict(format!("link {title} already exists in group {parent}")));
            }
        }
    }
    Ok(plan)
}

/// Follows hard link `title` from group `cur`; when it is missing and `implicit`, creates a group there.
async fn walk_or_create(ctx: &Ctx<'_>, dom: &DomainDoc, cur: &ObjId, title: &str, implicit: bool) -> ApiResult<ObjId> {
    let (group, _) = ctx.load_object(dom, cur).await?;
    if let Some(link) = group["links"].get(title) {
        return match hard_target(link) {
            Some(id) if id.kind() == ObjKind::Group => Ok(id),
            _ => Err(ApiError::bad_request(format!("{title} is not a hard link to a group"))),
        };
    }
    if !implicit {
        return Err(ApiError::not_found(format!("group {title} does not exist (add implicit=1 to create it)")));
    }
    let id = ObjId::new_child(ObjKind::Group, &cur.root());
    let mut fields = Map::new();
    fields.insert("creationProperties".into(), json!({}));
    let obj = NewObject { id, fields, placement: Placement::Link { parent: cur.clone(), title: title.to_string() } };
    let created = Box::pin(create_objects(ctx, dom, vec![obj])).await?;
    Ok(ObjId::parse(created[0]["id"].as_str().expect("id")).expect("valid id"))
}

/// Adds the planned hard links, one compare-and-swap per parent. A title taken meanwhile is a 409.
async fn add_links(ctx: &Ctx<'_>, plan: LinkPlan, ts: f64) -> ApiResult<()> {
    run_all(
        plan.into_iter()
            .map(|(parent, titles)| async move {
                update_json(ctx.store(), &ctx.bucket, &parent.s3_key(), |g: &mut Value| {
                    let links = links_mut(g)?;
                    for (title, target) in &titles {
                        if links.contains_key(title) {
                            return Err(ApiError::conflict(format!("link {title} already exists in group {parent}")));
                        }
                        links.insert(
                            title.clone(),
                            json!({"class": "H5L_TYPE_HARD", "id": target.to_string(), "created": ts}),
                        );
                    }
                    g["lastModified"] = json!(ts);
                    Ok(Change::Write(()))
                })
                .await
            })
            .collect::<Vec<_>>(),
    )
    .await
    .map(|_: Vec<()>| ())
}

/// Runs `futs` with at most [`CONCURRENCY`] in flight; results in order; stops at the first error.
pub async fn run_all<T, F: Future<Output = ApiResult<T>>>(futs: Vec<F>) -> ApiResult<Vec<T>> {
    stream::iter(futs).buffered(CONCURRENCY).try_collect().await
}

/// Runs `futs` with at most [`CONCURRENCY`] in flight and returns every output, in order.
pub async fn collect_all<T, F: Future<Output = T>>(futs: Vec<F>) -> Vec<T> {
    stream::iter(futs).buffered(CONCURRENCY).collect().await
}

/// Best-effort removal of objects created by a failed request.
async fn delete_keys(ctx: &Ctx<'_>, ids: &[ObjId]) {
    for id in ids {
        if let Err(e) = ctx.store().delete(&ctx.bucket, &id.s3_key()).await {
            tracing::warn!("could not remove {id} after a failed create: {e}");
        }
    }
}

/// The `links` map of a group JSON, for in-place edits; 500 when the stored group has none.
pub fn links_mut(group: &mut Value) -> ApiResult<&mut Map<String, Value>> {
    if group.get("links").is_none() {
        group["links"] = json!({});
    }
    group["links"].as_object_mut().ok_or_else(|| ApiError::internal("stored group has a non-object 'links'"))
}

/// The target of a hard link, if `link` is one.
pub fn hard_target(link: &Value) -> Option<ObjId> {
    if link.get("class").and_then(Value::as_str).is_some_and(|c| c != "H5L_TYPE_HARD") {
        return None;
    }
    link.get("id").and_then(Value::as_str).and_then(|s| ObjId::parse(s).ok())
}

/// Options for describing an object in a GET response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Include {
    /// Add `links` (a dict keyed by title) for groups.
    pub links: bool,
    /// Add `attributes` (a dict keyed by name).
    pub attrs: bool,
}

impl Include {
    /// `include_links` / `include_attrs` from the query string.
    pub fn from_request(ctx: &Ctx<'_>) -> Self {
        Include { links: ctx.req.flag("include_links"), attrs: ctx.req.flag("include_attrs") }
    }
}

/// The JSON HSDS answers `GET /{groups,datatypes,datasets}/{id}` with (before `hrefs`): every stored key
/// except `links`/`attributes`, with `linkCount` (groups) and `attributeCount`, plus `links` and
/// `attributes` dicts when asked, and `domain` (and `bucket` for groups).
pub fn object_response(ctx: &Ctx<'_>, dom: &DomainDoc, obj: &Value, inc: Include) -> Value {
    let id = obj.get("id").and_then(Value::as_str).and_then(|s| ObjId::parse(s).ok());
    let kind = id.as_ref().map_or(ObjKind::Group, ObjId::kind);
    let mut m = Map::new();
    for k in ["id", "root", "created", "lastModified"] {
        if let Some(v) = obj.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    let links = obj.get("links").and_then(Value::as_object);
    let attrs = obj.get("attributes").and_then(Value::as_object);
    if kind == ObjKind::Group {
        m.insert("linkCount".into(), json!(links.map_or(0, |l| l.len())));
    }
    for (k, v) in obj.as_object().into_iter().flatten() {
        if !m.contains_key(k) && k != "links" && k != "attributes" {
            m.insert(k.clone(), v.clone());
        }
    }
    m.insert("attributeCount".into(), json!(attrs.map_or(0, |a| a.len())));
    if inc.links && kind == ObjKind::Group {
        let out: Map<String, Value> = links.into_iter().flatten().map(|(t, l)| (t.clone(), link_out(l))).collect();
        m.insert("links".into(), Value::Object(out));
    }
    if inc.attrs {
        m.insert("attributes".into(), Value::Object(attrs.cloned().unwrap_or_default()));
    }
    m.insert("domain".into(), json!(dom.path.as_str()));
    if kind == ObjKind::Group {
        m.insert("bucket".into(), json!(ctx.bucket));
    }
    Value::Object(m)
}

/// The `hrefs` of an object GET: self, (links for groups), root, home, attributes.
pub fn object_hrefs(ctx: &Ctx<'_>, id: &ObjId) -> Value {
    let this = format!("/{}/{id}", id.kind().collection());
    let mut h = vec![ctx.rel("self", &this)];
    if id.kind() == ObjKind::Group {
        h.push(ctx.rel("links", &format!("{this}/links")));
    }
    h.push(ctx.rel("root", &format!("/groups/{}", id.root())));
    h.push(ctx.rel("home", "/"));
    h.push(ctx.rel("attributes", &format!("{this}/attributes")));
    Value::Array(h)
}

/// Serves `GET /{collection}/{id}` (or `/{collection}/?h5path=`) for any kind: read check, resolve
/// the id, load, describe with `include_*`, `getalias`, hrefs. `id` `None` means "take `h5path`".
pub async fn get_object(ctx: &Ctx<'_>, kind: ObjKind, id: Option<ObjId>) -> ApiResult<Response> {
    let (dom, id, obj) = match id {
        Some(id) => {
            let (dom, obj) = ctx.authorize_object(Action::Read, &id).await?;
            (dom, id, obj)
        }
        None => {
            let dom = ctx.authorize(Action::Read).await?;
            let h5path = ctx
                .req
                .get_param("h5path")
                .ok_or_else(|| ApiError::bad_request(format!("GET /{}/ needs an id or h5path", kind.collection())))?;
            let start = start_for_h5path(ctx, &dom, h5path)?;
            let found = resolve_h5path(ctx, &dom, &start, h5path, ctx.req.flag("follow_soft_links")).await?;
            if found.kind() != kind {
                return Err(ApiError::bad_request(format!(
                    "h5path {h5path} names a {}, not a {}",
                    found.kind().collection().trim_end_matches('s'),
                    kind.collection().trim_end_matches('s')
                )));
            }
            let (obj, _) = ctx.load_object(&dom, &found).await?;
            (dom, found, obj)
        }
    };
    let mut rsp = object_response(ctx, &dom, &obj, Include::from_request(ctx));
    if ctx.req.flag("getalias") {
        let paths = alias_paths(ctx, &dom, &id).await?;
        rsp["alias"] = json!(paths);
    }
    rsp["hrefs"] = object_hrefs(ctx, &id);
    Ok(Response::json(200, &rsp))
}

/// Serves `DELETE /{collection}/{id}`: `delete` check, membership, 404 when absent; the root group is 403.
/// Links to the object are left as they are (HSDS does not cascade either).
pub async fn delete_object(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let dom = ctx.authorize(Action::Delete).await?;
    if dom.root().as_ref() == Some(id) {
        return Err(ApiError::forbidden("the root group can't be deleted; delete the domain instead"));
    }
    ctx.load_object(&dom, id).await?;
    ctx.store().delete(&ctx.bucket, &id.s3_key()).await?;
    Ok(Response::json(200, &json!({})))
}

/// Where an h5path lookup starts: the root for an absolute path, else `parent_id` (or `grpid`), else root.
pub fn start_for_h5path(ctx: &Ctx<'_>, dom: &DomainDoc, h5path: &str) -> ApiResult<ObjId> {
    let root = dom.require_root()?;
    let parent = ctx.req.get_param("parent_id").or_else(|| ctx.req.get_param("grpid")).filter(|p| !p.is_empty());
    match parent {
        Some(p) if !h5path.starts_with('/') => {
            let id = ObjId::parse_kind(p, ObjKind::Group)?;
            ctx.check_member(dom, &id)?;
            Ok(id)
        }
        _ => Ok(root),
    }
}

/// Resolves `h5path` from group `start` by following links: hard links always, soft links when
/// `follow_soft` (otherwise 400), external links never (400). 404 when a link is missing.
pub async fn resolve_h5path(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    start: &ObjId,
    h5path: &str,
    follow_soft: bool,
) -> ApiResult<ObjId> {
    let root = dom.require_root()?;
    let mut cur = if h5path.starts_with('/') { root.clone() } else { start.clone() };
    let mut pending: Vec<String> = h5path.split('/').filter(|s| !s.is_empty()).rev().map(str::to_string).collect();
    let mut soft_hops = 0;
    while let Some(title) = pending.pop() {
        if cur.kind() != ObjKind::Group {
            return Err(ApiError::not_found(format!("{h5path} not found: {cur} is not a group")));
        }
        let (group, _) = ctx.load_object(dom, &cur).await?;
        let link = group["links"]
            .get(&title)
            .ok_or_else(|| ApiError::not_found(format!("{h5path} not found: no link {title:?} in {cur}")))?;
        match link.get("class").and_then(Value::as_str).unwrap_or("H5L_TYPE_HARD") {
            "H5L_TYPE_HARD" => {
                cur = hard_target(link).ok_or_else(|| ApiError::internal(format!("link {title} has a bad id")))?;
            }
            "H5L_TYPE_SOFT" if follow_soft => {
                soft_hops += 1;
                if soft_hops > 32 {
                    return Err(ApiError::bad_request(format!("{h5path}: too many soft links (a cycle?)")));
                }
                let target = link.get("h5path").and_then(Value::as_str).unwrap_or_default();
                pending.extend(target.split('/').filter(|s| !s.is_empty()).rev().map(str::to_string));
                if target.starts_with('/') {
                    cur = root.clone();
                }
            }
            "H5L_TYPE_SOFT" => {
                return Err(ApiError::bad_request(format!(
                    "{h5path}: {title} is a soft link; add follow_soft_links=1 to follow it"
                )))
            }
            _ => return Err(ApiError::bad_request(format!("{h5path}: {title} is an external link"))),
        }
    }
    Ok(cur)
}

/// Loads every group reachable from `start` through hard links (breadth first), `start` included,
/// with their JSON. At most `limit` groups.
pub async fn crawl_groups(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    start: &ObjId,
    limit: usize,
) -> ApiResult<Vec<(ObjId, Value)>> {
    let mut out: Vec<(ObjId, Value)> = Vec::new();
    let mut seen: HashSet<ObjId> = HashSet::from([start.clone()]);
    let mut frontier = vec![start.clone()];
    while !frontier.is_empty() && out.len() < limit {
        let loaded: Vec<Option<(ObjId, Value)>> = run_all(
            frontier
                .drain(..)
                .map(|id| async move {
                    match get_json(ctx.store(), &ctx.bucket, &id.s3_key()).await {
                        Ok((v, _)) => Ok(Some((id, v))),
                        Err(StoreError::NotFound(_)) => Ok(None), // dangling hard link
                        Err(e) => Err(ApiError::from(e)),
                    }
                })
                .collect::<Vec<_>>(),
        )
        .await?;
        for (id, group) in loaded.into_iter().flatten() {
            for link in group["links"].as_object().into_iter().flatten().map(|(_, l)| l) {
                if let Some(t) = hard_target(link) {
                    if t.kind() == ObjKind::Group && t.same_domain(&id) && seen.insert(t.clone()) {
                        frontier.push(t);
                    }
                }
            }
            out.push((id, group));
        }
        let _ = dom;
    }
    out.truncate(limit);
    Ok(out)
}

/// Ids of every object of `kind` reachable from the root through hard links (root excluded), sorted.
pub async fn reachable_ids(ctx: &Ctx<'_>, dom: &DomainDoc, kind: ObjKind) -> ApiResult<Vec<String>> {
    let root = dom.require_root()?;
    let groups = crawl_groups(ctx, dom, &root, usize::MAX).await?;
    let mut ids: HashSet<String> = HashSet::new();
    for (_, g) in &groups {
        for link in g["links"].as_object().into_iter().flatten().map(|(_, l)| l) {
            if let Some(t) = hard_target(link) {
                if t.kind() == kind && t != root && t.same_domain(&root) {
                    ids.insert(t.to_string());
                }
            }
        }
    }
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    Ok(ids)
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

/// The `Limit` query parameter; 400 when it is not a non-negative integer.
pub fn limit_param(ctx: &Ctx<'_>) -> ApiResult<Option<usize>> {
    match ctx.req.get_param("Limit") {
        None | Some("") => Ok(None),
        Some(s) => s
            .trim()
            .parse::<usize>()
            .map(|n| (n > 0).then_some(n))
            .map_err(|_| ApiError::bad_request(format!("Limit must be a non-negative integer, got {s:?}"))),
    }
}

/// Pages a sorted list: items after `marker` (exclusive, by key), at most `limit`.
pub fn page<T>(items: Vec<T>, marker: Option<&str>, limit: Option<usize>, key: impl Fn(&T) -> &str) -> Vec<T> {
    let start = match marker.filter(|m| !m.is_empty()) {
        Some(m) => items.iter().position(|it| key(it) == m).map_or(items.len(), |i| i + 1),
        None => 0,
    };
    items.into_iter().skip(start).take(limit.unwrap_or(usize::MAX)).collect()
}

/// The absolute h5paths of `id` (every hard-link path from the root), for `getalias=1`.
pub async fn alias_paths(ctx: &Ctx<'_>, dom: &DomainDoc, id: &ObjId) -> ApiResult<Vec<String>> {
    let root = dom.require_root()?;
    if id == &root {
        return Ok(vec!["/".into()]);
    }
    let groups = crawl_groups(ctx, dom, &root, usize::MAX).await?;
    let by_id: HashMap<ObjId, &Value> = groups.iter().map(|(i, g)| (i.clone(), g)).collect();
    // Breadth-first from the root, recording the first path found to each group.
    let mut path_of: HashMap<ObjId, String> = HashMap::from([(root.clone(), String::new())]);
    let mut queue = std::collections::VecDeque::from([root.clone()]);
    let mut found = Vec::new();
    while let Some(g) = queue.pop_front() {
        let base = path_of[&g].clone();
        for (title, link) in by_id.get(&g).and_then(|v| v["links"].as_object()).into_iter().flatten() {
            if let Some(t) = hard_target(link) {
                let p = format!("{base}/{title}");
                if &t == id {
                    found.push(p.clone());
                }
                if t.kind() == ObjKind::Group && !path_of.contains_key(&t) {
                    path_of.insert(t.clone(), p);
                    queue.push_back(t);
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Shell-style glob match (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`) of `name` against `pattern`, as Python's
/// `fnmatch` does for `pattern=` parameters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // Returns (matched, length of the class in p including brackets).
        let mut i = 1;
        let negate = matches!(p.get(1), Some('!') | Some('^'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        while i < p.len() {
            if p[i] == ']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                matched |= p[i] <= c && c <= p[i + 2];
                i += 3;
            } else {
                matched |= p[i] == c;
                i += 1;
            }
        }
        None
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') if !n.is_empty() => match class(p, n[0]) {
                Some((ok, len)) => ok && go(&p[len..], &n[1..]),
                None => n[0] == '[' && go(&p[1..], &n[1..]),
            },
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// A client-supplied `created`, kept when it is a number at most [`PREDATE_MAX_TIME`] seconds old (as
/// HSDS keeps "pre-dated" links and attributes); otherwise `ts`.
pub fn client_created(v: Option<&Value>, ts: f64) -> f64 {
    match v.and_then(Value::as_f64) {
        Some(c) if c.is_finite() && ts - c < PREDATE_MAX_TIME => c,
        _ => ts,
    }
}

/// Validates a link body against the stored links of a group and reports what a PUT would do.
pub fn link_change(existing: Option<&Value>, new: &Value) -> LinkChange {
    match existing {
        None => LinkChange::New,
        Some(old) if same_link(old, new) => LinkChange::Same,
        Some(_) => LinkChange::Different,
    }
}

/// What putting a link would do to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange {
    /// The title is free.
    New,
    /// An identical link is already there.
    Same,
    /// A different link has the title.
    Different,
}

/// Normalises and checks a link body for group `dom` (hard-link targets must be in the domain).
pub fn checked_link(ctx: &Ctx<'_>, dom: &DomainDoc, title: &str, body: &Value, ts: f64) -> ApiResult<Value> {
    let link = normalize_link(title, body, ts)?;
    if let Some(t) = hard_target(&link) {
        ctx.check_member(dom, &t)?;
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.h5", "a.h5"));
        assert!(!glob_match("*.h5", "a.h5x"));
        assert!(glob_match("s?ft", "soft"));
        assert!(glob_match("[a-c]*", "beta"));
        assert!(!glob_match("[!a-c]*", "beta"));
        assert!(glob_match("x[", "x["));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn paging() {
        let v: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(page(v.clone(), Some("b"), Some(1), |s| s), vec!["c"]);
        assert_eq!(page(v.clone(), None, Some(2), |s| s), vec!["a", "b"]);
        assert!(page(v, Some("zz"), None, |s| s).is_empty());
    }

    #[test]
    fn created_is_kept_only_when_recent() {
        assert_eq!(client_created(Some(&json!(95.0)), 100.0), 95.0);
        assert_eq!(client_created(Some(&json!(50.0)), 100.0), 100.0);
        assert_eq!(client_created(Some(&json!("x")), 100.0), 100.0);
        assert_eq!(client_created(None, 100.0), 100.0);
    }

    #[test]
    fn new_object_keys_follow_hsds() {
        let root = ObjId::new_root();
        let g = ObjId::new_child(ObjKind::Group, &root);
        let mut f = Map::new();
        f.insert("creationProperties".into(), json!({}));
        let v = new_object_json(&g, &f, 1.5);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "root", "created", "lastModified", "links", "attributes", "creationProperties"]);
        let t = ObjId::new_child(ObjKind::Datatype, &root);
        let mut f = Map::new();
        f.insert("type".into(), json!({"class": "H5T_INTEGER", "base": "H5T_STD_I32LE"}));
        let v = new_object_json(&t, &f, 1.5);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "root", "created", "lastModified", "type", "attributes"]);
    }
}
