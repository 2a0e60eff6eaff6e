//! Fan-out of store requests: how many one route keeps in flight, and the helpers that run them.

use std::future::Future;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::error::ApiResult;

/// How many store requests one route keeps in flight.
pub const CONCURRENCY: usize = 16;

/// Runs `futs` with at most [`CONCURRENCY`] in flight; results in order; stops at the first error.
pub async fn run_all<T, F: Future<Output = ApiResult<T>>>(futs: Vec<F>) -> ApiResult<Vec<T>> {
    stream::iter(futs).buffered(CONCURRENCY).try_collect().await
}

/// Runs `futs` with at most [`CONCURRENCY`] in flight and returns every output, in order.
pub async fn collect_all<T, F: Future<Output = T>>(futs: Vec<F>) -> Vec<T> {
    stream::iter(futs).buffered(CONCURRENCY).collect().await
}
