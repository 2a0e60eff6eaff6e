//! hsds-handler: the HDF REST API (as served by HSDS 1.0.2) over an S3 bucket in HSDS's storage format,
//! packaged as an AWS Lambda function (`bootstrap`).
//!
//! Layers, outermost first: [`event`] (Lambda events ⇄ [`Request`]/[`Response`]), [`service`] (state
//! kept across invocations), [`api`] (one module per REST resource), [`auth`], [`chunk`] (chunk codecs
//! and the selection read/write engine), [`store`] (S3 / in-memory), [`model`] (pure types).

#![deny(unsafe_code)]

pub mod alloc;
pub mod api;
pub mod auth;
pub mod chunk;
pub mod config;
pub mod deadline;
pub mod error;
pub mod event;
pub mod logging;
pub mod model;
pub mod request;
#[cfg(feature = "aws")]
pub mod runtime;
pub mod service;
pub mod store;
pub mod stream;

pub use config::Config;
pub use error::{ApiError, ApiResult};
pub use request::{Request, Response};
pub use service::Service;
