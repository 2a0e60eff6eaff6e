//! Paging of sorted listings: the `Limit` and `Marker` query parameters.

use super::Ctx;
use crate::error::{ApiError, ApiResult};

/// The `Limit` query parameter; 400 when it is not a non-negative integer.
pub fn limit_param(ctx: &Ctx<'_>) -> ApiResult<Option<usize>> {
    match ctx.req.get_param("Limit") {
        None | Some("") => Ok(None),
        Some(s) => s
            .trim()
            .parse::<usize>()
            .map(|n| (n > 0).then_some(n))
            .map_err(|_| ApiError::bad_request(format!("Limit must be a non-negative integer, got {s:?}"))),
    }
}

/// The `Limit` of a link or attribute listing as HSDS's data node applies it: a negative one lists nothing
/// (its `range(start, start + limit)` is empty), 0 or none lists everything; 400 when not an integer.
pub fn listing_limit(ctx: &Ctx<'_>) -> ApiResult<Option<usize>> {
    match ctx.req.get_param("Limit").map(str::trim) {
        Some(s) if s.parse::<i64>().is_ok_and(|n| n < 0) => Ok(Some(0)),
        _ => limit_param(ctx),
    }
}

/// Pages a sorted list: items after `marker` (exclusive, by key), at most `limit`.
pub fn page<T>(items: Vec<T>, marker: Option<&str>, limit: Option<usize>, key: impl Fn(&T) -> &str) -> Vec<T> {
    let start = match marker.filter(|m| !m.is_empty()) {
        Some(m) => items.iter().position(|it| key(it) == m).map_or(items.len(), |i| i + 1),
        None => 0,
    };
    items.into_iter().skip(start).take(limit.unwrap_or(usize::MAX)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging() {
        let v: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(page(v.clone(), Some("b"), Some(1), |s| s), vec!["c"]);
        assert_eq!(page(v.clone(), None, Some(2), |s| s), vec!["a", "b"]);
        assert!(page(v, Some("zz"), None, |s| s).is_empty());
    }
}
