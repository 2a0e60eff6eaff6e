//! The chunk layer's error type: what went wrong while reading or writing chunks, by kind.
//!
//! The chunk layer does not choose HTTP statuses; `crate::error` maps each kind to one (the only place
//! that does). Each message variant holds the full text answered to the client.

use crate::chunk::codec::CodecError;
use crate::model::ModelError;
use crate::store::StoreError;

/// A failure of the chunk engine (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The request would touch more chunks, or larger chunks, than this function can handle.
    #[error("{0}")]
    TooLarge(String),
    /// The request's data, or the layout of a linked dataset, cannot be used as given.
    #[error("{0}")]
    Invalid(String),
    /// The request's data cannot be used, and HSDS 1.0.2 fails on it with 500 (answered with that status).
    #[error("{0}")]
    InvalidAs500(String),
    /// The request asks for something the engine does not implement.
    #[error("{0}")]
    Unsupported(String),
    /// The dataset was deleted while a write was in flight (the write was taken back).
    #[error("{0}")]
    Gone(String),
    /// The dataset changed shape while a write was in flight (part of the write was discarded).
    #[error("{0}")]
    Conflict(String),
    /// Stored chunk bytes (or a stored shape) that do not match the dataset.
    #[error("{0}")]
    Corrupt(String),
    /// A failure of the engine itself (a decoder task that died, a misrouted call).
    #[error("{0}")]
    Internal(String),
    /// A write failed, and taking back the chunks it had already written failed too.
    #[error(
        "{failure} — and taking back the chunks already written failed too ({undo}): some of the write may remain"
    )]
    UndoFailed {
        /// Why the write failed.
        failure: Box<ChunkError>,
        /// Why taking it back failed.
        undo: Box<ChunkError>,
    },
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Invalid input found by the model layer (a selection, a chunk table's type, ...).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Stored chunk bytes that do not decode, or a chunk that cannot be encoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Result alias of the chunk layer.
pub type ChunkResult<T> = Result<T, ChunkError>;
