//! The REST API: one module per resource, and the route table that dispatches to them.
//!
//! Route functions take a [`Ctx`] (request, bucket, caller identity) plus the ids/names parsed from the
//! path, and return a [`Response`] or an [`ApiError`]. Path segments are percent-decoded one by one,
//! so link titles and attribute names may contain encoded `/`.

pub mod about;
pub mod acl;
pub mod attribute;
pub mod concurrency;
pub mod context;
pub mod cors;
pub mod create;
pub mod dataset;
pub mod datatype;
pub mod domain;
pub mod graph;
pub mod group;
pub mod link;
pub mod object;
pub mod paging;
pub mod render;
pub mod typeref;
pub mod value;

pub use context::{Ctx, DomainDoc};

use crate::error::{ApiError, ApiResult};
use crate::model::{ObjId, ObjKind};
use crate::request::{Request, Response};
use crate::service::Service;

/// Percent-decodes one path segment (`%2F` → `/`, `+` stays `+`).
pub fn decode_segment(s: &str) -> ApiResult<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ApiError::bad_request(format!("path segment {s:?} is not valid UTF-8 once decoded")))
}

/// Parses the id in an object route, checking it belongs to the route's collection.
fn obj_id(collection: &str, raw: &str) -> ApiResult<ObjId> {
    let kind = ObjKind::from_collection(collection).expect("route table only passes collections");
    Ok(ObjId::parse_kind(raw, kind)?)
}

impl Service {
    /// Serves one request. Never fails: errors become JSON error responses. (Written here, beside the
    /// route table, so that `service.rs` holds only the warm state and never imports the api layer.)
    pub async fn handle(&self, req: Request) -> Response {
        if req.method == "OPTIONS" {
            return cors::preflight(&req);
        }
        let mut rsp = match route(self, &req).await {
            Ok(rsp) => rsp,
            Err(e) => {
                if e.status >= 500 {
                    tracing::error!(status = e.status, method = %req.method, path = %req.path, "{}", e.message);
                } else {
                    tracing::debug!(status = e.status, method = %req.method, path = %req.path, "{}", e.message);
                }
                e.to_response()
            }
        };
        cors::decorate(&req, &self.config.server_name, &mut rsp);
        rsp
    }
}

/// The status of a malformed `domain` or `bucket` parameter on a route: HSDS 1.0.2 checks them (400) in its
/// domain module — `/`, `/domains`, `/acls` and the listings `GET /groups|datasets|datatypes` — while its
/// other routes let the check raise and answer 500.
fn bad_domain_status(method: &str, segs: &[&str]) -> u16 {
    let domain_module =
        matches!(segs, [""] | ["domains"] | ["domains", ""] | ["acls"] | ["acls", _] | ["about"] | ["info"])
            || (method == "GET" && matches!(segs, ["groups" | "datasets" | "datatypes"]));
    if domain_module {
        400
    } else {
        500
    }
}

/// Dispatches one request to its route function.
pub async fn route(svc: &Service, req: &Request) -> ApiResult<Response> {
    let raw: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let segs: Vec<String> = raw.iter().map(|s| decode_segment(s)).collect::<ApiResult<_>>()?;
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    let ctx = Ctx::new(svc, req, bad_domain_status(m, &s))?;
    let not_allowed = || Err(ApiError::method_not_allowed(m, &req.path));
    match s.as_slice() {
        [""] => match m {
            "GET" => domain::get_domain(&ctx).await,
            "PUT" => domain::put_domain(&ctx).await,
            "DELETE" => domain::delete_domain(&ctx).await,
            "POST" => domain::post_domain(&ctx).await,
            _ => not_allowed(),
        },
        ["about"] => match m {
            "GET" => about::about(&ctx).await,
            _ => not_allowed(),
        },
        ["info"] => match m {
            "GET" => about::info(&ctx).await,
            _ => not_allowed(),
        },
        ["domains"] | ["domains", ""] => match m {
            "GET" => domain::get_domains(&ctx).await,
            _ => not_allowed(),
        },
        ["acls"] => match m {
            "GET" => acl::get_acls(&ctx).await,
            _ => not_allowed(),
        },
        ["acls", user] => match m {
            "GET" => acl::get_acl(&ctx, user).await,
            "PUT" => acl::put_acl(&ctx, user).await,
            _ => not_allowed(),
        },
        ["groups"] => match m {
            "GET" => group::list_groups(&ctx).await,
            "POST" => group::post_groups(&ctx).await,
            _ => not_allowed(),
        },
        ["groups", ""] => match m {
            "GET" => group::get_group(&ctx, None).await,
            _ => not_allowed(),
        },
        ["groups", id] => match m {
            "GET" => group::get_group(&ctx, Some(obj_id("groups", id)?)).await,
            "DELETE" => group::delete_group(&ctx, &obj_id("groups", id)?).await,
            _ => not_allowed(),
        },
        ["groups", id, "links"] => {
            let id = obj_id("groups", id)?;
            match m {
                "GET" => link::get_links(&ctx, &id).await,
                "POST" => link::post_links(&ctx, &id).await,
                "PUT" => link::put_links(&ctx, &id).await,
                "DELETE" => link::delete_links(&ctx, &id).await,
                _ => not_allowed(),
            }
        }
        ["groups", id, "links", title] => {
            let id = obj_id("groups", id)?;
            match m {
                "GET" => link::get_link(&ctx, &id, title).await,
                "PUT" => link::put_link(&ctx, &id, title).await,
                "DELETE" => link::delete_link(&ctx, &id, title).await,
                _ => not_allowed(),
            }
        }
        [col @ ("groups" | "datasets" | "datatypes"), id, "attributes"] => {
            let id = obj_id(col, id)?;
            match m {
                "GET" => attribute::get_attributes(&ctx, &id).await,
                "POST" => attribute::post_attributes(&ctx, &id).await,
                "PUT" => attribute::put_attributes(&ctx, &id).await,
                "DELETE" => attribute::delete_attributes(&ctx, &id).await,
                _ => not_allowed(),
            }
        }
        [col @ ("groups" | "datasets" | "datatypes"), id, "attributes", name] => {
            let id = obj_id(col, id)?;
            match m {
                "GET" => attribute::get_attribute(&ctx, &id, name).await,
                "PUT" => attribute::put_attribute(&ctx, &id, name).await,
                "DELETE" => attribute::delete_attribute(&ctx, &id, name).await,
                _ => not_allowed(),
            }
        }
        [col @ ("groups" | "datasets" | "datatypes"), id, "attributes", name, "value"] => {
            let id = obj_id(col, id)?;
            match m {
                "GET" => attribute::get_attribute_value(&ctx, &id, name).await,
                "PUT" => attribute::put_attribute_value(&ctx, &id, name).await,
                _ => not_allowed(),
            }
        }
        ["datatypes"] => match m {
            "GET" => datatype::list_datatypes(&ctx).await,
            "POST" => datatype::post_datatypes(&ctx).await,
            _ => not_allowed(),
        },
        ["datatypes", ""] => match m {
            "GET" => datatype::get_datatype(&ctx, None).await,
            _ => not_allowed(),
        },
        ["datatypes", id] => match m {
            "GET" => datatype::get_datatype(&ctx, Some(obj_id("datatypes", id)?)).await,
            "DELETE" => datatype::delete_datatype(&ctx, &obj_id("datatypes", id)?).await,
            _ => not_allowed(),
        },
        ["datasets"] => match m {
            "GET" => dataset::list_datasets(&ctx).await,
            "POST" => dataset::post_datasets(&ctx).await,
            _ => not_allowed(),
        },
        ["datasets", ""] => match m {
            "GET" => dataset::get_dataset(&ctx, None).await,
            _ => not_allowed(),
        },
        ["datasets", id] => match m {
            "GET" => dataset::get_dataset(&ctx, Some(obj_id("datasets", id)?)).await,
            "DELETE" => dataset::delete_dataset(&ctx, &obj_id("datasets", id)?).await,
            _ => not_allowed(),
        },
        ["datasets", id, "shape"] => {
            let id = obj_id("datasets", id)?;
            match m {
                "GET" => dataset::get_shape(&ctx, &id).await,
                "PUT" => dataset::put_shape(&ctx, &id).await,
                _ => not_allowed(),
            }
        }
        ["datasets", id, "type"] => match m {
            "GET" => dataset::get_type(&ctx, &obj_id("datasets", id)?).await,
            _ => not_allowed(),
        },
        ["datasets", id, "value"] => {
            let id = obj_id("datasets", id)?;
            match m {
                "GET" => value::get_value(&ctx, &id).await,
                "PUT" => value::put_value(&ctx, &id).await,
                "POST" => value::post_value(&ctx, &id).await,
                _ => not_allowed(),
            }
        }
        ["datasets", id, "query"] => match m {
            "GET" => value::get_query(&ctx, &obj_id("datasets", id)?).await,
            _ => not_allowed(),
        },
        _ => Err(ApiError::not_found(format!("no such resource: {} {}", m, req.path))),
    }
}
