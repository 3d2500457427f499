//! Retries: [`retry`] with exponential backoff and jitter, and
//! [`DedupCache`] to make non-idempotent requests safe to retry.
//!
//! Retrying is only correct when processing a request twice is harmless.
//! A request is idempotent by nature (a read, "set x to 5"), or made so by
//! an [`IdempotencyKey`] and a server-side [`DedupCache`] that answers a
//! repeated key with the first reply instead of processing it again.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use moonpool_core::{Providers, Ratio, TimeProvider};
use serde::{Deserialize, Serialize};

use crate::error::RpcError;
use crate::peer::backoff::Backoff;

/// How to retry.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (at least 1).
    pub attempts_max: u32,
    /// The timeout of each attempt.
    pub attempt_timeout_ms: u64,
    /// The first delay between attempts.
    pub delay_ms_initial: u64,
    /// The delay cap.
    pub delay_ms_max: u64,
    /// Growth per attempt, in percent (200 doubles).
    pub delay_growth_percent: u64,
    /// Each delay is multiplied by a uniform factor in `1 ± jitter`.
    pub jitter: Ratio,
}

impl Default for RetryPolicy {
    /// 10 attempts of 1 s, delays 50 ms ×2 up to 1 s, ±10%.
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts_max: 10,
            attempt_timeout_ms: 1_000,
            delay_ms_initial: 50,
            delay_ms_max: 1_000,
            delay_growth_percent: 200,
            jitter: Ratio::new(1, 10),
        }
    }
}

/// Runs `attempt(n)` (n = 0, 1, ...) until it succeeds, fails with an error
/// that is not [retryable](RpcError::is_retryable), or `attempts_max`
/// attempts were made; sleeps a jittered, growing delay between attempts.
/// Returns the last outcome.
pub async fn retry<P, T, F, Fut>(p: &P, policy: &RetryPolicy, mut attempt: F) -> Result<T, RpcError>
where
    P: Providers,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, RpcError>>,
{
    let mut backoff = Backoff::new(
        Duration::from_millis(policy.delay_ms_initial),
        Duration::from_millis(policy.delay_ms_max),
        policy.delay_growth_percent,
        policy.jitter,
    );
    let attempts = policy.attempts_max.max(1);
    let mut n = 0;
    loop {
        let result = attempt(n).await;
        n += 1;
        match result {
            Err(e) if e.is_retryable() && n < attempts => {
                let delay = backoff.next_delay(p.random());
                p.time().sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// Names one logical request across its retries: a client id (random, per
/// client incarnation) and a sequence number the client never reuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IdempotencyKey {
    /// The client.
    pub client: u64,
    /// The request, unique for the client.
    pub seq: u64,
}

/// A bounded server-side cache of replies by [`IdempotencyKey`], so a
/// retried request is answered without being processed again.
///
/// Evicts the oldest entries past `capacity`. A retry that arrives after
/// its entry was evicted is processed again: size it for the retry window.
#[derive(Debug)]
pub struct DedupCache<Rep> {
    capacity: usize,
    replies: BTreeMap<IdempotencyKey, Rep>,
    order: VecDeque<IdempotencyKey>,
}

impl<Rep: Clone> DedupCache<Rep> {
    /// A cache of at most `capacity` replies.
    pub fn new(capacity: usize) -> DedupCache<Rep> {
        DedupCache {
            capacity: capacity.max(1),
            replies: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The reply already given for `key`, if any.
    pub fn get(&self, key: &IdempotencyKey) -> Option<Rep> {
        self.replies.get(key).cloned()
    }

    /// Records the reply for `key`.
    pub fn insert(&mut self, key: IdempotencyKey, reply: Rep) {
        if self.replies.insert(key, reply).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.replies.remove(&old);
            }
        }
    }

    /// The cached reply for `key`, or `process()`'s result, cached.
    pub fn get_or_process(&mut self, key: IdempotencyKey, process: impl FnOnce() -> Rep) -> Rep {
        if let Some(r) = self.get(&key) {
            return r;
        }
        let r = process();
        self.insert(key, r.clone());
        r
    }

    /// Cached replies.
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_cache_answers_a_repeated_key_without_processing() {
        let mut c = DedupCache::new(2);
        let k = |seq| IdempotencyKey { client: 1, seq };
        let mut processed = 0;
        for _ in 0..3 {
            let r = c.get_or_process(k(1), || {
                processed += 1;
                "first"
            });
            assert_eq!(r, "first");
        }
        assert_eq!(processed, 1);
        c.insert(k(2), "b");
        c.insert(k(3), "c");
        assert_eq!(c.get(&k(1)), None, "oldest evicted past capacity");
        assert_eq!(c.len(), 2);
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use moonpool_core::tokio_providers::{TokioProviders, run_with};
    use std::cell::Cell;

    fn policy(attempts_max: u32) -> RetryPolicy {
        RetryPolicy {
            attempts_max,
            attempt_timeout_ms: 10,
            delay_ms_initial: 1,
            delay_ms_max: 2,
            ..RetryPolicy::default()
        }
    }

    fn run_retry(
        policy: RetryPolicy,
        outcomes: Vec<Result<u32, RpcError>>,
    ) -> (Result<u32, RpcError>, u32) {
        run_with(TokioProviders::with_seed(1), move |p| async move {
            let calls = Cell::new(0u32);
            let r = retry(&p, &policy, |n| {
                calls.set(calls.get() + 1);
                let out = outcomes[n as usize].clone();
                async move { out }
            })
            .await;
            (r, calls.get())
        })
        .expect("runtime")
    }

    #[test]
    fn retry_rides_out_transient_errors() {
        let (r, calls) = run_retry(
            policy(5),
            vec![Err(RpcError::Timeout), Err(RpcError::MaybeDelivered), Ok(7)],
        );
        assert_eq!((r, calls), (Ok(7), 3));
    }

    #[test]
    fn retry_stops_at_a_permanent_error() {
        let (r, calls) = run_retry(policy(5), vec![Err(RpcError::EndpointNotFound), Ok(1)]);
        assert_eq!((r, calls), (Err(RpcError::EndpointNotFound), 1));
    }

    #[test]
    fn retry_gives_up_after_the_attempt_limit() {
        let (r, calls) = run_retry(policy(2), vec![Err(RpcError::Unreachable); 5]);
        assert_eq!((r, calls), (Err(RpcError::Unreachable), 2));
    }
}
