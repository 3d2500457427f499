//! Sweeps: totals over seeds and the checks on them.

use std::collections::BTreeMap;

use moonpool_sim::assertions::Coverage;
use moonpool_sim::assertions::SiteStatus;
use moonpool_sim::network::FAULT_FAMILIES;

use crate::audit::run_and_audit;
use crate::simulation::Profile;
use crate::tap::FlipAccount;

/// Totals over a sweep.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) seeds: u64,
    pub(crate) calls: u64,
    pub(crate) tally: BTreeMap<&'static str, u64>,
    pub(crate) flips: FlipAccount,
    pub(crate) detected: u64,
    pub(crate) reliable_resent: u64,
    pub(crate) reconnects: u64,
    pub(crate) survived_disconnect: u64,
    /// Fault kind → seeds in which it fired.
    pub(crate) fault_seeds: BTreeMap<&'static str, u64>,
    pub(crate) failures: Vec<String>,
}

pub(crate) fn sweep(
    seeds: impl Iterator<Item = u64>,
    profile: Profile,
    coverage: &mut Coverage,
) -> Totals {
    let test = match profile {
        Profile::Default => "chaos_sweep",
        Profile::HeavyCorruption => "chaos_sweep_heavy_corruption",
    };
    let mut t = Totals::default();
    for seed in seeds {
        let (report, audit) = run_and_audit(seed, profile);
        coverage.observe(&report);
        t.seeds += 1;
        for (kind, n) in &report.counters {
            if *n > 0 {
                *t.fault_seeds.entry(kind).or_default() += 1;
            }
        }
        match audit {
            Ok(a) => {
                t.calls += a.calls;
                for (k, v) in a.tally {
                    *t.tally.entry(k).or_default() += v;
                }
                t.flips.add(&a.flips);
                t.detected += a.detected;
                t.reliable_resent += a.reliable_resent;
                t.reconnects += a.reconnects;
                t.survived_disconnect += a.survived_disconnect;
            }
            Err(e) => t.failures.push(format!(
                "seed {seed:#x}: {e}\n  replay: MOONPOOL_SEED={seed:#x} cargo test -p moonpool-transport --test chaos_sim {test} -- --exact --nocapture"
            )),
        }
    }
    t
}

/// The transport's coverage goals: every one must be reached over a sweep.
pub(crate) const TRANSPORT_GOALS: &[&str] = &[
    "a peer reconnects after a backoff delay",
    "a corrupted frame is detected",
    "a corrupted handshake is detected",
    "a reply promise is broken",
    "a lost connection ends at-most-once calls with MaybeDelivered",
    "a failed connection ends unsent calls with ConnectionFailed",
    "reliable frames are resent on a new connection",
    "a call fails fast: its address is marked failed",
    "a failed address recovers",
    "a silent connection is closed by the ping timeout",
    "a late outcome of a finished call is ignored",
];

pub(crate) fn check_totals(t: &Totals, coverage: &Coverage, whole_sweep: bool) {
    eprintln!(
        "chaos: {} seeds, {} calls, outcomes {:?}",
        t.seeds, t.calls, t.tally
    );
    eprintln!(
        "chaos: flips {} (in handshakes {}, length words {}, frame bodies {}); reached a check {}, detected {}; never checkable: {} first flips in unfinished frames, {} later flips on condemned ends",
        t.flips.flips,
        t.flips.in_handshake,
        t.flips.in_length_word,
        t.flips.in_frame_body,
        t.flips.checkable,
        t.detected,
        t.flips.unfinished,
        t.flips.after_first
    );
    eprintln!(
        "chaos: reliable frames resent {}, reconnects {}, long calls answered across a disconnect {}",
        t.reliable_resent, t.reconnects, t.survived_disconnect
    );
    eprintln!("chaos: fault kinds (seeds fired): {:?}", t.fault_seeds);
    assert!(
        t.failures.is_empty(),
        "{} of {} seeds failed:\n{}",
        t.failures.len(),
        t.seeds,
        t.failures.join("\n")
    );
    if !whole_sweep {
        return;
    }
    eprintln!("{}", coverage.render());
    for (family, kinds) in FAULT_FAMILIES {
        assert!(
            kinds.iter().any(|k| t.fault_seeds.contains_key(k)),
            "fault family {family} never fired ({kinds:?})"
        );
    }
    assert!(
        t.fault_seeds.contains_key("process.kill"),
        "no server was killed"
    );
    assert!(
        t.flips.flips > 0 && t.detected > 0,
        "no bit flip was caught"
    );
    assert!(t.reliable_resent > 0 && t.reconnects > 0);
    assert!(
        t.survived_disconnect > 0,
        "no reliable call got its reply across a disconnection"
    );
    for goal in TRANSPORT_GOALS {
        let site = coverage
            .site_named(goal)
            .unwrap_or_else(|| panic!("no assertion site {goal:?}"));
        assert!(
            site.status() == SiteStatus::Satisfied,
            "transport coverage goal {goal:?} not reached:\n{}",
            coverage.render()
        );
    }
}
