//! Reconnect backoff: exponential growth, a cap, jitter from the random
//! provider, and a reset after a long-lived connection.
//!
//! Type: [`Backoff`]. State: the current base delay. Invariants: every
//! delay lies in `base·(1 − jitter) ..= base·(1 + jitter)` with
//! `initial ≤ base ≤ max`; a zero jitter draws no randomness.

use std::time::Duration;

use moonpool_core::{RandomProvider, Ratio};

use crate::config::TransportConfig;

/// Reconnect delays.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    base_us: u64,
    initial_us: u64,
    max_us: u64,
    growth_percent: u64,
    jitter: Ratio,
}

impl Backoff {
    /// A backoff with the config's reconnect settings.
    pub(crate) fn from_config(c: &TransportConfig) -> Backoff {
        Backoff::new(
            Duration::from_millis(c.reconnect_delay_ms_initial),
            Duration::from_millis(c.reconnect_delay_ms_max),
            c.reconnect_delay_growth_percent,
            c.reconnect_jitter,
        )
    }

    /// A backoff from `initial` growing by `growth_percent`% per failure up
    /// to `max`, each delay jittered by `± jitter`.
    pub(crate) fn new(
        initial: Duration,
        max: Duration,
        growth_percent: u64,
        jitter: Ratio,
    ) -> Backoff {
        let initial_us = initial.as_micros().min(u128::from(u64::MAX)) as u64;
        let max_us = (max.as_micros().min(u128::from(u64::MAX)) as u64).max(initial_us);
        Backoff {
            base_us: initial_us,
            initial_us,
            max_us,
            growth_percent: growth_percent.max(100),
            jitter,
        }
    }

    /// The next delay (jittered), then grows the base.
    pub(crate) fn next_delay<R: RandomProvider>(&mut self, random: &R) -> Duration {
        let base = self.base_us;
        let span = (u128::from(base) * u128::from(self.jitter.numerator())
            / u128::from(self.jitter.denominator().max(1))) as u64;
        let delay = if span == 0 {
            base
        } else {
            let offset = random.random_range(0..=2 * span);
            (base - span) + offset
        };
        let grown = u128::from(base) * u128::from(self.growth_percent) / 100;
        self.base_us = (grown.min(u128::from(self.max_us)) as u64).max(base);
        Duration::from_micros(delay)
    }

    /// Back to the initial delay.
    pub(crate) fn reset(&mut self) {
        self.base_us = self.initial_us;
    }

    /// The current base delay (before jitter).
    #[cfg(test)]
    pub(crate) fn base(&self) -> Duration {
        Duration::from_micros(self.base_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[derive(Clone)]
    struct Rng(Rc<Cell<u64>>);
    impl RandomProvider for Rng {
        fn next_u64(&self) -> u64 {
            let mut z = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            self.0.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap_within_jitter() {
        let r = Rng(Rc::new(Cell::new(1)));
        let mut b = Backoff::from_config(&TransportConfig::default());
        let mut base = 50_000f64;
        for _ in 0..30 {
            let d = b.next_delay(&r).as_micros() as f64;
            assert!(
                d >= base * 0.9 - 1.0 && d <= base * 1.1 + 1.0,
                "{d} vs {base}"
            );
            base = (base * 1.2).min(500_000.0);
        }
        assert_eq!(b.base(), Duration::from_millis(500));
        b.reset();
        assert_eq!(b.base(), Duration::from_millis(50));
    }

    #[test]
    fn zero_jitter_gives_exact_delays_without_drawing() {
        let r = Rng(Rc::new(Cell::new(1)));
        let mut b = Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(15),
            150,
            Ratio::ZERO,
        );
        assert_eq!(b.next_delay(&r), Duration::from_millis(10));
        assert_eq!(b.next_delay(&r), Duration::from_millis(15));
        assert_eq!(b.next_delay(&r), Duration::from_millis(15));
        assert_eq!(r.0.get(), 1, "no draws with zero jitter");
    }

    #[test]
    fn jitter_actually_varies_the_delay() {
        let r = Rng(Rc::new(Cell::new(3)));
        let delays: std::collections::BTreeSet<_> = (0..20)
            .map(|_| {
                let mut b = Backoff::from_config(&TransportConfig::default());
                b.next_delay(&r)
            })
            .collect();
        assert!(
            delays.len() > 10,
            "jitter produced {} distinct delays",
            delays.len()
        );
    }
}
