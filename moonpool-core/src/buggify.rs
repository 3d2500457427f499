//! Buggify: fault injection written into the code under test
//! (FoundationDB's `BUGGIFY`).
//!
//! ```
//! use moonpool_core::{buggify, buggify_knob, buggify_with_prob, Ratio};
//!
//! fn batch_size() -> usize {
//!     // A tiny batch in some seeds, to exercise the batching edge cases.
//!     buggify_knob!(128, 1)
//! }
//!
//! fn send(queue: &mut Vec<u8>, byte: u8) {
//!     if buggify!() {
//!         // Pretend the queue was flushed early.
//!         queue.clear();
//!     }
//!     if buggify_with_prob!(Ratio::new(1, 100)) {
//!         queue.push(0); // a rare duplicate
//!     }
//!     queue.push(byte);
//! }
//!
//! // Outside a simulation buggify never fires and knobs are production values.
//! let mut q = Vec::new();
//! send(&mut q, 7);
//! assert_eq!(q, vec![7]);
//! assert_eq!(batch_size(), 128);
//! ```
//!
//! # Semantics (in a simulation)
//! - Buggify is switched on or off for a whole seed (only in chaos seeds).
//! - Each call site is *activated* or not for the whole seed, decided the
//!   first time it is evaluated in that seed.
//! - An active `buggify!()` site fires with a fixed probability on each
//!   evaluation; `buggify_with_prob!(p)` fires with `p`.
//! - A knob site takes its chaos value in every evaluation of a seed where
//!   it is active, its production value otherwise.
//!
//! The probabilities are the simulator's (`moonpool-sim` documents its
//! defaults). Outside a simulation, every form is `false` (or the
//! production value) at the cost of one thread-local load: see
//! [`sim_hook`](crate::sim_hook).
//!
//! # Sites
//! Each macro call declares a `static` [`BuggifySite`] registered at link
//! time in [`BUGGIFY_SITES`], so the simulator can list every site of the
//! binary, including those never evaluated, and identify a site by its
//! index in that slice (never by hashing a string).

use linkme::distributed_slice;

/// Every buggify call site linked into the binary.
#[distributed_slice]
pub static BUGGIFY_SITES: [BuggifySite];

/// Which macro declared a site.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BuggifyKind {
    /// `buggify!()`: fires with the default probability when active.
    Default,
    /// `buggify_with_prob!(p)`: fires with probability `p` when active.
    WithProbability,
    /// `buggify_knob!(production, chaos)`: the chaos value while active.
    Knob,
}

/// The static descriptor of one buggify call site.
#[derive(Debug)]
pub struct BuggifySite {
    /// Which macro.
    pub kind: BuggifyKind,
    /// Source file of the call.
    pub file: &'static str,
    /// Line of the call.
    pub line: u32,
    /// Column of the call.
    pub column: u32,
    /// `module_path!()` at the call.
    pub module_path: &'static str,
}

impl BuggifySite {
    /// This site's index in [`BUGGIFY_SITES`]: a dense, stable identity
    /// for per-seed tables. `None` only for a site not registered there
    /// (one built by hand rather than by the macros).
    pub fn index(&'static self) -> Option<usize> {
        crate::assertions::index_in(&BUGGIFY_SITES, self)
    }

    /// `file:line:column`.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Every registered buggify site.
pub fn buggify_sites() -> &'static [BuggifySite] {
    &BUGGIFY_SITES
}

/// Declares and registers a buggify site; the expression is the
/// `&'static BuggifySite`. Internal to the buggify macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __buggify_site {
    ($kind:ident) => {{
        #[$crate::__private::linkme::distributed_slice($crate::buggify::BUGGIFY_SITES)]
        #[linkme(crate = $crate::__private::linkme)]
        static __MOONPOOL_BUGGIFY_SITE: $crate::buggify::BuggifySite =
            $crate::buggify::BuggifySite {
                kind: $crate::buggify::BuggifyKind::$kind,
                file: ::core::file!(),
                line: ::core::line!(),
                column: ::core::column!(),
                module_path: ::core::module_path!(),
            };
        &__MOONPOOL_BUGGIFY_SITE
    }};
}

/// `true` when this call site injects a fault now (FoundationDB's
/// `BUGGIFY`). Always `false` outside a simulation. See the
/// [module documentation](mod@crate::buggify).
///
/// ```
/// if moonpool_core::buggify!() {
///     // take the rare path: a delay, a spurious error, a smaller buffer...
/// }
/// ```
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::sim_hook::buggify(
            $crate::__buggify_site!(Default),
            ::core::option::Option::None,
        )
    };
}

/// Like [`buggify!`], but an active site fires with probability `p` (a
/// [`Ratio`](crate::Ratio)) instead of the default (FoundationDB's
/// `BUGGIFY_WITH_PROB`). Site activation is unchanged: in a seed where the
/// site is not active it never fires, whatever `p`.
///
/// ```
/// use moonpool_core::{buggify_with_prob, Ratio};
/// let fire: bool = buggify_with_prob!(Ratio::new(1, 1000));
/// assert!(!fire); // not in a simulation
/// ```
#[macro_export]
macro_rules! buggify_with_prob {
    ($p:expr) => {{
        let __p: $crate::Ratio = $p;
        $crate::sim_hook::buggify(
            $crate::__buggify_site!(WithProbability),
            ::core::option::Option::Some(__p),
        )
    }};
}

/// A buggified knob: `production` normally, `chaos` in the seeds where this
/// site is active (decided once per seed). Outside a simulation it is
/// always `production`. Only the chosen expression is evaluated; if `chaos`
/// draws a random value, it is drawn on each evaluation, so build knobs
/// once (into a config struct) when the value must stay fixed.
///
/// ```
/// use std::time::Duration;
/// let timeout = moonpool_core::buggify_knob!(Duration::from_secs(5), Duration::from_millis(10));
/// assert_eq!(timeout, Duration::from_secs(5));
/// ```
#[macro_export]
macro_rules! buggify_knob {
    ($production:expr, $chaos:expr $(,)?) => {
        if $crate::sim_hook::buggify($crate::__buggify_site!(Knob), ::core::option::Option::None) {
            $chaos
        } else {
            $production
        }
    };
}

#[cfg(test)]
#[allow(unsafe_code)] // the macros' site registries: see the crate root
mod tests {
    use super::*;

    #[test]
    fn outside_a_simulation_buggify_is_false_and_knobs_are_production() {
        for _ in 0..1000 {
            assert!(!crate::buggify!());
            assert!(!crate::buggify_with_prob!(crate::Ratio::ONE));
            assert_eq!(crate::buggify_knob!(1, 2), 1);
        }
    }

    #[test]
    fn sites_are_registered_with_kind_and_location() {
        fn never_called() -> bool {
            crate::buggify!()
        }
        let _ = never_called; // referenced, never run
        let here = file!();
        let mine: Vec<&BuggifySite> = buggify_sites()
            .iter()
            .filter(|s| s.file == here && s.module_path.ends_with("buggify::tests"))
            .collect();
        // The three in the test above, this one, and the doctest-free macros.
        assert!(mine.len() >= 4, "{mine:?}");
        assert!(mine.iter().any(|s| s.kind == BuggifyKind::Knob));
        assert!(mine.iter().any(|s| s.kind == BuggifyKind::WithProbability));
        for s in &mine {
            let i = s.index().expect("registered");
            assert!(std::ptr::eq(&buggify_sites()[i], *s));
        }
    }
}
