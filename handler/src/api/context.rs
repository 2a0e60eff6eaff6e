//! [`Ctx`]: what every route needs from the request — bucket, caller, domain — and the shared checks
//! (authentication, ACLs, domain membership of ids) so that no route repeats them.

use serde_json::{json, Value};

use crate::auth::{Action, Identity};
use crate::error::{ApiError, ApiResult};
use crate::model::{DomainPath, ObjId};
use crate::request::Request;
use crate::service::Service;
use crate::store::cas::{update_entries, Change};
use crate::store::entries::Entries;
use crate::store::{validate_bucket, ETag, Object, Store, StoreError, StoreResult};

/// Per-request context handed to every route function.
pub struct Ctx<'a> {
    /// The service (store, config, users).
    pub svc: &'a Service,
    /// The request being served.
    pub req: &'a Request,
    /// The bucket this request works in (`bucket` param, `X-Hdf-bucket` header, or `BUCKET_NAME`).
    pub bucket: String,
    /// Who is asking.
    pub identity: Identity,
    /// The status of a malformed `domain` or `bucket`: 400 on the routes of HSDS's domain module, which check
    /// them, 500 on the others, where HSDS 1.0.2 fails on them (chosen per route by `bad_domain_status` in
    /// `api/mod.rs`).
    pub bad_domain_status: u16,
    /// When the request is served, float Unix seconds: the one timestamp every write of the request
    /// carries (`created`, `lastModified`, ...), so a request's changes all show the same time.
    pub now: f64,
}

/// A domain (or folder) JSON as loaded from the store, with its ETag for compare-and-swap.
#[derive(Debug, Clone)]
pub struct DomainDoc {
    /// The domain path.
    pub path: DomainPath,
    /// The stored `.domain.json`.
    pub json: Value,
    /// Its ETag.
    pub etag: ETag,
}

impl DomainDoc {
    /// The root group id; `None` for a folder.
    pub fn root(&self) -> Option<ObjId> {
        self.json.get("root").and_then(Value::as_str).and_then(|r| ObjId::parse(r).ok())
    }

    /// The root group id, or 400 when this is a folder.
    pub fn require_root(&self) -> ApiResult<ObjId> {
        self.root().ok_or_else(|| ApiError::bad_request(format!("{} is a folder, not a domain", self.path)))
    }

    /// True for a folder (no root group).
    pub fn is_folder(&self) -> bool {
        self.json.get("root").is_none()
    }
}

impl<'a> Ctx<'a> {
    /// Resolves bucket and identity. Fails with `bad_domain_status` for a bad bucket, 400 for a bad
    /// Authorization header and 401 for wrong credentials.
    pub fn new(svc: &'a Service, req: &'a Request, bad_domain_status: u16) -> ApiResult<Self> {
        let bucket = req
            .get_param("bucket")
            .filter(|b| !b.is_empty())
            .or_else(|| req.get_header("x-hdf-bucket"))
            .or_else(|| raw_domain(req).and_then(|d| split_bucket(d).0))
            .map(|b| b.strip_prefix("s3://").unwrap_or(b).to_string())
            .unwrap_or_else(|| svc.config.bucket_name.clone());
        validate_bucket(&bucket).map_err(|e| ApiError::bad_input(bad_domain_status, ApiError::from(e).message))?;
        let identity = svc.users.authenticate(req.get_header("authorization"))?;
        Ok(Ctx { svc, req, bucket, identity, bad_domain_status, now: crate::service::now() })
    }

    /// The same context at time `now` instead of the clock's, for tests that need fixed timestamps.
    pub fn at(self, now: f64) -> Self {
        Ctx { now, ..self }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.svc.store.as_ref()
    }

    /// True when the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.svc.users.is_admin(&self.identity)
    }

    /// The `domain` parameter (or `X-Hdf-domain` header), if any, without the bucket it may name
    /// (`bucket/path` or `s3://bucket/path`, as HSDS accepts; the bucket is [`Ctx::bucket`]).
    pub fn domain_param(&self) -> Option<&str> {
        raw_domain(self.req).map(|d| split_bucket(d).1)
    }

    /// The request's domain path; 400 when missing, [`Ctx::bad_domain_status`] when empty or malformed.
    pub fn domain_path(&self) -> ApiResult<DomainPath> {
        let malformed = |e: ApiError| ApiError::bad_input(self.bad_domain_status, e.message);
        if self.req.get_param("domain") == Some("") {
            return Err(malformed(ApiError::bad_request("the domain parameter is empty")));
        }
        let raw =
            self.domain_param().ok_or_else(|| ApiError::bad_request("no domain given: add ?domain=/path/to/file"))?;
        DomainPath::parse(raw).map_err(|e| malformed(e.into()))
    }

    /// Fails with 401 unless the caller is authenticated (every write needs credentials).
    pub fn require_user(&self) -> ApiResult<&str> {
        match &self.identity {
            Identity::User(u) => Ok(u),
            Identity::Anonymous => Err(ApiError::unauthorized("this request needs credentials (HTTP Basic auth)")),
        }
    }

    /// Reads and parses the JSON object at `key`, reusing the bytes of the service's metadata cache when a
    /// conditional GET with their ETag says they are still current ("not modified" moves no body).
    /// Every call asks the store, so an object another invocation rewrote is never served stale.
    pub async fn get_json_cached(&self, key: &str) -> StoreResult<(Value, ETag)> {
        let cache = &self.svc.meta_cache;
        let obj = match cache.get(&self.bucket, key) {
            Some((etag, body)) => match self.store().get_if_none_match(&self.bucket, key, &etag).await {
                Ok(None) => Object { body, etag },
                Ok(Some(fresh)) => fresh,
                Err(e) => {
                    cache.remove(&self.bucket, key);
                    return Err(e);
                }
            },
            None => self.store().get(&self.bucket, key).await?,
        };
        match crate::model::lenient_json::parse(&obj.body) {
            Ok(value) => {
                cache.put(&self.bucket, key, obj.etag.clone(), obj.body);
                Ok((value, obj.etag))
            }
            Err(e) => {
                cache.remove(&self.bucket, key);
                Err(StoreError::Other(format!("{key} holds invalid JSON: {e}")))
            }
        }
    }

    /// Loads a domain or folder JSON; `None` when absent.
    pub async fn find_domain(&self, path: &DomainPath) -> ApiResult<Option<DomainDoc>> {
        match self.get_json_cached(&path.key()).await {
            Ok((json, etag)) => Ok(Some(DomainDoc { path: path.clone(), json, etag })),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Loads a domain or folder JSON; 410 when absent because it was deleted, else 404.
    pub async fn load_domain(&self, path: &DomainPath) -> ApiResult<DomainDoc> {
        if let Some(dom) = self.find_domain(path).await? {
            return Ok(dom);
        }
        if self.is_gone(Tombstone::Domain(path)).await? {
            return Err(ApiError::gone(format!("domain {path} was deleted")));
        }
        Err(ApiError::not_found(format!("domain not found: {path}")))
    }

    /// Records that `what` is deleted, before it is: reads that then find nothing answer 410 Gone (as
    /// HSDS, whose in-memory tombstones a stateless function cannot keep), from any instance and across
    /// cold starts. The marker is a small JSON object at [`Tombstone::key`], a key HSDS never reads.
    pub async fn mark_gone(&self, what: Tombstone<'_>) -> ApiResult<()> {
        let body = json!({"deleted": self.now});
        crate::store::json::put_json(self.store(), &self.bucket, &what.key(), &body).await?;
        Ok(())
    }

    /// True when a tombstone says `what` was deleted.
    pub async fn is_gone(&self, what: Tombstone<'_>) -> ApiResult<bool> {
        match self.store().get(&self.bucket, &what.key()).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks `action` on `dom` for the caller: 401 for anonymous writes or when anonymous access is
    /// off, 403 when the ACLs deny.
    pub fn check(&self, dom: &DomainDoc, action: Action) -> ApiResult<()> {
        if self.identity == Identity::Anonymous && (action != Action::Read || !self.svc.config.allow_noauth) {
            return Err(ApiError::unauthorized(format!(
                "{} on {} needs credentials (HTTP Basic auth)",
                action.key(),
                dom.path
            )));
        }
        if self.svc.users.acl_allows(&dom.json, action, &self.identity) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "user {} is not permitted to {} in {}",
                self.identity.display_name(),
                action.key(),
                dom.path
            )))
        }
    }

    /// Loads the request's domain and checks `action` on it: the usual first step of a route.
    pub async fn authorize(&self, action: Action) -> ApiResult<DomainDoc> {
        let path = self.domain_path()?;
        if action != Action::Read {
            self.require_user()?;
        }
        let dom = self.load_domain(&path).await?;
        self.check(&dom, action)?;
        Ok(dom)
    }

    /// Checks that `id` belongs to `dom`. As HSDS 1.0.2, which reads the object before comparing its root:
    /// an id of another domain is 400 when it names an object and 404 when it names nothing (so a
    /// well-formed id that was never created is "not found", not "bad request"); a folder is 400.
    pub async fn check_member(&self, dom: &DomainDoc, id: &ObjId) -> ApiResult<()> {
        if self.is_member(dom, id)? {
            return Ok(());
        }
        self.member_read(dom, id, self.fetch_object(id).await).map(|_| ())
    }

    /// True when `id` shares `dom`'s root prefix; 400 when `dom` is a folder.
    fn is_member(&self, dom: &DomainDoc, id: &ObjId) -> ApiResult<bool> {
        let root = dom.require_root()?;
        Ok(root.same_domain(id))
    }

    /// `read` (the result of reading `id`) if `id` belongs to `dom`; else, as HSDS, the read's error (404
    /// when it names nothing) or 400 when it names an object of another domain.
    fn member_read<T>(&self, dom: &DomainDoc, id: &ObjId, read: ApiResult<T>) -> ApiResult<T> {
        if self.is_member(dom, id)? {
            return read;
        }
        read?;
        Err(ApiError::bad_request(format!("object {id} is not a member of domain {}", dom.path)))
    }

    /// Loads an object's JSON after checking it belongs to `dom`; 404 when absent.
    pub async fn load_object(&self, dom: &DomainDoc, id: &ObjId) -> ApiResult<(Value, ETag)> {
        self.member_read(dom, id, self.fetch_object(id).await)
    }

    /// Loads an object's JSON after checking it belongs to `dom`; `None` when absent.
    pub async fn find_object(&self, dom: &DomainDoc, id: &ObjId) -> ApiResult<Option<(Value, ETag)>> {
        match self.load_object(dom, id).await {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.status == 404 || e.status == 410 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The domain (after the `action` check, as [`Ctx::authorize`]) and the JSON of its object `id`
    /// (as [`Ctx::load_object`]): the first step of every route on one object. Both are read from the
    /// store concurrently, so the request waits for one S3 round trip instead of two; the object is only
    /// returned when the domain's checks pass, and a failed check wins over a missing object.
    pub async fn authorize_object(&self, action: Action, id: &ObjId) -> ApiResult<(DomainDoc, Value)> {
        let (dom, obj) = tokio::join!(self.authorize(action), self.fetch_object(id));
        let dom = dom?;
        let (obj, _) = self.member_read(&dom, id, obj)?;
        Ok((dom, obj))
    }

    /// The domain (after the `action` check, as [`Ctx::authorize`]) once object `id` is known to exist in it,
    /// with the errors of [`Ctx::authorize_object`] but without reading the object whole: for a route that
    /// goes on to update the object with a compare-and-swap, which reads it anyway ([`Ctx::update_object`]).
    /// A group of 3200 attributes is ~0.5 MB of JSON, and parsing it is most of such a request's CPU.
    pub async fn authorize_existing(&self, action: Action, id: &ObjId) -> ApiResult<DomainDoc> {
        let (dom, present) = tokio::join!(self.authorize(action), self.require_present(id));
        let dom = dom?;
        self.member_read(&dom, id, present)?;
        Ok(dom)
    }

    /// Updates member map `member` of object `id` with a compare-and-swap ([`update_entries`]); when the
    /// object is missing, answers what reading it answers (404, or 410 when it was deleted), so the route needs
    /// no read first.
    pub async fn update_object<T, F>(&self, id: &ObjId, member: &str, apply: F) -> ApiResult<T>
    where
        F: FnMut(&mut Entries) -> ApiResult<Change<T>>,
    {
        match update_entries(self.store(), &self.bucket, &id.s3_key(), member, apply).await {
            Err(e) if e.status == 404 => {
                self.require_present(id).await?;
                Err(e)
            }
            out => out,
        }
    }

    /// `Ok` when object `id` is in the store, read with a 1-byte ranged GET instead of whole; else the error a
    /// read of it gets ([`Ctx::missing_object`]).
    async fn require_present(&self, id: &ObjId) -> ApiResult<()> {
        match self.store().get_range(&self.bucket, &id.s3_key(), 0, 1).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound(_)) => Err(self.missing_object(id).await),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads an object's JSON without any check; 410 when absent because it was deleted, else 404.
    async fn fetch_object(&self, id: &ObjId) -> ApiResult<(Value, ETag)> {
        match self.get_json_cached(&id.s3_key()).await {
            Ok(found) => Ok(found),
            Err(StoreError::NotFound(_)) => Err(self.missing_object(id).await),
            Err(e) => Err(e.into()),
        }
    }

    /// The error for object `id` that is not in the store: 410 when it was deleted, else 404.
    async fn missing_object(&self, id: &ObjId) -> ApiError {
        match self.is_gone(Tombstone::Object(id)).await {
            Ok(true) => ApiError::gone(format!("{id} was deleted")),
            Ok(false) => ApiError::not_found(format!("{id} not found")),
            Err(e) => e,
        }
    }

    /// True when the request has no body, or only whitespace (HSDS's "no body").
    pub fn body_is_blank(&self) -> bool {
        self.req.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The request body parsed as JSON; an empty body or `null` gives `Value::Null`. 400 when malformed, 500
    /// where HSDS fails instead (not UTF-8, nested too deep).
    pub fn body_json(&self) -> ApiResult<Value> {
        if self.body_is_blank() {
            return Ok(Value::Null);
        }
        let body = &self.req.body;
        if std::str::from_utf8(body).is_err() {
            // Python's decode fails before its json module runs: HSDS 1.0.2 answers 500.
            return Err(ApiError::bad_input_500("the request body is not UTF-8 text"));
        }
        crate::model::lenient_json::parse(body).map_err(body_json_error)
    }

    /// The request body as a JSON object; 400 when it is anything else — but 500 for a bare number, on which
    /// HSDS 1.0.2 fails (`"key" in 17` raises a TypeError).
    pub fn body_object(&self) -> ApiResult<serde_json::Map<String, Value>> {
        match self.body_json()? {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Default::default()),
            other => {
                let status = if other.is_number() { 500 } else { 400 };
                Err(ApiError::bad_input(status, format!("expected a JSON object body, got {}", kind_of(&other))))
            }
        }
    }

    /// Where hrefs point: the configured endpoint (`HSDS_ENDPOINT`), else the request's own scheme and
    /// `Host`, so that hrefs are absolute as HSDS's are; empty (relative hrefs) when neither is known.
    pub fn base_url(&self) -> String {
        let configured = self.svc.config.endpoint.trim_end_matches('/');
        if !configured.is_empty() {
            return configured.to_string();
        }
        match self.req.get_header("host") {
            Some(host) => {
                let scheme = self.req.get_header("x-forwarded-proto").unwrap_or("http");
                format!("{scheme}://{host}")
            }
            None => String::new(),
        }
    }

    /// An href to `path` (e.g. `/groups/g-...`) in the request's domain. As in HSDS, only a `domain`
    /// query parameter is repeated in the href (a domain given by header is not).
    pub fn href(&self, path: &str) -> String {
        match self.req.get_param("domain").filter(|d| !d.is_empty()) {
            Some(d) => format!("{}{}?domain={}", self.base_url(), path, d),
            None => format!("{}{}", self.base_url(), path),
        }
    }

    /// An `hrefs` entry `{rel, href}`.
    pub fn rel(&self, rel: &str, path: &str) -> Value {
        json!({"rel": rel, "href": self.href(path)})
    }
}

/// The `domain` parameter, else the `X-Hdf-domain` header, as sent.
fn raw_domain(req: &Request) -> Option<&str> {
    req.get_param("domain").filter(|d| !d.is_empty()).or_else(|| req.get_header("x-hdf-domain"))
}

/// Splits a domain written with its bucket (`s3://bucket/path` or `bucket/path`) into the bucket and the
/// path (from its `/`); other forms (`/path`, `hdf5://path`, malformed ones) name no bucket.
pub fn split_bucket(domain: &str) -> (Option<&str>, &str) {
    let rest = domain.strip_prefix("s3://").unwrap_or(domain);
    if rest.starts_with('/') || domain.starts_with("hdf5:/") {
        return (None, domain);
    }
    match rest.find('/') {
        Some(i) if i > 0 => (Some(&rest[..i]), &rest[i..]),
        _ => (None, domain),
    }
}

/// A request body that does not parse: 400 with serde_json's reason, as HSDS 1.0.2 answers malformed JSON — but
/// 500 for nesting deeper than serde_json's limit (128), where Python's parser fails with a RecursionError.
fn body_json_error(e: serde_json::Error) -> ApiError {
    let text = e.to_string();
    if text.contains("recursion limit exceeded") {
        return ApiError::bad_input_500(format!("malformed JSON body: {text}"));
    }
    e.into()
}

/// What a tombstone marks as deleted (HSDS answers 410 Gone for each).
#[derive(Debug, Clone, Copy)]
pub enum Tombstone<'a> {
    /// A domain or folder.
    Domain(&'a DomainPath),
    /// A group, dataset or datatype.
    Object(&'a ObjId),
    /// The link `title` of a group.
    Link(&'a ObjId, &'a str),
    /// The attribute `name` of an object.
    Attribute(&'a ObjId, &'a str),
}

impl Tombstone<'_> {
    /// The marker's key. Object and link markers live in their domain's `db/<root>/` area (so deleting
    /// the domain removes them), domain markers under `db/.gone/`; HSDS ignores all of them (its key
    /// parser rejects `.gone` segments, and it never lists `db/` itself). No marker key is a prefix of
    /// another, as a directory-backed store needs.
    pub fn key(&self) -> String {
        match self {
            Tombstone::Domain(path) => format!("db/.gone/domains{}/.gone.json", path.as_str()),
            Tombstone::Object(id) => format!("{}/.gone/{id}.json", id.db_prefix()),
            Tombstone::Link(id, name) => Self::member_key(id, "links", name),
            Tombstone::Attribute(id, name) => Self::member_key(id, "attributes", name),
        }
    }

    /// The marker key of the link or attribute (`what`) `name` of `id`.
    fn member_key(id: &ObjId, what: &str, name: &str) -> String {
        let name = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        format!("{}/.gone/{id}.{what}/{name}", id.db_prefix())
    }
}

/// A short name for a JSON value's kind, for error messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
