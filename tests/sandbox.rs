//! Lambda's execution-environment behaviour, driven through the Invoke API with a tiny Python function:
//! Runtime API headers and environment, timeouts, crashes, function errors, memory limit, throttling.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{start, test_function, Opts, TestStack};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn stack(tweak: impl FnOnce(&mut Opts)) -> TestStack {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Opts::with(test_function(dir.path()));
    tweak(&mut opts);
    let t = start(opts).await;
    // Keep the function's directory alive as long as the stack.
    std::mem::forget(dir);
    t
}

struct Answer {
    status: StatusCode,
    function_error: Option<String>,
    log: String,
    body: Value,
}

async fn invoke(t: &TestStack, event: Value) -> Answer {
    let r = t
        .http
        .post(t.url("/2015-03-31/functions/hslambda/invocations"))
        .header("x-amz-log-type", "Tail")
        .json(&event)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let function_error = r.headers().get("x-amz-function-error").map(|v| v.to_str().unwrap().to_string());
    let log = r
        .headers()
        .get("x-amz-log-result")
        .map(|v| String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v.as_bytes()).unwrap()).unwrap())
        .unwrap_or_default();
    let body = r.json().await.unwrap_or(Value::Null);
    Answer { status, function_error, log, body }
}

#[tokio::test]
async fn runtime_api_headers_and_lambda_environment() {
    let t = stack(|o| o.timeout = Duration::from_secs(7)).await;
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let a = invoke(&t, json!({"hello": "world"})).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["event"], json!({"hello": "world"}));
    let h = &a.body["headers"];
    assert_eq!(h["lambda-runtime-invoked-function-arn"], "arn:aws:lambda:us-east-1:123456789012:function:hslambda");
    assert!(h["lambda-runtime-trace-id"].as_str().unwrap().starts_with("Root=1-"));
    let id = h["lambda-runtime-aws-request-id"].as_str().unwrap();
    assert!(a.log.contains(&format!("START RequestId: {id} Version: $LATEST")), "{}", a.log);
    assert!(a.log.contains("handling None"), "the function's own output is in the tail: {}", a.log);
    let deadline: i64 = h["lambda-runtime-deadline-ms"].as_str().unwrap().parse().unwrap();
    assert!((deadline - before - 7000).abs() < 2000, "deadline is epoch ms now + timeout: {deadline} vs {before}");
    let env = &a.body["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "hslambda");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "1024");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["BUCKET_NAME"], "hsdstest");
    assert_eq!(env["AWS_S3_GATEWAY"], format!("http://{}", t.stack.s3_addr));
    assert_eq!(env["AWS_LC_SYS_NO_JITTER_ENTROPY"], "1");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/hslambda");
    assert!(env["AWS_ACCESS_KEY_ID"].is_string() && env["AWS_SECRET_ACCESS_KEY"].is_string());
}

#[tokio::test]
async fn timeouts_kill_the_instance_and_answer_sandbox_timedout() {
    let t = stack(|o| o.timeout = Duration::from_secs(1)).await;
    let a = invoke(&t, json!({"action": "sleep", "seconds": 5})).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(a.body["errorType"], "Sandbox.Timedout");
    let msg = a.body["errorMessage"].as_str().unwrap();
    assert!(msg.starts_with("RequestId: ") && msg.ends_with("Error: Task timed out after 1.00 seconds"), "{msg}");
    assert!(a.log.contains("\tStatus: timeout"), "{}", a.log);
    // The environment was reset: the next invocation is a cold start.
    let a = invoke(&t, json!({})).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.log.contains("Init Duration"), "{}", a.log);
}

#[tokio::test]
async fn crashes_are_runtime_exit_errors_and_function_errors_pass_through() {
    let t = stack(|_| {}).await;
    let a = invoke(&t, json!({"action": "exit", "code": 42})).await;
    assert_eq!(a.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(a.body["errorType"], "Runtime.ExitError");
    assert!(a.body["errorMessage"].as_str().unwrap().ends_with("Runtime exited with error: exit status 42"));
    assert!(a.log.contains("\tStatus: error\tError Type: Runtime.ExitError"), "{}", a.log);

    // Over Lambda's 6 MB response limit.
    let a = invoke(&t, json!({"action": "big"})).await;
    assert_eq!(a.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(a.body["errorType"], "Function.ResponseSizeTooLarge", "{}", a.body);

    let a = invoke(&t, json!({"action": "error"})).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(a.body, json!({"errorType": "Boom", "errorMessage": "it went boom"}));
    // A handled function error keeps the instance warm.
    let a = invoke(&t, json!({})).await;
    assert!(!a.log.contains("Init Duration"), "{}", a.log);
}

#[tokio::test]
async fn exceeding_the_memory_size_is_runtime_out_of_memory() {
    let t = stack(|o| o.memory_mb = 128).await;
    let a = invoke(&t, json!({"action": "alloc", "mb": 300})).await;
    assert_eq!(a.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(a.body["errorType"], "Runtime.OutOfMemory", "{}", a.body);
    assert!(a.log.contains("Error Type: Runtime.OutOfMemory"), "{}", a.log);
    // Under the limit is fine, and the peak is measured.
    let a = invoke(&t, json!({"action": "alloc", "mb": 40})).await;
    assert!(a.function_error.is_none(), "{}", a.body);
    let report = a.log.lines().find(|l| l.starts_with("REPORT")).unwrap().to_string();
    let used: u64 = report.split("Max Memory Used: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((40..128).contains(&used), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invoke_api_throttles_at_the_concurrency_limit() {
    let t = Arc::new(stack(|o| o.concurrency = 1).await);
    let busy = {
        let t = t.clone();
        tokio::spawn(async move { invoke(&t, json!({"action": "sleep", "seconds": 1.5})).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = t.http.post(t.url("/2015-03-31/functions/hslambda/invocations")).body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["x-amzn-errortype"], "TooManyRequestsException");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
    // The front door queues instead of failing.
    let r = t.http.get(t.url("/anything")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(busy.await.unwrap().status, StatusCode::OK);
}

#[tokio::test]
async fn event_invocations_are_accepted_then_run() {
    let t = stack(|_| {}).await;
    let r = t
        .http
        .post(t.url("/2015-03-31/functions/hslambda/invocations"))
        .header("x-amz-invocation-type", "Event")
        .json(&json!({"action": "sleep", "seconds": 0.2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(t.stack.sandbox.idle_count(), 0, "answered before the function ran");
    let t0 = std::time::Instant::now();
    while t.stack.sandbox.idle_count() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(10), "the queued event never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(t.stack.sandbox.live_count(), 1);
}
