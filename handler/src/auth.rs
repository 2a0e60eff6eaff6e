//! Users, Basic authentication and ACL evaluation, as HSDS does them (`hsds/util/authUtil.py`).
//!
//! Differences from HSDS, both deliberate: passwords are compared in constant time, and callers of
//! `PUT /acls/{user}` need `updateACL` (HSDS 1.0.2 checks nothing there).

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The six ACL flags, in HSDS's order.
pub const ACL_KEYS: [&str; 6] = ["create", "read", "update", "delete", "readACL", "updateACL"];

/// An action checked against a domain's ACLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create objects, links, attributes, sub-domains.
    Create,
    /// Read anything.
    Read,
    /// Change values, shapes, attribute values.
    Update,
    /// Delete anything.
    Delete,
    /// Read other users' ACLs.
    ReadAcl,
    /// Change ACLs.
    UpdateAcl,
}

impl Action {
    /// The ACL flag name for this action.
    pub fn key(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Read => "read",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::ReadAcl => "readACL",
            Action::UpdateAcl => "updateACL",
        }
    }
}

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No credentials: may read what the `default` ACL allows, never write.
    Anonymous,
    /// An authenticated user.
    User(String),
}

impl Identity {
    /// The name used for ACL lookups (`default` for anonymous requests, as HSDS).
    pub fn acl_name(&self) -> &str {
        match self {
            Identity::Anonymous => "default",
            Identity::User(u) => u,
        }
    }
    /// The name reported by `/about` (`anonymous` when there are no credentials).
    pub fn display_name(&self) -> &str {
        match self {
            Identity::Anonymous => "anonymous",
            Identity::User(u) => u,
        }
    }
}

/// The user database: passwords, admins and ACL groups.
#[derive(Debug, Clone, Default)]
pub struct Users {
    passwords: HashMap<String, String>,
    admins: Vec<String>,
    groups: HashMap<String, Vec<String>>,
}

impl Users {
    /// An empty database whose admins are `admins`.
    pub fn new(admins: Vec<String>) -> Self {
        Users { admins, ..Default::default() }
    }

    /// Adds or replaces a user.
    pub fn add(&mut self, name: &str, password: &str) {
        self.passwords.insert(name.to_string(), password.to_string());
    }

    /// Parses HSDS's `passwd.txt` format: `name:password` lines, `#` comments, blank lines ignored.
    /// Names and passwords shorter than 3 characters are rejected, as HSDS does.
    pub fn load_passwd(&mut self, text: &str) -> Result<usize, String> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, pwd) = line.split_once(':').ok_or_else(|| format!("line {}: expected name:password", i + 1))?;
            let (name, pwd) = (name.trim(), pwd.trim());
            if name.len() < 3 || pwd.len() < 3 {
                return Err(format!("line {}: names and passwords need at least 3 characters", i + 1));
            }
            self.add(name, pwd);
            n += 1;
        }
        Ok(n)
    }

    /// Parses HSDS's groups file: `group: user1 user2` lines.
    pub fn load_groups(&mut self, text: &str) {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            if let Some((group, members)) = line.split_once(':') {
                for m in members.split_whitespace() {
                    self.groups.entry(m.to_string()).or_default().push(group.trim().to_string());
                }
            }
        }
    }

    /// True when `name` is a user of the database (or an admin), e.g. to validate ACL targets.
    pub fn exists(&self, name: &str) -> bool {
        self.passwords.contains_key(name) || self.admins.iter().any(|a| a == name)
    }

    /// True for an admin user (bypasses every ACL).
    pub fn is_admin(&self, identity: &Identity) -> bool {
        matches!(identity, Identity::User(u) if self.admins.iter().any(|a| a == u))
    }

    /// Resolves the `Authorization` header. No header → anonymous; malformed → 400; unknown user
    /// or wrong password → 401.
    pub fn authenticate(&self, header: Option<&str>) -> ApiResult<Identity> {
        let Some(header) = header else { return Ok(Identity::Anonymous) };
        let (scheme, token) = header.trim().split_once(' ').ok_or_else(|| {
            ApiError::bad_request("invalid Authorization header: expected 'Basic <base64(user:password)>'")
        })?;
        if !scheme.eq_ignore_ascii_case("basic") {
            // Echo only well-known scheme names: a mangled header may start with the credentials themselves.
            const KNOWN: [&str; 7] = ["Bearer", "Digest", "Negotiate", "NTLM", "Token", "AWS4-HMAC-SHA256", "HOBA"];
            let shown = match KNOWN.iter().find(|k| k.eq_ignore_ascii_case(scheme)) {
                Some(k) => format!(" {k:?}"),
                None => String::new(),
            };
            return Err(ApiError::bad_request(format!(
                "unsupported Authorization scheme{shown}: only Basic is supported"
            )));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::bad_request("malformed Authorization header: not base64 of user:password"))?;
        let (user, pwd) = decoded
            .split_once(':')
            .filter(|(u, p)| !u.is_empty() && !p.is_empty())
            .ok_or_else(|| ApiError::bad_request("malformed Authorization header: user or password missing"))?;
        // Unknown users still pay for one comparison, so timing does not tell which names exist.
        let expected = self.passwords.get(user);
        let matches = constant_time_eq(expected.map_or(&b"\0unknown user\0"[..], |e| e.as_bytes()), pwd.as_bytes());
        match expected {
            Some(_) if matches => Ok(Identity::User(user.to_string())),
            _ => Err(ApiError::unauthorized(format!("invalid user name or password for {user:?}"))),
        }
    }

    /// Decides `action` for `identity` on a domain's JSON, in HSDS's order: admin; the user's own
    /// entry (authoritative, even when it denies); `default`; the user's `g:<group>` entries.
    pub fn acl_allows(&self, domain: &Value, action: Action, identity: &Identity) -> bool {
        if self.is_admin(identity) {
            return true;
        }
        let acls = &domain["acls"];
        let flag = |name: &str| acls.get(name).map(|acl| acl.get(action.key()).and_then(Value::as_bool) == Some(true));
        if let Some(own) = flag(identity.acl_name()) {
            return own;
        }
        if flag("default") == Some(true) {
            return true;
        }
        let groups = self.groups.get(identity.acl_name()).map(Vec::as_slice).unwrap_or_default();
        groups.iter().any(|g| flag(&format!("g:{g}")) == Some(true))
    }
}

/// Compares two byte strings in time independent of where they differ.
/// Lengths are compared in full (not truncated to a byte), so no suffix can make unequal strings compare equal.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn users() -> Users {
        let mut u = Users::new(vec!["admin".into()]);
        u.load_passwd("# users\nadmin:admin\ntest_user1:test\n\ntest_user2:test\n").unwrap();
        u.load_groups("staff: test_user2\n");
        u
    }

    fn basic(s: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s))
    }

    #[test]
    fn authentication() {
        let u = users();
        assert_eq!(u.authenticate(None).unwrap(), Identity::Anonymous);
        assert_eq!(u.authenticate(Some(&basic("test_user1:test"))).unwrap(), Identity::User("test_user1".into()));
        assert_eq!(u.authenticate(Some(&basic("test_user1:nope"))).unwrap_err().status, 401);
        assert_eq!(u.authenticate(Some(&basic("nobody:test"))).unwrap_err().status, 401);
        assert_eq!(u.authenticate(Some("Basic !!!")).unwrap_err().status, 400);
        assert_eq!(u.authenticate(Some(&basic("nocolon"))).unwrap_err().status, 400);
        assert_eq!(u.authenticate(Some("Digest abc")).unwrap_err().status, 400);
        assert!(u.authenticate(Some("Digest abc")).unwrap_err().message.contains("\"Digest\""));
        // A header that starts with the credentials is not echoed into the error (and so into logs).
        for header in ["test_user1:s3cr3t x", "s3cr3t x"] {
            let e = u.authenticate(Some(header)).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(!e.message.contains("s3cr3t"), "{}", e.message);
        }
        assert!(Users::default().load_passwd("ab:cdef").is_err());
    }

    #[test]
    fn acl_order_matches_hsds() {
        let u = users();
        let dom = json!({"acls": {
            "test_user1": {"create": false, "read": true, "update": false, "delete": false, "readACL": false, "updateACL": false},
            "default": {"create": true, "read": true, "update": false, "delete": false, "readACL": false, "updateACL": false},
            "g:staff": {"create": false, "read": true, "update": true, "delete": false, "readACL": false, "updateACL": false}
        }});
        let u1 = Identity::User("test_user1".into());
        let u2 = Identity::User("test_user2".into());
        assert!(u.acl_allows(&dom, Action::Read, &u1));
        assert!(!u.acl_allows(&dom, Action::Create, &u1), "own entry is authoritative over default");
        assert!(u.acl_allows(&dom, Action::Create, &u2), "default applies without own entry");
        assert!(u.acl_allows(&dom, Action::Update, &u2), "group entry");
        assert!(!u.acl_allows(&dom, Action::Delete, &u2));
        assert!(u.acl_allows(&dom, Action::Delete, &Identity::User("admin".into())));
        assert!(!u.acl_allows(&dom, Action::Update, &Identity::Anonymous));
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        // Regression: lengths differing by a multiple of 65536 used to cancel out, so a password followed by
        // 65536 NUL bytes was accepted.
        let mut padded = b"abc".to_vec();
        padded.resize(3 + 65536, 0);
        assert!(!constant_time_eq(b"abc", &padded));
        assert!(!constant_time_eq(&padded, b"abc"));
    }

    #[test]
    fn password_with_nul_padding_is_rejected() {
        let u = users();
        let pwd = format!("test{}", "\0".repeat(65536));
        assert_eq!(u.authenticate(Some(&basic(&format!("test_user1:{pwd}")))).unwrap_err().status, 401);
        assert_eq!(u.authenticate(Some(&basic("nobody:\0unknown user\0"))).unwrap_err().status, 401);
    }
}
