//! A stored object JSON read for a change to one of its member maps (`attributes`, `links`, `acls`), parsed
//! only down to that map's entries: each entry, and every other member, stays raw JSON text until a change
//! reads or replaces it.
//!
//! Why: a compare-and-swap on a contended object re-reads it on every attempt, and a group of 3200
//! attributes is ~0.45 MB of JSON. Parsing it into a `serde_json::Value` tree and serialising it back took
//! 10.3 ms (release, one core); kept raw, 1.9 ms. The holder of a contended object's turn does this once per
//! success, at the CPU share of its memory (0.29 vCPU at 512 MB), and 31 writers queue behind it.
//!
//! Untouched entries are written back byte for byte; changed ones as `serde_json` writes them, so the object
//! reads the same through either representation (HSDS reads both). Stored JSON that the strict parser
//! refuses (HSDS writes bare `NaN`) takes the lenient path of [`crate::model::lenient_json`] instead.

use bytes::Bytes;
use indexmap::IndexMap;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// The raw members of an object, or the entries of one member.
type RawMap = IndexMap<String, Box<RawValue>>;

/// What the member holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// The object has no such member.
    Absent,
    /// A JSON object: its entries are the map.
    Object,
    /// Something else (a corrupt object).
    Other,
}

/// One stored object, its member `name` split into entries.
#[derive(Debug)]
pub struct Entries {
    /// The top-level members in stored order; while the member is an object, its place here holds `null`
    /// (its text lives on only as `map`'s entries) and [`Entries::to_bytes`] writes `map` there.
    top: RawMap,
    name: String,
    kind: Member,
    map: RawMap,
}

impl Entries {
    /// Parses `bytes` (an object JSON) with member `name` split into entries; an error when the bytes are not
    /// a JSON object.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Entries, String> {
        match serde_json::from_slice::<RawMap>(bytes) {
            Ok(top) => Self::from_top(top, name),
            Err(strict) => match crate::model::lenient_json::parse(bytes) {
                Ok(value) => Self::from_value(value, name),
                Err(_) => Err(strict.to_string()),
            },
        }
    }

    /// An object already parsed (e.g. for a dry run), member `name` split into entries; an error when `value`
    /// is not an object.
    pub fn from_value(value: Value, name: &str) -> Result<Entries, String> {
        match value {
            Value::Object(m) => Self::from_top(m.into_iter().map(|(k, v)| (k, raw(&v))).collect(), name),
            _ => Err("not a JSON object".into()),
        }
    }

    fn from_top(mut top: RawMap, name: &str) -> Result<Entries, String> {
        let (kind, map) = match top.get_mut(name) {
            None => (Member::Absent, RawMap::new()),
            Some(v) => match serde_json::from_str::<RawMap>(v.get()) {
                Ok(map) => {
                    *v = raw(&Value::Null);
                    (Member::Object, map)
                }
                Err(_) => (Member::Other, RawMap::new()),
            },
        };
        Ok(Entries { top, name: name.to_string(), kind, map })
    }

    /// What the member held when read (an empty object after [`Entries::make_object`]).
    pub fn member(&self) -> Member {
        self.kind
    }

    /// Makes the member an empty object (when it was absent or not an object).
    pub fn make_object(&mut self) {
        if self.kind != Member::Object {
            self.kind = Member::Object;
            self.map.clear();
            // In its place when it was there (not an object), else last.
            self.top.insert(self.name.clone(), raw(&Value::Null));
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the member has no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Entry `key`, parsed; `None` when absent.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.map.get(key).map(|v| crate::model::lenient_json::parse(v.get().as_bytes()).unwrap_or(Value::Null))
    }

    /// Sets entry `key` (in its place when it exists, else last).
    pub fn insert(&mut self, key: &str, value: &Value) {
        self.make_object();
        self.map.insert(key.to_string(), raw(value));
    }

    /// Removes entry `key`, keeping the order of the others; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.map.shift_remove(key).is_some()
    }

    /// Sets a top-level member other than the split one (e.g. `lastModified`).
    pub fn set_top(&mut self, key: &str, value: &Value) {
        debug_assert_ne!(key, self.name);
        self.top.insert(key.to_string(), raw(value));
    }

    /// The object's JSON, the member written back from its entries (appended when it was absent).
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("raw JSON always serialises"))
    }
}

impl Serialize for Entries {
    /// The top-level members in order, the member's entries in its place: nothing is copied first.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(Some(self.top.len()))?;
        for (k, v) in &self.top {
            if self.kind == Member::Object && *k == self.name {
                out.serialize_entry(k, &self.map)?;
            } else {
                out.serialize_entry(k, v)?;
            }
        }
        out.end()
    }
}

/// `value` as raw JSON text.
fn raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("serde_json::Value always serialises")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reparse(e: &Entries) -> Value {
        serde_json::from_slice(&e.to_bytes()).unwrap()
    }

    /// Changing entries through the raw form gives the same object as changing the parsed tree.
    #[test]
    fn changes_read_back_as_with_a_value_tree() {
        let stored = br#"{"id":"g-1","attributes":{"a":{"value":1.5,"shape":{"class":"H5S_SCALAR"}},"b":{"value":[1,2]}},"lastModified":1.0}"#;
        let mut e = Entries::parse(stored, "attributes").unwrap();
        assert_eq!((e.member(), e.len()), (Member::Object, 2));
        assert_eq!(e.get("a"), Some(json!({"value": 1.5, "shape": {"class": "H5S_SCALAR"}})));
        assert_eq!(e.get("z"), None);
        e.insert("c", &json!({"value": "x"}));
        e.insert("a", &json!({"value": 2}));
        assert!(e.remove("b") && !e.remove("b"));
        e.set_top("lastModified", &json!(2.5));

        let mut tree: Value = serde_json::from_slice(stored).unwrap();
        let attrs = tree["attributes"].as_object_mut().unwrap();
        attrs.insert("c".into(), json!({"value": "x"}));
        attrs.insert("a".into(), json!({"value": 2}));
        attrs.shift_remove("b");
        tree["lastModified"] = json!(2.5);
        assert_eq!(reparse(&e), tree);
        let order: Vec<String> = reparse(&e)["attributes"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(order, ["a", "c"], "entries keep their order; new ones go last");
    }

    #[test]
    fn untouched_entries_are_written_back_byte_for_byte() {
        let stored = br#"{"acls":{"u":{"read":true,   "note":1.10}},"x":[1, 2]}"#;
        let mut e = Entries::parse(stored, "acls").unwrap();
        e.insert("v", &json!({"read": false}));
        let text = String::from_utf8(e.to_bytes().to_vec()).unwrap();
        assert!(text.contains(r#""u":{"read":true,   "note":1.10}"#) && text.contains(r#""x":[1, 2]"#), "{text}");
    }

    #[test]
    fn absent_or_odd_members_and_lenient_json() {
        let mut e = Entries::parse(br#"{"id":"g"}"#, "links").unwrap();
        assert_eq!(e.member(), Member::Absent);
        assert_eq!(reparse(&e), json!({"id": "g"}), "an absent member stays absent when nothing is set");
        e.insert("l", &json!({"class": "H5L_TYPE_SOFT"}));
        assert_eq!(reparse(&e), json!({"id": "g", "links": {"l": {"class": "H5L_TYPE_SOFT"}}}));

        let e = Entries::parse(br#"{"links":[1]}"#, "links").unwrap();
        assert_eq!(e.member(), Member::Other);
        assert_eq!(reparse(&e), json!({"links": [1]}), "a member that is not an object is kept unless replaced");

        // HSDS writes non-finite floats as bare literals; they read as the lenient parser reads them.
        let e = Entries::parse(br#"{"attributes":{"n":{"value":NaN}}}"#, "attributes").unwrap();
        assert_eq!(e.get("n"), Some(json!({"value": "NaN"})));
        assert!(Entries::parse(b"[1,2]", "attributes").is_err());
        assert!(Entries::parse(b"{", "attributes").is_err());
    }
}
