//! The API error type: every failure a request can meet ends here, as a status code and a message.
//!
//! Lower layers have their own error enums (`StoreError`, `ModelError`, `ChunkError`, ...); the `From` impls in this
//! file are the one place where they are mapped to HTTP status codes.

use serde_json::json;

use crate::chunk::codec::CodecError;
use crate::chunk::ChunkError;
use crate::model::ModelError;
use crate::request::Response;
use crate::store::StoreError;

/// An error answered to the client as `{"error": {"status": N, "message": "..."}}` with status N (and
/// `"bad_input": true` on a 500 that answers bad input, see [`ApiError::bad_input_500`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status code (400, 401, 403, 404, 409, 410, 412, 413, 500, 503, ...).
    pub status: u16,
    /// What went wrong, for a person to read.
    pub message: String,
    /// The request was at fault, whatever the status: a 500 with this set is HSDS's status for bad input,
    /// not a failure of the server.
    pub bad_input: bool,
}

/// Result alias used by every route handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), bad_input: false }
    }
    /// Bad input answered with `status`: 400, or 500 where HSDS 1.0.2 answers 500 (see
    /// [`ApiError::bad_input_500`]).
    pub fn bad_input(status: u16, message: impl Into<String>) -> Self {
        ApiError { bad_input: true, ..Self::new(status, message) }
    }
    /// The same error with another message.
    pub fn with_message(self, message: impl Into<String>) -> Self {
        ApiError { message: message.into(), ..self }
    }
    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, message)
    }
    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }
    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
    /// 405 Method Not Allowed.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(405, format!("method {method} is not allowed on {path}"))
    }
    /// 409 Conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }
    /// 410 Gone.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, message)
    }
    /// 413 Payload Too Large.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, message)
    }
    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }
    /// Bad input that HSDS 1.0.2 answers with 500 (an exception it does not handle): HSDS is the
    /// specification, status codes included, so the status is the same — but the message says what was wrong.
    pub fn bad_input_500(message: impl Into<String>) -> Self {
        Self::bad_input(500, message)
    }
    /// 503 Service Unavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, message)
    }

    /// The JSON response for this error. The body never has a top-level `statusCode` key, which h5pyd
    /// 0.24 would misread as a wrapped Lambda error.
    pub fn to_response(&self) -> Response {
        let mut error = json!({"status": self.status, "message": self.message});
        if self.bad_input && self.status >= 500 {
            error["bad_input"] = json!(true);
        }
        Response::json(self.status, &json!({ "error": error }))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(key) => ApiError::not_found(format!("not found: {key}")),
            StoreError::Precondition(key) => {
                ApiError::conflict(format!("{key} was changed by a concurrent request; retry"))
            }
            StoreError::Contention(key) => ApiError::unavailable(format!(
                "{key} is being updated by too many concurrent requests; nothing was written, retry later"
            )),
            StoreError::Unavailable(msg) => ApiError::unavailable(format!("storage unavailable: {msg}")),
            StoreError::Deadline(what) => ApiError::new(
                504,
                format!(
                    "the function's time limit is almost used up: stopped before {what}; retry, or raise the timeout"
                ),
            ),
            StoreError::InvalidKey(msg) => ApiError::bad_request(msg),
            StoreError::Other(msg) => ApiError::internal(format!("storage error: {msg}")),
        }
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::TooLarge(msg) => ApiError::too_large(msg),
            ModelError::Conflict(msg) => ApiError::conflict(msg),
            ModelError::InvalidAs500(msg) => ApiError::bad_input_500(msg),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::bad_request(format!("malformed JSON body: {e}"))
    }
}

/// Stored chunk bytes that do not decode are the server's problem (500), never the client's.
impl From<CodecError> for ApiError {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Corrupt(_) | CodecError::WrongSize { .. } => {
                ApiError::internal(format!("stored chunk is corrupt: {e}"))
            }
            CodecError::TooLarge { .. } | CodecError::Encode(_) => {
                ApiError::internal(format!("chunk cannot be compressed: {e}"))
            }
        }
    }
}

/// The chunk engine's errors by kind; store, model and codec errors inside it map as they do alone.
impl From<ChunkError> for ApiError {
    fn from(e: ChunkError) -> Self {
        match e {
            ChunkError::TooLarge(msg) => ApiError::too_large(msg),
            ChunkError::Invalid(msg) => ApiError::bad_request(msg),
            ChunkError::InvalidAs500(msg) => ApiError::bad_input_500(msg),
            ChunkError::Unsupported(msg) => ApiError::new(501, msg),
            ChunkError::Gone(msg) => ApiError::gone(msg),
            ChunkError::Conflict(msg) => ApiError::conflict(msg),
            ChunkError::Corrupt(msg) | ChunkError::Internal(msg) => ApiError::internal(msg),
            ChunkError::UndoFailed { failure, undo } => ApiError::internal(format!(
                "{} — and taking back the chunks already written failed too ({}): some of the write may remain",
                ApiError::from(*failure).message,
                ApiError::from(*undo).message
            )),
            ChunkError::Store(e) => e.into(),
            ChunkError::Model(e) => e.into(),
            ChunkError::Codec(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed undo answers 500 with both messages as the client would have seen them alone.
    #[test]
    fn chunk_errors_map_by_kind() {
        let gone = ChunkError::Gone("dataset d was deleted".into());
        assert_eq!(ApiError::from(gone.clone()), ApiError::gone("dataset d was deleted"));
        assert_eq!(ApiError::from(ChunkError::Unsupported("no".into())).status, 501);
        let undo = ChunkError::UndoFailed {
            failure: Box::new(ChunkError::Store(StoreError::NotFound("k".into()))),
            undo: Box::new(gone),
        };
        let e = ApiError::from(undo);
        assert_eq!(e.status, 500);
        assert_eq!(
            e.message,
            "not found: k — and taking back the chunks already written failed too (dataset d was deleted): some of \
             the write may remain"
        );
    }
}
