//! The seam between the [`buggify!`](crate::buggify!) and assertion macros
//! and whatever simulator runs the code.
//!
//! `moonpool-core` knows nothing of any simulator. Its macros call two
//! functions here, [`buggify`] and [`assertion`] (and libraries count
//! events with [`metric`]), which look in one thread-local slot for a
//! [`SimHook`]: a few plain function pointers
//! that a simulator installs (with [`install`]) while one of its worlds is
//! current on the thread, and removes when the world is left.
//!
//! # States
//! - **No hook** (production on tokio, plain unit tests, any thread that is
//!   not running a simulation): `buggify!` is `false` after one
//!   thread-local load; assertions record nothing, and a violated
//!   `always`-style assertion or a reached `assert_unreachable!` is logged
//!   at `error` level through `tracing` (target `moonpool::assertions`). It
//!   never panics: production code must not crash because a check written
//!   for the simulator failed.
//! - **Hook installed**: every evaluation goes to the hook, which decides
//!   buggify draws from the world's seeded generator and keeps per-seed
//!   assertion counts.
//!
//! # Invariants
//! - The slot holds a `&'static SimHook`, so reading it is one load of a
//!   `Cell` with no destructor: the cheapest kind of thread-local.
//! - Installation is scoped: [`install`] returns a [`HookGuard`] that puts
//!   back the previous hook when dropped, so nested worlds (a world entered
//!   while another is current) restore correctly.

use std::cell::Cell;
use std::fmt;

use crate::assertions::{AssertionSite, Number};
use crate::buggify::BuggifySite;
use crate::random::Ratio;

/// What a simulator implements to receive buggify evaluations and
/// assertion outcomes. Both functions are called on the thread the hook
/// was installed on, from inside the code under test.
#[derive(Debug)]
pub struct SimHook {
    /// Whether the buggify site `site` fires now. `probability` is the
    /// firing probability asked for by `buggify_with_prob!`, or `None` for
    /// the default. For a [knob site](crate::buggify::BuggifyKind::Knob) it
    /// answers whether the knob takes its chaos value.
    pub buggify: fn(site: &'static BuggifySite, probability: Option<Ratio>) -> bool,
    /// One evaluation of the assertion at `site`.
    pub assertion: fn(site: &'static AssertionSite, event: &AssertionEvent<'_>),
    /// `delta` more of the metric `name` (e.g. `"transport.frames_sent"`).
    pub metric: fn(name: &'static str, delta: u64),
    /// A point in the run's history worth drawing (see [`mark`]).
    pub mark: fn(kind: &'static str, key: u64),
}

/// One evaluation of an assertion, as the hook sees it.
#[derive(Debug)]
pub struct AssertionEvent<'a> {
    /// Whether the asserted condition held. For `reachable!` and
    /// `assert_unreachable!` (which have no condition) it is `true`.
    pub condition: bool,
    /// The compared values `(left, right)` of a numeric assertion.
    pub values: Option<(Number, Number)>,
    /// The formatted details given after the message, if any. Only built
    /// when the condition failed (or for an unreachable site), so passing
    /// evaluations format nothing.
    pub details: Option<fmt::Arguments<'a>>,
}

thread_local! {
    static HOOK: Cell<Option<&'static SimHook>> = const { Cell::new(None) };
}

/// Puts back the hook that was installed before, when dropped.
#[derive(Debug)]
#[must_use = "the hook is removed when the guard is dropped"]
pub struct HookGuard {
    previous: Option<&'static SimHook>,
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        HOOK.with(|h| h.set(self.previous));
    }
}

/// Installs `hook` on this thread until the returned guard is dropped.
pub fn install(hook: &'static SimHook) -> HookGuard {
    HookGuard {
        previous: HOOK.with(|h| h.replace(Some(hook))),
    }
}

/// The hook installed on this thread, if any.
#[inline]
pub fn current() -> Option<&'static SimHook> {
    HOOK.with(Cell::get)
}

/// Evaluates the buggify site `site`: `false` when no simulator is running.
#[inline]
pub fn buggify(site: &'static BuggifySite, probability: Option<Ratio>) -> bool {
    match current() {
        None => false,
        Some(hook) => (hook.buggify)(site, probability),
    }
}

/// Counts `delta` more of the metric `name` for the simulator's report
/// (per seed, and totals over a sweep). Names are `area.what`, e.g.
/// `"transport.frames_sent"`. With no simulator running it does nothing
/// (one thread-local load): libraries keep their own counters for
/// production and call this so a simulation's report shows them too.
#[inline]
pub fn metric(name: &'static str, delta: u64) {
    if let Some(hook) = current() {
        (hook.metric)(name, delta);
    }
}

/// Marks a point of the run's history for the simulator's timeline
/// picture: `kind` is `area.what` (`"rpc.send"`, `"rpc.serve"`,
/// `"rpc.reply"`), `key` pairs the marks of one story (a request's reply
/// token). The simulator stamps it with the time and the process running.
/// It decides nothing and is kept only when a picture was asked for; with
/// no simulator running it does nothing (one thread-local load).
#[inline]
pub fn mark(kind: &'static str, key: u64) {
    if let Some(hook) = current() {
        (hook.mark)(kind, key);
    }
}

/// Reports one evaluation of the assertion at `site`. With no simulator
/// running, a violation is logged at `error` (see the module documentation)
/// and nothing else happens.
#[inline]
pub fn assertion(site: &'static AssertionSite, event: &AssertionEvent<'_>) {
    match current() {
        Some(hook) => (hook.assertion)(site, event),
        None => {
            if site.kind.is_violation(event.condition) {
                log_violation(site, event);
            }
        }
    }
}

#[cold]
fn log_violation(site: &'static AssertionSite, event: &AssertionEvent<'_>) {
    let details = crate::assertions::describe(site, event);
    tracing::error!(
        target: "moonpool::assertions",
        assertion = site.message,
        location = %site.location(),
        details = %details,
        "assertion violated"
    );
}

#[cfg(test)]
#[allow(unsafe_code)] // the macros' site registries: see the crate root
mod tests {
    use std::cell::RefCell;

    use super::*;

    thread_local! {
        static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    fn fake_buggify(site: &'static BuggifySite, p: Option<Ratio>) -> bool {
        SEEN.with(|s| {
            s.borrow_mut()
                .push(format!("buggify {:?} {p:?}", site.kind))
        });
        true
    }

    fn fake_assertion(site: &'static AssertionSite, event: &AssertionEvent<'_>) {
        let details = event.details.map(|d| d.to_string());
        SEEN.with(|s| {
            s.borrow_mut().push(format!(
                "{} {} {:?} {details:?}",
                site.message, event.condition, event.values
            ))
        });
    }

    thread_local! {
        static METRICS: std::cell::RefCell<Vec<(&'static str, u64)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }

    fn fake_metric(name: &'static str, delta: u64) {
        METRICS.with(|m| m.borrow_mut().push((name, delta)));
    }

    fn fake_mark(kind: &'static str, key: u64) {
        METRICS.with(|m| m.borrow_mut().push((kind, key)));
    }

    static FAKE: SimHook = SimHook {
        buggify: fake_buggify,
        assertion: fake_assertion,
        metric: fake_metric,
        mark: fake_mark,
    };

    fn other_buggify(_: &'static BuggifySite, _: Option<Ratio>) -> bool {
        false
    }

    static OTHER: SimHook = SimHook {
        buggify: other_buggify,
        assertion: fake_assertion,
        metric: fake_metric,
        mark: fake_mark,
    };

    #[test]
    fn metrics_reach_the_hook_only_when_one_is_installed() {
        metric("test.before", 1);
        {
            let _g = install(&FAKE);
            metric("test.during", 3);
        }
        metric("test.after", 1);
        let seen = METRICS.with(|m| m.borrow().clone());
        assert_eq!(seen, vec![("test.during", 3)]);
    }

    #[test]
    fn the_macros_dispatch_to_the_installed_hook_and_the_guard_restores() {
        assert!(current().is_none());
        {
            let _outer = install(&FAKE);
            assert!(crate::buggify!());
            assert!(crate::buggify_with_prob!(Ratio::new(1, 3)));
            assert_eq!(crate::buggify_knob!(1, 2), 2);
            crate::always!(1 + 1 == 3, "arithmetic", "got {}", 2);
            crate::sometimes!(true, "often");
            crate::always_less_than!(5u8, 3u8, "five below three");
            {
                let _inner = install(&OTHER);
                assert!(!crate::buggify!());
            }
            // The outer hook is back.
            assert!(crate::buggify!());
        }
        assert!(current().is_none());
        assert!(!crate::buggify!());
        let seen = SEEN.with(|s| s.borrow().clone());
        assert_eq!(
            seen,
            [
                "buggify Default None",
                "buggify WithProbability Some(Ratio { numerator: 1, denominator: 3 })",
                "buggify Knob None",
                "arithmetic false None Some(\"got 2\")",
                "often true None None",
                "five below three false Some((Int(5), Int(3))) None",
                "buggify Default None",
            ]
        );
    }
}
