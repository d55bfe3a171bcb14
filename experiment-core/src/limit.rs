//! Rate limits per destination or host, shared by every sender in the process (a Slack
//! channel, `www.twse.com.tw`).
//!
//! Built on `governor` (GCRA) with a clock on tokio's time, so a paused test clock controls it.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::Quota;

/// Nanoseconds since the clock's origin, on tokio's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokioInstant(u64);

impl Add<Nanos> for TokioInstant {
    type Output = Self;
    fn add(self, other: Nanos) -> Self {
        TokioInstant(self.0.saturating_add(other.as_u64()))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_sub(earlier.0))
    }
    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(self.0.saturating_sub(duration.as_u64()))
    }
}

/// A governor clock reading `tokio::time::Instant`.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = TokioInstant;
    fn now(&self) -> TokioInstant {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.origin);
        TokioInstant(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// A rate: `per_second` messages a second on average, with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained messages per second (may be below 1, e.g. 0.5 for one every two seconds).
    pub per_second: f64,
    /// Messages allowed back to back.
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Quota {
        let per = Duration::from_secs_f64(1.0 / self.per_second.max(1e-6));
        Quota::with_period(per)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN))
    }
}

type Gcra =
    governor::RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// One destination's limiter.
pub struct RateLimiter {
    inner: Gcra,
    clock: TokioClock,
    rate: Rate,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rate", &self.rate)
            .finish()
    }
}

impl RateLimiter {
    /// A limiter of its own (not shared).
    pub fn new(rate: Rate) -> Self {
        let clock = TokioClock::default();
        RateLimiter {
            inner: governor::RateLimiter::direct_with_clock(rate.quota(), clock.clone()),
            clock,
            rate,
        }
    }

    /// The limiter registered for `key` and `rate` in this process, created on first use.
    /// Every sender of one destination (say, one Slack channel) with the same rate shares it;
    /// a caller asking for another rate gets a limiter of its own rather than silently
    /// inheriting the first caller's.
    pub fn shared(key: &str, rate: Rate) -> Arc<RateLimiter> {
        static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<RateLimiter>>>> = OnceLock::new();
        let mut map = REGISTRY
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.entry(format!("{key}@{}/{}", rate.per_second, rate.burst))
            .or_insert_with(|| Arc::new(RateLimiter::new(rate)))
            .clone()
    }

    /// Waits until one more message is allowed.
    ///
    /// # Cancel safety
    /// Cancel safe: a cancelled wait takes no capacity.
    pub async fn acquire(&self) {
        while let Err(not_until) = self.inner.check() {
            tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
        }
    }
}

/// The longest wait a server may impose on us (`Retry-After`, a body's `retry_after`): an
/// hour. A longer or absurd value (`1e20`) is read as this, so no server can stall delivery
/// for days or make time arithmetic overflow.
pub const MAX_SERVER_DELAY: Duration = Duration::from_secs(3600);

/// A wait a server asked for, in seconds: `None` unless it is a finite number >= 0, and at
/// most [`MAX_SERVER_DELAY`]. Every `Retry-After` is read through this one rule.
///
/// ```
/// use std::time::Duration;
/// use experiment_core::limit::{server_delay, MAX_SERVER_DELAY};
/// assert_eq!(server_delay(1.5), Some(Duration::from_millis(1500)));
/// assert_eq!(server_delay(1e20), Some(MAX_SERVER_DELAY));
/// assert_eq!(server_delay(f64::NAN), None);
/// assert_eq!(server_delay(-1.0), None);
/// ```
pub fn server_delay(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(
        Duration::try_from_secs_f64(secs.min(MAX_SERVER_DELAY.as_secs_f64()))
            .unwrap_or(MAX_SERVER_DELAY),
    )
}

/// [`server_delay`] of a header's text (`"2"`, `" 1.5 "`); dates are not read.
pub fn server_delay_text(text: &str) -> Option<Duration> {
    text.trim().parse::<f64>().ok().and_then(server_delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_sustained_rate() {
        let limiter = RateLimiter::new(Rate {
            per_second: 1.0,
            burst: 3,
        });
        let start = tokio::time::Instant::now();
        let mut times = Vec::new();
        for _ in 0..6 {
            limiter.acquire().await;
            times.push(start.elapsed());
        }
        assert!(
            times[..3].iter().all(|t| *t < Duration::from_millis(1)),
            "{times:?}"
        );
        for w in times[2..].windows(2) {
            assert!(w[1] - w[0] >= Duration::from_millis(999), "{times:?}");
        }
    }

    #[test]
    fn shared_limiters_are_shared_by_key() {
        let rate = Rate {
            per_second: 1.0,
            burst: 3,
        };
        let a = RateLimiter::shared("slack:C1", rate);
        let b = RateLimiter::shared("slack:C1", rate);
        let c = RateLimiter::shared("slack:C2", rate);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        let slower = RateLimiter::shared(
            "slack:C1",
            Rate {
                per_second: 0.5,
                burst: 1,
            },
        );
        assert!(
            !Arc::ptr_eq(&a, &slower),
            "another rate is never silently shared"
        );
    }
}
