//! The real providers: tokio's current-thread runtime, local tasks, TCP
//! sockets, files, and a seeded ChaCha8 generator.
//!
//! Everything runs on one thread, like a simulated process: tasks are
//! spawned with `spawn_local` on a [`tokio::task::LocalSet`], so they need
//! not be `Send`. [`run`] builds the runtime and the local set and runs an
//! async main in them; [`TokioProviders`] must be used inside it.
//!
//! The random generator is seeded from the OS unless a seed is forced with
//! [`TokioProviders::with_seed`] or the `MOONPOOL_REAL_SEED` environment
//! variable (decimal or `0x` hex). The seed in use is logged at `info` level
//! and available from [`TokioProviders::seed`].

mod network;
mod random;
mod storage;
mod task;
mod time;

use std::future::Future;
use std::path::PathBuf;

pub use network::TokioNetwork;
pub use random::TokioRandom;
pub use storage::{TokioFile, TokioStorage};
pub use task::{TokioJoinHandle, TokioTask};
pub use time::TokioTime;

use crate::Providers;
use crate::random::{SeedParseError, parse_seed};

/// The environment variable that forces the real providers' random seed.
pub const REAL_SEED_ENV: &str = "MOONPOOL_REAL_SEED";

/// Errors setting up the real providers.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The tokio runtime could not be built.
    #[error("cannot build the tokio runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// `MOONPOOL_REAL_SEED` is set but is not a seed.
    #[error("{REAL_SEED_ENV}: {0}")]
    InvalidSeed(#[from] SeedParseError),
}

/// The real provider bundle. Cheap to clone; clones share the random
/// generator, so draws from any clone continue one sequence.
#[derive(Clone, Debug)]
pub struct TokioProviders {
    time: TokioTime,
    task: TokioTask,
    network: TokioNetwork,
    random: TokioRandom,
    storage: TokioStorage,
}

impl TokioProviders {
    /// Providers seeded from `MOONPOOL_REAL_SEED` if set, else from the OS,
    /// with files under the current directory. The seed is logged.
    pub fn new() -> Result<TokioProviders, ProviderError> {
        let seed = match std::env::var(REAL_SEED_ENV) {
            Ok(text) => parse_seed(&text)?,
            Err(_) => crate::random::entropy_seed(),
        };
        Ok(TokioProviders::with_seed(seed))
    }

    /// Providers with a forced random seed, files under the current directory.
    pub fn with_seed(seed: u64) -> TokioProviders {
        tracing::info!(
            seed = %format_args!("{seed:#x}"),
            "real providers seeded (force with {REAL_SEED_ENV})"
        );
        TokioProviders {
            time: TokioTime,
            task: TokioTask,
            network: TokioNetwork,
            random: TokioRandom::new(seed),
            storage: TokioStorage::new(PathBuf::from(".")),
        }
    }

    /// The same providers with files resolved under `root`.
    pub fn with_storage_root(mut self, root: impl Into<PathBuf>) -> TokioProviders {
        self.storage = TokioStorage::new(root.into());
        self
    }

    /// The random seed in use.
    pub fn seed(&self) -> u64 {
        self.random.seed()
    }
}

impl Providers for TokioProviders {
    type Time = TokioTime;
    type Task = TokioTask;
    type Network = TokioNetwork;
    type Random = TokioRandom;
    type Storage = TokioStorage;

    fn time(&self) -> &TokioTime {
        &self.time
    }
    fn task(&self) -> &TokioTask {
        &self.task
    }
    fn network(&self) -> &TokioNetwork {
        &self.network
    }
    fn random(&self) -> &TokioRandom {
        &self.random
    }
    fn storage(&self) -> &TokioStorage {
        &self.storage
    }
}

/// Builds a current-thread runtime and a local task set, and runs
/// `main(providers)` to completion on them with [`TokioProviders::new`].
pub fn run<F, Fut>(main: F) -> Result<Fut::Output, ProviderError>
where
    F: FnOnce(TokioProviders) -> Fut,
    Fut: Future,
{
    let providers = TokioProviders::new()?;
    run_with(providers, main)
}

/// Like [`run`], with providers built by the caller.
pub fn run_with<F, Fut>(providers: TokioProviders, main: F) -> Result<Fut::Output, ProviderError>
where
    F: FnOnce(TokioProviders) -> Fut,
    Fut: Future,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    Ok(local.block_on(&runtime, main(providers)))
}
