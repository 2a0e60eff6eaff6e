//! A latency model for the emulator's S3, so chunk-access patterns take realistic time offline.
//!
//! Each S3 request waits a **first-byte latency** drawn from a log-normal distribution (given by its
//! median and 99th percentile, so it has S3's long tail) plus the **transfer time** of its payload at a
//! per-connection bandwidth. Requests run concurrently, each on its own "connection", as the handler's
//! parallel chunk fetches do against real S3.
//!
//! Defaults ([`S3Model::LAMBDA_SAME_REGION`]) resemble S3 read from a Lambda function in the bucket's
//! region:
//! * first byte p50 25 ms: AWS's S3 performance whitepaper ("Timeouts and Retries for Latency-Sensitive
//!   Applications") says median latencies of small (< 512 KB) requests are "often in the tens of
//!   milliseconds"; a public same-region Lambda → S3 measurement (kkc.github.io, 2020) saw 60–130 ms for a
//!   whole 60 KB boto3 upload including connection setup, so 25 ms first byte on a warm connection is
//!   mid-range;
//! * first byte p99 150 ms: the same whitepaper recommends retrying small requests only after 2 s and
//!   re-issuing the slowest 1–5 %, i.e. a tail several times the median;
//! * 90 MB/s per connection: the commonly quoted single-connection S3 throughput (~85–90 MB/s), which is
//!   why AWS recommends parallel (byte-range) requests for throughput.
//!
//! These are assumptions to make durations plausible, not measurements of this machine; every figure is
//! a flag (`--s3-latency p50=25,p99=150,mbps=90`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// z-score of the 99th percentile of a standard normal distribution.
const Z99: f64 = 2.326_347_874;

/// Per-request S3 latency: log-normal first byte plus payload / bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct S3Model {
    /// Median first-byte latency in ms.
    pub first_byte_p50_ms: f64,
    /// 99th-percentile first-byte latency in ms (≥ the median).
    pub first_byte_p99_ms: f64,
    /// Transfer bandwidth of one connection in MB/s (10^6 bytes per second).
    pub mb_per_s: f64,
}

impl S3Model {
    /// S3 from Lambda in the same region (see the module documentation for the sources).
    pub const LAMBDA_SAME_REGION: S3Model =
        S3Model { first_byte_p50_ms: 25.0, first_byte_p99_ms: 150.0, mb_per_s: 90.0 };

    /// Parses `p50=25,p99=150,mbps=90` (fields optional, defaults from [`S3Model::LAMBDA_SAME_REGION`]);
    /// `default` alone means the defaults.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut m = S3Model::LAMBDA_SAME_REGION;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty() && *p != "default") {
            let (k, v) = part.split_once('=').ok_or_else(|| format!("S3 latency field {part:?} is not key=value"))?;
            let num: f64 = v
                .trim()
                .trim_end_matches("ms")
                .parse()
                .map_err(|_| format!("S3 latency field {k}={v:?} is not a number"))?;
            match k.trim() {
                "p50" => m.first_byte_p50_ms = num,
                "p99" => m.first_byte_p99_ms = num,
                "mbps" | "bandwidth" => m.mb_per_s = num,
                other => return Err(format!("unknown S3 latency field {other:?} (p50, p99, mbps)")),
            }
        }
        m.validate()?;
        Ok(m)
    }

    /// Checks the figures make a distribution: positive median, p99 ≥ p50, positive bandwidth.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.first_byte_p50_ms.is_finite() && self.first_byte_p50_ms > 0.0) {
            return Err(format!("S3 first-byte p50 {} ms must be positive", self.first_byte_p50_ms));
        }
        if !(self.first_byte_p99_ms.is_finite() && self.first_byte_p99_ms >= self.first_byte_p50_ms) {
            return Err(format!(
                "S3 first-byte p99 {} ms must be at least the p50 {} ms",
                self.first_byte_p99_ms, self.first_byte_p50_ms
            ));
        }
        if !(self.mb_per_s.is_finite() && self.mb_per_s > 0.0) {
            return Err(format!("S3 bandwidth {} MB/s must be positive", self.mb_per_s));
        }
        Ok(())
    }

    /// σ of the underlying normal distribution.
    fn sigma(&self) -> f64 {
        (self.first_byte_p99_ms / self.first_byte_p50_ms).ln() / Z99
    }

    /// First-byte latency for a standard-normal draw `z` (z = 0 gives the median, z = 2.326 the p99).
    pub fn first_byte_at(&self, z: f64) -> Duration {
        Duration::from_secs_f64(self.first_byte_p50_ms * (self.sigma() * z).exp() / 1000.0)
    }

    /// Time to move `bytes` over one connection.
    pub fn transfer(&self, bytes: u64) -> Duration {
        Duration::from_secs_f64(bytes as f64 / (self.mb_per_s * 1e6))
    }

    /// A random total delay for a request carrying `bytes` of payload (either direction).
    pub fn sample(&self, bytes: u64) -> Duration {
        self.first_byte_at(standard_normal()) + self.transfer(bytes)
    }

    /// One-line description for reports.
    pub fn describe(&self) -> String {
        format!(
            "S3 latency model: first byte p50 {} ms, p99 {} ms (log-normal), {} MB/s per connection",
            self.first_byte_p50_ms, self.first_byte_p99_ms, self.mb_per_s
        )
    }
}

/// A standard-normal draw (Box–Muller).
fn standard_normal() -> f64 {
    let u1: f64 = rand::random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rand::random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Payload bytes of a ranged GET (`bytes=a-b`, `bytes=a-`, `bytes=-n`) of an object of `size` bytes.
pub fn range_len(range: Option<&str>, size: u64) -> u64 {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else { return size };
    let Some((a, b)) = spec.split_once('-') else { return size };
    match (a.trim().parse::<u64>().ok(), b.trim().parse::<u64>().ok()) {
        (Some(a), Some(b)) if b >= a => (b.min(size.saturating_sub(1)) + 1).saturating_sub(a),
        (Some(a), None) => size.saturating_sub(a),
        (None, Some(n)) => n.min(size),
        _ => size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        assert_eq!(S3Model::parse("default").unwrap(), S3Model::LAMBDA_SAME_REGION);
        let m = S3Model::parse("p50=10ms,p99=40,mbps=50").unwrap();
        assert_eq!(m, S3Model { first_byte_p50_ms: 10.0, first_byte_p99_ms: 40.0, mb_per_s: 50.0 });
        assert!(S3Model::parse("p50=30,p99=20").is_err());
        assert!(S3Model::parse("mbps=0").is_err());
        assert!(S3Model::parse("jitter=3").is_err());
    }

    #[test]
    fn percentiles_match_the_parameters() {
        let m = S3Model::LAMBDA_SAME_REGION;
        assert!((m.first_byte_at(0.0).as_secs_f64() * 1000.0 - 25.0).abs() < 1e-9);
        assert!((m.first_byte_at(Z99).as_secs_f64() * 1000.0 - 150.0).abs() < 1e-6);
        // 9 MB at 90 MB/s is 100 ms.
        assert_eq!(m.transfer(9_000_000), Duration::from_millis(100));
    }

    #[test]
    fn sampled_median_is_near_p50() {
        let m = S3Model::LAMBDA_SAME_REGION;
        let mut v: Vec<f64> = (0..4001).map(|_| m.sample(0).as_secs_f64() * 1000.0).collect();
        v.sort_by(f64::total_cmp);
        let median = v[2000];
        assert!((20.0..31.0).contains(&median), "median {median}");
        assert!(v[3960] > 80.0, "a tail: p99 {}", v[3960]);
    }

    #[test]
    fn range_lengths() {
        assert_eq!(range_len(None, 100), 100);
        assert_eq!(range_len(Some("bytes=0-9"), 100), 10);
        assert_eq!(range_len(Some("bytes=90-"), 100), 10);
        assert_eq!(range_len(Some("bytes=-5"), 100), 5);
        assert_eq!(range_len(Some("bytes=95-200"), 100), 5);
    }
}
