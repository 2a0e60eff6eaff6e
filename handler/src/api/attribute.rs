//! Attributes of groups, datasets and datatypes: `/{col}/{id}/attributes[/{name}[/value]]`.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
#[allow(unused_imports)]
use crate::model::ObjId;
use crate::request::Response;

/// Not implemented yet.
pub async fn get_attributes(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_attributes is not implemented yet"))
}

/// Not implemented yet.
pub async fn post_attributes(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "post_attributes is not implemented yet"))
}

/// Not implemented yet.
pub async fn put_attributes(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "put_attributes is not implemented yet"))
}

/// Not implemented yet.
pub async fn delete_attributes(_ctx: &Ctx<'_>, _id: &ObjId) -> ApiResult<Response> {
    Err(ApiError::new(501, "delete_attributes is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_attribute(_ctx: &Ctx<'_>, _id: &ObjId, _name: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_attribute is not implemented yet"))
}

/// Not implemented yet.
pub async fn put_attribute(_ctx: &Ctx<'_>, _id: &ObjId, _name: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "put_attribute is not implemented yet"))
}

/// Not implemented yet.
pub async fn delete_attribute(_ctx: &Ctx<'_>, _id: &ObjId, _name: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "delete_attribute is not implemented yet"))
}

/// Not implemented yet.
pub async fn get_attribute_value(_ctx: &Ctx<'_>, _id: &ObjId, _name: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "get_attribute_value is not implemented yet"))
}

/// Not implemented yet.
pub async fn put_attribute_value(_ctx: &Ctx<'_>, _id: &ObjId, _name: &str) -> ApiResult<Response> {
    Err(ApiError::new(501, "put_attribute_value is not implemented yet"))
}
