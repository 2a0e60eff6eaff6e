//! Lambda's asynchronous (Event) invocation queue: the caller gets 202 at once; the event runs when an
//! instance is free, and a failed attempt (function error, timeout, crash) is retried under the same
//! request id, by default twice, after one and then two minutes (Lambda's `MaximumRetryAttempts` and
//! its retry schedule; both configurable so tests can use short delays). Every retry is logged.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::sandbox::{Admission, InvokeError, Invoked, Sandbox};

/// The wait before retry number `retry` (1-based): `first_delay × retry`, i.e. 1 then 2 minutes on Lambda.
pub fn retry_delay(first_delay: Duration, retry: u32) -> Duration {
    first_delay * retry
}

/// What made an attempt fail, as Lambda's metrics and logs name it: the sandbox error type
/// (`Sandbox.Timedout`, `Runtime.ExitError`, `Runtime.OutOfMemory`, ...) or the function's own `errorType`.
pub fn failure_type(done: &Invoked) -> String {
    if done.report.status == Some("timeout") {
        return "Sandbox.Timedout".into();
    }
    if let Some(t) = &done.report.error_type {
        return t.clone();
    }
    serde_json::from_slice::<serde_json::Value>(&done.payload)
        .ok()
        .and_then(|v| v.get("errorType").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_else(|| "Unhandled".into())
}

/// The log line written when attempt `attempt` (1-based) of `attempts` failed.
pub fn failure_line(request_id: &str, attempt: u32, attempts: u32, why: &str, next: Option<Duration>) -> String {
    let then = match next {
        Some(d) => format!("retrying in {:.3} s", d.as_secs_f64()),
        None if attempts == 1 => "not retried (MaximumRetryAttempts 0); event discarded".into(),
        None => "no retries left; event discarded".into(),
    };
    format!("ASYNC RequestId: {request_id}\tattempt {attempt} of {attempts} failed: {why}\t{then}")
}

fn log(sandbox: &Sandbox, line: &str) {
    if sandbox.config().print_logs {
        println!("{line}");
    }
    tracing::info!("{line}");
}

/// Queues `event` for asynchronous invocation under `request_id`, with the function's retry settings.
pub fn enqueue(
    sandbox: Arc<Sandbox>,
    request_id: String,
    event: Bytes,
    client_context: Option<String>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let retries = sandbox.config().event_max_retries;
        let first_delay = sandbox.config().event_retry_delay;
        let attempts = retries + 1;
        for attempt in 1..=attempts {
            let result =
                sandbox.invoke_as(request_id.clone(), event.clone(), client_context.clone(), Admission::Wait).await;
            let why = match result {
                Ok(done) if !done.function_error => return,
                Ok(done) => failure_type(&done),
                Err(InvokeError::ShuttingDown) => return,
                Err(e) => e.to_string(),
            };
            let next = (attempt < attempts).then(|| retry_delay(first_delay, attempt));
            log(&sandbox, &failure_line(&request_id, attempt, attempts, &why, next));
            match next {
                Some(d) => tokio::time::sleep(d).await,
                None => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_schedule_is_one_then_two_minutes() {
        let first = Duration::from_secs(60);
        assert_eq!(retry_delay(first, 1), Duration::from_secs(60));
        assert_eq!(retry_delay(first, 2), Duration::from_secs(120));
    }

    fn failed(payload: &str, status: Option<&'static str>, error_type: Option<&str>) -> Invoked {
        Invoked {
            request_id: "r".into(),
            payload: Bytes::from(payload.to_string()),
            function_error: true,
            log: String::new(),
            report: crate::sandbox::Report {
                duration_ms: 1.0,
                billed_ms: 1,
                memory_mb: 128,
                max_memory_used_mb: 10,
                init_duration_ms: None,
                status,
                error_type: error_type.map(str::to_string),
            },
        }
    }

    #[test]
    fn failures_are_named_like_lambda() {
        assert_eq!(
            failure_type(&failed(r#"{"errorType":"Sandbox.Timedout"}"#, Some("timeout"), None)),
            "Sandbox.Timedout"
        );
        assert_eq!(failure_type(&failed("{}", Some("error"), Some("Runtime.ExitError"))), "Runtime.ExitError");
        assert_eq!(failure_type(&failed(r#"{"errorType":"Boom","errorMessage":"x"}"#, None, None)), "Boom");
        assert_eq!(failure_type(&failed("not json", None, None)), "Unhandled");
    }

    #[test]
    fn failure_lines() {
        assert_eq!(
            failure_line("r1", 1, 3, "Sandbox.Timedout", Some(Duration::from_secs(60))),
            "ASYNC RequestId: r1\tattempt 1 of 3 failed: Sandbox.Timedout\tretrying in 60.000 s"
        );
        assert_eq!(
            failure_line("r1", 3, 3, "Boom", None),
            "ASYNC RequestId: r1\tattempt 3 of 3 failed: Boom\tno retries left; event discarded"
        );
        assert!(failure_line("r1", 1, 1, "Boom", None).contains("MaximumRetryAttempts 0"));
    }
}
