//! HSDS schema-v2 object ids and the storage keys derived from them.
//!
//! An id is `<p>-<8 hex>-<8 hex>-<4 hex>-<6 hex>-<6 hex>` with `p` one of `g`, `d`, `t`. The 32 hex
//! digits of a root group id are 16 digits followed by the same 16 each rotated by +8 (mod 16); every
//! other object of the domain shares the root's first 16 digits. Keys live under `db/<8>-<8>/`.

use std::fmt;

use sha2::{Digest, Sha256};

use super::ModelError;

/// The three kinds of HDF objects with ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjKind {
    /// A group (`g-`).
    Group,
    /// A dataset (`d-`).
    Dataset,
    /// A committed datatype (`t-`).
    Datatype,
}

impl ObjKind {
    /// The id prefix character.
    pub fn prefix(self) -> char {
        match self {
            ObjKind::Group => 'g',
            ObjKind::Dataset => 'd',
            ObjKind::Datatype => 't',
        }
    }
    /// The REST collection name (`groups`, `datasets`, `datatypes`).
    pub fn collection(self) -> &'static str {
        match self {
            ObjKind::Group => "groups",
            ObjKind::Dataset => "datasets",
            ObjKind::Datatype => "datatypes",
        }
    }
    /// The kind for a REST collection name.
    pub fn from_collection(name: &str) -> Option<Self> {
        match name {
            "groups" => Some(ObjKind::Group),
            "datasets" => Some(ObjKind::Dataset),
            "datatypes" => Some(ObjKind::Datatype),
            _ => None,
        }
    }
    /// The JSON file name of this kind's objects (`.group.json`, ...).
    fn json_name(self) -> &'static str {
        match self {
            ObjKind::Group => ".group.json",
            ObjKind::Dataset => ".dataset.json",
            ObjKind::Datatype => ".datatype.json",
        }
    }
}

/// A validated schema-v2 object id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjId {
    kind: ObjKind,
    /// The 32 lower-case hex digits, without dashes.
    hex: [u8; 32],
}

fn rot(c: u8) -> u8 {
    let v = (c as char).to_digit(16).expect("hex digit");
    char::from_digit((v + 8) % 16, 16).expect("digit < 16") as u8
}

impl ObjId {
    /// Parses an id; accepts `collection/id` forms too (`groups/g-...`), as HSDS does. Nothing else may come
    /// before the id: `../../x/g-...` is not an id.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let bad = || ModelError::InvalidId(s.chars().take(80).collect());
        let s2 = ["groups/", "datasets/", "datatypes/"].iter().find_map(|p| s.strip_prefix(p)).unwrap_or(s);
        let b = s2.as_bytes();
        if b.len() != 38 || b[1] != b'-' {
            return Err(bad());
        }
        let kind = match b[0] {
            b'g' => ObjKind::Group,
            b'd' => ObjKind::Dataset,
            b't' => ObjKind::Datatype,
            _ => return Err(bad()),
        };
        let mut hex = [0u8; 32];
        let mut n = 0;
        for (i, &c) in b[2..].iter().enumerate() {
            if [8, 17, 22, 29].contains(&i) {
                if c != b'-' {
                    return Err(bad());
                }
            } else if c.is_ascii_digit() || (b'a'..=b'f').contains(&c) {
                hex[n] = c;
                n += 1;
            } else {
                return Err(bad());
            }
        }
        Ok(ObjId { kind, hex })
    }

    /// Parses an id and checks it is of `kind`.
    pub fn parse_kind(s: &str, kind: ObjKind) -> Result<Self, ModelError> {
        let id = Self::parse(s)?;
        if id.kind != kind {
            return Err(ModelError::invalid(format!("{s} is not a {} id", kind.collection().trim_end_matches('s'))));
        }
        Ok(id)
    }

    fn random_hex() -> [u8; 32] {
        let digest = Sha256::digest(uuid::Uuid::new_v4().simple().to_string().as_bytes());
        let mut hex = [0u8; 32];
        hex.copy_from_slice(&hex::encode(digest).as_bytes()[..32]);
        hex
    }

    /// A fresh root group id (second half = first half rotated by 8).
    pub fn new_root() -> Self {
        let mut hex = Self::random_hex();
        for i in 0..16 {
            hex[16 + i] = rot(hex[i]);
        }
        ObjId { kind: ObjKind::Group, hex }
    }

    /// A fresh id of `kind` in the domain whose root is `root`.
    pub fn new_child(kind: ObjKind, root: &ObjId) -> Self {
        let mut hex = Self::random_hex();
        hex[..16].copy_from_slice(&root.hex[..16]);
        if kind == ObjKind::Group && (0..16).all(|i| hex[16 + i] == rot(hex[i])) {
            hex[31] = if hex[31] == b'0' { b'1' } else { b'0' }; // astronomically unlikely, but never a root
        }
        ObjId { kind, hex }
    }

    /// The object kind.
    pub fn kind(&self) -> ObjKind {
        self.kind
    }

    /// True for a root group id.
    pub fn is_root(&self) -> bool {
        self.kind == ObjKind::Group && (0..16).all(|i| self.hex[16 + i] == rot(self.hex[i]))
    }

    /// The id of this object's domain root group.
    pub fn root(&self) -> ObjId {
        let mut hex = self.hex;
        for i in 0..16 {
            hex[16 + i] = rot(hex[i]);
        }
        ObjId { kind: ObjKind::Group, hex }
    }

    /// True when both ids belong to the same domain (share the root's 16-digit prefix).
    pub fn same_domain(&self, other: &ObjId) -> bool {
        self.hex[..16] == other.hex[..16]
    }

    fn hex_str(&self, r: std::ops::Range<usize>) -> &str {
        std::str::from_utf8(&self.hex[r]).expect("ascii hex")
    }

    /// `db/<8>-<8>`: the key prefix shared by every object of the domain.
    pub fn db_prefix(&self) -> String {
        format!("db/{}-{}", self.hex_str(0..8), self.hex_str(8..16))
    }

    /// The directory of a non-root object (`db/<8>-<8>/<p>/<4>-<6>-<6>`); for a dataset it also holds its chunks.
    pub fn object_dir(&self) -> String {
        format!(
            "{}/{}/{}-{}-{}",
            self.db_prefix(),
            self.kind.prefix(),
            self.hex_str(16..20),
            self.hex_str(20..26),
            self.hex_str(26..32)
        )
    }

    /// The storage key of this object's JSON.
    pub fn s3_key(&self) -> String {
        if self.is_root() {
            format!("{}/.group.json", self.db_prefix())
        } else {
            format!("{}/{}", self.object_dir(), self.kind.json_name())
        }
    }

    /// The storage key of chunk `index` of this dataset: `db/.../d/<..>/<i>_<j>_...`.
    pub fn chunk_key(&self, index: &[u64]) -> String {
        let coords: Vec<String> = index.iter().map(u64::to_string).collect();
        format!("{}/{}", self.object_dir(), coords.join("_"))
    }

    /// The chunk id HSDS uses: `c-<uuid>_<i>_<j>`.
    pub fn chunk_id(&self, index: &[u64]) -> String {
        let coords: Vec<String> = index.iter().map(u64::to_string).collect();
        format!("c{}_{}", &self.to_string()[1..], coords.join("_"))
    }

    /// The key of the domain summary written by HSDS's scan (`db/<8>-<8>/.info.json`).
    pub fn info_key(&self) -> String {
        format!("{}/.info.json", self.db_prefix())
    }
}

impl fmt::Display for ObjId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{}-{}-{}-{}",
            self.kind.prefix(),
            self.hex_str(0..8),
            self.hex_str(8..16),
            self.hex_str(16..20),
            self.hex_str(20..26),
            self.hex_str(26..32)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsds_golden_root_id() {
        // From HSDS tests/unit/id_util_test.py.
        let id = ObjId::parse("g-f9aaa28e-d42e10e5-7122-2a065c-a6986d").unwrap();
        assert!(id.is_root());
        assert_eq!(id.s3_key(), "db/f9aaa28e-d42e10e5/.group.json");
    }

    #[test]
    fn keys_match_hsds() {
        let root = ObjId::parse("g-f9aaa28e-d42e10e5-7122-2a065c-a6986d").unwrap();
        let d = ObjId::parse("d-f9aaa28e-d42e10e5-0123-456789-abcdef").unwrap();
        assert!(!d.is_root());
        assert_eq!(d.root(), root);
        assert_eq!(d.s3_key(), "db/f9aaa28e-d42e10e5/d/0123-456789-abcdef/.dataset.json");
        assert_eq!(d.chunk_key(&[7, 2]), "db/f9aaa28e-d42e10e5/d/0123-456789-abcdef/7_2");
        assert_eq!(d.chunk_id(&[7, 2]), "c-f9aaa28e-d42e10e5-0123-456789-abcdef_7_2");
        let g = ObjId::parse("groups/g-f9aaa28e-d42e10e5-0123-456789-abcdef").unwrap();
        for bad in ["../../groups/g-f9aaa28e-d42e10e5-0123-456789-abcdef", "x/g-f9aaa28e-d42e10e5-0123-456789-abcdef"] {
            assert!(ObjId::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(g.s3_key(), "db/f9aaa28e-d42e10e5/g/0123-456789-abcdef/.group.json");
    }

    #[test]
    fn new_ids_follow_the_rotation_rule() {
        let root = ObjId::new_root();
        assert!(root.is_root());
        assert_eq!(ObjId::parse(&root.to_string()).unwrap(), root);
        let t = ObjId::new_child(ObjKind::Datatype, &root);
        assert!(t.same_domain(&root) && !t.is_root() && t.root() == root);
        assert!(t.to_string().starts_with("t-"));
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "g-",
            "x-f9aaa28e-d42e10e5-7122-2a065c-a6986d",
            "g-F9AAA28E-d42e10e5-7122-2a065c-a6986d",
            "g-f9aaa28e-d42e10e5-7122-2a065c-a6986",
            "g-f9aaa28e_d42e10e5-7122-2a065c-a6986d",
            "g-f9aaa28e-d42e10e5-7122-2a065c-a6986z",
        ] {
            assert!(ObjId::parse(bad).is_err(), "{bad}");
        }
    }
}
