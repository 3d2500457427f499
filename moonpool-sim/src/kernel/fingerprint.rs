//! The execution fingerprint: a running hash over every scheduling
//! decision, event and random draw of a seed.
//!
//! Two runs of the same seed must fold the same sequence of values and so
//! end with the same fingerprint; any leak of nondeterminism (a `HashMap`
//! iterated in random order, a wall-clock read, a thread) changes what is
//! folded and shows up as a different fingerprint.
//!
//! # What is folded
//! Every task polled and spawned (its id), every event fired (its sequence
//! number *and its virtual time*), every random value drawn, and marks
//! (a fault family switched on or off). Time is folded with each event
//! because the clock moves only when an event fires: two runs that fire
//! the same events in the same order but sleep for different lengths
//! differ in the times folded, so their fingerprints differ. Everything a
//! poll does happens at the time of the last event folded.
//!
//! The fold is one multiply and one rotate per value: it runs on every
//! poll, event and draw, so it must cost about a nanosecond. It is not a
//! cryptographic hash; [`Fingerprint::finish`] applies a strong finalizer so
//! that printed values of nearby seeds look unrelated.

/// What a folded value describes. Distinct tags keep a poll of task 3 from
/// hashing like a draw of the number 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Fold {
    /// A task was polled.
    Poll = 1,
    /// A task was spawned.
    Spawn = 2,
    /// A timer or scheduled event fired.
    Event = 3,
    /// A random value was drawn.
    Draw = 4,
    /// Something else deterministic happened (a fault, a process event).
    Mark = 5,
    /// The virtual time of the event just folded.
    Time = 6,
}

/// The running hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint(u64);

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

impl Fingerprint {
    /// The fingerprint of a seed before anything happened.
    pub(crate) fn new(seed: u64) -> Fingerprint {
        Fingerprint(finalize(seed ^ 0x6D6F_6F6E_706F_6F6C))
    }

    /// Folds `value`, tagged by `what`, into the hash.
    #[inline]
    pub(crate) fn fold(&mut self, what: Fold, value: u64) {
        self.0 = (self.0 ^ value ^ ((what as u64) << 59))
            .wrapping_mul(MULTIPLIER)
            .rotate_left(27);
    }

    /// The printable fingerprint.
    pub(crate) fn finish(self) -> u64 {
        finalize(self.0)
    }

    /// The raw running state (for step-by-step comparison).
    pub(crate) fn raw(self) -> u64 {
        self.0
    }
}

/// SplitMix64's finalizer: full avalanche of a 64-bit value.
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_folds_matters() {
        let mut a = Fingerprint::new(1);
        a.fold(Fold::Poll, 1);
        a.fold(Fold::Poll, 2);
        let mut b = Fingerprint::new(1);
        b.fold(Fold::Poll, 2);
        b.fold(Fold::Poll, 1);
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn tags_separate_equal_values() {
        let mut a = Fingerprint::new(1);
        a.fold(Fold::Poll, 3);
        let mut b = Fingerprint::new(1);
        b.fold(Fold::Draw, 3);
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn the_same_event_at_another_time_folds_differently() {
        let fold = |time: u64| {
            let mut fp = Fingerprint::new(1);
            fp.fold(Fold::Event, 7);
            fp.fold(Fold::Time, time);
            fp.finish()
        };
        assert_ne!(fold(5_000_000), fold(6_000_000));
    }

    #[test]
    fn seeds_start_apart() {
        assert_ne!(Fingerprint::new(1).finish(), Fingerprint::new(2).finish());
    }
}
