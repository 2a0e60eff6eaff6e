//! The pure model layer: ids, domain paths, types, shapes, selections. No I/O here.

pub mod chunk_table;
pub mod domain;
pub mod elements;
pub mod glob;
pub mod ids;
pub mod layout;
pub mod lenient_json;
pub mod query;
pub mod region;
pub mod selection;
pub mod shape;
pub mod types;
pub mod value;

pub use domain::DomainPath;
pub use ids::{ObjId, ObjKind};

/// Invalid input found while interpreting ids, paths, types, shapes or selections.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A malformed object id.
    #[error("invalid object id {0:?}: expected <g|d|t>-xxxxxxxx-xxxxxxxx-xxxx-xxxxxx-xxxxxx (lower-case hex)")]
    InvalidId(String),
    /// A malformed domain path.
    #[error("invalid domain {path:?}: {reason}")]
    InvalidDomain {
        /// The path as given.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Any other invalid request content (types, shapes, selections, values).
    #[error("{0}")]
    Invalid(String),
    /// An integer value outside its type's range. HSDS 1.0.2 answers 400 for dataset values and 500 for
    /// attribute values (numpy's OverflowError there), so the API layer decides.
    #[error("{0}")]
    OutOfRange(String),
    /// Invalid request content HSDS 1.0.2 does not catch (it fails with 500): answered with HSDS's status.
    #[error("{0}")]
    InvalidAs500(String),
    /// A request whose answer would be too large.
    #[error("{0}")]
    TooLarge(String),
    /// A request conflicting with the object's current state (e.g. extending past maxdims).
    #[error("{0}")]
    Conflict(String),
}

impl ModelError {
    /// Shorthand for [`ModelError::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        ModelError::Invalid(msg.into())
    }
    /// Shorthand for [`ModelError::InvalidAs500`].
    pub fn invalid_as_500(msg: impl Into<String>) -> Self {
        ModelError::InvalidAs500(msg.into())
    }
}
