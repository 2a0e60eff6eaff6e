//! Streamed value reads: a selection served piece by piece in output order, when the invocation streams
//! ([`crate::stream::streaming`]).
//!
//! The selection is cut along its first output axis into pieces of about [`PIECE_BYTES`] (whole chunk rows
//! when they fit, so each chunk is decoded once); each piece is read by the chunk engine, projected onto the
//! requested fields, and sent on (binary as it is, JSON as the piece's rows of the `value` list). The first
//! piece is read before the response is returned, so a missing chunk table, an unreadable chunk or a bad
//! selection is an ordinary HTTP error; a failure after it ends the stream with Lambda's mid-stream error.
//! At most one piece waits in the channel while the next is assembled: memory stays bounded whatever the
//! size of the selection (up to Lambda's 200 MB streamed-response limit).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::{hrefs, json_opts, DatasetDoc, DomainDoc, Fields};
use crate::api::dataset::load_dataset;
use crate::api::Ctx;
use crate::chunk::engine::{self, ChunkedDataset};
use crate::error::{ApiError, ApiResult};
use crate::model::layout::ChunkSource;
use crate::model::selection::{Axis, Selection};
use crate::model::types::Datatype;
use crate::model::value::{bytes_to_json_with, JsonOpts};
use crate::model::{ObjId, ObjKind};
use crate::request::Response;
use crate::store::Store;
use crate::stream::{BodyStream, MAX_STREAMED_BODY};

/// Raw bytes of one binary piece.
const PIECE_BYTES: u64 = 2 << 20;
/// Raw bytes of one JSON piece (a JSON value costs tens of bytes per element while it is built).
const JSON_PIECE_BYTES: u64 = 256 << 10;
/// Largest selection answered as streamed JSON, in raw bytes: JSON text takes up to about eight times the
/// raw size of the data, and the whole text must fit the 200 MB streamed-response limit.
const MAX_STREAMED_JSON_RAW: u64 = MAX_STREAMED_BODY / 8;

/// Where the pieces are read from: the dataset's chunks and, for `H5D_CHUNKED_REF_INDIRECT`, its chunk table.
#[derive(Clone)]
struct Source {
    store: Arc<dyn Store>,
    bucket: String,
    chunks: ChunkedDataset,
    table: Option<ChunkedDataset>,
}

impl Source {
    async fn read(&self, sel: &Selection) -> ApiResult<Vec<u8>> {
        Ok(match &self.table {
            None => engine::read(self.store.as_ref(), &self.bucket, &self.chunks, sel).await?,
            Some(t) => engine::read_indirect(self.store.as_ref(), &self.bucket, &self.chunks, t, sel).await?,
        })
    }
}

/// How one piece of raw element bytes becomes body bytes.
#[derive(Clone)]
enum Encoding {
    /// Packed elements as they are.
    Binary,
    /// The piece's rows of the JSON `value` list; `dims` is the shape of the whole answer (first entry
    /// replaced by the piece's row count).
    Json { dtype: Datatype, dims: Vec<u64>, opts: JsonOpts, whole: bool },
}

impl Encoding {
    fn encode(&self, data: Vec<u8>, rows: u64) -> ApiResult<Bytes> {
        match self {
            Encoding::Binary => Ok(Bytes::from(data)),
            Encoding::Json { dtype, dims, opts, whole } => {
                let mut dims = dims.clone();
                if !*whole {
                    dims[0] = rows;
                }
                let text = bytes_to_json_with(dtype, &dims, &data, *opts)?.to_string();
                if *whole {
                    return Ok(Bytes::from(text));
                }
                // `[r0,r1,...]` → `r0,r1,...`: the pieces are joined inside one list.
                Ok(Bytes::from(text[1..text.len() - 1].to_string()))
            }
        }
    }
}

/// Largest piece whole chunk rows may make: four `target` pieces, or up to a sixteenth of the function's
/// memory when it has more. A piece cut inside a chunk row makes every chunk of that row be fetched and
/// decoded once per piece (without a chunk cache, five times for 250-row chunks in 52-row pieces); a whole
/// chunk row decodes each chunk once, and three pieces in flight still use under a fifth of the memory.
fn band_limit(target: u64, memory_mb: Option<u64>) -> u64 {
    (4 * target).max(memory_mb.map_or(0, |mb| (mb << 20) / 16))
}

/// Rows of the first output axis per piece: about `target` bytes, and whole chunk rows when the first axis
/// is a unit-stride slice whose chunk rows fit in `band` bytes ([`band_limit`]).
fn rows_per_piece(sel: &Selection, chunk_dims: &[u64], row_bytes: u64, target: u64, band: u64) -> u64 {
    let by_bytes = (target / row_bytes.max(1)).max(1);
    if let Some(Axis::Slice { dim, step: 1, .. }) = sel.axes().first() {
        let c = chunk_dims.get(*dim).copied().unwrap_or(1).max(1);
        if c * row_bytes <= band {
            return (by_bytes / c).max(1) * c;
        }
    }
    by_bytes
}

/// Output row ranges of the pieces, the first ending at a chunk boundary of a unit-stride slice.
fn piece_ranges(sel: &Selection, chunk_dims: &[u64], per_piece: u64) -> Vec<std::ops::Range<u64>> {
    let rows = sel.axes().first().map(Axis::len).unwrap_or(1);
    // Align to the chunk grid: the first piece ends where a chunk row ends.
    let mut first = per_piece;
    if let Some(Axis::Slice { dim, start, step: 1, .. }) = sel.axes().first() {
        let c = chunk_dims.get(*dim).copied().unwrap_or(1).max(1);
        if per_piece.is_multiple_of(c) {
            first = per_piece - start % c;
        }
    }
    let mut out = Vec::new();
    let mut a = 0;
    let mut n = first.max(1);
    while a < rows {
        let b = (a + n).min(rows);
        out.push(a..b);
        a = b;
        n = per_piece;
    }
    if out.is_empty() {
        out.push(0..rows);
    }
    out
}

/// Serves `sel` of `ds` as a streamed body (binary, or JSON `{["status": 200,] "hrefs": [...], "value": [...]}`
/// as HSDS's `GET_Value` / `POST_Value`).
pub(super) async fn streamed_read(
    ctx: &Ctx<'_>,
    dom: &DomainDoc,
    ds: &DatasetDoc,
    sel: &Selection,
    fields: &Fields,
    get: bool,
) -> ApiResult<Response> {
    let binary = ctx.req.wants_binary();
    // Variable-length elements take at least their 4-byte count; the emitted size is checked as it goes.
    let is = ds.dtype.item_size().unwrap_or(4) as u64;
    let bytes = sel.count()?.checked_mul(is).ok_or_else(|| ApiError::too_large("selection too large"))?;
    let limit = if binary { MAX_STREAMED_BODY } else { MAX_STREAMED_JSON_RAW };
    let row_bytes = sel.first_axis_row_count().max(1) * is;
    if bytes > limit {
        let rows = (limit / row_bytes).max(1);
        return Err(ApiError::too_large(format!(
            "the selection is {bytes} bytes, over the {limit}-byte limit of one streamed {} response \
             (Lambda streams at most 200 MB); read at most {rows} rows along the first dimension per request, \
             e.g. select=[0:{rows},...]",
            if binary { "binary" } else { "JSON" },
        )));
    }
    let table = match &ds.chunks.grid.source {
        ChunkSource::ChunkedRefIndirect { chunk_table, .. } => {
            let id = ObjId::parse_kind(chunk_table, ObjKind::Dataset).map_err(|e| {
                ApiError::bad_request(format!("dataset {}: invalid chunk_table in its layout: {e}", ds.id))
            })?;
            Some(load_dataset(ctx, dom, &id).await?.chunks)
        }
        _ => None,
    };
    let source = Source { store: ctx.svc.store.clone(), bucket: ctx.bucket.clone(), chunks: ds.chunks.clone(), table };
    let target = if binary { PIECE_BYTES } else { JSON_PIECE_BYTES };
    let ranges = if ds.shape.is_scalar() {
        // One piece holding the scalar's one element.
        std::iter::once(0..1).collect()
    } else {
        piece_ranges(
            sel,
            &ds.chunks.grid.chunk_dims,
            rows_per_piece(
                sel,
                &ds.chunks.grid.chunk_dims,
                row_bytes,
                target,
                band_limit(target, engine::function_memory_mb()),
            ),
        )
    };
    let whole = ranges.len() == 1;
    let encoding = if binary {
        Encoding::Binary
    } else {
        let shape = if get && ctx.req.flag("reduce_dim") { sel.reduced_shape() } else { sel.shape() };
        let dims = if ds.shape.is_scalar() { Vec::new() } else { shape };
        // A reduced first axis has one row, so there is one piece and the shape is used as it is.
        Encoding::Json { dtype: fields.dtype(ds), dims, opts: json_opts(ctx), whole }
    };
    let read_piece = {
        let (source, fields, ds, sel, encoding) = (source, fields.clone(), ds.clone(), sel.clone(), encoding);
        move |rows: std::ops::Range<u64>| {
            let (source, fields, ds, encoding) = (source.clone(), fields.clone(), ds.clone(), encoding.clone());
            let piece = if whole { sel.clone() } else { sel.first_axis_rows(rows.clone()) };
            async move {
                let data = source.read(&piece).await?;
                let data = fields.project(&ds, data, piece.count()? as usize)?;
                encoding.encode(data, rows.end - rows.start)
            }
        }
    };
    // The first piece before the status line: its errors are ordinary HTTP errors.
    let first = read_piece(ranges[0].clone()).await?;
    let (head, tail): (Bytes, Bytes) = if binary {
        (Bytes::new(), Bytes::new())
    } else {
        let hrefs = hrefs(ctx, ds, "value");
        let status = if get { "\"status\":200," } else { "" };
        let open = if whole { "" } else { "[" };
        let close = if whole { "}" } else { "]}" };
        (Bytes::from(format!("{{{status}\"hrefs\":{hrefs},\"value\":{open}")), Bytes::from_static(close.as_bytes()))
    };
    let mut rsp = if binary { Response::binary(first.clone()) } else { Response::json(200, &Value::Null) };
    if !binary {
        let mut b = head.to_vec();
        b.extend_from_slice(&first);
        if whole {
            b.extend_from_slice(&tail);
        }
        rsp.body = Bytes::from(b);
    }
    if whole {
        return Ok(rsp);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, ApiError>>(1);
    let deadline = crate::deadline::remaining().map(|left| std::time::Instant::now() + left + crate::deadline::MARGIN);
    let mut emitted = rsp.body.len() as u64;
    let producer = async move {
        for rows in ranges.into_iter().skip(1) {
            let piece = read_piece(rows).await.and_then(|mut b| {
                // JSON pieces are joined by a comma; binary pieces are sent as they are.
                emitted += b.len() as u64 + u64::from(!binary);
                if emitted > MAX_STREAMED_BODY {
                    return Err(ApiError::too_large(format!(
                        "the response grew past the {MAX_STREAMED_BODY} bytes a body may use of Lambda's 200 MB \
                         streamed-response limit; \
                         read fewer elements per request"
                    )));
                }
                if !binary {
                    let mut v = Vec::with_capacity(b.len() + 1);
                    v.push(b',');
                    v.extend_from_slice(&b);
                    b = Bytes::from(v);
                }
                Ok(b)
            });
            let failed = piece.is_err();
            if tx.send(piece).await.is_err() || failed {
                return; // the caller went away, or the stream ended with an error
            }
        }
        if !binary {
            let _ = tx.send(Ok(tail)).await;
        }
    };
    tokio::spawn(crate::deadline::with_deadline(deadline, producer));
    let stream: BodyStream =
        Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }));
    Ok(rsp.streamed(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_follow_chunk_rows() {
        let sel = Selection::parse("[5:300,:]", &[1000, 10]).unwrap();
        // 40-byte rows, chunks of 100 rows (4000 bytes): 2 chunk rows per 8000-byte piece.
        let per = rows_per_piece(&sel, &[100, 10], 40, 8000, 32000);
        assert_eq!(per, 200);
        let r = piece_ranges(&sel, &[100, 10], per);
        assert_eq!(r, vec![0..195, 195..295]);
        // A strided first axis is cut by bytes only.
        let sel = Selection::parse("[0:1000:3,:]", &[1000, 10]).unwrap();
        assert_eq!(rows_per_piece(&sel, &[100, 10], 40, 8000, 32000), 200);
        let r = piece_ranges(&sel, &[100, 10], 200);
        assert_eq!(r.first(), Some(&(0..200)));
        assert_eq!(r.last().map(|r| r.end), Some(334));
    }

    /// selbench's 40 MB block: 250-row chunks of 40,000-byte rows make 10 MB chunk rows. At 128 MB a piece
    /// stays near 2 MB (52 rows, cut inside chunk rows: bounded memory first); at 1,769 MB a piece is a whole
    /// chunk row, so each chunk is decoded once.
    #[test]
    fn larger_functions_stream_whole_chunk_rows() {
        let sel = Selection::parse("[0:1000,0:100,0:100]", &[2000, 100, 100]).unwrap();
        let chunks = [250, 25, 25];
        let at = |mb| rows_per_piece(&sel, &chunks, 40_000, PIECE_BYTES, band_limit(PIECE_BYTES, mb));
        assert_eq!(at(Some(128)), 52);
        assert_eq!(at(None), 52);
        assert_eq!(at(Some(1769)), 250);
        assert_eq!(band_limit(PIECE_BYTES, Some(128)), 8 << 20);
        assert_eq!(band_limit(PIECE_BYTES, Some(1769)), (1769 << 20) / 16);
    }
}
