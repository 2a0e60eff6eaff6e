//! The log filter of the `bootstrap` binary: what the operator asks for (`LOG_LEVEL`, `RUST_LOG`, default
//! `warn`), minus log sites known to print secrets.
//!
//! `lambda_runtime` logs every raw event at TRACE (`raw JSON event received from Lambda`), and events carry the
//! client's `Authorization` header — HTTP Basic credentials in base64. That site is capped at DEBUG whatever
//! the operator configures; everything else (including the rest of `lambda_runtime`) keeps its level.

use tracing_subscriber::filter::{Directive, EnvFilter};

/// The log target that dumps raw Lambda events (with their `Authorization` headers) at TRACE.
pub const RAW_EVENT_TARGET: &str = "lambda_runtime::layers::api_response";

/// Builds the filter from `spec` (an `EnvFilter` directive string such as `info` or `hsds_handler=debug`;
/// `None` or an invalid spec means `warn`) with the raw-event dump switched off.
pub fn env_filter(spec: Option<&str>) -> EnvFilter {
    let filter = spec.and_then(|s| EnvFilter::try_new(s).ok()).unwrap_or_else(|| EnvFilter::new("warn"));
    let cap: Directive = format!("{RAW_EVENT_TARGET}=debug").parse().expect("static directive parses");
    filter.add_directive(cap)
}

/// The filter for the process environment: `LOG_LEVEL`, else `RUST_LOG`, else `warn`.
pub fn env_filter_from_env() -> EnvFilter {
    let spec = std::env::var("LOG_LEVEL").ok().or_else(|| std::env::var("RUST_LOG").ok());
    env_filter(spec.as_deref())
}
