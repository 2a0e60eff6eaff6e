//! The retry schedule of a compare-and-swap loop: how long to back off after a lost race, and when to give
//! up.
//!
//! A fixed small attempt count gives up too early when many invocations hammer one object (32 writers on
//! one chunk lost 24 races in a row 7–18 % of the time). Instead a loop keeps retrying for as long as the
//! invocation has time: until the deadline margin ([`crate::deadline`]) would not leave room for one more
//! attempt, and never longer than [`MAX_CONTENTION_WAIT`] (so the function answers a clean 503 before API
//! Gateway's 30 s integration timeout would answer one for it while the write still runs on).
//!
//! **Age priority.** The pause after a lost race shrinks with the time the writer has already spent on this
//! compare-and-swap ([`pause_ceiling`]): a newcomer that loses its first race waits up to
//! [`NEWCOMER_CEILING`], the ceiling halves every [`HALF_LIFE`] of waiting, down to [`VETERAN_CEILING`]. So
//! the writers that have waited longest retry most often and win the next free slot, and the order of
//! success approaches first-come-first-served. The classic schedule (a ceiling that *doubles* per lost race,
//! 2 → 256 ms) did the opposite: a writer that had lost many races slept up to 256 ms while newcomers
//! retried after 2 ms and won, so with 32 writers on one object a few writers lost again and again (p50
//! ~100 ms but p99 1.7–2.6 s). Polite newcomers also keep the number of writers retrying at once small, so
//! fewer attempts are wasted on a contended object. The price is paid at low contention: the loser of a
//! two-writer race waits 192–256 ms instead of a few. Jitter (a pause is uniform in
//! [3/4 × ceiling, ceiling]) keeps writers of the same age from colliding again in lock-step. The first
//! attempt never waits, so an uncontended update stays one GET and one conditional PUT.
//!
//! Measured (BENCHMARKS.md, "Age-priority back-off"): 32 writers × 20 rounds on one object, p99 0.67–0.81 s
//! instead of 1.7–2.6 s. The constants are fixed times, so they do not scale with the cost of one attempt:
//! at 32 × 100 on a loaded machine (JSON objects of 3200 entries, ~15 ms per success) the tail is shorter
//! for links and chunks but still 1.8–8 s for attributes and ACLs.

use std::time::{Duration, Instant};

use super::StoreError;

/// Longest one compare-and-swap keeps retrying lost races, whatever the invocation deadline.
pub const MAX_CONTENTION_WAIT: Duration = Duration::from_secs(20);
/// Ceiling of the pause of a writer that has just started (its first lost race): long enough for a queue of
/// ~32 writers on one object to drain ahead of it (one success takes a few milliseconds).
pub const NEWCOMER_CEILING: Duration = Duration::from_millis(256);
/// Every this much time spent waiting halves the pause ceiling.
pub const HALF_LIFE: Duration = Duration::from_millis(150);
/// Smallest pause ceiling, reached after about six [`HALF_LIFE`]s: the writers that have waited longest
/// retry about every 2 ms (plus their attempt's own duration).
pub const VETERAN_CEILING: Duration = Duration::from_millis(2);
/// Time a compare-and-swap leaves unused before the deadline margin, so that when one chunk of a write gives
/// up, the chunks already written can still be taken back ([`CasRetry::for_cleanup`]).
pub const CLEANUP_RESERVE: Duration = Duration::from_millis(500);

/// The retry state of one compare-and-swap on `key`.
#[derive(Debug)]
pub struct CasRetry {
    key: String,
    lost: u32,
    give_up_at: Instant,
    /// When the first attempt started: the writer's age for [`backoff`].
    started: Instant,
    attempt_started: Instant,
}

impl CasRetry {
    /// Starts the schedule for one compare-and-swap of `key`: it may retry until [`MAX_CONTENTION_WAIT`]
    /// from now or [`CLEANUP_RESERVE`] before the invocation deadline's margin, whichever comes first.
    pub fn new(key: &str) -> CasRetry {
        Self::with_reserve(key, CLEANUP_RESERVE)
    }

    /// The schedule of a clean-up after a failed write: it may use the time [`CasRetry::new`] keeps in
    /// reserve, up to the deadline margin.
    pub fn for_cleanup(key: &str) -> CasRetry {
        Self::with_reserve(key, Duration::ZERO)
    }

    fn with_reserve(key: &str, reserve: Duration) -> CasRetry {
        let now = Instant::now();
        let budget = crate::deadline::remaining()
            .map_or(MAX_CONTENTION_WAIT, |left| left.saturating_sub(reserve).min(MAX_CONTENTION_WAIT));
        CasRetry { key: key.to_string(), lost: 0, give_up_at: now + budget, started: now, attempt_started: now }
    }

    /// Lost races so far.
    pub fn lost(&self) -> usize {
        self.lost as usize
    }

    /// Marks the start of an attempt; fails with [`StoreError::Deadline`] when the invocation has no time
    /// left to start one.
    pub fn begin_attempt(&mut self) -> Result<(), StoreError> {
        crate::deadline::check(&format!("updating {}", self.key))?;
        self.attempt_started = Instant::now();
        Ok(())
    }

    /// After a lost race: sleeps the [`backoff`] for the writer's age and returns `Ok` for another attempt,
    /// or fails with [`StoreError::Contention`] when the back-off plus an attempt as long as the last one
    /// would not end before the give-up time.
    pub async fn lost_race(&mut self) -> Result<(), StoreError> {
        let now = Instant::now();
        let last_attempt = now.saturating_duration_since(self.attempt_started);
        let pause = backoff(now.saturating_duration_since(self.started));
        self.lost += 1;
        if now + pause + last_attempt > self.give_up_at {
            return Err(StoreError::Contention(self.key.clone()));
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

/// The largest pause of a writer that has been trying for `waited`: [`NEWCOMER_CEILING`] halved once per
/// [`HALF_LIFE`] of `waited`, never below [`VETERAN_CEILING`]. Never grows with `waited`, so a writer that
/// has waited longer never gets a higher ceiling than one that came later.
pub fn pause_ceiling(waited: Duration) -> Duration {
    let halvings = waited.as_secs_f64() / HALF_LIFE.as_secs_f64();
    let us = NEWCOMER_CEILING.as_micros() as f64 * 0.5f64.powf(halvings);
    Duration::from_micros(us.round() as u64).max(VETERAN_CEILING)
}

/// The pause before the next attempt of a writer that has been trying for `waited`: uniformly random in
/// [3/4 × ceiling, ceiling] of [`pause_ceiling`], so writers of one age spread out while the order by age
/// mostly holds.
pub fn backoff(waited: Duration) -> Duration {
    let ceiling = pause_ceiling(waited).as_micros() as u64;
    Duration::from_micros(rand::random_range(ceiling - ceiling / 4..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::{with_deadline, MARGIN};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn older_writers_never_get_a_higher_ceiling() {
        let ages: Vec<Duration> = (0..=2000).map(ms).collect();
        for pair in ages.windows(2) {
            assert!(pause_ceiling(pair[1]) <= pause_ceiling(pair[0]), "{pair:?}");
        }
        assert_eq!(pause_ceiling(Duration::ZERO), NEWCOMER_CEILING);
        assert_eq!(pause_ceiling(HALF_LIFE), NEWCOMER_CEILING / 2);
        assert_eq!(pause_ceiling(MAX_CONTENTION_WAIT), VETERAN_CEILING);
    }

    /// First-come-first-served as far as jitter allows: once a writer has waited half a [`HALF_LIFE`], its
    /// longest pause is no longer than a newcomer's shortest, so it retries first.
    #[test]
    fn a_waiting_writer_never_pauses_longer_than_a_newcomer() {
        let newcomer_shortest = NEWCOMER_CEILING - NEWCOMER_CEILING / 4;
        for age in [HALF_LIFE / 2, HALF_LIFE, ms(400), ms(1000), MAX_CONTENTION_WAIT] {
            for _ in 0..1000 {
                let older = backoff(age);
                let newcomer = backoff(Duration::ZERO);
                assert!(older <= pause_ceiling(age) && older >= pause_ceiling(age) * 3 / 4, "{age:?}");
                assert!(older <= newcomer_shortest && newcomer >= newcomer_shortest, "{age:?}: {older:?}");
            }
        }
    }

    #[tokio::test]
    async fn gives_up_with_contention_before_the_deadline_margin() {
        let deadline = Instant::now() + MARGIN + CLEANUP_RESERVE + Duration::from_millis(150);
        let out: Result<(), StoreError> = with_deadline(Some(deadline), async {
            let mut retry = CasRetry::new("k");
            loop {
                retry.begin_attempt()?;
                retry.lost_race().await?;
            }
        })
        .await;
        assert_eq!(out, Err(StoreError::Contention("k".into())));
    }
}
