//! ListObjectsV2 without a delimiter, walked from the directory the prefix names.
//!
//! s3s-fs 0.14.1 answers every listing by walking the whole bucket, one blocking-pool hop per entry, and
//! filtering by prefix afterwards: a LIST of one dataset's 128 chunks cost ~2 ms in a bucket of a few hundred
//! objects and grows with the bucket. The function revalidates a read's cached chunks with one LIST of its
//! dataset's directory (`hsds_handler::chunk::engine`), so listings under a deep prefix must cost what that
//! directory holds. [`list_page`] walks only the deepest directory the prefix names (`db/x/d/y/` →
//! `<bucket>/db/x/d/y`), in one blocking task, pages the sorted keys as S3 does (`start-after` and
//! `continuation-token`, whichever is later; `max-keys`, 1000 by default) and reads the metadata of the
//! page's files alone (relative to their directory), which also tells the caller whether the ETag it
//! remembers for a file is still its own. Symbolic links are skipped: [`crate::s3_keys`] refuses them as
//! keys. Listings with a delimiter stay with s3s-fs.

use std::fs::{DirEntry, Metadata};
use std::path::Path;

/// One object found under a prefix.
#[derive(Debug)]
pub struct Found {
    /// Its key.
    pub key: String,
    /// Its file's metadata (size, modification time, inode).
    pub meta: Metadata,
}

/// One page of a listing: the objects, and whether more keys follow the last one.
#[derive(Debug, Default)]
pub struct Page {
    /// Objects of the page, in key order.
    pub objects: Vec<Found>,
    /// True when keys after the last one exist.
    pub truncated: bool,
}

/// Every file of the bucket at `bucket_root` whose key starts with `prefix`, in key order, with its directory
/// entry. A missing directory lists nothing. `prefix` must already be checked
/// ([`crate::s3_keys::prefix_problem`]).
pub fn keys_under(bucket_root: &Path, prefix: &str) -> std::io::Result<Vec<(String, DirEntry)>> {
    // No stored key starts with `/` (`crate::s3_keys` refuses empty segments).
    if prefix.starts_with('/') {
        return Ok(Vec::new());
    }
    let mut start = bucket_root.to_path_buf();
    // The key of `start` followed by `/` ("" for the bucket root): keys below are built from it and the
    // entries' names, without turning every path back into a key.
    let mut start_key = String::new();
    if let Some(i) = prefix.rfind('/') {
        // Down the prefix's directories, never through a symbolic link.
        for seg in prefix[..i].split('/') {
            start.push(seg);
            match std::fs::symlink_metadata(&start) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Ok(Vec::new()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            }
        }
        start_key = format!("{}/", &prefix[..i]);
    }
    let mut found = Vec::new();
    let mut dirs = vec![(start, start_key)];
    while let Some((dir, dir_key)) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // Not there (or a file where the prefix expects a directory), or removed while we walk.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            // Names that are not UTF-8 are no keys.
            let Ok(name) = entry.file_name().into_string() else { continue };
            let key = format!("{dir_key}{name}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                // Descend only where keys can still start with the prefix.
                let sub_key = format!("{key}/");
                if sub_key.starts_with(prefix) || prefix.starts_with(&sub_key) {
                    dirs.push((entry.path(), sub_key));
                }
            } else if kind.is_file() && key.starts_with(prefix) {
                found.push((key, entry));
            }
        }
    }
    found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// One ListObjectsV2 page of `prefix` after `after` (exclusive), at most `max_keys` long: [`keys_under`], then
/// the metadata of the page's files (a file deleted meanwhile is left out).
pub fn list_page(bucket_root: &Path, prefix: &str, after: Option<&str>, max_keys: usize) -> std::io::Result<Page> {
    let keys = keys_under(bucket_root, prefix)?;
    let start = after.map_or(0, |a| keys.partition_point(|(k, _)| k.as_str() <= a));
    let truncated = keys.len() - start > max_keys;
    let mut objects = Vec::new();
    for (key, entry) in keys.into_iter().skip(start).take(max_keys) {
        match entry.metadata() {
            Ok(meta) => objects.push(Found { key, meta }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Page { objects, truncated })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(p: &Page) -> Vec<&str> {
        p.objects.iter().map(|f| f.key.as_str()).collect()
    }

    #[test]
    fn walks_only_the_prefix_directory_and_pages_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for key in
            ["db/a/d/x/.dataset.json", "db/a/d/x/0_1", "db/a/d/x/0_10", "db/a/d/x/1_0", "db/a/d/xy/0_0", "db/b/g"]
        {
            let path = root.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, key).unwrap();
        }
        let all = list_page(root, "db/a/d/x/", None, 1000).unwrap();
        assert_eq!(keys(&all), ["db/a/d/x/.dataset.json", "db/a/d/x/0_1", "db/a/d/x/0_10", "db/a/d/x/1_0"]);
        assert!(!all.truncated);
        assert_eq!(all.objects[1].meta.len(), "db/a/d/x/0_1".len() as u64);
        // A prefix ending inside a segment matches the names that start with it, in sibling directories too.
        assert_eq!(keys(&list_page(root, "db/a/d/x", None, 1000).unwrap()).len(), 5);
        assert_eq!(keys(&list_page(root, "db/a/d/x/0_1", None, 1000).unwrap()), ["db/a/d/x/0_1", "db/a/d/x/0_10"]);
        let p = list_page(root, "db/a/d/x/", Some("db/a/d/x/0_"), 2).unwrap();
        assert_eq!(keys(&p), ["db/a/d/x/0_1", "db/a/d/x/0_10"]);
        assert!(p.truncated);
        assert!(list_page(root, "db/missing/", None, 1000).unwrap().objects.is_empty());
        assert!(list_page(root, "/db/", None, 1000).unwrap().objects.is_empty(), "no key starts with '/'");
        // Never through a symbolic link, at the start or below it.
        std::os::unix::fs::symlink(root.join("db/a"), root.join("db/link")).unwrap();
        assert!(list_page(root, "db/link/d/x/", None, 1000).unwrap().objects.is_empty());
        assert_eq!(list_page(root, "db/", None, 1000).unwrap().objects.len(), 6);
        assert_eq!(list_page(root, "", None, 1000).unwrap().objects.len(), 6);
        let none = list_page(root, "", None, 0).unwrap();
        assert!(none.objects.is_empty() && none.truncated);
    }
}
