//! Committed datatypes: `GET/POST /datatypes`, `GET/DELETE /datatypes/{id}`.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
#[allow(unused_imports)]
use crate::model::ObjId;
use crate::request::Response;

/// Not implemented yet.
pub async fn list_datatypes(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "list_datatypes is not implemented yet"))
}

/// Not implemented yet.
pub async fn post_datatypes(_ctx: &Ctx<'_>) -> ApiResult<Response> {
    Err(ApiError::new(501, "post_datatypes is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_datatype(_ctx: &Ctx<'_>, _id: Option<ObjId>) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_datatype is not implemented yet"))
}

/// Not implemented yet.
pub async fn delete_datatype(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "delete_datatype is not implemented yet"))
}
