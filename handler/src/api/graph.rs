//! Walking a domain's link graph: resolving h5paths, crawling the groups reachable through hard links,
//! and finding every path to an object.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;

use super::concurrency::run_all;
use super::link::stored::{hard_target, link_file};
use super::{Ctx, DomainDoc};
use crate::auth::Action;
use crate::error::{ApiError, ApiResult};
use crate::model::{DomainPath, ObjId, ObjKind};
use crate::store::json::get_json;
use crate::store::StoreError;

/// Where an h5path lookup of `GET /` or `POST /` starts: `parent_id` (or `grpid`) when given, else the root.
/// As in HSDS 1.0.2 (`POST_Domain`/`GET_Domain`), a path that begins with `/` is still taken from
/// `parent_id` when one is given: only the exact path `/` means the root.
pub async fn start_for_h5path(ctx: &Ctx<'_>, dom: &DomainDoc) -> ApiResult<ObjId> {
    let root = dom.require_root()?;
    let parent = ctx.req.get_param("parent_id").or_else(|| ctx.req.get_param("grpid")).filter(|p| !p.is_empty());
    match parent {
        Some(p) => {
            let id = ObjId::parse_kind(p, ObjKind::Group)?;
            ctx.check_member(dom, &id).await?;
            Ok(id)
        }
        None => Ok(root),
    }
}

/// Which links an h5path lookup follows besides hard links (`follow_soft_links`,
/// `follow_external_links`; otherwise meeting one is a 400, as in HSDS).
#[derive(Debug, Clone, Copy, Default)]
pub struct Follow {
    /// Follow soft links.
    pub soft: bool,
    /// Follow external links into the domain they name (whose `read` ACL is checked too).
    pub external: bool,
}

impl Follow {
    /// `follow_soft_links` / `follow_external_links` from the query string.
    pub fn from_request(ctx: &Ctx<'_>) -> Self {
        Follow { soft: ctx.req.flag("follow_soft_links"), external: ctx.req.flag("follow_external_links") }
    }
}

/// Resolves `h5path` from group `start` of `dom` by following links (HSDS's `getObjectIdByPath`):
/// hard links always, soft and external links as `follow` says (else 400); 404 when a link is missing.
/// Answers the domain the object is in (another one after an external link) and the object's id.
pub async fn resolve_h5path(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    start: &ObjId,
    h5path: &str,
    follow: Follow,
) -> ApiResult<(DomainDoc, ObjId)> {
    let mut dom = dom.clone();
    let root = dom.require_root()?;
    if h5path == "/" {
        return Ok((dom, root));
    }
    // `.` is the start group itself, `./a/b` is `a/b`, and every other path (even one with a leading
    // `/`) is walked from `start`; callers pass the root for absolute paths.
    let rel = h5path.strip_prefix("./").unwrap_or(h5path);
    let mut root = root;
    let mut cur = start.clone();
    let mut pending: Vec<String> =
        rel.split('/').filter(|s| !s.is_empty() && *s != ".").rev().map(str::to_string).collect();
    let mut hops = 0;
    let not_found = |why: String| Err(ApiError::not_found(why));
    while let Some(title) = pending.pop() {
        if cur.kind() != ObjKind::Group {
            return not_found(format!("{h5path} not found: {cur} is not a group"));
        }
        let Some((group, _)) = ctx.find_object(&dom, &cur).await? else {
            return not_found(format!("{cur} not found"));
        };
        let Some(link) = group["links"].get(&title) else {
            return not_found(format!("{h5path} not found: no link {title:?} in {cur}"));
        };
        let class = link.get("class").and_then(Value::as_str).unwrap_or("H5L_TYPE_HARD");
        if class != "H5L_TYPE_HARD" {
            hops += 1;
            if hops > 32 {
                return Err(ApiError::bad_request(format!("{h5path}: too many soft or external links (a cycle?)")));
            }
        }
        let target = link.get("h5path").and_then(Value::as_str).unwrap_or_default();
        match class {
            "H5L_TYPE_HARD" => {
                cur = hard_target(link).ok_or_else(|| ApiError::internal(format!("link {title} has a bad id")))?;
            }
            "H5L_TYPE_SOFT" if follow.soft => {
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
            _ if follow.external => {
                if !target.starts_with('/') {
                    return Err(ApiError::bad_request(format!(
                        "{h5path}: external link {title} has a relative path, which can't be followed"
                    )));
                }
                let file = link_file(link).unwrap_or_default();
                let path = DomainPath::parse(file.strip_prefix("hdf5:/").unwrap_or(file))?;
                dom = ctx.load_domain(&path).await?;
                ctx.check(&dom, Action::Read)?;
                root = dom.require_root()?;
                cur = root.clone();
                pending.extend(target.split('/').filter(|s| !s.is_empty()).rev().map(str::to_string));
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "{h5path}: {title} is an external link; add follow_external_links=1 to follow it"
                )))
            }
        }
    }
    Ok((dom, cur))
}

/// Loads every group reachable from `start` through hard links (breadth first), `start` included,
/// with their JSON. At most `limit` groups.
pub async fn crawl_groups(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    start: &ObjId,
    limit: usize,
) -> ApiResult<Vec<(ObjId, Value)>> {
    crawl(ctx, dom, start, limit, false).await
}

/// Loads every object (groups, datasets, datatypes) reachable from `start` through hard links, breadth
/// first, `start` included, with their JSON: the objects HSDS's `DomainCrawler` visits with `follow_links`.
pub async fn crawl_objects(ctx: &Ctx<'_>, dom: &DomainDoc, start: &ObjId) -> ApiResult<Vec<(ObjId, Value)>> {
    crawl(ctx, dom, start, usize::MAX, true).await
}

/// Breadth-first walk through hard links from `start`: groups only, or every kind with `all_kinds`.
async fn crawl(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    start: &ObjId,
    limit: usize,
    all_kinds: bool,
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
                    let wanted = all_kinds || t.kind() == ObjKind::Group;
                    if wanted && t.same_domain(&id) && seen.insert(t.clone()) {
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
