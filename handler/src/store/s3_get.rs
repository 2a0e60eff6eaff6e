//! A lean S3 GET: one signed HTTP/1.1 request on a pooled keep-alive connection, for the reads that
//! dominate every request (metadata JSON, conditional revalidations, chunks and chunk prefixes), and for
//! ListObjectsV2 (a warm read revalidates its cached chunks with one listing page, whose XML aws-sdk-s3
//! took ~2.5 µs per entry to decode; [`parse_listing`] reads only the few elements a [`Listing`] holds).
//!
//! aws-sdk-s3 spends ~0.13 ms of CPU per request in release builds (orchestrator, endpoint rules,
//! interceptors, SigV4) on top of the round trip — 0.2 ms for a 304 that costs 0.08 ms as a bare request
//! (`handler/examples/warm_costs.rs`), and far more at Lambda's small memory sizes, where the function gets a
//! fraction of a core. A selection over 128 chunks paid that 128 times. This path signs with the SDK's own
//! `aws-sigv4` and sends with hyper; writes and deletes stay on the SDK.
//!
//! It serves plain-`http` endpoints (`AWS_S3_GATEWAY` / `AWS_ENDPOINT_URL_S3`: the emulator, MinIO and
//! other S3 servers on a private network); `https` endpoints, AWS's own included, keep the SDK, whose TLS
//! setup is tested. Behaviour matches the SDK path: path-style URLs, the same retries (standard mode: 5
//! attempts, jittered exponential back-off from 100 ms to 2 s, on 500/502/503/504, throttling and dropped
//! connections, bodies included) and the same status mapping.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::s3::{INITIAL_BACKOFF, MAX_ATTEMPTS, MAX_BACKOFF};
use super::{ListEntry, ListOptions, Listing, Object, StoreError, StoreResult};

/// Bytes kept as they are in an S3 key's URL path: RFC 3986 unreserved characters and `/`, as the SDK does.
const KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
/// Bytes kept as they are in a query parameter value: RFC 3986 unreserved characters (SigV4's encoding).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A GET to send: what varies between the three kinds of read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Want<'a> {
    /// The whole object.
    Whole,
    /// The whole object unless its ETag is this one (then `Ok(None)`).
    IfNoneMatch(&'a str),
    /// `len` bytes from `offset` (`len` > 0).
    Range(u64, u64),
}

/// The signed-GET client: endpoint, region, credentials (none for unsigned requests) and a connection pool.
#[derive(Clone)]
pub(super) struct LeanGet {
    client: Client<HttpConnector, Empty<Bytes>>,
    /// `http://host:port` without a trailing slash.
    endpoint: String,
    /// The `Host` header value.
    host: String,
    region: String,
    identity: Option<Identity>,
}

impl LeanGet {
    /// A client for `endpoint` when it is a plain-`http` URL (see the module docs); `None` otherwise.
    pub(super) fn for_endpoint(endpoint: &str, region: &str, creds: Option<Credentials>) -> Option<LeanGet> {
        let uri: http::Uri = endpoint.parse().ok()?;
        if uri.scheme_str() != Some("http") || !uri.path().trim_end_matches('/').is_empty() {
            return None;
        }
        let host = uri.authority()?.to_string();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .http1_read_buf_exact_size(256 * 1024)
            .build(connector);
        Some(LeanGet {
            client,
            endpoint: format!("http://{host}"),
            host,
            region: region.to_string(),
            identity: creds.map(Identity::from),
        })
    }

    /// GETs `bucket/key` as `want` says, retrying transient failures: the object (`None` only for a
    /// conditional GET answered 304 Not Modified).
    pub(super) async fn get(&self, bucket: &str, key: &str, want: Want<'_>) -> StoreResult<Option<Object>> {
        self.retrying("GET", key, || self.get_once(bucket, key, want)).await
    }

    /// One ListObjectsV2 page, retrying transient failures as [`LeanGet::get`] does.
    pub(super) async fn list(&self, bucket: &str, opts: &ListOptions<'_>) -> StoreResult<Listing> {
        self.retrying("LIST", opts.prefix, || self.list_once(bucket, opts)).await
    }

    /// Runs `once` until it succeeds, fails for good, or [`MAX_ATTEMPTS`] transient failures have passed
    /// (jittered exponential back-off between attempts, as the SDK's standard mode).
    async fn retrying<T, F: std::future::Future<Output = Result<T, Failure>>>(
        &self,
        verb: &str,
        key: &str,
        once: impl Fn() -> F,
    ) -> StoreResult<T> {
        let mut attempt = 1;
        loop {
            match once().await {
                Err(Failure::Transient(msg)) if attempt < MAX_ATTEMPTS => {
                    let cap = INITIAL_BACKOFF.saturating_mul(1 << (attempt - 1)).min(MAX_BACKOFF);
                    tokio::time::sleep(cap.mul_f64(rand::random::<f64>())).await;
                    tracing::debug!("{verb} {key}: {msg}; retrying (attempt {} of {MAX_ATTEMPTS})", attempt + 1);
                    attempt += 1;
                }
                Err(Failure::Transient(msg)) => return Err(StoreError::Unavailable(format!("{key}: {msg}"))),
                Err(Failure::Final(e)) => return Err(e),
                Ok(found) => return Ok(found),
            }
        }
    }

    /// One attempt of a GET.
    async fn get_once(&self, bucket: &str, key: &str, want: Want<'_>) -> Result<Option<Object>, Failure> {
        let path = format!("/{}/{}", utf8_percent_encode(bucket, KEY), utf8_percent_encode(key, KEY));
        let header = match want {
            Want::Whole => None,
            Want::IfNoneMatch(etag) => Some((http::header::IF_NONE_MATCH, etag.to_string())),
            Want::Range(offset, len) => {
                Some((http::header::RANGE, format!("bytes={offset}-{}", offset + len.max(1) - 1)))
            }
        };
        let (status, etag, body) = self.send(&path, header, key).await?;
        match status {
            200 | 206 => Ok(Some(Object { body, etag })),
            304 if matches!(want, Want::IfNoneMatch(_)) => Ok(None),
            _ => Err(failure(status, key, &body)),
        }
    }

    /// One attempt of a ListObjectsV2 page.
    async fn list_once(&self, bucket: &str, opts: &ListOptions<'_>) -> Result<Listing, Failure> {
        let enc = |v: &str| utf8_percent_encode(v, QUERY_VALUE).to_string();
        let mut query = format!("list-type=2&prefix={}", enc(opts.prefix));
        if let Some(d) = opts.delimiter {
            query.push_str(&format!("&delimiter={}", enc(d)));
        }
        if let Some(a) = opts.start_after {
            query.push_str(&format!("&start-after={}", enc(a)));
        }
        if let Some(m) = opts.max_keys {
            query.push_str(&format!("&max-keys={}", m.min(1000)));
        }
        let path = format!("/{}?{query}", utf8_percent_encode(bucket, KEY));
        let (status, _, body) = self.send(&path, None, opts.prefix).await?;
        match status {
            200 => parse_listing(&body)
                .map_err(|e| Failure::Final(StoreError::Other(format!("listing {}: {e}", opts.prefix)))),
            _ => Err(failure(status, opts.prefix, &body)),
        }
    }

    /// Sends one signed GET of `path_and_query` with an optional extra header: (status, ETag header, body).
    async fn send(
        &self,
        path_and_query: &str,
        header: Option<(http::HeaderName, String)>,
        key: &str,
    ) -> Result<(u16, String, Bytes), Failure> {
        let url = format!("{}{path_and_query}", self.endpoint);
        let mut req = http::Request::get(&url).header(http::header::HOST, &self.host);
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let mut req = req.body(Empty::<Bytes>::new()).map_err(|e| Failure::Final(StoreError::Other(e.to_string())))?;
        self.sign(&mut req).map_err(|e| Failure::Final(StoreError::Other(format!("{key}: signing: {e}"))))?;
        let rsp = self.client.request(req).await.map_err(|e| Failure::Transient(format!("request failed: {e}")))?;
        let status = rsp.status().as_u16();
        let etag = rsp.headers().get(http::header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body =
            rsp.into_body().collect().await.map_err(|e| Failure::Transient(format!("reading body: {e}")))?.to_bytes();
        Ok((status, etag, body))
    }

    /// Adds SigV4 headers (`x-amz-date`, `x-amz-content-sha256`, `authorization`, the session token) as S3
    /// expects them: the path encoded once, not normalised.
    fn sign(&self, req: &mut http::Request<Empty<Bytes>>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(identity) = &self.identity else { return Ok(()) };
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()?
            .into();
        let headers = req.headers().iter().map(|(k, v)| Ok::<_, http::header::ToStrError>((k.as_str(), v.to_str()?)));
        let headers: Vec<(&str, &str)> = headers.collect::<Result<_, _>>()?;
        let uri = req.uri().to_string();
        let signable = SignableRequest::new("GET", &uri, headers.into_iter(), SignableBody::Bytes(&[]))?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

/// Why an attempt failed: worth retrying, or final.
enum Failure {
    Transient(String),
    Final(StoreError),
}

/// The failure an unexpected status means, as the SDK path maps it.
fn failure(status: u16, key: &str, body: &[u8]) -> Failure {
    match status {
        404 => Failure::Final(StoreError::NotFound(key.to_string())),
        409 | 412 => Failure::Final(StoreError::Precondition(key.to_string())),
        429 | 500 | 502 | 503 | 504 => Failure::Transient(format!("HTTP {status}: {}", snippet(body))),
        _ => Failure::Final(StoreError::Other(format!("{key}: HTTP {status}: {}", snippet(body)))),
    }
}

/// A ListObjectsV2 answer: `Contents` (`Key`, `Size`, `ETag`, `LastModified`), `CommonPrefixes` and
/// `IsTruncated`, the elements a [`Listing`] holds. S3's answer is a flat document of attribute-free elements,
/// so one pass over its tags reads it: the text after each opening tag is that element's (unescaped:
/// `&quot;` around ETags, as AWS writes them).
pub(super) fn parse_listing(xml: &[u8]) -> Result<Listing, String> {
    let xml = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut out = Listing::default();
    // The entry being read (inside `<Contents>`) and its key, and whether we are inside `<CommonPrefixes>`.
    let mut entry: Option<(Option<String>, ListEntry)> = None;
    let mut in_prefixes = false;
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        let gt = rest[lt..].find('>').ok_or("an unterminated tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        let text = &rest[..rest.find('<').unwrap_or(rest.len())];
        match (tag, entry.as_mut()) {
            ("Contents", _) => {
                let blank = ListEntry { key: String::new(), size: 0, etag: None, last_modified: 0.0 };
                entry = Some((None, blank));
            }
            ("/Contents", _) => {
                let (key, e) = entry.take().ok_or("a stray </Contents>")?;
                out.objects.push(ListEntry { key: key.ok_or("an entry without a Key")?, ..e });
            }
            ("Key", Some((key, _))) => *key = Some(unescape(text)?),
            ("ETag", Some((_, e))) => e.etag = Some(unescape(text)?),
            ("Size", Some((_, e))) => e.size = text.trim().parse().unwrap_or(0),
            ("LastModified", Some((_, e))) => {
                e.last_modified =
                    aws_smithy_types::DateTime::from_str(text.trim(), aws_smithy_types::date_time::Format::DateTime)
                        .map(|t| t.as_secs_f64())
                        .unwrap_or(0.0);
            }
            ("CommonPrefixes", _) => in_prefixes = true,
            ("/CommonPrefixes", _) => in_prefixes = false,
            ("Prefix", _) if in_prefixes => out.prefixes.push(unescape(text)?),
            ("IsTruncated", _) => out.truncated = text.trim() == "true",
            _ => {}
        }
    }
    if entry.is_some() {
        return Err("an unterminated <Contents>".into());
    }
    Ok(out)
}

/// XML text with its entity and character references replaced.
fn unescape(text: &str) -> Result<String, String> {
    if !text.contains('&') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let end = rest[amp..].find(';').ok_or_else(|| format!("an unterminated reference in {text:?}"))? + amp;
        let name = &rest[amp + 1..end];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => name.strip_prefix('#').and_then(|d| d.parse().ok()),
                };
                code.and_then(char::from_u32).ok_or_else(|| format!("an unknown reference &{name}; in {text:?}"))?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The start of an error body (S3 XML), for messages.
fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as AWS S3 writes it (ETags quoted with `&quot;`, keys escaped), and the emulator's.
    #[test]
    fn listings_parse_as_s3_writes_them() {
        let aws = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount>
<MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
<Contents><Key>p/a&amp;b &lt;1&gt;</Key><LastModified>2026-12-03T18:26:37.011Z</LastModified>
<ETag>&quot;908ea4f854d86723e0a06f17775eb82f&quot;</ETag><Size>579032</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>p/&#252;&#x263A;</Key><ETag>"e-2"</ETag><Size>0</Size></Contents>
<CommonPrefixes><Prefix>p/x/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>p/y&apos;/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let l = parse_listing(aws).unwrap();
        assert!(l.truncated);
        let keys: Vec<&str> = l.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["p/a&b <1>", "p/\u{fc}\u{263a}"]);
        assert_eq!(l.objects[0].etag.as_deref(), Some("\"908ea4f854d86723e0a06f17775eb82f\""));
        assert_eq!(l.objects[0].size, 579032);
        assert!((l.objects[0].last_modified - 1_796_322_397.011).abs() < 1e-3, "{}", l.objects[0].last_modified);
        assert_eq!((l.objects[1].etag.as_deref(), l.objects[1].last_modified), (Some("\"e-2\""), 0.0));
        assert_eq!(l.prefixes, ["p/x/", "p/y'/"]);
        let empty = parse_listing(b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").unwrap();
        assert!(!empty.truncated && empty.objects.is_empty() && empty.prefixes.is_empty());
        assert!(parse_listing(b"<Contents><Size>1</Size></Contents>").is_err());
        assert!(parse_listing(b"<Contents><Key>k</Key>").is_err());
        assert!(parse_listing(b"<Contents><Key>a&bogus;</Key></Contents>").is_err());
    }
}
