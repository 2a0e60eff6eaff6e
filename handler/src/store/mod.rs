//! Object storage: the [`Store`] trait the API is written against, and its implementations.
//!
//! Keys are HSDS schema-v2 keys inside a bucket (`home/u/f.h5/.domain.json`, `db/<8>-<8>/.group.json`,
//! ...). Every read-modify-write goes through [`cas::update_json`] (or its chunk counterpart), which uses
//! the conditional operations here as a compare-and-swap on the object's ETag.

pub mod cas;
pub mod entries;
pub mod json;
mod last_writer_wins;
mod memory;
pub mod retry;
#[cfg(feature = "aws")]
mod s3;
#[cfg(feature = "aws")]
mod s3_get;
pub mod turn;

pub use last_writer_wins::LastWriterWins;
pub use memory::MemoryStore;
#[cfg(feature = "aws")]
pub use s3::{S3Settings, S3Store};

use async_trait::async_trait;
use bytes::Bytes;

/// An S3 entity tag, exactly as the store returned it (quotes included).
pub type ETag = String;

/// An object read from the store.
#[derive(Debug, Clone)]
pub struct Object {
    /// The object's bytes.
    pub body: Bytes,
    /// The ETag of exactly these bytes.
    pub etag: ETag,
}

/// How a put treats an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Unconditional: last writer wins.
    Overwrite,
    /// Only if no object exists (`If-None-Match: *`).
    Create,
    /// Only if the current object has this ETag (`If-Match`).
    Update(ETag),
}

/// One object in a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEntry {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag, when the store reports one.
    pub etag: Option<ETag>,
    /// Last modification, float Unix seconds (0 when unknown).
    pub last_modified: f64,
}

/// What to list: the keys under `prefix`, in key order, after `start_after`, at most `max_keys`; with a
/// `delimiter`, keys with it after the prefix are rolled up into common prefixes (S3 `ListObjectsV2`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListOptions<'a> {
    /// Only keys starting with this.
    pub prefix: &'a str,
    /// Roll keys up to common prefixes at the first occurrence of this after `prefix` (usually `/`).
    pub delimiter: Option<&'a str>,
    /// Only keys (and common prefixes) after this one.
    pub start_after: Option<&'a str>,
    /// At most this many keys and prefixes together (the store's default, 1000, when `None`).
    pub max_keys: Option<usize>,
}

impl<'a> ListOptions<'a> {
    /// Every key under `prefix`, one default-sized page at a time.
    pub fn prefix(prefix: &'a str) -> Self {
        ListOptions { prefix, ..Default::default() }
    }

    /// Rolls keys up to common prefixes at `delimiter`.
    pub fn delimiter(self, delimiter: &'a str) -> Self {
        ListOptions { delimiter: Some(delimiter), ..self }
    }

    /// Starts after `key` (`None`: from the first key).
    pub fn start_after(self, key: Option<&'a str>) -> Self {
        ListOptions { start_after: key, ..self }
    }

    /// Returns at most `n` keys and prefixes.
    pub fn max_keys(self, n: usize) -> Self {
        ListOptions { max_keys: Some(n), ..self }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Objects directly matching (after the delimiter is applied).
    pub objects: Vec<ListEntry>,
    /// Common prefixes (with the delimiter), when a delimiter was given.
    pub prefixes: Vec<String>,
    /// True when more results exist after this page.
    pub truncated: bool,
}

/// What can go wrong talking to the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No object at this key.
    #[error("no object at {0}")]
    NotFound(String),
    /// A conditional request's precondition failed (the object changed, or already exists).
    #[error("precondition failed for {0}")]
    Precondition(String),
    /// A compare-and-swap could not win within its retries.
    #[error("too much contention on {0}")]
    Contention(String),
    /// The store is throttling or down (S3 503 / 500 after retries).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The invocation's deadline is too near to start this operation.
    #[error("invocation deadline reached before {0}")]
    Deadline(String),
    /// A key or bucket name that must not be used.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// An S3-like object store. All methods take the bucket, since it is chosen per request.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads a whole object. `NotFound` when absent.
    async fn get(&self, bucket: &str, key: &str) -> StoreResult<Object>;

    /// Reads a whole object unless its ETag is still `etag`: `Ok(None)` means "not modified".
    async fn get_if_none_match(&self, bucket: &str, key: &str, etag: &str) -> StoreResult<Option<Object>>;

    /// Reads `len` bytes starting at `offset` (used for linked HDF5 files).
    async fn get_range(&self, bucket: &str, key: &str, offset: u64, len: u64) -> StoreResult<Bytes>;

    /// Writes an object under `mode`; returns the new ETag. `Precondition` when the condition fails
    /// (including `Update` of a missing object).
    async fn put(&self, bucket: &str, key: &str, body: Bytes, mode: PutMode) -> StoreResult<ETag>;

    /// Lists one page of the keys [`ListOptions`] selects, in key order.
    async fn list(&self, bucket: &str, opts: ListOptions<'_>) -> StoreResult<Listing>;

    /// Deletes an object; deleting a missing object is not an error.
    async fn delete(&self, bucket: &str, key: &str) -> StoreResult<()>;

    /// Creates an object only if absent.
    async fn put_if_absent(&self, bucket: &str, key: &str, body: Bytes) -> StoreResult<ETag> {
        self.put(bucket, key, body, PutMode::Create).await
    }

    /// Replaces an object only if its ETag is still `etag`.
    async fn put_if_match(&self, bucket: &str, key: &str, body: Bytes, etag: &str) -> StoreResult<ETag> {
        self.put(bucket, key, body, PutMode::Update(etag.to_string())).await
    }

    /// Lists every key under `prefix` (all pages), without a delimiter.
    async fn list_all(&self, bucket: &str, prefix: &str) -> StoreResult<Vec<ListEntry>> {
        let mut out: Vec<ListEntry> = Vec::new();
        loop {
            let after = out.last().map(|e| e.key.clone());
            let page = self.list(bucket, ListOptions::prefix(prefix).start_after(after.as_deref())).await?;
            let n = page.objects.len();
            out.extend(page.objects);
            if !page.truncated || n == 0 {
                return Ok(out);
            }
        }
    }
}

/// Checks that a bucket name is one S3 could hold and that cannot escape a directory
/// (3–63 chars of `a-z0-9.-`, no `..`), as the emulator stores `<dir>/<bucket>/<key>`.
pub fn validate_bucket(bucket: &str) -> StoreResult<()> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.contains("..")
        && bucket.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidKey(format!(
            "invalid bucket name {bucket:?}: use 3-63 characters of a-z, 0-9, '.' and '-'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(validate_bucket("hsdstest").is_ok());
        assert!(validate_bucket("nrel-pds-hsds").is_ok());
        for bad in ["", "ab", "../etc", "a..b", "UPPER", "a/b", "-abc", &"x".repeat(64)] {
            assert!(validate_bucket(bad).is_err(), "{bad:?} accepted");
        }
    }
}
