//! Which object keys the directory-backed S3 may touch: every key, copy source, listing prefix and
//! batch-delete key is checked here before s3s-fs turns it into a path.
//!
//! AWS S3 keys are opaque strings, but on a directory `..`, `.`, empty segments, absolute keys,
//! backslashes and NUL bytes name other files than the key says — another bucket, or a file outside the
//! data directory (s3s-fs clamps paths at the data directory, not at the bucket). Such keys are refused
//! with 400 `InvalidArgument` for every operation. HSDS never writes them. Symbolic links inside a bucket
//! are refused too (403 `AccessDenied`): following one would read or write outside the bucket. The
//! bucket directory itself may be a symbolic link (a data directory spread over disks).

use std::path::Path;

use s3s::{s3_error, S3Result};

/// Why `key` cannot be stored as a file of its bucket, or `None` when it can.
pub fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("the key is empty");
    }
    if key.starts_with('/') {
        return Some("the key is absolute (starts with '/')");
    }
    segment_problem(key, false)
}

/// Why a listing `prefix` could reach outside its bucket, or `None` when it cannot. A prefix may end
/// in `/` or in part of a segment.
pub fn prefix_problem(prefix: &str) -> Option<&'static str> {
    if prefix.is_empty() {
        return None;
    }
    segment_problem(prefix.trim_start_matches('/'), true)
}

/// The checks keys and prefixes share; `partial_last` allows the last segment to be empty or partial.
fn segment_problem(key: &str, partial_last: bool) -> Option<&'static str> {
    if key.contains('\0') {
        return Some("the key contains a NUL byte");
    }
    if key.contains('\\') {
        return Some("the key contains a backslash");
    }
    let segments: Vec<&str> = key.split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            ".." => return Some("the key contains a '..' segment"),
            "." if !(partial_last && i == last) => return Some("the key contains a '.' segment"),
            "" if !(partial_last && i == last) => {
                return Some("the key contains an empty segment ('//' or a trailing '/')")
            }
            _ => {}
        }
    }
    None
}

/// 400 `InvalidArgument` naming what is wrong with `key`, if anything.
pub fn check_key(what: &str, key: &str) -> S3Result<()> {
    match key_problem(key) {
        None => Ok(()),
        Some(p) => Err(s3_error!(InvalidArgument, "{what} {key:?} cannot be stored on a directory: {p}")),
    }
}

/// 400 `InvalidArgument` naming what is wrong with a listing `prefix`, if anything.
pub fn check_prefix(prefix: &str) -> S3Result<()> {
    match prefix_problem(prefix) {
        None => Ok(()),
        Some(p) => Err(s3_error!(InvalidArgument, "prefix {prefix:?} could leave the bucket: {p}")),
    }
}

/// 403 `AccessDenied` when a directory between the bucket and `key`'s file, or the file itself, is a
/// symbolic link. One `lstat` per existing segment; segments not yet created end the walk.
pub async fn check_no_symlink(bucket_dir: &Path, key: &str) -> S3Result<()> {
    let mut path = bucket_dir.to_path_buf();
    for seg in key.split('/') {
        path.push(seg);
        match tokio::fs::symlink_metadata(&path).await {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(s3_error!(AccessDenied, "key {key:?} passes through a symbolic link in the bucket"));
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// The (bucket, key) of an `x-amz-copy-source` header value (`[/]bucket/key[?versionId=...]`,
/// percent-encoded), or `None` when it names no object.
pub fn copy_source(header: &str) -> Option<(String, String)> {
    let path = header.split_once('?').map_or(header, |(p, _)| p);
    let decoded = percent_encoding::percent_decode_str(path.trim_start_matches('/')).decode_utf8_lossy();
    let (bucket, key) = decoded.split_once('/')?;
    Some((bucket.to_string(), key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsds_keys_pass() {
        for k in ["db/3e/abcd-1234/.group.json", "home/test_user1/x.h5/.domain.json", "db/x/d/d1/0_0_0", "a.b/..c/c.."]
        {
            assert_eq!(key_problem(k), None, "{k}");
        }
    }

    #[test]
    fn keys_that_name_other_files_are_refused() {
        for k in [
            "../otherbucket/k",
            "a/../../../../tmp/x",
            "a/..",
            "./a",
            "a/./b",
            "a//b",
            "a/",
            "/etc/passwd",
            "a\\..\\b",
            "a\0b",
            "",
        ] {
            assert!(key_problem(k).is_some(), "{k:?} must be refused");
        }
    }

    #[test]
    fn prefixes_may_be_partial_but_not_leave_the_bucket() {
        for p in ["", "db/", "db/3e", "home/test_user1/.", "/db/"] {
            assert_eq!(prefix_problem(p), None, "{p:?}");
        }
        for p in ["../", "../other", "db/../../", "a//b", "a\\b", "a\0"] {
            assert!(prefix_problem(p).is_some(), "{p:?} must be refused");
        }
    }

    #[test]
    fn copy_sources_are_decoded() {
        assert_eq!(copy_source("/b/k%2F..%2Fx?versionId=1"), Some(("b".into(), "k/../x".into())));
        assert_eq!(copy_source("b/a/b"), Some(("b".into(), "a/b".into())));
        assert_eq!(copy_source("b"), None);
    }
}
