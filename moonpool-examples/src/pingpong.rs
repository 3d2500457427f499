//! Ping-pong: the smallest useful distributed program.
//!
//! A server echoes checksummed frames; a client sends `count` numbered pings
//! and checks that every pong answers the ping it sent. The client survives
//! the faults a network can throw at it: every wait has a deadline, a
//! corrupted, late or missing pong makes it reconnect and resend the same
//! ping (pings are idempotent), and a frame that fails its CRC-32 or claims
//! an absurd length closes the connection.
//!
//! Wire format of a frame: `len: u32 LE | crc32(payload): u32 LE | payload`,
//! with `payload = client: u64 LE | seq: u64 LE | filler: [u8; 16]`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{JoinHandle, Listener, NetworkProvider, Providers, TaskProvider, TimeProvider};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The port the ping-pong server listens on.
pub const PORT: u16 = 4500;
/// Bytes in a ping or pong payload.
pub const PAYLOAD_LEN: usize = 32;
/// Frames longer than this are rejected before anything is allocated.
pub const FRAME_LEN_MAX: u32 = 1024;
/// How long the client waits for a pong before reconnecting.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the client waits for a connection before retrying.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The client's pause between reconnection attempts.
pub const RECONNECT_DELAY: Duration = Duration::from_millis(50);
/// After this many attempts at one ping, the client gives up.
pub const ATTEMPTS_MAX: u32 = 1_000;
/// The server's pause between attempts to bind its port.
pub const BIND_RETRY_DELAY: Duration = Duration::from_millis(50);
/// After this many failed binds in a row, the server gives up.
pub const BIND_ATTEMPTS_MAX: u32 = 1_000;

/// What can go wrong in ping-pong.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// The connection failed.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// A frame failed its checksum.
    #[error("frame checksum mismatch")]
    Checksum,
    /// A frame announced an impossible length.
    #[error("frame length {0} out of range")]
    FrameLength(u32),
    /// A pong answered a different ping: a real bug, never retried.
    #[error(
        "pong for client {got_client} seq {got_seq} answered ping {want_seq} of client {want_client}"
    )]
    WrongPong {
        /// The client the pong names.
        got_client: u64,
        /// The sequence number the pong names.
        got_seq: u64,
        /// Our client id.
        want_client: u64,
        /// The ping we sent.
        want_seq: u64,
    },
    /// A ping failed [`ATTEMPTS_MAX`] times in a row.
    #[error("ping {seq} failed {ATTEMPTS_MAX} times; last error: {last}")]
    GaveUp {
        /// The ping that never got through.
        seq: u64,
        /// Why the last attempt failed.
        last: String,
    },
}

/// Builds the payload of ping `seq` from `client`.
pub fn ping_payload(client: u64, seq: u64) -> [u8; PAYLOAD_LEN] {
    let mut p = [0u8; PAYLOAD_LEN];
    p[..8].copy_from_slice(&client.to_le_bytes());
    p[8..16].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in p[16..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    p
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(8 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    frame.extend_from_slice(payload);
    w.write_all(&frame).await?;
    w.flush().await
}

/// Reads one frame, checking its length and checksum.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, PingError> {
    let mut header = [0u8; 8];
    r.read_exact(&mut header).await?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > FRAME_LEN_MAX {
        return Err(PingError::FrameLength(len));
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await?;
    if crc32fast::hash(&payload) != crc {
        return Err(PingError::Checksum);
    }
    Ok(payload)
}

/// Serves ping-pong on `listen` until the task is cancelled: one task per
/// connection, each echoing valid frames and dropping the connection on the
/// first bad one.
pub async fn serve<P: Providers>(p: P, listen: SocketAddr) -> io::Result<()> {
    // A bind can fail transiently (a port still held after a restart): retry.
    let mut attempts = 0;
    let listener = loop {
        match p.network().bind(listen).await {
            Ok(l) => break l,
            Err(e) if attempts + 1 >= BIND_ATTEMPTS_MAX => return Err(e),
            Err(_) => {
                attempts += 1;
                p.time().sleep(BIND_RETRY_DELAY).await;
            }
        }
    };
    // Connection tasks are owned here: cancelling the server cancels them.
    let mut connections = Vec::new();
    loop {
        let (mut stream, _) = listener.accept().await?;
        connections.retain(|c: &<P::Task as TaskProvider>::Handle<()>| !c.is_finished());
        connections.push(p.task().spawn("pingpong-conn", async move {
            while let Ok(payload) = read_frame(&mut stream).await {
                if write_frame(&mut stream, &payload).await.is_err() {
                    break;
                }
            }
        }));
    }
}

/// What a client run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientReport {
    /// Pings answered correctly.
    pub round_trips: u64,
    /// Connections opened (1 on a healthy network).
    pub connections: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// Sum of round-trip times of the successful attempts.
    pub rtt_total: Duration,
    /// Slowest successful round trip.
    pub rtt_max: Duration,
}

/// Sends `count` pings from `client` to `server`, one at a time, retrying
/// each until it gets its pong.
pub async fn run_client<P: Providers>(
    p: &P,
    server: SocketAddr,
    client: u64,
    count: u64,
) -> Result<ClientReport, PingError> {
    run_client_paced(p, server, client, count, Duration::ZERO).await
}

/// [`run_client`], pausing `interval` after each answered ping (a
/// periodic pinger). Round-trip times are measured on the local clock.
pub async fn run_client_paced<P: Providers>(
    p: &P,
    server: SocketAddr,
    client: u64,
    count: u64,
    interval: Duration,
) -> Result<ClientReport, PingError> {
    let mut report = ClientReport::default();
    let mut stream: Option<<P::Network as NetworkProvider>::Stream> = None;
    for seq in 0..count {
        if seq > 0 && !interval.is_zero() {
            p.time().sleep(interval).await;
        }
        let ping = ping_payload(client, seq);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = p.time().timer();
            let result = match stream.as_mut() {
                Some(s) => p
                    .time()
                    .timeout(PONG_TIMEOUT, async {
                        write_frame(s, &ping).await?;
                        read_frame(s).await
                    })
                    .await
                    .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut).into())),
                None => match p
                    .time()
                    .timeout(CONNECT_TIMEOUT, p.network().connect(server))
                    .await
                {
                    Ok(Ok(s)) => {
                        report.connections += 1;
                        stream = Some(s);
                        attempts -= 1;
                        continue;
                    }
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut).into()),
                },
            };
            match result {
                Ok(pong) if pong.as_slice() == ping.as_slice() => {
                    let rtt = p.time().timer() - started;
                    report.round_trips += 1;
                    report.rtt_total += rtt;
                    report.rtt_max = report.rtt_max.max(rtt);
                    break;
                }
                Ok(pong) => {
                    let field = |i: usize| {
                        pong.get(i..i + 8)
                            .and_then(|b| b.try_into().ok())
                            .map(u64::from_le_bytes)
                            .unwrap_or(u64::MAX)
                    };
                    return Err(PingError::WrongPong {
                        got_client: field(0),
                        got_seq: field(8),
                        want_client: client,
                        want_seq: seq,
                    });
                }
                Err(e) => {
                    // Coverage goals: under chaos, each of these paths must
                    // be exercised by some seed (`--until-all-sometimes`).
                    moonpool_core::sometimes!(
                        matches!(e, PingError::Checksum),
                        "a corrupted frame was caught by its CRC"
                    );
                    moonpool_core::sometimes!(
                        matches!(&e, PingError::Io(io) if io.kind() == io::ErrorKind::TimedOut),
                        "a ping timed out and was retried"
                    );
                    moonpool_core::sometimes!(
                        matches!(&e, PingError::Io(io) if io.kind() != io::ErrorKind::TimedOut),
                        "a connection failed and the client reconnected"
                    );
                    if attempts >= ATTEMPTS_MAX {
                        return Err(PingError::GaveUp {
                            seq,
                            last: e.to_string(),
                        });
                    }
                    report.retries += 1;
                    stream = None;
                    p.time().sleep(RECONNECT_DELAY).await;
                }
            }
        }
    }
    Ok(report)
}

/// The simulation's server address.
pub const SIM_SERVER_IP: [u8; 4] = [10, 0, 1, 1];
/// Pause between a simulated client's pings.
pub const SIM_PING_INTERVAL: Duration = Duration::from_millis(10);
/// Clients of the standard simulation (`pingpong sim`).
pub const SIM_CLIENTS: usize = 3;
/// Pings per client in the standard simulation: 300 pings 10 ms apart keep
/// the run phase going ~3 simulated seconds, long enough for the nemeses.
pub const SIM_PINGS: u64 = 300;

/// A workload client of [`simulation`]: sends its pings and fails the seed
/// unless every one was answered.
struct PingWorkload {
    pings: u64,
}

impl moonpool_sim::Workload for PingWorkload {
    async fn run(&mut self, ctx: &moonpool_sim::SimContext) -> moonpool_sim::WorkloadResult {
        let server = SocketAddr::from((SIM_SERVER_IP, PORT));
        let client = ctx.client_id() as u64;
        let report = run_client_paced(
            ctx.providers(),
            server,
            client,
            self.pings,
            SIM_PING_INTERVAL,
        )
        .await?;
        if report.round_trips != self.pings {
            return Err(format!(
                "client {client}: {} of {} pings answered",
                report.round_trips, self.pings
            )
            .into());
        }
        Ok(())
    }
}

/// Ping-pong under simulation: a server process and `clients` workload
/// clients sending `pings` pings each (10 ms apart), over simulated TCP.
/// The network nemeses (clogging, partitions, connection kills) are added
/// and act when chaos is turned on (`Simulation::set_chaos`).
pub fn simulation(
    clients: usize,
    pings: u64,
) -> Result<moonpool_sim::Simulation, moonpool_sim::ConfigError> {
    moonpool_sim::SimulationBuilder::new()
        .process("server", SIM_SERVER_IP, |p: moonpool_sim::SimProviders| {
            serve(p, SocketAddr::from((SIM_SERVER_IP, PORT)))
        })
        .workload("client", clients, move |_| PingWorkload { pings })
        .network_nemeses()
        .assertion_scope(&["moonpool_examples::pingpong"])
        .build()
}

/// Runs a server and one client in one process over real loopback TCP.
pub async fn run_local<P: Providers>(p: P, count: u64) -> Result<ClientReport, PingError> {
    let listen = SocketAddr::from(([127, 0, 0, 1], PORT));
    let server = p.task().spawn("pingpong-server", serve(p.clone(), listen));
    // Let the server bind before the client connects.
    p.task().yield_now().await;
    let report = run_client(&p, listen, 0, count).await;
    server.abort();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn corrupted_frame_is_rejected() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &ping_payload(1, 2))
            .await
            .expect("write");
        buf[12] ^= 0x10;
        assert!(matches!(
            read_frame(&mut buf.as_slice()).await,
            Err(PingError::Checksum)
        ));
    }

    #[tokio::test]
    async fn absurd_length_is_rejected_before_reading_the_payload() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            read_frame(&mut buf.as_slice()).await,
            Err(PingError::FrameLength(u32::MAX))
        ));
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let mut buf = Vec::new();
        let ping = ping_payload(3, 4);
        write_frame(&mut buf, &ping).await.expect("write");
        assert_eq!(read_frame(&mut buf.as_slice()).await.expect("read"), ping);
    }
}
