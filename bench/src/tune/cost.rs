//! Lambda prices, per-invocation cost, duration statistics and the cheapest/fastest/balanced choice.
//! Pure functions: no I/O.

use serde::Serialize;

/// A processor architecture Lambda bills differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// x86_64.
    X86_64,
    /// arm64 (Graviton), ~20 % cheaper per GB-s.
    Arm64,
}

impl Arch {
    /// Both, in report order.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// The name Lambda uses.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// Prices in USD (us-east-1 first tier by default, reference/lambda-and-s3.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prices {
    /// Duration price per GB-second on x86_64.
    pub x86_64_gb_s: f64,
    /// Duration price per GB-second on arm64.
    pub arm64_gb_s: f64,
    /// Price of one million requests.
    pub per_million_requests: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices { x86_64_gb_s: 0.000_016_666_7, arm64_gb_s: 0.000_013_333_4, per_million_requests: 0.20 }
    }
}

impl Prices {
    /// The GB-s price of `arch`.
    pub fn gb_s(&self, arch: Arch) -> f64 {
        match arch {
            Arch::X86_64 => self.x86_64_gb_s,
            Arch::Arm64 => self.arm64_gb_s,
        }
    }

    /// Duration cost of `billed_ms` at `memory_mb` (billed ms already include INIT on a cold start, as
    /// Lambda bills INIT since August 2025).
    pub fn duration_cost(&self, arch: Arch, memory_mb: u32, billed_ms: f64) -> f64 {
        billed_ms / 1000.0 * (memory_mb as f64 / 1024.0) * self.gb_s(arch)
    }

    /// Full cost of one invocation: duration plus the request charge.
    pub fn invocation_cost(&self, arch: Arch, memory_mb: u32, billed_ms: f64) -> f64 {
        self.duration_cost(arch, memory_mb, billed_ms) + self.per_million_requests / 1e6
    }
}

/// Percentiles (nearest rank) and means of a sample, in the sample's unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Mean after discarding the top and bottom 20 % (Power Tuning's `discardTopBottom` default).
    pub trimmed_mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values` (empty → all zero).
    pub fn of(values: &[f64]) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let rank = |p: f64| v[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        let cut = (n as f64 * 0.2).floor() as usize;
        let kept = if n > 2 * cut { &v[cut..n - cut] } else { &v[..] };
        Summary {
            n,
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            mean: v.iter().sum::<f64>() / n as f64,
            trimmed_mean: kept.iter().sum::<f64>() / kept.len() as f64,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// One candidate for the recommendation: an index into the caller's list, its cost and duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Caller's index.
    pub index: usize,
    /// Cost per invocation.
    pub cost: f64,
    /// Representative duration (ms).
    pub duration: f64,
}

/// Cheapest, fastest and balanced picks (indices into the candidates' `index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Picks {
    /// Lowest cost (ties: faster).
    pub cheapest: usize,
    /// Lowest duration (ties: cheaper).
    pub fastest: usize,
    /// Lowest `w·cost/max_cost + (1-w)·duration/max_duration`, Power Tuning's balanced strategy.
    pub balanced: usize,
}

/// Picks among `candidates` (None when empty); `weight` is Power Tuning's `balancedWeight` (0 = speed, 1 = cost).
pub fn pick(candidates: &[Candidate], weight: f64) -> Option<Picks> {
    let by = |key: &dyn Fn(&Candidate) -> (f64, f64)| {
        candidates
            .iter()
            .min_by(|a, b| key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal))
            .map(|c| c.index)
    };
    let max_cost = candidates.iter().map(|c| c.cost).fold(f64::MIN_POSITIVE, f64::max);
    let max_dur = candidates.iter().map(|c| c.duration).fold(f64::MIN_POSITIVE, f64::max);
    Some(Picks {
        cheapest: by(&|c| (c.cost, c.duration))?,
        fastest: by(&|c| (c.duration, c.cost))?,
        balanced: by(&|c| (weight * c.cost / max_cost + (1.0 - weight) * c.duration / max_dur, c.cost))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_follow_gb_seconds() {
        let p = Prices::default();
        // 1 s at 1024 MB is one GB-s.
        assert!((p.duration_cost(Arch::X86_64, 1024, 1000.0) - 0.0000166667).abs() < 1e-12);
        // Power Tuning's base cost per ms at 128 MB (x86) is ~2.1e-9.
        assert!((p.duration_cost(Arch::X86_64, 128, 1.0) - 2.083e-9).abs() < 1e-11);
        assert!(p.duration_cost(Arch::Arm64, 1024, 1000.0) < p.duration_cost(Arch::X86_64, 1024, 1000.0));
        assert!((p.invocation_cost(Arch::X86_64, 1024, 0.0) - 0.2e-6).abs() < 1e-15);
    }

    #[test]
    fn summary_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&v);
        assert_eq!((s.p50, s.p95, s.p99, s.min, s.max), (50.0, 95.0, 99.0, 1.0, 100.0));
        assert_eq!(s.mean, 50.5);
        assert_eq!(s.trimmed_mean, 50.5);
        let s = Summary::of(&[1.0, 1.0, 1.0, 1.0, 100.0]);
        assert_eq!(s.trimmed_mean, 1.0, "the outlier is trimmed");
        assert_eq!(Summary::of(&[]).n, 0);
    }

    #[test]
    fn picks_cheapest_fastest_balanced() {
        let c = [
            Candidate { index: 0, cost: 1.0, duration: 100.0 },
            Candidate { index: 1, cost: 1.2, duration: 40.0 },
            Candidate { index: 2, cost: 3.0, duration: 35.0 },
        ];
        let p = pick(&c, 0.5).unwrap();
        assert_eq!((p.cheapest, p.fastest, p.balanced), (0, 2, 1));
        assert_eq!(pick(&c, 1.0).unwrap().balanced, 0);
        assert_eq!(pick(&c, 0.0).unwrap().balanced, 2);
        assert!(pick(&[], 0.5).is_none());
    }
}
