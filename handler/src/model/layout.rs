//! Dataset layouts: HSDS 1.0.2's automatic chunking (`h5json.dset_util.generateLayout`, `guessChunk`,
//! `expandChunk`, `shrinkChunk`), validation of client layouts, the chunk grid of a stored dataset, and
//! the linked-HDF5 reference layouts (`H5D_CHUNKED_REF`, `H5D_CHUNKED_REF_INDIRECT`, `H5D_CONTIGUOUS_REF`).
//!
//! Verified against HSDS 1.0.2: the layout lives only in `creationProperties.layout` (no top-level
//! `layout` key); a small, non-extensible, unfiltered dataset is `{"class":"H5D_CONTIGUOUS"}` and is
//! stored as one chunk of the whole shape (key `0_0...`); a client's `H5D_CHUNKED` dims are kept as
//! given (only validated), not expanded or shrunk.

use serde_json::{json, Value};

use super::shape::{MaxDim, Shape};
use super::types::Datatype;
use super::ModelError;

/// Item size HSDS assumes for variable-length types when sizing chunks.
pub const VLEN_GUESS_SIZE: u64 = 128;

fn invalid(msg: impl Into<String>) -> ModelError {
    ModelError::invalid(msg)
}

fn product(dims: &[u64], item: u64) -> u64 {
    dims.iter().fold(item, |n, &d| n.saturating_mul(d))
}

/// `expandChunk`: grow `layout` until it holds at least `min` bytes.
pub fn expand_chunk(layout: &[u64], item: u64, dims: &[u64], maxdims: Option<&[MaxDim]>, min: u64) -> Vec<u64> {
    let mut layout = layout.to_vec();
    let rank = dims.len();
    let mut extendable =
        maxdims.map_or(0, |m| (0..rank).filter(|&i| m[i].as_u64() == 0 || m[i].as_u64() > dims[i]).count());
    if product(dims, item) <= min && extendable == 0 {
        return dims.to_vec();
    }
    let mut size = product(&layout, item);
    if size >= min {
        return layout;
    }
    while size < min {
        let old = size;
        for n in 0..rank {
            let dim = rank - n - 1;
            if extendable > 0 {
                let m = maxdims.expect("extendable implies maxdims")[dim];
                if m == MaxDim::Unlimited {
                    layout[dim] *= 2;
                } else if m.as_u64() > layout[dim] {
                    layout[dim] *= 2;
                    if layout[dim] >= dims[dim] {
                        layout[dim] = m.as_u64();
                        extendable -= 1;
                    }
                } else {
                    continue;
                }
            } else if dims[dim] > layout[dim] {
                layout[dim] = (layout[dim] * 2).min(dims[dim]);
            } else {
                continue;
            }
            size = product(&layout, item);
            if size > min {
                break;
            }
        }
        if size <= old || size > min {
            break;
        }
    }
    layout
}

/// `shrinkChunk`: halve dims (rounding up) from the first onward until the chunk holds at most `max` bytes.
pub fn shrink_chunk(layout: &[u64], item: u64, max: u64) -> Vec<u64> {
    let mut layout = layout.to_vec();
    let mut size = product(&layout, item);
    while size > max {
        let old = size;
        for d in 0..layout.len() {
            if layout[d] > 1 {
                layout[d] = layout[d].div_ceil(2);
                size = product(&layout, item);
                if size <= max {
                    break;
                }
            }
        }
        if size >= old || size <= max {
            break;
        }
    }
    layout
}

/// `guessChunk`: start from maxdims (unlimited → 1024) or dims, then expand to `min` or shrink to `max`.
pub fn guess_chunk(dims: &[u64], maxdims: Option<&[MaxDim]>, item: u64, min: u64, max: u64) -> Vec<u64> {
    let start: Vec<u64> = match maxdims {
        Some(m) => m.iter().map(|m| if *m == MaxDim::Unlimited { 1024 } else { m.as_u64() }).collect(),
        None => dims.to_vec(),
    };
    let start: Vec<u64> = start.into_iter().map(|d| if d == 0 { 1024 } else { d }).collect();
    let size = product(&start, item);
    if size < min {
        expand_chunk(&start, item, dims, maxdims, min)
    } else if size > max {
        shrink_chunk(&start, item, max)
    } else {
        start
    }
}

/// `estimateDatasetSize`: bytes of the dataset, or of its fixed maxdims, at least `min` when extensible.
fn estimate_size(shape: &Shape, item: u64, min: u64) -> u64 {
    match shape {
        Shape::Null => 0,
        Shape::Scalar => item,
        Shape::Simple { dims, maxdims: None } => product(dims, item),
        Shape::Simple { maxdims: Some(m), .. } => {
            let n = m.iter().filter(|m| **m != MaxDim::Unlimited).fold(item, |n, m| n.saturating_mul(m.as_u64()));
            if n < min {
                min.div_ceil(item) * item
            } else {
                n
            }
        }
    }
}

/// The layout HSDS generates for a dataset created without one (`generateLayout`). `item` is the element
/// size (use [`VLEN_GUESS_SIZE`] for variable-length types); `filtered` forces a chunked layout.
pub fn generate_layout(shape: &Shape, item: u64, filtered: bool, min: u64, max: u64) -> Value {
    match shape {
        Shape::Null => json!({}),
        Shape::Scalar => json!({"class": "H5D_CONTIGUOUS"}),
        Shape::Simple { dims, maxdims } => {
            if estimate_size(shape, item, min) < min && maxdims.is_none() && !filtered {
                return json!({"class": "H5D_CONTIGUOUS"});
            }
            let chunk = guess_chunk(dims, maxdims.as_deref(), item, min, max);
            json!({"class": "H5D_CHUNKED", "dims": chunk})
        }
    }
}

/// Checks a client-supplied `creationProperties.layout` against the shape (`validateLayout`).
pub fn validate_layout(layout: &Value, shape: &Shape, vlen: bool) -> Result<(), ModelError> {
    let obj = layout.as_object().ok_or_else(|| invalid("creationProperties.layout must be an object"))?;
    let class = obj.get("class").and_then(Value::as_str).ok_or_else(|| invalid("layout has no class"))?;
    let has = |k: &str| obj.contains_key(k);
    let (dims, maxdims) = match shape {
        Shape::Simple { dims, maxdims } => (dims.clone(), maxdims.clone()),
        _ => (Vec::new(), None),
    };
    if let Some(cd) = obj.get("dims") {
        let cd = chunk_dims_json(cd)?;
        if cd.len() != dims.len() {
            return Err(invalid(format!("layout dims {cd:?} do not match the dataset rank {}", dims.len())));
        }
        for (i, &c) in cd.iter().enumerate() {
            let limit = match &maxdims {
                None => Some(dims[i]),
                Some(m) if m[i] == MaxDim::Unlimited => None,
                Some(m) => Some(m[i].as_u64()),
            };
            if limit.is_some_and(|l| c > l) {
                return Err(invalid(format!("layout dims {cd:?} exceed the dataset extent in dimension {i}")));
            }
        }
    }
    let is_ref = class.ends_with("_REF") || class == "H5D_CHUNKED_REF_INDIRECT";
    if is_ref && vlen {
        return Err(invalid("datasets with variable-length types cannot use reference layouts"));
    }
    let need = |keys: &[&str]| -> Result<(), ModelError> {
        match keys.iter().find(|k| !has(k)) {
            Some(k) => Err(invalid(format!("{k:?} key must be provided for {class} layout"))),
            None => Ok(()),
        }
    };
    match class {
        "H5D_CHUNKED" => {
            need(&["dims"])?;
            if !matches!(shape, Shape::Simple { .. }) {
                return Err(invalid("a chunked layout is only valid for H5S_SIMPLE shapes"));
            }
        }
        "H5D_CHUNKED_REF" => need(&["file_uri", "dims", "chunks"])?,
        "H5D_CHUNKED_REF_INDIRECT" => {
            need(&["dims", "chunk_table"])?;
            let t = obj["chunk_table"].as_str().unwrap_or("");
            super::ObjId::parse_kind(t, super::ObjKind::Dataset)
                .map_err(|_| invalid(format!("invalid chunk table id: {}", obj["chunk_table"])))?;
        }
        "H5D_CONTIGUOUS_REF" => {
            need(&["file_uri", "offset", "size"])?;
            if has("dims") || maxdims.is_some() {
                return Err(invalid("H5D_CONTIGUOUS_REF takes no dims and no maxdims"));
            }
        }
        "H5D_CONTIGUOUS" | "H5D_COMPACT" => {
            if has("dims") || maxdims.is_some() {
                return Err(invalid(format!("{class} takes no dims and no maxdims (use H5D_CHUNKED)")));
            }
        }
        other => return Err(invalid(format!("unknown layout class {other:?}"))),
    }
    Ok(())
}

fn chunk_dims_json(v: &Value) -> Result<Vec<u64>, ModelError> {
    let list = match v {
        Value::Number(_) => vec![v.clone()],
        Value::Array(a) => a.clone(),
        _ => return Err(invalid("layout dims must be a list of positive integers")),
    };
    list.iter()
        .map(|d| d.as_u64().filter(|&d| d > 0).ok_or_else(|| invalid(format!("invalid layout dim {d}"))))
        .collect()
}

/// A chunk initializer HSDS 1.0.2 runs itself (`creationProperties.initializer`, `datanode_lib.py`): a chunk
/// that was never written reads — and is first written — as the initializer's values instead of fill.
/// Only `["arange", "--start=x", "--step=y"]` runs in process; HSDS's other initializer (`chunklocator`,
/// an external program) and unknown ones leave fill, as do malformed arguments (HSDS logs and falls back).
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkInit {
    /// `np.arange(start + i * len * step, ..., step)` for 1-D chunk `i` of length `len`.
    Arange {
        /// First value of chunk 0.
        start: f64,
        /// Increment between elements.
        step: f64,
    },
}

impl ChunkInit {
    /// The initializer of a dataset's `creationProperties`, if HSDS would run one.
    pub fn from_creation_props(cp: &Value) -> Option<ChunkInit> {
        let args = cp.get("initializer")?.as_array()?;
        if args.first()?.as_str()? != "arange" {
            return None;
        }
        let (mut start, mut step) = (0.0f64, 1.0f64);
        for arg in &args[1..] {
            let Some((k, v)) = arg.as_str()?.split_once('=') else { continue };
            match k {
                "--start" => start = v.trim().parse().ok()?,
                "--step" => step = v.trim().parse().ok()?,
                _ => {}
            }
        }
        (step != 0.0 && start.is_finite() && step.is_finite()).then_some(ChunkInit::Arange { start, step })
    }

    /// The packed elements of chunk `index` (chunk dims `chunk_dims`) of a dataset of `dtype`.
    /// [`ModelError::InvalidAs500`] where HSDS's arange fails (500 there too): datasets of rank other than 1,
    /// types other than integers and floats.
    pub fn chunk(&self, dtype: &Datatype, index: &[u64], chunk_dims: &[u64]) -> Result<Vec<u8>, ModelError> {
        let ChunkInit::Arange { start, step } = self;
        let ([i], [len]) = (index, chunk_dims) else {
            return Err(ModelError::invalid_as_500(
                "the arange initializer can only be used with 1-dimensional datasets",
            ));
        };
        let first = start + (*i as f64) * (*len as f64) * step;
        let values: Vec<Value> = match dtype {
            // numpy: the chunk-relative start and the step are truncated to integers for integer types
            Datatype::Integer { .. } => {
                let (a, d) = (first.trunc() as i64, step.trunc() as i64);
                (0..*len as i64).map(|k| json!(a.wrapping_add(k.wrapping_mul(d)))).collect()
            }
            Datatype::Float { .. } => (0..*len).map(|k| json!(first + k as f64 * step)).collect(),
            _ => {
                return Err(ModelError::invalid_as_500(
                    "the arange initializer only applies to integer and float datasets",
                ))
            }
        };
        super::value::json_to_bytes(dtype, &[*len], &Value::Array(values))
    }
}

/// The layout of a stored dataset: `creationProperties.layout`, else the legacy top-level `layout`.
pub fn stored_layout(dset: &Value) -> Option<&Value> {
    dset.pointer("/creationProperties/layout").or_else(|| dset.get("layout"))
}

/// `getContiguousLayout`: virtual chunk dims for `H5D_CONTIGUOUS_REF`, last dims first, each chunk < `max`.
pub fn contiguous_ref_chunks(dims: &[u64], item: u64, max: u64) -> Vec<u64> {
    if dims.contains(&0) {
        return dims.to_vec();
    }
    let rank = dims.len();
    let mut layout = vec![1; rank];
    let mut n_size = item;
    for i in 0..rank {
        let dim = rank - i - 1;
        let extent = dims[dim];
        if extent * n_size < max {
            layout[dim] = extent;
            n_size *= extent;
        } else {
            let mut n = extent;
            while n > 1 {
                n = n.div_ceil(2);
                if n * n_size < max {
                    break;
                }
            }
            layout[dim] = n;
            break;
        }
    }
    layout
}

/// How a dataset's chunks are stored.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkSource {
    /// HSDS chunk objects under the dataset's directory.
    Hsds,
    /// `H5D_CHUNKED_REF`: byte ranges of one HDF5 file, per chunk key `"i_j"`.
    ChunkedRef {
        /// `s3://bucket/key` or `bucket/key`.
        file_uri: String,
        /// The `chunks` map: `"i_j"` → `[offset, size]`.
        chunks: serde_json::Map<String, Value>,
    },
    /// `H5D_CHUNKED_REF_INDIRECT`: offsets and sizes held in another dataset (`chunk_table`).
    ChunkedRefIndirect {
        /// Default file URI (a third table field may override it per chunk).
        file_uri: Option<String>,
        /// The chunk table dataset id.
        chunk_table: String,
        /// Dims of the HDF5 chunks when one chunk aggregates several (`hyper_dims`); `None`: one each.
        hyper_dims: Option<Vec<u64>>,
    },
    /// `H5D_CONTIGUOUS_REF`: one contiguous byte range of an HDF5 file, split into virtual chunks.
    ContiguousRef {
        /// `s3://bucket/key` or `bucket/key`.
        file_uri: String,
        /// Offset of element 0 in the file.
        offset: u64,
        /// Size of the range in bytes.
        size: u64,
    },
}

/// The chunk grid of a stored dataset: chunk dims per dimension (the whole shape for contiguous layouts,
/// `[1]` for scalars) and where chunks come from.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkGrid {
    /// Chunk extent per dimension (all ≥ 1).
    pub chunk_dims: Vec<u64>,
    /// Where chunk bytes live.
    pub source: ChunkSource,
}

impl ChunkGrid {
    /// Reads the grid of dataset JSON `dset` with current `extent` (`[1]` for scalar) and element `item` size.
    pub fn of_dataset(dset: &Value, extent: &[u64], item: Option<usize>, max_chunk: u64) -> Result<Self, ModelError> {
        let layout = stored_layout(dset).cloned().unwrap_or(Value::Null);
        let class = layout.get("class").and_then(Value::as_str).unwrap_or("");
        let dims_of = |l: &Value| chunk_dims_json(l.get("dims").unwrap_or(&Value::Null));
        let str_of = |k: &str| layout.get(k).and_then(Value::as_str).map(str::to_string);
        let whole: Vec<u64> = extent.iter().map(|&d| d.max(1)).collect();
        let (chunk_dims, source) = match class {
            "H5D_CHUNKED" => (dims_of(&layout)?, ChunkSource::Hsds),
            "H5D_CHUNKED_REF" => {
                let chunks = layout.get("chunks").and_then(Value::as_object).cloned().unwrap_or_default();
                let file_uri = str_of("file_uri").ok_or_else(|| invalid("H5D_CHUNKED_REF layout without file_uri"))?;
                (dims_of(&layout)?, ChunkSource::ChunkedRef { file_uri, chunks })
            }
            "H5D_CHUNKED_REF_INDIRECT" => {
                let chunk_table = str_of("chunk_table").ok_or_else(|| invalid("layout without chunk_table"))?;
                let hyper_dims = layout.get("hyper_dims").map(chunk_dims_json).transpose()?;
                let source = ChunkSource::ChunkedRefIndirect { file_uri: str_of("file_uri"), chunk_table, hyper_dims };
                (dims_of(&layout)?, source)
            }
            "H5D_CONTIGUOUS_REF" => {
                let item = item.ok_or_else(|| invalid("H5D_CONTIGUOUS_REF needs a fixed-size type"))? as u64;
                let file_uri =
                    str_of("file_uri").ok_or_else(|| invalid("H5D_CONTIGUOUS_REF layout without file_uri"))?;
                let offset = layout.get("offset").and_then(Value::as_u64).unwrap_or(0);
                let size = layout.get("size").and_then(Value::as_u64).unwrap_or(0);
                let dims = contiguous_ref_chunks(&whole, item, max_chunk);
                (dims, ChunkSource::ContiguousRef { file_uri, offset, size })
            }
            _ => (whole, ChunkSource::Hsds),
        };
        if chunk_dims.len() != extent.len() {
            return Err(invalid(format!("stored layout {layout} does not match the dataset rank {}", extent.len())));
        }
        Ok(ChunkGrid { chunk_dims, source })
    }

    /// Elements per chunk.
    pub fn chunk_elements(&self) -> u64 {
        self.chunk_dims.iter().product()
    }

    /// Number of chunks along each dimension for `extent`.
    pub fn grid_shape(&self, extent: &[u64]) -> Vec<u64> {
        extent.iter().zip(&self.chunk_dims).map(|(&e, &c)| e.div_ceil(c)).collect()
    }
}

/// Splits an `s3://bucket/key` or `bucket/key` file URI into bucket and key.
pub fn split_file_uri(uri: &str) -> Result<(String, String), ModelError> {
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    match rest.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => Err(invalid(format!("invalid file_uri {uri:?}: expected s3://bucket/key"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 1024 * 1024;
    const MAX: u64 = 4 * 1024 * 1024;

    fn layout(shape: Value, maxdims: Option<Value>, item: u64) -> Value {
        let s = Shape::from_request(Some(&shape)).unwrap().with_maxdims(maxdims.as_ref()).unwrap();
        generate_layout(&s, item, false, MIN, MAX)
    }

    /// Golden values: layouts HSDS 1.0.2 stored for the same POST /datasets requests.
    #[test]
    fn matches_hsds_golden_layouts() {
        assert_eq!(layout(json!([10000, 10000]), None, 4), json!({"class": "H5D_CHUNKED", "dims": [625, 1250]}));
        assert_eq!(layout(json!([100]), None, 4), json!({"class": "H5D_CONTIGUOUS"}));
        assert_eq!(layout(json!([0]), Some(json!([0])), 8), json!({"class": "H5D_CHUNKED", "dims": [131072]}));
        assert_eq!(layout(json!([8760, 2488136]), None, 4), json!({"class": "H5D_CHUNKED", "dims": [35, 19439]}));
        assert_eq!(layout(json!([1000000]), None, 128), json!({"class": "H5D_CHUNKED", "dims": [31250]}));
        assert_eq!(layout(json!([5]), Some(json!([10])), 4), json!({"class": "H5D_CHUNKED", "dims": [10]}));
        assert_eq!(generate_layout(&Shape::Scalar, 4, false, MIN, MAX), json!({"class": "H5D_CONTIGUOUS"}));
        assert_eq!(generate_layout(&Shape::Null, 4, false, MIN, MAX), json!({}));
    }

    #[test]
    fn arange_initializer_fills_each_chunk_from_its_position() {
        let cp = json!({"initializer": ["arange", "--start=10", "--step=0.5"]});
        let init = ChunkInit::from_creation_props(&cp).unwrap();
        let f64le = Datatype::from_json(&json!("H5T_IEEE_F64LE")).unwrap();
        let chunk = init.chunk(&f64le, &[1], &[4]).unwrap();
        let got: Vec<f64> = chunk.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(got, vec![12.0, 12.5, 13.0, 13.5]);
        let i32le = Datatype::from_json(&json!("H5T_STD_I32LE")).unwrap();
        let plain = ChunkInit::from_creation_props(&json!({"initializer": ["arange"]})).unwrap();
        assert_eq!(
            plain.chunk(&i32le, &[2], &[3]).unwrap(),
            [6i32, 7, 8].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()
        );
        assert!(plain.chunk(&i32le, &[0, 0], &[2, 2]).unwrap_err().to_string().contains("1-dimensional"));
        // what HSDS does not run leaves fill
        for cp in [
            json!({"initializer": ["chunklocator"]}),
            json!({"initializer": "arange"}),
            json!({"initializer": []}),
            json!({"initializer": ["arange", "--step=0"]}),
            json!({"initializer": ["arange", "--start=x"]}),
            json!({}),
        ] {
            assert_eq!(ChunkInit::from_creation_props(&cp), None, "{cp}");
        }
    }

    #[test]
    fn filters_force_chunking() {
        let s = Shape::simple(vec![100]);
        assert_eq!(generate_layout(&s, 4, true, MIN, MAX), json!({"class": "H5D_CHUNKED", "dims": [100]}));
    }

    #[test]
    fn validates_client_layouts() {
        let s = Shape::simple(vec![40, 30]);
        assert!(validate_layout(&json!({"class": "H5D_CHUNKED", "dims": [10, 10]}), &s, false).is_ok());
        assert!(validate_layout(&json!({"class": "H5D_CHUNKED", "dims": [50, 10]}), &s, false).is_err());
        assert!(validate_layout(&json!({"class": "H5D_CHUNKED", "dims": [10]}), &s, false).is_err());
        assert!(validate_layout(&json!({"class": "H5D_CHUNKED"}), &s, false).is_err());
        assert!(validate_layout(&json!({"class": "H5D_CONTIGUOUS", "dims": [1, 1]}), &s, false).is_err());
        assert!(validate_layout(&json!({"class": "H5D_WHATEVER"}), &s, false).is_err());
        let r = json!({"class": "H5D_CHUNKED_REF", "file_uri": "b/k", "dims": [10, 10], "chunks": {}});
        assert!(validate_layout(&r, &s, false).is_ok());
        assert!(validate_layout(&r, &s, true).is_err());
    }

    #[test]
    fn chunk_grid_of_stored_datasets() {
        let d = json!({"creationProperties": {"layout": {"class": "H5D_CONTIGUOUS"}}});
        assert_eq!(ChunkGrid::of_dataset(&d, &[10, 3], Some(4), MAX).unwrap().chunk_dims, vec![10, 3]);
        let d = json!({"layout": {"class": "H5D_CHUNKED", "dims": [5]}});
        assert_eq!(ChunkGrid::of_dataset(&d, &[12], Some(4), MAX).unwrap().grid_shape(&[12]), vec![3]);
        let d = json!({"creationProperties": {"layout": {"class": "H5D_CONTIGUOUS_REF", "file_uri": "s3://b/f.h5", "offset": 10, "size": 40}}});
        let g = ChunkGrid::of_dataset(&d, &[10], Some(4), MAX).unwrap();
        assert_eq!(g.chunk_dims, vec![10]);
        assert!(matches!(g.source, ChunkSource::ContiguousRef { offset: 10, .. }));
        assert_eq!(contiguous_ref_chunks(&[4000, 4000], 4, MAX), vec![250, 4000]);
        assert_eq!(split_file_uri("s3://b/x/y.h5").unwrap(), ("b".into(), "x/y.h5".into()));
        assert!(split_file_uri("s3://b").is_err());
    }
}
