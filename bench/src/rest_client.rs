//! A minimal HDF REST API client for the test bench (race scenarios, tuning workloads): just the calls the
//! bench makes, with Basic auth and JSON/binary bodies, over plain HTTP to the front door.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One response: status, JSON body (or `Null`), raw bytes and how long it took.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Parsed JSON body, `Value::Null` when the body is not JSON.
    pub json: Value,
    /// Raw body.
    pub bytes: bytes::Bytes,
    /// Wall time of the request.
    pub elapsed: Duration,
}

impl Reply {
    /// True for 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client bound to one endpoint, user and domain.
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    endpoint: String,
    user: String,
    password: String,
    /// The domain every request is about (`?domain=`).
    pub domain: String,
}

impl RestClient {
    /// A client for `endpoint` (e.g. `http://127.0.0.1:5101`) acting as `user` on `domain`.
    pub fn new(endpoint: &str, user: &str, password: &str, domain: &str) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("reqwest client");
        RestClient {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            user: user.into(),
            password: password.into(),
            domain: domain.into(),
        }
    }

    /// The same client with a different per-request timeout (default 120 s), e.g. to tell a hang from a
    /// slow answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http =
            reqwest::Client::builder().pool_max_idle_per_host(256).timeout(timeout).build().expect("reqwest client");
        self
    }

    /// Sends one request; `params` are added after `domain`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<Body>,
        binary_reply: bool,
    ) -> anyhow::Result<Reply> {
        let mut q: Vec<(&str, String)> = vec![("domain", self.domain.clone())];
        q.extend(params.iter().cloned());
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.endpoint, path))
            .query(&q)
            .basic_auth(&self.user, Some(&self.password));
        if binary_reply {
            rb = rb.header("accept", "application/octet-stream");
        }
        rb = match body {
            None => rb,
            Some(Body::Json(v)) => rb.header("content-type", "application/json").body(v.to_string()),
            Some(Body::Binary(b)) => rb.header("content-type", "application/octet-stream").body(b),
        };
        let t0 = Instant::now();
        let rsp = rb.send().await?;
        let status = rsp.status().as_u16();
        let bytes = rsp.bytes().await?;
        let elapsed = t0.elapsed();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, json, bytes, elapsed })
    }

    /// GET with JSON reply.
    pub async fn get(&self, path: &str, params: &[(&str, String)]) -> anyhow::Result<Reply> {
        self.send(reqwest::Method::GET, path, params, None, false).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, params: &[(&str, String)], body: Value) -> anyhow::Result<Reply> {
        self.send(reqwest::Method::PUT, path, params, Some(Body::Json(body)), false).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, params: &[(&str, String)], body: Value) -> anyhow::Result<Reply> {
        self.send(reqwest::Method::POST, path, params, Some(Body::Json(body)), false).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, params: &[(&str, String)]) -> anyhow::Result<Reply> {
        self.send(reqwest::Method::DELETE, path, params, None, false).await
    }

    /// Creates the client's domain (201 expected) and returns its root group id.
    pub async fn create_domain(&self) -> anyhow::Result<String> {
        let r = self.put("/", &[], json!({})).await?;
        anyhow::ensure!(r.status == 201, "creating domain {} failed: {} {}", self.domain, r.status, r.json);
        Ok(r.json["root"].as_str().unwrap_or_default().to_string())
    }

    /// Creates a dataset linked as `name` under `parent`; returns its id.
    pub async fn create_dataset(&self, parent: &str, name: &str, mut spec: Value) -> anyhow::Result<String> {
        spec["link"] = json!({"id": parent, "name": name});
        let r = self.post("/datasets", &[], spec).await?;
        anyhow::ensure!(r.status == 201, "creating dataset {name} failed: {} {}", r.status, r.json);
        Ok(r.json["id"].as_str().unwrap_or_default().to_string())
    }
}

/// A request body.
pub enum Body {
    /// JSON text.
    Json(Value),
    /// Raw bytes (`application/octet-stream`).
    Binary(Vec<u8>),
}
