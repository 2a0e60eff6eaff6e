//! Links: `/groups/{id}/links` and `/groups/{id}/links/{title}`.
//!
//! Links live in the `links` dict of the group JSON, keyed by title; their stored form is in [`stored`].
//! Every change is a compare-and-swap on the group JSON, validated completely before anything is written.

pub mod stored;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use self::stored::{hard_target, link_change, link_file, link_out, links_in, normalize_link, stored_class, LinkChange};
use super::concurrency::run_all;
use super::context::Tombstone;
use super::graph::crawl_groups;
use super::paging::{listing_limit, page};
use super::{Ctx, DomainDoc};
use crate::auth::Action;
use crate::error::{ApiError, ApiResult};
use crate::model::glob::Glob;
use crate::model::{ObjId, ObjKind};
use crate::request::Response;
use crate::store::cas::{update_entries, Change};
use crate::store::entries::Entries;

/// Normalises and checks a link body for group `dom` (hard-link targets must be in the domain).
pub async fn checked_link(ctx: &Ctx<'_>, dom: &DomainDoc, title: &str, body: &Value, ts: f64) -> ApiResult<Value> {
    let link = normalize_link(title, body, ts)?;
    if let Some(t) = hard_target(&link) {
        ctx.check_member(dom, &t).await?;
    }
    Ok(link)
}

/// A link list item: the stored link plus `title` (POST responses and `follow_links` lists).
fn titled(title: &str, link: &Value) -> Value {
    let mut out = link_out(link);
    out["title"] = json!(title);
    out
}

/// A `GET .../links` item: titled, plus `collection` and `target` for hard links, and `href`.
fn listed(ctx: &Ctx<'_>, group: &ObjId, title: &str, link: &Value) -> Value {
    let mut out = titled(title, link);
    if let Some(t) = hard_target(link) {
        out["collection"] = json!(t.kind().collection());
        out["target"] = json!(ctx.href(&format!("/{}/{t}", t.kind().collection())));
    }
    out["href"] = json!(ctx.href(&link_path(group, title)));
    out
}

/// The path of a link in hrefs: the title as it is, not percent-encoded, as HSDS 1.0.2 writes it
/// (clients address links by title, never through these hrefs).
fn link_path(group: &ObjId, title: &str) -> String {
    format!("/groups/{group}/links/{title}")
}

/// Links of a group JSON as `(title, link)`, sorted by title, or by `created` with `CreateOrder`.
fn sorted_links(group: &Value, create_order: bool) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> =
        group["links"].as_object().into_iter().flatten().map(|(t, l)| (t.clone(), l.clone())).collect();
    if create_order {
        v.sort_by(|a, b| {
            let c = |l: &Value| l.get("created").and_then(Value::as_f64).unwrap_or(0.0);
            c(&a.1).total_cmp(&c(&b.1)).then_with(|| a.0.cmp(&b.0))
        });
    } else {
        v.sort_by(|a, b| a.0.cmp(&b.0));
    }
    v
}

/// Applies `pattern`, then `Marker` and `Limit`, to a sorted link list, as HSDS's `GET_Links`: a `Marker`
/// that names no (matching) link is 404, and a negative `Limit` gives an empty list.
fn filter_links(ctx: &Ctx<'_>, links: Vec<(String, Value)>) -> ApiResult<Vec<(String, Value)>> {
    let links: Vec<(String, Value)> = match ctx.req.get_param("pattern").filter(|p| !p.is_empty()) {
        Some(p) => {
            let glob = Glob::new(p);
            links.into_iter().filter(|(t, _)| glob.matches(t)).collect()
        }
        None => links,
    };
    let marker = ctx.req.get_param("Marker").filter(|m| !m.is_empty());
    if let Some(m) = marker {
        if !links.iter().any(|(t, _)| t == m) {
            return Err(ApiError::not_found(format!("link marker {m:?} not found")));
        }
    }
    Ok(page(links, marker, listing_limit(ctx)?, |(t, _)| t.as_str()))
}

/// Loads a group of the request's domain after the `action` check.
async fn group_for(ctx: &Ctx<'_>, id: &ObjId, action: Action) -> ApiResult<(DomainDoc, Value)> {
    ctx.authorize_object(action, id).await
}

/// `hrefs` of the link collection routes: self, home, owner.
fn link_hrefs(ctx: &Ctx<'_>, id: &ObjId, this: &str) -> Value {
    json!([ctx.rel("self", this), ctx.rel("home", "/"), ctx.rel("owner", &format!("/groups/{id}"))])
}

/// `GET /groups/{id}/links`: sorted (or `CreateOrder`) links with `pattern`, `Limit`, `Marker`;
/// `follow_links=1` lists every group reachable from this one as `{"links": {group_id: [...]}}`.
pub async fn get_links(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let (dom, group) = group_for(ctx, id, Action::Read).await?;
    let create_order = ctx.req.flag("CreateOrder");
    let links = if ctx.req.flag("follow_links") {
        let mut out = Map::new();
        for (gid, g) in crawl_groups(ctx, &dom, id, usize::MAX).await? {
            let items = filter_links(ctx, sorted_links(&g, create_order))?;
            out.insert(gid.to_string(), Value::Array(items.iter().map(|(t, l)| titled(t, l)).collect()));
        }
        Value::Object(out)
    } else {
        let items = filter_links(ctx, sorted_links(&group, create_order))?;
        Value::Array(items.iter().map(|(t, l)| listed(ctx, id, t, l)).collect())
    };
    let hrefs = link_hrefs(ctx, id, &format!("/groups/{id}/links"));
    Ok(Response::json(200, &json!({"links": links, "hrefs": hrefs})))
}

/// A list of strings from a JSON body value; 400 otherwise.
fn string_list(v: &Value, what: &str) -> ApiResult<Vec<String>> {
    v.as_array()
        .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_string)).collect::<Option<Vec<_>>>())
        .ok_or_else(|| ApiError::bad_request(format!("{what} must be a list of strings")))
}

/// Parses a group id of the domain from a body key.
async fn member_group(ctx: &Ctx<'_>, dom: &DomainDoc, raw: &str) -> ApiResult<ObjId> {
    let id = ObjId::parse_kind(raw, ObjKind::Group)?;
    ctx.check_member(dom, &id).await?;
    Ok(id)
}

/// Picks `titles` out of a group's links (404 when one is missing), or all of them (filtered) when `None`.
fn pick(ctx: &Ctx<'_>, gid: &ObjId, group: &Value, titles: Option<&[String]>) -> ApiResult<Value> {
    let create_order = ctx.req.flag("CreateOrder");
    let items = match titles {
        None => filter_links(ctx, sorted_links(group, create_order))?,
        Some(ts) => ts
            .iter()
            .map(|t| {
                group["links"]
                    .get(t)
                    .map(|l| (t.clone(), l.clone()))
                    .ok_or_else(|| ApiError::not_found(format!("link {t} not found in group {gid}")))
            })
            .collect::<ApiResult<_>>()?,
    };
    Ok(Value::Array(items.iter().map(|(t, l)| titled(t, l)).collect()))
}

/// `POST /groups/{id}/links`: fetch `titles` of this group, or links of several groups with `grp_ids`
/// (a list: all their links; a dict: `{group_id: [titles]}`). Needs `read`.
pub async fn post_links(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let (dom, group) = group_for(ctx, id, Action::Read).await?;
    let body = ctx.body_object()?;
    let titles = body.get("titles").map(|v| string_list(v, "titles")).transpose()?;
    if titles.is_none() && !body.contains_key("grp_ids") {
        return Err(ApiError::bad_request("expected body to contain one of titles, grp_ids"));
    }
    let Some(grp_ids) = body.get("grp_ids") else {
        if ctx.req.flag("follow_links") {
            let mut out = Map::new();
            for (gid, g) in crawl_groups(ctx, &dom, id, usize::MAX).await? {
                out.insert(gid.to_string(), pick(ctx, &gid, &g, None)?);
            }
            return Ok(Response::json(200, &json!({ "links": out })));
        }
        let links = pick(ctx, id, &group, titles.as_deref())?;
        return Ok(Response::json(200, &json!({ "links": links })));
    };
    let mut wanted: Vec<(ObjId, Option<Vec<String>>)> = Vec::new();
    match grp_ids {
        Value::Array(_) => {
            for g in string_list(grp_ids, "grp_ids")? {
                wanted.push((member_group(ctx, &dom, &g).await?, titles.clone()));
            }
        }
        Value::Object(m) => {
            for (g, ts) in m {
                let (gid, ts) = (member_group(ctx, &dom, g).await?, string_list(ts, "grp_ids values")?);
                // HSDS's crawler answers nothing for a group asked for no titles
                if !ts.is_empty() {
                    wanted.push((gid, Some(ts)));
                }
            }
        }
        _ => return Err(ApiError::bad_request("grp_ids must be a list of group ids or a dict {group_id: [titles]}")),
    }
    let dom = &dom;
    let loaded: Vec<(ObjId, Value)> = run_all(
        wanted
            .into_iter()
            .map(|(gid, ts)| async move {
                let (g, _) = ctx.load_object(dom, &gid).await?;
                let links = pick(ctx, &gid, &g, ts.as_deref())?;
                Ok::<_, ApiError>((gid, links))
            })
            .collect::<Vec<_>>(),
    )
    .await?;
    let out: Map<String, Value> = loaded.into_iter().map(|(g, l)| (g.to_string(), l)).collect();
    Ok(Response::json(200, &json!({ "links": out })))
}

/// Writes `links` into group `gid` as one compare-and-swap. Identical links are kept; different ones
/// are a 409 unless `replace`. Returns true when something changed.
async fn put_group_links(
    ctx: &Ctx<'_>,
    gid: &ObjId,
    links: &BTreeMap<String, Value>,
    replace: bool,
) -> ApiResult<bool> {
    ctx.update_object(gid, "links", |g: &mut Entries| {
        links_in(g)?;
        let mut changed = false;
        for (title, link) in links {
            match link_change(g.get(title).as_ref(), link) {
                LinkChange::Same => {}
                LinkChange::Different if !replace => {
                    return Err(ApiError::conflict(format!("a different link {title} already exists in group {gid}")))
                }
                _ => {
                    g.insert(title, link);
                    changed = true;
                }
            }
        }
        if changed {
            g.set_top("lastModified", &json!(ctx.now));
            Ok(Change::Write(true))
        } else {
            Ok(Change::Keep(false))
        }
    })
    .await
}

/// Parses a `links` dict `{title: link}` into normalised links.
async fn parse_links(ctx: &Ctx<'_>, dom: &DomainDoc, v: &Value, ts: f64) -> ApiResult<BTreeMap<String, Value>> {
    let m = v.as_object().ok_or_else(|| ApiError::bad_request("links must be a dict {title: link}"))?;
    let mut out = BTreeMap::new();
    for (t, l) in m {
        out.insert(t.clone(), checked_link(ctx, dom, t, l, ts).await?);
    }
    Ok(out)
}

/// `PUT /groups/{id}/links`: `links` for this group, or `grp_ids` (a list: the same `links` in each
/// group; a dict: `{group_id: {"links": {...}}}`). 201 when anything was created, 200 when everything
/// already existed identically, 409 (nothing written) when a title holds a different link.
pub async fn put_links(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let dom = ctx.authorize_existing(Action::Create, id).await?;
    // Any body but an object is a 400 here, a bare number included (which most routes answer 500, as HSDS).
    let body = match ctx.body_json()? {
        Value::Object(m) => m,
        Value::Null => Default::default(),
        other => {
            let kind = super::context::kind_of(&other);
            return Err(ApiError::bad_request(format!("expected a JSON object body, got {kind}")));
        }
    };
    let ts = ctx.now;
    let replace = ctx.req.flag("replace");
    let mut per_group: Vec<(ObjId, BTreeMap<String, Value>)> = Vec::new();
    match body.get("grp_ids") {
        None => {
            let links = body.get("links").ok_or_else(|| ApiError::bad_request("PUT links needs links or grp_ids"))?;
            per_group.push((id.clone(), parse_links(ctx, &dom, links, ts).await?));
        }
        Some(Value::Array(_)) => {
            let links = body.get("links").ok_or_else(|| ApiError::bad_request("grp_ids as a list needs links"))?;
            let links = parse_links(ctx, &dom, links, ts).await?;
            for g in string_list(&body["grp_ids"], "grp_ids")? {
                per_group.push((member_group(ctx, &dom, &g).await?, links.clone()));
            }
        }
        Some(Value::Object(m)) => {
            for (g, item) in m {
                let links = item
                    .get("links")
                    .ok_or_else(|| ApiError::bad_request(format!("grp_ids[{g}] needs a links dict")))?;
                per_group.push((member_group(ctx, &dom, g).await?, parse_links(ctx, &dom, links, ts).await?));
            }
        }
        Some(_) => return Err(ApiError::bad_request("grp_ids must be a list or a dict")),
    }
    if replace && per_group.len() == 1 {
        // HSDS 1.0.2 passes `replace` to a function that takes no such argument when one group is named
        // (a TypeError, 500, nothing written); with several groups its crawler honours it.
        return Err(ApiError::bad_input_500(
            "replace is not supported when the links are for one group (HSDS 1.0.2 answers 500); name several \
             groups in grp_ids, or DELETE the link and PUT it again",
        ));
    }
    if let [(gid, links)] = per_group.as_slice() {
        // One group: its compare-and-swap checks the same things and writes nothing on a conflict.
        let changed = put_group_links(ctx, gid, links, replace).await?;
        return Ok(Response::json(if changed { 201 } else { 200 }, &json!({})));
    }
    // Check every group first so that a conflict or a missing group writes nothing.
    let dom = &dom;
    let checks: Vec<LinkChange> = run_all(
        per_group
            .iter()
            .map(|(gid, links)| async move {
                let (g, _) = ctx.load_object(dom, gid).await?;
                let mut worst = LinkChange::Same;
                for (title, link) in links {
                    match link_change(g["links"].get(title), link) {
                        LinkChange::Different if !replace => {
                            return Err(ApiError::conflict(format!(
                                "a different link {title} already exists in group {gid}"
                            )))
                        }
                        LinkChange::Same => {}
                        _ => worst = LinkChange::New,
                    }
                }
                Ok::<_, ApiError>(worst)
            })
            .collect::<Vec<_>>(),
    )
    .await?;
    let mut changed = false;
    if checks.iter().any(|c| *c != LinkChange::Same) {
        let results: Vec<bool> =
            run_all(per_group.iter().map(|(gid, links)| put_group_links(ctx, gid, links, replace)).collect::<Vec<_>>())
                .await?;
        changed = results.into_iter().any(|c| c);
    }
    Ok(Response::json(if changed { 201 } else { 200 }, &json!({})))
}

/// Splits `titles` on `separator` (default `/`) for link deletes.
fn titles_param(ctx: &Ctx<'_>) -> ApiResult<Vec<String>> {
    let sep = ctx.req.get_param("separator").filter(|s| !s.is_empty()).unwrap_or("/");
    let raw = ctx.req.get_param("titles").ok_or_else(|| ApiError::bad_request("DELETE links needs titles=a/b/..."))?;
    Ok(raw.split(sep).filter(|t| !t.is_empty()).map(str::to_string).collect())
}

/// Removes `titles` from group `gid` in one compare-and-swap; missing titles are ignored (as HSDS).
async fn remove_links(ctx: &Ctx<'_>, gid: &ObjId, titles: &[String]) -> ApiResult<()> {
    update_entries(ctx.store(), &ctx.bucket, &gid.s3_key(), "links", |g: &mut Entries| {
        links_in(g)?;
        let before = g.len();
        for t in titles {
            g.remove(t);
        }
        if g.len() == before {
            return Ok(Change::Keep(()));
        }
        g.set_top("lastModified", &json!(ctx.now));
        Ok(Change::Write(()))
    })
    .await
}

/// `DELETE /groups/{id}/links?titles=a/b[&separator=|]`: 200 `{}`.
pub async fn delete_links(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let titles = titles_param(ctx)?;
    let (_, group) = group_for(ctx, id, Action::Delete).await?;
    mark_links_gone(ctx, id, &group, &titles).await?;
    remove_links(ctx, id, &titles).await?;
    Ok(Response::json(200, &json!({})))
}

/// Writes a tombstone for each of `titles` that `group` holds, before they are removed: a later GET of
/// one answers 410 Gone, as HSDS does for links it deleted (titles that never existed stay 404).
async fn mark_links_gone(ctx: &Ctx<'_>, id: &ObjId, group: &Value, titles: &[String]) -> ApiResult<()> {
    let present = titles.iter().filter(|t| group["links"].get(t.as_str()).is_some());
    run_all(present.map(|t| ctx.mark_gone(Tombstone::Link(id, t))).collect::<Vec<_>>()).await?;
    Ok(())
}

/// `GET /groups/{id}/links/{title}`: `{"link": {title, class, id, collection | h5path[, file]},
/// created, lastModified, hrefs}`; 404 when absent.
pub async fn get_link(ctx: &Ctx<'_>, id: &ObjId, title: &str) -> ApiResult<Response> {
    if title.contains('/') {
        return Err(ApiError::bad_request(format!("invalid link name {title:?}: it contains a slash")));
    }
    let (_, group) = group_for(ctx, id, Action::Read).await?;
    let Some(stored) = group["links"].get(title) else {
        if ctx.is_gone(Tombstone::Link(id, title)).await? {
            return Err(ApiError::gone(format!("link {title} of group {id} was deleted")));
        }
        return Err(ApiError::not_found(format!("link {title} not found in group {id}")));
    };
    let mut link = json!({"title": title, "class": stored_class(stored)});
    let mut hrefs =
        vec![ctx.rel("self", &link_path(id, title)), ctx.rel("home", "/"), ctx.rel("owner", &format!("/groups/{id}"))];
    if let Some(t) = hard_target(stored) {
        link["id"] = json!(t.to_string());
        link["collection"] = json!(t.kind().collection());
        hrefs.push(ctx.rel("target", &format!("/{}/{t}", t.kind().collection())));
    } else {
        link["h5path"] = stored.get("h5path").cloned().unwrap_or(Value::Null);
        if let Some(f) = link_file(stored) {
            link["file"] = json!(f);
        }
    }
    let created = stored.get("created").cloned().unwrap_or(json!(0.0));
    Ok(Response::json(200, &json!({"link": link, "created": created, "lastModified": created, "hrefs": hrefs})))
}

/// `PUT /groups/{id}/links/{title}`: body `{"id"}`, `{"h5path"}` or `{"h5path","h5domain"|"file"}`.
/// 201 new, 200 identical, 409 different (unless `replace`).
pub async fn put_link(ctx: &Ctx<'_>, id: &ObjId, title: &str) -> ApiResult<Response> {
    let dom = ctx.authorize_existing(Action::Create, id).await?;
    let body = ctx.body_json()?;
    let link = checked_link(ctx, &dom, title, &body, ctx.now).await?;
    let links = BTreeMap::from([(title.to_string(), link)]);
    let changed = put_group_links(ctx, id, &links, ctx.req.flag("replace")).await?;
    Ok(Response::json(if changed { 201 } else { 200 }, &json!({"hrefs": []})))
}

/// `DELETE /groups/{id}/links/{title}`: 200 `{}` (also when the link was already gone, as HSDS).
pub async fn delete_link(ctx: &Ctx<'_>, id: &ObjId, title: &str) -> ApiResult<Response> {
    let (_, group) = group_for(ctx, id, Action::Delete).await?;
    let titles = [title.to_string()];
    mark_links_gone(ctx, id, &group, &titles).await?;
    remove_links(ctx, id, &titles).await?;
    Ok(Response::json(200, &json!({})))
}
