//! Chunk tables of `H5D_CHUNKED_REF_INDIRECT` datasets (HSDS 1.0.2 `dset_lib.getChunkLocations`).
//!
//! Such a dataset's chunks are byte ranges of HDF5 files; where each one lives is held in another dataset,
//! the chunk table: same rank, one element per HDF5 chunk, a compound of `offset` (integer), `size`
//! (integer) and optionally `file_uri` (fixed-length string), read by position as HSDS does. With
//! `hyper_dims`, one HSDS chunk aggregates several smaller HDF5 chunks ("hyperchunks"): table element
//! `index * factor + sub` (per dimension) locates hyperchunk `sub` of chunk `index`.

use super::types::{ByteOrder, Datatype, StrLength};
use super::ModelError;

/// Where one HDF5 chunk lives: `size` bytes at `offset` of `file_uri`; `size` 0 means never written (fill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRef {
    /// The file (`s3://bucket/key` or `bucket/key`), from the table's third field when it has one.
    pub file_uri: Option<String>,
    /// Byte offset in the file.
    pub offset: u64,
    /// Byte length (0: no data).
    pub size: u64,
}

/// How a chunk table element is laid out: the byte ranges of its integer `offset` and `size` fields and of
/// its optional fixed-length `file_uri` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFormat {
    offset: IntField,
    size: IntField,
    file_uri: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IntField {
    at: usize,
    len: usize,
    signed: bool,
    order: ByteOrder,
}

impl IntField {
    fn of(dt: &Datatype, at: usize, name: &str) -> Result<Self, ModelError> {
        match dt {
            Datatype::Integer { size, signed, order } => {
                Ok(IntField { at, len: *size, signed: *signed, order: *order })
            }
            other => {
                Err(ModelError::invalid(format!("chunk table field {name} must be an integer, not {}", other.class())))
            }
        }
    }

    /// The value, `None` when negative.
    fn read(&self, elem: &[u8]) -> Option<u64> {
        let b = &elem[self.at..self.at + self.len];
        let mut buf = [0u8; 8];
        let fill = if self.signed && self.msb(b) & 0x80 != 0 { 0xff } else { 0 };
        buf.fill(fill);
        match self.order {
            ByteOrder::Big => {
                for (i, &x) in b.iter().rev().enumerate() {
                    buf[i] = x;
                }
            }
            ByteOrder::Little => buf[..self.len].copy_from_slice(b),
        }
        let v = i64::from_le_bytes(buf);
        if self.signed && v < 0 {
            None
        } else {
            Some(u64::from_le_bytes(buf))
        }
    }

    fn msb(&self, b: &[u8]) -> u8 {
        match self.order {
            ByteOrder::Big => b[0],
            ByteOrder::Little => b[self.len - 1],
        }
    }
}

impl TableFormat {
    /// The format of chunk table elements of type `dt`: a compound whose first two fields are integers
    /// (offset, size) and whose optional third is a fixed-length string (file URI).
    ///
    /// # Errors
    /// [`ModelError::Invalid`] for any other type.
    pub fn of(dt: &Datatype) -> Result<Self, ModelError> {
        let Datatype::Compound { fields } = dt else {
            return Err(ModelError::invalid(format!(
                "the chunk table must have a compound type (offset, size[, file_uri]), not {}",
                dt.class()
            )));
        };
        if fields.len() < 2 {
            return Err(ModelError::invalid("the chunk table type needs at least the fields offset and size"));
        }
        let offset = IntField::of(&fields[0].dtype, 0, &fields[0].name)?;
        let size_at = offset.len;
        let size = IntField::of(&fields[1].dtype, size_at, &fields[1].name)?;
        let file_uri = match fields.get(2) {
            None => None,
            Some(f) => match &f.dtype {
                Datatype::String { length: StrLength::Fixed(n), .. } => Some((size_at + size.len, *n)),
                other => {
                    return Err(ModelError::invalid(format!(
                        "chunk table field {} must be a fixed-length string, not {}",
                        f.name,
                        other.class()
                    )))
                }
            },
        };
        Ok(TableFormat { offset, size, file_uri })
    }

    /// Reads one table element (of the table's item size). Negative offsets or sizes read as "no data".
    pub fn entry(&self, elem: &[u8]) -> ChunkRef {
        let (offset, size) = match (self.offset.read(elem), self.size.read(elem)) {
            (Some(o), Some(s)) => (o, s),
            _ => (0, 0),
        };
        let file_uri = self.file_uri.and_then(|(at, n)| {
            let raw = &elem[at..at + n];
            let end = raw.iter().position(|&b| b == 0).unwrap_or(n);
            let s = String::from_utf8_lossy(&raw[..end]).trim().to_string();
            (!s.is_empty()).then_some(s)
        });
        ChunkRef { file_uri, offset, size }
    }
}

/// Per dimension, how many HDF5 chunks of `hyper_dims` one chunk of `chunk_dims` holds.
///
/// # Errors
/// [`ModelError::Invalid`] when the ranks differ or a hyper dim does not divide the chunk dim (as HSDS).
pub fn hyper_factors(chunk_dims: &[u64], hyper_dims: &[u64]) -> Result<Vec<u64>, ModelError> {
    if chunk_dims.len() != hyper_dims.len() {
        return Err(ModelError::invalid(format!(
            "layout hyper_dims {hyper_dims:?} do not match the rank of the chunk dims {chunk_dims:?}"
        )));
    }
    chunk_dims
        .iter()
        .zip(hyper_dims)
        .map(|(&c, &h)| match h {
            h if h > 0 && c % h == 0 => Ok(c / h),
            _ => Err(ModelError::invalid(format!(
                "layout hyper_dims {hyper_dims:?} must divide the chunk dims {chunk_dims:?}"
            ))),
        })
        .collect()
}

/// The chunk table coordinates of the hyperchunks of chunk `index`, in C order of their position inside
/// the chunk (HSDS `_get_arr_pts`); one coordinate, `index` itself, when every factor is 1.
pub fn table_points(index: &[u64], factors: &[u64]) -> Vec<Vec<u64>> {
    let n: u64 = factors.iter().product();
    (0..n)
        .map(|i| {
            let sub = hyper_index(i, factors);
            index.iter().zip(factors).zip(&sub).map(|((&c, &f), &s)| c * f + s).collect()
        })
        .collect()
}

/// Position (per dimension, in hyperchunks) of the `i`-th hyperchunk of a chunk (HSDS `getHyperChunkIndex`).
pub fn hyper_index(i: u64, factors: &[u64]) -> Vec<u64> {
    let mut out = vec![0; factors.len()];
    let mut rem = i;
    for d in (0..factors.len()).rev() {
        out[d] = rem % factors[d];
        rem /= factors[d];
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn table_type(with_uri: bool) -> Datatype {
        let mut fields =
            vec![json!({"name": "offset", "type": "H5T_STD_I64LE"}), json!({"name": "size", "type": "H5T_STD_I32LE"})];
        if with_uri {
            fields.push(json!({"name": "file_uri", "type": {"class": "H5T_STRING", "charSet": "H5T_CSET_ASCII",
                "strPad": "H5T_STR_NULLPAD", "length": 12}}));
        }
        Datatype::from_json(&json!({"class": "H5T_COMPOUND", "fields": fields})).unwrap()
    }

    #[test]
    fn reads_entries_by_position() {
        let f = TableFormat::of(&table_type(true)).unwrap();
        let mut e = 4096i64.to_le_bytes().to_vec();
        e.extend(100i32.to_le_bytes());
        e.extend(b"s3://b/f.h5\0");
        assert_eq!(f.entry(&e), ChunkRef { file_uri: Some("s3://b/f.h5".into()), offset: 4096, size: 100 });
        let mut neg = (-1i64).to_le_bytes().to_vec();
        neg.extend(5i32.to_le_bytes());
        neg.extend([0u8; 12]);
        assert_eq!(f.entry(&neg), ChunkRef { file_uri: None, offset: 0, size: 0 });
        let be = Datatype::from_json(&json!({"class": "H5T_COMPOUND", "fields": [
            {"name": "offset", "type": "H5T_STD_U64BE"}, {"name": "size", "type": "H5T_STD_U16BE"}]}))
        .unwrap();
        let mut e = 258u64.to_be_bytes().to_vec();
        e.extend(3u16.to_be_bytes());
        assert_eq!(TableFormat::of(&be).unwrap().entry(&e), ChunkRef { file_uri: None, offset: 258, size: 3 });
    }

    #[test]
    fn rejects_tables_that_are_not_offset_size_compounds() {
        assert!(TableFormat::of(&Datatype::from_json(&json!("H5T_STD_I64LE")).unwrap()).is_err());
        let float = Datatype::from_json(&json!({"class": "H5T_COMPOUND", "fields": [
            {"name": "offset", "type": "H5T_IEEE_F64LE"}, {"name": "size", "type": "H5T_STD_I32LE"}]}))
        .unwrap();
        assert!(TableFormat::of(&float).is_err());
        assert!(TableFormat::of(&table_type(false)).is_ok());
    }

    #[test]
    fn hyperchunk_points_follow_hsds_order() {
        assert_eq!(hyper_factors(&[10, 20], &[5, 10]).unwrap(), vec![2, 2]);
        assert!(hyper_factors(&[10, 20], &[3, 10]).is_err());
        assert!(hyper_factors(&[10], &[5, 10]).is_err());
        assert_eq!(table_points(&[1, 3], &[1, 1]), vec![vec![1, 3]]);
        assert_eq!(table_points(&[1, 3], &[2, 2]), vec![vec![2, 6], vec![2, 7], vec![3, 6], vec![3, 7]]);
        assert_eq!(hyper_index(5, &[2, 3, 4]), vec![0, 1, 1]);
    }
}
