//! The invocation deadline, so the handler stops starting new S3 work when Lambda is about to kill it and
//! answers 504 itself, instead of being killed half-way through a write.
//!
//! The deadline is a tokio task-local set around one request ([`with_deadline`]); store operations call
//! [`check`] before they start and bound their own duration with [`remaining`]. Outside a request (tests,
//! tools) there is no deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::store::StoreError;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Time kept in reserve before the deadline: enough to encode and return an error response.
pub const MARGIN: Duration = Duration::from_millis(300);

/// Runs `fut` with `deadline` as the current request's deadline.
pub async fn with_deadline<F: Future>(deadline: Option<Instant>, fut: F) -> F::Output {
    match deadline {
        Some(d) => DEADLINE.scope(d, fut).await,
        None => fut.await,
    }
}

/// Time left for new work (deadline minus [`MARGIN`]); `None` when no deadline is set.
pub fn remaining() -> Option<Duration> {
    DEADLINE.try_with(|d| d.saturating_duration_since(Instant::now()).saturating_sub(MARGIN)).ok()
}

/// Fails with [`StoreError::Deadline`] when no time is left to start `what`.
pub fn check(what: &str) -> Result<(), StoreError> {
    match remaining() {
        Some(left) if left.is_zero() => Err(StoreError::Deadline(what.to_string())),
        _ => Ok(()),
    }
}

/// Converts Lambda's deadline (epoch milliseconds) into an `Instant`.
pub fn from_epoch_ms(deadline_ms: u64) -> Instant {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_deadline_outside_requests() {
        assert!(remaining().is_none());
        assert!(check("x").is_ok());
    }

    #[tokio::test]
    async fn near_deadline_refuses_new_work() {
        let soon = Instant::now() + Duration::from_millis(100);
        let r = with_deadline(Some(soon), async { check("put chunk") }).await;
        assert_eq!(r, Err(StoreError::Deadline("put chunk".into())));
        let later = Instant::now() + Duration::from_secs(10);
        assert!(with_deadline(Some(later), async { check("put chunk") }).await.is_ok());
    }
}
