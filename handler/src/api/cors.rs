//! CORS and the headers HSDS puts on every response, so that a browser (h5web, a notebook's fetch) can call
//! the API directly.
//!
//! HSDS 1.0.2 runs `aiohttp_cors` with `cors_domain="*"` on every route. Measured against it: a preflight
//! (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) answers 200 echoing the origin, allowing
//! credentials, the requested method and the requested headers (upper-cased); a preflight without
//! `Origin` is 403. Ordinary responses to a request with `Origin` carry `Access-Control-Allow-Origin`
//! (the origin), `Access-Control-Allow-Credentials` and `Access-Control-Expose-Headers`. Every JSON
//! response carries `Server` (the configured server name, never a language runtime) and
//! `X-XSS-Protection: 1; mode=block`.

use crate::error::ApiError;
use crate::request::{Request, Response};

/// The headers a browser may read from a response, as HSDS exposes them.
const EXPOSE_HEADERS: &str = "Date,Server,Content-Length,X-XSS-Protection";

/// The answer to an `OPTIONS` request on any route.
pub fn preflight(req: &Request) -> Response {
    let Some(origin) = req.get_header("origin") else {
        // HSDS's status; the body is our JSON error shape (the README's "error bodies" row)
        return ApiError::forbidden("CORS preflight request failed: origin header is not specified in the request")
            .to_response();
    };
    let mut rsp = Response::empty(200);
    rsp.headers.push(("Access-Control-Allow-Origin".into(), origin.to_string()));
    rsp.headers.push(("Access-Control-Allow-Credentials".into(), "true".into()));
    if let Some(method) = req.get_header("access-control-request-method") {
        rsp.headers.push(("Access-Control-Allow-Methods".into(), method.to_ascii_uppercase()));
    }
    if let Some(h) = req.get_header("access-control-request-headers") {
        rsp.headers.push(("Access-Control-Allow-Headers".into(), h.to_ascii_uppercase()));
    }
    rsp
}

/// Adds the server, security and (for a request with `Origin`) CORS headers to a response.
pub fn decorate(req: &Request, server_name: &str, rsp: &mut Response) {
    let mut add = |k: &str, v: &str| {
        if rsp.get_header(k).is_none() {
            rsp.headers.push((k.to_string(), v.to_string()));
        }
    };
    add("Server", server_name);
    add("X-XSS-Protection", "1; mode=block");
    if let Some(origin) = req.get_header("origin") {
        add("Access-Control-Allow-Origin", origin);
        add("Access-Control-Allow-Credentials", "true");
        add("Access-Control-Expose-Headers", EXPOSE_HEADERS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_echoes_origin_method_and_headers() {
        let req = Request::new("OPTIONS", "/datasets")
            .header("Origin", "http://viewer.example")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization,content-type");
        let rsp = preflight(&req);
        assert_eq!(rsp.status, 200);
        assert_eq!(rsp.get_header("access-control-allow-origin"), Some("http://viewer.example"));
        assert_eq!(rsp.get_header("access-control-allow-methods"), Some("POST"));
        assert_eq!(rsp.get_header("access-control-allow-headers"), Some("AUTHORIZATION,CONTENT-TYPE"));
    }

    #[test]
    fn preflight_without_origin_is_403_as_in_hsds() {
        assert_eq!(preflight(&Request::new("OPTIONS", "/")).status, 403);
    }

    #[test]
    fn ordinary_responses_get_server_security_and_cors_headers() {
        let req = Request::new("GET", "/about").header("Origin", "http://x");
        let mut rsp = Response::json(200, &serde_json::json!({}));
        decorate(&req, "Highly Scalable Data Service (HSDS)", &mut rsp);
        assert_eq!(rsp.get_header("server"), Some("Highly Scalable Data Service (HSDS)"));
        assert_eq!(rsp.get_header("x-xss-protection"), Some("1; mode=block"));
        assert_eq!(rsp.get_header("access-control-allow-origin"), Some("http://x"));
        let mut plain = Response::json(200, &serde_json::json!({}));
        decorate(&Request::new("GET", "/"), "s", &mut plain);
        assert_eq!(plain.get_header("access-control-allow-origin"), None);
    }
}
