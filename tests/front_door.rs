//! The real `bootstrap` behind the HTTP front door and the Invoke API.

mod common;

use base64::Engine;
use common::{start, Opts};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn decode_log(resp: &reqwest::Response) -> String {
    let b64 = resp.headers()["x-amz-log-result"].to_str().unwrap();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
}

#[tokio::test]
async fn about_through_the_front_door_reuses_a_warm_instance() {
    let mut opts = Opts::handler();
    opts.users = Some("admin:admin\ntest_user1:test\n".into());
    let t = start(opts).await;
    let r = t.http.get(t.url("/about")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let about: Value = r.json().await.unwrap();
    assert_eq!(about["state"], "READY");
    assert_eq!(about["username"], "anonymous");
    // Basic auth travels through the v2 event's headers; the users file reached the function.
    let about: Value =
        t.http.get(t.url("/about")).basic_auth("admin", Some("admin")).send().await.unwrap().json().await.unwrap();
    assert_eq!(about["username"], "admin");
    let r = t.http.get(t.url("/about")).basic_auth("admin", Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(t.stack.sandbox.live_count(), 1, "sequential requests share one warm instance");
}

fn r_is_json_error(body: &Value) -> bool {
    body.get("error").and_then(|e| e.get("status")).and_then(Value::as_u64) == Some(404)
}

#[tokio::test]
async fn handler_errors_keep_their_status_and_json_body() {
    let t = start(Opts::handler()).await;
    let r = t.http.get(t.url("/no/such/route?domain=/home/x.h5")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("no such resource"), "{body}");
    assert!(r_is_json_error(&body));
}

#[tokio::test]
async fn invoke_api_runs_direct_events_with_tail_logs() {
    let t = start(Opts::handler()).await;
    let url = t.url("/2015-03-31/functions/hslambda/invocations");
    let event = json!({"method": "GET", "path": "/about", "params": {}, "headers": {}});
    let r = t.http.post(&url).header("x-amz-log-type", "Tail").json(&event).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-amz-executed-version"], "$LATEST");
    assert!(r.headers().get("x-amz-function-error").is_none());
    let log = decode_log(&r);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["statusCode"], 200);
    // Direct-invoke contract: headers is a JSON *string*.
    assert!(out["headers"].is_string());
    assert!(log.starts_with("START RequestId: "), "{log}");
    let report = log.lines().find(|l| l.starts_with("REPORT")).unwrap();
    assert!(report.contains("\tInit Duration: "), "first invocation is a cold start: {report}");
    assert!(report.contains("\tMemory Size: 1024 MB\t"), "{report}");
    let used: u64 = report.split("Max Memory Used: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((2..1024).contains(&used), "measured peak RSS, not the memory size: {report}");

    // Warm: no Init Duration.
    let r = t.http.post(&url).header("x-amz-log-type", "Tail").json(&event).send().await.unwrap();
    let log = decode_log(&r);
    assert!(!log.contains("Init Duration"), "{log}");

    // A bad event is the handler's 400, not a function error. (An event with no path at all is the
    // Lambda console's default test event and asks for /about.)
    let r = t.http.post(&url).json(&json!({"method": "GET", "path": ["/"]})).send().await.unwrap();
    assert!(r.headers().get("x-amz-function-error").is_none());
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["statusCode"], 400, "{out}");
}

#[tokio::test]
async fn invoke_api_error_shapes() {
    let t = start(Opts::handler()).await;
    let url = |name: &str| t.url(&format!("/2015-03-31/functions/{name}/invocations"));
    let r = t.http.post(url("other")).body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["x-amzn-errortype"], "ResourceNotFoundException");
    assert!(r.text().await.unwrap().contains("function:other"));
    // Full ARNs name the function too.
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:hslambda";
    let r = t.http.post(url(arn)).header("x-amz-invocation-type", "DryRun").body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.stack.sandbox.live_count(), 0, "DryRun runs nothing");
    let r = t.http.post(url("hslambda")).header("x-amz-invocation-type", "Event").body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(1024 * 1024));
    let r =
        t.http.post(url("hslambda")).header("x-amz-invocation-type", "Event").body(big.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "1 MB async limit");
    assert_eq!(r.headers()["x-amzn-errortype"], "RequestTooLargeException");
    let r = t.http.post(url("hslambda")).header("x-amz-invocation-type", "DryRun").body(big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "under the 6 MB sync limit");
    let huge = format!("{{\"a\":\"{}\"}}", "x".repeat(6 * 1024 * 1024));
    let r = t.http.post(url("hslambda")).body(huge).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "6 MB sync limit");
    let r = t.http.post(url("hslambda")).body("{oops").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidRequestContentException");
}
