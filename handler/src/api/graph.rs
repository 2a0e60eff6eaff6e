//! Walking a domain's link graph: resolving h5paths, crawling the groups reachable through hard links,
//! and finding every path to an object.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;

use super::concurrency::run_all;
use super::link::stored::hard_target;
use super::{Ctx, DomainDoc};
use crate::error::{ApiError, ApiResult};
use crate::model::{ObjId, ObjKind};
use crate::store::json::get_json;
use crate::store::StoreError;

/// Where an h5path lookup of `GET /` or `POST /` starts: `parent_id` (or `grpid`) when given, else the root.
/// As in HSDS 1.0.2 (`POST_Domain`/`GET_Domain`), a path that begins with `/` is still taken from
/// `parent_id` when one is given: only the exact path `/` means the root.
pub fn start_for_h5path(ctx: &Ctx<'_>, dom: &DomainDoc) -> ApiResult<ObjId> {
    let root = dom.require_root()?;
    let parent = ctx.req.get_param("parent_id").or_else(|| ctx.req.get_param("grpid")).filter(|p| !p.is_empty());
    match parent {
        Some(p) => {
            let id = ObjId::parse_kind(p, ObjKind::Group)?;
            ctx.check_member(dom, &id)?;
            Ok(id)
        }
        None => Ok(root),
    }
}

/// Where an h5path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The object the path names.
    Found(ObjId),
    /// Nothing: a link or a group on the way is missing, or a non-group is in the middle. Why, for a 404.
    Missing(String),
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
    match find_h5path(ctx, dom, start, h5path, follow_soft).await? {
        Lookup::Found(id) => Ok(id),
        Lookup::Missing(why) => Err(ApiError::not_found(why)),
    }
}

/// [`resolve_h5path`], answering [`Lookup::Missing`] instead of a 404 when the path leads nowhere.
pub async fn find_h5path(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    start: &ObjId,
    h5path: &str,
    follow_soft: bool,
) -> ApiResult<Lookup> {
    let root = dom.require_root()?;
    if h5path == "/" {
        return Ok(Lookup::Found(root));
    }
    // HSDS's `getObjectIdByPath`: `.` is the start group itself, `./a/b` is `a/b`, and every other path
    // (even one with a leading `/`) is walked from `start`; callers pass the root for absolute paths.
    let rel = h5path.strip_prefix("./").unwrap_or(h5path);
    let mut cur = start.clone();
    let mut pending: Vec<String> =
        rel.split('/').filter(|s| !s.is_empty() && *s != ".").rev().map(str::to_string).collect();
    let mut soft_hops = 0;
    while let Some(title) = pending.pop() {
        if cur.kind() != ObjKind::Group {
            return Ok(Lookup::Missing(format!("{h5path} not found: {cur} is not a group")));
        }
        let Some((group, _)) = ctx.find_object(dom, &cur).await? else {
            return Ok(Lookup::Missing(format!("{cur} not found")));
        };
        let Some(link) = group["links"].get(&title) else {
            return Ok(Lookup::Missing(format!("{h5path} not found: no link {title:?} in {cur}")));
        };
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
    Ok(Lookup::Found(cur))
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
    let mut queue = VecDeque::from([root.clone()]);
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
