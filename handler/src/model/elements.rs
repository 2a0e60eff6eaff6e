//! Packed element streams of variable-size types: where each element starts and ends.
//!
//! A chunk (or an `application/octet-stream` body) of a variable-length type is the concatenation of its
//! elements in C order, each vlen part as a 4-byte little-endian byte count plus the bytes (HSDS
//! `arrayToBytes`). Elements therefore cannot be addressed by offset; [`split_elements`] finds their
//! boundaries by walking the type, so the engine can copy whole elements between chunks and selections.

use super::types::{Datatype, RefKind, StrLength};
use super::value::MAX_VLEN_ELEMENT;
use super::ModelError;

/// Byte length of the element of `dt` starting at `bytes[pos..]`.
///
/// # Errors
/// [`ModelError::Invalid`] when the bytes end early or a byte count is negative or over the vlen limit.
pub fn element_len(dt: &Datatype, bytes: &[u8], pos: usize) -> Result<usize, ModelError> {
    if let Some(size) = dt.item_size() {
        return need(bytes, pos, size).map(|_| size);
    }
    match dt {
        Datatype::String { length: StrLength::Variable, .. }
        | Datatype::Vlen { .. }
        | Datatype::Reference { kind: RefKind::Region, .. } => {
            need(bytes, pos, 4)?;
            let n = i32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]);
            if n < 0 || n as usize > MAX_VLEN_ELEMENT {
                return Err(ModelError::invalid(format!(
                    "invalid variable-length byte count {n} at offset {pos} (must be 0..{MAX_VLEN_ELEMENT})"
                )));
            }
            need(bytes, pos + 4, n as usize)?;
            Ok(4 + n as usize)
        }
        Datatype::Compound { fields } => {
            let mut p = pos;
            for f in fields {
                p += element_len(&f.dtype, bytes, p)?;
            }
            Ok(p - pos)
        }
        Datatype::Array { dims, base } => {
            let mut p = pos;
            for _ in 0..dims.iter().product::<usize>() {
                p += element_len(base, bytes, p)?;
            }
            Ok(p - pos)
        }
        _ => Err(ModelError::invalid(format!("type {} has no element size", dt.class()))),
    }
}

fn need(bytes: &[u8], pos: usize, n: usize) -> Result<(), ModelError> {
    if pos.checked_add(n).is_some_and(|e| e <= bytes.len()) {
        Ok(())
    } else {
        Err(ModelError::invalid(format!(
            "data ends early: an element needs {n} byte(s) at offset {pos} of {}",
            bytes.len()
        )))
    }
}

/// Splits `bytes` into exactly `n` elements of `dt` (owned, so they can move between chunks).
///
/// # Errors
/// [`ModelError::Invalid`] when the bytes hold fewer or more than `n` elements.
pub fn split_elements(dt: &Datatype, bytes: &[u8], n: usize) -> Result<Vec<Vec<u8>>, ModelError> {
    let mut out = Vec::with_capacity(n.min(1 << 20));
    let mut pos = 0;
    for _ in 0..n {
        let len = element_len(dt, bytes, pos)?;
        out.push(bytes[pos..pos + len].to_vec());
        pos += len;
    }
    if pos != bytes.len() {
        return Err(ModelError::invalid(format!(
            "{} trailing byte(s) after {n} variable-length element(s)",
            bytes.len() - pos
        )));
    }
    Ok(out)
}

/// The element HSDS writes for an uninitialised value: zero bytes for fixed parts and a zero byte count
/// (`00000000`) for every variable-length part.
pub fn zero_element(dt: &Datatype) -> Vec<u8> {
    if let Some(size) = dt.item_size() {
        return vec![0; size];
    }
    match dt {
        Datatype::Compound { fields } => fields.iter().flat_map(|f| zero_element(&f.dtype)).collect(),
        Datatype::Array { dims, base } => zero_element(base).repeat(dims.iter().product()),
        _ => vec![0; 4],
    }
}

/// Indices of the named fields of compound `dt`, in the order given (`fields=a:b`).
///
/// # Errors
/// [`ModelError::Invalid`] for a non-compound type, an empty list or an unknown field.
pub fn field_indices(dt: &Datatype, names: &[&str]) -> Result<Vec<usize>, ModelError> {
    let Datatype::Compound { fields } = dt else {
        return Err(ModelError::invalid("fields can only be selected from a compound type"));
    };
    if names.is_empty() || names.iter().any(|n| n.is_empty()) {
        return Err(ModelError::invalid("fields must be a colon-separated list of field names"));
    }
    names
        .iter()
        .map(|n| {
            fields.iter().position(|f| f.name == *n).ok_or_else(|| {
                let all: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                ModelError::invalid(format!("field {n:?} is not defined in the type (fields: {})", all.join(", ")))
            })
        })
        .collect()
}

/// Projects `n` packed elements of compound `dt` onto the fields `idx` (in that order).
///
/// # Errors
/// [`ModelError::Invalid`] when the bytes do not hold `n` elements.
pub fn project(dt: &Datatype, idx: &[usize], bytes: &[u8], n: usize) -> Result<Vec<u8>, ModelError> {
    let fields = dt.fields();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut spans = vec![(0usize, 0usize); fields.len()];
    for _ in 0..n {
        for (k, f) in fields.iter().enumerate() {
            let len = element_len(&f.dtype, bytes, pos)?;
            spans[k] = (pos, len);
            pos += len;
        }
        for &k in idx {
            let (s, l) = spans[k];
            out.extend_from_slice(&bytes[s..s + l]);
        }
    }
    if pos != bytes.len() {
        return Err(ModelError::invalid(format!("{} trailing byte(s) after {n} element(s)", bytes.len() - pos)));
    }
    Ok(out)
}

/// For a fixed-size compound: `(offset in the element, offset in the sub-element, length)` of each field in
/// `idx`, in order; `None` when the compound has variable-size fields.
pub fn field_ranges(dt: &Datatype, idx: &[usize]) -> Option<Vec<(usize, usize, usize)>> {
    let fields = dt.fields();
    let mut offsets = Vec::with_capacity(fields.len());
    let mut off = 0;
    for f in fields {
        offsets.push(off);
        off += f.dtype.item_size()?;
    }
    let mut sub = 0;
    let mut out = Vec::with_capacity(idx.len());
    for &k in idx {
        let len = fields[k].dtype.item_size()?;
        out.push((offsets[k], sub, len));
        sub += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::model::value::json_to_bytes;

    fn vstr() -> Datatype {
        Datatype::from_json(&json!({"class": "H5T_STRING", "charSet": "H5T_CSET_UTF8", "strPad": "H5T_STR_NULLTERM", "length": "H5T_VARIABLE"})).unwrap()
    }

    #[test]
    fn splits_hsds_vlen_chunk_bytes() {
        // HSDS 1.0.2 chunk of a vlen str dataset: ["", "", "", "ab"].
        let chunk = hex::decode("000000000000000000000000020000006162").unwrap();
        let els = split_elements(&vstr(), &chunk, 4).unwrap();
        assert_eq!(els[3], hex::decode("020000006162").unwrap());
        assert!(split_elements(&vstr(), &chunk, 3).is_err());
        assert!(split_elements(&vstr(), &chunk[..17], 4).is_err());
        let ct = Datatype::from_json(&json!({"class": "H5T_COMPOUND", "fields": [{"name": "a", "type": "H5T_STD_I32LE"}, {"name": "s", "type": vstr().to_json()}]})).unwrap();
        let packed = json_to_bytes(&ct, &[2], &json!([[0, ""], [5, "xy"]])).unwrap();
        assert_eq!(hex::encode(&packed), "000000000000000005000000020000007879");
        assert_eq!(split_elements(&ct, &packed, 2).unwrap()[1].len(), 10);
        assert_eq!(zero_element(&ct), vec![0; 8]);
    }

    #[test]
    fn projects_fields() {
        let ct = Datatype::from_json(&json!({"class": "H5T_COMPOUND", "fields": [{"name": "a", "type": "H5T_STD_I32LE"}, {"name": "s", "type": vstr().to_json()}, {"name": "b", "type": "H5T_STD_U8LE"}]})).unwrap();
        let packed = json_to_bytes(&ct, &[2], &json!([[1, "x", 2], [3, "", 4]])).unwrap();
        let idx = field_indices(&ct, &["b", "s"]).unwrap();
        assert_eq!(hex::encode(project(&ct, &idx, &packed, 2).unwrap()), "020100000078".to_string() + "0400000000");
        assert!(field_indices(&ct, &["zz"]).unwrap_err().to_string().contains("\"zz\""));
        assert!(field_ranges(&ct, &idx).is_none());
        let fixed = ct.sub_compound(&["a", "b"]).unwrap();
        assert_eq!(field_ranges(&fixed, &[1, 0]), Some(vec![(4, 0, 1), (0, 1, 4)]));
    }

    #[test]
    fn rejects_negative_and_huge_counts() {
        assert!(element_len(&vstr(), &[0xff, 0xff, 0xff, 0xff], 0).is_err());
        assert!(element_len(&vstr(), &2_000_000i32.to_le_bytes(), 0).is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), n in 0usize..8) {
            let _ = split_elements(&vstr(), &bytes, n);
        }

        #[test]
        fn packed_strings_split_back(strs in prop::collection::vec(".{0,12}", 0..10)) {
            let v = json!(strs);
            let packed = json_to_bytes(&vstr(), &[strs.len() as u64], &v).unwrap();
            let els = split_elements(&vstr(), &packed, strs.len()).unwrap();
            prop_assert_eq!(els.concat(), packed);
        }
    }
}
