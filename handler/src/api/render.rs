//! Describing objects in responses: the JSON of `GET /groups|/datasets|/datatypes/{id}` and its `hrefs`.

use serde_json::{json, Map, Value};

use super::link::stored::link_out;
use super::{Ctx, DomainDoc};
use crate::model::shape::Shape;
use crate::model::{ObjId, ObjKind};

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

/// The `hrefs` of an object GET: self, (links for groups), root, home, attributes, and for a dataset
/// `data` (at most 100 elements) or `preview` (a `select` of at most ~100 of them), none for a null space
/// (HSDS's `GET_Dataset`).
pub fn object_hrefs(ctx: &Ctx<'_>, id: &ObjId, obj: &Value) -> Value {
    let this = format!("/{}/{id}", id.kind().collection());
    let mut h = vec![ctx.rel("self", &this)];
    if id.kind() == ObjKind::Group {
        h.push(ctx.rel("links", &format!("{this}/links")));
    }
    h.push(ctx.rel("root", &format!("/groups/{}", id.root())));
    h.push(ctx.rel("home", "/"));
    h.push(ctx.rel("attributes", &format!("{this}/attributes")));
    if id.kind() == ObjKind::Dataset {
        if let Ok(shape) = Shape::from_json(&obj["shape"]) {
            let value = format!("{this}/value");
            if shape.num_elements().is_ok_and(|n| n <= 100) && !shape.is_null() {
                h.push(ctx.rel("data", &value));
            } else if !shape.is_null() {
                let href = ctx.href(&value);
                let sep = if href.contains('?') { '&' } else { '?' };
                h.push(json!({"rel": "preview", "href": format!("{href}{sep}{}", preview_query(shape.dims()))}));
            }
        }
    }
    Value::Array(h)
}

/// HSDS's `getPreviewQuery`: `select=[...]` covering at most ~100 elements of the last two dimensions.
fn preview_query(dims: &[u64]) -> String {
    let rank = dims.len();
    let mut ncols = dims.last().copied().unwrap_or(1).min(100);
    let mut nrows = if rank > 1 { dims[rank - 2].min(100) } else { 1 };
    if nrows * ncols > 100 {
        if nrows > ncols {
            nrows = 100 / ncols;
        } else {
            ncols = 100 / nrows;
        }
    }
    let terms: Vec<String> = (0..rank)
        .map(|i| match i {
            _ if i == rank - 1 => format!("0:{ncols}"),
            _ if i + 2 == rank => format!("0:{nrows}"),
            _ => "0:1".to_string(),
        })
        .collect();
    format!("select=[{}]", terms.join(","))
}
