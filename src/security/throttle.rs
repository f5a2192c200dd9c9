//! Slows down clients that keep failing to log in: after a few failures from one
//! address, each further failure is answered later, twice as late each time (capped).
//! A failure streak ends after a quiet [`WINDOW`].

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Failures allowed from one address before answers slow down.
const FREE_FAILURES: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(8);
/// How long after its last failure an address starts again from zero.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Addresses tracked at most; stale ones are dropped first.
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, Streak>>,
}

struct Streak {
    count: u32,
    last: Instant,
}

impl Throttle {
    /// How long a request from this client waits before its credentials are checked:
    /// what its next failure would cost.
    pub fn penalty(&self, client: IpAddr) -> Duration {
        let failures = self.failures.lock().expect("never poisoned");
        match failures.get(&client) {
            Some(streak) if streak.last.elapsed() < WINDOW => delay_after(streak.count + 1),
            _ => Duration::ZERO,
        }
    }

    /// Records a failure.
    pub fn failed(&self, client: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("never poisoned");
        if failures.len() >= CAPACITY {
            failures.retain(|_, streak| now.duration_since(streak.last) < WINDOW);
            if failures.len() >= CAPACITY {
                failures.clear();
            }
        }
        let streak = failures.entry(client).or_insert(Streak {
            count: 0,
            last: now,
        });
        if now.duration_since(streak.last) >= WINDOW {
            streak.count = 0;
        }
        streak.count = streak.count.saturating_add(1);
        streak.last = now;
    }
}

fn delay_after(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES + 1) {
        None => Duration::ZERO,
        Some(extra) => FIRST_DELAY
            .saturating_mul(1 << extra.min(16))
            .min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_the_cap() {
        assert_eq!(delay_after(1), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES), Duration::ZERO);
        assert_eq!(delay_after(FREE_FAILURES + 1), FIRST_DELAY);
        assert_eq!(delay_after(FREE_FAILURES + 2), FIRST_DELAY * 2);
        assert_eq!(delay_after(1000), MAX_DELAY);
    }

    #[test]
    fn each_address_has_its_own_streak() {
        let throttle = Throttle::default();
        let (one, two): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.penalty(one), Duration::ZERO);
            throttle.failed(one);
        }
        assert_eq!(throttle.penalty(one), FIRST_DELAY);
        throttle.failed(one);
        assert_eq!(throttle.penalty(one), FIRST_DELAY * 2);
        assert_eq!(throttle.penalty(two), Duration::ZERO);
    }
}
