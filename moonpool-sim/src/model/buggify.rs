//! Buggify in simulation: the fault model behind `buggify!()`,
//! `buggify_with_prob!(p)` and `buggify_knob!(production, chaos)`
//! (the macros live in `moonpool-core`; this module answers them through
//! the hook installed while a world is current).
//!
//! # Model (FoundationDB's `BUGGIFY`)
//! 1. **Per seed.** In a chaos seed, buggify is on with probability
//!    [`BUGGIFY_ENABLED_P`] (80%), drawn in `init_seed` and recorded as
//!    the fault family `"buggify"`. A quiet (no-chaos) seed never buggifies
//!    and draws nothing.
//!    A [`FaultSelection`](crate::FaultSelection) can force the family
//!    either way (`--faults`, `--no-faults`).
//! 2. **Per site, per seed.** The first time a site is evaluated in a seed
//!    where buggify is on, it is *activated* with probability
//!    [`SITE_ACTIVE_P`] (25%); the decision holds for the rest of the seed.
//!    Most sites are therefore quiet in any one seed, so each seed stresses
//!    a different handful of rare paths instead of all at once. A
//!    selection's `buggify_sites` (`--buggify-sites`) decides instead:
//!    exactly the listed sites are active (the draw is still taken).
//! 3. **Per evaluation.** An active `buggify!()` fires with
//!    [`FIRE_P`] (25%); an active `buggify_with_prob!(p)` with `p`. An
//!    active knob always takes its chaos value.
//! 4. **Quiescence.** Once the run phase is over (`world.chaos_active()`
//!    false) buggify never fires and no new site is activated, so checks
//!    run against a system allowed to converge. A knob already activated
//!    keeps its chaos value: configuration does not change under the
//!    program's feet.
//!
//! Every activation and firing decision is a draw from the world's
//! generator (folded into the fingerprint), so a seed replays exactly.
//! Decisions that cannot matter draw nothing: a disabled seed, an inactive
//! site, a probability of zero or one.
//!
//! # State
//! `BuggifyState` lives in the world: whether buggify is on, and per site
//! (indexed by the site's position in the registry) its activation and
//! evaluation and firing counts. Firings are also counted as
//! `"buggify.fire"` and knob activations as `"buggify.knob"` in the seed's
//! counters (and the timeline, when recorded).

use moonpool_core::Ratio;
use moonpool_core::buggify::{BuggifyKind, BuggifySite, buggify_sites};

use crate::kernel::draw;
use crate::kernel::faults::site_name;
use crate::kernel::process::ProcessId;
use crate::model::world::World;

/// Probability that buggify is on in a chaos seed. FoundationDB enables it
/// in about 80% of runs: most seeds stress the rare paths, and the rest
/// check that the system also works (and converges) without them, which
/// catches bugs that buggify's noise would mask.
pub const BUGGIFY_ENABLED_P: Ratio = Ratio::percent(80);

/// Probability that a site is active for a seed (FoundationDB: 25%).
pub const SITE_ACTIVE_P: Ratio = Ratio::percent(25);

/// Probability that an active `buggify!()` site fires on one evaluation
/// (FoundationDB: 25%).
pub const FIRE_P: Ratio = Ratio::percent(25);

/// The largest bound of buggified timer delays a chaos seed may draw
/// (FoundationDB's `MAX_BUGGIFIED_DELAY` is drawn in 0..=0.2 s).
pub const BUGGIFIED_DELAY_MS_MAX: u64 = 200;

/// The fault family (and counter) of buggified timer delays.
pub(crate) const BUGGIFIED_DELAY: &str = "sim.buggified_delay";

/// The fault family that switches buggify on or off for a seed.
pub(crate) const FAMILY: &str = "buggify";

/// Whether a site is active in this seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Activation {
    /// Not decided yet (not evaluated while buggify could fire).
    #[default]
    Undecided,
    Active,
    Inactive,
}

#[derive(Clone, Copy, Debug, Default)]
struct SiteState {
    activation: Activation,
    evaluations: u64,
    fired: u64,
}

/// The buggify state of one seed, owned by its world.
#[derive(Debug, Default)]
pub(crate) struct BuggifyState {
    enabled: bool,
    /// By site index; empty until a site is first evaluated.
    sites: Vec<SiteState>,
}

/// What one buggify site did in one seed.
#[derive(Clone, Copy, Debug)]
pub struct BuggifyStats {
    /// The call site.
    pub site: &'static BuggifySite,
    /// Whether the site was activated in this seed.
    pub active: bool,
    /// How many times it was evaluated.
    pub evaluations: u64,
    /// How many evaluations returned `true` (for a knob: the chaos value).
    pub fired: u64,
}

/// Decides whether buggify is on for this seed (chaos seeds only), and
/// the bound of its buggified timer delays.
pub(crate) fn init_seed(world: &World) {
    if !world.config.chaos {
        return;
    }
    let drawn = draw::bool(world, BUGGIFY_ENABLED_P);
    let on = world.set_fault_family(FAMILY, drawn);
    world.buggify.borrow_mut().enabled = on;
    // FoundationDB's `MAX_BUGGIFIED_DELAY`: a knob that is 0 unless
    // buggified, then uniform up to 0.2 s. Here: an active knob of a
    // buggify-enabled seed (probability `SITE_ACTIVE_P`).
    let delays_drawn = on && draw::bool(world, SITE_ACTIVE_P);
    let delays = world.set_fault_family(BUGGIFIED_DELAY, delays_drawn);
    if delays {
        let max_ns = draw::between(world, 0, BUGGIFIED_DELAY_MS_MAX * 1_000_000);
        world.set_buggified_delay_max(std::time::Duration::from_nanos(max_ns));
        // Chaos ends at quiesce: timers are exact again for the checks.
        world.on_quiesce(|w| w.set_buggified_delay_max(std::time::Duration::ZERO));
    }
}

/// The hook `moonpool-core` calls for every buggify evaluation.
pub(crate) fn hook(site: &'static BuggifySite, probability: Option<Ratio>) -> bool {
    crate::model::world::with_current(|world| evaluate(world, site, probability)).unwrap_or(false)
}

fn evaluate(world: &World, site: &'static BuggifySite, probability: Option<Ratio>) -> bool {
    let Some(index) = site.index() else {
        return false;
    };
    let (enabled, activation) = {
        let mut state = world.buggify.borrow_mut();
        if state.sites.len() <= index {
            let len = buggify_sites().len().max(index + 1);
            state.sites.resize(len, SiteState::default());
        }
        let enabled = state.enabled;
        let entry = &mut state.sites[index];
        entry.evaluations += 1;
        (enabled, entry.activation)
    };
    if !enabled {
        return false;
    }
    let knob = site.kind == BuggifyKind::Knob;
    // After quiescence nothing fires, but an active knob keeps its value.
    let kept_knob = knob && activation == Activation::Active;
    if !(world.chaos_active() || kept_knob) {
        return false;
    }
    let active = match activation {
        Activation::Active => true,
        Activation::Inactive => false,
        Activation::Undecided => {
            let drawn = draw::bool(world, SITE_ACTIVE_P);
            // A selection (`--buggify-sites`) overrides the draw, which is
            // still taken so that the generator's stream stays the same.
            let active = match &world.kernel.config.faults.buggify_sites {
                None => drawn,
                Some(sites) => sites.contains(&site_name(site)),
            };
            set(world, index, |s| {
                s.activation = if active {
                    Activation::Active
                } else {
                    Activation::Inactive
                }
            });
            if active && knob {
                world.note("buggify.knob", process(world), || {
                    format!("knob at {} takes its chaos value", site.location())
                });
            }
            active
        }
    };
    if !active {
        return false;
    }
    let fire = knob || draw::bool(world, probability.unwrap_or(FIRE_P));
    if fire {
        set(world, index, |s| s.fired += 1);
        if !knob {
            world.note("buggify.fire", process(world), || {
                format!("buggify at {}", site.location())
            });
        }
    }
    fire
}

fn set(world: &World, index: usize, f: impl FnOnce(&mut SiteState)) {
    if let Some(s) = world.buggify.borrow_mut().sites.get_mut(index) {
        f(s);
    }
}

fn process(world: &World) -> Option<ProcessId> {
    world.current().map(|(_, p)| p)
}

/// The sites evaluated in this seed, in registry order.
pub(crate) fn stats(world: &World) -> Vec<BuggifyStats> {
    let state = world.buggify.borrow();
    let sites = buggify_sites();
    state
        .sites
        .iter()
        .zip(sites)
        .filter(|(s, _)| s.evaluations > 0)
        .map(|(s, site)| BuggifyStats {
            site,
            active: s.activation == Activation::Active,
            evaluations: s.evaluations,
            fired: s.fired,
        })
        .collect()
}

/// `moonpool_core::buggify!()`: `true` when this call site injects a fault
/// now. See the [module documentation](mod@crate::buggify) for the model.
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::__core::buggify!()
    };
}

/// `moonpool_core::buggify_with_prob!(p)`: like [`buggify!`], firing with
/// probability `p` (a `Ratio`) when the site is active.
#[macro_export]
macro_rules! buggify_with_prob {
    ($p:expr) => {
        $crate::__core::buggify_with_prob!($p)
    };
}

/// `moonpool_core::buggify_knob!(production, chaos)`: the chaos value in
/// seeds where this knob site is active, the production value otherwise.
#[macro_export]
macro_rules! buggify_knob {
    ($production:expr, $chaos:expr $(,)?) => {
        $crate::__core::buggify_knob!($production, $chaos)
    };
}
