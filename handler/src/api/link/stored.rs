//! Links as stored in a group's `links` dict: their classes, the stored form of a client's link body,
//! equality, and the form responses show.
//!
//! HSDS 1.0.2 stores a link PUT on its own as `{"id","created","class"}` (hard), `{"h5path","created","class"}`
//! (soft) and `{"h5path","file","created","class"}` (external; older HSDS wrote `h5domain`, which is read too),
//! and the link made with a new object as `{"id","class","created"}` (fixtures/hsds/answers.json, `key_orders`).
//! Responses name an external link's file `file`, as HSDS 1.0.2 does (h5pyd 1.0 reads that key).

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::model::ObjId;
use crate::store::entries::{Entries, Member};

/// How far in the past a client-supplied `created` may be and still be kept (HSDS `predate_max_time`).
pub const PREDATE_MAX_TIME: f64 = 10.0;

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
    m.insert("class".into(), json!(class)); // last, as HSDS 1.0.2's data node stores it
    Ok(Value::Object(m))
}

/// The external file of a stored link (`file`, or `h5domain` as older HSDS wrote it).
pub fn link_file(link: &Value) -> Option<&str> {
    link.get("file").or_else(|| link.get("h5domain")).and_then(Value::as_str)
}

/// The class of a stored link.
pub fn stored_class(link: &Value) -> &str {
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

/// The `links` map of a group JSON, for in-place edits; 500 when the stored group has none.
pub fn links_mut(group: &mut Value) -> ApiResult<&mut Map<String, Value>> {
    if group.get("links").is_none() {
        group["links"] = json!({});
    }
    group["links"].as_object_mut().ok_or_else(|| ApiError::internal("stored group has a non-object 'links'"))
}

/// [`links_mut`] for a group read as [`Entries`] of `links`: an absent map becomes an empty one; 500 when the
/// stored group has something else there.
pub fn links_in(group: &mut Entries) -> ApiResult<()> {
    if group.member() == Member::Other {
        return Err(ApiError::internal("stored group has a non-object 'links'"));
    }
    group.make_object();
    Ok(())
}

/// The target of a hard link, if `link` is one.
pub fn hard_target(link: &Value) -> Option<ObjId> {
    if link.get("class").and_then(Value::as_str).is_some_and(|c| c != "H5L_TYPE_HARD") {
        return None;
    }
    link.get("id").and_then(Value::as_str).and_then(|s| ObjId::parse(s).ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_is_kept_only_when_recent() {
        assert_eq!(client_created(Some(&json!(95.0)), 100.0), 95.0);
        assert_eq!(client_created(Some(&json!(50.0)), 100.0), 100.0);
        assert_eq!(client_created(Some(&json!("x")), 100.0), 100.0);
        assert_eq!(client_created(None, 100.0), 100.0);
    }

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
