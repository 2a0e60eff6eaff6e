//! [`Store`] on Amazon S3 (or any S3-compatible endpoint such as the emulator's), via aws-sdk-s3.
//!
//! Configuration comes from the environment Lambda gives the function: `AWS_S3_GATEWAY` (endpoint;
//! path-style addressing), `AWS_REGION`, and the `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
//! `AWS_SESSION_TOKEN` credentials. Credentials are read from the environment directly so that a
//! cold start never falls through to the (slow, absent) instance metadata service.
//!
//! Throttling (503 SlowDown), server errors (500) and dropped connections are retried by the SDK with
//! exponential back-off and full jitter ([`retry_config`]) — except conditional PUTs, which retry
//! themselves so that a write S3 applied before failing is recognised as ours (`raw_put`); every call,
//! retries included, is bounded by the invocation deadline ([`crate::deadline`]), so a slow S3 turns into
//! a clean 503/504, never a kill.

use async_trait::async_trait;
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;

use super::s3_get::{LeanGet, Want};
use super::{ETag, ListEntry, ListOptions, Listing, Object, PutMode, Store, StoreError, StoreResult};

/// Attempts per S3 call (the first one included) before a throttle or server error reaches the API.
pub(super) const MAX_ATTEMPTS: u32 = 5;
/// Back-off before the first retry (doubled each retry, with full jitter).
pub(super) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest single back-off: with [`MAX_ATTEMPTS`] the waits add up to at most 1.5 s, well inside a
/// Lambda deadline (and the deadline bound cuts them short anyway).
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The retry policy of the S3 client: the SDK's standard mode (retries 500, 503 SlowDown, timeouts and
/// connection errors) with [`MAX_ATTEMPTS`] and a back-off sized for a request deadline, not a batch job
/// (the SDK default starts at 1 s).
pub(super) fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// The pause before retry `attempt + 1` of a conditional PUT: full jitter under a ceiling that doubles
/// from [`INITIAL_BACKOFF`] up to [`MAX_BACKOFF`] (the SDK's schedule for every other call).
fn put_backoff(attempt: u32) -> Duration {
    let ceiling = INITIAL_BACKOFF.saturating_mul(1 << (attempt - 1).min(16)).min(MAX_BACKOFF);
    Duration::from_micros(rand::random_range(0..=ceiling.as_micros() as u64))
}

/// An S3 client bound to one endpoint; the bucket is chosen per call.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    /// The lean GET and LIST path for plain-`http` endpoints (see [`super::s3_get`]); `None` means the SDK
    /// does them.
    lean: Option<LeanGet>,
}

/// Where and how the function reaches S3 (from the environment in Lambda, see [`S3Store::from_env`]).
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Custom endpoint (`AWS_S3_GATEWAY` / `AWS_ENDPOINT_URL_S3`); `None` for AWS's own.
    pub endpoint: Option<String>,
    /// Signing region.
    pub region: String,
    /// Access key id, secret and session token; `None` sends unsigned requests (public buckets).
    pub credentials: Option<(String, String, Option<String>)>,
    /// GETs and listings through the lean path ([`super::s3_get`]) when the endpoint allows it; `false` keeps
    /// them on the SDK.
    pub lean_gets: bool,
}

impl S3Store {
    /// Builds the client from `AWS_S3_GATEWAY`, `AWS_REGION` and the credential variables.
    /// `AWS_S3_NO_SIGN_REQUEST=1` sends unsigned requests (public buckets); `HSLAMBDA_SDK_GETS=1` sends GETs
    /// through aws-sdk-s3 even to a plain-`http` endpoint (for comparisons).
    pub fn from_env() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let flag = |k: &str| env(k).is_some_and(|v| v != "0" && v.to_lowercase() != "false");
        let credentials = (!flag("AWS_S3_NO_SIGN_REQUEST")).then(|| {
            let key = env("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "hslambda".into());
            let secret = env("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "hslambda".into());
            (key, secret, env("AWS_SESSION_TOKEN"))
        });
        S3Store::connect(S3Settings {
            endpoint: env("AWS_S3_GATEWAY").or_else(|| env("AWS_ENDPOINT_URL_S3")),
            region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).unwrap_or_else(|| "us-east-1".into()),
            credentials,
            lean_gets: !flag("HSLAMBDA_SDK_GETS"),
        })
    }

    /// Builds the client from explicit settings.
    pub fn connect(settings: S3Settings) -> Self {
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(Region::new(settings.region.clone()))
            .force_path_style(true)
            .retry_config(retry_config())
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &settings.endpoint {
            b = b.endpoint_url(endpoint);
        }
        let creds =
            settings.credentials.map(|(key, secret, token)| Credentials::new(key, secret, token, None, "environment"));
        if let Some(c) = &creds {
            b = b.credentials_provider(c.clone());
        }
        let lean = match &settings.endpoint {
            Some(e) if settings.lean_gets => LeanGet::for_endpoint(e, &settings.region, creds),
            _ => None,
        };
        S3Store { client: Client::from_conf(b.build()), lean }
    }

    /// Whether GETs and listings take the lean path (a plain-`http` endpoint, and not turned off).
    pub fn lean_gets(&self) -> bool {
        self.lean.is_some()
    }

    /// Wraps an already configured client.
    pub fn new(client: Client) -> Self {
        S3Store { client, lean: None }
    }
}

/// Maps an SDK error to a [`StoreError`] by HTTP status, the only part S3-compatibles agree on.
fn map_err<E: std::error::Error + Send + Sync + 'static>(key: &str, err: SdkError<E, HttpResponse>) -> StoreError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    match status {
        Some(404) => StoreError::NotFound(key.to_string()),
        Some(409) | Some(412) => StoreError::Precondition(key.to_string()),
        Some(500) | Some(502) | Some(503) | Some(504) => {
            StoreError::Unavailable(format!("{key}: {}", DisplayErrorContext(&err)))
        }
        None => StoreError::Unavailable(format!("{key}: {}", DisplayErrorContext(&err))),
        _ => StoreError::Other(format!("{key}: {}", DisplayErrorContext(&err))),
    }
}

fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Runs one S3 call unless the invocation deadline is too near, and never past it.
async fn bounded<T>(what: &str, key: &str, call: impl std::future::Future<Output = StoreResult<T>>) -> StoreResult<T> {
    crate::deadline::check(&format!("{what} {key}"))?;
    match crate::deadline::remaining() {
        None => call.await,
        Some(left) => tokio::time::timeout(left, call)
            .await
            .unwrap_or_else(|_| Err(StoreError::Deadline(format!("{what} {key} finished")))),
    }
}

async fn collect(key: &str, body: ByteStream) -> StoreResult<Bytes> {
    body.collect()
        .await
        .map(|d| d.into_bytes())
        .map_err(|e| StoreError::Unavailable(format!("{key}: reading body: {e}")))
}

/// The S3 calls themselves; the [`Store`] impl below adds the deadline bound around each.
impl S3Store {
    async fn raw_get(&self, bucket: &str, key: &str) -> StoreResult<Object> {
        if let Some(lean) = &self.lean {
            return lean.get(bucket, key, Want::Whole).await?.ok_or_else(|| StoreError::Other(format!("{key}: 304")));
        }
        let out = self.client.get_object().bucket(bucket).key(key).send().await.map_err(|e| map_err(key, e))?;
        let etag = out.e_tag.clone().unwrap_or_default();
        Ok(Object { body: collect(key, out.body).await?, etag })
    }

    async fn raw_get_if_none_match(&self, bucket: &str, key: &str, etag: &str) -> StoreResult<Option<Object>> {
        if let Some(lean) = &self.lean {
            return lean.get(bucket, key, Want::IfNoneMatch(etag)).await;
        }
        match self.client.get_object().bucket(bucket).key(key).if_none_match(etag).send().await {
            Ok(out) => {
                let etag = out.e_tag.clone().unwrap_or_default();
                Ok(Some(Object { body: collect(key, out.body).await?, etag }))
            }
            Err(e) if status_of(&e) == Some(304) => Ok(None),
            Err(e) => Err(map_err(key, e)),
        }
    }

    async fn raw_get_range(&self, bucket: &str, key: &str, offset: u64, len: u64) -> StoreResult<Bytes> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        if let Some(lean) = &self.lean {
            let got = lean.get(bucket, key, Want::Range(offset, len)).await?;
            return Ok(got.map(|o| o.body).unwrap_or_default());
        }
        let range = format!("bytes={}-{}", offset, offset + len - 1);
        let out =
            self.client.get_object().bucket(bucket).key(key).range(range).send().await.map_err(|e| map_err(key, e))?;
        collect(key, out.body).await
    }

    /// A PUT. Unconditional ones are retried by the SDK (a repeat is harmless). Conditional ones — every
    /// compare-and-swap — are retried here instead, because a repeat is *not* harmless: when an attempt
    /// fails after S3 may have applied it (500, dropped connection, timeout), the next attempt finds the
    /// object changed — by itself — and loses its precondition. Then the object is read back: if it holds
    /// exactly our bytes, our write is what happened and the PUT succeeds, once (no spurious 412/409, and
    /// the caller's change is not applied a second time). If another writer changed it again in between,
    /// our write can no longer be told apart and the lost race is reported as usual.
    async fn raw_put(&self, bucket: &str, key: &str, body: Bytes, mode: PutMode) -> StoreResult<ETag> {
        if mode == PutMode::Overwrite {
            return self.put_once(bucket, key, body, mode, true).await;
        }
        let mut ambiguous = false;
        let mut attempt = 1;
        loop {
            match self.put_once(bucket, key, body.clone(), mode.clone(), false).await {
                Err(StoreError::Precondition(_)) if ambiguous => {
                    return match self.raw_get(bucket, key).await {
                        Ok(current) if current.body == body => Ok(current.etag),
                        _ => Err(StoreError::Precondition(key.to_string())),
                    };
                }
                Err(StoreError::Unavailable(_)) if attempt < MAX_ATTEMPTS => {
                    ambiguous = true;
                    tokio::time::sleep(put_backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One PUT, with the SDK's retries (`sdk_retries`) or as exactly one attempt.
    async fn put_once(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        mode: PutMode,
        sdk_retries: bool,
    ) -> StoreResult<ETag> {
        let mut req = self.client.put_object().bucket(bucket).key(key).body(ByteStream::from(body));
        req = match mode {
            PutMode::Overwrite => req,
            PutMode::Create => req.if_none_match("*"),
            PutMode::Update(etag) => req.if_match(etag),
        };
        let sent = if sdk_retries {
            req.send().await
        } else {
            let once = aws_sdk_s3::config::Builder::default().retry_config(RetryConfig::disabled());
            req.customize().config_override(once).send().await
        };
        match sent {
            Ok(out) => Ok(out.e_tag.unwrap_or_default()),
            // S3 answers If-Match on a missing key with 404; for a compare-and-swap that is a lost race too.
            Err(e) if status_of(&e) == Some(404) => Err(StoreError::Precondition(key.to_string())),
            Err(e) => Err(map_err(key, e)),
        }
    }

    async fn raw_list(&self, bucket: &str, opts: ListOptions<'_>) -> StoreResult<Listing> {
        if let Some(lean) = &self.lean {
            return lean.list(bucket, &opts).await;
        }
        let ListOptions { prefix, delimiter, start_after, max_keys } = opts;
        let mut req = self.client.list_objects_v2().bucket(bucket).prefix(prefix);
        if let Some(d) = delimiter {
            req = req.delimiter(d);
        }
        if let Some(a) = start_after {
            req = req.start_after(a);
        }
        if let Some(m) = max_keys {
            req = req.max_keys(m.min(1000) as i32);
        }
        let out = req.send().await.map_err(|e| map_err(prefix, e))?;
        let objects = out
            .contents()
            .iter()
            .map(|o| ListEntry {
                key: o.key().unwrap_or_default().to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().map(str::to_string),
                last_modified: o.last_modified().map(|t| t.as_secs_f64()).unwrap_or(0.0),
            })
            .collect();
        let prefixes = out.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_string)).collect();
        Ok(Listing { objects, prefixes, truncated: out.is_truncated().unwrap_or(false) })
    }

    async fn raw_delete(&self, bucket: &str, key: &str) -> StoreResult<()> {
        match self.client.delete_object().bucket(bucket).key(key).send().await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(map_err(key, e)),
        }
    }
}

#[async_trait]
impl Store for S3Store {
    async fn get(&self, bucket: &str, key: &str) -> StoreResult<Object> {
        bounded("GET", key, self.raw_get(bucket, key)).await
    }

    async fn get_if_none_match(&self, bucket: &str, key: &str, etag: &str) -> StoreResult<Option<Object>> {
        bounded("GET", key, self.raw_get_if_none_match(bucket, key, etag)).await
    }

    async fn get_range(&self, bucket: &str, key: &str, offset: u64, len: u64) -> StoreResult<Bytes> {
        bounded("GET range of", key, self.raw_get_range(bucket, key, offset, len)).await
    }

    async fn put(&self, bucket: &str, key: &str, body: Bytes, mode: PutMode) -> StoreResult<ETag> {
        bounded("PUT", key, self.raw_put(bucket, key, body, mode)).await
    }

    async fn list(&self, bucket: &str, opts: ListOptions<'_>) -> StoreResult<Listing> {
        bounded("LIST", opts.prefix, self.raw_list(bucket, opts)).await
    }

    async fn delete(&self, bucket: &str, key: &str) -> StoreResult<()> {
        bounded("DELETE", key, self.raw_delete(bucket, key)).await
    }
}
