//! The provider contract suite against `TokioProviders`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use moonpool_core::contract::Harness;
use moonpool_core::tokio_providers::{TokioProviders, run_with};

struct TokioHarness;

/// A fresh, empty directory per case, removed afterwards.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "moonpool-contract-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Harness for TokioHarness {
    type P = TokioProviders;

    fn run<T, Fut>(seed: u64, case: impl FnOnce(TokioProviders) -> Fut + 'static) -> T
    where
        T: 'static,
        Fut: Future<Output = T> + 'static,
    {
        let dir = ScratchDir::new();
        let providers = TokioProviders::with_seed(seed).with_storage_root(&dir.0);
        run_with(providers, case).expect("tokio runtime")
    }

    fn listen_addr(_: &TokioProviders) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }
}

moonpool_core::provider_contract_tests!(TokioHarness);
