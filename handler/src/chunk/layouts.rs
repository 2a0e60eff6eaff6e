//! The chunk layouts of datasets a warm instance has read, so that its next read of the same dataset can
//! revalidate the cached chunks it will need while the domain and the dataset are still being read.
//!
//! What a read needs to name its chunk keys — the dataset id, chunk dims, type, filters — never changes once
//! the dataset exists (ids are never reused); only the extent can (a resize), so a remembered extent is a
//! guess. Nothing here is trusted for correctness: the read still uses the dataset JSON it has just read, and
//! what an early revalidation learnt is a fact about chunk keys at the start of the request, true whatever
//! the layout ([`crate::chunk::engine::ChunkedDataset::revalidate_cached`]).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::chunk::engine::ChunkedDataset;
use crate::model::ObjId;

/// Datasets remembered at most; the memory is cleared when it is full (a few hundred bytes per dataset).
pub const MAX_LAYOUTS: usize = 1024;

/// Remembered chunk layouts by dataset id.
#[derive(Debug, Default)]
pub struct Layouts {
    by_id: Mutex<HashMap<ObjId, ChunkedDataset>>,
}

impl Layouts {
    /// Remembers the layout of `ds` (as read by this request).
    pub fn remember(&self, ds: &ChunkedDataset) {
        let mut by_id = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        if by_id.len() >= MAX_LAYOUTS && !by_id.contains_key(&ds.id) {
            by_id.clear();
        }
        by_id.insert(ds.id.clone(), ChunkedDataset { listed: None, ..ds.clone() });
    }

    /// The layout remembered for dataset `id`, with the extent it had then.
    pub fn recall(&self, id: &ObjId) -> Option<ChunkedDataset> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjKind;

    fn dataset(id: &ObjId) -> ChunkedDataset {
        let base = crate::chunk::engine::tests::dataset(&[10], &[5], serde_json::Value::Null, 0);
        ChunkedDataset { id: id.clone(), listed: Some(Default::default()), ..base }
    }

    #[test]
    fn remembers_layouts_without_the_requests_listing_and_stays_bounded() {
        let layouts = Layouts::default();
        let first = ObjId::new_child(ObjKind::Dataset, &ObjId::new_root());
        layouts.remember(&dataset(&first));
        let back = layouts.recall(&first).expect("remembered");
        assert_eq!(back.grid.chunk_dims, vec![5]);
        assert!(back.listed.is_none(), "a request's listing is not kept for the next request");
        for _ in 0..MAX_LAYOUTS {
            let root = ObjId::new_root();
            layouts.remember(&dataset(&ObjId::new_child(ObjKind::Dataset, &root)));
        }
        assert!(layouts.by_id.lock().unwrap().len() <= MAX_LAYOUTS);
    }
}
