//! Domain and folder paths (`/home/user/file.h5`) and their storage keys.

use super::ModelError;

/// Longest domain path accepted, in bytes.
pub const MAX_DOMAIN_LEN: usize = 1024;

/// A validated absolute domain path: `/a/b/c`, no empty, `.` or `..` segments, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainPath(String);

impl DomainPath {
    /// Parses a domain as clients send it. An `hdf5:/` prefix is stripped (HSDS does the same).
    /// `/` itself (the bucket's top level) is accepted only through [`DomainPath::parse_folder`].
    pub fn parse(raw: &str) -> Result<Self, ModelError> {
        let path = raw.strip_prefix("hdf5:/").unwrap_or(raw);
        let err = |reason| ModelError::InvalidDomain { path: raw.chars().take(120).collect(), reason };
        if path.is_empty() {
            return Err(err("empty domain"));
        }
        if path.len() > MAX_DOMAIN_LEN {
            return Err(err("longer than 1024 bytes"));
        }
        if !path.starts_with('/') {
            return Err(err("must start with '/'"));
        }
        if path == "/" {
            return Err(err("'/' is the top-level folder, not a domain"));
        }
        if path.ends_with('/') {
            return Err(err("slash at end not allowed"));
        }
        if path.chars().any(|c| c.is_control()) {
            return Err(err("control characters are not allowed"));
        }
        // A directory-backed store on Windows would read `\` as a separator (and `..\` as a way out).
        if path.contains('\\') {
            return Err(err("backslashes are not allowed"));
        }
        for seg in path[1..].split('/') {
            match seg {
                "" => return Err(err("empty path segment ('//')")),
                "." | ".." => return Err(err("'.' and '..' segments are not allowed")),
                _ if seg.starts_with(".domain.json") || seg == ".info.json" => {
                    return Err(err("reserved name"));
                }
                _ => {}
            }
        }
        Ok(DomainPath(path.to_string()))
    }

    /// Parses a folder path as used by `GET /domains`: a trailing `/` is allowed and `/` means the top level.
    /// Returns `None` for the top level.
    pub fn parse_folder(raw: &str) -> Result<Option<Self>, ModelError> {
        let path = raw.strip_prefix("hdf5:/").unwrap_or(raw);
        if path == "/" {
            return Ok(None);
        }
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        Self::parse(trimmed).map(Some)
    }

    /// The path string, e.g. `/home/u/f.h5`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The storage key of this domain's JSON: `home/u/f.h5/.domain.json`.
    pub fn key(&self) -> String {
        format!("{}/.domain.json", &self.0[1..])
    }

    /// The key prefix of children of this folder: `home/u/`.
    pub fn child_prefix(&self) -> String {
        format!("{}/", &self.0[1..])
    }

    /// The parent folder, `None` for a top-level domain (`/home`).
    pub fn parent(&self) -> Option<DomainPath> {
        let i = self.0.rfind('/').expect("starts with '/'");
        (i > 0).then(|| DomainPath(self.0[..i].to_string()))
    }

    /// The last path segment.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().expect("non-empty")
    }

    /// True for a domain directly under `/` (creating or deleting these needs admin).
    pub fn is_top_level(&self) -> bool {
        self.parent().is_none()
    }

    /// The domain path for a `.domain.json` key (`home/u/f.h5/.domain.json` → `/home/u/f.h5`).
    pub fn from_key(key: &str) -> Option<DomainPath> {
        key.strip_suffix("/.domain.json").map(|p| DomainPath(format!("/{p}")))
    }
}

impl std::fmt::Display for DomainPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_parents() {
        let d = DomainPath::parse("/home/test_user1/f.h5").unwrap();
        assert_eq!(d.key(), "home/test_user1/f.h5/.domain.json");
        assert_eq!(d.parent().unwrap().as_str(), "/home/test_user1");
        assert_eq!(d.name(), "f.h5");
        assert!(DomainPath::parse("/home").unwrap().is_top_level());
        assert_eq!(DomainPath::parse("hdf5://home/x").unwrap().as_str(), "/home/x");
        assert_eq!(DomainPath::from_key("home/.domain.json").unwrap().as_str(), "/home");
    }

    #[test]
    fn rejects_escapes_and_malformed_paths() {
        for bad in [
            "",
            "/",
            "home/x",
            "/home/",
            "/home//x",
            "/home/../etc",
            "/./x",
            "/a\0b",
            "/a/.domain.json",
            "/a\\..\\b",
            "\\a",
        ] {
            assert!(DomainPath::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(DomainPath::parse(&format!("/{}", "x".repeat(2000))).is_err());
    }

    #[test]
    fn folders() {
        assert_eq!(DomainPath::parse_folder("/").unwrap(), None);
        assert_eq!(DomainPath::parse_folder("/home/u/").unwrap().unwrap().as_str(), "/home/u");
    }
}
