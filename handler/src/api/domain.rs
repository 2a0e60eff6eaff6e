//! Domains and folders: `GET/PUT/DELETE/POST /` and `GET /domains`.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
#[allow(unused_imports)]
use crate::model::ObjId;
use crate::request::Response;

/// Not implemented yet.
pub async fn get_domain(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_domain is not implemented yet"))
}

/// Not implemented yet.
pub async fn put_domain(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "put_domain is not implemented yet"))
}

/// Not implemented yet.
pub async fn delete_domain(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "delete_domain is not implemented yet"))
}

/// Not implemented yet.
pub async fn post_domain(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "post_domain is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_domains(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_domains is not implemented yet"))
}
