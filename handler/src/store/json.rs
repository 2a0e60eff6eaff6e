//! JSON objects in the store: read one with its ETag, write one (only if absent, or unconditionally).
//! Updates go through the compare-and-swap loop of the sibling module `cas`.

use bytes::Bytes;
use serde_json::Value;

use super::{ETag, PutMode, Store, StoreError, StoreResult};

/// Reads and parses a JSON object; returns it with its ETag.
pub async fn get_json(store: &dyn Store, bucket: &str, key: &str) -> StoreResult<(Value, ETag)> {
    let obj = store.get(bucket, key).await?;
    let value = crate::model::lenient_json::parse(&obj.body)
        .map_err(|e| StoreError::Other(format!("{key} holds invalid JSON: {e}")))?;
    Ok((value, obj.etag))
}

/// Serialises a JSON object the way it is stored.
pub fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("serde_json::Value always serializes"))
}

/// Writes a JSON object only if the key is free. `Precondition` when something is already there.
pub async fn create_json(store: &dyn Store, bucket: &str, key: &str, value: &Value) -> StoreResult<ETag> {
    store.put(bucket, key, to_bytes(value), PutMode::Create).await
}

/// Writes a JSON object unconditionally.
pub async fn put_json(store: &dyn Store, bucket: &str, key: &str, value: &Value) -> StoreResult<ETag> {
    store.put(bucket, key, to_bytes(value), PutMode::Overwrite).await
}
