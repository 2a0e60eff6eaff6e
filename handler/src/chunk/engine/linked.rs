//! Chunks that live in HDF5 files (HSDS's reference layouts): `H5D_CHUNKED_REF` (a byte range per chunk
//! in the layout), `H5D_CONTIGUOUS_REF` (virtual chunks cut from one contiguous range) and
//! `H5D_CHUNKED_REF_INDIRECT` (ranges located through a chunk table dataset, possibly several HDF5 chunks
//! per chunk). These datasets are read-only.

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::limits::MAX_CHUNKS_IN_FLIGHT;
use super::ChunkedDataset;
use crate::chunk::{ChunkError, ChunkResult};
use crate::model::chunk_table::{hyper_index, ChunkRef};
use crate::model::layout::split_file_uri;
use crate::store::Store;

impl ChunkedDataset {
    /// A chunk of an `H5D_CHUNKED_REF` dataset: the byte range its layout gives for it in the HDF5 file,
    /// decoded; `None` (fill) when the layout lists no range for it.
    pub(super) async fn fetch_chunked_ref(
        &self,
        store: &dyn Store,
        file_uri: &str,
        chunks: &serde_json::Map<String, serde_json::Value>,
        index: &[u64],
    ) -> ChunkResult<Option<Bytes>> {
        let key: Vec<String> = index.iter().map(u64::to_string).collect();
        let loc = chunks.get(&key.join("_")).and_then(|v| v.as_array());
        let (off, size) = match loc.map(|a| (a.first().and_then(|v| v.as_u64()), a.get(1).and_then(|v| v.as_u64()))) {
            Some((Some(o), Some(s))) if s > 0 => (o, s),
            _ => return Ok(None),
        };
        let (b, k) = split_file_uri(file_uri)?;
        let stored = store.get_range(&b, &k, off, size).await?;
        self.decode(stored).await.map(Some)
    }

    pub(super) async fn fetch_contiguous(
        &self,
        store: &dyn Store,
        file_uri: &str,
        offset: u64,
        size: u64,
        index: &[u64],
    ) -> ChunkResult<Vec<u8>> {
        let rank = self.extent.len();
        let mut stride = 1u64;
        let mut first = 0u64;
        for d in (0..rank).rev() {
            first += index[d] * self.grid.chunk_dims[d] * stride;
            stride *= self.extent[d];
        }
        let start = first * self.item_size as u64;
        let want = (self.chunk_bytes() as u64).min(size.saturating_sub(start));
        let mut chunk = self.fill_chunk();
        if want > 0 {
            let (b, k) = split_file_uri(file_uri)?;
            let got = store.get_range(&b, &k, offset + start, want).await?;
            let n = got.len().min(chunk.len());
            chunk[..n].copy_from_slice(&got[..n]);
        }
        Ok(chunk)
    }

    /// One chunk of an `H5D_CHUNKED_REF_INDIRECT` dataset from its located HDF5 chunks `refs` (position
    /// `sub` in C order of the chunk's `factors` grid, and byte range): each range is read and decoded as a
    /// chunk of `h5` (the HDF5 chunk shape) and placed; a single HDF5 chunk covering the whole chunk is used
    /// as is. Ranges cut short by the end of the file are zero-padded, as HSDS does.
    pub(super) async fn fetch_hyperchunks(
        &self,
        store: &dyn Store,
        h5: &ChunkedDataset,
        factors: &[u64],
        refs: &[(u64, ChunkRef)],
    ) -> ChunkResult<Bytes> {
        let h5_bytes = h5.chunk_bytes();
        let one = |r: ChunkRef| async move {
            let uri = r.file_uri.ok_or_else(|| {
                ChunkError::Invalid(format!(
                    "the chunk table of dataset {} gives no file_uri for a chunk and the layout has none",
                    self.id
                ))
            })?;
            let (b, k) = split_file_uri(&uri)?;
            let mut got = store.get_range(&b, &k, r.offset, r.size).await?;
            if (got.len() as u64) < r.size && got.len() < h5_bytes && h5.pipeline.is_identity() {
                let mut padded = got.to_vec();
                padded.resize(h5_bytes, 0);
                got = Bytes::from(padded);
            }
            h5.decode(got).await
        };
        if factors.iter().all(|&f| f == 1) {
            return match refs.first() {
                Some((_, r)) => one(r.clone()).await,
                None => Ok(Bytes::from(self.fill_chunk())),
            };
        }
        let fetches: Vec<_> = refs
            .iter()
            .map(|(sub, r)| {
                let f = one(r.clone());
                async move { Ok::<_, ChunkError>((*sub, f.await?)) }
            })
            .collect();
        let mut results = stream::iter(fetches).buffer_unordered(MAX_CHUNKS_IN_FLIGHT);
        let mut chunk = self.fill_chunk();
        while let Some((sub, data)) = results.try_next().await? {
            place_hyperchunk(
                &mut chunk,
                &self.grid.chunk_dims,
                &h5.grid.chunk_dims,
                &hyper_index(sub, factors),
                &data,
                self.item_size,
            );
        }
        Ok(Bytes::from(chunk))
    }
}

/// Copies a decoded hyperchunk (`hyper` dims, C order) into `chunk` (`chunk_dims`) at hyperchunk position `pos`.
fn place_hyperchunk(chunk: &mut [u8], chunk_dims: &[u64], hyper: &[u64], pos: &[u64], data: &[u8], is: usize) {
    let rank = chunk_dims.len();
    if rank == 0 {
        return;
    }
    let row = hyper[rank - 1] as usize * is;
    let rows: u64 = hyper[..rank - 1].iter().product();
    for r in 0..rows {
        // Coordinates of this row inside the hyperchunk, then its element offset inside the chunk.
        let mut rem = r;
        let mut at = 0u64;
        let mut stride = chunk_dims[rank - 1];
        at += pos[rank - 1] * hyper[rank - 1];
        for d in (0..rank - 1).rev() {
            let x = rem % hyper[d];
            rem /= hyper[d];
            at += (pos[d] * hyper[d] + x) * stride;
            stride *= chunk_dims[d];
        }
        let (src, dst) = (r as usize * row, at as usize * is);
        chunk[dst..dst + row].copy_from_slice(&data[src..src + row]);
    }
}
