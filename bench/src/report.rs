//! What every bench report shares: latency percentiles and their text line, the problems/PASS/FAIL tail of
//! a text report, and printing a report as text or JSON.

use std::time::Duration;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latency {
    /// Percentiles of `samples`.
    pub fn of(samples: &mut [Duration]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
        Latency { p50_ms: at(0.50), p95_ms: at(0.95), p99_ms: at(0.99), max_ms: at(1.0) }
    }

    /// The latency line of a text report (`hslambda soak`, `hslambda load`).
    pub fn line(&self) -> String {
        format!(
            "latency ms      p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}\n",
            self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms
        )
    }
}

/// The end of a text report: each problem found on a line of its own, then PASS or FAIL.
pub fn verdict(problems: &[String], passed: bool) -> String {
    let mut s: String = problems.iter().map(|p| format!("  problem: {p}\n")).collect();
    s += if passed { "PASS\n" } else { "FAIL\n" };
    s
}

/// Prints a run's report on stdout: as JSON when `json`, else as its text.
pub fn print(report: &impl serde::Serialize, json: bool, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", text());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let mut d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&mut d);
        assert_eq!((l.p50_ms.round(), l.max_ms), (51.0, 100.0));
    }

    #[test]
    fn verdict_lists_problems_then_the_outcome() {
        assert_eq!(verdict(&[], true), "PASS\n");
        assert_eq!(verdict(&["x".into()], false), "  problem: x\nFAIL\n");
    }
}
