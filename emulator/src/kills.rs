//! Killed instances: at a configured rate, the process running an invocation gets SIGKILL at a random
//! point while it runs — what happens on Lambda when an execution environment is lost (host failure,
//! out-of-memory in a forked helper, a deployment). The caller gets the answer Lambda gives for a
//! crashed runtime (`Runtime.ExitError`, a 500 at the front door), so the request is not acknowledged
//! and the client may retry; whatever the function had written to S3 before the kill stays written.
//!
//! The kill point is drawn uniformly from zero to twice the mean duration of recent invocations, so kills
//! land anywhere in a typical invocation (in a multi-chunk write between two chunk PUTs, in a JSON
//! compare-and-swap between its read and its write); a point after the function answered kills nothing
//! and is not counted. The dice are seeded like the S3 fault dice ([`Kills::reseed`]), so a soak with a
//! given seed draws the same sequence of kills.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::faults::Dice;

/// Mean invocation duration assumed before any invocation finished.
const FIRST_GUESS: Duration = Duration::from_millis(20);

/// The live kill setting of one sandbox: rate, dice, count and the running mean of invocation durations.
#[derive(Debug, Clone, Default)]
pub struct Kills(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    /// The rate as `f64` bits (0: no kills).
    rate: AtomicU64,
    dice: Dice,
    kills: AtomicU64,
    /// Exponential moving mean of finished invocations' durations, in microseconds (0: none yet).
    mean_us: AtomicU64,
}

/// Parses a kill rate: a fraction between 0 and 1 (`--kill-rate 0.05`).
pub fn parse_rate(v: &str) -> Result<f64, String> {
    let rate: f64 = v.trim().parse().map_err(|_| format!("kill rate {v:?} is not a number"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("kill rate {rate} must be between 0 and 1"));
    }
    Ok(rate)
}

impl Kills {
    /// Sets the fraction (0..=1) of invocations whose instance is killed while it runs.
    pub fn set_rate(&self, rate: f64) {
        self.0.rate.store(rate.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// The fraction of invocations whose instance is killed.
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.0.rate.load(Ordering::Relaxed))
    }

    /// Restarts the dice from `seed`, so a run's kills can be drawn again.
    pub fn reseed(&self, seed: u64) {
        self.0.dice.reseed(seed);
    }

    /// How many instances were killed so far.
    pub fn count(&self) -> u64 {
        self.0.kills.load(Ordering::Relaxed)
    }

    /// Rolls the dice for one invocation: `Some(after)` means kill its instance `after` its start.
    pub(crate) fn draw(&self) -> Option<Duration> {
        if !self.0.dice.hit(self.rate()) {
            return None;
        }
        let mean = match self.0.mean_us.load(Ordering::Relaxed) {
            0 => FIRST_GUESS,
            us => Duration::from_micros(us),
        };
        Some((mean * 2).mul_f64(self.0.dice.fraction()))
    }

    /// Counts one instance killed by a draw.
    pub(crate) fn killed(&self) {
        self.0.kills.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a finished invocation's duration to the running mean the kill points are drawn from.
    pub(crate) fn observe(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u32::MAX)) as u64;
        // A racing update may be lost; the mean only shapes where kills land.
        let old = self.0.mean_us.load(Ordering::Relaxed);
        let new = if old == 0 { us } else { (old * 7 + us) / 8 };
        self.0.mean_us.store(new.max(1), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_fractions() {
        assert_eq!(parse_rate("0.05"), Ok(0.05));
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("-0.1").is_err());
        assert!(parse_rate("often").is_err());
    }

    #[test]
    fn no_rate_draws_no_kill_and_a_full_rate_kills_within_twice_the_mean() {
        let k = Kills::default();
        assert!((0..100).all(|_| k.draw().is_none()));
        k.set_rate(1.0);
        k.observe(Duration::from_millis(10));
        for _ in 0..100 {
            let after = k.draw().expect("rate 1 always kills");
            assert!(after < Duration::from_millis(20), "{after:?}");
        }
    }

    #[test]
    fn a_seed_fixes_the_sequence_of_kills() {
        let draws = |seed: u64| {
            let k = Kills::default();
            k.set_rate(0.3);
            k.reseed(seed);
            (0..64).map(|_| k.draw()).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
    }
}
