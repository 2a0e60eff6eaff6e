//! The parameters of the value routes, read as HSDS 1.0.2 reads them (`chunk_sn.py`, `util/dsetUtil.py`):
//! `fields`, `query`, `Limit`, `element_count`, `append`, `append_dim` and the selection (`select`, or
//! `start`/`stop`/`step`) may come in a JSON request body as well as in the query string. The body wins,
//! except for `select`, which is an error when given in both places. `ignore_nan` and `reduce_dim` are
//! query-string parameters only.

use serde_json::{Map, Value};

use crate::api::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::request::Request;

/// The query string and, for a JSON request, the body object.
pub struct Params<'r> {
    req: &'r Request,
    /// The JSON body object (`None` for binary bodies and for routes that read no body).
    pub body: Option<Map<String, Value>>,
}

/// Python truthiness of a JSON value, which HSDS uses to decide whether a body key "is set".
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// One term of a selection given as JSON (a body `select` list item, or a `start`/`stop`/`step` value), in
/// the text form HSDS builds from it with Python's `str()`; anything but an integer or a string is left as
/// text that the selection parser rejects, as `int()` does in HSDS.
fn term_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(term_text).collect::<Vec<_>>().join(",")),
        other => format!("<{other}>"),
    }
}

/// `start`/`stop`/`step` values as per-dimension lists (a bare value is one dimension).
fn bound_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// `_getSelectionStringFromRequestBody`: `{"start": [..], "stop": [..], "step": [..]}` as `[a:b:s,...]`.
fn bounds_select(body: &Map<String, Value>) -> ApiResult<String> {
    let start = bound_list(&body["start"]);
    let stop = bound_list(&body["stop"]);
    if start.len() != stop.len() {
        return Err(ApiError::bad_request("Invalid selection: start and stop values have different ranks"));
    }
    let step = body.get("step").map(bound_list);
    if step.as_ref().is_some_and(|s| s.len() != start.len()) {
        return Err(ApiError::bad_request("Invalid selection: step has a different rank from start and stop"));
    }
    let terms: Vec<String> = (0..start.len())
        .map(|i| {
            let mut t = format!("{}:{}", term_text(&start[i]), term_text(&stop[i]));
            if let Some(s) = step.as_ref().filter(|s| truthy(&Value::Array(s.to_vec()))) {
                t.push(':');
                t.push_str(&term_text(&s[i]));
            }
            t
        })
        .collect();
    Ok(format!("[{}]", terms.join(",")))
}

impl<'r> Params<'r> {
    /// The query string only: GET routes and binary bodies.
    pub fn query_string(req: &'r Request) -> Self {
        Params { req, body: None }
    }

    /// The query string and the body of a JSON request (400 when the body is not a JSON object); the query
    /// string only when the body is binary.
    pub fn with_body(ctx: &Ctx<'r>) -> ApiResult<Self> {
        if ctx.req.body_is_binary() {
            return Ok(Self::query_string(ctx.req));
        }
        Ok(Params { req: ctx.req, body: Some(ctx.body_object()?) })
    }

    /// A key of the body, if the request has one.
    pub fn body_value(&self, key: &str) -> Option<&Value> {
        self.body.as_ref()?.get(key)
    }

    /// A query-string parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.req.get_param(key)
    }

    /// A text parameter: the body's if it has the key (a string; a falsy value counts as absent), else the
    /// query string's; `None` when empty.
    fn text(&self, key: &str) -> ApiResult<Option<String>> {
        let v = match self.body_value(key) {
            Some(Value::String(s)) => s.clone(),
            Some(v) if !truthy(v) => return Ok(None),
            Some(v) => return Err(ApiError::bad_request(format!("{key} must be a string, got {v}"))),
            None => self.param(key).unwrap_or_default().to_string(),
        };
        Ok(Some(v).filter(|s| !s.is_empty()))
    }

    /// `fields` (`a:b`).
    pub fn fields(&self) -> ApiResult<Option<String>> {
        self.text("fields")
    }

    /// `query`.
    pub fn query(&self) -> ApiResult<Option<String>> {
        self.text("query")
    }

    /// `Limit` (0: no limit; negative counts as none, as in HSDS).
    pub fn limit(&self) -> ApiResult<usize> {
        let n = match self.body_value("Limit") {
            Some(v) => v.as_i64().ok_or_else(|| ApiError::bad_request("Limit must be an integer"))?,
            None => match self.param("Limit") {
                None => 0,
                Some(l) => l.trim().parse().map_err(|_| ApiError::bad_request("Limit param must be positive int"))?,
            },
        };
        Ok(n.max(0) as usize)
    }

    /// `element_count`: a JSON integer in the body, or an integer in the query string.
    pub fn element_count(&self) -> ApiResult<Option<u64>> {
        let n =
            match self.body_value("element_count") {
                Some(v) => Some(v.as_i64().ok_or_else(|| {
                    ApiError::bad_request(format!("expected int value for element_count, but got: {v}"))
                })?),
                None => match self.param("element_count") {
                    None => None,
                    Some(s) => Some(s.trim().parse().map_err(|_| ApiError::bad_request("invalid element_count"))?),
                },
            };
        // 0 and negative counts broadcast over no selection: HSDS's "not compatible with selection shape"
        n.map(|n| {
            u64::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::bad_request(format!("element_count {n} not compatible with the selection shape"))
            })
        })
        .transpose()
    }

    /// `append` (rows to add): set when the body's or the query string's value is truthy.
    pub fn append(&self) -> ApiResult<Option<u64>> {
        let n: i64 = match self.body_value("append").filter(|v| truthy(v)) {
            Some(Value::Number(n)) => n.as_f64().map(|x| x.trunc() as i64).unwrap_or(0),
            Some(Value::String(s)) => {
                s.trim().parse().map_err(|_| ApiError::bad_request("invalid append value in body"))?
            }
            Some(Value::Bool(_)) => 1,
            Some(_) => return Err(ApiError::bad_request("invalid append value in body")),
            None => match self.param("append").filter(|s| !s.is_empty()) {
                None => return Ok(None),
                Some(s) => s.trim().parse().map_err(|_| ApiError::bad_request("invalid append query param"))?,
            },
        };
        match n {
            0 => Ok(None),
            n if n < 0 => Err(ApiError::bad_request("append must be a positive number of rows")),
            n => Ok(Some(n as u64)),
        }
    }

    /// `append_dim` (default 0), the body's if it has the key.
    pub fn append_dim(&self) -> ApiResult<i64> {
        let bad = || ApiError::bad_request("invalid append_dim");
        match self.body_value("append_dim").filter(|v| !v.is_null()) {
            Some(Value::Number(n)) => n.as_i64().ok_or_else(bad),
            Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
            Some(_) => Err(bad()),
            None => self.param("append_dim").map_or(Ok(0), |s| s.trim().parse().map_err(|_| bad())),
        }
    }

    /// `isSelect`: whether a selection is named — `select` in the query string or the body, or a truthy
    /// `start`, `stop` or `step` in the body.
    pub fn is_select(&self) -> bool {
        if self.param("select").is_some_and(|s| !s.is_empty()) {
            return true;
        }
        ["select", "start", "stop", "step"].iter().any(|k| self.body_value(k).is_some_and(truthy))
    }

    /// `getSelectParam`: the selection text — the body's `select` (a string, or a list of terms), else its
    /// `start` and `stop` (with `step`), else the query string's `select`; 400 when given in both places.
    pub fn select_text(&self) -> ApiResult<Option<String>> {
        let from_body = match &self.body {
            Some(b) if b.get("select").is_some_and(truthy) => Some(match &b["select"] {
                Value::String(s) => s.clone(),
                Value::Array(items) => format!("[{}]", items.iter().map(term_text).collect::<Vec<_>>().join(",")),
                other => return Err(ApiError::bad_request(format!("Invalid selection: {other}"))),
            }),
            Some(b) if b.contains_key("start") && b.contains_key("stop") => Some(bounds_select(b)?),
            _ => None,
        };
        match (from_body, self.param("select").filter(|s| !s.is_empty())) {
            (Some(_), Some(_)) => Err(ApiError::bad_request(
                "Invalid selection: select defined in both request body and query parameters",
            )),
            (Some(s), None) => Ok(Some(s)),
            (None, q) => Ok(q.map(str::to_string)),
        }
    }
}
