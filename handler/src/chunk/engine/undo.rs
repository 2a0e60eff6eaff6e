//! Taking a failed write back: each chunk a write changed keeps the elements it replaced (before and
//! after), and when another chunk of the write fails, every chunk already written gets its elements put
//! back, unless a later request wrote them since. A failed write leaves nothing half-applied.

use futures::stream::{self, StreamExt};

use super::cas::write_chunk_with;
use super::ChunkedDataset;
use crate::chunk::{ChunkError, ChunkResult};
use crate::model::selection::ChunkPart;
use crate::store::retry::CasRetry;
use crate::store::Store;

/// The elements of one chunk that a write replaced, as they were before and after it: enough to take the
/// write back out of the chunk while keeping any later write to the same elements.
pub(super) struct Undo {
    /// The elements before the write.
    pub(super) before: PartElements,
    /// The elements the write left.
    pub(super) after: PartElements,
}

/// The selected elements of one chunk, in run order: packed bytes for fixed-size types, one entry per
/// element for variable-length ones.
pub(super) enum PartElements {
    Fixed(Vec<u8>),
    Vlen(Vec<Vec<u8>>),
}

impl ChunkedDataset {
    /// Copies out the elements of `chunk` that `part` selects.
    pub(super) fn part_elements(&self, part: &ChunkPart, shape: &[u64], chunk: &[u8]) -> ChunkResult<PartElements> {
        if self.is_vlen() {
            let els = self.elements(chunk)?;
            let mut out = Vec::with_capacity(part.count() as usize);
            part.for_each_run(shape, |_, c, len| out.extend_from_slice(&els[c as usize..(c + len) as usize]));
            return Ok(PartElements::Vlen(out));
        }
        let is = self.item_size;
        let mut out = Vec::with_capacity(part.count() as usize * is);
        part.for_each_run(shape, |_, c, len| out.extend_from_slice(&chunk[c as usize * is..(c + len) as usize * is]));
        Ok(PartElements::Fixed(out))
    }

    /// Puts back the `before` value of every element of the part that still holds its `after` value (an
    /// element another request wrote since is left alone); true when anything changed.
    fn restore_part(&self, part: &ChunkPart, shape: &[u64], undo: &Undo, chunk: &mut Vec<u8>) -> ChunkResult<bool> {
        let mut changed = false;
        let mut k = 0usize;
        match (&undo.before, &undo.after) {
            (PartElements::Fixed(before), PartElements::Fixed(after)) => {
                let is = self.item_size;
                part.for_each_run(shape, |_, c, len| {
                    for e in c as usize..(c + len) as usize {
                        let (stored, saved) = (e * is..(e + 1) * is, k * is..(k + 1) * is);
                        if chunk[stored.clone()] == after[saved.clone()]
                            && before[saved.clone()] != after[saved.clone()]
                        {
                            chunk[stored].copy_from_slice(&before[saved]);
                            changed = true;
                        }
                        k += 1;
                    }
                });
            }
            (PartElements::Vlen(before), PartElements::Vlen(after)) => {
                let mut els = self.elements(chunk)?;
                part.for_each_run(shape, |_, c, len| {
                    for el in &mut els[c as usize..(c + len) as usize] {
                        if *el == after[k] && before[k] != after[k] {
                            el.clone_from(&before[k]);
                            changed = true;
                        }
                        k += 1;
                    }
                });
                if changed {
                    *chunk = els.concat();
                }
            }
            _ => return Err(ChunkError::Internal("chunk undo record of the wrong kind".into())),
        }
        Ok(changed)
    }
}

/// After one chunk of a write failed (e.g. gave up on contention): takes the write back out of the chunks
/// that were already written, so a failed write leaves nothing half-applied, and returns the error to
/// answer (the original one, or [`ChunkError::UndoFailed`] saying the undo failed too).
pub(super) async fn undo_written(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    shape: &[u64],
    written: &[(&ChunkPart, Undo)],
    failure: ChunkError,
) -> ChunkError {
    let undos: Vec<_> = written
        .iter()
        .map(|(part, undo)| {
            let retry = CasRetry::for_cleanup(&ds.chunk_key(&part.index));
            write_chunk_with(store, bucket, ds, &part.index, retry, move |chunk| {
                ds.restore_part(part, shape, undo, chunk)
            })
        })
        .collect();
    let results: Vec<_> = stream::iter(undos).buffer_unordered(ds.max_in_flight()).collect().await;
    match results.into_iter().find_map(Result::err) {
        None => failure,
        Some(e) => {
            tracing::error!("dataset {}: undoing a failed write failed: {e}", ds.id);
            ChunkError::UndoFailed { failure: Box::new(failure), undo: Box::new(e) }
        }
    }
}
