//! The RPC benchmark workloads, generic over the providers so the same
//! workload runs on tokio (`rpc-tokio`, `rpc-tokio-64`, here) and under
//! simulation (`rpc-sim`, in `moonpool-examples`' `bench` binary, since
//! this crate does not depend on the simulator).
//!
//! [`rpc_workload`] starts a server transport and a client transport and
//! makes `ops` round trips with `in_flight` requests outstanding at any
//! time (1 = sequential round trips). [`run_tokio`] runs it on real tokio
//! over loopback and measures wall time; [`BenchLine`] prints the line
//! format shared with other frameworks:
//!
//! ```text
//! framework=moonpool workload=rpc-tokio wall_ms=... sim_ms=0 ops=... ops_per_sec=...
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures::future::join_all;
use moonpool_core::{Instant, Providers, TaskProvider, TimeProvider};
use serde::{Deserialize, Serialize};

use crate::error::RpcError;
use crate::{Transport, TransportConfig};

/// Bytes of payload per request and per reply: the W1 shape.
pub const PAYLOAD_BYTES: usize = 64;

/// The benchmark request: 64 bytes, echoed back. Serialized as one byte
/// string (postcard: a length byte and the 64 bytes, copied at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchEcho(pub [u8; PAYLOAD_BYTES]);

impl crate::Request for BenchEcho {
    type Reply = BenchEcho;
}

impl BenchEcho {
    /// Request `i` of worker `worker`, filled as the W1 peer benchmarks fill
    /// theirs: `i` (8 bytes, little-endian), `worker` (8 bytes), then
    /// `i + k` for byte `k`.
    pub fn new(worker: u64, i: u64) -> BenchEcho {
        let mut b = [0u8; PAYLOAD_BYTES];
        b[..8].copy_from_slice(&i.to_le_bytes());
        b[8..16].copy_from_slice(&worker.to_le_bytes());
        for (k, x) in b[16..].iter_mut().enumerate() {
            *x = (i as u8).wrapping_add(k as u8);
        }
        BenchEcho(b)
    }
}

impl Serialize for BenchEcho {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for BenchEcho {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BenchEcho, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = BenchEcho;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{PAYLOAD_BYTES} bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<BenchEcho, E> {
                <[u8; PAYLOAD_BYTES]>::try_from(v)
                    .map(BenchEcho)
                    .map_err(|_| E::invalid_length(v.len(), &self))
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// What [`rpc_workload`] measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkloadResult {
    /// Round trips completed.
    pub ops: u64,
    /// Time on the providers' clock from the first request to the last
    /// reply (simulated time under simulation).
    pub elapsed: Duration,
}

/// Makes `ops` round trips of 64 bytes each way from a client transport on
/// `client_p` (bound to `client_addr`) to a server transport on `server_p`
/// (bound to `server_addr`), keeping `in_flight` requests outstanding. Each
/// reply must echo its request byte for byte. Uses `get_reply`.
pub async fn rpc_workload<P: Providers>(
    server_p: P,
    client_p: P,
    server_addr: SocketAddr,
    client_addr: SocketAddr,
    ops: u64,
    in_flight: usize,
) -> Result<WorkloadResult, RpcError> {
    let config = TransportConfig::default();
    let server_t: Transport<P> = Transport::bind(server_p.clone(), server_addr, config.clone())
        .await
        .map_err(|_| RpcError::Unreachable)?;
    let stream = server_t
        .request_stream::<BenchEcho>()
        .map_err(|_| RpcError::Shutdown)?;
    let endpoint = stream.endpoint();
    let serving = server_p.task().spawn("bench-server", async move {
        while let Some(req) = stream.next().await {
            req.reply.send(req.request);
        }
    });
    let client_t: Transport<P> = Transport::bind(client_p.clone(), client_addr, config)
        .await
        .map_err(|_| RpcError::Unreachable)?;
    let sender = Rc::new(client_t.sender::<BenchEcho>(endpoint));
    // Warm up: the connection is made outside the measurement.
    sender
        .get_reply(&BenchEcho::new(u64::MAX, 0), Duration::from_secs(10))
        .await?;
    let in_flight = in_flight.max(1) as u64;
    let start: Instant = client_p.time().now();
    let workers = (0..in_flight).map(|w| {
        let sender = sender.clone();
        let share = ops / in_flight + u64::from(w < ops % in_flight);
        async move {
            for i in 0..share {
                let req = BenchEcho::new(w, i);
                let r = sender.get_reply(&req, Duration::from_secs(30)).await?;
                if r != req {
                    return Err(RpcError::BadRequest);
                }
            }
            Ok::<u64, RpcError>(share)
        }
    });
    let mut done = 0;
    for r in join_all(workers).await {
        done += r?;
    }
    let elapsed = client_p.time().now() - start;
    drop(serving);
    client_t.shutdown();
    server_t.shutdown();
    Ok(WorkloadResult { ops: done, elapsed })
}

/// One result line in the shared benchmark format.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchLine {
    /// The workload name, e.g. `rpc-tokio`.
    pub workload: String,
    /// Wall-clock milliseconds.
    pub wall_ms: f64,
    /// Simulated milliseconds (0 on tokio).
    pub sim_ms: f64,
    /// Operations completed.
    pub ops: u64,
}

impl BenchLine {
    /// Operations per wall-clock second.
    pub fn ops_per_sec(&self) -> f64 {
        if self.wall_ms <= 0.0 {
            return 0.0;
        }
        self.ops as f64 / (self.wall_ms / 1000.0)
    }
}

impl fmt::Display for BenchLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "framework=moonpool workload={} wall_ms={:.1} sim_ms={} ops={} ops_per_sec={:.0}",
            self.workload,
            self.wall_ms,
            Ms(self.sim_ms),
            self.ops,
            self.ops_per_sec()
        )
    }
}

/// Milliseconds: `0` when zero, else one decimal.
struct Ms(f64);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0.0 {
            write!(f, "0")
        } else {
            write!(f, "{:.1}", self.0)
        }
    }
}

/// The tokio benchmark workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokioWorkload {
    /// `rpc-tokio`: sequential round trips over loopback.
    Sequential,
    /// `rpc-tokio-64`: 64 requests in flight over loopback.
    InFlight64,
}

impl TokioWorkload {
    /// The workload's name in the result line.
    pub fn name(self) -> &'static str {
        match self {
            TokioWorkload::Sequential => "rpc-tokio",
            TokioWorkload::InFlight64 => "rpc-tokio-64",
        }
    }

    fn in_flight(self) -> usize {
        match self {
            TokioWorkload::Sequential => 1,
            TokioWorkload::InFlight64 => 64,
        }
    }
}

/// Runs a tokio workload of `ops` round trips on a fresh current-thread
/// runtime over loopback and returns its result line. Wall time is the
/// real clock from the first measured request to the last reply (runtime
/// setup, binding and the warm-up round trip are excluded).
pub fn run_tokio(workload: TokioWorkload, ops: u64) -> Result<BenchLine, String> {
    use moonpool_core::tokio_providers::{TokioProviders, run_with};
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let providers = TokioProviders::with_seed(0xBE7C);
    let result = run_with(providers, move |p| {
        rpc_workload(p.clone(), p, loopback, loopback, ops, workload.in_flight())
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    Ok(BenchLine {
        workload: workload.name().to_string(),
        wall_ms: result.elapsed.as_secs_f64() * 1000.0,
        sim_ms: 0.0,
        ops: result.ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_line_has_the_shared_format() {
        let line = BenchLine {
            workload: "rpc-tokio".into(),
            wall_ms: 2000.0,
            sim_ms: 0.0,
            ops: 50_000,
        };
        assert_eq!(
            line.to_string(),
            "framework=moonpool workload=rpc-tokio wall_ms=2000.0 sim_ms=0 ops=50000 ops_per_sec=25000"
        );
    }

    #[test]
    fn tokio_workloads_complete_every_round_trip() {
        for w in [TokioWorkload::Sequential, TokioWorkload::InFlight64] {
            let line = run_tokio(w, 300).expect("workload");
            assert_eq!(line.ops, 300, "{line}");
            assert_eq!(line.workload, w.name());
        }
    }
}
