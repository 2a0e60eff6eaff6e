//! The read path: a selection read chunk by chunk into one C-order output buffer, at most
//! [`ChunkedDataset::max_in_flight`] chunks at a time, each copied out as soon as it arrives.

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::limits::check_limits;
use super::ChunkedDataset;
use crate::chunk::{ChunkError, ChunkResult};
use crate::model::chunk_table::{hyper_factors, table_points, ChunkRef, TableFormat};
use crate::model::layout::{ChunkGrid, ChunkSource};
use crate::model::selection::{ChunkPart, Selection};
use crate::store::Store;

/// Reads `sel` into one C-order buffer: `sel.count() * item_size` bytes, or for variable-length types the
/// selected elements packed one after the other. `H5D_CHUNKED_REF_INDIRECT` datasets need their chunk
/// table: read them with [`read_indirect`].
///
/// # Errors
/// [`ChunkError::TooLarge`] past the [`limits`](super::limits); store failures, and chunks that cannot be
/// decoded ([`ChunkError::Codec`], [`ChunkError::Corrupt`]).
pub async fn read(store: &dyn Store, bucket: &str, ds: &ChunkedDataset, sel: &Selection) -> ChunkResult<Vec<u8>> {
    if matches!(ds.grid.source, ChunkSource::ChunkedRefIndirect { .. }) {
        return Err(ChunkError::Internal(format!(
            "dataset {} is H5D_CHUNKED_REF_INDIRECT: read it with its chunk table",
            ds.id
        )));
    }
    check_limits(sel, ds)?;
    let parts = sel.chunks(&ds.grid.chunk_dims);
    let indices: Vec<Vec<u64>> = parts.iter().map(|p| p.index.clone()).collect();
    let listing = &match ds.listed.as_deref() {
        Some(early) if indices.iter().all(|i| early.contains_key(&ds.chunk_key(i))) => Cow::Borrowed(early),
        _ => Cow::Owned(ds.list_chunks_of_read(store, bucket, &indices).await?),
    };
    assemble(ds, sel, parts, |index, need| {
        async move { ds.fetch_listed(store, bucket, &index, need, listing).await }.boxed()
    })
    .await
}

/// Reads `sel` of an `H5D_CHUNKED_REF_INDIRECT` dataset whose chunk table dataset is `table` (HSDS 1.0.2
/// `getChunkLocations`): the table elements of the selection's chunks are read with one point selection,
/// then each chunk's byte range(s) are read from the HDF5 file(s), decoded and (for `hyper_dims`) placed.
/// Chunks whose table entries have size 0, or lie outside the table, read as fill.
///
/// # Errors
/// [`ChunkError::Invalid`] (or [`ChunkError::Model`]) for a chunk table of another rank, type or layout, or
/// `hyper_dims` that do not divide the chunk dims; as [`read`] otherwise.
pub async fn read_indirect(
    store: &dyn Store,
    bucket: &str,
    ds: &ChunkedDataset,
    table: &ChunkedDataset,
    sel: &Selection,
) -> ChunkResult<Vec<u8>> {
    let ChunkSource::ChunkedRefIndirect { file_uri, hyper_dims, .. } = &ds.grid.source else {
        return read(store, bucket, ds, sel).await;
    };
    let rank = ds.grid.chunk_dims.len();
    if table.extent.len() != rank {
        return Err(ChunkError::Invalid(format!(
            "the chunk table {} has rank {} but the dataset {} has rank {rank}",
            table.id,
            table.extent.len(),
            ds.id
        )));
    }
    if matches!(table.grid.source, ChunkSource::ChunkedRefIndirect { .. }) {
        return Err(ChunkError::Invalid(format!("the chunk table {} is itself H5D_CHUNKED_REF_INDIRECT", table.id)));
    }
    let format = TableFormat::of(&table.dtype)?;
    let hyper = hyper_dims.clone().unwrap_or_else(|| ds.grid.chunk_dims.clone());
    let factors = hyper_factors(&ds.grid.chunk_dims, &hyper)?;
    check_limits(sel, ds)?;
    let parts = sel.chunks(&ds.grid.chunk_dims);
    // Table coordinates of every hyperchunk of every chunk touched, and which (chunk, hyperchunk) each is.
    let mut points = Vec::new();
    let mut owners = Vec::new();
    for part in &parts {
        for (sub, p) in table_points(&part.index, &factors).into_iter().enumerate() {
            if p.iter().zip(&table.extent).all(|(&c, &e)| c < e) {
                points.push(p);
                owners.push((part.index.clone(), sub as u64));
            }
        }
    }
    let mut located: HashMap<Vec<u64>, Vec<(u64, ChunkRef)>> = HashMap::new();
    if !points.is_empty() {
        let entries = read(store, bucket, table, &Selection::points(points, &table.extent)?).await?;
        for ((index, sub), elem) in owners.into_iter().zip(entries.chunks_exact(table.item_size.max(1))) {
            let mut r = format.entry(elem);
            if file_uri.is_some() {
                r.file_uri.clone_from(file_uri);
            }
            if r.size > 0 {
                located.entry(index).or_default().push((sub, r));
            }
        }
    }
    let h5 = ChunkedDataset {
        extent: hyper.clone(),
        grid: ChunkGrid { chunk_dims: hyper, source: ChunkSource::Hsds },
        cache: None,
        listed: None,
        init: None,
        ..ds.clone()
    };
    let (located, h5, factors) = (&located, &h5, &factors);
    assemble(ds, sel, parts, |index, _| {
        async move {
            match located.get(&index) {
                None => Ok(None),
                Some(refs) => ds.fetch_hyperchunks(store, h5, factors, refs).await.map(Some),
            }
        }
        .boxed()
    })
    .await
}

/// Fetches every part of `sel` (at most [`ChunkedDataset::max_in_flight`] at a time) with `fetch(index,
/// bytes of the chunk the part reads from its start)` (the decoded chunk, `None` for fill) and copies each
/// into the output as it arrives.
async fn assemble<'a>(
    ds: &ChunkedDataset,
    sel: &Selection,
    parts: Vec<ChunkPart>,
    fetch: impl Fn(Vec<u64>, usize) -> BoxFuture<'a, ChunkResult<Option<Bytes>>>,
) -> ChunkResult<Vec<u8>> {
    let n = sel.count()? as usize;
    let is = ds.item_size;
    let shape = sel.shape();
    // Futures are collected first: a lazily mapped iterator inside the stream makes the future not `Send`.
    let fetches: Vec<_> = parts
        .into_iter()
        .map(|part| {
            let last: u64 = part.axes.iter().map(|a| a.iter().map(|&(_, c)| c).max().unwrap_or(0)).sum();
            let chunk = fetch(part.index.clone(), (last as usize + 1) * is);
            async move { Ok::<_, ChunkError>((part, chunk.await?)) }
        })
        .collect();
    let mut results = stream::iter(fetches).buffer_unordered(ds.max_in_flight());
    if ds.is_vlen() {
        let mut out = vec![ds.fill.clone(); n];
        while let Some((part, chunk)) = results.try_next().await? {
            let Some(chunk) = chunk else { continue };
            let els = ds.elements(&chunk)?;
            part.for_each_run(&shape, |o, c, len| {
                out[o as usize..(o + len) as usize].clone_from_slice(&els[c as usize..(c + len) as usize]);
            });
        }
        return Ok(out.concat());
    }
    let mut out = vec![0u8; n * is];
    while let Some((part, chunk)) = results.try_next().await? {
        copy_out(&part, &shape, chunk.as_deref(), &ds.fill, is, &mut out);
    }
    Ok(out)
}

/// Copies one chunk part (or fill, for a missing chunk) into its place in the output.
fn copy_out(part: &ChunkPart, shape: &[u64], chunk: Option<&[u8]>, fill: &[u8], is: usize, out: &mut [u8]) {
    part.for_each_run(shape, |o, c, len| {
        let (o, c, len) = (o as usize * is, c as usize * is, len as usize * is);
        match chunk {
            Some(chunk) => out[o..o + len].copy_from_slice(&chunk[c..c + len]),
            None => out[o..o + len].chunks_exact_mut(is.max(1)).for_each(|e| e.copy_from_slice(fill)),
        }
    });
}
