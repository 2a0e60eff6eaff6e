//! Links: `/groups/{id}/links` and `/groups/{id}/links/{title}`.
//!
//! Links live in the `links` dict of the group JSON, keyed by title. HSDS 1.0.2 stores
//! `{"class","id","created"}` (hard), `{"class","h5path","created"}` (soft) and
//! `{"class","h5path","file","created"}` (external; older HSDS wrote `h5domain`, which is read too).
//! Responses name an external link's file `file`, as HSDS 1.0.2 does (h5pyd 1.0 reads that key).
//! Every change is a compare-and-swap on the group JSON, validated completely before anything is written.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::object::{
    checked_link, client_created, crawl_groups, glob_match, hard_target, limit_param, link_change, links_mut, page,
    run_all, validate_title, LinkChange,
};
use super::{Ctx, DomainDoc};
use crate::auth::Action;
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjId, ObjKind};
use crate::request::Response;
use crate::service::now;
use crate::store::json::{update_json, Change};

/// The class of a link body, as h5json's `getLinkClass` decides it: `id` → hard, `h5path` with
/// `h5domain`/`file` → external, `h5path` alone → soft; an explicit `class` must agree.
fn link_class(body: &Map<String, Value>) -> ApiResult<&'static str> {
    let given = body.get("class").and_then(Value::as_str);
    let has = |k: &str| body.get(k).is_some_and(|v| !v.is_null() && v != "");
    let class = if body.contains_key("id") {
        if has("h5path") {
            return Err(ApiError::bad_request("a link can't have both id and h5path"));
        }
        "H5L_TYPE_HARD"
    } else if has("h5path") {
        if has("h5domain") || has("file") {
            "H5L_TYPE_EXTERNAL"
        } else {
            "H5L_TYPE_SOFT"
        }
    } else {
        return Err(ApiError::bad_request("a link needs an id (hard link) or an h5path (soft or external link)"));
    };
    match given {
        Some(c) if c != class => {
            Err(ApiError::bad_request(format!("link class {c} does not match its keys ({class})")))
        }
        _ => Ok(class),
    }
}

/// Turns a client link body into the stored form (HSDS `getRequestLink`); `created` is the client's
/// when recent enough, else `ts`. 400 for a bad title, class, id or path.
pub fn normalize_link(title: &str, body: &Value, ts: f64) -> ApiResult<Value> {
    validate_title(title)?;
    let body =
        body.as_object().ok_or_else(|| ApiError::bad_request(format!("link {title}: expected a JSON object")))?;
    let class = link_class(body)?;
    let string = |k: &str| -> ApiResult<String> {
        match body.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(ApiError::bad_request(format!("link {title}: {k} must be a non-empty string"))),
        }
    };
    let mut m = Map::new();
    m.insert("class".into(), json!(class));
    match class {
        "H5L_TYPE_HARD" => {
            let id = string("id")?;
            let id = ObjId::parse(&id).map_err(|e| ApiError::bad_request(format!("link {title}: {e}")))?;
            m.insert("id".into(), json!(id.to_string()));
        }
        "H5L_TYPE_SOFT" => {
            m.insert("h5path".into(), json!(string("h5path")?));
        }
        _ => {
            m.insert("h5path".into(), json!(string("h5path")?));
            let file =
                if body.get("file").is_some_and(|v| !v.is_null()) { string("file")? } else { string("h5domain")? };
            m.insert("file".into(), json!(file));
        }
    }
    m.insert("created".into(), json!(client_created(body.get("created"), ts)));
    Ok(Value::Object(m))
}

/// The external file of a stored link (`file`, or `h5domain` as older HSDS wrote it).
fn link_file(link: &Value) -> Option<&str> {
    link.get("file").or_else(|| link.get("h5domain")).and_then(Value::as_str)
}

/// The class of a stored link.
fn stored_class(link: &Value) -> &str {
    link.get("class").and_then(Value::as_str).unwrap_or(if link.get("id").is_some() {
        "H5L_TYPE_HARD"
    } else if link_file(link).is_some() {
        "H5L_TYPE_EXTERNAL"
    } else {
        "H5L_TYPE_SOFT"
    })
}

/// True when two links point at the same thing (h5json `isEqualLink`; `created` is ignored).
pub fn same_link(a: &Value, b: &Value) -> bool {
    let class = stored_class(a);
    class == stored_class(b)
        && match class {
            "H5L_TYPE_HARD" => a.get("id") == b.get("id"),
            "H5L_TYPE_SOFT" => a.get("h5path") == b.get("h5path"),
            _ => a.get("h5path") == b.get("h5path") && link_file(a) == link_file(b),
        }
}

/// A stored link as responses show it: external links name their file as `file`, as HSDS 1.0.2 answers
/// (also for links stored by older HSDS with `h5domain`).
pub fn link_out(link: &Value) -> Value {
    let mut out = link.clone();
    if stored_class(link) == "H5L_TYPE_EXTERNAL" {
        if let Some(f) = link_file(link).map(str::to_string) {
            if let Some(m) = out.as_object_mut() {
                m.remove("h5domain");
            }
            out["file"] = json!(f);
        }
    }
    out
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
    out["href"] = json!(ctx.href(&format!("/groups/{group}/links/{}", encode_title(title))));
    out
}

/// Percent-encodes a title for use as a path segment.
fn encode_title(title: &str) -> String {
    percent_encoding::utf8_percent_encode(title, percent_encoding::NON_ALPHANUMERIC).to_string()
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

/// Applies `pattern`, `Marker` and `Limit` to a sorted link list.
fn filter_links(ctx: &Ctx<'_>, links: Vec<(String, Value)>) -> ApiResult<Vec<(String, Value)>> {
    let links: Vec<(String, Value)> = match ctx.req.get_param("pattern").filter(|p| !p.is_empty()) {
        Some(p) => links.into_iter().filter(|(t, _)| glob_match(p, t)).collect(),
        None => links,
    };
    Ok(page(links, ctx.req.get_param("Marker"), limit_param(ctx)?, |(t, _)| t.as_str()))
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
fn member_group(ctx: &Ctx<'_>, dom: &DomainDoc, raw: &str) -> ApiResult<ObjId> {
    let id = ObjId::parse_kind(raw, ObjKind::Group)?;
    ctx.check_member(dom, &id)?;
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
    let wanted: Vec<(ObjId, Option<Vec<String>>)> = match grp_ids {
        Value::Array(_) => string_list(grp_ids, "grp_ids")?
            .iter()
            .map(|g| Ok((member_group(ctx, &dom, g)?, titles.clone())))
            .collect::<ApiResult<_>>()?,
        Value::Object(m) => m
            .iter()
            .map(|(g, ts)| Ok((member_group(ctx, &dom, g)?, Some(string_list(ts, "grp_ids values")?))))
            .collect::<ApiResult<_>>()?,
        _ => return Err(ApiError::bad_request("grp_ids must be a list of group ids or a dict {group_id: [titles]}")),
    };
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
    update_json(ctx.store(), &ctx.bucket, &gid.s3_key(), |g: &mut Value| {
        let stored = links_mut(g)?;
        let mut changed = false;
        for (title, link) in links {
            match link_change(stored.get(title), link) {
                LinkChange::Same => {}
                LinkChange::Different if !replace => {
                    return Err(ApiError::conflict(format!("a different link {title} already exists in group {gid}")))
                }
                _ => {
                    stored.insert(title.clone(), link.clone());
                    changed = true;
                }
            }
        }
        if changed {
            g["lastModified"] = json!(now());
            Ok(Change::Write(true))
        } else {
            Ok(Change::Keep(false))
        }
    })
    .await
}

/// Parses a `links` dict `{title: link}` into normalised links.
fn parse_links(ctx: &Ctx<'_>, dom: &DomainDoc, v: &Value, ts: f64) -> ApiResult<BTreeMap<String, Value>> {
    let m = v.as_object().ok_or_else(|| ApiError::bad_request("links must be a dict {title: link}"))?;
    m.iter().map(|(t, l)| Ok((t.clone(), checked_link(ctx, dom, t, l, ts)?))).collect()
}

/// `PUT /groups/{id}/links`: `links` for this group, or `grp_ids` (a list: the same `links` in each
/// group; a dict: `{group_id: {"links": {...}}}`). 201 when anything was created, 200 when everything
/// already existed identically, 409 (nothing written) when a title holds a different link.
pub async fn put_links(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let (dom, _) = group_for(ctx, id, Action::Create).await?;
    let body = ctx.body_object()?;
    let ts = now();
    let replace = ctx.req.flag("replace");
    let per_group: Vec<(ObjId, BTreeMap<String, Value>)> = match body.get("grp_ids") {
        None => {
            let links = body.get("links").ok_or_else(|| ApiError::bad_request("PUT links needs links or grp_ids"))?;
            vec![(id.clone(), parse_links(ctx, &dom, links, ts)?)]
        }
        Some(Value::Array(_)) => {
            let links = body.get("links").ok_or_else(|| ApiError::bad_request("grp_ids as a list needs links"))?;
            let links = parse_links(ctx, &dom, links, ts)?;
            let ids = string_list(&body["grp_ids"], "grp_ids")?;
            ids.iter().map(|g| Ok((member_group(ctx, &dom, g)?, links.clone()))).collect::<ApiResult<_>>()?
        }
        Some(Value::Object(m)) => m
            .iter()
            .map(|(g, item)| {
                let links = item
                    .get("links")
                    .ok_or_else(|| ApiError::bad_request(format!("grp_ids[{g}] needs a links dict")))?;
                Ok((member_group(ctx, &dom, g)?, parse_links(ctx, &dom, links, ts)?))
            })
            .collect::<ApiResult<_>>()?,
        Some(_) => return Err(ApiError::bad_request("grp_ids must be a list or a dict")),
    };
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
    update_json(ctx.store(), &ctx.bucket, &gid.s3_key(), |g: &mut Value| {
        let links = links_mut(g)?;
        let before = links.len();
        for t in titles {
            links.remove(t);
        }
        if links.len() == before {
            return Ok(Change::Keep(()));
        }
        g["lastModified"] = json!(now());
        Ok(Change::Write(()))
    })
    .await
}

/// `DELETE /groups/{id}/links?titles=a/b[&separator=|]`: 200 `{}`.
pub async fn delete_links(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let titles = titles_param(ctx)?;
    group_for(ctx, id, Action::Delete).await?;
    remove_links(ctx, id, &titles).await?;
    Ok(Response::json(200, &json!({})))
}

/// `GET /groups/{id}/links/{title}`: `{"link": {title, class, id, collection | h5path[, file]},
/// created, lastModified, hrefs}`; 404 when absent.
pub async fn get_link(ctx: &Ctx<'_>, id: &ObjId, title: &str) -> ApiResult<Response> {
    let (_, group) = group_for(ctx, id, Action::Read).await?;
    let stored = group["links"]
        .get(title)
        .ok_or_else(|| ApiError::not_found(format!("link {title} not found in group {id}")))?;
    let mut link = json!({"title": title, "class": stored_class(stored)});
    let mut hrefs = vec![
        ctx.rel("self", &format!("/groups/{id}/links/{}", encode_title(title))),
        ctx.rel("home", "/"),
        ctx.rel("owner", &format!("/groups/{id}")),
    ];
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
    let (dom, _) = group_for(ctx, id, Action::Create).await?;
    let body = ctx.body_json()?;
    let link = checked_link(ctx, &dom, title, &body, now())?;
    let links = BTreeMap::from([(title.to_string(), link)]);
    let changed = put_group_links(ctx, id, &links, ctx.req.flag("replace")).await?;
    Ok(Response::json(if changed { 201 } else { 200 }, &json!({"hrefs": []})))
}

/// `DELETE /groups/{id}/links/{title}`: 200 `{}` (also when the link was already gone, as HSDS).
pub async fn delete_link(ctx: &Ctx<'_>, id: &ObjId, title: &str) -> ApiResult<Response> {
    group_for(ctx, id, Action::Delete).await?;
    remove_links(ctx, id, &[title.to_string()]).await?;
    Ok(Response::json(200, &json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_classes_and_storage_form() {
        let root = ObjId::new_root();
        let h = normalize_link("a", &json!({"id": root.to_string()}), 5.0).unwrap();
        assert_eq!(h, json!({"class": "H5L_TYPE_HARD", "id": root.to_string(), "created": 5.0}));
        let s = normalize_link("s", &json!({"h5path": "/x"}), 5.0).unwrap();
        assert_eq!(s, json!({"class": "H5L_TYPE_SOFT", "h5path": "/x", "created": 5.0}));
        let e = normalize_link("e", &json!({"h5path": "/x", "h5domain": "/d.h5"}), 5.0).unwrap();
        assert_eq!(e, json!({"class": "H5L_TYPE_EXTERNAL", "h5path": "/x", "file": "/d.h5", "created": 5.0}));
        assert!(normalize_link("a/b", &json!({"h5path": "/x"}), 5.0).is_err());
        assert!(normalize_link("a", &json!({"id": "nope"}), 5.0).is_err());
        assert!(normalize_link("a", &json!({"class": "H5L_TYPE_SOFT", "id": root.to_string()}), 5.0).is_err());
        assert!(normalize_link("a", &json!({}), 5.0).is_err());
        assert!(normalize_link("a", &json!([1]), 5.0).is_err());
    }

    #[test]
    fn equality_ignores_created_and_reads_old_h5domain() {
        let a = json!({"class": "H5L_TYPE_EXTERNAL", "h5path": "/x", "h5domain": "/d", "created": 1.0});
        let b = json!({"class": "H5L_TYPE_EXTERNAL", "h5path": "/x", "file": "/d", "created": 2.0});
        assert!(same_link(&a, &b));
        assert!(!same_link(&a, &json!({"class": "H5L_TYPE_SOFT", "h5path": "/x"})));
        let out = link_out(&a);
        assert_eq!(out["file"], "/d");
        assert!(out.get("h5domain").is_none(), "HSDS 1.0.2 answers with `file` only");
    }
}
