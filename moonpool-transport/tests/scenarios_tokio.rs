//! The transport scenario suite on real tokio over loopback.

use std::future::Future;
use std::net::SocketAddr;

use moonpool_core::tokio_providers::{TokioProviders, run_with};
use moonpool_transport::scenarios::Harness;

// ANCHOR: harness
struct TokioHarness;

impl Harness for TokioHarness {
    type P = TokioProviders;

    fn run<T, Fut>(seed: u64, case: impl FnOnce(TokioProviders) -> Fut + 'static) -> T
    where
        T: 'static,
        Fut: Future<Output = T> + 'static,
    {
        run_with(TokioProviders::with_seed(seed), case).expect("tokio runtime")
    }

    fn listen_addr(_: &TokioProviders, _index: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }
}

moonpool_transport::transport_scenario_tests!(TokioHarness);
// ANCHOR_END: harness
