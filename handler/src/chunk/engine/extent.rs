//! Chunks and the dataset's extent: listing a dataset's chunk objects, and fitting them to a smaller
//! extent after a shrink (chunks wholly outside deleted, edge chunks reset to fill beyond it) so that a
//! later grow reads fill there, as HSDS does.

use super::cas::write_chunk;
use super::ChunkedDataset;
use crate::chunk::ChunkResult;
use crate::model::ObjId;
use crate::store::{ListEntry, Store, StoreError};

/// Every stored chunk object of dataset `id` (keys under its directory not ending in `json`).
///
/// # Errors
/// Store failures.
pub async fn list_chunks(store: &dyn Store, bucket: &str, id: &ObjId) -> ChunkResult<Vec<ListEntry>> {
    let prefix = format!("{}/", id.object_dir());
    let all = store.list_all(bucket, &prefix).await?;
    Ok(all.into_iter().filter(|e| !e.key.ends_with("json") && !e.key[prefix.len()..].contains('/')).collect())
}

/// Parses a chunk key's index (`.../3_0` → `[3, 0]`).
pub fn chunk_index_of_key(key: &str) -> Option<Vec<u64>> {
    key.rsplit('/').next()?.split('_').map(|p| p.parse().ok()).collect()
}

/// After a shrink to `new_extent`: deletes chunks wholly outside it and resets the part of edge chunks
/// beyond it to fill (each a compare-and-swap), so a later grow reads fill there, as HSDS does.
///
/// # Errors
/// Store and codec failures.
pub async fn trim_to_extent(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    new_extent: &[u64],
) -> ChunkResult<()> {
    for entry in list_chunks(store, bucket, &ds.id).await? {
        let Some(index) = chunk_index_of_key(&entry.key) else { continue };
        if index.len() == ds.grid.chunk_dims.len() {
            trim_chunk(store, bucket, ds, &index, new_extent).await?;
        }
    }
    Ok(())
}

/// Deletes one chunk object (and its cache entry).
pub(super) async fn delete_chunk(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    index: &[u64],
) -> ChunkResult<()> {
    let key = ds.chunk_key(index);
    match store.delete(bucket, &key).await {
        Ok(()) | Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(c) = &ds.cache {
        c.remove(bucket, &key);
    }
    Ok(())
}

/// Whether element `e` (C-order index inside chunk `index`) lies outside `extent`.
pub(super) fn outside_extent<'a>(index: &'a [u64], cd: &'a [u64], extent: &'a [u64]) -> impl Fn(usize) -> bool + 'a {
    move |e: usize| {
        let mut rem = e as u64;
        let mut out = false;
        for d in (0..cd.len()).rev() {
            let x = rem % cd[d];
            rem /= cd[d];
            out |= index[d] * cd[d] + x >= extent[d];
        }
        out
    }
}

/// Fits chunk `index` to `new_extent`: deleted when wholly outside, untouched when wholly inside, else its
/// elements beyond the extent reset to fill (a compare-and-swap).
pub(super) async fn trim_chunk(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    index: &[u64],
    new_extent: &[u64],
) -> ChunkResult<()> {
    let cd = &ds.grid.chunk_dims;
    if index.iter().zip(cd).zip(new_extent).any(|((&i, &c), &e)| i * c >= e) {
        return delete_chunk(store, bucket, ds, index).await;
    }
    if index.iter().zip(cd).zip(new_extent).all(|((&i, &c), &e)| (i + 1) * c <= e) {
        return Ok(());
    }
    let outside = outside_extent(index, cd, new_extent);
    write_chunk(store, bucket, ds, index, |chunk| {
        let mut changed = false;
        if ds.is_vlen() {
            let mut els = ds.elements(chunk)?;
            for (e, elem) in els.iter_mut().enumerate() {
                if outside(e) && *elem != ds.fill {
                    elem.clone_from(&ds.fill);
                    changed = true;
                }
            }
            if changed {
                *chunk = els.concat();
            }
            return Ok(changed);
        }
        for (e, elem) in chunk.chunks_exact_mut(ds.item_size.max(1)).enumerate() {
            if outside(e) && elem != ds.fill.as_slice() {
                elem.copy_from_slice(&ds.fill);
                changed = true;
            }
        }
        Ok(changed)
    })
    .await?;
    Ok(())
}
