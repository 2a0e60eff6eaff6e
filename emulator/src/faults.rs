//! S3 fault injection: added latency and a rate of 500 InternalError / 503 SlowDown answers, per key prefix.
//!
//! Rules are given at start (`--s3-fault prefix=db/,latency=50,rate=0.1,status=503`) and can be
//! replaced while running through the admin route (`PUT /_emulator/s3/faults` with a JSON list).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::s3_model::S3Model;

/// One fault rule; the first rule whose prefix matches a key applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Key prefix the rule applies to (empty: every request, bucket operations included).
    #[serde(default)]
    pub prefix: String,
    /// Latency added before the request is served, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Fraction (0..=1) of requests answered with `status` instead of being served.
    #[serde(default)]
    pub error_rate: f64,
    /// The injected status: 503 (SlowDown, the default) or 500 (InternalError).
    #[serde(default = "default_status")]
    pub status: u16,
}

fn default_status() -> u16 {
    503
}

impl FaultRule {
    /// Parses `prefix=db/,latency=50ms,rate=0.1,status=503` (every field optional).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rule = FaultRule { prefix: String::new(), latency_ms: 0, error_rate: 0.0, status: 503 };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| format!("fault field {part:?} is not key=value"))?;
            match k.trim() {
                "prefix" => rule.prefix = v.to_string(),
                "latency" | "latency_ms" => {
                    rule.latency_ms = v
                        .trim_end_matches("ms")
                        .parse()
                        .map_err(|_| format!("fault latency {v:?} is not a number of milliseconds"))?
                }
                "rate" | "error_rate" => {
                    rule.error_rate = v.parse().map_err(|_| format!("fault rate {v:?} is not a number"))?
                }
                "status" => rule.status = v.parse().map_err(|_| format!("fault status {v:?} is not a number"))?,
                other => return Err(format!("unknown fault field {other:?} (prefix, latency, rate, status)")),
            }
        }
        rule.validate()?;
        Ok(rule)
    }

    /// Checks the rate is a fraction and the status one S3 would send.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!("fault rate {} must be between 0 and 1", self.error_rate));
        }
        if self.status != 500 && self.status != 503 {
            return Err(format!("fault status {} must be 500 or 503", self.status));
        }
        Ok(())
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
    /// Optional latency model applied to every request (see [`crate::s3_model`]).
    model: Arc<RwLock<Option<S3Model>>>,
}

impl Faults {
    /// A table holding `rules`.
    pub fn new(rules: Vec<FaultRule>) -> Self {
        Faults { rules: Arc::new(RwLock::new(rules)), model: Arc::default() }
    }

    /// The current rules.
    pub async fn get(&self) -> Vec<FaultRule> {
        self.rules.read().await.clone()
    }

    /// Replaces the rules.
    pub async fn set(&self, rules: Vec<FaultRule>) {
        *self.rules.write().await = rules;
    }

    /// Applies the first matching rule to a request for `key`: sleeps its latency, then rolls its error rate.
    pub async fn roll(&self, key: &str) -> Fault {
        let rule = self.rules.read().await.iter().find(|r| key.starts_with(&r.prefix)).cloned();
        let Some(rule) = rule else { return Fault::None };
        if rule.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(rule.latency_ms)).await;
        }
        if rule.error_rate > 0.0 && rand::random::<f64>() < rule.error_rate {
            Fault::Status(rule.status)
        } else {
            Fault::None
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
        assert_eq!(r, FaultRule { prefix: "db/".into(), latency_ms: 50, error_rate: 0.25, status: 500 });
        assert_eq!(FaultRule::parse("rate=1").unwrap().status, 503);
        assert!(FaultRule::parse("rate=2").is_err());
        assert!(FaultRule::parse("status=404").is_err());
        assert!(FaultRule::parse("colour=red").is_err());
    }

    #[tokio::test]
    async fn first_matching_prefix_applies() {
        let f = Faults::new(vec![FaultRule::parse("prefix=db/,rate=1,status=500").unwrap()]);
        assert_eq!(f.roll("db/x").await, Fault::Status(500));
        assert_eq!(f.roll("home/x").await, Fault::None);
    }
}
