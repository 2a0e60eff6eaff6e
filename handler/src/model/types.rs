//! HDF5 datatypes in HSDS JSON form: parsing, validation, normalisation, item sizes, predefined names.
//!
//! HSDS (`h5json/hdf5dtype.py`, `servicenode_lib.getTypeFromRequest`) validates a request's type by
//! building a numpy dtype from it and then stores the JSON **as sent**, except that a bare predefined
//! name such as `"H5T_STD_I32LE"` becomes `{"class":"H5T_INTEGER","base":"H5T_STD_I32LE"}`. So there are
//! two outputs here:
//! - [`normalize_type_json`]: the exact JSON HSDS stores for a request type (use it when writing objects);
//! - [`Datatype::to_json`]: a canonical rendering of a parsed type (the form h5pyd sends), for types we build.
//!
//! Committed-type references (`"t-..."` strings) need the store and are resolved by `api::typeref`;
//! [`Datatype::from_json`] rejects them with a message saying so.

use serde_json::{json, Map, Value};

use super::ModelError;

/// Byte order of a numeric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Little-endian (`...LE`), the default.
    Little,
    /// Big-endian (`...BE`).
    Big,
}

impl ByteOrder {
    /// `"LE"` or `"BE"`.
    pub fn suffix(self) -> &'static str {
        match self {
            ByteOrder::Little => "LE",
            ByteOrder::Big => "BE",
        }
    }
}

/// Character set of a string type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CharSet {
    /// `H5T_CSET_ASCII`.
    Ascii,
    /// `H5T_CSET_UTF8`.
    Utf8,
}

impl CharSet {
    /// The HDF5 name.
    pub fn name(self) -> &'static str {
        match self {
            CharSet::Ascii => "H5T_CSET_ASCII",
            CharSet::Utf8 => "H5T_CSET_UTF8",
        }
    }
}

/// Padding of a string type (recorded, not interpreted by HSDS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrPad {
    /// `H5T_STR_NULLTERM`.
    NullTerm,
    /// `H5T_STR_NULLPAD`.
    NullPad,
    /// `H5T_STR_SPACEPAD`.
    SpacePad,
}

impl StrPad {
    /// The HDF5 name.
    pub fn name(self) -> &'static str {
        match self {
            StrPad::NullTerm => "H5T_STR_NULLTERM",
            StrPad::NullPad => "H5T_STR_NULLPAD",
            StrPad::SpacePad => "H5T_STR_SPACEPAD",
        }
    }
}

/// The length of a string type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrLength {
    /// Fixed length in bytes (numpy `S<n>`).
    Fixed(usize),
    /// `"H5T_VARIABLE"`: each element is a 4-byte length plus bytes.
    Variable,
}

/// Which kind of reference a `H5T_REFERENCE` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// `H5T_STD_REF_OBJ`: fixed-size text such as `"groups/g-..."` (48 bytes unless `length` says otherwise).
    Object,
    /// `H5T_STD_REF_DSETREG`: variable-size (4-byte length + bytes), as h5json treats region references.
    Region,
}

/// One member of a compound type.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field name (ASCII).
    pub name: String,
    /// Field type.
    pub dtype: Datatype,
}

/// A parsed HDF5 datatype.
#[derive(Debug, Clone, PartialEq)]
pub enum Datatype {
    /// `H5T_INTEGER` with size 1, 2, 4 or 8 bytes.
    Integer {
        /// Size in bytes.
        size: usize,
        /// Signed (`I`) or unsigned (`U`).
        signed: bool,
        /// Byte order.
        order: ByteOrder,
    },
    /// `H5T_FLOAT` with size 2 (f16), 4 or 8 bytes.
    Float {
        /// Size in bytes.
        size: usize,
        /// Byte order.
        order: ByteOrder,
    },
    /// `H5T_STRING`.
    String {
        /// Fixed or variable length.
        length: StrLength,
        /// Character set.
        charset: CharSet,
        /// Padding.
        pad: StrPad,
    },
    /// `H5T_COMPOUND`: packed fields, no alignment padding.
    Compound {
        /// Fields in declaration order.
        fields: Vec<Field>,
    },
    /// `H5T_ENUM` over an integer base.
    Enum {
        /// The integer base type.
        base: Box<Datatype>,
        /// Names and values, in the order given.
        mapping: Vec<(String, i128)>,
    },
    /// `H5T_ARRAY`: a fixed array of a base type per element.
    Array {
        /// Array dims (each ≥ 1).
        dims: Vec<usize>,
        /// Element type.
        base: Box<Datatype>,
    },
    /// `H5T_VLEN`: a variable-length sequence of a base type.
    Vlen {
        /// Sequence element type.
        base: Box<Datatype>,
    },
    /// `H5T_OPAQUE`: `size` raw bytes.
    Opaque {
        /// Size in bytes (≥ 1).
        size: usize,
        /// Optional description tag.
        tag: Option<String>,
    },
    /// `H5T_REFERENCE`.
    Reference {
        /// Object or region reference.
        kind: RefKind,
        /// Explicit `length` for object references (else 48).
        length: Option<usize>,
    },
}

/// Largest fixed item size we accept for one element (1 GiB); bigger types cannot be served anyway.
pub const MAX_ITEM_SIZE: usize = 1 << 30;

/// True when `s` looks like a committed datatype id (`"t-..."`), which the API layer must resolve.
pub fn is_committed_type_ref(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with("t-"))
}

/// Parses a predefined numeric name (`H5T_STD_I32LE`, `H5T_IEEE_F16BE`, ...) into an integer or float type.
/// `require_order` demands the `LE`/`BE` suffix (as HSDS does for top-level names); without it a missing
/// suffix means little-endian (as `getNumpyTypename` allows inside `{"class","base"}`).
pub fn parse_predefined(name: &str, require_order: bool) -> Result<Datatype, ModelError> {
    let (stem, order) = if let Some(s) = name.strip_suffix("LE") {
        (s, ByteOrder::Little)
    } else if let Some(s) = name.strip_suffix("BE") {
        (s, ByteOrder::Big)
    } else if require_order {
        return Err(ModelError::invalid(format!("invalid predefined type {name:?}: expected e.g. H5T_STD_I32LE")));
    } else {
        (name, ByteOrder::Little)
    };
    let bad = || ModelError::invalid(format!("invalid predefined type {name:?}: expected e.g. H5T_STD_I32LE"));
    if let Some(rest) = stem.strip_prefix("H5T_STD_") {
        let signed = match rest.chars().next() {
            Some('I') => true,
            Some('U') => false,
            _ => return Err(bad()),
        };
        let size = match &rest[1..] {
            "8" => 1,
            "16" => 2,
            "32" => 4,
            "64" => 8,
            _ => return Err(bad()),
        };
        Ok(Datatype::Integer { size, signed, order })
    } else if let Some(rest) = stem.strip_prefix("H5T_IEEE_F") {
        let size = match rest {
            "16" => 2,
            "32" => 4,
            "64" => 8,
            _ => return Err(bad()),
        };
        Ok(Datatype::Float { size, order })
    } else {
        Err(bad())
    }
}

/// Validates a request `type` and returns the JSON HSDS stores for it: a top-level predefined name
/// becomes `{"class","base"}`, anything else is kept exactly as sent. Committed `t-` ids are rejected
/// (resolve them first with `api::typeref::resolve_type`).
pub fn normalize_type_json(v: &Value) -> Result<Value, ModelError> {
    if let Some(s) = v.as_str() {
        if is_committed_type_ref(v) {
            return Err(committed_error(s));
        }
        let dt = parse_predefined(s, true)?;
        return Ok(dt.to_json());
    }
    Datatype::from_json(v)?;
    Ok(v.clone())
}

fn committed_error(s: &str) -> ModelError {
    ModelError::invalid(format!(
        "type {s:?} refers to a committed datatype, which must be resolved against the domain first"
    ))
}

fn get_str<'a>(obj: &'a Map<String, Value>, key: &str, class: &str) -> Result<&'a str, ModelError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ModelError::invalid(format!("{class} type: '{key}' must be a string, got {other}"))),
        None => Err(ModelError::invalid(format!("{class} type: '{key}' not provided"))),
    }
}

fn positive_usize(v: &Value, what: &str) -> Result<usize, ModelError> {
    match v.as_u64() {
        Some(n) if n >= 1 && n as u128 <= MAX_ITEM_SIZE as u128 => Ok(n as usize),
        _ => Err(ModelError::invalid(format!("{what} must be a positive integer (at most {MAX_ITEM_SIZE}), got {v}"))),
    }
}

impl Datatype {
    /// Parses a type from request or stored JSON: a predefined name string or a `{"class": ...}` object
    /// (extra keys such as a committed type's `"id"` are ignored, as HSDS ignores them). Errors carry a
    /// message suitable for a 400 response.
    pub fn from_json(v: &Value) -> Result<Datatype, ModelError> {
        Self::parse(v, 0)
    }

    /// Parses one (possibly nested) type and refuses zero-size ones: HDF5 has none, and an element of no
    /// bytes would let a tiny request describe any number of elements.
    fn parse(v: &Value, depth: usize) -> Result<Datatype, ModelError> {
        let dt = Self::parse_inner(v, depth)?;
        if matches!(dt.checked_item_size(), Ok(Some(0))) {
            return Err(ModelError::invalid(format!("type {v} has a size of 0 bytes; every type needs at least 1")));
        }
        Ok(dt)
    }

    fn parse_inner(v: &Value, depth: usize) -> Result<Datatype, ModelError> {
        if depth > 32 {
            return Err(ModelError::invalid("type is nested too deeply (more than 32 levels)"));
        }
        let obj = match v {
            Value::String(s) if s.starts_with("t-") => return Err(committed_error(s)),
            Value::String(s) => return parse_predefined(s, false),
            Value::Object(o) => o,
            other => return Err(ModelError::invalid(format!("invalid type {other}: expected a string or an object"))),
        };
        let class = match obj.get("class") {
            Some(Value::String(c)) => c.as_str(),
            Some(other) => return Err(ModelError::invalid(format!("type 'class' must be a string, got {other}"))),
            None => return Err(ModelError::invalid("type 'class' not provided")),
        };
        if obj.contains_key("dims") && class != "H5T_ARRAY" {
            return Err(ModelError::invalid(format!("'dims' is only allowed for H5T_ARRAY types, not {class}")));
        }
        match class {
            "H5T_INTEGER" | "H5T_FLOAT" => {
                let base = get_str(obj, "base", class)?;
                let dt = parse_predefined(base, false)?;
                match (&dt, class) {
                    (Datatype::Integer { .. }, "H5T_INTEGER") | (Datatype::Float { .. }, "H5T_FLOAT") => Ok(dt),
                    _ => Err(ModelError::invalid(format!("base {base:?} is not valid for class {class}"))),
                }
            }
            "H5T_STRING" => {
                let length = match obj.get("length") {
                    Some(Value::String(s)) if s == "H5T_VARIABLE" => StrLength::Variable,
                    Some(n @ Value::Number(_)) => StrLength::Fixed(positive_usize(n, "string 'length'")?),
                    Some(other) => {
                        return Err(ModelError::invalid(format!(
                            "string 'length' must be a positive integer or \"H5T_VARIABLE\", got {other}"
                        )))
                    }
                    None => return Err(ModelError::invalid("string type: 'length' not provided")),
                };
                let charset = match get_str(obj, "charSet", class)? {
                    "H5T_CSET_ASCII" => CharSet::Ascii,
                    "H5T_CSET_UTF8" => CharSet::Utf8,
                    other => return Err(ModelError::invalid(format!("unexpected string charSet {other:?}"))),
                };
                let pad = match obj.get("strPad") {
                    None => match length {
                        StrLength::Fixed(_) => StrPad::NullPad,
                        StrLength::Variable => StrPad::NullTerm,
                    },
                    Some(Value::String(p)) => match p.as_str() {
                        "H5T_STR_NULLTERM" => StrPad::NullTerm,
                        "H5T_STR_NULLPAD" => StrPad::NullPad,
                        "H5T_STR_SPACEPAD" => StrPad::SpacePad,
                        other => return Err(ModelError::invalid(format!("unexpected string strPad {other:?}"))),
                    },
                    Some(other) => {
                        return Err(ModelError::invalid(format!("string strPad must be a string, got {other}")))
                    }
                };
                Ok(Datatype::String { length, charset, pad })
            }
            "H5T_COMPOUND" => {
                let fields = match obj.get("fields") {
                    Some(Value::Array(f)) if !f.is_empty() => f,
                    Some(Value::Array(_)) => return Err(ModelError::invalid("compound type has no fields")),
                    Some(_) => return Err(ModelError::invalid("compound 'fields' must be a list")),
                    None => return Err(ModelError::invalid("compound type: 'fields' not provided")),
                };
                let mut out: Vec<Field> = Vec::with_capacity(fields.len());
                for f in fields {
                    let fo = f.as_object().ok_or_else(|| ModelError::invalid("compound field must be an object"))?;
                    let name = match fo.get("name") {
                        Some(Value::String(n)) => n.clone(),
                        Some(_) => return Err(ModelError::invalid("compound field names must be strings")),
                        None => return Err(ModelError::invalid("compound field: 'name' missing")),
                    };
                    if !name.is_ascii() {
                        return Err(ModelError::invalid(format!("non-ASCII field name {name:?} is not allowed")));
                    }
                    if out.iter().any(|o| o.name == name) {
                        return Err(ModelError::invalid(format!("duplicate compound field name {name:?}")));
                    }
                    let ft = fo
                        .get("type")
                        .ok_or_else(|| ModelError::invalid(format!("compound field {name:?}: 'type' missing")))?;
                    let dtype = Self::parse(ft, depth + 1)
                        .map_err(|e| ModelError::invalid(format!("compound field {name:?}: {e}")))?;
                    out.push(Field { name, dtype });
                }
                Ok(Datatype::Compound { fields: out })
            }
            "H5T_ENUM" => {
                let base_json = obj.get("base").ok_or_else(|| ModelError::invalid("enum type: 'base' not provided"))?;
                if !base_json.get("class").is_some_and(|c| c == "H5T_INTEGER") {
                    return Err(ModelError::invalid(
                        "only integer base types ({\"class\":\"H5T_INTEGER\",...}) can be used with enum types",
                    ));
                }
                let base = Self::parse(base_json, depth + 1)?;
                let mut mapping = Vec::new();
                match obj.get("mapping").or_else(|| obj.get("members")) {
                    Some(Value::Object(m)) => {
                        for (k, v) in m {
                            mapping.push((k.clone(), enum_value(v, k)?));
                        }
                    }
                    Some(Value::Array(list)) => {
                        for m in list {
                            let name = m.get("name").and_then(Value::as_str).ok_or_else(|| {
                                ModelError::invalid("enum members must be objects with 'name' and 'value'")
                            })?;
                            let v = m.get("value").ok_or_else(|| {
                                ModelError::invalid("enum members must be objects with 'name' and 'value'")
                            })?;
                            mapping.push((name.to_string(), enum_value(v, name)?));
                        }
                    }
                    Some(_) => return Err(ModelError::invalid("enum 'mapping' must be an object of name: integer")),
                    None => return Err(ModelError::invalid("enum type: 'mapping' not provided")),
                }
                if mapping.is_empty() {
                    return Err(ModelError::invalid("enum type has an empty mapping"));
                }
                Ok(Datatype::Enum { base: Box::new(base), mapping })
            }
            "H5T_ARRAY" => {
                let dims: Vec<usize> = match obj.get("dims") {
                    Some(n @ Value::Number(_)) => vec![positive_usize(n, "array 'dims'")?],
                    Some(Value::Array(list)) if !list.is_empty() => {
                        list.iter().map(|d| positive_usize(d, "array 'dims'")).collect::<Result<_, _>>()?
                    }
                    Some(_) => return Err(ModelError::invalid("array 'dims' must be an integer or a non-empty list")),
                    None => return Err(ModelError::invalid("'dims' must be provided for array types")),
                };
                let base_json =
                    obj.get("base").ok_or_else(|| ModelError::invalid("array type: 'base' not provided"))?;
                if let Some(bc) = base_json.get("class") {
                    let ok = ["H5T_INTEGER", "H5T_FLOAT", "H5T_STRING", "H5T_COMPOUND", "H5T_ARRAY"];
                    if !ok.iter().any(|c| bc == c) {
                        return Err(ModelError::invalid(
                            "array base type must be integer, float, string, compound or array",
                        ));
                    }
                }
                let base = Self::parse(base_json, depth + 1)?;
                let dt = Datatype::Array { dims, base: Box::new(base) };
                dt.check_size()?;
                Ok(dt)
            }
            "H5T_VLEN" => {
                let base_json = obj.get("base").ok_or_else(|| ModelError::invalid("vlen type: 'base' not provided"))?;
                Ok(Datatype::Vlen { base: Box::new(Self::parse(base_json, depth + 1)?) })
            }
            "H5T_OPAQUE" => {
                let size = obj.get("size").ok_or_else(|| ModelError::invalid("opaque type: 'size' not provided"))?;
                let size = positive_usize(size, "opaque 'size'")?;
                let tag = obj.get("tag").and_then(Value::as_str).map(str::to_string);
                Ok(Datatype::Opaque { size, tag })
            }
            "H5T_REFERENCE" => match get_str(obj, "base", class)? {
                "H5T_STD_REF_OBJ" => {
                    let length = match obj.get("length") {
                        None => None,
                        Some(n) => Some(positive_usize(n, "reference 'length'")?),
                    };
                    Ok(Datatype::Reference { kind: RefKind::Object, length })
                }
                "H5T_STD_REF_DSETREG" => Ok(Datatype::Reference { kind: RefKind::Region, length: None }),
                other => Err(ModelError::invalid(format!("invalid base type {other:?} for reference type"))),
            },
            other => Err(ModelError::invalid(format!("unknown type class {other:?}"))),
        }
    }

    fn check_size(&self) -> Result<(), ModelError> {
        self.checked_item_size().map(|_| ())
    }

    /// Item size with overflow check: `Ok(None)` for variable-size types, `Err` when it exceeds [`MAX_ITEM_SIZE`].
    fn checked_item_size(&self) -> Result<Option<usize>, ModelError> {
        let too_big = || ModelError::invalid(format!("type item size exceeds {MAX_ITEM_SIZE} bytes"));
        Ok(match self {
            Datatype::Integer { size, .. } | Datatype::Float { size, .. } | Datatype::Opaque { size, .. } => {
                Some(*size)
            }
            Datatype::String { length: StrLength::Fixed(n), .. } => Some(*n),
            Datatype::String { length: StrLength::Variable, .. } | Datatype::Vlen { .. } => None,
            Datatype::Reference { kind: RefKind::Object, length } => Some(length.unwrap_or(48)),
            Datatype::Reference { kind: RefKind::Region, .. } => None,
            Datatype::Enum { base, .. } => base.checked_item_size()?,
            Datatype::Compound { fields } => {
                let mut total = 0usize;
                for f in fields {
                    match f.dtype.checked_item_size()? {
                        None => return Ok(None),
                        Some(s) => total = total.checked_add(s).filter(|t| *t <= MAX_ITEM_SIZE).ok_or_else(too_big)?,
                    }
                }
                Some(total)
            }
            Datatype::Array { dims, base } => match base.checked_item_size()? {
                None => None,
                Some(s) => {
                    let mut total = s;
                    for d in dims {
                        total = total.checked_mul(*d).filter(|t| *t <= MAX_ITEM_SIZE).ok_or_else(too_big)?;
                    }
                    Some(total)
                }
            },
        })
    }

    /// Bytes per element, or `None` for variable-size types (vlen strings/sequences, region references,
    /// or any compound/array containing one). Parsed types are bounded by [`MAX_ITEM_SIZE`].
    pub fn item_size(&self) -> Option<usize> {
        self.checked_item_size().ok().flatten()
    }

    /// True when elements have no fixed size (see [`Datatype::item_size`]).
    pub fn is_vlen(&self) -> bool {
        self.item_size().is_none()
    }

    /// Whether this type holds a variable-length sequence of variable-length sequences or strings anywhere:
    /// values HSDS 1.0.2 can neither write nor read (h5json cannot unpack them).
    pub fn has_vlen_of_vlen(&self) -> bool {
        match self {
            Datatype::Vlen { base } => {
                matches!(**base, Datatype::Vlen { .. } | Datatype::String { length: StrLength::Variable, .. })
                    || base.has_vlen_of_vlen()
            }
            Datatype::Compound { fields } => fields.iter().any(|f| f.dtype.has_vlen_of_vlen()),
            Datatype::Array { base, .. } => base.has_vlen_of_vlen(),
            _ => false,
        }
    }

    /// The HSDS class name (`"H5T_INTEGER"`, ...).
    pub fn class(&self) -> &'static str {
        match self {
            Datatype::Integer { .. } => "H5T_INTEGER",
            Datatype::Float { .. } => "H5T_FLOAT",
            Datatype::String { .. } => "H5T_STRING",
            Datatype::Compound { .. } => "H5T_COMPOUND",
            Datatype::Enum { .. } => "H5T_ENUM",
            Datatype::Array { .. } => "H5T_ARRAY",
            Datatype::Vlen { .. } => "H5T_VLEN",
            Datatype::Opaque { .. } => "H5T_OPAQUE",
            Datatype::Reference { .. } => "H5T_REFERENCE",
        }
    }

    /// The predefined name of an integer or float type (`"H5T_STD_U16BE"`), else `None`.
    pub fn predefined_name(&self) -> Option<String> {
        match self {
            Datatype::Integer { size, signed, order } => {
                Some(format!("H5T_STD_{}{}{}", if *signed { 'I' } else { 'U' }, size * 8, order.suffix()))
            }
            Datatype::Float { size, order } => Some(format!("H5T_IEEE_F{}{}", size * 8, order.suffix())),
            _ => None,
        }
    }

    /// True for the enum numpy maps to `bool`: an 8-bit signed integer base with exactly `TRUE` and `FALSE`.
    /// Its JSON values are `true`/`false`.
    pub fn is_bool_enum(&self) -> bool {
        match self {
            Datatype::Enum { base, mapping } => {
                matches!(**base, Datatype::Integer { size: 1, signed: true, .. })
                    && mapping.len() == 2
                    && mapping.iter().any(|(n, _)| n == "TRUE")
                    && mapping.iter().any(|(n, _)| n == "FALSE")
            }
            _ => false,
        }
    }

    /// Compound fields (empty slice for other classes).
    pub fn fields(&self) -> &[Field] {
        match self {
            Datatype::Compound { fields } => fields,
            _ => &[],
        }
    }

    /// The compound field called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// Byte offset of fixed-size field `name` inside a packed compound element; `None` if absent or
    /// if the compound is variable-size.
    pub fn field_offset(&self, name: &str) -> Option<usize> {
        let mut off = 0usize;
        for f in self.fields() {
            if f.name == name {
                return Some(off);
            }
            off += f.dtype.item_size()?;
        }
        None
    }

    /// A compound made of the named fields of this compound, in the order given (`fields=a:b` selections).
    pub fn sub_compound(&self, names: &[&str]) -> Result<Datatype, ModelError> {
        if !matches!(self, Datatype::Compound { .. }) {
            return Err(ModelError::invalid("fields can only be selected from a compound type"));
        }
        let mut fields = Vec::with_capacity(names.len());
        for n in names {
            let f =
                self.field(n).ok_or_else(|| ModelError::invalid(format!("field {n:?} is not defined in the type")))?;
            fields.push(f.clone());
        }
        if fields.is_empty() {
            return Err(ModelError::invalid("no fields given"));
        }
        Ok(Datatype::Compound { fields })
    }

    /// Canonical JSON of this type, with keys in the order h5pyd sends them (`getTypeItem`). For storing a
    /// request's type use [`normalize_type_json`] instead, which keeps the client's form like HSDS.
    pub fn to_json(&self) -> Value {
        match self {
            Datatype::Integer { .. } => json!({"class": "H5T_INTEGER", "base": self.predefined_name()}),
            Datatype::Float { .. } => json!({"class": "H5T_FLOAT", "base": self.predefined_name()}),
            Datatype::String { length, charset, pad } => {
                let len = match length {
                    StrLength::Fixed(n) => json!(n),
                    StrLength::Variable => json!("H5T_VARIABLE"),
                };
                json!({"class": "H5T_STRING", "length": len, "charSet": charset.name(), "strPad": pad.name()})
            }
            Datatype::Compound { fields } => {
                let fs: Vec<Value> =
                    fields.iter().map(|f| json!({"name": f.name, "type": f.dtype.to_json()})).collect();
                json!({"class": "H5T_COMPOUND", "fields": fs})
            }
            Datatype::Enum { base, mapping } => {
                let mut m = Map::new();
                for (k, v) in mapping {
                    m.insert(k.clone(), enum_json(*v));
                }
                json!({"class": "H5T_ENUM", "base": base.to_json(), "mapping": m})
            }
            Datatype::Array { dims, base } => json!({"class": "H5T_ARRAY", "dims": dims, "base": base.to_json()}),
            Datatype::Vlen { base } => json!({"class": "H5T_VLEN", "size": "H5T_VARIABLE", "base": base.to_json()}),
            Datatype::Opaque { size, tag } => {
                let mut v = json!({"class": "H5T_OPAQUE", "size": size});
                if let Some(t) = tag {
                    v["tag"] = json!(t);
                }
                v
            }
            Datatype::Reference { kind: RefKind::Object, length } => {
                let mut v = json!({"class": "H5T_REFERENCE", "base": "H5T_STD_REF_OBJ"});
                if let Some(l) = length {
                    v["length"] = json!(l);
                }
                v
            }
            Datatype::Reference { kind: RefKind::Region, .. } => {
                json!({"class": "H5T_REFERENCE", "base": "H5T_STD_REF_DSETREG"})
            }
        }
    }
}

fn enum_value(v: &Value, name: &str) -> Result<i128, ModelError> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .ok_or_else(|| ModelError::invalid(format!("enum value for {name:?} must be an integer, got {v}")))
}

fn enum_json(v: i128) -> Value {
    if let Ok(i) = i64::try_from(v) {
        json!(i)
    } else {
        json!(v as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> String {
        Datatype::from_json(&v).unwrap_err().to_string()
    }

    #[test]
    fn predefined_names_parse_and_render() {
        for (name, size) in [
            ("H5T_STD_I8LE", 1),
            ("H5T_STD_U16BE", 2),
            ("H5T_STD_I32LE", 4),
            ("H5T_STD_U64LE", 8),
            ("H5T_IEEE_F16LE", 2),
            ("H5T_IEEE_F16BE", 2),
            ("H5T_IEEE_F32BE", 4),
            ("H5T_IEEE_F64LE", 8),
        ] {
            let dt = Datatype::from_json(&json!(name)).unwrap();
            assert_eq!(dt.item_size(), Some(size), "{name}");
            assert_eq!(dt.predefined_name().unwrap(), name);
            assert_eq!(normalize_type_json(&json!(name)).unwrap()["base"], json!(name));
        }
        assert_eq!(
            normalize_type_json(&json!("H5T_IEEE_F32LE")).unwrap().to_string(),
            r#"{"class":"H5T_FLOAT","base":"H5T_IEEE_F32LE"}"#
        );
    }

    #[test]
    fn top_level_names_need_byte_order_but_class_bases_default_to_le() {
        assert!(normalize_type_json(&json!("H5T_STD_I32")).is_err());
        let dt = Datatype::from_json(&json!({"class": "H5T_INTEGER", "base": "H5T_STD_I32"})).unwrap();
        assert_eq!(dt, Datatype::Integer { size: 4, signed: true, order: ByteOrder::Little });
    }

    #[test]
    fn normalize_keeps_client_json_as_sent() {
        let t = json!({"class": "H5T_COMPOUND", "fields": [{"name": "a", "type": "H5T_STD_I8LE"}], "extra": 1});
        assert_eq!(normalize_type_json(&t).unwrap(), t);
    }

    #[test]
    fn strings_and_sizes() {
        let v =
            json!({"class":"H5T_STRING","charSet":"H5T_CSET_UTF8","length":"H5T_VARIABLE","strPad":"H5T_STR_NULLTERM"});
        let dt = Datatype::from_json(&v).unwrap();
        assert!(dt.is_vlen());
        assert_eq!(
            dt.to_json().to_string(),
            r#"{"class":"H5T_STRING","length":"H5T_VARIABLE","charSet":"H5T_CSET_UTF8","strPad":"H5T_STR_NULLTERM"}"#
        );
        let f = Datatype::from_json(&json!({"class":"H5T_STRING","charSet":"H5T_CSET_ASCII","length":7})).unwrap();
        assert_eq!(f.item_size(), Some(7));
    }

    #[test]
    fn compound_sizes_offsets_and_lookup() {
        let v = json!({"class":"H5T_COMPOUND","fields":[
            {"name":"a","type":"H5T_STD_I16LE"},
            {"name":"b","type":{"class":"H5T_ARRAY","dims":[2,3],"base":"H5T_IEEE_F32BE"}},
            {"name":"c","type":{"class":"H5T_COMPOUND","fields":[{"name":"x","type":"H5T_STD_U8LE"}]}}]});
        let dt = Datatype::from_json(&v).unwrap();
        assert_eq!(dt.item_size(), Some(2 + 24 + 1));
        assert_eq!(dt.field_offset("c"), Some(26));
        assert!(dt.field("b").is_some() && dt.field("z").is_none());
        let sub = dt.sub_compound(&["c", "a"]).unwrap();
        assert_eq!(sub.item_size(), Some(3));
        let with_vlen =
            json!({"class":"H5T_COMPOUND","fields":[{"name":"s","type":{"class":"H5T_VLEN","base":"H5T_STD_I32LE"}}]});
        assert!(Datatype::from_json(&with_vlen).unwrap().is_vlen());
    }

    #[test]
    fn enums_incl_bool_and_members_form() {
        let b = json!({"class":"H5T_ENUM","base":{"class":"H5T_INTEGER","base":"H5T_STD_I8LE"},"mapping":{"FALSE":0,"TRUE":1}});
        assert!(Datatype::from_json(&b).unwrap().is_bool_enum());
        let m = json!({"class":"H5T_ENUM","members":[{"name":"FALSE","value":0},{"name":"TRUE","value":1}],
            "base":{"class":"H5T_INTEGER","base":"H5T_STD_I8LE"}});
        assert!(Datatype::from_json(&m).unwrap().is_bool_enum());
        let e = json!({"class":"H5T_ENUM","base":{"class":"H5T_INTEGER","base":"H5T_STD_U16BE"},"mapping":{"R":0,"G":1,"B":2}});
        let dt = Datatype::from_json(&e).unwrap();
        assert!(!dt.is_bool_enum());
        assert_eq!(dt.item_size(), Some(2));
        assert_eq!(Datatype::from_json(&dt.to_json()).unwrap(), dt);
    }

    #[test]
    fn references_opaque_vlen() {
        let r = Datatype::from_json(&json!({"class":"H5T_REFERENCE","base":"H5T_STD_REF_OBJ"})).unwrap();
        assert_eq!(r.item_size(), Some(48));
        let r = Datatype::from_json(&json!({"class":"H5T_REFERENCE","base":"H5T_STD_REF_OBJ","length":60})).unwrap();
        assert_eq!(r.item_size(), Some(60));
        assert!(Datatype::from_json(&json!({"class":"H5T_REFERENCE","base":"H5T_STD_REF_DSETREG"})).unwrap().is_vlen());
        let o = Datatype::from_json(&json!({"class":"H5T_OPAQUE","size":5,"tag":"x"})).unwrap();
        assert_eq!(o.item_size(), Some(5));
        assert_eq!(Datatype::from_json(&o.to_json()).unwrap(), o);
    }

    #[test]
    fn bad_types_are_rejected_with_clear_messages() {
        assert!(err(json!({"class":"H5T_FOO"})).contains("unknown type class"));
        assert!(err(json!("H5T_STD_I12LE")).contains("invalid predefined type"));
        assert!(err(json!({"class":"H5T_INTEGER","base":"H5T_IEEE_F32LE"})).contains("not valid for class"));
        assert!(err(json!({"class":"H5T_INTEGER"})).contains("'base' not provided"));
        assert!(err(json!({"class":"H5T_STRING","length":5})).contains("charSet"));
        assert!(err(json!({"class":"H5T_STRING","length":0,"charSet":"H5T_CSET_ASCII"})).contains("positive"));
        assert!(err(json!({"class":"H5T_COMPOUND","fields":[]})).contains("no fields"));
        assert!(
            err(json!({"class":"H5T_COMPOUND","fields":[{"name":"é","type":"H5T_STD_I8LE"}]})).contains("non-ASCII")
        );
        assert!(err(json!({"class":"H5T_COMPOUND","fields":[{"name":"a","type":"H5T_STD_I8LE"},{"name":"a","type":"H5T_STD_I8LE"}]})).contains("duplicate"));
        assert!(err(
            json!({"class":"H5T_ENUM","base":{"class":"H5T_FLOAT","base":"H5T_IEEE_F32LE"},"mapping":{"a":1}})
        )
        .contains("integer base"));
        assert!(err(json!({"class":"H5T_ENUM","base":{"class":"H5T_INTEGER","base":"H5T_STD_I8LE"},"mapping":{}}))
            .contains("empty"));
        assert!(err(json!({"class":"H5T_ARRAY","dims":[2],"base":{"class":"H5T_VLEN","base":"H5T_STD_I8LE"}}))
            .contains("array base"));
        assert!(err(json!({"class":"H5T_ARRAY","base":"H5T_STD_I8LE"})).contains("'dims'"));
        assert!(
            err(json!({"class":"H5T_INTEGER","base":"H5T_STD_I8LE","dims":[2]})).contains("only allowed for H5T_ARRAY")
        );
        assert!(err(json!({"class":"H5T_ARRAY","dims":[65536,65536],"base":"H5T_STD_I64LE"})).contains("exceeds"));
        assert!(err(json!({"class":"H5T_OPAQUE","size":0})).contains("positive"));
        assert!(err(json!({"class":"H5T_REFERENCE","base":"H5T_STD_REF_FOO"})).contains("reference"));
        assert!(err(json!("t-12345678-12345678-1234-123456-123456")).contains("committed datatype"));
        assert!(err(json!(42)).contains("expected a string or an object"));
    }

    #[test]
    fn canonical_json_round_trips() {
        for v in [
            json!({"class":"H5T_VLEN","size":"H5T_VARIABLE","base":{"class":"H5T_INTEGER","base":"H5T_STD_I32LE"}}),
            json!({"class":"H5T_ARRAY","dims":[3],"base":{"class":"H5T_STRING","length":4,"charSet":"H5T_CSET_ASCII","strPad":"H5T_STR_NULLPAD"}}),
            json!({"class":"H5T_REFERENCE","base":"H5T_STD_REF_OBJ"}),
        ] {
            let dt = Datatype::from_json(&v).unwrap();
            assert_eq!(dt.to_json(), v);
        }
    }
}
