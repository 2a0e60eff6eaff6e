//! S3 on a directory laid out as HSDS's POSIX storage (`<dir>/<bucket>/<key>`), served with s3s.
//!
//! s3s-fs 0.14.1 stores the objects but is not a faithful S3 for concurrent writers (see
//! reference/lambda-and-s3.md §6.4). [`LocalS3`] wraps it and fixes what HSDS-style compare-and-swap
//! relies on:
//!
//! * conditional writes are **atomic**: a per-key lock is held around the precondition check and the
//!   write, so of N concurrent `If-None-Match: *` creators exactly one wins;
//! * `If-Match` on a missing key answers 404 `NoSuchKey` (as S3 does), not 412;
//! * GET/HEAD honour `If-None-Match` (304) and `If-Match` (412);
//! * as AWS S3 answers (found by comparing with moto's S3 server, checked against the S3 API reference):
//!   GET/HEAD carry `Accept-Ranges: bytes` and a Content-Type (`binary/octet-stream` when the PUT gave
//!   none), a GET in a missing bucket is 404 `NoSuchBucket` (not `NoSuchKey`), an unsatisfiable range is
//!   416 `InvalidRange` "The requested range is not satisfiable", and ListObjectsV2 always names its
//!   `Prefix` (empty when none was given);
//! * ListObjects(V2) entries carry their ETag and storage class;
//! * files written into the directory by something else (HSDS 1.0.2 itself) get a correct ETag: the
//!   MD5 of their bytes, recorded in s3s-fs's sidecar so it is hashed once, and recomputed when the
//!   file is newer than its sidecar;
//! * a delete removes the sidecars and the parent directories it left empty, so a later key `c`
//!   does not collide with the empty directory of a deleted `c/d`.
//!
//! Known limit inherited from s3s-fs: a key `c` and a key `c/d` cannot coexist (a file and a directory
//! of the same name); the second write fails with 500 InternalError. HSDS keys never collide that way.
//!
//! Keys that would name another bucket's files or files outside the data directory (`..`, absolute
//! keys, symbolic links...) are refused for every operation ([`crate::s3_keys`]).
//!
//! Anonymous and SigV4-signed requests are both accepted unless [`S3Auth::Required`]; signed ones must
//! use the emulator's dummy credentials ([`ACCESS_KEY`]/[`SECRET_KEY`]). Faults ([`crate::faults`]) are
//! injected in the access check, before any operation runs; "apply, then fail" faults after a write was
//! served ([`serve`]).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex as StdMutex;

use base64::Engine;
use md5::{Digest, Md5};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::path::S3Path;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use s3s_fs::FileSystem;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::RwLock;

use crate::faults::{Fault, Faults};
use crate::s3_keys;
use crate::s3_list;

/// Access key id the function signs its S3 requests with (any value works for unsigned requests).
pub const ACCESS_KEY: &str = "hslambda";
/// Secret key matching [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "hslambda-secret";

/// Most bytes of a rejected PUT's body read before answering (larger bodies get the connection closed).
const MAX_DRAIN: usize = 64 * 1024 * 1024;

/// Number of lock stripes; two keys sharing a stripe only serialise, never interfere.
const LOCK_STRIPES: usize = 1024;

/// s3s-fs wrapped with atomic conditional requests, ETag fixes and fault injection.
pub struct LocalS3 {
    fs: FileSystem,
    root: PathBuf,
    /// Per-key (striped) locks: writers exclusive, readers shared.
    locks: Vec<RwLock<()>>,
    /// Held shared by writers (which may create directories) and exclusively while a delete removes
    /// the directories it emptied, so a directory is never removed under a concurrent write.
    tree: RwLock<()>,
    /// ETags known for (bucket, key), each with the identity of the file it was computed for; see
    /// [`LocalS3::known_etag`].
    etags: StdMutex<HashMap<(String, String), (FileId, String)>>,
}

/// What identifies one version of a file on disk: inode, size and modification time. A rewrite by
/// another program (HSDS writes a new file and renames it into place) changes the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    ino: u64,
    len: u64,
    mtime: Option<std::time::SystemTime>,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId { ino: meta.ino(), len: meta.len(), mtime: meta.modified().ok() }
    }
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    S3Error::with_message(S3ErrorCode::InternalError, e.to_string())
}

fn sidecar_name(bucket: &str, key: &str, kind: &str) -> String {
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(".bucket-{}.object-{}.{kind}.json", enc(bucket), enc(key))
}

impl LocalS3 {
    /// Serves `root` (created if missing); each sub-directory is a bucket.
    pub fn new(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let fs = FileSystem::new(&root).map_err(|e| anyhow::anyhow!("s3s-fs on {}: {e:?}", root.display()))?;
        Ok(LocalS3 {
            fs,
            root,
            locks: (0..LOCK_STRIPES).map(|_| RwLock::new(())).collect(),
            tree: RwLock::new(()),
            etags: StdMutex::new(HashMap::new()),
        })
    }

    fn lock(&self, bucket: &str, key: &str) -> &RwLock<()> {
        let mut h = DefaultHasher::new();
        (bucket, key).hash(&mut h);
        &self.locks[(h.finish() as usize) % LOCK_STRIPES]
    }

    /// Whether the bucket's directory exists (a GET that found no object: NoSuchBucket or NoSuchKey).
    async fn bucket_exists(&self, bucket: &str) -> bool {
        !bucket.contains("..") && tokio::fs::metadata(self.root.join(bucket)).await.is_ok_and(|m| m.is_dir())
    }

    fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        if bucket.contains("..") || key.split('/').any(|seg| seg == "..") {
            return Err(s3_error!(InvalidArgument, "key must not contain '..' segments"));
        }
        Ok(self.root.join(bucket).join(key))
    }

    /// The ETag remembered for the file now at `path`, if it is still the same file.
    ///
    /// This is the fast path of every warm GET (and of the 304 a conditional GET answers): one `stat`,
    /// done inline because it is cheaper than a hop to the blocking pool, and no sidecar read. Our own
    /// writes and deletes [`forget`](LocalS3::forget_etag) the entry under the key lock; a file replaced
    /// behind our back has another inode, size or mtime and misses.
    fn known_etag(&self, bucket: &str, key: &str, path: &Path) -> Option<String> {
        let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        let etags = self.etags.lock().unwrap_or_else(|p| p.into_inner());
        let (id, etag) = etags.get(&(bucket.to_string(), key.to_string()))?;
        (*id == FileId::of(&meta)).then(|| etag.clone())
    }

    /// Drops the remembered ETag of a key that is being written or deleted. Call under the key's write lock.
    fn forget_etag(&self, bucket: &str, key: &str) {
        self.etags.lock().unwrap_or_else(|p| p.into_inner()).remove(&(bucket.to_string(), key.to_string()));
    }

    /// The object's current ETag (unquoted MD5 hex), or `None` if there is no such object.
    ///
    /// Uses the ETag remembered for this very file when there is one ([`LocalS3::known_etag`]), else
    /// s3s-fs's sidecar when it is at least as new as the file; otherwise (a file written by HSDS or
    /// another program) hashes the file and records the result in the sidecar. Call under the key lock.
    async fn current_etag(&self, bucket: &str, key: &str) -> S3Result<Option<String>> {
        let path = self.object_path(bucket, key)?;
        if let Some(etag) = self.known_etag(bucket, key, &path) {
            return Ok(Some(etag));
        }
        let file_id = || std::fs::metadata(&path).ok().map(|m| FileId::of(&m));
        let before = file_id();
        let etag = self.etag_from_disk(bucket, key, &path).await?;
        if let (Some(etag), Some(id)) = (&etag, before) {
            // Remember it only if the file did not change while it was read.
            if file_id() == Some(id) {
                let mut etags = self.etags.lock().unwrap_or_else(|p| p.into_inner());
                etags.insert((bucket.to_string(), key.to_string()), (id, etag.clone()));
            }
        }
        Ok(etag)
    }

    /// [`LocalS3::current_etag`] without the in-memory fast path: sidecar or hash.
    async fn etag_from_disk(&self, bucket: &str, key: &str, path: &Path) -> S3Result<Option<String>> {
        let meta = match tokio::fs::metadata(path).await {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(internal(e)),
        };
        let sidecar = self.root.join(sidecar_name(bucket, key, "internal"));
        if let Ok(side_meta) = tokio::fs::metadata(&sidecar).await {
            let fresh = match (side_meta.modified(), meta.modified()) {
                (Ok(s), Ok(f)) => s >= f,
                _ => false,
            };
            if fresh {
                if let Ok(text) = tokio::fs::read(&sidecar).await {
                    let info: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
                    if let Some(etag) = info.get("e_tag").and_then(|v| v.as_str()) {
                        return Ok(Some(etag.to_string()));
                    }
                }
            }
        }
        let etag = md5_file(path).await.map_err(internal)?;
        // A stale content-type sidecar describes the old bytes: drop it.
        let _ = tokio::fs::remove_file(self.root.join(sidecar_name(bucket, key, "metadata"))).await;
        let tmp = self.root.join(format!(".hslambda-tmp-{}", uuid::Uuid::new_v4()));
        let body = serde_json::json!({ "e_tag": etag }).to_string();
        if tokio::fs::write(&tmp, body).await.is_ok() && tokio::fs::rename(&tmp, &sidecar).await.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        Ok(Some(etag))
    }

    /// Another key that makes `key` impossible to store as a file (`c` for `c/d`, or `c/d` for `c`).
    fn collision(&self, bucket: &str, key: &str) -> Option<String> {
        let path = self.object_path(bucket, key).ok()?;
        if path.is_dir() {
            return Some(format!("{}/...", key.trim_end_matches('/')));
        }
        let bucket_root = self.root.join(bucket);
        let mut p = path;
        while p.pop() && p.starts_with(&bucket_root) && p != bucket_root {
            if p.is_file() {
                return p.strip_prefix(&bucket_root).ok().map(|k| k.display().to_string());
            }
        }
        None
    }

    /// Removes a deleted key's sidecars.
    async fn forget(&self, bucket: &str, key: &str) {
        for kind in ["internal", "metadata"] {
            let _ = tokio::fs::remove_file(self.root.join(sidecar_name(bucket, key, kind))).await;
        }
    }

    /// Removes the now-empty parent directories of deleted keys, up to (not including) the bucket.
    async fn prune_dirs(&self, bucket: &str, keys: &[String]) {
        let _tree = self.tree.write().await;
        let bucket_root = self.root.join(bucket);
        for key in keys {
            let Ok(mut dir) = self.object_path(bucket, key.trim_end_matches('/')) else { continue };
            while dir.pop() && dir.starts_with(&bucket_root) && dir != bucket_root {
                if tokio::fs::remove_dir(&dir).await.is_err() {
                    break; // not empty (or gone): stop climbing
                }
            }
        }
    }

    /// A ListObjectsV2 page without a delimiter, walking only the prefix's directory ([`crate::s3_list`]), its
    /// entries with ETags and storage class as [`LocalS3::annotate`] gives them.
    async fn list_v2_under_prefix(&self, input: ListObjectsV2Input) -> S3Result<S3Response<ListObjectsV2Output>> {
        if !self.bucket_exists(&input.bucket).await {
            return Err(s3_error!(NoSuchBucket));
        }
        let root = self.root.join(&input.bucket);
        let prefix = input.prefix.clone().unwrap_or_default();
        // The later of the two resume points, as s3s-fs and S3 take them.
        let after = match (input.continuation_token.clone(), input.start_after.clone()) {
            (Some(c), Some(s)) => Some(c.max(s)),
            (c, s) => c.or(s),
        };
        let max_keys = input.max_keys.unwrap_or(1000);
        let limit = usize::try_from(max_keys).unwrap_or(0);
        let page = tokio::task::spawn_blocking(move || s3_list::list_page(&root, &prefix, after.as_deref(), limit))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        let next = page.truncated.then(|| page.objects.last().map(|f| f.key.clone())).flatten();
        // ETags remembered for these very files (same inode, size and time) need no lock, stat or hash.
        let remembered: Vec<Option<String>> = {
            let etags = self.etags.lock().unwrap_or_else(|p| p.into_inner());
            page.objects
                .iter()
                .map(|f| match etags.get(&(input.bucket.clone(), f.key.clone())) {
                    Some((id, etag)) if *id == FileId::of(&f.meta) => Some(etag.clone()),
                    _ => None,
                })
                .collect()
        };
        let mut contents = Vec::with_capacity(page.objects.len());
        for (f, etag) in page.objects.into_iter().zip(remembered) {
            let etag = match etag {
                Some(etag) => Some(etag),
                None => {
                    let _g = self.lock(&input.bucket, &f.key).read().await;
                    self.current_etag(&input.bucket, &f.key).await?
                }
            };
            contents.push(Object {
                e_tag: etag.map(ETag::Strong),
                key: Some(f.key),
                size: Some(i64::try_from(f.meta.len()).unwrap_or(i64::MAX)),
                last_modified: f.meta.modified().ok().map(Timestamp::from),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                ..Default::default()
            });
        }
        let output = ListObjectsV2Output {
            key_count: Some(i32::try_from(contents.len()).unwrap_or(i32::MAX)),
            max_keys: Some(max_keys),
            is_truncated: Some(page.truncated),
            contents: (!contents.is_empty()).then_some(contents),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            encoding_type: input.encoding_type,
            name: Some(input.bucket),
            prefix: input.prefix,
            start_after: input.start_after,
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    /// Adds ETag and storage class to listing entries.
    async fn annotate(&self, bucket: &str, objects: &mut [Object]) -> S3Result<()> {
        for obj in objects {
            let Some(key) = obj.key.clone() else { continue };
            let _g = self.lock(bucket, &key).read().await;
            if let Some(etag) = self.current_etag(bucket, &key).await? {
                obj.e_tag = Some(ETag::Strong(etag));
            }
            obj.storage_class = Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD));
        }
        Ok(())
    }
}

/// The Content-Type AWS S3 reports for an object stored without one.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// Objects at most this large are answered from one read (see `get_object`).
const WHOLE_READ_MAX: i64 = 64 << 20;

impl LocalS3 {
    /// A GET answered from the file alone, in one hop to the blocking pool (open, stat, read): the object and
    /// its remembered ETag, the requested range of it, its modification time. s3s-fs's own path also opens the
    /// file, looks for two sidecars and parses one, each in its own hop, then streams the body in 4 KB reads.
    /// The stored attributes are served when they are only a Content-Type (what every PUT through an SDK
    /// leaves). `None` when the request or the object needs more than this serves (other stored attributes
    /// or user metadata, checksums, part numbers, versions, response header overrides, more than
    /// [`WHOLE_READ_MAX`] bytes): then s3s-fs answers.
    async fn get_plain(&self, input: &GetObjectInput, etag: &str) -> S3Result<Option<S3Response<GetObjectOutput>>> {
        let plain = input.checksum_mode.is_none()
            && input.part_number.is_none()
            && input.version_id.is_none()
            && input.response_content_type.is_none()
            && input.response_content_disposition.is_none()
            && input.response_content_encoding.is_none()
            && input.response_content_language.is_none()
            && input.response_cache_control.is_none()
            && input.response_expires.is_none();
        if !plain {
            return Ok(None);
        }
        let attributes = self.root.join(sidecar_name(&input.bucket, &input.key, "metadata"));
        let path = self.object_path(&input.bucket, &input.key)?;
        let range = input.range;
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            use std::io::{Read, Seek, SeekFrom};
            let content_type = match std::fs::read(&attributes) {
                Ok(json) => match only_content_type(&json) {
                    Some(ct) => ct,
                    None => return Ok(None),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let mut f = std::fs::File::open(&path)?;
            let meta = f.metadata()?;
            let len = meta.len();
            let span = match range {
                None => 0..len,
                Some(r) => match r.check(len) {
                    Ok(span) => span,
                    Err(_) => return Ok(Some(Err(len))),
                },
            };
            if span.end - span.start > WHOLE_READ_MAX as u64 {
                return Ok(None); // streamed by s3s-fs instead of held in memory whole
            }
            f.seek(SeekFrom::Start(span.start))?;
            let mut buf = Vec::with_capacity((span.end - span.start) as usize);
            f.take(span.end - span.start).read_to_end(&mut buf)?;
            Ok(Some(Ok((buf, span, len, meta.modified()?, content_type))))
        });
        let (buf, span, len, modified, content_type) = match read.await.map_err(internal)? {
            Ok(None) => return Ok(None),
            Ok(Some(Ok(found))) => found,
            Ok(Some(Err(len))) => {
                return Err(s3_error!(
                    InvalidRange,
                    "The requested range is not satisfiable (the object has {len} bytes)"
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(s3_error!(NoSuchKey)),
            Err(e) => return Err(internal(e)),
        };
        if buf.len() as u64 != span.end - span.start {
            return Err(internal("the object shrank while being read"));
        }
        let output = GetObjectOutput {
            content_length: Some(buf.len() as i64),
            content_range: range.map(|_| format!("bytes {}-{}/{len}", span.start, span.end - 1)),
            body: Some(StreamingBlob::from(s3s::Body::from(bytes::Bytes::from(buf)))),
            last_modified: Some(Timestamp::from(modified)),
            e_tag: Some(ETag::Strong(etag.to_string())),
            content_type: Some(content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string())),
            accept_ranges: Some("bytes".to_string()),
            ..Default::default()
        };
        Ok(Some(S3Response::new(output)))
    }
}

/// The Content-Type of an s3s-fs attributes sidecar that holds nothing else (`Some(None)`: nothing at all);
/// `None` when it holds more (user metadata, other headers) or does not parse.
fn only_content_type(json: &[u8]) -> Option<Option<String>> {
    let serde_json::Value::Object(map) = serde_json::from_slice(json).ok()? else { return None };
    let mut content_type = None;
    for (k, v) in map {
        match (k.as_str(), v) {
            (_, serde_json::Value::Null) => {}
            ("content_type", serde_json::Value::String(ct)) => content_type = Some(ct),
            _ => return None,
        }
    }
    Some(content_type)
}

/// `len` bytes of the file at `path` from `start`, in one blocking read.
async fn read_range(path: PathBuf, start: u64, len: usize) -> std::io::Result<bytes::Bytes> {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(start))?;
        // Read into spare capacity: zero-filling a multi-megabyte buffer first costs as much as the copy.
        let mut buf = Vec::with_capacity(len);
        f.take(len as u64).read_to_end(&mut buf)?;
        if buf.len() != len {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "object shrank while being read"));
        }
        Ok(bytes::Bytes::from(buf))
    })
    .await
    .map_err(std::io::Error::other)?
}

async fn md5_file(path: &Path) -> std::io::Result<String> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; 1 << 16];
    let mut md5 = Md5::new();
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
    }
    Ok(hex_lower(&md5.finalize()))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn etag_matches(cond: &ETagCondition, current: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == current,
    }
}

/// Preconditions of a write (PUT, CompleteMultipartUpload) against the key's current ETag.
///
/// `If-None-Match` on an existing object → 412; `If-Match` on a missing object → 404 NoSuchKey (as
/// S3 answers); `If-Match` with another ETag → 412.
pub fn check_write(
    current: Option<&str>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if let (Some(cond), Some(cur)) = (if_none_match, current) {
        if etag_matches(cond, cur) {
            return Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"));
        }
    }
    if let Some(cond) = if_match {
        match current {
            None => return Err(s3_error!(NoSuchKey, "The specified key does not exist.")),
            Some(cur) if !etag_matches(cond, cur) => {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Preconditions of a read (GET, HEAD) on an existing object: `If-Match` mismatch → 412, then
/// `If-None-Match` match → 304 Not Modified (with the ETag header, as S3 sends it).
pub fn check_read(
    current: &str,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if let Some(cond) = if_match {
        if !etag_matches(cond, current) {
            return Err(s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold"));
        }
    }
    if let Some(cond) = if_none_match {
        if etag_matches(cond, current) {
            let mut err = s3_error!(NotModified, "Not Modified");
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&format!("\"{current}\"")) {
                headers.insert(http::header::ETAG, v);
            }
            err.set_headers(headers);
            return Err(err);
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl S3 for LocalS3 {
    async fn put_object(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let _tree = self.tree.read().await;
        let _g = self.lock(&bucket, &key).write().await;
        let if_match = req.input.if_match.take();
        let if_none_match = req.input.if_none_match.take();
        if if_match.is_some() || if_none_match.is_some() {
            let current = self.current_etag(&bucket, &key).await?;
            if let Err(e) = check_write(current.as_deref(), if_match.as_ref(), if_none_match.as_ref()) {
                // Read the body anyway: answering before it is consumed makes the server close the
                // connection under a client still sending, which then sees a broken pipe, not the 412.
                if let Some(mut body) = req.input.body.take() {
                    use futures::StreamExt;
                    let mut drained = 0usize;
                    while let Some(Ok(chunk)) = body.next().await {
                        drained += chunk.len();
                        if drained > MAX_DRAIN {
                            break;
                        }
                    }
                }
                return Err(e);
            }
        }
        self.forget_etag(&bucket, &key);
        let result = self.fs.put_object(req).await;
        if result.is_err() {
            if let Some(other) = self.collision(&bucket, &key) {
                return Err(s3_error!(
                    InternalError,
                    "key {key:?} collides with {other:?}: on a file system a key cannot also be a 'directory' of other keys"
                ));
            }
        }
        result
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let _g = self.lock(&bucket, &key).read().await;
        if let Some(etag) = self.current_etag(&bucket, &key).await? {
            check_read(&etag, req.input.if_match.as_ref(), req.input.if_none_match.as_ref())?;
            if let Some(rsp) = self.get_plain(&req.input, &etag).await? {
                return Ok(rsp);
            }
        }
        let rsp = self.fs.get_object(req).await;
        if matches!(&rsp, Err(e) if *e.code() == S3ErrorCode::NoSuchKey) && !self.bucket_exists(&bucket).await {
            return Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"));
        }
        let mut rsp = rsp?;
        // s3s-fs streams the file in 4 KB reads; objects up to WHOLE_READ_MAX (chunks, JSON) are sent from one
        // read instead, under the same key lock, which is several times cheaper per GET.
        let len = rsp.output.content_length.unwrap_or(-1);
        if (0..=WHOLE_READ_MAX).contains(&len) {
            let start = match &rsp.output.content_range {
                Some(r) => r.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.parse().ok()),
                None => Some(0u64),
            };
            if let Some(start) = start {
                let path = self.object_path(&bucket, &key)?;
                let bytes = read_range(path, start, len as usize).await.map_err(internal)?;
                rsp.output.body = Some(StreamingBlob::from(s3s::Body::from(bytes)));
            }
        }
        rsp.output.accept_ranges = Some("bytes".to_string());
        rsp.output.content_type.get_or_insert_with(|| DEFAULT_CONTENT_TYPE.to_string());
        Ok(rsp)
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let _g = self.lock(&bucket, &key).read().await;
        if let Some(etag) = self.current_etag(&bucket, &key).await? {
            check_read(&etag, req.input.if_match.as_ref(), req.input.if_none_match.as_ref())?;
        }
        let mut rsp = self.fs.head_object(req).await?;
        rsp.output.accept_ranges = Some("bytes".to_string());
        rsp.output.content_type.get_or_insert_with(|| DEFAULT_CONTENT_TYPE.to_string());
        Ok(rsp)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let resp = {
            let _tree = self.tree.read().await;
            let _g = self.lock(&bucket, &key).write().await;
            self.forget_etag(&bucket, &key);
            let resp = self.fs.delete_object(req).await?;
            self.forget(&bucket, &key).await;
            resp
        };
        self.prune_dirs(&bucket, &[key]).await;
        Ok(resp)
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        let keys: Vec<String> = req.input.delete.objects.iter().map(|o| o.key.clone()).collect();
        for k in &keys {
            s3_keys::check_key("key", k)?;
            s3_keys::check_no_symlink(&self.root.join(&bucket), k).await?;
        }
        let resp = {
            let _tree = self.tree.read().await;
            // Lock every stripe involved, in stripe order (no deadlock with other multi-key callers).
            let mut stripes: Vec<usize> = keys
                .iter()
                .map(|k| {
                    let mut h = DefaultHasher::new();
                    (bucket.as_str(), k.as_str()).hash(&mut h);
                    (h.finish() as usize) % LOCK_STRIPES
                })
                .collect();
            stripes.sort_unstable();
            stripes.dedup();
            let mut guards = Vec::with_capacity(stripes.len());
            for s in stripes {
                guards.push(self.locks[s].write().await);
            }
            for k in &keys {
                self.forget_etag(&bucket, k);
            }
            let resp = self.fs.delete_objects(req).await?;
            for k in &keys {
                self.forget(&bucket, k).await;
            }
            resp
        };
        self.prune_dirs(&bucket, &keys).await;
        Ok(resp)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        if let CopySource::Bucket { bucket, key, .. } = &req.input.copy_source {
            // Make sure the source has a correct sidecar ETag before s3s-fs reads it.
            let _g = self.lock(bucket, key).read().await;
            self.current_etag(bucket, key).await?;
        }
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let _tree = self.tree.read().await;
        let _g = self.lock(&bucket, &key).write().await;
        self.forget_etag(&bucket, &key);
        self.fs.copy_object(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = req.input.bucket.clone();
        let mut resp = match req.input.delimiter {
            // Annotated as it is built.
            None => self.list_v2_under_prefix(req.input).await?,
            Some(_) => {
                let mut resp = self.fs.list_objects_v2(req).await?;
                if let Some(contents) = resp.output.contents.as_mut() {
                    self.annotate(&bucket, contents).await?;
                }
                resp
            }
        };
        resp.output.prefix.get_or_insert_with(String::new);
        Ok(resp)
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        let mut resp = self.fs.list_objects(req).await?;
        if let Some(contents) = resp.output.contents.as_mut() {
            self.annotate(&bucket, contents).await?;
        }
        Ok(resp)
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.fs.delete_bucket(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }

    async fn complete_multipart_upload(
        &self,
        mut req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let _tree = self.tree.read().await;
        let _g = self.lock(&bucket, &key).write().await;
        let if_match = req.input.if_match.take();
        let if_none_match = req.input.if_none_match.take();
        if if_match.is_some() || if_none_match.is_some() {
            let current = self.current_etag(&bucket, &key).await?;
            check_write(current.as_deref(), if_match.as_ref(), if_none_match.as_ref())?;
        }
        self.forget_etag(&bucket, &key);
        self.fs.complete_multipart_upload(req).await
    }
}

/// Whether the S3 server accepts unsigned requests (`hslambda up --s3-auth`). Signed requests are always
/// verified against [`ACCESS_KEY`]/[`SECRET_KEY`]; a bad signature is 403 either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum S3Auth {
    /// Anonymous and signed requests (the default: curl and test clients need no credentials).
    #[default]
    Open,
    /// Only SigV4-signed requests; anonymous ones get 403 `AccessDenied`.
    Required,
}

impl S3Auth {
    /// Parses `open` or `required` (the CLI's spelling).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(S3Auth::Open),
            "required" => Ok(S3Auth::Required),
            _ => Err(format!("expected `open` or `required`, got `{s}`")),
        }
    }

    /// The CLI's spelling.
    pub fn name(self) -> &'static str {
        match self {
            S3Auth::Open => "open",
            S3Auth::Required => "required",
        }
    }
}

/// The access check every request passes before its operation runs: refuses keys that would name
/// other files ([`crate::s3_keys`]), anonymous requests under [`S3Auth::Required`], and injects faults.
struct OpenAccess {
    faults: Faults,
    /// The storage root, to size GETs for the latency model and to find symbolic links.
    root: PathBuf,
    auth: S3Auth,
}

#[async_trait::async_trait]
impl S3Access for OpenAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if self.auth == S3Auth::Required && cx.credentials().is_none() {
            return Err(s3_error!(
                AccessDenied,
                "anonymous requests are refused: this S3 runs with --s3-auth required"
            ));
        }
        self.check_names(cx).await?;
        let key = match cx.s3_path() {
            S3Path::Object { key, .. } => key.to_string(),
            _ => String::new(),
        };
        match self.faults.roll(&key).await {
            Fault::None => {
                self.model_delay(cx).await;
                Ok(())
            }
            Fault::Status(503) => Err(s3_error!(SlowDown, "Please reduce your request rate. (injected fault)")),
            Fault::Status(_) => Err(s3_error!(InternalError, "We encountered an internal error. (injected fault)")),
        }
    }
}

impl OpenAccess {
    /// Refuses object keys, copy sources and listing prefixes that would reach another bucket or a file
    /// outside the data directory, or pass through a symbolic link.
    async fn check_names(&self, cx: &S3AccessContext<'_>) -> S3Result<()> {
        if let S3Path::Object { bucket, key } = cx.s3_path() {
            s3_keys::check_key("key", key)?;
            s3_keys::check_no_symlink(&self.root.join(bucket.as_ref()), key).await?;
        }
        if let Some(src) = cx.headers().get("x-amz-copy-source") {
            let src = src.to_str().ok().and_then(s3_keys::copy_source);
            let Some((bucket, key)) = src.filter(|(b, _)| s3s::path::check_bucket_name(b)) else {
                return Err(s3_error!(InvalidArgument, "x-amz-copy-source must be bucket/key"));
            };
            s3_keys::check_key("copy source", &key)?;
            s3_keys::check_no_symlink(&self.root.join(bucket), &key).await?;
        }
        for pair in cx.uri().query().unwrap_or("").split('&') {
            if let Some(("prefix", v)) = pair.split_once('=') {
                s3_keys::check_prefix(&percent_encoding::percent_decode_str(v).decode_utf8_lossy())?;
            }
        }
        Ok(())
    }

    /// Applies the S3 latency model: payload = request body for writes, object (or range) size for GETs.
    async fn model_delay(&self, cx: &S3AccessContext<'_>) {
        if self.faults.model().await.is_none() {
            return;
        }
        let header = |n: &str| cx.headers().get(n).and_then(|v| v.to_str().ok());
        let bytes = match (cx.method().as_str(), cx.s3_path()) {
            ("GET", S3Path::Object { bucket, key }) => {
                let size = tokio::fs::metadata(self.root.join(bucket.as_ref()).join(key.as_ref()))
                    .await
                    .map(|m| m.len())
                    .unwrap_or(0);
                crate::s3_latency::range_len(header("range"), size)
            }
            _ => header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0),
        };
        self.faults.model_delay(bytes).await;
    }
}

/// Builds the s3s service over `root`: SigV4 requests always, anonymous ones unless `auth` requires
/// signatures.
pub fn service(root: &Path, faults: Faults, auth: S3Auth) -> anyhow::Result<S3Service> {
    let mut b = S3ServiceBuilder::new(LocalS3::new(root)?);
    b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    b.set_access(OpenAccess { faults, root: root.to_path_buf(), auth });
    Ok(b.build())
}

/// The object key of a path-style request (`/bucket/key`), decoded; empty for bucket operations.
fn path_key(path: &str) -> String {
    let key = path.trim_start_matches('/').split_once('/').map(|(_, k)| k).unwrap_or("");
    percent_encoding::percent_decode_str(key).decode_utf8_lossy().into_owned()
}

/// The 500 InternalError that replaces the answer to a write that was applied ([`Faults::roll_after`]).
fn applied_then_500() -> http::Response<s3s::Body> {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
               <Message>We encountered an internal error. Please try again. (injected after the write)</Message></Error>";
    let mut resp = http::Response::new(s3s::Body::from(xml.to_string()));
    *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/xml"));
    resp
}

/// Serves `svc` on `listener` until the task is dropped or aborted; a request the fault table drops
/// ([`Faults::roll_drop`]) aborts its connection before it is served, as a dropped connection would.
pub async fn serve(listener: TcpListener, svc: S3Service, faults: Faults) {
    let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    loop {
        let Ok((socket, _)) = listener.accept().await else { continue };
        let _ = socket.set_nodelay(true);
        let (svc, faults) = (svc.clone(), faults.clone());
        let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let (svc, faults) = (svc.clone(), faults.clone());
            async move {
                let key = path_key(req.uri().path());
                if faults.roll_drop(&key).await {
                    return Err(s3s::HttpError::new("connection dropped (injected fault)".into()));
                }
                let write = matches!(*req.method(), http::Method::PUT | http::Method::POST | http::Method::DELETE);
                let resp = hyper::service::Service::call(&svc, req).await?;
                let applied = write && resp.status().is_success();
                match if applied { faults.roll_after(&key).await } else { None } {
                    None => Ok(resp),
                    Some(true) => {
                        Err(s3s::HttpError::new("connection dropped after the write (injected fault)".into()))
                    }
                    Some(false) => Ok(applied_then_500()),
                }
            }
        });
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(socket), service).into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etag(s: &str) -> ETagCondition {
        ETagCondition::ETag(ETag::Strong(s.into()))
    }

    #[test]
    fn write_preconditions() {
        assert!(check_write(None, None, Some(&ETagCondition::Any)).is_ok());
        let e = check_write(Some("a"), None, Some(&ETagCondition::Any)).unwrap_err();
        assert_eq!(e.code(), &S3ErrorCode::PreconditionFailed);
        let e = check_write(None, Some(&etag("a")), None).unwrap_err();
        assert_eq!(e.code(), &S3ErrorCode::NoSuchKey);
        assert!(check_write(Some("a"), Some(&etag("a")), None).is_ok());
        let e = check_write(Some("b"), Some(&etag("a")), None).unwrap_err();
        assert_eq!(e.code(), &S3ErrorCode::PreconditionFailed);
    }

    #[test]
    fn path_keys_are_decoded_and_bucket_operations_have_none() {
        assert_eq!(path_key("/hsdstest/db/a%20b/.group.json"), "db/a b/.group.json");
        assert_eq!(path_key("/hsdstest"), "");
        assert_eq!(path_key("/hsdstest/"), "");
    }

    #[test]
    fn read_preconditions() {
        assert!(check_read("a", Some(&etag("a")), None).is_ok());
        assert_eq!(check_read("a", Some(&etag("b")), None).unwrap_err().code(), &S3ErrorCode::PreconditionFailed);
        assert_eq!(check_read("a", None, Some(&etag("a"))).unwrap_err().code(), &S3ErrorCode::NotModified);
        assert!(check_read("a", None, Some(&etag("b"))).is_ok());
    }
}
