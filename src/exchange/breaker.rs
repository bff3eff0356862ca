//! A circuit breaker per registry, shared by synchronous and asynchronous exchanges: after
//! consecutive failures of the registry itself it opens for a cool-down, then lets one probe
//! through (half-open) and closes again only if the probe succeeds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// Consecutive registry failures that open the circuit.
    pub threshold: u32,
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            threshold: 5,
            cooldown: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe call is out since then; everyone else waits for its outcome (or, should it
    /// never be recorded, for another cool-down).
    HalfOpen {
        since: Instant,
    },
}

/// Whether a call may go to the registry now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Open (or probing): try again after this long.
    Refused(Duration),
}

/// One registry's breaker.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<State>,
    /// The last outcome and when, for readiness.
    last: Mutex<Option<(Instant, bool)>>,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(State::Closed { failures: 0 }),
            last: Mutex::new(None),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a call, turning an open circuit whose cool-down is over into a single probe.
    pub fn admit(&self) -> Admission {
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *state = State::HalfOpen { since: now };
                    Admission::Allowed
                } else {
                    Admission::Refused(until - now)
                }
            }
            State::HalfOpen { since } => {
                let now = Instant::now();
                if now >= since + self.policy.cooldown {
                    *state = State::HalfOpen { since: now };
                    Admission::Allowed
                } else {
                    Admission::Refused(since + self.policy.cooldown - now)
                }
            }
        }
    }

    /// How long to hold back before calling, without taking the probe.
    pub fn wait(&self) -> Option<Duration> {
        match *self.state() {
            State::Open { until } => until.checked_duration_since(Instant::now()),
            _ => None,
        }
    }

    /// Records the outcome of an admitted call: `answered` is false when the registry itself
    /// failed (timed out, unreachable), true otherwise, caller faults included.
    pub fn record(&self, answered: bool, registry: &str) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), answered));
        let mut state = self.state();
        let next = match (*state, answered) {
            (State::HalfOpen { .. }, true) => {
                info!(registry, "circuit closed: the probe succeeded");
                State::Closed { failures: 0 }
            }
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.policy.threshold => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            (State::Open { until }, false) => State::Open { until },
            (_, false) => {
                warn!(registry, "circuit opened");
                State::Open {
                    until: Instant::now() + self.policy.cooldown,
                }
            }
        };
        *state = next;
    }

    /// Whether the registry answered its last call within `window` (`None`: not called).
    pub fn answered_lately(&self, window: Duration) -> Option<bool> {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .filter(|(at, _)| at.elapsed() <= window)
            .map(|(_, answered)| answered)
    }

    /// Whether the circuit is open or probing.
    pub fn is_open(&self) -> bool {
        !matches!(*self.state(), State::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, cooldown_ms: u64) -> Breaker {
        Breaker::new(BreakerPolicy {
            threshold,
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let b = breaker(3, 5_000);
        b.record(false, "civil");
        b.record(false, "civil");
        assert_eq!(b.admit(), Admission::Allowed, "two failures keep it closed");
        b.record(true, "civil");
        b.record(false, "civil");
        b.record(false, "civil");
        assert_eq!(b.admit(), Admission::Allowed, "a success reset the count");
        b.record(false, "civil");
        match b.admit() {
            Admission::Refused(wait) => assert!(wait > Duration::from_secs(4)),
            other => panic!("{other:?}"),
        }
        assert!(b.wait().is_some());
    }

    #[test]
    fn after_the_cooldown_one_probe_goes_through_and_decides() {
        let b = breaker(1, 20);
        b.record(false, "civil");
        assert!(matches!(b.admit(), Admission::Refused(_)));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(b.admit(), Admission::Allowed, "the probe");
        assert!(matches!(b.admit(), Admission::Refused(_)), "one probe only");
        b.record(false, "civil");
        assert!(
            matches!(b.admit(), Admission::Refused(_)),
            "a failed probe reopens"
        );
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(b.admit(), Admission::Allowed);
        b.record(true, "civil");
        assert_eq!(b.admit(), Admission::Allowed, "a good probe closes it");
        assert!(!b.is_open());
    }
}
