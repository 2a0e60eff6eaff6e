//! Links: `/groups/{id}/links` and `/groups/{id}/links/{title}`.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
#[allow(unused_imports)]
use crate::model::ObjId;
use crate::request::Response;

/// Not implemented yet.
pub async fn get_links(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_links is not implemented yet"))
}

/// Not implemented yet.
pub async fn post_links(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "post_links is not implemented yet"))
}

/// Not implemented yet.
pub async fn put_links(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "put_links is not implemented yet"))
}

/// Not implemented yet.
pub async fn delete_links(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "delete_links is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_link(_ctx: &Ctx<'_>, _id: &ObjId, _title: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_link is not implemented yet"))
}

/// Not implemented yet.
pub async fn put_link(_ctx: &Ctx<'_>, _id: &ObjId, _title: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "put_link is not implemented yet"))
}

/// Not implemented yet.
pub async fn delete_link(_ctx: &Ctx<'_>, _id: &ObjId, _title: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "delete_link is not implemented yet"))
}
