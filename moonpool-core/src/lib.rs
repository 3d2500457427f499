//! # moonpool-core
//!
//! The provider traits of moonpool, and their real implementation on tokio.
//!
//! A distributed system tested with moonpool reaches the outside world only
//! through a [`Providers`] bundle: [time](TimeProvider), [tasks](TaskProvider),
//! the [network](NetworkProvider), [randomness](RandomProvider) and
//! [storage](StorageProvider). Written once against these traits, the same
//! code runs inside `moonpool-sim`'s deterministic simulation (virtual time,
//! injected faults, one seed per execution) and in production on
//! [`TokioProviders`](tokio_providers::TokioProviders). This crate holds no
//! simulator code.
//!
//! ## A first program
//!
//! An echo server and a client, generic over the providers:
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use moonpool_core::{JoinHandle, Listener, NetworkProvider, Providers, TaskProvider, TimeProvider};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! async fn echo_once<P: Providers>(p: &P, addr: SocketAddr) -> std::io::Result<Vec<u8>> {
//!     let listener = p.network().bind(addr).await?;
//!     let addr = listener.local_addr()?;
//!     // The server runs as its own task; dropping its handle would cancel it.
//!     let server = p.task().spawn("echo-server", async move {
//!         let (mut stream, _) = listener.accept().await?;
//!         let mut buf = [0u8; 5];
//!         stream.read_exact(&mut buf).await?;
//!         stream.write_all(&buf).await?;
//!         std::io::Result::Ok(())
//!     });
//!     let mut client = p.network().connect(addr).await?;
//!     client.write_all(b"hello").await?;
//!     let mut reply = vec![0u8; 5];
//!     // Never wait forever on the network: every wait has a deadline.
//!     p.time()
//!         .timeout(Duration::from_secs(5), client.read_exact(&mut reply))
//!         .await
//!         .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
//!     server.await.expect("server task")?;
//!     Ok(reply)
//! }
//!
//! let reply = moonpool_core::tokio_providers::run(|p| async move {
//!     echo_once(&p, "127.0.0.1:0".parse().unwrap()).await
//! })
//! .expect("runtime")
//! .expect("echo");
//! assert_eq!(reply, b"hello");
//! ```
//!
//! Under `moonpool-sim` the same `echo_once` runs with the simulator's
//! providers, in virtual time, with whatever faults the seed chooses.
//!
//! ## Determinism rules for code under test
//!
//! Simulation replays a seed exactly only if the code under test takes every
//! decision from its providers:
//! - time from [`TimeProvider`], never `std::time::Instant::now()` or
//!   `SystemTime::now()`;
//! - randomness from [`RandomProvider`], never `rand::thread_rng()`;
//! - concurrency from [`TaskProvider`], never `tokio::spawn` or `std::thread`;
//! - I/O from [`NetworkProvider`] and [`StorageProvider`];
//! - no iteration over a `std::collections::HashMap`/`HashSet` with the
//!   default random hasher where the order matters: use `BTreeMap`, or a
//!   hasher with a fixed seed.
//!
//! ## Buggify and assertions
//!
//! The [`buggify!`] family injects faults from inside the code under test,
//! and the assertion macros ([`always!`], [`sometimes!`], [`reachable!`],
//! [`assert_unreachable!`], numeric forms) state properties the simulator
//! checks and accumulates across seeds. They are defined here so that any
//! crate built on these traits can use them; a simulator plugs in through
//! [`sim_hook`]. Outside a simulation `buggify!()` is `false` and a violated
//! assertion is logged at `error` (never a panic). See [`buggify`](mod@buggify) and
//! [`assertions`].

// No `unsafe` in this crate. Its own unit tests expand the buggify and
// assertion macros, whose site registries are link-time statics
// (`#[link_section]`, which the lint counts as unsafe): only those test
// modules are allowed it, so tests build the crate with `deny` instead of
// `forbid`. Other crates using the macros expand them as external macros
// and may forbid `unsafe_code` themselves.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]

pub mod assertions;
pub mod buggify;
pub mod codec;
#[cfg(feature = "contract")]
pub mod contract;
pub mod network;
pub mod providers;
pub mod random;
pub mod sim_hook;
pub mod storage;
pub mod task;
pub mod time;
#[cfg(feature = "tokio")]
pub mod tokio_providers;

pub use assertions::{AssertionKind, AssertionSite, Comparison, Number, assertion_sites};
pub use buggify::{BuggifyKind, BuggifySite, buggify_sites};
pub use codec::{Codec, CodecError, PostcardCodec};
pub use network::{Listener, NetStream, NetworkProvider};
pub use providers::Providers;
pub use random::{
    RandomProvider, Ratio, RatioError, SeedParseError, SeedSyntaxError, UniformInt, entropy_seed,
    parse_seed,
};
pub use storage::{OpenMode, StorageError, StorageFile, StorageProvider, validate_path};
pub use task::{JoinError, JoinHandle, TaskProvider, YieldNow};
pub use time::{Elapsed, Instant, TimeProvider};

/// Re-exports the macros need; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use linkme;
}
