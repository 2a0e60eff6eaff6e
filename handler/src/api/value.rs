//! Dataset values: `GET/PUT/POST /datasets/{id}/value`.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
#[allow(unused_imports)]
use crate::model::ObjId;
use crate::request::Response;

/// Not implemented yet.
pub async fn get_value(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_value is not implemented yet"))
}

/// Not implemented yet.
pub async fn put_value(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "put_value is not implemented yet"))
}

/// Not implemented yet.
pub async fn post_value(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "post_value is not implemented yet"))
}
