//! Domain ACLs: `GET /acls`, `GET/PUT /acls/{user}`.
//!
//! ACLs live in the `acls` dict of `.domain.json`. As in HSDS 1.0.2, `PUT /acls/{user}` requires the
//! `updateACL` permission, and an entry written through the API also
//! records `"domain": "<bucket><path>"`.

use serde_json::{json, Map, Value};

use super::{Ctx, DomainDoc};
use crate::auth::{Action, ACL_KEYS};
use crate::error::{ApiError, ApiResult};
use crate::request::Response;
use crate::store::cas::{update_entries, Change};
use crate::store::entries::Entries;

/// `hrefs` of the ACL routes: self, root (domains only), home, owner.
fn acl_hrefs(ctx: &Ctx<'_>, dom: &DomainDoc) -> Value {
    let mut h = vec![ctx.rel("self", "/acls")];
    if let Some(root) = dom.root() {
        h.push(ctx.rel("root", &format!("/groups/{root}")));
    }
    h.push(ctx.rel("home", "/"));
    h.push(ctx.rel("owner", "/"));
    Value::Array(h)
}

/// One ACL entry with its `userName`.
fn named(user: &str, acl: &Value) -> Value {
    let mut m = acl.as_object().cloned().unwrap_or_default();
    m.insert("userName".into(), json!(user));
    Value::Object(m)
}

/// `GET /acls`: every entry of the domain's ACLs, with `userName`, sorted by user name; needs `readACL`.
pub async fn get_acls(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let dom = ctx.authorize(Action::ReadAcl).await?;
    // sorted by user name, as HSDS lists them
    let mut users: Vec<(&String, &Value)> = dom.json["acls"].as_object().into_iter().flatten().collect();
    users.sort_by(|a, b| a.0.cmp(b.0));
    let acls: Vec<Value> = users.into_iter().map(|(u, a)| named(u, a)).collect();
    Ok(Response::json(200, &json!({"acls": acls, "hrefs": acl_hrefs(ctx, &dom)})))
}

/// `GET /acls/{user}`: one entry; needs `read` for the caller's own entry or `default`, else `readACL`.
/// 404 when the domain has no entry for `user`.
pub async fn get_acl(ctx: &Ctx<'_>, user: &str) -> ApiResult<Response> {
    let own = user == "default" || user == ctx.identity.acl_name();
    let dom = ctx.authorize(if own { Action::Read } else { Action::ReadAcl }).await?;
    let acl =
        dom.json["acls"].get(user).ok_or_else(|| ApiError::not_found(format!("no ACL for {user} in {}", dom.path)))?;
    Ok(Response::json(200, &json!({"acl": named(user, acl), "hrefs": acl_hrefs(ctx, &dom)})))
}

/// Checks a `PUT /acls/{user}` body: an object whose keys are ACL flags with boolean values.
fn parse_flags(body: Map<String, Value>) -> ApiResult<Map<String, Value>> {
    for (k, v) in &body {
        if !ACL_KEYS.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unexpected key {k:?} in ACL body; allowed: {}",
                ACL_KEYS.join(", ")
            )));
        }
        if !v.is_boolean() {
            return Err(ApiError::bad_request(format!("ACL flag {k} must be true or false")));
        }
    }
    Ok(body)
}

/// The `PUT /acls/{user}` body: 400 when there is none; 500 when it is JSON but not an object, as HSDS 1.0.2
/// answers (it calls `.keys()` on whatever it parsed).
fn acl_body(ctx: &Ctx<'_>) -> ApiResult<Map<String, Value>> {
    if ctx.body_is_blank() {
        return Err(ApiError::bad_request("PUT ACL with no body"));
    }
    match ctx.body_json()? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::bad_input_500(format!(
            "the ACL body must be an object of flags, got {}",
            super::context::kind_of(&other)
        ))),
    }
}

/// `PUT /acls/{user}`: sets the given flags of `user`'s entry (a new entry starts all false); 201 `{}`.
/// Needs `updateACL` (as HSDS 1.0.2). Any user name is accepted, as HSDS does: users may be
/// known to other deployments of the same bucket.
pub async fn put_acl(ctx: &Ctx<'_>, user: &str) -> ApiResult<Response> {
    let flags = parse_flags(acl_body(ctx)?)?;
    if user.is_empty() || user.len() > 256 || user.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!("invalid ACL user name {user:?}: 1-256 printable characters")));
    }
    let dom = ctx.authorize(Action::UpdateAcl).await?;
    let domain_tag = format!("{}{}", ctx.bucket, dom.path);
    update_entries(ctx.store(), &ctx.bucket, &dom.path.key(), "acls", |d: &mut Entries| {
        let mut entry = d
            .get(user)
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(ACL_KEYS.iter().map(|k| (k.to_string(), json!(false))).collect()));
        for (k, v) in &flags {
            entry[k.as_str()] = v.clone();
        }
        entry["domain"] = json!(domain_tag);
        d.insert(user, &entry);
        d.set_top("lastModified", &json!(ctx.now));
        Ok::<_, ApiError>(Change::Write(()))
    })
    .await?;
    Ok(Response::json(201, &json!({})))
}
