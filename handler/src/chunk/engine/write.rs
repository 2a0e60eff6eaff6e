//! The write path: a selection written chunk by chunk (each a compare-and-swap, see `cas`), all of it or
//! nothing (see `undo`), then checked against the dataset's current JSON so that a write racing a `DELETE`
//! or a shrink leaves no chunk outside the object's current shape.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::{self, StreamExt};

use super::cas::write_chunk;
use super::extent::{delete_chunk, outside_extent, trim_chunk};
use super::limits::check_limits;
use super::undo::{undo_written, Undo};
use super::ChunkedDataset;
use crate::chunk::{ChunkError, ChunkResult};
use crate::model::elements::split_elements;
use crate::model::layout::ChunkSource;
use crate::model::selection::{ChunkPart, Selection};
use crate::model::shape::Shape;
use crate::store::json::get_json;
use crate::store::{Store, StoreError};

/// What a write did, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Chunks touched by the selection.
    pub touched: usize,
    /// Chunks actually written.
    pub written: usize,
    /// Lost compare-and-swap races that were retried.
    pub retries: usize,
}

/// Which bytes of each element a write replaces: all of them, or some fields of a fixed-size compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The data holds whole elements.
    Whole,
    /// The data holds elements of a sub-compound of `sub_size` bytes; each `(element offset, data offset,
    /// length)` range is copied into the stored element, the rest of it is kept.
    Fields {
        /// Bytes per data element.
        sub_size: usize,
        /// Byte ranges to copy.
        ranges: Vec<(usize, usize, usize)>,
    },
}

/// Writes `data` (C order over the selection: `sel.count() * item_size` bytes, or packed variable-length
/// elements) into the dataset.
///
/// # Errors
/// [`ChunkError::Invalid`] for a wrong data length or a read-only (linked) dataset, nothing written;
/// [`ChunkError::TooLarge`] past the limits; `StoreError::Contention` when a chunk cannot be won within the
/// CAS retries; [`ChunkError::Gone`] / [`ChunkError::Conflict`] when the dataset was deleted / shrunk
/// meanwhile; store and codec failures.
pub async fn write(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    sel: &Selection,
    data: &[u8],
) -> ChunkResult<WriteStats> {
    write_merged(store, bucket, ds, sel, data, &Merge::Whole).await
}

/// [`write`] with a [`Merge`] mode: whole elements, or some fields of a fixed-size compound.
///
/// # Errors
/// As [`write`].
pub async fn write_merged(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    sel: &Selection,
    data: &[u8],
    merge: &Merge,
) -> ChunkResult<WriteStats> {
    let n = sel.count()? as usize;
    check_limits(sel, ds)?;
    if ds.grid.source != ChunkSource::Hsds {
        return Err(ChunkError::Invalid("datasets linked to HDF5 files (reference layouts) are read-only".into()));
    }
    let elems = if ds.is_vlen() {
        // HSDS 1.0.2 fails on both with 500.
        if *merge != Merge::Whole {
            return Err(ChunkError::InvalidAs500(
                "writing single fields of variable-length compounds is not supported".into(),
            ));
        }
        Some(split_elements(&ds.dtype, data, n).map_err(|e| {
            ChunkError::InvalidAs500(format!("the request data is not {n} elements of the dataset type: {e}"))
        })?)
    } else {
        let es = match merge {
            Merge::Whole => ds.item_size,
            Merge::Fields { sub_size, .. } => *sub_size,
        };
        if data.len() != n * es {
            return Err(ChunkError::Invalid(format!(
                "the request holds {} bytes of data but the selection needs {} ({n} elements of {es} bytes)",
                data.len(),
                n * es
            )));
        }
        None
    };
    let shape = sel.shape();
    let parts = sel.chunks(&ds.grid.chunk_dims);
    let touched = parts.len();
    let (shape, elems) = (&shape, &elems);
    let failed = &AtomicBool::new(false);
    let writes: Vec<_> = parts
        .iter()
        .map(|part| async move {
            let mut undo = None;
            if failed.load(Ordering::Relaxed) {
                return (part, Ok((false, 0)), undo); // another chunk failed: the write is being taken back
            }
            let outcome = write_chunk(store, bucket, ds, &part.index, |chunk: &mut Vec<u8>| {
                let before = ds.part_elements(part, shape, chunk)?;
                let changed = match elems {
                    Some(elems) => apply_elements(ds, part, shape, elems, chunk)?,
                    None => apply_in(part, shape, data, ds.item_size, merge, chunk),
                };
                undo = Some(Undo { before, after: ds.part_elements(part, shape, chunk)? });
                Ok(changed)
            })
            .await;
            if outcome.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            (part, outcome, undo)
        })
        .collect();
    // Every chunk's write runs to its end (none is dropped half-way), so a failure knows what to undo.
    let outcomes: Vec<_> = stream::iter(writes).buffer_unordered(ds.max_in_flight()).collect().await;
    let mut written = Vec::new();
    let mut failure = None;
    let mut retries = 0;
    for (part, outcome, undo) in outcomes {
        match (outcome, undo) {
            (Ok((true, r)), Some(undo)) => {
                retries += r;
                written.push((part, undo));
            }
            (Ok((_, r)), _) => retries += r,
            (Err(e), _) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        return Err(undo_written(store, bucket, ds, shape, &written, e).await);
    }
    let parts: Vec<&ChunkPart> = written.iter().map(|w| w.0).collect();
    if ds.cas && !parts.is_empty() {
        confirm_written(store, bucket, ds, shape, &parts).await?;
    }
    Ok(WriteStats { touched, written: parts.len(), retries })
}

/// After writing chunks, re-reads the dataset's JSON so that a write racing a `DELETE` or a shrink never
/// leaves chunks behind: a deleted dataset (or one replaced under the same key) gets the chunks just
/// written removed and a 410; a dataset shrunk so that written elements now fall outside it gets those
/// chunks trimmed to its new extent and a 409. Either way nothing outside the object's current shape
/// remains. (`DELETE` removes the JSON before listing chunks and a shrink swaps the JSON before trimming, so
/// whichever side runs second cleans up.)
async fn confirm_written(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    shape: &[u64],
    written: &[&ChunkPart],
) -> ChunkResult<()> {
    let id = ds.id.to_string();
    let current = match get_json(store, bucket, &ds.id.s3_key()).await {
        Ok((json, _)) if json["id"].as_str() == Some(id.as_str()) => Some(json),
        Ok(_) | Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(json) = current else {
        for part in written {
            delete_chunk(store, bucket, ds, &part.index).await?;
        }
        return Err(ChunkError::Gone(format!(
            "dataset {id} was deleted while this write was in flight; nothing of the write was kept"
        )));
    };
    let extent = match Shape::from_json(&json["shape"]) {
        Ok(Shape::Simple { dims, .. }) => dims,
        Ok(_) => return Ok(()),
        Err(e) => return Err(ChunkError::Corrupt(format!("{id}: stored shape: {e}"))),
    };
    if extent.len() != ds.extent.len() || extent.iter().zip(&ds.extent).all(|(now, was)| now >= was) {
        return Ok(());
    }
    let cd = &ds.grid.chunk_dims;
    let mut discarded = false;
    for part in written {
        let outside = outside_extent(&part.index, cd, &extent);
        part.for_each_run(shape, |_, c, len| discarded |= (c..c + len).any(|e| outside(e as usize)));
        trim_chunk(store, bucket, ds, &part.index, &extent).await?;
    }
    if discarded {
        return Err(ChunkError::Conflict(format!(
            "dataset {id} was resized to {extent:?} while this write was in flight; the elements of the write \
             outside the new shape were discarded"
        )));
    }
    Ok(())
}

/// Copies the part's elements (or fields of them) from `data` into `chunk`; true when any byte changed.
fn apply_in(part: &ChunkPart, shape: &[u64], data: &[u8], is: usize, merge: &Merge, chunk: &mut [u8]) -> bool {
    let mut changed = false;
    match merge {
        Merge::Whole => part.for_each_run(shape, |o, c, len| {
            let (o, c, len) = (o as usize * is, c as usize * is, len as usize * is);
            if chunk[c..c + len] != data[o..o + len] {
                chunk[c..c + len].copy_from_slice(&data[o..o + len]);
                changed = true;
            }
        }),
        Merge::Fields { sub_size, ranges } => part.for_each_run(shape, |o, c, len| {
            for k in 0..len as usize {
                let (src, dst) = ((o as usize + k) * sub_size, (c as usize + k) * is);
                for &(eo, so, l) in ranges {
                    if chunk[dst + eo..dst + eo + l] != data[src + so..src + so + l] {
                        chunk[dst + eo..dst + eo + l].copy_from_slice(&data[src + so..src + so + l]);
                        changed = true;
                    }
                }
            }
        }),
    }
    changed
}

/// Variable-length chunk update: split, replace the part's elements, re-pack; true when anything changed.
fn apply_elements(
    ds: &ChunkedDataset,
    part: &ChunkPart,
    shape: &[u64],
    elems: &[Vec<u8>],
    chunk: &mut Vec<u8>,
) -> ChunkResult<bool> {
    let mut els = ds.elements(chunk)?;
    let mut changed = false;
    part.for_each_run(shape, |o, c, len| {
        for k in 0..len as usize {
            let (o, c) = (o as usize + k, c as usize + k);
            if els[c] != elems[o] {
                els[c].clone_from(&elems[o]);
                changed = true;
            }
        }
    });
    if changed {
        *chunk = els.concat();
    }
    Ok(changed)
}
