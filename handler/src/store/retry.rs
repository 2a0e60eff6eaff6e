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
//! fewer attempts are wasted on a contended object. Jitter (a pause is uniform in
//! [3/4 × ceiling, ceiling]) keeps writers of the same age from colliding again in lock-step. The first
//! attempt never waits, so an uncontended update stays one GET and one conditional PUT.
//!
//! **Turns** (JSON objects only, [`CasRetry::taking_turns`]). Age priority alone still let every loser spend
//! attempts on the object: each one reads, parses, changes and writes it whole, and at 32 writers on one
//! object of 3200 attributes the machine was busy with attempts that could not win (p99 2.9–8 s at 32 × 100).
//! So a loser first takes the object's turn ([`super::turn`]) and only the holder retries; the others queue
//! in the turn object, oldest first, and the holder hands the turn to the oldest when done. The writer next in
//! line looks at the turn every [`NEXT_IN_LINE_POLL`], the others no more often than [`TURN_POLL_FLOOR`]. An
//! instance that has just seen the object contended queues its next first attempt too, after [`YIELD`], so
//! the writer that just gave the turn back does not win again at once. Measured: BENCHMARKS.md, "Turns".

use std::time::{Duration, Instant};

use super::turn::{self, Ticket, Turn};
use super::{Store, StoreError};

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
/// Shortest pause of a writer that finds another writer's turn live, whatever its age: each look is a
/// request, and 31 waiters looking every 2 ms kept the store so busy that the holder's own attempts slowed
/// and the queue collapsed (32 writers × 100 on one object's attributes: p99 20 s, 53 writes given up;
/// 8 ms: p99 3.2 s, 16 ms: 2.5 s, 32 ms: 1.9–3.1 s, 64 ms: 3.6 s; BENCHMARKS.md, "Turns").
pub const TURN_POLL_FLOOR: Duration = Duration::from_millis(32);
/// How often the writer first in the turn's queue looks whether the turn has been handed to it: one writer
/// looking at a few hundred bytes, so the hand-over costs the queue milliseconds, not a poll period.
pub const NEXT_IN_LINE_POLL: Duration = Duration::from_millis(4);
/// How long a writer lets pass before its first attempt on an object this instance has just seen contended,
/// so that the writers already queued for the turn can take it first.
pub const YIELD: Duration = Duration::from_millis(32);
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
    /// Whether losers of this compare-and-swap take turns ([`CasRetry::taking_turns`]).
    takes_turns: bool,
    /// Whether this writer holds the object's turn ([`super::turn`]), to hand on in [`CasRetry::finish`].
    holds_turn: bool,
    /// Who this writer is in the turn's queue.
    ticket: Ticket,
    /// Whether this writer has looked at the turn (and so may hold it or be queued for it).
    touched_turn: bool,
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
        CasRetry {
            key: key.to_string(),
            lost: 0,
            give_up_at: now + budget,
            started: now,
            attempt_started: now,
            takes_turns: false,
            holds_turn: false,
            ticket: Ticket::new(),
            touched_turn: false,
        }
    }

    /// The same schedule, but a loser takes the object's turn ([`super::turn`]) before it retries. Worth it
    /// where an attempt is expensive: a JSON object is read, parsed, changed, serialised and written whole on
    /// every attempt, and at 32 writers on an object of 3200 attributes the wasted attempts kept the CPU busy
    /// (p99 2.9 s). A chunk element write is cheap, and there the turn's own requests cost more than they
    /// save (32 writers × 100 on one chunk: 2.6× the wall time, same p99), so chunks do not take turns.
    pub fn taking_turns(mut self) -> CasRetry {
        self.takes_turns = true;
        self
    }

    /// Lost races so far.
    pub fn lost(&self) -> usize {
        self.lost as usize
    }

    /// Marks the start of an attempt; fails with [`StoreError::Deadline`] when the invocation has no time
    /// left to start one. Before the first attempt on an object this instance has recently seen contended
    /// ([`turn::recently_contended`]), the writer lets [`YIELD`] pass and then queues for the turn like a
    /// loser: otherwise the writer that has just given the turn back would win again at once, every time,
    /// while the queue sleeps.
    pub async fn begin_attempt(&mut self, store: &dyn Store, bucket: &str) -> Result<(), StoreError> {
        if self.takes_turns && self.lost == 0 && turn::recently_contended(bucket, &self.key) {
            self.pause(YIELD, Duration::ZERO).await?;
            self.wait_for_turn(store, bucket, Duration::ZERO).await?;
        }
        crate::deadline::check(&format!("updating {}", self.key))?;
        self.attempt_started = Instant::now();
        Ok(())
    }

    /// After a lost race: waits for this writer's next attempt and returns `Ok` when it may make it, or fails
    /// with [`StoreError::Contention`] when a pause plus an attempt as long as the last one would not end
    /// before the give-up time.
    ///
    /// Without turns: the [`backoff`] of the writer's age. With turns ([`CasRetry::taking_turns`]): the
    /// holder of the object's turn ([`super::turn`]) only lost to a newcomer's first attempt, so it pauses
    /// about [`VETERAN_CEILING`] and retries; any other writer tries to take the turn, and while another
    /// writer holds it, queues for it and looks again ([`CasRetry::wait_for_turn`]), so only one loser at a
    /// time spends an attempt on the object.
    pub async fn lost_race(&mut self, store: &dyn Store, bucket: &str) -> Result<(), StoreError> {
        let last_attempt = Instant::now().saturating_duration_since(self.attempt_started);
        self.lost += 1;
        if !self.takes_turns {
            return self.pause(self.age_pause(), last_attempt).await;
        }
        turn::note_contended(bucket, &self.key);
        if self.holds_turn {
            return self.pause(jittered(VETERAN_CEILING), last_attempt).await;
        }
        self.wait_for_turn(store, bucket, last_attempt).await
    }

    /// Takes the turn, or waits in its queue while another writer holds it (looking again every
    /// [`NEXT_IN_LINE_POLL`] when next in line, else on the age's schedule but no more often than
    /// [`poll_pause`]); returns at once when the store cannot tell (as if there were no turns).
    async fn wait_for_turn(&mut self, store: &dyn Store, bucket: &str, attempt: Duration) -> Result<(), StoreError> {
        self.touched_turn = true;
        loop {
            match turn::take(store, bucket, &self.key, self.ticket).await {
                Turn::Mine => {
                    self.holds_turn = true;
                    return Ok(());
                }
                Turn::Unknown => return self.pause(self.age_pause(), attempt).await,
                Turn::Theirs { next: true } => self.pause(jittered(NEXT_IN_LINE_POLL), attempt).await?,
                Turn::Theirs { next: false } => self.pause(self.age_pause().max(poll_pause(attempt)), attempt).await?,
            }
        }
    }

    /// Hands the turn on if this writer holds it, or leaves its queue; call once the compare-and-swap has
    /// ended either way (won, failed or given up).
    pub async fn finish(self, store: &dyn Store, bucket: &str) {
        if self.holds_turn {
            turn::note_contended(bucket, &self.key);
        }
        if self.touched_turn {
            turn::leave(store, bucket, &self.key, self.ticket).await;
        }
    }

    /// The [`backoff`] for this writer's age.
    fn age_pause(&self) -> Duration {
        backoff(self.started.elapsed())
    }

    /// Sleeps `pause`, or fails with `Contention` when the pause plus `attempt` would pass the give-up time.
    async fn pause(&self, pause: Duration, attempt: Duration) -> Result<(), StoreError> {
        if Instant::now() + pause + attempt > self.give_up_at {
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
    jittered(pause_ceiling(waited))
}

/// How long a writer waiting for another writer's turn pauses before it looks again: the longer of
/// [`TURN_POLL_FLOOR`] and its own last attempt (about what the holder's attempt takes), jittered.
fn poll_pause(last_attempt: Duration) -> Duration {
    jittered(last_attempt.max(TURN_POLL_FLOOR))
}

/// Uniformly random in [3/4 × `ceiling`, `ceiling`].
fn jittered(ceiling: Duration) -> Duration {
    let ceiling = ceiling.as_micros() as u64;
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
            let store = crate::store::MemoryStore::new();
            let mut retry = CasRetry::new("k");
            loop {
                retry.begin_attempt(&store, "b").await?;
                retry.lost_race(&store, "b").await?;
            }
        })
        .await;
        assert_eq!(out, Err(StoreError::Contention("k".into())));
    }

    /// While another writer holds the object's turn, a loser does not retry; it gets the turn once the holder
    /// is done, and gives it back itself when done.
    #[tokio::test]
    async fn a_loser_waits_for_the_turn_and_gives_it_back() {
        let store = std::sync::Arc::new(crate::store::MemoryStore::new());
        let (holder, other) = (Ticket::new(), Ticket::new());
        assert_eq!(turn::take(store.as_ref(), "b", "k1", holder).await, Turn::Mine);
        let waiter = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut retry = CasRetry::new("k1").taking_turns();
                retry.begin_attempt(store.as_ref(), "b").await.unwrap();
                retry.lost_race(store.as_ref(), "b").await.unwrap();
                retry
            })
        };
        tokio::time::sleep(NEWCOMER_CEILING * 2).await;
        assert!(!waiter.is_finished(), "the loser retried while another writer held the turn");
        turn::leave(store.as_ref(), "b", "k1", holder).await;
        let retry = waiter.await.unwrap();
        assert!(retry.holds_turn);
        assert_eq!(turn::take(store.as_ref(), "b", "k1", other).await, Turn::Theirs { next: true });
        retry.finish(store.as_ref(), "b").await;
        assert_eq!(turn::take(store.as_ref(), "b", "k1", other).await, Turn::Mine, "handed on to the next in line");
    }

    /// A writer waiting for a live turn looks again no sooner than [`TURN_POLL_FLOOR`], however long it has
    /// waited, and no sooner than its own last attempt took: its looks are requests the holder's attempt
    /// competes with.
    #[test]
    fn a_waiter_looks_at_a_live_turn_no_more_often_than_an_attempt_takes() {
        for _ in 0..100 {
            let p = poll_pause(ms(1));
            assert!(p >= TURN_POLL_FLOOR * 3 / 4 && p <= TURN_POLL_FLOOR, "{p:?}");
            let p = poll_pause(ms(200));
            assert!(p >= ms(150) && p <= ms(200), "{p:?}");
        }
        // A veteran's age alone would have it look every 2 ms.
        assert_eq!(pause_ceiling(Duration::from_secs(5)), VETERAN_CEILING);
    }

    /// After this instance has seen an object contended, even a first attempt queues behind the turn's
    /// holder (else the writer that just gave the turn back would win again at once).
    #[tokio::test]
    async fn a_first_attempt_on_a_recently_contended_object_queues() {
        let store = std::sync::Arc::new(crate::store::MemoryStore::new());
        let mut quiet = CasRetry::new("k2").taking_turns();
        quiet.begin_attempt(store.as_ref(), "b").await.unwrap(); // never contended: goes at once
        turn::note_contended("b", "k2");
        let holder = Ticket::new();
        assert_eq!(turn::take(store.as_ref(), "b", "k2", holder).await, Turn::Mine);
        let first = {
            let store = store.clone();
            tokio::spawn(async move { CasRetry::new("k2").taking_turns().begin_attempt(store.as_ref(), "b").await })
        };
        tokio::time::sleep(YIELD + NEWCOMER_CEILING * 2).await;
        assert!(!first.is_finished(), "a first attempt ignored the turn of a recently contended object");
        turn::leave(store.as_ref(), "b", "k2", holder).await;
        first.await.unwrap().unwrap();
    }
}
