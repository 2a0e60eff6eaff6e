//! Creating objects: the `POST /groups|/datasets|/datatypes` pipeline shared by the three kinds.
//!
//! Object creation is validate-then-write: every item of a request is checked (ids, parents, link titles)
//! before anything is stored; objects are created with `If-None-Match: *` and the links to them added with
//! a compare-and-swap on the parent group. If a link cannot be added after all, the objects created by
//! the request are deleted again, so a failed request leaves the store as it found it.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::attribute::build_attrs;
use super::concurrency::{collect_all, run_all};
use super::link::stored::{hard_target, links_mut, validate_title};
use super::{Ctx, DomainDoc};
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjId, ObjKind};
use crate::request::Response;
use crate::store::cas::{update_json, Change};
use crate::store::json::create_json;
use crate::store::StoreError;

/// Most objects one list-bodied `POST /groups|/datasets|/datatypes` may create (h5pyd sends up to 300).
pub const MAX_CREATE_ITEMS: usize = 1000;

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
pub async fn parse_create_item(
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
    let placement = parse_placement(ctx, dom, &root, item).await?;
    let mut fields = Map::new();
    // Stored as given: HSDS treats a group's or datatype's `creationProperties` as an opaque JSON value
    // (the REST VOL sends a base64 string of a binary property list). Datasets check theirs themselves.
    if let Some(cp) = item.get("creationProperties") {
        fields.insert("creationProperties".into(), cp.clone());
    }
    // As in the request; [`create_objects`] turns it into stored attributes.
    if let Some(attrs) = item.get("attributes").filter(|a| !a.is_null()) {
        fields.insert("attributes".into(), attrs.clone());
    }
    Ok(NewObject { id, fields, placement })
}

/// The parent group a create item names (`link.id` or `parent_id`; the root when absent), checked to be
/// a group of the domain.
async fn parent_of(ctx: &Ctx<'_>, dom: &DomainDoc, root: &ObjId, v: Option<&Value>, what: &str) -> ApiResult<ObjId> {
    match v {
        None | Some(Value::Null) => Ok(root.clone()),
        Some(Value::String(s)) => {
            let id = ObjId::parse_kind(s, ObjKind::Group)?;
            ctx.check_member(dom, &id).await?;
            Ok(id)
        }
        Some(_) => Err(ApiError::bad_request(format!("{what} must be a group id string"))),
    }
}

/// Reads `link: {id, name}` or `h5path` (+ `parent_id`) from a create item.
async fn parse_placement(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    root: &ObjId,
    item: &Map<String, Value>,
) -> ApiResult<Placement> {
    if let Some(link) = item.get("link") {
        if item.contains_key("h5path") {
            return Err(ApiError::bad_request("'link' can't be used together with 'h5path'"));
        }
        let link = link.as_object().ok_or_else(|| ApiError::bad_input_500("link must be an object {id, name}"))?;
        let parent = parent_of(ctx, dom, root, link.get("id"), "link.id").await?;
        let title = match link.get("name") {
            Some(Value::String(t)) => validate_title(t)?,
            _ => return Err(ApiError::bad_input_500("link.name must be a string")),
        };
        return Ok(Placement::Link { parent, title });
    }
    match item.get("h5path") {
        None | Some(Value::Null) => Ok(Placement::Anonymous),
        Some(Value::String(p)) => {
            let parent = parent_of(ctx, dom, root, item.get("parent_id"), "parent_id").await?;
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
        m.insert("attributes".into(), fields.get("attributes").cloned().unwrap_or_else(|| json!({})));
    }
    for (k, v) in fields {
        if k != "links" && k != "attributes" {
            m.insert(k.clone(), v.clone());
        }
    }
    if id.kind() != ObjKind::Group {
        m.insert("attributes".into(), fields.get("attributes").cloned().unwrap_or_else(|| json!({})));
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
        // HSDS 1.0.2 fails on these (500)
        other => Err(ApiError::bad_input_500(format!(
            "expected a JSON object or list body, got {}",
            super::context::kind_of(&other)
        ))),
    }
}

/// Creates `items` in `dom` (the caller has checked `create`): validates ids and placements, writes each
/// object with `If-None-Match`, then adds the links (one compare-and-swap per parent group). Returns
/// the stored JSON of each object, in request order. On any failure nothing created here is left behind.
pub async fn create_objects(ctx: &Ctx<'_>, dom: &DomainDoc, mut items: Vec<NewObject>) -> ApiResult<Vec<Value>> {
    // `attributes` in a create body are written with the object (HSDS's `getCreateArgs` passes them on).
    for it in &mut items {
        if let Some(raw) = it.fields.remove("attributes") {
            if !raw.is_object() {
                // HSDS 1.0.2 fails on it (500) when creating; PUT .../attributes answers 400.
                return Err(ApiError::bad_input_500(format!(
                    "attributes must be an object of name: attribute, got {}",
                    super::context::kind_of(&raw)
                )));
            }
            let built = build_attrs(ctx, dom, &raw, ctx.now).await?;
            it.fields.insert("attributes".into(), Value::Object(built.into_iter().collect()));
        }
    }
    let mut seen = HashSet::new();
    for it in &items {
        if !seen.insert(it.id.clone()) {
            return Err(ApiError::bad_request(format!("id {} appears twice in the request", it.id)));
        }
    }
    let links = plan_links(ctx, dom, &items).await?;
    let ts = ctx.now;
    let objects: Vec<Value> = items.iter().map(|it| new_object_json(&it.id, &it.fields, ts)).collect();
    let created: Vec<Result<ObjId, ApiError>> = collect_all(
        objects
            .iter()
            .map(|obj| async move {
                let id = ObjId::parse(obj["id"].as_str().expect("id set above")).expect("valid id");
                match create_json(ctx.store(), &ctx.bucket, &id.s3_key(), obj).await {
                    Ok(_) => Ok(id),
                    Err(StoreError::Precondition(_)) => {
                        Err(ApiError::bad_request(format!("object {id} already exists (HSDS answers 400)")))
                    }
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
                    let mut added = false;
                    for (title, target) in &titles {
                        if let Some(existing) = links.get(title) {
                            // The new object's id is fresh: a link to it can only be this request's own,
                            // written by an attempt whose answer was lost (S3 applied it, then failed).
                            if existing["id"].as_str() == Some(target.to_string().as_str()) {
                                continue;
                            }
                            return Err(ApiError::conflict(format!("link {title} already exists in group {parent}")));
                        }
                        added = true;
                        links.insert(
                            title.clone(),
                            // HSDS 1.0.2's key order for a link made with its object (fixtures/hsds/answers.json)
                            json!({"id": target.to_string(), "class": "H5L_TYPE_HARD", "created": ts}),
                        );
                    }
                    if !added {
                        return Ok(Change::Keep(()));
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

/// Best-effort removal of objects created by a failed request.
async fn delete_keys(ctx: &Ctx<'_>, ids: &[ObjId]) {
    for id in ids {
        if let Err(e) = ctx.store().delete(&ctx.bucket, &id.s3_key()).await {
            tracing::warn!("could not remove {id} after a failed create: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
