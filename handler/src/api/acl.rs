//! Domain ACLs: `GET /acls`, `GET/PUT /acls/{user}`.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
#[allow(unused_imports)]
use crate::model::ObjId;
use crate::request::Response;

/// Not implemented yet.
pub async fn get_acls(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_acls is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_acl(_ctx: &Ctx<'_>, _user: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_acl is not implemented yet"))
}

/// Not implemented yet.
pub async fn put_acl(_ctx: &Ctx<'_>, _user: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "put_acl is not implemented yet"))
}
