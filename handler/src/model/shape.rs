//! Dataspace shapes: `H5S_SIMPLE` dims/maxdims, `H5S_SCALAR`, `H5S_NULL`, parsed from every request form
//! HSDS accepts and rendered exactly as HSDS stores them.
//!
//! Stored form (`h5json.shape_util.getShapeJson`, verified against HSDS 1.0.2): `{"class":"H5S_SIMPLE",
//! "dims":[..],"maxdims":[..]}` where an unlimited maxdim is stored as the string `"H5S_UNLIMITED"`
//! (requests may say `0`, `null` or `"H5S_UNLIMITED"`; older HSDS-written files may hold `0`).

use serde_json::{json, Value};

use super::ModelError;

/// One `maxdims` extent: a fixed limit or unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaxDim {
    /// May grow up to this extent.
    Fixed(u64),
    /// `H5S_UNLIMITED` (0 or null in requests).
    Unlimited,
}

impl MaxDim {
    /// True when the extent `n` fits under this limit.
    pub fn allows(self, n: u64) -> bool {
        match self {
            MaxDim::Fixed(m) => n <= m,
            MaxDim::Unlimited => true,
        }
    }

    /// The `0 = unlimited` numeric form used by h5pyd and by chunk layout code.
    pub fn as_u64(self) -> u64 {
        match self {
            MaxDim::Fixed(m) => m,
            MaxDim::Unlimited => 0,
        }
    }
}

/// A dataspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shape {
    /// `H5S_NULL`: no elements, no value.
    Null,
    /// `H5S_SCALAR`: exactly one element, values are bare JSON scalars.
    Scalar,
    /// `H5S_SIMPLE`: an n-dimensional array (rank ≥ 1; extents may be 0).
    Simple {
        /// Current extents.
        dims: Vec<u64>,
        /// Maximum extents (same rank as dims) when extensible.
        maxdims: Option<Vec<MaxDim>>,
    },
}

/// Largest rank accepted (HDF5's H5S_MAX_RANK).
pub const MAX_RANK: usize = 32;

fn extent(v: &Value, what: &str) -> Result<u64, ModelError> {
    v.as_u64().ok_or_else(|| ModelError::invalid(format!("{what} must be non-negative integers, got {v}")))
}

fn dims_from(v: &Value, what: &str) -> Result<Vec<u64>, ModelError> {
    let dims: Vec<u64> = match v {
        Value::Number(_) => vec![extent(v, what)?],
        Value::Array(list) => list.iter().map(|d| extent(d, what)).collect::<Result<_, _>>()?,
        other => return Err(ModelError::invalid(format!("{what} must be an integer or a list, got {other}"))),
    };
    if dims.len() > MAX_RANK {
        return Err(ModelError::invalid(format!("rank {} exceeds the maximum of {MAX_RANK}", dims.len())));
    }
    Ok(dims)
}

impl Shape {
    /// A simple shape without maxdims.
    pub fn simple(dims: Vec<u64>) -> Shape {
        Shape::Simple { dims, maxdims: None }
    }

    /// Parses a request's `shape` (`None` when the key is absent → scalar): an int, a list (`[]` is
    /// scalar), `"H5S_NULL"`, `"H5S_SCALAR"`, or `{"class": ..., "dims": ..., "maxdims": ...}`.
    pub fn from_request(shape: Option<&Value>) -> Result<Shape, ModelError> {
        let Some(v) = shape else { return Ok(Shape::Scalar) };
        match v {
            Value::String(s) => match s.as_str() {
                "H5S_NULL" => Ok(Shape::Null),
                "H5S_SCALAR" => Ok(Shape::Scalar),
                other => Err(ModelError::invalid(format!(
                    "invalid shape {other:?}: expected an integer, a list, \"H5S_NULL\" or \"H5S_SCALAR\""
                ))),
            },
            Value::Array(list) if list.is_empty() => Ok(Shape::Scalar),
            Value::Number(_) | Value::Array(_) => Ok(Shape::simple(dims_from(v, "shape dims")?)),
            Value::Object(_) => Self::from_json(v),
            Value::Null => Ok(Shape::Scalar),
            other => Err(ModelError::invalid(format!("invalid shape {other}"))),
        }
    }

    /// Parses a `{"class": ...}` shape (stored form, also accepted in requests), including `maxdims`.
    pub fn from_json(v: &Value) -> Result<Shape, ModelError> {
        let obj = v.as_object().ok_or_else(|| ModelError::invalid(format!("invalid shape {v}: expected an object")))?;
        match obj.get("class").and_then(Value::as_str) {
            Some("H5S_NULL") => {
                if obj.contains_key("dims") {
                    return Err(ModelError::invalid("can't include dims with an H5S_NULL shape"));
                }
                Ok(Shape::Null)
            }
            Some("H5S_SCALAR") => {
                if obj.contains_key("dims") {
                    return Err(ModelError::invalid("dims aren't valid for an H5S_SCALAR shape"));
                }
                Ok(Shape::Scalar)
            }
            Some("H5S_SIMPLE") => {
                let dims =
                    obj.get("dims").ok_or_else(|| ModelError::invalid("'dims' key expected for H5S_SIMPLE shape"))?;
                let dims = dims_from(dims, "shape dims")?;
                if dims.is_empty() {
                    return Err(ModelError::invalid("H5S_SIMPLE shape needs at least one dimension"));
                }
                Shape::simple(dims).with_maxdims(obj.get("maxdims"))
            }
            Some(other) => Err(ModelError::invalid(format!("unknown shape class {other:?}"))),
            None => Err(ModelError::invalid("shape object needs a 'class' key")),
        }
    }

    /// Adds a request's `maxdims` (int or list; `0`, `null` or `"H5S_UNLIMITED"` = unlimited). `None`
    /// leaves the shape unchanged. Fails for non-simple shapes, rank mismatch, or maxdims below dims.
    pub fn with_maxdims(self, maxdims: Option<&Value>) -> Result<Shape, ModelError> {
        let Some(m) = maxdims else { return Ok(self) };
        let Shape::Simple { dims, .. } = self else {
            return Err(ModelError::invalid("maxdims can only be used with an H5S_SIMPLE shape"));
        };
        let one = |v: &Value| -> Result<MaxDim, ModelError> {
            match v {
                Value::Null => Ok(MaxDim::Unlimited),
                Value::String(s) if s == "H5S_UNLIMITED" => Ok(MaxDim::Unlimited),
                _ => match v.as_u64() {
                    Some(0) => Ok(MaxDim::Unlimited),
                    Some(n) => Ok(MaxDim::Fixed(n)),
                    None => Err(ModelError::invalid(format!(
                        "maxdims must be non-negative integers or \"H5S_UNLIMITED\", got {v}"
                    ))),
                },
            }
        };
        // As HSDS: a bare integer is one dimension; a bare `null` is no maxdims; any other bare value
        // (even "H5S_UNLIMITED") is not a list of the dataset's rank.
        let list: Vec<MaxDim> = match m {
            Value::Array(l) => l.iter().map(one).collect::<Result<_, _>>()?,
            Value::Null => return Ok(Shape::Simple { dims, maxdims: None }),
            Value::Number(_) => vec![one(m)?],
            other => {
                return Err(ModelError::invalid(format!("maxdims must be a list matching the shape, got {other}")))
            }
        };
        if list.len() != dims.len() {
            return Err(ModelError::invalid(format!(
                "maxdims rank {} does not match shape rank {}",
                list.len(),
                dims.len()
            )));
        }
        for (d, m) in dims.iter().zip(&list) {
            if !m.allows(*d) {
                // HSDS 1.0.2 does not check this and fails later (500).
                return Err(ModelError::invalid_as_500(format!("maxdims {} is smaller than dims {d}", m.as_u64())));
            }
        }
        Ok(Shape::Simple { dims, maxdims: Some(list) })
    }

    /// The JSON HSDS stores: `{"class"[,"dims"[,"maxdims"]]}` with unlimited as `"H5S_UNLIMITED"`.
    pub fn to_json(&self) -> Value {
        match self {
            Shape::Null => json!({"class": "H5S_NULL"}),
            Shape::Scalar => json!({"class": "H5S_SCALAR"}),
            Shape::Simple { dims, maxdims: None } => json!({"class": "H5S_SIMPLE", "dims": dims}),
            Shape::Simple { dims, maxdims: Some(m) } => {
                let m: Vec<Value> = m
                    .iter()
                    .map(|x| match x {
                        MaxDim::Fixed(n) => json!(n),
                        MaxDim::Unlimited => json!("H5S_UNLIMITED"),
                    })
                    .collect();
                json!({"class": "H5S_SIMPLE", "dims": dims, "maxdims": m})
            }
        }
    }

    /// Current extents: `[]` for scalar and null shapes.
    pub fn dims(&self) -> &[u64] {
        match self {
            Shape::Simple { dims, .. } => dims,
            _ => &[],
        }
    }

    /// Maximum extents, if the shape is extensible.
    pub fn maxdims(&self) -> Option<&[MaxDim]> {
        match self {
            Shape::Simple { maxdims: Some(m), .. } => Some(m),
            _ => None,
        }
    }

    /// Rank: 0 for scalar and null.
    pub fn rank(&self) -> usize {
        self.dims().len()
    }

    /// Number of elements: 0 for null, 1 for scalar, the product of dims otherwise; `TooLarge` on overflow.
    pub fn num_elements(&self) -> Result<u64, ModelError> {
        match self {
            Shape::Null => Ok(0),
            Shape::Scalar => Ok(1),
            Shape::Simple { dims, .. } => checked_product(dims),
        }
    }

    /// Bytes for all elements at `item_size` bytes each, checked against overflow and against `limit`
    /// (`TooLarge` with a message when exceeded), so callers can refuse before allocating.
    pub fn checked_byte_size(&self, item_size: usize, limit: u64) -> Result<usize, ModelError> {
        let n = self.num_elements()?;
        let bytes = n.checked_mul(item_size as u64).filter(|b| *b <= limit).ok_or_else(|| {
            ModelError::TooLarge(format!(
                "{n} elements of {item_size} bytes exceed the limit of {limit} bytes for one request"
            ))
        })?;
        usize::try_from(bytes).map_err(|_| ModelError::TooLarge(format!("{bytes} bytes do not fit in memory")))
    }

    /// True for `H5S_NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Shape::Null)
    }

    /// True for `H5S_SCALAR`.
    pub fn is_scalar(&self) -> bool {
        matches!(self, Shape::Scalar)
    }
}

/// Product of extents with overflow check (`TooLarge` on overflow).
pub fn checked_product(dims: &[u64]) -> Result<u64, ModelError> {
    dims.iter().try_fold(1u64, |acc, d| {
        acc.checked_mul(*d).ok_or_else(|| ModelError::TooLarge(format!("shape {dims:?} has too many elements")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> Result<Shape, ModelError> {
        Shape::from_request(Some(&v))
    }

    #[test]
    fn every_request_form_parses() {
        assert_eq!(Shape::from_request(None).unwrap(), Shape::Scalar);
        assert_eq!(req(json!(5)).unwrap(), Shape::simple(vec![5]));
        assert_eq!(req(json!([2, 3])).unwrap(), Shape::simple(vec![2, 3]));
        assert_eq!(req(json!([])).unwrap(), Shape::Scalar);
        assert_eq!(req(json!("H5S_NULL")).unwrap(), Shape::Null);
        assert_eq!(req(json!("H5S_SCALAR")).unwrap(), Shape::Scalar);
        assert_eq!(req(json!({"class": "H5S_SCALAR"})).unwrap(), Shape::Scalar);
        assert_eq!(req(json!({"class": "H5S_NULL"})).unwrap(), Shape::Null);
        assert_eq!(req(json!({"class": "H5S_SIMPLE", "dims": [4]})).unwrap(), Shape::simple(vec![4]));
        assert_eq!(req(json!([0])).unwrap().num_elements().unwrap(), 0);
    }

    #[test]
    fn maxdims_forms_and_stored_json() {
        let s = Shape::simple(vec![3, 4]).with_maxdims(Some(&json!([0, 10]))).unwrap();
        assert_eq!(s.to_json().to_string(), r#"{"class":"H5S_SIMPLE","dims":[3,4],"maxdims":["H5S_UNLIMITED",10]}"#);
        assert_eq!(Shape::from_json(&s.to_json()).unwrap(), s);
        let t = Shape::simple(vec![3]).with_maxdims(Some(&json!(0))).unwrap();
        assert_eq!(t.maxdims().unwrap(), &[MaxDim::Unlimited]);
        // HSDS 1.0.2: a bare string is no list of maxdims; a bare null is none
        assert!(Shape::simple(vec![3]).with_maxdims(Some(&json!("H5S_UNLIMITED"))).is_err());
        assert_eq!(Shape::simple(vec![3]).with_maxdims(Some(&json!(null))).unwrap(), Shape::simple(vec![3]));
        let u = req(json!({"class": "H5S_SIMPLE", "dims": [3], "maxdims": [0]})).unwrap();
        assert_eq!(u, t);
        assert_eq!(Shape::Scalar.to_json(), json!({"class": "H5S_SCALAR"}));
    }

    #[test]
    fn bad_shapes_are_rejected() {
        assert!(req(json!("H5S_FOO")).unwrap_err().to_string().contains("invalid shape"));
        assert!(req(json!([-1])).is_err());
        assert!(req(json!([1.5])).is_err());
        assert!(req(json!({"class": "H5S_NULL", "dims": [1]})).is_err());
        assert!(req(json!({"class": "H5S_SCALAR", "dims": [1]})).is_err());
        assert!(req(json!({"class": "H5S_SIMPLE"})).is_err());
        assert!(req(json!({"class": "H5S_WHAT", "dims": [1]}))
            .unwrap_err()
            .to_string()
            .contains("unknown shape class"));
        assert!(Shape::simple(vec![3]).with_maxdims(Some(&json!([1, 2]))).unwrap_err().to_string().contains("rank"));
        assert!(Shape::simple(vec![3]).with_maxdims(Some(&json!([2]))).unwrap_err().to_string().contains("smaller"));
        assert!(Shape::Scalar.with_maxdims(Some(&json!([2]))).is_err());
        assert!(req(json!(vec![1; 33])).unwrap_err().to_string().contains("rank"));
    }

    #[test]
    fn sizes_are_checked_before_allocating() {
        let huge = Shape::simple(vec![u64::MAX, 2]);
        assert!(matches!(huge.num_elements(), Err(ModelError::TooLarge(_))));
        let big = Shape::simple(vec![1 << 20, 1 << 20]);
        assert!(matches!(big.checked_byte_size(8, 1 << 30), Err(ModelError::TooLarge(_))));
        assert_eq!(Shape::simple(vec![10, 10]).checked_byte_size(4, 1000).unwrap(), 400);
        assert_eq!(Shape::Null.checked_byte_size(4, 10).unwrap(), 0);
        assert_eq!(Shape::Scalar.checked_byte_size(4, 10).unwrap(), 4);
    }
}
