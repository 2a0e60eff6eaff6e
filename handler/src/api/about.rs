//! `GET /about` and `GET /info`: server identity and state.

use serde_json::json;

use super::Ctx;
use crate::error::ApiResult;
use crate::request::Response;

/// The HSDS version whose REST API and storage format this handler implements.
pub const HSDS_COMPAT_VERSION: &str = "1.0.2";

/// The data node ids a function reports (`/about`, `GET /?getdnids=1`): one function is one node.
pub const DN_IDS: [&str; 1] = ["dn-001"];

/// `GET /about`: `name`, `state`, `username` (h5pyd's `hsinfo` needs these three) and HSDS's other keys.
pub async fn about(ctx: &Ctx<'_>) -> ApiResult<Response> {
    let c = &ctx.svc.config;
    Ok(Response::json(
        200,
        &json!({
            "start_time": ctx.svc.start_time,
            "state": "READY",
            "hsds_version": HSDS_COMPAT_VERSION,
            "hslambda_version": env!("CARGO_PKG_VERSION"),
            "name": c.server_name,
            "greeting": "Welcome to hslambda!",
            "about": "HDF REST API served by hslambda, an AWS Lambda function in Rust (HSDS-compatible)",
            "node_count": 1,
            "dn_urls": [ctx.base_url()],
            "dn_ids": DN_IDS,
            "username": ctx.identity.display_name(),
            "isadmin": ctx.is_admin(),
        }),
    ))
}

/// `GET /info`: node state (h5pyd only calls it when `/about` fails).
pub async fn info(ctx: &Ctx<'_>) -> ApiResult<Response> {
    Ok(Response::json(
        200,
        &json!({
            "node": {"id": "sn-001", "type": "sn", "start_time": ctx.svc.start_time, "state": "READY", "node_count": 1},
            "req_count": {},
        }),
    ))
}
