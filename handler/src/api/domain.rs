//! Domains and folders: `GET/PUT/DELETE/POST /` and `GET /domains`.
//!
//! A domain is `<path>/.domain.json` (`{root?, owner, acls, created, lastModified}`) plus the objects under
//! its root's `db/<8>-<8>/` prefix; a folder is a `.domain.json` without `root`. Creates use
//! `If-None-Match: *` so two concurrent creators cannot both win; a delete removes `.domain.json` first,
//! so the domain disappears in one step, then its objects.

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::concurrency::run_all;
use super::context::{kind_of, Tombstone};
use super::graph::{resolve_h5path, start_for_h5path, Follow};
use super::paging::{limit_param, page};
use super::render::{object_response, Include};
use super::{Ctx, DomainDoc};
use crate::auth::{Action, ACL_KEYS};
use crate::error::{ApiError, ApiResult};
use crate::model::glob::Glob;
use crate::model::{DomainPath, ObjId};
use crate::request::Response;
use crate::store::json::{create_json, get_json, to_bytes};
use crate::store::{ListOptions, StoreError};

/// Compressors HSDS accepts for dataset filters (`GET /` reports them).
pub const COMPRESSORS: [&str; 6] = ["blosclz", "lz4", "lz4hc", "gzip", "zstd", "deflate"];

/// `limits` of a domain response, from the configuration.
fn limits(ctx: &Ctx<'_>) -> Value {
    let c = &ctx.svc.config;
    json!({"min_chunk_size": c.min_chunk_size, "max_chunk_size": c.max_chunk_size, "max_request_size": c.max_request_size})
}

/// Adds `limits`, `compressors` and `version` (what HSDS mixes into domain responses).
fn add_server_info(ctx: &Ctx<'_>, m: &mut Map<String, Value>) {
    m.insert("limits".into(), limits(ctx));
    m.insert("compressors".into(), json!(COMPRESSORS));
    m.insert("version".into(), json!(super::about::HSDS_COMPAT_VERSION));
}

/// An href to `path` with an explicit `domain` parameter.
fn href_for(ctx: &Ctx<'_>, path: &str, domain: &str) -> String {
    format!("{}{}?domain={}", ctx.base_url(), path, domain)
}

/// The `hrefs` of `GET /` for a domain or folder.
fn domain_hrefs(ctx: &Ctx<'_>, dom: &DomainDoc, with_home: bool) -> Value {
    let mut h = vec![ctx.rel("self", "/")];
    match dom.root() {
        Some(root) => {
            h.push(ctx.rel("database", "/datasets"));
            h.push(ctx.rel("groupbase", "/groups"));
            h.push(ctx.rel("typebase", "/datatypes"));
            h.push(ctx.rel("root", &format!("/groups/{root}")));
            if with_home {
                h.push(ctx.rel("home", "/"));
            }
        }
        None => h.push(json!({"rel": "domains", "href": href_for(ctx, "/domains", &format!("{}/", dom.path))})),
    }
    h.push(ctx.rel("acls", "/acls"));
    if let Some(parent) = dom.path.parent() {
        // HSDS names the parent with its bucket (`hsdstest/home/u`): it builds it from the internal domain id.
        let parent = format!("{}{}", ctx.bucket, parent.as_str());
        h.push(json!({"rel": "parent", "href": href_for(ctx, "/", &parent)}));
    }
    Value::Array(h)
}

/// The summary of a domain or folder JSON: `root, class, owner, created, lastModified`.
fn domain_summary(json: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    match json.get("root") {
        Some(root) => {
            m.insert("root".into(), root.clone());
            m.insert("class".into(), json!("domain"));
        }
        None => {
            m.insert("class".into(), json!("folder"));
        }
    }
    for k in ["owner", "created", "lastModified"] {
        if let Some(v) = json.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    m
}

/// `verbose` statistics of a domain, computed from a listing of its `db/<8>-<8>/` prefix (HSDS reads
/// them from `.info.json`, which its background scan writes and a stateless function never would).
async fn domain_stats(ctx: &Ctx<'_>, dom: &DomainDoc) -> ApiResult<Map<String, Value>> {
    let root = dom.require_root()?;
    let prefix = format!("{}/", root.db_prefix());
    let entries = ctx.store().list_all(&ctx.bucket, &prefix).await?;
    let (mut groups, mut datasets, mut datatypes, mut chunks) = (0u64, 0u64, 0u64, 0u64);
    let (mut allocated, mut metadata, mut last) = (0u64, 0u64, 0f64);
    let mut checksums: Vec<(String, String)> = Vec::new();
    for e in &entries {
        let rest = &e.key[prefix.len()..];
        let obj_id = if rest == ".group.json" {
            groups += 1;
            root.to_string()
        } else {
            let parts: Vec<&str> = rest.split('/').collect();
            match parts.as_slice() {
                [p @ ("g" | "d" | "t"), uuid, name] if name.starts_with('.') && name.ends_with(".json") => {
                    match *p {
                        "g" => groups += 1,
                        "d" => datasets += 1,
                        _ => datatypes += 1,
                    }
                    format!("{p}-{}-{uuid}", &root.to_string()[2..19])
                }
                ["d", uuid, .., chunk] if !chunk.ends_with(".json") => {
                    chunks += 1;
                    allocated += e.size;
                    last = last.max(e.last_modified);
                    checksums.push((format!("c-{}-{uuid}_{chunk}", &root.to_string()[2..19]), etag16(e)));
                    continue;
                }
                _ => continue, // .info.json, .summary.json, ...
            }
        };
        metadata += e.size;
        last = last.max(e.last_modified);
        checksums.push((obj_id, etag16(e)));
    }
    checksums.sort();
    let mut md5 = Md5::new();
    for (_, tag) in &checksums {
        md5.update(tag.as_bytes());
    }
    let md5_sum = if checksums.is_empty() { String::new() } else { hex::encode(md5.finalize()) };
    let domain_bytes = to_bytes(&dom.json).len() as u64;
    let mut m = Map::new();
    m.insert("num_groups".into(), json!(groups));
    m.insert("num_datasets".into(), json!(datasets));
    m.insert("num_datatypes".into(), json!(datatypes));
    m.insert("num_objects".into(), json!(groups + datasets + datatypes + chunks));
    m.insert("total_size".into(), json!(domain_bytes + allocated + metadata));
    m.insert("allocated_bytes".into(), json!(allocated));
    m.insert("metadata_bytes".into(), json!(metadata));
    m.insert("linked_bytes".into(), json!(0));
    m.insert("num_chunks".into(), json!(chunks));
    m.insert("num_linked_chunks".into(), json!(0));
    m.insert("md5_sum".into(), json!(md5_sum));
    m.insert(
        "scan_info".into(),
        json!({"lastModified": last, "num_groups": groups, "num_datatypes": datatypes, "num_chunks": chunks,
               "allocated_bytes": allocated, "metadata_bytes": metadata, "md5_sum": md5_sum,
               "bucket": ctx.bucket, "scan_complete": ctx.now}),
    );
    Ok(m)
}

/// An ETag as HSDS's checksum array holds it: unquoted, cut to 16 bytes (numpy `S16`).
fn etag16(e: &crate::store::ListEntry) -> String {
    let t = e.etag.as_deref().unwrap_or_default().trim_matches('"');
    t.chars().take(16).collect()
}

/// `domain_objs` for `getobjs=1`, as HSDS 1.0.2 answers it: the domain's `db/<root>/.summary.json` (which
/// HSDS's background scan writes) when there is one, else nothing (a client then reads objects one by one).
async fn domain_objs(ctx: &Ctx<'_>, dom: &DomainDoc) -> ApiResult<Option<Value>> {
    let root = dom.require_root()?;
    match get_json(ctx.store(), &ctx.bucket, &format!("{}/.summary.json", root.db_prefix())).await {
        Ok((v, _)) => Ok(Some(v)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `GET /`: the domain or folder JSON (`verbose`, `getobjs`), the object at `h5path`, or, without a
/// domain, the top-level folders.
pub async fn get_domain(ctx: &Ctx<'_>) -> ApiResult<Response> {
    if ctx.domain_param().is_none() {
        // as HSDS: a `host` parameter is only refused when no domain is given
        if ctx.req.get_param("host").is_some() {
            return Err(ApiError::bad_request("passing the domain as 'host' is no longer supported; use 'domain'"));
        }
        let domains = list_folder(ctx, None).await?;
        return Ok(Response::json(200, &json!({"domains": domains, "hrefs": [ctx.rel("self", "/")]})));
    }
    let dom = ctx.authorize(Action::Read).await?;
    if let Some(h5path) = ctx.req.get_param("h5path") {
        return get_by_h5path(ctx, &dom, h5path).await;
    }
    let mut m = domain_summary(&dom.json);
    let last_modified = m.remove("lastModified").unwrap_or(json!(0));
    if ctx.req.flag("verbose") && !dom.is_folder() {
        m.extend(domain_stats(ctx, &dom).await?);
    }
    if ctx.req.flag("getobjs") && !dom.is_folder() {
        if let Some(objs) = domain_objs(ctx, &dom).await? {
            m.insert("domain_objs".into(), objs);
        }
    }
    if !dom.is_folder() {
        add_server_info(ctx, &mut m);
    }
    if ctx.req.flag("getdnids") {
        m.insert("dn_ids".into(), json!(super::about::DN_IDS));
    }
    m.insert("lastModified".into(), last_modified);
    m.insert("hrefs".into(), domain_hrefs(ctx, &dom, false));
    Ok(Response::json(200, &Value::Object(m)))
}

/// The object JSON at `h5path` (from the root, or from `parent_id`), with `domain` and `class`.
async fn get_by_h5path(ctx: &Ctx<'_>, dom: &DomainDoc, h5path: &str) -> ApiResult<Response> {
    let start = start_for_h5path(ctx, dom).await?;
    let (found_in, id) = resolve_h5path(ctx, dom, &start, h5path, Follow::from_request(ctx)).await?;
    let (obj, _) = ctx.load_object(&found_in, &id).await?;
    let mut rsp = object_response(ctx, &found_in, &obj, Include::from_request(ctx));
    if let Some(m) = rsp.as_object_mut() {
        m.remove("bucket");
        m.insert("class".into(), json!(id.kind().collection().trim_end_matches('s')));
        m.insert("hrefs".into(), domain_hrefs(ctx, dom, true));
    }
    Ok(Response::json(200, &rsp))
}

/// `POST /` with `{"h5paths": [...]}`: `{"h5paths": {path: object JSON with its "class"}}`, each path walked
/// from `parent_id` (else the root) as HSDS's `POST_Domain` does; 404 when a path resolves to nothing.
pub async fn post_domain(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let body = ctx.body_object()?;
    let paths: Vec<String> = match body.get("h5paths") {
        None => return Err(ApiError::bad_request("POST / needs a body {\"h5paths\": [\"/path\", ...]}")),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| p.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("h5paths must be a list of strings"))?,
        Some(other) => {
            return Err(ApiError::bad_request(format!("expected a list for h5paths, got {}", kind_of(other))))
        }
    };
    let dom = ctx.authorize(Action::Read).await?;
    let start = start_for_h5path(ctx, &dom).await?;
    let inc = Include::from_request(ctx);
    let follow = Follow::from_request(ctx);
    let (dom, start) = (&dom, &start);
    let found: Vec<(String, Value)> = run_all(
        paths
            .into_iter()
            .map(|p| async move {
                let (found_in, id) = resolve_h5path(ctx, dom, start, &p, follow).await?;
                let (obj, _) = ctx.load_object(&found_in, &id).await?;
                let mut v = object_response(ctx, &found_in, &obj, inc);
                if let Some(m) = v.as_object_mut() {
                    m.remove("bucket");
                    m.insert("class".into(), json!(id.kind().collection().trim_end_matches('s')));
                }
                Ok((p, v))
            })
            .collect::<Vec<_>>(),
    )
    .await?;
    let out: Map<String, Value> = found.into_iter().collect();
    Ok(Response::json(200, &json!({ "h5paths": out })))
}

/// The six ACL flags all set to `on`, in HSDS's order.
fn acl_all(on: bool) -> Value {
    Value::Object(ACL_KEYS.iter().map(|k| (k.to_string(), json!(on))).collect())
}

/// The ACLs of a new domain as HSDS builds them: the parent's entries for other non-admin users that grant
/// something, the owner with every flag, and `default` read-only for folders (or with `DEFAULT_PUBLIC`).
fn new_acls(ctx: &Ctx<'_>, parent: Option<&DomainDoc>, owner: &str, is_folder: bool) -> Value {
    let mut acls = Map::new();
    for (name, acl) in parent.and_then(|p| p.json["acls"].as_object()).into_iter().flatten() {
        let is_admin = ctx.svc.users.is_admin(&crate::auth::Identity::User(name.clone()));
        let grants = ACL_KEYS.iter().any(|k| acl.get(*k).and_then(Value::as_bool) == Some(true));
        if name != "default" && name != owner && !is_admin && grants {
            acls.insert(name.clone(), acl.clone());
        }
    }
    acls.insert(owner.to_string(), acl_all(true));
    if ctx.svc.config.default_public || is_folder {
        let mut d = acl_all(false);
        d["read"] = json!(true);
        acls.insert("default".into(), d);
    }
    Value::Object(acls)
}

/// True when `key` is set as a query flag or truthy in the body.
fn body_or_param(ctx: &Ctx<'_>, body: &Map<String, Value>, key: &str) -> bool {
    ctx.req.flag(key)
        || body.get(key).is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false)) && v != &json!(0) && v != "")
}

/// `PUT /`: create a domain (new root group) or folder (`{"folder": true}`), 201; or with `flush`/`rescan`
/// check `update` and answer 204 (writes are already durable, so there is nothing to flush).
pub async fn put_domain(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let user = ctx.require_user()?.to_string();
    let path = ctx.domain_path()?;
    let body = ctx.body_object()?;
    if body_or_param(ctx, &body, "flush") || body_or_param(ctx, &body, "rescan") {
        let dom = ctx.load_domain(&path).await?;
        if body_or_param(ctx, &body, "rescan") && dom.is_folder() {
            return Err(ApiError::bad_request(format!("rescan is not supported for folder {path}")));
        }
        ctx.check(&dom, Action::Update)?;
        return Ok(Response::empty(204));
    }
    let is_folder =
        body.get("folder").is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false)) && v != &json!(0));
    let owner = match body.get("owner") {
        None | Some(Value::Null) => user.clone(),
        Some(Value::String(o)) if !o.is_empty() => o.clone(),
        Some(_) => return Err(ApiError::bad_request("owner must be a user name")),
    };
    if owner != user && !ctx.is_admin() {
        return Err(ApiError::forbidden("only admin users may set the owner of a new domain"));
    }
    let parent = match path.parent() {
        None if !ctx.is_admin() => {
            return Err(ApiError::forbidden("creation of top-level domains is only supported by admin users"))
        }
        None => None,
        Some(pp) => {
            let parent = ctx
                .find_domain(&pp)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("parent folder {pp} does not exist")))?;
            if !parent.is_folder() {
                return Err(ApiError::bad_request(format!("parent {pp} must be a folder, not a domain")));
            }
            ctx.check(&parent, Action::Create)?;
            Some(parent)
        }
    };
    let linked = linked_root(ctx, &body, is_folder).await?;
    let root = match (&linked, is_folder) {
        (Some((root, _)), _) => Some(root.clone()),
        (None, true) => None,
        (None, false) => Some(root_id_from(&body)?),
    };
    // Opaque to HSDS: any JSON value (the REST VOL sends a base64 string of a binary property list).
    let root_props = body.get("group").and_then(|g| g.get("creationProperties")).cloned();
    match ctx.store().get(&ctx.bucket, &path.key()).await {
        Ok(_) => return Err(ApiError::conflict(format!("domain {path} already exists"))),
        Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let ts = ctx.now;
    let mut dom_json = Map::new();
    if let (Some(root), None) = (&root, &linked) {
        let mut g = json!({"id": root.to_string(), "root": root.to_string(), "created": ts, "lastModified": ts,
                           "links": {}, "attributes": {}});
        if let Some(cp) = root_props {
            g["creationProperties"] = cp;
        }
        match create_json(ctx.store(), &ctx.bucket, &root.s3_key(), &g).await {
            Ok(_) => {}
            Err(StoreError::Precondition(_)) => {
                return Err(ApiError::conflict(format!("root group {root} already exists")))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(root) = &root {
        dom_json.insert("root".into(), json!(root.to_string()));
    }
    if let Some((_, from)) = &linked {
        // remembered so that deleting this domain never deletes the objects it shares (HSDS ignores the key)
        dom_json.insert(LINKED_KEY.into(), json!(from));
    }
    dom_json.insert("owner".into(), json!(owner));
    dom_json.insert("acls".into(), new_acls(ctx, parent.as_ref(), &owner, is_folder));
    dom_json.insert("created".into(), json!(ts));
    dom_json.insert("lastModified".into(), json!(ts));
    let dom_json = Value::Object(dom_json);
    if let Err(e) = create_json(ctx.store(), &ctx.bucket, &path.key(), &dom_json).await {
        if let (Some(root), None) = (&root, &linked) {
            let _ = ctx.store().delete(&ctx.bucket, &root.s3_key()).await;
        }
        return Err(match e {
            StoreError::Precondition(_) => ApiError::conflict(format!("domain {path} already exists")),
            e => e.into(),
        });
    }
    let mut rsp = dom_json.as_object().cloned().unwrap_or_default();
    rsp.remove(LINKED_KEY);
    add_server_info(ctx, &mut rsp);
    Ok(Response::json(201, &Value::Object(rsp)))
}

/// The key of a `.domain.json` made with `linked_domain` that names the domain whose root it shares.
const LINKED_KEY: &str = "linked_domain";

/// `linked_domain` (and `linked_bucket`, default the request's bucket) of a `PUT /` body: the root group
/// of that existing domain, which the new domain then shares, and that domain as `<bucket><path>` (HSDS:
/// 400 for a folder on either side, and the caller needs `read` and `delete` on the linked domain).
async fn linked_root(ctx: &Ctx<'_>, body: &Map<String, Value>, is_folder: bool) -> ApiResult<Option<(ObjId, String)>> {
    let linked = match body.get("linked_domain") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(d)) => DomainPath::parse(d)?,
        Some(_) => return Err(ApiError::bad_request("linked_domain must be a domain path")),
    };
    if is_folder {
        return Err(ApiError::bad_request("folder domains can not be used for links"));
    }
    let bucket = match body.get("linked_bucket") {
        None | Some(Value::Null) => ctx.bucket.clone(),
        Some(Value::String(b)) => b.strip_prefix("s3://").unwrap_or(b).to_string(),
        Some(_) => return Err(ApiError::bad_request("linked_bucket must be a bucket name")),
    };
    crate::store::validate_bucket(&bucket)?;
    let (json, etag) = match crate::store::json::get_json(ctx.store(), &bucket, &linked.key()).await {
        Ok(found) => found,
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(format!("linked domain {linked} not found"))),
        Err(e) => return Err(e.into()),
    };
    let dom = DomainDoc { path: linked, json, etag };
    let root = dom.root().ok_or_else(|| ApiError::bad_request("folder domains cannot be used as link target"))?;
    ctx.check(&dom, Action::Read)?;
    ctx.check(&dom, Action::Delete)?;
    Ok(Some((root, format!("{bucket}{}", dom.path))))
}

/// The root id of a new domain: the client's `root_id` (must be a root group id) or a fresh one.
fn root_id_from(body: &Map<String, Value>) -> ApiResult<ObjId> {
    match body.get("root_id") {
        None | Some(Value::Null) => Ok(ObjId::new_root()),
        Some(Value::String(s)) => {
            let id = ObjId::parse(s)?;
            if !id.is_root() {
                return Err(ApiError::bad_request(format!("invalid client provided root id: {s}")));
            }
            Ok(id)
        }
        Some(_) => Err(ApiError::bad_request("root_id must be a string")),
    }
}

/// `DELETE /`: removes a domain (its `.domain.json`, then every object under its root prefix unless
/// `keep_root=1`) or an empty folder (409 when it has children). Top-level needs admin; needs `delete`.
/// With `meta_only` (param or body) nothing is deleted: as in HSDS, only the cached domain JSON is dropped
/// and the answer is 200 `{}` (HSDS uses it to flush its cache; deleting data here would lose it).
pub async fn delete_domain(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let body = ctx.body_object().unwrap_or_default();
    let meta_only = match body.get("meta_only") {
        Some(v) => !matches!(v, Value::Null | Value::Bool(false)) && v != &json!(0) && v != &json!(""),
        None => ctx.req.get_param("meta_only").is_some_and(|v| !v.is_empty()),
    };
    if meta_only {
        let path = ctx.domain_path()?;
        ctx.svc.meta_cache.remove(&ctx.bucket, &path.key());
        return Ok(Response::json(200, &json!({})));
    }
    ctx.require_user()?;
    let path = ctx.domain_path()?;
    if path.is_top_level() && !ctx.is_admin() {
        return Err(ApiError::forbidden("deletion of top-level domains is only supported by admin users"));
    }
    let dom = ctx.load_domain(&path).await?;
    ctx.check(&dom, Action::Delete)?;
    if dom.is_folder() {
        let listing =
            ctx.store().list(&ctx.bucket, ListOptions::prefix(&path.child_prefix()).delimiter("/").max_keys(2)).await?;
        if !listing.prefixes.is_empty() {
            return Err(ApiError::conflict(format!("folder {path} has sub-items; delete them first")));
        }
    }
    ctx.mark_gone(Tombstone::Domain(&path)).await?;
    ctx.store().delete(&ctx.bucket, &path.key()).await?;
    // A domain made with `linked_domain` shares its objects: deleting it never deletes them (HSDS deletes
    // the shared root group, breaking the other domain).
    let keep_root = ctx.req.flag("keep_root")
        || ctx.body_object().ok().is_some_and(|b| b.get("keep_root").is_some_and(|v| v == true || v == 1))
        || dom.json.get(LINKED_KEY).is_some();
    if let (Some(root), false) = (dom.root(), keep_root) {
        let entries = ctx.store().list_all(&ctx.bucket, &format!("{}/", root.db_prefix())).await?;
        run_all(
            entries
                .into_iter()
                .map(|e| async move { Ok::<_, ApiError>(ctx.store().delete(&ctx.bucket, &e.key).await?) })
                .collect::<Vec<_>>(),
        )
        .await?;
    }
    Ok(Response::json(200, &json!({"domain": path.as_str()})))
}

/// The children of folder `folder` (`None` = top level) as `GET /domains` lists them, after `pattern`,
/// `Marker` and `Limit`; with `verbose` each domain gets its statistics.
async fn list_folder(ctx: &Ctx<'_>, folder: Option<&DomainPath>) -> ApiResult<Vec<Value>> {
    let prefix = folder.map(DomainPath::child_prefix).unwrap_or_default();
    let mut names: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .store()
            .list(&ctx.bucket, ListOptions::prefix(&prefix).delimiter("/").start_after(after.as_deref()))
            .await?;
        // a folder path under which nothing is stored names no folder: 404, as HSDS (its storage
        // listing of a missing directory)
        if let Some(f) = folder.filter(|_| after.is_none() && page.prefixes.is_empty() && page.objects.is_empty()) {
            return Err(ApiError::not_found(format!("folder not found: {f}")));
        }
        for p in &page.prefixes {
            let name = p[prefix.len()..].trim_end_matches('/');
            if !(name.is_empty() || prefix.is_empty() && name == "db") {
                names.push(format!("/{prefix}{name}"));
            }
        }
        let last = page.prefixes.last().cloned().max(page.objects.last().map(|o| o.key.clone()));
        if !page.truncated || last.is_none() {
            break;
        }
        after = last;
    }
    names.sort();
    names.dedup();
    if let Some(p) = ctx.req.get_param("pattern").filter(|p| !p.is_empty()) {
        let glob = Glob::new(p);
        names.retain(|n| glob.matches(n.rsplit('/').next().unwrap_or(n)));
    }
    let names = page(names, ctx.req.get_param("Marker"), limit_param(ctx)?, |n| n.as_str());
    let verbose = ctx.req.flag("verbose");
    let found: Vec<Option<Value>> = run_all(
        names
            .into_iter()
            .map(|name| async move {
                let Ok(path) = DomainPath::parse(&name) else { return Ok(None) };
                let Some(dom) = ctx.find_domain(&path).await? else { return Ok(None) };
                let mut m = domain_summary(&dom.json);
                if verbose && !dom.is_folder() {
                    let last = m.remove("lastModified");
                    m.extend(domain_stats(ctx, &dom).await?);
                    m.extend(last.map(|l| ("lastModified".to_string(), l)));
                }
                m.insert("name".into(), json!(name));
                m.insert("hrefs".into(), json!([{"rel": "domain", "href": href_for(ctx, "/", &name)}]));
                Ok::<_, ApiError>(Some(Value::Object(m)))
            })
            .collect::<Vec<_>>(),
    )
    .await?;
    Ok(found.into_iter().flatten().collect())
}

/// The root group's attributes a domain query sees (HSDS's `_getQueryableFields`): the scalar integer,
/// float and string ones, as the fields of a one-row compound, with that row packed.
fn queryable_row(root: &Value) -> Option<(Vec<Value>, Vec<Value>)> {
    let mut fields = Vec::new();
    let mut values = Vec::new();
    for (name, attr) in root["attributes"].as_object()? {
        let class = attr["type"]["class"].as_str().unwrap_or_default();
        if !["H5T_INTEGER", "H5T_FLOAT", "H5T_STRING"].contains(&class) || attr["shape"]["class"] != "H5S_SCALAR" {
            continue;
        }
        fields.push(json!({"name": name, "type": attr["type"]}));
        values.push(attr.get("value").cloned().unwrap_or(Value::Null));
    }
    Some((fields, values))
}

/// Whether a domain's row matches `query`; `None` when the query can't apply to it (it names an
/// attribute the domain lacks, or the domain has no queryable attribute): then it does not match.
fn row_matches(query: &str, fields: &[Value], values: &[Value]) -> Option<bool> {
    use crate::model::types::Datatype;
    if fields.is_empty() {
        return None;
    }
    let dtype = Datatype::from_json(&json!({"class": "H5T_COMPOUND", "fields": fields})).ok()?;
    let row = crate::model::value::json_to_bytes(&dtype, &[], &Value::Array(values.to_vec())).ok()?;
    let q = crate::model::query::Query::parse(query, &dtype).ok()?;
    q.matches(&row).ok()
}

/// `GET /domains?query=`: keeps the domains whose root group's scalar attributes satisfy `query` (the
/// syntax of dataset value queries); folders never match. As HSDS: a query that is malformed for the
/// union of every candidate's attributes is 400, one naming an attribute a domain lacks just misses it.
async fn query_domains(ctx: &Ctx<'_>, domains: Vec<Value>, query: &str) -> ApiResult<Vec<Value>> {
    let rows: Vec<Option<(Vec<Value>, Vec<Value>)>> = run_all(
        domains
            .iter()
            .map(|d| async move {
                let Some(root) = d.get("root").and_then(Value::as_str).and_then(|r| ObjId::parse(r).ok()) else {
                    return Ok(None);
                };
                match get_json(ctx.store(), &ctx.bucket, &root.s3_key()).await {
                    Ok((g, _)) => Ok(queryable_row(&g)),
                    Err(StoreError::NotFound(_)) => Ok(None),
                    Err(e) => Err(ApiError::from(e)),
                }
            })
            .collect::<Vec<_>>(),
    )
    .await?;
    let mut union: Vec<Value> = Vec::new();
    for (fields, _) in rows.iter().flatten() {
        for f in fields {
            if !union.iter().any(|u| u["name"] == f["name"]) {
                union.push(f.clone());
            }
        }
    }
    if !union.is_empty() {
        let dtype = crate::model::types::Datatype::from_json(&json!({"class": "H5T_COMPOUND", "fields": union}))
            .map_err(|e| ApiError::bad_request(format!("domain query: {e}")))?;
        if let Err(e) = crate::model::query::Query::parse(query, &dtype) {
            if !e.to_string().contains("is not in the type") {
                return Err(ApiError::bad_request(format!("invalid query expression: {e}")));
            }
        }
    }
    Ok(domains
        .into_iter()
        .zip(rows)
        .filter(|(_, row)| row.as_ref().and_then(|(f, v)| row_matches(query, f, v)) == Some(true))
        .map(|(d, _)| d)
        .collect())
}

/// `GET /domains?domain=/folder/`: the folder's children `{name, class, owner, created, lastModified,
/// root?, hrefs}`; without a domain, the top-level folders. `pattern`, `Limit`, `Marker`, `verbose`.
pub async fn get_domains(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let folder = match ctx.domain_param() {
        None => None,
        Some(raw) => DomainPath::parse_folder(raw)?,
    };
    let mut domains = list_folder(ctx, folder.as_ref()).await?;
    if let Some(q) = ctx.req.get_param("query").filter(|q| !q.is_empty()) {
        domains = query_domains(ctx, domains, q).await?;
    }
    // HSDS names the folder with its bucket in this href (`getDomainFromRequest`)
    let this = match ctx.domain_param() {
        Some(d) => href_for(ctx, "/domains", &format!("{}{d}", ctx.bucket)),
        None => format!("{}/domains", ctx.base_url()),
    };
    Ok(Response::json(200, &json!({"domains": domains, "hrefs": [{"rel": "self", "href": this}]})))
}
