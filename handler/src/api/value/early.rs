//! Early revalidation of a warm read: while a `GET /datasets/{id}/value` reads its domain and dataset (one
//! concurrent round trip), it also asks the store about the cached chunks it is going to read, so a read
//! served from the chunk cache costs one round trip to the store instead of two.
//!
//! The chunks are named from the dataset's layout as this instance last read it
//! ([`crate::chunk::layouts`]); the selection is parsed against the extent remembered with it. What comes
//! back is a set of facts about chunk keys at the start of the request — present with this ETag, or absent
//! — true whatever the dataset's current JSON says, which the read then follows as usual: keys the facts do
//! not cover are listed or revalidated as if nothing had been learnt early. Nothing is returned to the
//! caller before the domain's ACL allows the read.

use std::sync::Arc;

use super::params::Params;
use super::regionref::regionref_param;
use crate::api::Ctx;
use crate::chunk::engine::listing::ChunkListing;
use crate::chunk::engine::{chunks_touched, ChunkedDataset};
use crate::model::selection::Selection;
use crate::model::ObjId;

/// Most chunks a read may touch for its chunks to be revalidated early: one LIST page holds at most
/// [`crate::chunk::engine::listing::LIST_MAX_KEYS`] keys, and the work done before the ACL check stays small.
const MAX_EARLY_CHUNKS: u64 = 256;
/// Largest read (raw bytes) whose chunks are revalidated early. A larger read spends its time moving bytes,
/// not waiting for the store: measured on selbench's 40 MB block, revalidating early saved nothing and
/// cost 1-3 ms (the pieces are then assembled back to back, competing with the bytes being sent).
const MAX_EARLY_BYTES: u64 = 2 << 20;

/// What the store says now about the cached chunks the request in `p` will read from dataset `id`, when
/// this instance has read the dataset before; `None` otherwise (no remembered layout, a selection the
/// remembered extent does not hold, a query or region reference, a store error — the read then revalidates
/// as usual).
pub(super) async fn revalidate(ctx: &Ctx<'_>, id: &ObjId, p: &Params<'_>) -> Option<Arc<ChunkListing>> {
    let ds = ctx.svc.layouts.recall(id)?;
    let sel = planned_selection(&ds, p)?;
    let bytes = sel.count().ok()?.saturating_mul(ds.item_size.max(1) as u64);
    if bytes > MAX_EARLY_BYTES || chunks_touched(&sel, &ds.grid.chunk_dims) > MAX_EARLY_CHUNKS {
        return None;
    }
    let indices: Vec<Vec<u64>> = sel.chunks(&ds.grid.chunk_dims).into_iter().map(|part| part.index).collect();
    let listing = ds.revalidate_cached(ctx.store(), &ctx.bucket, &indices).await.ok()?;
    (!listing.is_empty()).then(|| Arc::new(listing))
}

/// The selection of a plain read (`select` or the whole dataset) against the remembered extent.
fn planned_selection(ds: &ChunkedDataset, p: &Params<'_>) -> Option<Selection> {
    if regionref_param(p).is_some() || p.param("query").is_some() || ds.extent.is_empty() {
        return None;
    }
    match p.select_text().ok()? {
        None => Some(Selection::all(&ds.extent)),
        Some(text) => Selection::parse(&text, &ds.extent).ok(),
    }
}
