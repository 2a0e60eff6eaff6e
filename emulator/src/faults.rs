//! S3 fault injection, per key prefix: added latency (on every request, or as occasional spikes), a rate
//! of 500 InternalError / 503 SlowDown answers, a rate of dropped connections (closed without an
//! answer, before the request is served), and a rate of *ambiguous writes*: a PUT, POST or DELETE that is
//! applied and then fails (answered 500, or its connection dropped, at random), so the client cannot
//! tell whether its write happened — what S3 does when a response is lost after the write.
//!
//! Rules are given at start (`--s3-fault prefix=db/,latency=50,rate=0.1,status=503,drop=0.02,after=0.05`) and can be
//! replaced while running through the admin route (`PUT /_emulator/s3/faults` with a JSON list).
//! [`Faults::counts`] says how many requests arrived and how many faults of each kind were injected since
//! start. The dice are a seedable generator ([`Faults::reseed`]): a soak run with a given seed draws the same
//! sequence of faults (which request gets which draw still depends on scheduling).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::s3_latency::S3Model;

/// One fault rule; the first rule whose prefix matches a key applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Key prefix the rule applies to (empty: every request, bucket operations included).
    #[serde(default)]
    pub prefix: String,
    /// Latency added before the request is served, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Fraction (0..=1) of requests the latency is added to (1, the default: every request; lower values
    /// make occasional latency spikes).
    #[serde(default = "always")]
    pub latency_rate: f64,
    /// Fraction (0..=1) of requests answered with `status` instead of being served.
    #[serde(default)]
    pub error_rate: f64,
    /// The injected status: 503 (SlowDown, the default) or 500 (InternalError).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Fraction (0..=1) of requests whose connection is closed without an answer (a dropped connection).
    #[serde(default)]
    pub drop_rate: f64,
    /// Fraction (0..=1) of writes (PUT, POST, DELETE) that are applied and then fail: answered 500
    /// InternalError or dropped, at random, after the write stands.
    #[serde(default)]
    pub after_rate: f64,
}

fn default_status() -> u16 {
    503
}

fn always() -> f64 {
    1.0
}

/// Parses a fraction field of a rule spec.
fn fraction(name: &str, v: &str) -> Result<f64, String> {
    v.parse().map_err(|_| format!("fault {name} {v:?} is not a number"))
}

impl FaultRule {
    /// Parses `prefix=db/,latency=50ms,latency_rate=0.05,rate=0.1,status=503,drop=0.01,after=0.05` (every field
    /// optional).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rule = FaultRule::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| format!("fault field {part:?} is not key=value"))?;
            match k.trim() {
                "prefix" => rule.prefix = v.to_string(),
                "latency" | "latency_ms" => {
                    rule.latency_ms = v
                        .trim_end_matches("ms")
                        .parse()
                        .map_err(|_| format!("fault latency {v:?} is not a number of milliseconds"))?;
                }
                "latency_rate" => rule.latency_rate = fraction("latency_rate", v)?,
                "rate" | "error_rate" => rule.error_rate = fraction("rate", v)?,
                "status" => rule.status = v.parse().map_err(|_| format!("fault status {v:?} is not a number"))?,
                "drop" | "drop_rate" => rule.drop_rate = fraction("drop", v)?,
                "after" | "after_rate" => rule.after_rate = fraction("after", v)?,
                other => {
                    return Err(format!(
                        "unknown fault field {other:?} (prefix, latency, latency_rate, rate, status, drop, after)"
                    ))
                }
            }
        }
        rule.validate()?;
        Ok(rule)
    }

    /// Checks the rates are fractions and the status one S3 would send.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("rate", self.error_rate),
            ("latency_rate", self.latency_rate),
            ("drop", self.drop_rate),
            ("after", self.after_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("fault {name} {rate} must be between 0 and 1"));
            }
        }
        if self.status != 500 && self.status != 503 {
            return Err(format!("fault status {} must be 500 or 503", self.status));
        }
        Ok(())
    }
}

impl Default for FaultRule {
    /// No fault: every prefix, no latency, no errors, no drops (status 503 once a rate is set).
    fn default() -> Self {
        FaultRule {
            prefix: String::new(),
            latency_ms: 0,
            latency_rate: 1.0,
            error_rate: 0.0,
            status: 503,
            drop_rate: 0.0,
            after_rate: 0.0,
        }
    }
}

/// How many requests arrived and how many faults were injected since the table was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultCounts {
    /// HTTP requests that reached the S3 server (faulted or not): tests count retries with it.
    pub requests: u64,
    /// Requests answered 503 SlowDown.
    pub slow_down_503: u64,
    /// Requests answered 500 InternalError.
    pub internal_500: u64,
    /// Connections closed without an answer.
    pub dropped: u64,
    /// Requests delayed by a rule's latency.
    pub delayed: u64,
    /// Writes applied and then failed (500 or dropped after the write stood).
    pub applied_then_failed: u64,
}

impl FaultCounts {
    /// All injected faults together (`requests` is not a fault).
    pub fn total(&self) -> u64 {
        self.slow_down_503 + self.internal_500 + self.dropped + self.delayed + self.applied_then_failed
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    slow_down_503: AtomicU64,
    internal_500: AtomicU64,
    dropped: AtomicU64,
    delayed: AtomicU64,
    applied_then_failed: AtomicU64,
}

/// The fault dice: seeded from the OS unless [`Faults::reseed`] gives a seed. The instance killer
/// ([`crate::kills`]) rolls its own dice of this kind, seeded the same way.
#[derive(Debug)]
pub(crate) struct Dice(Mutex<StdRng>);

impl Default for Dice {
    fn default() -> Self {
        Dice(Mutex::new(StdRng::from_os_rng()))
    }
}

impl Dice {
    /// True with probability `rate` (never draws for a zero rate, so rules without faults use no numbers).
    pub(crate) fn hit(&self, rate: f64) -> bool {
        rate > 0.0 && self.fraction() < rate
    }

    /// A number drawn uniformly from `0..1`.
    pub(crate) fn fraction(&self) -> f64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).random::<f64>()
    }

    /// Restarts the dice from `seed`.
    pub(crate) fn reseed(&self, seed: u64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = StdRng::seed_from_u64(seed);
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serve it.
    None,
    /// Answer with this status.
    Status(u16),
}

/// The live fault table, shared by the S3 server and the admin route.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<RwLock<Vec<FaultRule>>>,
    /// Optional latency model applied to every request (see [`crate::s3_latency`]).
    model: Arc<RwLock<Option<S3Model>>>,
    counters: Arc<Counters>,
    dice: Arc<Dice>,
}

impl Faults {
    /// A table holding `rules`, its dice seeded from the OS.
    pub fn new(rules: Vec<FaultRule>) -> Self {
        Faults {
            rules: Arc::new(RwLock::new(rules)),
            model: Arc::default(),
            counters: Arc::default(),
            dice: Arc::default(),
        }
    }

    /// Restarts the dice from `seed` (the soak's `--seed`), so a run's faults can be drawn again.
    pub fn reseed(&self, seed: u64) {
        self.dice.reseed(seed);
    }

    /// The current rules.
    pub async fn get(&self) -> Vec<FaultRule> {
        self.rules.read().await.clone()
    }

    /// Replaces the rules.
    pub async fn set(&self, rules: Vec<FaultRule>) {
        *self.rules.write().await = rules;
    }

    /// The first rule whose prefix matches `key`.
    async fn rule_for(&self, key: &str) -> Option<FaultRule> {
        self.rules.read().await.iter().find(|r| key.starts_with(&r.prefix)).cloned()
    }

    /// Applies the first matching rule to a request for `key`: sleeps its latency (at its latency rate), then
    /// rolls its error rate.
    pub async fn roll(&self, key: &str) -> Fault {
        let Some(rule) = self.rule_for(key).await else { return Fault::None };
        let c = &self.counters;
        if rule.latency_ms > 0 && (rule.latency_rate >= 1.0 || self.dice.hit(rule.latency_rate)) {
            c.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(rule.latency_ms)).await;
        }
        if !self.dice.hit(rule.error_rate) {
            return Fault::None;
        }
        let counter = if rule.status == 503 { &c.slow_down_503 } else { &c.internal_500 };
        counter.fetch_add(1, Ordering::Relaxed);
        Fault::Status(rule.status)
    }

    /// Counts one arriving request and rolls the first matching rule's drop rate for it (`key`): true means
    /// close the connection without answering (counted as a dropped connection). Called once per request.
    pub async fn roll_drop(&self, key: &str) -> bool {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let dropped = self.rule_for(key).await.is_some_and(|r| self.dice.hit(r.drop_rate));
        if dropped {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        dropped
    }

    /// Rolls the first matching rule's "apply, then fail" rate for a write of `key` that was just served:
    /// `Some(true)` means drop the connection instead of answering, `Some(false)` answer 500 instead, `None`
    /// answer as served. Counted as an ambiguous write either way.
    pub async fn roll_after(&self, key: &str) -> Option<bool> {
        let rule = self.rule_for(key).await?;
        if !self.dice.hit(rule.after_rate) {
            return None;
        }
        self.counters.applied_then_failed.fetch_add(1, Ordering::Relaxed);
        Some(self.dice.hit(0.5))
    }

    /// How many faults of each kind were injected so far.
    pub fn counts(&self) -> FaultCounts {
        let c = &self.counters;
        FaultCounts {
            requests: c.requests.load(Ordering::Relaxed),
            slow_down_503: c.slow_down_503.load(Ordering::Relaxed),
            internal_500: c.internal_500.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            delayed: c.delayed.load(Ordering::Relaxed),
            applied_then_failed: c.applied_then_failed.load(Ordering::Relaxed),
        }
    }

    /// Installs (or with `None` removes) the S3 latency model.
    pub async fn set_model(&self, model: Option<S3Model>) {
        *self.model.write().await = model;
    }

    /// The S3 latency model in force, if any.
    pub async fn model(&self) -> Option<S3Model> {
        *self.model.read().await
    }

    /// Sleeps the modelled latency of a request carrying `bytes` of payload (no-op without a model).
    pub async fn model_delay(&self, bytes: u64) {
        if let Some(m) = self.model().await {
            tokio::time::sleep(m.sample(bytes)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let r = FaultRule::parse("prefix=db/,latency=50ms,rate=0.25,status=500").unwrap();
        let want =
            FaultRule { prefix: "db/".into(), latency_ms: 50, error_rate: 0.25, status: 500, ..Default::default() };
        assert_eq!(r, want);
        assert_eq!(FaultRule::parse("rate=1").unwrap().status, 503);
        let spiky = FaultRule::parse("latency=900,latency_rate=0.05,drop=0.1").unwrap();
        assert_eq!((spiky.latency_rate, spiky.drop_rate), (0.05, 0.1));
        assert!(FaultRule::parse("rate=2").is_err());
        assert!(FaultRule::parse("drop=-0.5").is_err());
        assert!(FaultRule::parse("status=404").is_err());
        assert!(FaultRule::parse("colour=red").is_err());
    }

    #[tokio::test]
    async fn first_matching_prefix_applies() {
        let f = Faults::new(vec![FaultRule::parse("prefix=db/,rate=1,status=500").unwrap()]);
        assert_eq!(f.roll("db/x").await, Fault::Status(500));
        assert_eq!(f.roll("home/x").await, Fault::None);
        assert_eq!(f.counts(), FaultCounts { internal_500: 1, ..Default::default() });
    }

    #[tokio::test]
    async fn drops_are_rolled_and_counted_separately() {
        let f = Faults::new(vec![FaultRule::parse("prefix=db/,drop=1").unwrap()]);
        assert!(f.roll_drop("db/x").await);
        assert!(!f.roll_drop("home/x").await);
        assert_eq!(f.roll("db/x").await, Fault::None, "a drop rule alone answers nothing else");
        assert_eq!(f.counts(), FaultCounts { requests: 2, dropped: 1, ..Default::default() });
    }

    #[tokio::test]
    async fn a_seed_fixes_the_sequence_of_faults() {
        let rules = vec![FaultRule::parse("rate=0.5,drop=0.3").unwrap()];
        let draws = |seed: u64| {
            let f = Faults::new(rules.clone());
            f.reseed(seed);
            async move {
                let mut out = Vec::new();
                for _ in 0..64 {
                    out.push((f.roll_drop("k").await, f.roll("k").await));
                }
                out
            }
        };
        let a = draws(7).await;
        assert_eq!(a, draws(7).await, "the same seed draws the same faults");
        assert_ne!(a, draws(8).await, "another seed draws others");
    }

    #[tokio::test]
    async fn ambiguous_writes_are_rolled_and_counted() {
        let f = Faults::new(vec![FaultRule::parse("prefix=db/,after=1").unwrap()]);
        assert!(f.roll_after("db/x").await.is_some());
        assert!(f.roll_after("home/x").await.is_none());
        assert_eq!(f.roll("db/x").await, Fault::None, "an after rule fails nothing before the write");
        assert_eq!(f.counts(), FaultCounts { applied_then_failed: 1, ..Default::default() });
        assert!(FaultRule::parse("after=1.5").is_err());
    }

    #[test]
    fn rules_without_the_new_fields_still_deserialize() {
        let r: FaultRule = serde_json::from_str(r#"{"prefix": "db/", "error_rate": 0.5}"#).unwrap();
        assert_eq!((r.latency_rate, r.drop_rate, r.after_rate, r.status), (1.0, 0.0, 0.0, 503));
    }
}
