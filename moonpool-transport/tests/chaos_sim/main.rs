//! The transport under chaos, in simulation.
//!
//! Two echo servers (`server0` at 10.0.0.1, `server1` at 10.0.0.2) and three
//! client processes (two bound, one unbound). Each client runs three
//! workers that, for [`RUN_MS`] of simulated time, call a random server
//! with a random delivery mode and a random timeout:
//!
//! | share | call | timeout | the server |
//! |---|---|---|---|
//! | 15% | `send` | — | records it |
//! | 35% | `try_get_reply` | 20 ms – 3 s | echoes (90%), drops the promise (6%) or holds it (4%) |
//! | 35% | `get_reply` | 20 ms – 3 s | same |
//! | 15% | `get_reply`, spawned, awaited in `check` | 120 s | echoes |
//!
//! Chaos is on: every network fault family, sampled per seed with swarm
//! testing (each family off in half the seeds), the three network nemeses
//! (clogs, partitions, connection kills), and, in half the seeds, process
//! attrition killing and rebooting one server at a time.
//!
//! Every transport the seed creates (server incarnations included) is kept
//! in a registry so its counters survive a kill, and every stream is tapped
//! (`chaos_sim/tap.rs`) for an exact bit-flip account. Per seed:
//!
//! 1. **Exactly one outcome by the deadline.** Every call issued ends with
//!    one outcome, no later than its timeout (a watchdog 1 ms past the
//!    timeout catches silence); `Unreachable` only at the call's start;
//!    calls issued = outcomes recorded, none pending after the seed.
//! 2. **The right outcome.** A reply carries its request's id and body
//!    (`reply.id == request.id`), comes from the server called, is
//!    stamped no earlier than the request was sent, and answers an echo
//!    request; `MaybeDelivered` only for at-most-once calls, `BrokenPromise`
//!    only for requests whose promise the server dropped or gave up;
//!    `send` and `try_get_reply` requests are processed at most once; the
//!    servers never see a request that was not issued or whose body
//!    changed.
//! 3. **Every bit flip is caught.** The flips the tap sees equal the
//!    simulator's `net.bit_flip` counter, and the corruptions the
//!    transports detected (`corruptions_detected()`) equal the flips that
//!    reached a check (see `tap.rs`): exact, not a bound. Zero corrupted
//!    messages are delivered (2.).
//! 4. **Reliable calls survive disconnections.** Every 120 s `get_reply`
//!    ends with its reply (or fails fast with `Unreachable`); calls during
//!    which the connection dropped are counted, with the transports'
//!    `reliable_resent` and `reconnects`.
//!
//! Over the sweep: every fault family fired in some seed, servers were
//! killed, flips were injected and detected, reliable calls survived
//! disconnections, and the transport's `sometimes!`/`reachable!` sites
//! were all reached.
//!
//! Modules, one per part of the test: `service` (the echo service),
//! `shared` (per-seed state), `server`, `client` (the workers and the
//! judging of each call), `simulation` (the chaos profile and the
//! simulation), `audit` (the per-seed checks), `sweep` (totals over seeds),
//! `kill` (a killed process drops its transport), `tap` (the observing
//! providers and the flip account).
//!
//! Commands:
//! - `cargo test -p moonpool-transport --test chaos_sim` (the default
//!   sweep, [`DEFAULT_SEEDS`] seeds, and the rest)
//! - `cargo test -p moonpool-transport --test chaos_sim chaos_sweep --
//!   --nocapture` (with the totals and coverage printed)
//! - `MOONPOOL_SEED=0x2a cargo test -p moonpool-transport --test chaos_sim
//!   chaos_sweep -- --exact --nocapture` (one seed, replayed)

mod audit;
mod client;
mod kill;
mod server;
mod service;
mod shared;
mod simulation;
mod sweep;
mod tap;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_sim::SweepPlan;
use moonpool_sim::assertions::Coverage;

use audit::run_and_audit;
use shared::Shared;
use simulation::{Profile, chaos_simulation};
use sweep::{check_totals, sweep};

/// Server processes.
const SERVERS: usize = 2;
/// Client processes (the last one is unbound).
const CLIENTS: usize = 3;
/// Concurrent call loops per client.
const WORKERS: u64 = 3;
/// How long the workers issue calls, in simulated milliseconds.
const RUN_MS: u64 = 6_000;
/// The servers' port.
const SERVER_PORT: u16 = 4500;
/// The bound clients' port.
const CLIENT_PORT: u16 = 4600;
/// Timeout of the long reliable calls.
const LONG_TIMEOUT: Duration = Duration::from_secs(120);
/// Promises a server holds at most (older ones are dropped: broken).
const HELD_MAX: usize = 64;
/// Seeds of the default sweep.
const DEFAULT_SEEDS: u64 = 1_000;
/// Seeds of the heavy-corruption sweep.
const HEAVY_SEEDS: u64 = 300;
/// Violations kept per seed.
const VIOLATIONS_MAX: usize = 20;

fn server_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i as u8 + 1], SERVER_PORT))
}

#[test]
fn chaos_sweep() {
    let plan = SweepPlan::from_env_or(SweepPlan::range(0, DEFAULT_SEEDS)).expect("MOONPOOL_*");
    let whole = plan.seeds_planned() >= DEFAULT_SEEDS;
    let mut coverage = Coverage::for_modules(&["moonpool_transport"]);
    let totals = sweep(plan.iter_seeds(), Profile::Default, &mut coverage);
    check_totals(&totals, &coverage, whole);
}

#[test]
fn chaos_sweep_heavy_corruption() {
    let plan = SweepPlan::from_env_or(SweepPlan::range(0, HEAVY_SEEDS)).expect("MOONPOOL_*");
    let mut coverage = Coverage::for_modules(&["moonpool_transport"]);
    let t = sweep(plan.iter_seeds(), Profile::HeavyCorruption, &mut coverage);
    check_totals(&t, &coverage, false);
    if plan.seeds_planned() >= HEAVY_SEEDS {
        // The account's hard cases all occurred, and still added up.
        assert!(t.flips.in_handshake > 0 && t.flips.in_length_word > 0);
        assert!(t.flips.unfinished > 0, "no flip in a frame that was cut");
        assert!(t.flips.after_first > 0, "no second flip on a condemned end");
    }
}

#[test]
fn chaos_seeds_replay_identically() {
    for seed in (0..20u64).map(|i| i * 37 + 3) {
        let shared = Rc::new(Shared::default());
        let report = chaos_simulation(&shared, Profile::Default).check_determinism(seed);
        assert!(
            report.outcome.is_pass(),
            "seed {seed:#x}: {:?}",
            report.outcome
        );
        // And a fresh simulation gives the same fingerprint and counters.
        let (again, audit) = run_and_audit(seed, Profile::Default);
        assert_eq!(again.fingerprint, report.fingerprint, "seed {seed:#x}");
        assert_eq!(again.counters, report.counters, "seed {seed:#x}");
        audit.unwrap_or_else(|e| panic!("seed {seed:#x}: {e}"));
    }
}

#[test]
fn recording_the_tap_changes_no_decision() {
    // The tap observes only: with the same seed, the fingerprint is the
    // same whether it records or not (frozen from the start).
    let seed = 5;
    let (a, _) = run_and_audit(seed, Profile::HeavyCorruption);
    let shared = Rc::new(Shared::default());
    shared.tap.borrow_mut().freeze();
    let b = chaos_simulation(&shared, Profile::HeavyCorruption).run_seed(seed);
    assert_eq!(a.fingerprint, b.fingerprint);
}
