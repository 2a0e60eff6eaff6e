//! Attributes of groups, datasets and datatypes: `/{col}/{id}/attributes[/{name}[/value]]`.
//!
//! Attributes live in the object JSON under `attributes: {name: {type, shape, value, created[, encoding]}}`
//! exactly as HSDS 1.0.2 stores them: the type as sent (predefined names expanded, committed types
//! resolved with their `id`), the shape as `{"class"[,"dims"]}`, the value as sent when it came as JSON,
//! decoded to JSON when it came as base64 and is representable, else kept as base64 with `encoding`.
//! Every change is a compare-and-swap of the object JSON; requests are fully validated before writing.

use serde_json::{json, Map, Value};

use super::concurrency::run_all;
use super::context::{kind_of, Ctx, DomainDoc, Tombstone};
use super::typeref::resolve_type;
use crate::auth::Action;
use crate::error::{ApiError, ApiResult};
use crate::model::glob::Glob;
use crate::model::shape::Shape;
use crate::model::types::Datatype;
use crate::model::value::{bytes_to_json_with, decode_base64, encode_base64, json_to_bytes, validate_bytes, JsonOpts};
use crate::model::ObjId;
use crate::request::Response;
use crate::store::cas::{update_entries, update_json, Change};
use crate::store::entries::{Entries, Member};

/// A client-supplied `created` is kept when at most this many seconds old (HSDS `predate_max_time`).
const PREDATE_MAX_TIME: f64 = 10.0;
/// ... and at most this far in the future (HSDS `max_timestamp_drift`).
const MAX_TIMESTAMP_DRIFT: f64 = 300.0;
/// Size assumed per variable-length element when applying `max_data_size` (as HSDS).
const VLEN_SIZE_GUESS: u64 = 512;

// ---------------------------------------------------------------------------------------------------
// Shared helpers

/// The `attributes` map of an object JSON (500 when the stored object has none).
fn attrs_of(obj: &Value) -> ApiResult<&Map<String, Value>> {
    obj.get("attributes")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::internal("stored object has no attributes map"))
}

/// Checks that an object read as [`Entries`] of `attributes` has an attributes map (500 otherwise).
fn attrs_in(obj: &Entries) -> ApiResult<()> {
    match obj.member() {
        Member::Object => Ok(()),
        _ => Err(ApiError::internal("stored object has no attributes map")),
    }
}

fn attrs_of_mut(obj: &mut Value) -> ApiResult<&mut Map<String, Value>> {
    obj.get_mut("attributes")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::internal("stored object has no attributes map"))
}

/// Parsed type and shape of a stored attribute.
pub(super) fn stored_type_shape(attr: &Value) -> ApiResult<(Datatype, Shape)> {
    let bad = |e: crate::model::ModelError| ApiError::internal(format!("stored attribute is invalid: {e}"));
    let dtype = Datatype::from_json(attr.get("type").unwrap_or(&Value::Null)).map_err(bad)?;
    let shape = Shape::from_json(attr.get("shape").unwrap_or(&Value::Null)).map_err(bad)?;
    Ok((dtype, shape))
}

/// The packed bytes of a stored attribute's value (zeros when the value is null).
pub(super) fn stored_bytes(attr: &Value, dtype: &Datatype, shape: &Shape) -> ApiResult<Vec<u8>> {
    let value = attr.get("value").unwrap_or(&Value::Null);
    if attr.get("encoding").and_then(Value::as_str) == Some("base64") {
        let s = value.as_str().ok_or_else(|| ApiError::internal("base64 attribute value is not a string"))?;
        return decode_base64(s).map_err(|e| ApiError::internal(format!("stored attribute value: {e}")));
    }
    if value.is_null() {
        let size = dtype.item_size().unwrap_or(4);
        return Ok(vec![0; shape.checked_byte_size(size, crate::model::value::MAX_VALUE_BYTES)?]);
    }
    json_to_bytes(dtype, shape.dims(), value)
        .map_err(|e| ApiError::internal(format!("stored attribute value does not match its type: {e}")))
}

/// Options of a read: which parts of each attribute to answer.
#[derive(Debug, Clone, Copy)]
struct ReadOpts {
    include_data: bool,
    max_data_size: u64,
    base64: bool,
    /// `ignore_nan`: NaN and ±Infinity in float values answered as `null` (HSDS: simplejson's `ignore_nan`).
    ignore_nan: bool,
}

impl ReadOpts {
    fn from_request(ctx: &Ctx<'_>, include_default: bool) -> ApiResult<Self> {
        let include_data = match ctx.req.get_param("IncludeData") {
            None => include_default,
            Some(_) => ctx.req.flag("IncludeData"),
        };
        let max_data_size = match ctx.req.get_param("max_data_size").filter(|s| !s.is_empty()) {
            None => 0,
            Some(s) => s.parse().map_err(|_| {
                ApiError::bad_request(format!("max_data_size must be a non-negative integer, got {s:?}"))
            })?,
        };
        Ok(ReadOpts {
            include_data,
            max_data_size,
            base64: encoding_param(ctx)?,
            ignore_nan: ctx.req.flag("ignore_nan"),
        })
    }
}

/// True for `encoding=base64`; 400 for any other encoding.
fn encoding_param(ctx: &Ctx<'_>) -> ApiResult<bool> {
    match ctx.req.get_param("encoding").filter(|s| !s.is_empty()) {
        None => Ok(false),
        Some("base64") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("only base64 encoding is supported, got {other:?}"))),
    }
}

/// One attribute as answered by GET/POST: `{created, type, shape, name[, value[, encoding]]}` (HSDS `_getAttribute`).
fn describe_attr(name: &str, attr: &Value, opts: ReadOpts) -> ApiResult<Value> {
    let mut out = Map::new();
    for key in ["created", "type", "shape"] {
        out.insert(key.into(), attr.get(key).cloned().unwrap_or(Value::Null));
    }
    out.insert("name".into(), json!(name));
    let (dtype, shape) = stored_type_shape(attr)?;
    let mut include = opts.include_data;
    if include && opts.max_data_size > 0 {
        let item = dtype.item_size().map_or(VLEN_SIZE_GUESS, |s| s as u64);
        let n = shape.num_elements().unwrap_or(u64::MAX);
        include = item.saturating_mul(n) <= opts.max_data_size;
    }
    if include {
        let value = attr.get("value").cloned().unwrap_or(Value::Null);
        if let Some(enc) = attr.get("encoding") {
            out.insert("encoding".into(), enc.clone());
            out.insert("value".into(), value);
        } else if opts.base64 && dtype.item_size().is_some() && !value.is_null() {
            out.insert("value".into(), json!(encode_base64(&stored_bytes(attr, &dtype, &shape)?)));
            out.insert("encoding".into(), json!("base64"));
        } else {
            out.insert("value".into(), json_value(attr, &dtype, &shape, opts.ignore_nan)?);
        }
    }
    Ok(Value::Object(out))
}

/// A stored attribute's JSON value as answered: as stored, or with `ignore_nan` re-rendered from its
/// packed bytes so that NaN and ±Infinity (stored as the strings `"NaN"`, ...) become `null`.
fn json_value(attr: &Value, dtype: &Datatype, shape: &Shape, ignore_nan: bool) -> ApiResult<Value> {
    let value = attr.get("value").cloned().unwrap_or(Value::Null);
    if !ignore_nan || value.is_null() || dtype.item_size().is_none() {
        return Ok(value);
    }
    let opts = JsonOpts { ignore_nan: true, strict: false };
    bytes_to_json_with(dtype, shape.dims(), &stored_bytes(attr, dtype, shape)?, opts)
        .map_err(|e| ApiError::internal(format!("stored attribute value: {e}")))
}

fn obj_path(id: &ObjId) -> String {
    format!("/{}/{}", id.kind().collection(), id)
}

/// The path of an attribute in hrefs: the name as it is, as HSDS 1.0.2 writes it (clients address
/// attributes by name, never through these hrefs).
fn attr_path(id: &ObjId, name: &str) -> String {
    format!("{}/attributes/{}", obj_path(id), name)
}

fn hrefs(ctx: &Ctx<'_>, id: &ObjId, self_path: &str) -> Value {
    json!([ctx.rel("self", self_path), ctx.rel("home", "/"), ctx.rel("owner", &obj_path(id))])
}

/// Loads the domain (checking `action`) and the object.
async fn load(ctx: &Ctx<'_>, id: &ObjId, action: Action) -> ApiResult<(DomainDoc, Value)> {
    ctx.authorize_object(action, id).await
}

// ---------------------------------------------------------------------------------------------------
// Building attributes from requests

/// Builds the stored JSON of one attribute from its request body `{type, shape, value[, encoding][, created]}`.
async fn build_attr(ctx: &Ctx<'_>, dom: &DomainDoc, name: &str, body: &Value, now: f64) -> ApiResult<Value> {
    let ctx_err = |e: ApiError| {
        let message = format!("attribute {name:?}: {}", e.message);
        e.with_message(message)
    };
    let body = match body {
        Value::Object(m) => m,
        // HSDS 1.0.2 asks `"type" in body`: a string or list has no "type" (400), null, a number or a
        // boolean raise a TypeError (500).
        Value::String(_) | Value::Array(_) => {
            return Err(ctx_err(ApiError::bad_request(format!("expected an object, got {}", kind_of(body)))))
        }
        _ => return Err(ctx_err(ApiError::bad_input_500(format!("expected an object, got {}", kind_of(body))))),
    };
    let ty = body.get("type").ok_or_else(|| ctx_err(ApiError::bad_request("expected type in body")))?;
    let type_json = resolve_type(ctx, dom, ty).await.map_err(ctx_err)?;
    let dtype = Datatype::from_json(&type_json).map_err(|e| ctx_err(e.into()))?;
    let shape = Shape::from_request(body.get("shape")).map_err(|e| ctx_err(e.into()))?;
    // attributes are never extensible: HSDS keeps only class and dims
    let shape = match shape {
        Shape::Simple { dims, .. } => Shape::simple(dims),
        other => other,
    };
    let (value, encoded) = attr_value(&dtype, &shape, body).map_err(ctx_err)?;
    let created = match body.get("created").and_then(Value::as_f64) {
        Some(c) if now - c < PREDATE_MAX_TIME && c - now <= MAX_TIMESTAMP_DRIFT => c,
        _ => now,
    };
    let mut attr = json!({"type": type_json, "shape": shape.to_json(), "value": value, "created": created});
    if encoded {
        attr["encoding"] = json!("base64");
    }
    Ok(attr)
}

/// The value to store for a request body, and whether it is stored base64-encoded.
fn attr_value(dtype: &Datatype, shape: &Shape, body: &Map<String, Value>) -> ApiResult<(Value, bool)> {
    let value = match body.get("value") {
        None | Some(Value::Null) => return Ok((Value::Null, false)),
        Some(v) => v,
    };
    if shape.is_null() {
        return Err(ApiError::bad_request("a value can not be included with an H5S_NULL shape"));
    }
    if body.get("encoding").is_some_and(|e| !e.is_null()) {
        if body.get("encoding").and_then(Value::as_str) != Some("base64") {
            return Err(ApiError::bad_request("only base64 encoding is supported"));
        }
        if dtype.is_vlen() {
            return Err(ApiError::bad_request("base64 encoding is not supported for variable length attributes"));
        }
        let s = value.as_str().ok_or_else(|| ApiError::bad_request("a base64 encoded value must be a string"))?;
        let bytes = decode_base64(s)?;
        Ok(store_bytes(dtype, shape, &bytes)?)
    } else {
        json_to_bytes(dtype, shape.dims(), value).map_err(value_mismatch)?;
        Ok((value.clone(), false))
    }
}

/// How packed bytes are stored: as JSON when representable (scalar as a bare element), else base64.
fn store_bytes(dtype: &Datatype, shape: &Shape, bytes: &[u8]) -> ApiResult<(Value, bool)> {
    let n = shape.num_elements()?;
    validate_bytes(dtype, n, bytes).map_err(|e| ApiError::bad_request(format!("encoded data: {e}")))?;
    let strict = JsonOpts { ignore_nan: false, strict: true };
    match bytes_to_json_with(dtype, shape.dims(), bytes, strict) {
        Ok(Value::Array(a)) if a.is_empty() => Ok((json!(encode_base64(bytes)), true)),
        Ok(v) => Ok((v, false)),
        Err(_) => Ok((json!(encode_base64(bytes)), true)),
    }
}

/// HSDS `isEqualAttr`: same type, shape and (unless NULL space) value.
fn same_attr(a: &Value, b: &Value) -> bool {
    a.get("type") == b.get("type")
        && a.get("shape") == b.get("shape")
        && (a["shape"]["class"] == "H5S_NULL" || a.get("value") == b.get("value"))
}

/// Applies attribute puts to one object JSON: 201 when something was added or replaced, 200 when all
/// were identical, 409 for a different existing attribute without `replace`.
fn apply_puts(obj: &mut Entries, items: &[(String, Value)], replace: bool, now: f64) -> ApiResult<Change<u16>> {
    attrs_in(obj)?;
    let mut changed = false;
    for (name, item) in items {
        let mut item = item.clone();
        if let Some(old) = obj.get(name) {
            if same_attr(&old, &item) {
                continue;
            }
            if !replace {
                return Err(ApiError::conflict(format!(
                    "attribute {name:?} already exists with a different type, shape or value; use replace=1 to overwrite"
                )));
            }
            item["created"] = old.get("created").cloned().unwrap_or(json!(now));
        }
        obj.insert(name, &item);
        changed = true;
    }
    if changed {
        obj.set_top("lastModified", &json!(now));
        Ok(Change::Write(201))
    } else {
        Ok(Change::Keep(200))
    }
}

/// The `attributes` map of a body as `(name, stored attribute)` pairs (also used for the `attributes` of a
/// create body).
pub async fn build_attrs(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    attributes: &Value,
    now: f64,
) -> ApiResult<Vec<(String, Value)>> {
    let map = attributes.as_object().ok_or_else(|| {
        ApiError::bad_request(format!("expected an object for attributes but got {}", kind_of(attributes)))
    })?;
    let mut out = Vec::with_capacity(map.len());
    // An empty name is accepted here, as HSDS 1.0.2 accepts it (no URL can name that attribute later).
    for (name, body) in map {
        out.push((name.clone(), build_attr(ctx, dom, name, body, now).await?));
    }
    Ok(out)
}

fn validate_name(name: &str) -> ApiResult<()> {
    if name.is_empty() {
        return Err(ApiError::bad_request("attribute names must not be empty"));
    }
    Ok(())
}

/// Writes `items` into each object (validated and conflict-checked on all objects first).
async fn put_into(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    targets: Vec<(ObjId, Vec<(String, Value)>)>,
    replace: bool,
) -> ApiResult<u16> {
    let now = ctx.now;
    if let [(id, items)] = targets.as_slice() {
        // One object: its compare-and-swap checks the same things and writes nothing on a conflict.
        return ctx.update_object(id, "attributes", |obj: &mut Entries| apply_puts(obj, items, replace, now)).await;
    }
    // dry run on the current state of every object, so a conflict or a missing object writes nothing
    for (id, items) in &targets {
        let (obj, _) = ctx.load_object(dom, id).await?;
        let mut obj = Entries::from_value(obj, "attributes").map_err(ApiError::internal)?;
        apply_puts(&mut obj, items, replace, now)?;
    }
    let mut status = 200;
    for (id, items) in &targets {
        let s = update_entries(ctx.store(), &ctx.bucket, &id.s3_key(), "attributes", |obj: &mut Entries| {
            apply_puts(obj, items, replace, now)
        })
        .await?;
        status = status.max(s);
    }
    Ok(status)
}

// ---------------------------------------------------------------------------------------------------
// Routes

/// `GET /{col}/{id}/attributes`: list attributes (sorted by name, or creation with `CreateOrder`),
/// paged by `Limit`/`Marker`, filtered by `pattern`, with values when `IncludeData`. With `follow_links`
/// (groups only) `{"attributes": {obj_id: [...]}}` for this group and every object reachable from it
/// through hard links, `Limit` counting attributes over all of them (HSDS's `DomainCrawler`).
pub async fn get_attributes(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let opts = ReadOpts::from_request(ctx, false)?;
    let limit = super::paging::listing_limit(ctx)?;
    let follow = ctx.req.flag("follow_links");
    if follow && id.kind() != crate::model::ObjKind::Group {
        return Err(ApiError::bad_request("follow_links can only be used with group ids"));
    }
    let (dom, obj) = load(ctx, id, Action::Read).await?;
    let self_path = format!("{}/attributes", obj_path(id));
    let attributes = if follow {
        let mut left = limit.unwrap_or(usize::MAX);
        let mut out = Map::new();
        for (oid, o) in super::graph::crawl_objects(ctx, &dom, id).await? {
            let list = list_attrs(ctx, attrs_of(&o)?, opts, None, Some(left))?;
            left -= list.len();
            out.insert(oid.to_string(), Value::Array(list));
        }
        Value::Object(out)
    } else {
        let marker = ctx.req.get_param("Marker").filter(|m| !m.is_empty());
        let mut list = list_attrs(ctx, attrs_of(&obj)?, opts, marker, limit)?;
        for a in &mut list {
            let name = a["name"].as_str().unwrap_or_default().to_string();
            a["href"] = json!(ctx.href(&attr_path(id, &name)));
        }
        Value::Array(list)
    };
    Ok(Response::json(200, &json!({"attributes": attributes, "hrefs": hrefs(ctx, id, &self_path)})))
}

/// One object's attributes as listed: sorted by name (or `CreateOrder`), after `marker` (404 when it
/// names none), at most `limit`, then filtered by `pattern` (HSDS's data node `GET_Attributes`).
fn list_attrs(
    ctx: &Ctx<'_>,
    attrs: &Map<String, Value>,
    opts: ReadOpts,
    marker: Option<&str>,
    limit: Option<usize>,
) -> ApiResult<Vec<Value>> {
    let pattern: Option<Glob> = ctx.req.get_param("pattern").filter(|p| !p.is_empty()).map(Glob::new);
    let mut names: Vec<&String> = attrs.keys().collect();
    if ctx.req.flag("CreateOrder") {
        let created = |n: &String| attrs[n.as_str()].get("created").and_then(Value::as_f64).unwrap_or(0.0);
        names.sort_by(|a, b| created(a).total_cmp(&created(b)).then(a.cmp(b)));
    } else {
        names.sort();
    }
    let mut start = 0;
    if let Some(marker) = marker {
        start = names
            .iter()
            .position(|n| n.as_str() == marker)
            .map(|p| p + 1)
            .ok_or_else(|| ApiError::not_found(format!("attribute marker {marker:?} not found")))?;
    }
    let end = limit.map_or(names.len(), |l| names.len().min(start.saturating_add(l)));
    let mut list = Vec::new();
    for name in &names[start..end] {
        if pattern.as_ref().is_some_and(|p| !p.matches(name)) {
            continue;
        }
        list.push(describe_attr(name, &attrs[name.as_str()], opts)?);
    }
    Ok(list)
}

/// `POST /{col}/{id}/attributes`: fetch named attributes (`attr_names`) of this object, or of several
/// objects (`obj_ids` list → all their attributes; dict → names per object). 404 if a name is missing.
pub async fn post_attributes(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let body = ctx.body_object()?;
    let names_of = |v: &Value| -> ApiResult<Vec<String>> {
        let list = v.as_array().ok_or_else(|| {
            ApiError::bad_request(format!("expected a list of attribute names but got {}", kind_of(v)))
        })?;
        list.iter()
            .map(|n| {
                n.as_str().map(str::to_string).ok_or_else(|| ApiError::bad_request("attribute names must be strings"))
            })
            .collect()
    };
    let attr_names = body.get("attr_names").map(names_of).transpose()?;
    let mut items: Vec<(ObjId, Option<Vec<String>>)> = Vec::new();
    match body.get("obj_ids") {
        None => match attr_names {
            None => return Err(ApiError::bad_request("expected body to contain attr_names and/or obj_ids")),
            Some(n) => items.push((id.clone(), Some(n))),
        },
        Some(Value::Array(ids)) => {
            for raw in ids {
                let s = raw.as_str().ok_or_else(|| ApiError::bad_request("obj_ids must be id strings"))?;
                items.push((ObjId::parse(s)?, None));
            }
        }
        Some(Value::Object(map)) => {
            if attr_names.is_some() {
                return Err(ApiError::bad_request("attr_names must not be given when obj_ids is a dict"));
            }
            for (s, names) in map {
                items.push((ObjId::parse(s)?, Some(names_of(names)?)));
            }
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!("obj_ids must be a list or a dict, got {}", kind_of(other))))
        }
    }
    if items.is_empty() {
        return Err(ApiError::bad_request("no obj_ids given"));
    }
    let opts = ReadOpts::from_request(ctx, false)?;
    let dom = ctx.authorize(Action::Read).await?;
    let mut per_obj = Map::new();
    for (oid, names) in &items {
        let (obj, _) = ctx.load_object(&dom, oid).await?;
        let attrs = attrs_of(&obj)?;
        let mut list = Vec::new();
        match names {
            Some(names) => {
                for n in names {
                    let a = attrs
                        .get(n)
                        .ok_or_else(|| ApiError::not_found(format!("attribute {n:?} not found in {oid}")))?;
                    list.push(describe_attr(n, a, opts)?);
                }
            }
            None => {
                let mut all: Vec<&String> = attrs.keys().collect();
                all.sort();
                for n in all {
                    list.push(describe_attr(n, &attrs[n.as_str()], opts)?);
                }
            }
        }
        per_obj.insert(oid.to_string(), Value::Array(list));
    }
    // HSDS answers a plain list when one object was asked for, a dict keyed by id otherwise
    let attributes = if items.len() == 1 {
        per_obj.into_iter().next().map(|(_, v)| v).unwrap_or_default()
    } else {
        Value::Object(per_obj)
    };
    Ok(Response::json(200, &json!({"attributes": attributes})))
}

/// `PUT /{col}/{id}/attributes`: create attributes from `attributes: {name: {...}}`, on this object or on several (`obj_ids` list = same attributes everywhere,
/// dict = `{id: {attributes}}`). 201 if anything was created, 200 if all existed identically, 409 otherwise.
pub async fn put_attributes(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let body = ctx.body_object()?;
    let replace = ctx.req.flag("replace");
    let dom = ctx.authorize(Action::Create).await?;
    let now = ctx.now;
    // only an `attributes` map, as HSDS's `getAttributesFromRequest` (a bare `{name, type, ...}` is
    // "no attributes provided")
    let items = match body.get("attributes") {
        Some(a) => build_attrs(ctx, &dom, a, now).await?,
        None => Vec::new(),
    };
    let mut targets = Vec::new();
    match body.get("obj_ids") {
        None => {
            if items.is_empty() {
                return Err(ApiError::bad_request("no attributes provided"));
            }
            targets.push((id.clone(), items));
        }
        Some(Value::Array(ids)) => {
            if items.is_empty() {
                return Err(ApiError::bad_request("no attributes provided"));
            }
            for raw in ids {
                let s = raw.as_str().ok_or_else(|| ApiError::bad_request("obj_ids must be id strings"))?;
                targets.push((ObjId::parse(s)?, items.clone()));
            }
        }
        Some(Value::Object(map)) => {
            if !items.is_empty() {
                return Err(ApiError::bad_request("attributes defined outside the obj_ids dict"));
            }
            for (s, spec) in map {
                let oid = ObjId::parse(s)?;
                let attrs = spec
                    .get("attributes")
                    .ok_or_else(|| ApiError::bad_request(format!("expected an attributes map for object {s}")))?;
                let obj_items = build_attrs(ctx, &dom, attrs, now).await?;
                if !obj_items.is_empty() {
                    targets.push((oid, obj_items));
                }
            }
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!("obj_ids must be a list or a dict, got {}", kind_of(other))))
        }
    }
    if targets.is_empty() {
        return Err(ApiError::bad_request("no obj_ids defined"));
    }
    for (oid, _) in &targets {
        ctx.check_member(&dom, oid).await?;
    }
    let status = put_into(ctx, &dom, targets, replace).await?;
    Ok(Response::json(status, &json!({})))
}

/// `DELETE /{col}/{id}/attributes?attr_names=a/b[&separator=|][&encoding=base64]`. As HSDS 1.0.2: the
/// names are removed in order up to the first that does not exist, and the answer is 200 all the same
/// (its data node stops with 404 there, which its service node swallows).
pub async fn delete_attributes(ctx: &Ctx<'_>, id: &ObjId) -> ApiResult<Response> {
    let raw = ctx
        .req
        .get_param("attr_names")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("expected attr_names query param"))?;
    let raw = if encoding_param(ctx)? {
        String::from_utf8(decode_base64(raw)?)
            .map_err(|_| ApiError::bad_request("attr_names is not base64 of UTF-8 text"))?
    } else {
        raw.to_string()
    };
    let sep = ctx.req.get_param("separator").filter(|s| !s.is_empty()).unwrap_or("/");
    let names: Vec<String> = raw.split(sep).map(str::to_string).collect();
    remove_attrs(ctx, id, &names).await?;
    Ok(Response::json(200, &json!({"hrefs": []})))
}

/// Removes `names` in order up to the first one `id` lacks, each tombstoned first (so a later read of it
/// answers 410 Gone, as HSDS).
async fn remove_attrs(ctx: &Ctx<'_>, id: &ObjId, names: &[String]) -> ApiResult<()> {
    let dom = ctx.authorize(Action::Delete).await?;
    let (obj, _) = ctx.load_object(&dom, id).await?;
    let present: Vec<&String> = names.iter().take_while(|n| attrs_of(&obj).is_ok_and(|a| a.contains_key(*n))).collect();
    run_all(present.into_iter().map(|n| ctx.mark_gone(Tombstone::Attribute(id, n))).collect::<Vec<_>>()).await?;
    let key = id.s3_key();
    update_entries(ctx.store(), &ctx.bucket, &key, "attributes", |obj: &mut Entries| {
        attrs_in(obj)?;
        let mut removed = false;
        for n in names {
            if !obj.remove(n) {
                break;
            }
            removed = true;
        }
        if !removed {
            return Ok(Change::Keep(()));
        }
        obj.set_top("lastModified", &json!(ctx.now));
        Ok(Change::Write(()))
    })
    .await
}

/// The error for an attribute `name` that `id` lacks: 410 when it was deleted, else 404.
async fn missing_attr(ctx: &Ctx<'_>, id: &ObjId, name: &str) -> ApiError {
    match ctx.is_gone(Tombstone::Attribute(id, name)).await {
        Ok(true) => ApiError::gone(format!("attribute {name:?} of {id} was deleted")),
        Ok(false) => ApiError::not_found(format!("attribute {name:?} not found in {id}")),
        Err(e) => e,
    }
}

/// A 400 (or 413) for a value that does not fit its attribute's type and shape.
fn value_mismatch(e: crate::model::ModelError) -> ApiError {
    let e = match e {
        // HSDS 1.0.2 answers 500 for an attribute value out of its type's range (400 for dataset values).
        crate::model::ModelError::OutOfRange(msg) => ApiError::bad_input_500(msg),
        other => ApiError::from(other),
    };
    let message = format!("input data doesn't match the type and shape: {}", e.message);
    e.with_message(message)
}

/// `GET /{col}/{id}/attributes/{name}`: `{name, type, shape, value, created, lastModified[, encoding], hrefs}`.
pub async fn get_attribute(ctx: &Ctx<'_>, id: &ObjId, name: &str) -> ApiResult<Response> {
    let opts = ReadOpts::from_request(ctx, true)?;
    let (_, obj) = load(ctx, id, Action::Read).await?;
    let Some(attr) = attrs_of(&obj)?.get(name) else { return Err(missing_attr(ctx, id, name).await) };
    let d = describe_attr(name, attr, opts)?;
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    for key in ["type", "shape", "value"] {
        if let Some(v) = d.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    out.insert("created".into(), d["created"].clone());
    out.insert("lastModified".into(), d["created"].clone());
    if let Some(e) = d.get("encoding") {
        out.insert("encoding".into(), e.clone());
    }
    out.insert("hrefs".into(), hrefs(ctx, id, &attr_path(id, name)));
    Ok(Response::json(200, &Value::Object(out)))
}

/// `PUT /{col}/{id}/attributes/{name}`: create one attribute from `{type, shape, value[, encoding]}`.
pub async fn put_attribute(ctx: &Ctx<'_>, id: &ObjId, name: &str) -> ApiResult<Response> {
    validate_name(name)?;
    if ctx.body_is_blank() {
        return Err(ApiError::bad_request("PUT attribute with no body"));
    }
    let body = ctx.body_json()?;
    let dom = ctx.authorize(Action::Create).await?;
    ctx.check_member(&dom, id).await?;
    let item = build_attr(ctx, &dom, name, &body, ctx.now).await?;
    let status =
        put_into(ctx, &dom, vec![(id.clone(), vec![(name.to_string(), item)])], ctx.req.flag("replace")).await?;
    Ok(Response::json(status, &json!({})))
}

/// `DELETE /{col}/{id}/attributes/{name}` (200 also when absent, as HSDS 1.0.2).
pub async fn delete_attribute(ctx: &Ctx<'_>, id: &ObjId, name: &str) -> ApiResult<Response> {
    remove_attrs(ctx, id, &[name.to_string()]).await?;
    Ok(Response::json(200, &json!({})))
}

/// `GET .../attributes/{name}/value`: JSON `{value[, encoding], hrefs}`, or the packed bytes with
/// `Accept: application/octet-stream` (fixed-size types only; vlen types fall back to JSON).
pub async fn get_attribute_value(ctx: &Ctx<'_>, id: &ObjId, name: &str) -> ApiResult<Response> {
    let base64 = encoding_param(ctx)?;
    let ignore_nan = ctx.req.flag("ignore_nan");
    let (_, obj) = load(ctx, id, Action::Read).await?;
    let Some(attr) = attrs_of(&obj)?.get(name) else { return Err(missing_attr(ctx, id, name).await) };
    let (dtype, shape) = stored_type_shape(attr)?;
    if shape.is_null() {
        return Err(ApiError::bad_request("null space attributes can not be read"));
    }
    let fixed = dtype.item_size().is_some();
    if fixed && ctx.req.wants_binary() {
        return Ok(Response::binary(stored_bytes(attr, &dtype, &shape)?));
    }
    let mut out = Map::new();
    let value = attr.get("value").cloned().unwrap_or(Value::Null);
    if attr.get("encoding").is_some() {
        out.insert("value".into(), value);
        out.insert("encoding".into(), json!("base64"));
    } else if base64 && fixed {
        out.insert("value".into(), json!(encode_base64(&stored_bytes(attr, &dtype, &shape)?)));
        out.insert("encoding".into(), json!("base64"));
    } else {
        out.insert("value".into(), json_value(attr, &dtype, &shape, ignore_nan)?);
    }
    out.insert("hrefs".into(), hrefs(ctx, id, &attr_path(id, name)));
    Ok(Response::json(200, &Value::Object(out)))
}

/// `PUT .../attributes/{name}/value`: replace the value from JSON `{value[, encoding]}` or a binary body
/// (fixed-size types); the attribute keeps its type, shape and `created`.
pub async fn put_attribute_value(ctx: &Ctx<'_>, id: &ObjId, name: &str) -> ApiResult<Response> {
    let binary = ctx.req.body_is_binary();
    if let Some(ct) = ctx.req.get_header("content-type") {
        if !binary && !ct.contains("application/json") {
            return Err(ApiError::bad_request(format!("unknown Content-Type {ct:?}")));
        }
    }
    let body = if binary { Value::Null } else { Value::Object(ctx.body_object()?) };
    if !binary && body.get("value").is_none() {
        return Err(ApiError::bad_request("PUT attribute value with no value in body"));
    }
    let (_, obj) = load(ctx, id, Action::Update).await?;
    let Some(attr) = attrs_of(&obj)?.get(name) else { return Err(missing_attr(ctx, id, name).await) };
    let (dtype, shape) = stored_type_shape(attr)?;
    if shape.is_null() {
        return Err(ApiError::bad_request("null space attributes can not be updated"));
    }
    let bytes = if binary {
        let size = dtype
            .item_size()
            .ok_or_else(|| ApiError::bad_request("only JSON is supported for variable length data types"))?;
        let expected = shape.checked_byte_size(size, crate::model::value::MAX_VALUE_BYTES)?;
        if ctx.req.body.len() != expected {
            return Err(ApiError::bad_request(format!("expected {expected} bytes but got {}", ctx.req.body.len())));
        }
        ctx.req.body.to_vec()
    } else {
        let value = &body["value"];
        if value.is_null() {
            let size = dtype.item_size().unwrap_or(4);
            vec![0; shape.checked_byte_size(size, crate::model::value::MAX_VALUE_BYTES)?]
        } else if body.get("encoding").and_then(Value::as_str) == Some("base64") {
            let s = value.as_str().ok_or_else(|| ApiError::bad_request("a base64 encoded value must be a string"))?;
            let bytes = decode_base64(s)?;
            validate_bytes(&dtype, shape.num_elements()?, &bytes)
                .map_err(|e| ApiError::bad_request(format!("encoded data: {e}")))?;
            bytes
        } else {
            json_to_bytes(&dtype, shape.dims(), value).map_err(value_mismatch)?
        }
    };
    let (value, encoded) = store_bytes(&dtype, &shape, &bytes)?;
    let name_s = name.to_string();
    let now = ctx.now;
    update_json::<_, ApiError, _>(ctx.store(), &ctx.bucket, &id.s3_key(), |obj: &mut Value| {
        let attrs = attrs_of_mut(obj)?;
        let cur = attrs
            .get_mut(&name_s)
            .ok_or_else(|| ApiError::not_found(format!("attribute {name_s:?} not found in {id}")))?;
        let mut new = json!({"type": cur["type"], "shape": cur["shape"], "value": value, "created": cur["created"]});
        if encoded {
            new["encoding"] = json!("base64");
        }
        if same_attr(cur, &new) && cur.get("encoding") == new.get("encoding") {
            return Ok(Change::Keep(()));
        }
        *cur = new;
        obj["lastModified"] = json!(now);
        Ok(Change::Write(()))
    })
    .await?;
    Ok(Response::json(200, &json!({})))
}
