//! Datasets: `GET/POST /datasets`, `GET/DELETE /datasets/{id}`, `/shape`, `/type`.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
#[allow(unused_imports)]
use crate::model::ObjId;
use crate::request::Response;

/// Not implemented yet.
pub async fn list_datasets(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "list_datasets is not implemented yet"))
}

/// Not implemented yet.
pub async fn post_datasets(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "post_datasets is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_dataset(_ctx: &Ctx<'_>, _id: Option<ObjId>) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_dataset is not implemented yet"))
}

/// Not implemented yet.
pub async fn delete_dataset(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "delete_dataset is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_shape(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_shape is not implemented yet"))
}

/// Not implemented yet.
pub async fn put_shape(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "put_shape is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_type(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_type is not implemented yet"))
}
