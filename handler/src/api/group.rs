//! Groups: `GET/POST /groups`, `GET/DELETE /groups/{id}`.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
#[allow(unused_imports)]
use crate::model::ObjId;
use crate::request::Response;

/// Not implemented yet.
pub async fn list_groups(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "list_groups is not implemented yet"))
}

/// Not implemented yet.
pub async fn post_groups(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "post_groups is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_group(_ctx: &Ctx<'_>, _id: Option<ObjId>) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_group is not implemented yet"))
}

/// Not implemented yet.
pub async fn delete_group(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "delete_group is not implemented yet"))
}
