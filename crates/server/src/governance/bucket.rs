//! Token-bucket arithmetic (pure), shared by the in-process backend and, line for line, by the
//! Redis Lua script (`ratelimit.lua`), so both backends decide alike.
//!
//! A bucket holds `level` units (it starts full at `quota`) and refills at `quota / w` per
//! second, never above `quota`. Time is in microseconds. The level is an `f64` because the
//! refill is fractional; these are rate limits, not accounts (credits use integer nano-USD).
//! Comparisons allow [`EPSILON`] so that refills that add up to a whole unit in exact arithmetic
//! (three thirds) do not miss it by one rounding error.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Slack in level comparisons, in units.
pub const EPSILON: f64 = 1e-9;

/// What one step does to one bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Take `amount` if the level covers it (request units, before the upstream call). Only
    /// taken when every bucket of the step allows.
    Take(f64),
    /// Allow if anything is left (tokens and cents, before the upstream call); takes nothing.
    Peek,
    /// Subtract `amount` unconditionally, possibly below zero (the real usage, after the answer).
    Deduct(f64),
}

/// The level after refilling from `last_us` to `now_us`.
pub fn refill(level: f64, last_us: i64, now_us: i64, quota: f64, window_secs: u32) -> f64 {
    if now_us <= last_us {
        return level.min(quota);
    }
    let added = (now_us - last_us) as f64 * quota / (f64::from(window_secs) * 1_000_000.0);
    (level + added).min(quota)
}

/// Whether a bucket at `level` lets `mode` through.
pub fn admits(level: f64, mode: Mode) -> bool {
    match mode {
        Mode::Take(amount) => level + EPSILON >= amount,
        Mode::Peek => level > EPSILON,
        Mode::Deduct(_) => true,
    }
}

/// The level after the step, given whether the whole step was allowed.
pub fn apply(level: f64, mode: Mode, step_allowed: bool) -> f64 {
    match mode {
        Mode::Take(amount) if step_allowed => level - amount,
        Mode::Deduct(amount) => level - amount,
        _ => level,
    }
}

/// Whether a bucket is full (equivalent to no bucket at all, so it can be forgotten).
pub fn is_full(level: f64, quota: f64) -> bool {
    level + EPSILON >= quota
}

/// Microseconds until the bucket is full again.
pub fn micros_to_full(level: f64, quota: f64, window_secs: u32) -> u64 {
    if is_full(level, quota) {
        return 0;
    }
    ((quota - level) * f64::from(window_secs) * 1_000_000.0 / quota).ceil() as u64
}

/// What a client is told about one bucket after a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// Whole units left (0 when in debt).
    pub remaining: u64,
    /// Seconds until the bucket is full.
    pub reset_secs: u64,
    /// Seconds until `mode` would be admitted, when it was not.
    pub retry_after_secs: Option<u64>,
}

/// The report for a bucket left at `level` after a step; `admitted` is this bucket's own
/// verdict (`level` is then the unchanged level it was judged on).
pub fn report(level: f64, quota: f64, window_secs: u32, mode: Mode, admitted: bool) -> Report {
    let secs_until = |target: f64| (target - level).max(0.0) * f64::from(window_secs) / quota;
    // At least 1: "retry now" would only be refused again.
    let retry_after_secs = (!admitted).then(|| match mode {
        // A take passes once the level reaches the amount.
        Mode::Take(amount) => (secs_until(amount).ceil() as u64).max(1),
        // A peek needs the level strictly above zero: the first whole second after the debt is
        // repaid.
        _ => secs_until(0.0).floor() as u64 + 1,
    });
    Report {
        remaining: (level + EPSILON).max(0.0).floor() as u64,
        reset_secs: micros_to_full(level, quota, window_secs).div_ceil(1_000_000),
        retry_after_secs,
    }
}

/// Where the in-process backend reads the time; tests inject a [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    /// Microseconds since the Unix epoch.
    fn now_us(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told (tests, simulations).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_us: i64) -> ManualClock {
        ManualClock(AtomicI64::new(start_us))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms * 1000, Ordering::SeqCst);
    }

    pub fn set_us(&self, us: i64) {
        self.0.store(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_us(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirds_add_up_to_a_whole_unit() {
        // 20 per 60 s is one every 3 s; three 1 s refills must admit one request.
        let mut level = 0.0;
        for s in 0..3 {
            level = refill(level, s * 1_000_000, (s + 1) * 1_000_000, 20.0, 60);
        }
        assert!(admits(level, Mode::Take(1.0)), "{level}");
        assert!(!admits(
            refill(0.0, 0, 2_999_000, 20.0, 60),
            Mode::Take(1.0)
        ));
    }

    #[test]
    fn report_counts_time_to_full_and_retry() {
        let r = report(0.0, 20.0, 60, Mode::Take(1.0), false);
        assert_eq!(r.remaining, 0);
        assert_eq!(r.reset_secs, 60);
        assert_eq!(r.retry_after_secs, Some(3));
        let r = report(-10.0, 100.0, 60, Mode::Peek, false);
        assert_eq!(
            r.retry_after_secs,
            Some(7),
            "10 units of debt at 100/60 per s: 6 s, then > 0"
        );
        assert_eq!(r.reset_secs, 66);
        let r = report(100.0, 100.0, 60, Mode::Peek, true);
        assert_eq!(
            (r.remaining, r.reset_secs, r.retry_after_secs),
            (100, 0, None)
        );
    }
}
