//! The contract suite has teeth: providers broken in one named way fail the
//! case that names that behaviour, with that case's message.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use moonpool_core::contract::{self, Harness};
use moonpool_core::tokio_providers::{
    TokioFile, TokioJoinHandle, TokioNetwork, TokioProviders, TokioRandom, TokioStorage, TokioTask,
    TokioTime, run_with,
};
use moonpool_core::{
    Instant, JoinError, JoinHandle, OpenMode, Providers, RandomProvider, StorageError, StorageFile,
    StorageProvider, TaskProvider, TimeProvider,
};

/// A bundle whose components can be swapped one at a time.
#[derive(Clone)]
struct Bundle<Ti, Ta, R, S> {
    time: Ti,
    task: Ta,
    network: TokioNetwork,
    random: R,
    storage: S,
}

impl<Ti: TimeProvider, Ta: TaskProvider, R: RandomProvider, S: StorageProvider> Providers
    for Bundle<Ti, Ta, R, S>
{
    type Time = Ti;
    type Task = Ta;
    type Network = TokioNetwork;
    type Random = R;
    type Storage = S;
    fn time(&self) -> &Ti {
        &self.time
    }
    fn task(&self) -> &Ta {
        &self.task
    }
    fn network(&self) -> &TokioNetwork {
        &self.network
    }
    fn random(&self) -> &R {
        &self.random
    }
    fn storage(&self) -> &S {
        &self.storage
    }
}

/// Builds a component for a run with `seed` and storage under `root`.
trait Make {
    fn make(seed: u64, root: &std::path::Path) -> Self;
}
impl Make for TokioTime {
    fn make(_: u64, _: &std::path::Path) -> Self {
        TokioTime
    }
}
impl Make for TokioTask {
    fn make(_: u64, _: &std::path::Path) -> Self {
        TokioTask
    }
}
impl Make for TokioRandom {
    fn make(seed: u64, _: &std::path::Path) -> Self {
        TokioRandom::new(seed)
    }
}
impl Make for TokioStorage {
    fn make(_: u64, root: &std::path::Path) -> Self {
        TokioStorage::new(root.to_path_buf())
    }
}

struct BrokenHarness<Ti, Ta, R, S>(std::marker::PhantomData<(Ti, Ta, R, S)>);

impl<Ti, Ta, R, S> Harness for BrokenHarness<Ti, Ta, R, S>
where
    Ti: TimeProvider + Make,
    Ta: TaskProvider + Make,
    R: RandomProvider + Make,
    S: StorageProvider + Make,
{
    type P = Bundle<Ti, Ta, R, S>;

    fn run<T, Fut>(seed: u64, case: impl FnOnce(Self::P) -> Fut + 'static) -> T
    where
        T: 'static,
        Fut: Future<Output = T> + 'static,
    {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let root: PathBuf = std::env::temp_dir().join(format!(
            "moonpool-teeth-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&root).expect("scratch dir");
        let bundle = Bundle {
            time: Ti::make(seed, &root),
            task: Ta::make(seed, &root),
            network: TokioNetwork,
            random: R::make(seed, &root),
            storage: S::make(seed, &root),
        };
        let providers = TokioProviders::with_seed(seed);
        let out = run_with(providers, move |_| case(bundle)).expect("runtime");
        let _ = std::fs::remove_dir_all(&root);
        out
    }

    fn listen_addr(_: &Self::P) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }
}

/// Runs `f`, which must panic; returns the panic message.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("the broken provider passed the case");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// --- Broken time: every sleep returns after half its duration. ---

#[derive(Clone)]
struct EarlyTime;
impl Make for EarlyTime {
    fn make(_: u64, _: &std::path::Path) -> Self {
        EarlyTime
    }
}
impl TimeProvider for EarlyTime {
    type Sleep = tokio::time::Sleep;
    fn now(&self) -> Instant {
        TokioTime.now()
    }
    fn sleep(&self, d: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(d / 2)
    }
}

#[test]
fn a_sleep_that_returns_early_fails_the_sleep_case() {
    type H = BrokenHarness<EarlyTime, TokioTask, TokioRandom, TokioStorage>;
    let msg = panic_message(|| {
        contract::run_case::<H, _>(contract::time::sleep_waits_at_least_its_duration)
    });
    assert!(msg.contains("returned after only"), "{msg}");
}

// --- Broken tasks: dropping a handle detaches instead of cancelling. ---

#[derive(Clone)]
struct LeakyTask;
impl Make for LeakyTask {
    fn make(_: u64, _: &std::path::Path) -> Self {
        LeakyTask
    }
}
struct LeakyHandle<T>(Option<TokioJoinHandle<T>>);
impl<T: 'static> Future for LeakyHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.as_mut() {
            Some(h) => Pin::new(h).poll(cx),
            None => Poll::Ready(Err(JoinError::Cancelled)),
        }
    }
}
impl<T: 'static> JoinHandle<T> for LeakyHandle<T> {
    fn detach(mut self) {
        if let Some(h) = self.0.take() {
            h.detach()
        }
    }
    fn abort(&self) {
        if let Some(h) = &self.0 {
            h.abort()
        }
    }
    fn is_finished(&self) -> bool {
        self.0.as_ref().is_none_or(|h| h.is_finished())
    }
}
impl<T> Drop for LeakyHandle<T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            // The bug: tokio semantics (detach) instead of cancel-on-drop.
            std::mem::forget(h);
        }
    }
}
impl TaskProvider for LeakyTask {
    type Handle<T: 'static> = LeakyHandle<T>;
    fn spawn<F>(&self, name: &str, future: F) -> LeakyHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        LeakyHandle(Some(TokioTask.spawn(name, future)))
    }
}

#[test]
fn a_handle_that_does_not_cancel_on_drop_fails_the_cancel_case() {
    type H = BrokenHarness<TokioTime, LeakyTask, TokioRandom, TokioStorage>;
    let msg = panic_message(|| {
        contract::run_case::<H, _>(contract::task::dropping_the_handle_cancels_the_task)
    });
    assert!(msg.contains("ran on after its handle was dropped"), "{msg}");
}

// --- Broken randomness: the seed is ignored. ---

#[derive(Clone)]
struct UnseededRandom(TokioRandom);
impl Make for UnseededRandom {
    fn make(_: u64, _: &std::path::Path) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(1);
        UnseededRandom(TokioRandom::new(
            COUNTER.fetch_add(1, Ordering::Relaxed) as u64 * 0x9E37_79B9,
        ))
    }
}
impl RandomProvider for UnseededRandom {
    fn next_u64(&self) -> u64 {
        self.0.next_u64()
    }
}

#[test]
fn randomness_that_ignores_the_seed_fails_the_reproducibility_case() {
    type H = BrokenHarness<TokioTime, TokioTask, UnseededRandom, TokioStorage>;
    let msg = panic_message(contract::random::draws_are_reproducible_for_a_fixed_seed::<H>);
    assert!(msg.contains("same seed, different draws"), "{msg}");
}

// --- Broken storage: every write loses its last byte. ---

#[derive(Clone)]
struct LossyStorage(TokioStorage);
struct LossyFile(TokioFile);
impl Make for LossyStorage {
    fn make(seed: u64, root: &std::path::Path) -> Self {
        LossyStorage(TokioStorage::make(seed, root))
    }
}
impl StorageFile for LossyFile {
    async fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, StorageError> {
        self.0.read_at(buf, offset).await
    }
    async fn write_at(&self, buf: &[u8], offset: u64) -> Result<(), StorageError> {
        self.0
            .write_at(&buf[..buf.len().saturating_sub(1)], offset)
            .await
    }
    async fn sync(&self) -> Result<(), StorageError> {
        self.0.sync().await
    }
    async fn len(&self) -> Result<u64, StorageError> {
        self.0.len().await
    }
    async fn truncate(&self, len: u64) -> Result<(), StorageError> {
        self.0.truncate(len).await
    }
}
impl StorageProvider for LossyStorage {
    type File = LossyFile;
    async fn open(&self, path: &str, mode: OpenMode) -> Result<LossyFile, StorageError> {
        self.0.open(path, mode).await.map(LossyFile)
    }
    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.0.delete(path).await
    }
    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        self.0.exists(path).await
    }
}

#[test]
fn storage_that_loses_bytes_fails_the_read_back_case() {
    type H = BrokenHarness<TokioTime, TokioTask, TokioRandom, LossyStorage>;
    let msg =
        panic_message(|| contract::run_case::<H, _>(contract::storage::write_sync_reopen_read));
    assert!(msg.contains("length after two writes"), "{msg}");
}
