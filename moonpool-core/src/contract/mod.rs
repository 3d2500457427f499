//! The provider contract suite: behaviour every [`Providers`] bundle must
//! have, written once against the traits.
//!
//! A provider implementation runs the suite by implementing [`Harness`]
//! (how to run an async test case with fresh providers) and invoking
//! [`provider_contract_tests!`](crate::provider_contract_tests), which
//! expands to one `#[test]` per case:
//!
//! ```ignore
//! struct MyHarness;
//! impl moonpool_core::contract::Harness for MyHarness { /* ... */ }
//! moonpool_core::provider_contract_tests!(MyHarness);
//! ```
//!
//! `moonpool-core` runs it against `TokioProviders`; `moonpool-sim` runs it
//! against the simulated providers. Each case panics (through `assert!`)
//! when the behaviour it names is broken, and `tests/contract_teeth.rs`
//! checks that deliberately broken providers do fail the cases.

pub mod network;
pub mod random;
pub mod storage;
pub mod task;
pub mod time;

use std::future::Future;
use std::net::SocketAddr;

use crate::Providers;

/// How to run one contract case with a given provider implementation.
pub trait Harness {
    /// The provider bundle under test.
    type P: Providers;

    /// Runs `case` to completion with fresh providers whose random
    /// generator is seeded with `seed` and whose storage is empty, and
    /// returns its output. A panic in the case must fail the calling test.
    fn run<T, Fut>(seed: u64, case: impl FnOnce(Self::P) -> Fut + 'static) -> T
    where
        T: 'static,
        Fut: Future<Output = T> + 'static;

    /// An address the providers can bind listeners on; port 0 asks for any
    /// free port.
    fn listen_addr(providers: &Self::P) -> SocketAddr;
}

/// Runs a case that needs only the providers.
pub fn run_case<H: Harness, Fut>(case: fn(H::P) -> Fut)
where
    Fut: Future<Output = ()> + 'static,
{
    H::run(0x5EED, case)
}

/// Runs a case that also needs a listen address.
pub fn run_net_case<H: Harness, Fut>(case: fn(H::P, SocketAddr) -> Fut)
where
    Fut: Future<Output = ()> + 'static,
{
    H::run(0x5EED, move |p: H::P| {
        let addr = H::listen_addr(&p);
        case(p, addr)
    })
}

/// Expands to one `#[test]` per contract case for the given [`Harness`].
///
/// `provider_contract_tests!(H)` runs every group; `provider_contract_tests!(H; time, task)`
/// runs only the named groups (`time`, `task`, `random`, `storage`, `network`).
#[macro_export]
macro_rules! provider_contract_tests {
    ($harness:ty) => {
        $crate::provider_contract_tests!($harness; time, task, random, storage, network);
    };
    ($harness:ty; $($group:ident),+ $(,)?) => {
        $( $crate::provider_contract_tests!(@group $group $harness); )+
    };
    (@group time $harness:ty) => {
        $crate::provider_contract_tests!(@cases $harness;
            time_sleep_waits_at_least_its_duration => time::sleep_waits_at_least_its_duration,
            time_sleeps_complete_in_deadline_order => time::sleeps_complete_in_deadline_order,
            time_sleep_until_a_past_deadline_is_immediate => time::sleep_until_a_past_deadline_is_immediate,
            time_timeout_fires_when_the_future_is_slow => time::timeout_fires_when_the_future_is_slow,
            time_timeout_does_not_fire_when_the_future_is_fast => time::timeout_does_not_fire_when_the_future_is_fast,
        );
    };
    (@group task $harness:ty) => {
        $crate::provider_contract_tests!(@cases $harness;
            task_join_returns_the_output => task::join_returns_the_output,
            task_dropping_the_handle_cancels_the_task => task::dropping_the_handle_cancels_the_task,
            task_detached_task_keeps_running => task::detached_task_keeps_running,
            task_abort_resolves_join_with_cancelled => task::abort_resolves_join_with_cancelled,
            task_yield_now_lets_other_tasks_run => task::yield_now_lets_other_tasks_run,
        );
    };
    (@group random $harness:ty) => {
        $crate::provider_contract_tests!(@cases $harness;
            random_ranges_are_respected => random::ranges_are_respected,
        );
        #[test]
        fn random_draws_are_reproducible_for_a_fixed_seed() {
            $crate::contract::random::draws_are_reproducible_for_a_fixed_seed::<$harness>();
        }
    };
    (@group storage $harness:ty) => {
        $crate::provider_contract_tests!(@cases $harness;
            storage_write_sync_reopen_read => storage::write_sync_reopen_read,
            storage_open_missing_file_is_not_found => storage::open_missing_file_is_not_found,
            storage_create_new_on_existing_file_fails => storage::create_new_on_existing_file_fails,
            storage_truncate_shrinks_and_zero_extends => storage::truncate_shrinks_and_zero_extends,
            storage_write_past_end_zero_fills_the_gap => storage::write_past_end_zero_fills_the_gap,
            storage_delete_removes_the_file => storage::delete_removes_the_file,
            storage_invalid_paths_are_rejected => storage::invalid_paths_are_rejected,
            storage_open_truncate_empties_an_existing_file => storage::open_truncate_empties_an_existing_file,
        );
    };
    (@group network $harness:ty) => {
        $crate::provider_contract_tests!(@net_cases $harness;
            network_connect_to_a_closed_port_is_refused => network::connect_to_a_closed_port_is_refused,
            network_echo_round_trip => network::echo_round_trip,
            network_partial_reads_are_reassembled => network::partial_reads_are_reassembled,
            network_reader_sees_eof_after_peer_closes => network::reader_sees_eof_after_peer_closes,
            network_pending_connections_are_all_accepted => network::pending_connections_are_all_accepted,
            network_binding_a_bound_address_fails => network::binding_a_bound_address_fails,
            network_addresses_match_on_both_ends => network::addresses_match_on_both_ends,
        );
    };
    (@cases $harness:ty; $($name:ident => $case:path),* $(,)?) => {$(
        #[test]
        fn $name() {
            use $crate::contract::*;
            $crate::contract::run_case::<$harness, _>($case);
        }
    )*};
    (@net_cases $harness:ty; $($name:ident => $case:path),* $(,)?) => {$(
        #[test]
        fn $name() {
            use $crate::contract::*;
            $crate::contract::run_net_case::<$harness, _>($case);
        }
    )*};
}
