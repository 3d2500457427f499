//! The [`Providers`] bundle: one type parameter that gives application code
//! every capability it may use.
//!
//! Code under test is written once as `async fn f<P: Providers>(p: &P)` and
//! reaches time, tasks, the network, randomness and storage only through
//! `p`. The simulated backend and the tokio backend each supply a bundle; nothing
//! else changes. Associated types keep dispatch static: no boxing on the
//! hot paths.

use crate::network::NetworkProvider;
use crate::random::RandomProvider;
use crate::storage::StorageProvider;
use crate::task::TaskProvider;
use crate::time::TimeProvider;

/// Everything a process may use, bundled. Cheap to clone (handles only).
pub trait Providers: Clone + 'static {
    /// Clocks and timers.
    type Time: TimeProvider;
    /// Spawning tasks.
    type Task: TaskProvider;
    /// Listeners and streams.
    type Network: NetworkProvider;
    /// Deterministic random draws.
    type Random: RandomProvider;
    /// Files.
    type Storage: StorageProvider;

    /// The time provider.
    fn time(&self) -> &Self::Time;
    /// The task provider.
    fn task(&self) -> &Self::Task;
    /// The network provider.
    fn network(&self) -> &Self::Network;
    /// The random provider.
    fn random(&self) -> &Self::Random;
    /// The storage provider.
    fn storage(&self) -> &Self::Storage;
}
