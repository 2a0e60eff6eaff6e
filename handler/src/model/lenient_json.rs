//! JSON as Python writes it: the literals `NaN`, `Infinity` and `-Infinity`.
//!
//! HSDS (Python's `json`) accepts those bare literals in request bodies and writes them into the object JSON
//! it stores (an attribute or fill value of NaN). h5pyd 1.0 sends them too. Strict JSON parsers reject them,
//! so they are read here as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` — the spelling the value
//! layer already accepts for float elements (see `model::value`).

use serde_json::Value;

/// Parses JSON that may contain bare `NaN` / `Infinity` / `-Infinity`, turning them into strings.
/// Strict JSON is parsed as is; anything else malformed is the usual `serde_json` error.
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(strict) => match quote_literals(bytes) {
            Some(fixed) => serde_json::from_slice(&fixed),
            None => Err(strict),
        },
    }
}

/// `bytes` with every bare non-finite literal outside strings quoted; `None` when there is none.
fn quote_literals(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let (mut i, mut in_string, mut changed) = (0, false, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if b == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                i += 1;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        let literal = ["-Infinity", "Infinity", "NaN"].into_iter().find(|l| rest.starts_with(l.as_bytes()));
        match literal {
            Some(l) => {
                out.push(b'"');
                out.extend_from_slice(l.as_bytes());
                out.push(b'"');
                i += l.len();
                changed = true;
            }
            None => {
                in_string = b == b'"';
                out.push(b);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bare_literals_become_strings() {
        let v = parse(br#"{"value": [NaN, Infinity, -Infinity, 1.5], "s": "NaN in a string"}"#).unwrap();
        assert_eq!(v, json!({"value": ["NaN", "Infinity", "-Infinity", 1.5], "s": "NaN in a string"}));
    }

    #[test]
    fn strings_with_escaped_quotes_are_left_alone() {
        let v = parse(br#"{"a": "x\"NaN", "b": NaN}"#).unwrap();
        assert_eq!(v, json!({"a": "x\"NaN", "b": "NaN"}));
    }

    #[test]
    fn other_malformed_json_is_still_an_error() {
        assert!(parse(b"{not json").is_err());
        assert!(parse(b"[NaN,").is_err());
        assert!(parse(b"Nope").is_err());
    }
}
