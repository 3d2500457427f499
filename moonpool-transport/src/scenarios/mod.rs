//! The transport scenario suite: behaviour the transport must have on every
//! backend, written once against the provider traits.
//!
//! A backend (a set of providers: the simulator's, tokio's) runs the suite
//! by implementing [`Harness`] and invoking
//! [`transport_scenario_tests!`](crate::transport_scenario_tests), which
//! expands to one `#[test]` per scenario:
//!
//! ```ignore
//! struct TokioHarness;
//! impl moonpool_transport::scenarios::Harness for TokioHarness { /* ... */ }
//! moonpool_transport::transport_scenario_tests!(TokioHarness);
//! ```
//!
//! `moonpool-transport/tests/scenarios_tokio.rs` runs it on real tokio over
//! loopback. `moonpool-transport/tests/scenarios_sim.rs` runs the same cases
//! in the simulator: `run` starts a simulation of the seed, `node(p, i)`
//! returns the providers of a separate simulated process for node `i`, and
//! `listen_addr(p, i)` gives that node's address. [`all_cases`] lists the
//! cases for seed sweeps. Every scenario asserts the same outcomes on both
//! backends, on a fault-free network (the scenarios inject their own faults:
//! restarts, raw corrupted bytes, silent peers); chaos belongs in separate
//! tests. Every wait in a scenario is bounded, so a broken transport fails
//! a scenario instead of hanging it.
//!
//! Nodes: scenario code uses node 0 as the server and nodes 1.. as clients.

mod cases;
mod delivery;
mod identity;
mod limits;
mod liveness;
mod raw;
mod support;

use std::future::Future;
use std::net::SocketAddr;

use moonpool_core::Providers;

use crate::TransportConfig;

pub use cases::*;
pub use delivery::*;
pub use identity::*;
pub use limits::*;
pub use liveness::*;
pub use raw::*;
pub use support::*;

/// How to run one scenario on a given backend.
pub trait Harness: 'static {
    /// The provider bundle.
    type P: Providers;

    /// Runs `case` to completion with fresh providers seeded with `seed`,
    /// and returns its output. A panic in the case must fail the test.
    fn run<T, Fut>(seed: u64, case: impl FnOnce(Self::P) -> Fut + 'static) -> T
    where
        T: 'static,
        Fut: Future<Output = T> + 'static;

    /// The providers node `index` uses. Defaults to the same providers; a
    /// simulator returns a separate process's providers.
    fn node(p: &Self::P, index: usize) -> Self::P {
        let _ = index;
        p.clone()
    }

    /// The listen address of node `index`. Port 0 asks for any free port
    /// (the scenarios then use the address actually bound).
    fn listen_addr(p: &Self::P, index: usize) -> SocketAddr;

    /// The transport configuration of the scenarios: short delays, so that
    /// failure detection takes milliseconds on real time.
    fn config() -> TransportConfig {
        TransportConfig::fast()
    }
}

/// Calls `$crate::$mac!{ $($prefix)* <every scenario name> }`: the one
/// list of scenarios, shared by [`transport_scenario_tests!`] and
/// [`all_cases`].
#[doc(hidden)]
#[macro_export]
macro_rules! __with_transport_scenario_names {
    ($mac:ident { $($prefix:tt)* }) => {
        $crate::$mac! { $($prefix)*
            echo_rpc,
            echo_rpc_from_an_unbound_client,
            many_concurrent_requests,
            server_restart,
            dropped_reply_promise_is_a_broken_promise,
            dropped_request_stream_breaks_queued_promises,
            unknown_endpoint_is_reported,
            timeout_ends_a_call_that_gets_no_reply,
            failed_address_fails_fast_and_recovers,
            self_calls_are_delivered_locally,
            reliable_requests_sent_while_disconnected_arrive_after_reconnect,
            simultaneous_connect_keeps_both_directions_working,
            full_request_stream_answers_overloaded,
            back_pressure_bounds_the_outgoing_queue,
            service_macro_dispatches_several_methods,
            incompatible_version_handshake_is_rejected,
            bad_magic_handshake_is_rejected,
            corrupted_frame_closes_the_connection_without_delivery,
            oversized_frame_length_closes_the_connection,
            connection_closed_mid_frame_delivers_nothing,
            stalled_frame_closes_the_connection,
            dead_peer_is_detected_by_ping_timeout,
            idle_peers_are_forgotten,
            dropping_the_last_handle_shuts_the_transport_down,
            idempotent_retries_ride_out_a_late_server,
            mistyped_request_is_a_bad_request,
            a_quiet_disconnect_is_not_a_failure,
            a_call_whose_connect_failed_is_certainly_not_processed,
            replies_are_not_dropped_for_a_full_queue,
            several_consumers_share_a_request_stream,
            a_live_server_keeps_its_transport_alive,
            an_oversize_reply_is_reported_as_such,
            an_impostor_handshake_is_refused,
            an_older_incarnation_does_not_replace_a_live_connection,
            a_peer_answering_as_another_address_is_refused,
            on_failed_resolves_once_attempts_keep_failing,
            get_reply_unless_failed_ends_when_the_address_fails,
            serve_bounds_the_handlers_in_flight,
            a_request_stream_is_bounded_by_bytes,
            outstanding_reliable_requests_are_bounded_by_bytes,
            established_connections_are_capped,
        }
    };
}

/// Expands to one `#[test]` per transport scenario for the given [`Harness`].
#[macro_export]
macro_rules! transport_scenario_tests {
    ($harness:ty) => {
        $crate::__with_transport_scenario_names!(transport_scenario_tests { @cases $harness; });
    };
    (@cases $harness:ty; $($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            $crate::scenarios::run_scenario::<$harness, _>(
                $crate::scenarios::$name::<$harness>,
            );
        }
    )*};
    (@list $harness:ty; $($name:ident),* $(,)?) => {
        vec![$(
            $crate::scenarios::Case {
                name: stringify!($name),
                run: |seed| $crate::scenarios::run_scenario_with_seed::<$harness, _>(
                    seed,
                    $crate::scenarios::$name::<$harness>,
                ),
            },
        )*]
    };
}

/// One scenario of the suite, runnable with any seed.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// The scenario's name (its function's, and its test's).
    pub name: &'static str,
    /// Runs the scenario on the harness's backend with the given seed.
    pub run: fn(u64),
}

/// Every scenario of the suite for harness `H`, in the order of
/// [`transport_scenario_tests!`](crate::transport_scenario_tests): for seed sweeps.
pub fn all_cases<H: Harness>() -> Vec<Case> {
    crate::__with_transport_scenario_names!(transport_scenario_tests { @list H; })
}

/// The seed [`run_scenario`] uses.
pub const SCENARIO_SEED: u64 = 0x7EA5;

/// Runs one scenario with the suite's seed.
pub fn run_scenario<H: Harness, Fut>(case: fn(H::P) -> Fut)
where
    Fut: Future<Output = ()> + 'static,
{
    run_scenario_with_seed::<H, Fut>(SCENARIO_SEED, case)
}

/// Runs one scenario with another seed (a simulator can sweep seeds: the
/// outcomes asserted hold for every seed on a fault-free network).
pub fn run_scenario_with_seed<H: Harness, Fut>(seed: u64, case: fn(H::P) -> Fut)
where
    Fut: Future<Output = ()> + 'static,
{
    H::run(seed, case)
}
