//! The book's chapter "Running in production on tokio"
//! (`docs/src/production.md`): one service written against the providers,
//! run on real tokio (real sockets, real files, a graceful stop) and in
//! the simulation; buggify and assertions outside a simulation.
//!
//! `cargo run -p moonpool-examples --example book_production` runs the
//! service on loopback twice over the same directory and prints what it
//! served.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::pin;
use std::time::Duration;

use futures::future::{Either, select};
use moonpool_core::tokio_providers::{self, TokioProviders};
use moonpool_core::{
    Listener, NetworkProvider, OpenMode, Providers, StorageFile, StorageProvider, TaskProvider,
    TimeProvider, always, buggify, buggify_knob,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ANCHOR: service
/// A durable counter: each connection sends a `u64`, the service adds it to
/// the total kept in the file `counter/total`, syncs, and answers the new
/// total. It serves until `stop` resolves, then finishes the connection in
/// hand and returns how many it served.
pub async fn serve<P: Providers>(
    p: P,
    listener: <P::Network as NetworkProvider>::Listener,
    stop: impl Future<Output = ()>,
) -> io::Result<u64> {
    let file = p
        .storage()
        .open("counter/total", OpenMode::OpenOrCreate)
        .await
        .map_err(io::Error::other)?;
    let mut stop = pin!(stop);
    let mut served = 0;
    loop {
        // Stop accepting as soon as asked; a connection in hand is finished.
        let (mut stream, _) = match select(pin!(listener.accept()), stop.as_mut()).await {
            Either::Left((accepted, _)) => accepted?,
            Either::Right(((), _)) => return Ok(served),
        };
        let mut add = [0u8; 8];
        let answered = p
            .time()
            .timeout(Duration::from_secs(5), async {
                stream.read_exact(&mut add).await?;
                let total = read_total(&file).await? + u64::from_le_bytes(add);
                file.write_at(&total.to_le_bytes(), 0)
                    .await
                    .map_err(io::Error::other)?;
                // Durable before it is acknowledged.
                file.sync().await.map_err(io::Error::other)?;
                stream.write_all(&total.to_le_bytes()).await
            })
            .await;
        if let Ok(Ok(())) = answered {
            served += 1;
        }
    }
}

async fn read_total<F: StorageFile>(file: &F) -> io::Result<u64> {
    let mut total = [0u8; 8];
    if file.len().await.map_err(io::Error::other)? >= 8 {
        file.read_at(&mut total, 0)
            .await
            .map_err(io::Error::other)?;
    }
    Ok(u64::from_le_bytes(total))
}

/// Adds `n` to the counter at `addr`; the new total.
pub async fn add<P: Providers>(p: &P, addr: SocketAddr, n: u64) -> io::Result<u64> {
    let mut stream = p.network().connect(addr).await?;
    stream.write_all(&n.to_le_bytes()).await?;
    let mut total = [0u8; 8];
    p.time()
        .timeout(Duration::from_secs(5), stream.read_exact(&mut total))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    Ok(u64::from_le_bytes(total))
}
// ANCHOR_END: service

// ANCHOR: tokio_main
/// Runs the counter on loopback with its file under `dir`, adds each of
/// `adds`, stops it gracefully; the last total and the connections served.
pub fn run_on_tokio(dir: &Path, adds: &[u64]) -> Result<(u64, u64), String> {
    let providers = TokioProviders::new()
        .map_err(|e| e.to_string())?
        .with_storage_root(dir);
    let adds = adds.to_vec();
    tokio_providers::run_with(providers, |p| async move {
        let listener = p.network().bind(([127, 0, 0, 1], 0).into()).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = futures::channel::oneshot::channel::<()>();
        let server = p.task().spawn(
            "counter",
            serve(p.clone(), listener, async {
                let _ = stopped.await;
            }),
        );
        let mut total = 0;
        for n in adds {
            total = add(&p, addr, n).await?;
        }
        // Graceful stop: no new connection, the one in hand finished.
        let _ = stop.send(());
        let served = server.await.map_err(io::Error::other)??;
        io::Result::Ok((total, served))
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}
// ANCHOR_END: tokio_main

// ANCHOR: in_simulation
/// The same `serve` as a simulated process, and a client adding 1..=10.
fn counter_simulation() -> moonpool_sim::Simulation {
    use moonpool_sim::{FnWorkload, SimContext, SimProviders, SimulationBuilder};
    let addr = SocketAddr::from(([10, 0, 0, 1], 5000));
    SimulationBuilder::new()
        .chaos(false)
        .process(
            "counter",
            [10, 0, 0, 1],
            move |p: SimProviders| async move {
                let listener = p.network().bind(addr).await?;
                serve(p, listener, std::future::pending()).await.map(|_| ())
            },
        )
        .workload("adder", 1, move |_| {
            FnWorkload::new(move |ctx: SimContext| async move {
                let p = ctx.providers();
                p.sleep(Duration::from_millis(100)).await;
                let mut total = 0;
                for n in 1..=10 {
                    total = add(p, addr, n).await?;
                }
                if total != 55 {
                    return Err(format!("the counter says {total}, not 55").into());
                }
                Ok(())
            })
        })
        .build()
        .expect("a valid simulation")
}
// ANCHOR_END: in_simulation

// ANCHOR: buggify
/// How many requests to batch: 64 in production, 1 in the seeds where
/// the simulator activates this site.
fn batch_size() -> usize {
    buggify_knob!(64, 1)
}

/// Whether to drop a cached connection early (never in production).
fn drop_cached_connection() -> bool {
    buggify!()
}
// ANCHOR_END: buggify

// ANCHOR: assertion
/// A check written for the simulator. In a simulation a violation fails
/// the seed; in production it is logged at `error` (target
/// `moonpool::assertions`) and the program goes on.
fn record_total(before: u64, after: u64) {
    always!(
        after >= before,
        "the counter never goes back",
        "{before} -> {after}"
    );
}
// ANCHOR_END: assertion

fn main() {
    let dir = std::env::temp_dir().join(format!("moonpool-book-production-{}", std::process::id()));
    let first = run_on_tokio(&dir, &[1, 2, 3]);
    println!("first run: {first:?} (total, connections served)");
    let second = run_on_tokio(&dir, &[10]);
    println!("second run, same directory: {second:?}");
    let _ = std::fs::remove_dir_all(&dir);
    let report = counter_simulation().run_seed(1);
    println!("in simulation, seed 1: pass = {}", report.outcome.is_pass());
    // Outside a simulation: production values, no fault, a logged violation.
    record_total(2, 1);
    println!(
        "outside a simulation: batch_size() = {}, drop_cached_connection() = {}",
        batch_size(),
        drop_cached_connection()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "moonpool-book-production-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_service_runs_on_tokio_keeps_its_total_in_a_real_file_and_stops_gracefully() {
        let dir = scratch("tokio");
        assert_eq!(run_on_tokio(&dir, &[1, 2, 3]), Ok((6, 3)));
        // The total is in a real file under the storage root...
        let bytes = std::fs::read(dir.join("counter/total")).expect("the real file");
        assert_eq!(bytes, 6u64.to_le_bytes());
        // ...and a new run over the same directory starts from it.
        assert_eq!(run_on_tokio(&dir, &[10]), Ok((16, 1)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_same_service_runs_in_simulation() {
        let sim = counter_simulation();
        for seed in 0..5 {
            let r = sim.run_seed(seed);
            assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        }
    }

    #[test]
    fn buggify_never_fires_outside_a_simulation() {
        for _ in 0..10_000 {
            assert!(!drop_cached_connection());
            assert_eq!(batch_size(), 64);
        }
    }

    #[test]
    fn buggify_changes_knobs_in_some_simulated_seeds() {
        use moonpool_sim::{FnWorkload, SimContext, SimulationBuilder};
        let sim = SimulationBuilder::new()
            .workload("w", 1, |_| {
                FnWorkload::new(|ctx: SimContext| async move {
                    ctx.record_value("batch", batch_size() as i64);
                    Ok(())
                })
            })
            .build()
            .expect("valid");
        let chaos_values: Vec<i64> = (0..100)
            .filter_map(|s| match sim.run_seed(s).values.get("batch") {
                Some(moonpool_sim::SeedValue::Last(v)) => Some(*v),
                _ => None,
            })
            .collect();
        assert!(chaos_values.contains(&1), "{chaos_values:?}");
        assert!(chaos_values.contains(&64), "{chaos_values:?}");
    }

    #[test]
    fn a_violated_assertion_outside_a_simulation_is_logged_not_fatal() {
        use moonpool_sim::trace::{TraceSink, with_sink};
        let (sink, buffer) = TraceSink::memory();
        with_sink(&sink, || {
            record_total(5, 6);
            record_total(6, 2);
        });
        let log = buffer.contents();
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(log.contains("ERROR moonpool::assertions"), "{log}");
        assert!(log.contains("the counter never goes back"), "{log}");
    }
}
