//! Filter lists in `creationProperties.filters`: validation and normalisation at dataset creation (HSDS
//! `servicenode_lib.getDatasetCreateArgs` → h5json `normalizeFilters`/`validateFilters` → `getSupportedFilters`),
//! and their interpretation as chunk operations (HSDS `datanode_lib.getFilterOps`).
//!
//! Facts checked against HSDS 1.0.2 with h5json 2.0.1 (not the older docs): every filter must be a JSON object
//! (bare ints or names are a 400); `class` is required, `id`/`name` are filled in from the filter table, and a
//! `H5Z_FILTER_USER` naming a known filter (by id or name) becomes that filter. Filters whose name HSDS does not
//! support (`lzf`, `szip`, `snappy`, `none`) are a 400, while `bitshuffle` is accepted.

use serde_json::{Map, Value};

use super::blosc::Cname;
use crate::model::ModelError;

/// One row of h5json's `FILTER_DEFS`: class, HDF5 filter id, canonical name, accepted option keys.
struct FilterDef {
    class: &'static str,
    id: i64,
    name: &'static str,
    options: &'static [&'static str],
}

/// h5json 2.0.1 `FILTER_DEFS`, in its order.
const FILTER_DEFS: &[FilterDef] = &[
    FilterDef { class: "H5Z_FILTER_NONE", id: 0, name: "none", options: &[] },
    FilterDef { class: "H5Z_FILTER_DEFLATE", id: 1, name: "gzip", options: &["level"] },
    FilterDef { class: "H5Z_FILTER_SHUFFLE", id: 2, name: "shuffle", options: &[] },
    FilterDef { class: "H5Z_FILTER_FLETCHER32", id: 3, name: "fletcher32", options: &[] },
    FilterDef {
        class: "H5Z_FILTER_SZIP",
        id: 4,
        name: "szip",
        options: &["bitsPerPixel", "coding", "pixelsPerBlock", "pixelsPerScanLine"],
    },
    FilterDef { class: "H5Z_FILTER_NBIT", id: 5, name: "nbit", options: &[] },
    FilterDef { class: "H5Z_FILTER_SCALEOFFSET", id: 6, name: "scaleoffset", options: &["scaleType", "scaleOffset"] },
    FilterDef { class: "H5Z_FILTER_LZF", id: 32000, name: "lzf", options: &[] },
    FilterDef { class: "H5Z_FILTER_BLOSC", id: 32001, name: "blosclz", options: &[] },
    FilterDef { class: "H5Z_FILTER_SNAPPY", id: 32003, name: "snappy", options: &[] },
    FilterDef { class: "H5Z_FILTER_LZ4", id: 32004, name: "lz4", options: &["level"] },
    FilterDef { class: "H5Z_FILTER_LZ4HC", id: 32005, name: "lz4hc", options: &[] },
    FilterDef { class: "H5Z_FILTER_BITSHUFFLE", id: 32008, name: "bitshuffle", options: &[] },
    FilterDef { class: "H5Z_FILTER_ZSTD", id: 32015, name: "zstd", options: &[] },
];

/// Class of filters that are not in the table (HDF5 ids above 32000).
const USER_CLASS: &str = "H5Z_FILTER_USER";

/// Filter names HSDS accepts at dataset creation (`storUtil.getSupportedFilters()`): other filters, then the
/// blosc compressors as [`super::COMPRESSORS`] lists them.
const SUPPORTED_OTHER: &[&str] = &["bitshuffle", "shuffle", "fletcher32", "nbit", "scaleoffset"];

/// Filter classes HSDS treats as compressors (h5json `COMPRESSION_FILTER_IDS`); the first one in the list wins.
const COMPRESSION_CLASSES: &[&str] = &[
    "H5Z_FILTER_DEFLATE",
    "H5Z_FILTER_SZIP",
    "H5Z_FILTER_SCALEOFFSET",
    "H5Z_FILTER_LZF",
    "H5Z_FILTER_BLOSC",
    "H5Z_FILTER_SNAPPY",
    "H5Z_FILTER_LZ4",
    "H5Z_FILTER_LZ4HC",
    "H5Z_FILTER_ZSTD",
];

/// Compression level HSDS uses when a compression filter has none (`getFilterOps`).
pub(super) const DEFAULT_LEVEL: u8 = 5;

/// Validates and normalises a `creationProperties.filters` value as HSDS does when a dataset is created, returning
/// the list to store. Call it only when the `filters` key is present: like HSDS, anything but a list (including
/// `null`) is rejected.
///
/// # Errors
/// [`ModelError::Invalid`] (400) naming the offending filter, with HSDS's reasons.
pub fn normalize_filters(filters: &Value) -> Result<Value, ModelError> {
    let Value::Array(items) = filters else {
        return Err(invalid(format!("expected a list of filter objects, got {filters}")));
    };
    let normalized = items.iter().map(normalize_filter).collect::<Result<Vec<_>, _>>()?;
    for item in &normalized {
        let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
        if !is_supported(name) {
            let id = item.get("id").cloned().unwrap_or(Value::Null);
            return Err(ModelError::invalid(format!("Unsupported filter id: {id} (filter {name:?} is not supported)")));
        }
    }
    Ok(Value::Array(normalized))
}

/// Whether HSDS accepts a filter with this name at dataset creation.
fn is_supported(name: &str) -> bool {
    SUPPORTED_OTHER.contains(&name) || super::COMPRESSORS.contains(&name)
}

/// A 400 with HSDS's prefix for filter problems.
fn invalid(reason: String) -> ModelError {
    ModelError::invalid(format!("Provided creation properties are invalid: invalid filter provided: {reason}"))
}

/// h5json `normalizeFilter` then `validateFilter` for one list item.
fn normalize_filter(item: &Value) -> Result<Value, ModelError> {
    let Value::Object(obj) = item else {
        return Err(invalid(format!("Expected dict for filter but got {item}")));
    };
    let mut filter = obj.clone();
    if let Some(def) = lookup_def(&filter) {
        filter.insert("class".into(), def.class.into());
        filter.entry("id").or_insert_with(|| def.id.into());
        filter.entry("name").or_insert_with(|| def.name.into());
    }
    validate_filter(&filter)?;
    Ok(Value::Object(filter))
}

/// h5json `_getFilterDef`: the table row a filter refers to, by class, or for user filters by id or name.
fn lookup_def(filter: &Map<String, Value>) -> Option<&'static FilterDef> {
    let class = filter.get("class")?;
    if class != USER_CLASS {
        return FILTER_DEFS.iter().find(|def| class == def.class);
    }
    if let Some(id) = filter.get("id") {
        return FILTER_DEFS.iter().find(|def| number_is(id, def.id));
    }
    let name = match filter.get("name")?.as_str()? {
        "deflate" | "zlib" => "gzip",
        other => other,
    };
    FILTER_DEFS.iter().find(|def| def.name == name)
}

/// h5json `validateFilter` (with the option checks of `getFilterItem`) on a normalised filter.
fn validate_filter(filter: &Map<String, Value>) -> Result<(), ModelError> {
    for key in ["class", "id", "name"] {
        if !filter.contains_key(key) {
            return Err(invalid(format!("Expected {key} for filter")));
        }
    }
    let (class, id) = (&filter["class"], &filter["id"]);
    let allowed: &[&str] = if let Some(def) = FILTER_DEFS.iter().find(|def| class == def.class) {
        if !number_is(id, def.id) {
            return Err(invalid(format!("Incorrect filter_id: {id} for filter: {}", def.class)));
        }
        def.options
    } else if class == USER_CLASS {
        if !id.as_f64().is_some_and(|id| id > 32000.0) || id.is_boolean() {
            return Err(invalid(format!("Unexpected filter id: {id} for user filter")));
        }
        &["parameters"]
    } else {
        return Err(invalid(format!("Unknown filter: {class}")));
    };
    let class = class.as_str().unwrap_or_default();
    for (key, value) in filter.iter().filter(|(key, _)| !["class", "id", "name"].contains(&key.as_str())) {
        if !allowed.contains(&key.as_str()) {
            return Err(invalid(format!("Option {key} is not supported by the {class} filter")));
        }
        validate_option(class, key, value)?;
    }
    Ok(())
}

/// The value checks of h5json `getFilterItem` for one option.
fn validate_option(class: &str, key: &str, value: &Value) -> Result<(), ModelError> {
    let is_int = value.is_i64() || value.is_u64();
    let ok = match (class, key) {
        ("H5Z_FILTER_DEFLATE", "level") => {
            if !is_int {
                return Err(invalid("Expected integer level for deflate filter".into()));
            }
            value.as_i64().is_some_and(|l| (0..=9).contains(&l))
        }
        // h5json compares without a type check, so any number in range passes (and `int()` truncates it later).
        ("H5Z_FILTER_LZ4", "level") => value.as_f64().is_some_and(|l| (0.0..=9.0).contains(&l)),
        ("H5Z_FILTER_SCALEOFFSET", "scaleType") => {
            matches!(value.as_str(), Some("H5Z_SO_FLOAT_DSCALE" | "H5Z_SO_FLOAT_ESCALE" | "H5Z_SO_INT"))
        }
        ("H5Z_FILTER_SCALEOFFSET", "scaleOffset") => is_int && value.as_i64().is_some_and(|v| v >= 0),
        ("H5Z_FILTER_SZIP", "coding") => {
            matches!(value.as_str(), Some("H5_SZIP_EC_OPTION_MASK" | "H5_SZIP_NN_OPTION_MASK"))
        }
        ("H5Z_FILTER_SZIP", _) => is_int && value.as_i64().is_some_and(|v| v > 0),
        (USER_CLASS, "parameters") => value
            .as_array()
            .is_some_and(|vals| vals.iter().all(|v| (v.is_i64() || v.is_u64()) && v.as_i64().is_none_or(|v| v > 0))),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("invalid value {value} for option {key} of the {class} filter")))
    }
}

/// Whether a JSON value is the number `n` (Python `==`: `1 == 1.0`); booleans are not numbers here.
fn number_is(value: &Value, n: i64) -> bool {
    value.is_number() && value.as_f64() == Some(n as f64)
}

/// The shuffle step of a stored filter list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShuffleOp {
    /// No shuffle filter (or a variable-length type, for which HSDS ignores shuffle).
    None,
    /// `H5Z_FILTER_SHUFFLE` named "shuffle": HDF5 byte shuffle.
    Byte,
    /// `H5Z_FILTER_SHUFFLE` named "bitshuffle": bitshuffle + LZ4 with HSDS's 12-byte header.
    Bit,
}

/// The chunk operations a stored filter list implies (HSDS `getFilterOps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterOps {
    /// The blosc compressor, if any.
    pub compressor: Option<Cname>,
    /// Compression level 0-9.
    pub level: u8,
    /// The shuffle step.
    pub shuffle: ShuffleOp,
}

impl FilterOps {
    /// Reads the filters of a stored dataset (a list, or absent/`null` for none). `vlen` says the dataset type is
    /// variable-length, for which HSDS never shuffles.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] if an entry is not a filter object, or the compressor is one HSDS cannot run
    /// (e.g. `lzf` or `szip` from a linked HDF5 file).
    pub fn from_filters(filters: &Value, vlen: bool) -> Result<FilterOps, ModelError> {
        let items: &[Value] = match filters {
            Value::Null => &[],
            Value::Array(items) => items,
            other => return Err(ModelError::invalid(format!("dataset filters are not a list: {other}"))),
        };
        let mut objs = Vec::with_capacity(items.len());
        for item in items {
            let obj = item.as_object().filter(|o| o.get("class").is_some_and(Value::is_string));
            objs.push(obj.ok_or_else(|| ModelError::invalid(format!("dataset filter {item} has no class")))?);
        }
        let class_is = |o: &&Map<String, Value>, classes: &[&str]| classes.iter().any(|c| o["class"] == *c);
        let shuffle = match objs.iter().find(|o| class_is(o, &["H5Z_FILTER_SHUFFLE"])) {
            Some(f) if !vlen => match f.get("name").and_then(Value::as_str) {
                Some("shuffle") => ShuffleOp::Byte,
                Some("bitshuffle") => ShuffleOp::Bit,
                _ => ShuffleOp::None,
            },
            _ => ShuffleOp::None,
        };
        let Some(comp) = objs.iter().find(|o| class_is(o, COMPRESSION_CLASSES)) else {
            return Ok(FilterOps { compressor: None, level: DEFAULT_LEVEL, shuffle });
        };
        let name = if comp["class"] == "H5Z_FILTER_DEFLATE" {
            "zlib"
        } else {
            comp.get("name").and_then(Value::as_str).unwrap_or("lz4")
        };
        let compressor = match name {
            "zlib" | "gzip" | "deflate" => Some(Cname::Zlib),
            "blosclz" => Some(Cname::BloscLz),
            "lz4" => Some(Cname::Lz4),
            "lz4hc" => Some(Cname::Lz4Hc),
            "zstd" => Some(Cname::Zstd),
            // HSDS skips compression entirely when the first compression-class filter is scaleoffset.
            "scaleoffset" => None,
            other => {
                return Err(ModelError::invalid(format!("chunks compressed with {other:?} cannot be read or written")))
            }
        };
        // `int(level)`: truncates; blosc accepts 0-9.
        let level = comp.get("level").and_then(Value::as_f64).map_or(DEFAULT_LEVEL, |l| l.clamp(0.0, 9.0) as u8);
        Ok(FilterOps { compressor, level, shuffle })
    }
}
