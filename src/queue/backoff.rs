//! What happens after an attempt, as Kibana's task manager decides it
//! (`get_retry_at.ts`): success ends it; `retry: false` (or none) fails it; a time
//! retries then; `true` retries on the backoff schedule while attempts remain.

use std::time::{Duration, SystemTime};

use aes_gcm::aead::{OsRng, rand_core::RngCore};

use crate::{
    connector_types::Retry, settings::QueueSettings, store::Finish, timestamp::epoch_millis,
};

/// The queue's next step for an attempt that ended with `retry` (`None` for success).
pub fn next_step(
    succeeded: bool,
    retry: Option<Retry>,
    attempts: i64,
    max_attempts: i64,
    now: SystemTime,
    settings: &QueueSettings,
) -> Finish {
    if succeeded {
        return Finish::Succeeded;
    }
    if attempts >= max_attempts {
        return Finish::Failed;
    }
    match retry {
        None | Some(Retry::No) => Finish::Failed,
        Some(Retry::At(at)) => Finish::RetryAt(epoch_millis(at.max(now))),
        Some(Retry::Yes) => Finish::RetryAt(epoch_millis(
            now + delay(attempts, settings, random_fraction()),
        )),
    }
}

/// After the first attempt a fixed delay; after attempt n ≥ 2 a random one up to
/// `min(max, base * 2^(n-2))`. `fraction` is in [0, 1].
fn delay(attempts: i64, settings: &QueueSettings, fraction: f64) -> Duration {
    if attempts <= 1 {
        return settings.backoff_first;
    }
    let exponent = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(30);
    let ceiling = settings
        .backoff_base
        .saturating_mul(1u32 << exponent)
        .min(settings.backoff_max);
    ceiling.mul_f64(fraction)
}

fn random_fraction() -> f64 {
    (OsRng.next_u32() as f64) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> Finish {
        Finish::RetryAt(millis)
    }

    #[test]
    fn follows_kibanas_schedule() {
        let settings = QueueSettings::default();
        assert_eq!(delay(1, &settings, 0.7), Duration::from_secs(30));
        assert_eq!(delay(2, &settings, 1.0), Duration::from_secs(300));
        assert_eq!(delay(3, &settings, 1.0), Duration::from_secs(600));
        assert_eq!(delay(3, &settings, 0.5), Duration::from_secs(300));
        assert_eq!(delay(9, &settings, 1.0), Duration::from_secs(3600));
        assert_eq!(delay(400, &settings, 1.0), Duration::from_secs(3600));
    }

    #[test]
    fn acts_on_the_results_retry() {
        let settings = QueueSettings::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let later = now + Duration::from_secs(42);
        assert_eq!(
            next_step(true, None, 1, 3, now, &settings),
            Finish::Succeeded
        );
        assert_eq!(next_step(false, None, 1, 3, now, &settings), Finish::Failed);
        assert_eq!(
            next_step(false, Some(Retry::No), 1, 3, now, &settings),
            Finish::Failed
        );
        assert_eq!(
            next_step(false, Some(Retry::At(later)), 1, 3, now, &settings),
            at(1_042_000)
        );
        // A time already past means now.
        assert_eq!(
            next_step(
                false,
                Some(Retry::At(SystemTime::UNIX_EPOCH)),
                1,
                3,
                now,
                &settings
            ),
            at(1_000_000)
        );
        assert_eq!(
            next_step(false, Some(Retry::Yes), 1, 3, now, &settings),
            at(1_030_000)
        );
        // The last attempt allowed ends it, whatever the result says.
        assert_eq!(
            next_step(false, Some(Retry::Yes), 3, 3, now, &settings),
            Finish::Failed
        );
        assert_eq!(
            next_step(false, Some(Retry::At(later)), 3, 3, now, &settings),
            Finish::Failed
        );
    }
}
