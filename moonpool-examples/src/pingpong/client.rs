//! The pinging client: one ping at a time, each retried until a pong
//! answers it, every answer recorded for the [checker](super::checker).
//!
//! # Timeouts and connections
//! - A connection attempt that takes longer than
//!   [`ClientConfig::connect_timeout`], or a write that cannot complete
//!   within it, costs the connection: the client reconnects after
//!   [`ClientConfig::reconnect_delay`].
//! - A pong that does not come within [`ClientConfig::pong_timeout`] is
//!   not a broken connection (a partition or a clog only delays bytes): the
//!   client sends the ping again on the same connection, and reconnects
//!   only after [`ClientConfig::timeouts_before_reconnect`] timeouts in a
//!   row on one connection.
//! - Any I/O error, bad checksum or absurd length drops the connection.
//!
//! # Which pong answers a ping
//! Reading is cancellation-safe ([`FrameReader`]), so a timed-out wait
//! leaves the stream usable. Every resend is echoed, so after a resend
//! the pongs of earlier pings can still arrive: a pong naming this client
//! and an earlier sequence number is a stale echo and is discarded; the
//! pong that equals the ping answers it; anything else is a bug
//! ([`PingError::WrongPong`]). With [`PingpongBug::StaleEcho`] the first
//! pong read is taken as the answer, whatever it echoes.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{Instant, NetworkProvider, Providers, TimeProvider};

use super::wire::{FrameReader, PAYLOAD_LEN, parse_payload, ping_payload, write_frame};
use super::{PingError, PingpongBug};

/// The client's timeouts and limits.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// How long a ping waits for its pong before it is sent again.
    /// Default 2 s.
    pub pong_timeout: Duration,
    /// How long a connection attempt, or a write, may take. Default 2 s.
    pub connect_timeout: Duration,
    /// Pause before reconnecting after a failure. Default 50 ms.
    pub reconnect_delay: Duration,
    /// Timeouts in a row on one connection before it is replaced.
    /// Default 3.
    pub timeouts_before_reconnect: u32,
    /// Attempts at one ping before the client gives up. Default 1,000.
    pub attempts_max: u32,
    /// Pause after each answered ping. Default none.
    pub interval: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            pong_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            reconnect_delay: Duration::from_millis(50),
            timeouts_before_reconnect: 3,
            attempts_max: 1_000,
            interval: Duration::ZERO,
        }
    }
}

/// What a client run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientReport {
    /// For each ping, in order, the pong taken as its answer.
    pub answers: Vec<[u8; PAYLOAD_LEN]>,
    /// Connections opened (1 on a healthy network).
    pub connections: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// Stale echoes of earlier pings read and discarded.
    pub stale_discarded: u64,
    /// Sum of round-trip times of the answered attempts (local clock).
    pub rtt_total: Duration,
    /// Slowest answered attempt.
    pub rtt_max: Duration,
}

/// How one attempt at a ping ended.
enum Attempt {
    Answered([u8; PAYLOAD_LEN]),
    TimedOut,
}

/// Sends `count` pings from `client` to `server`, one at a time, each
/// retried until a pong answers it.
pub async fn run_client<P: Providers>(
    p: &P,
    server: SocketAddr,
    client: u64,
    count: u64,
    config: &ClientConfig,
    bug: Option<PingpongBug>,
) -> Result<ClientReport, PingError> {
    let mut report = ClientReport::default();
    let mut conn: Option<(<P::Network as NetworkProvider>::Stream, FrameReader)> = None;
    for seq in 0..count {
        if seq > 0 && !config.interval.is_zero() {
            p.time().sleep(config.interval).await;
        }
        let mut attempts = 0;
        let mut timeouts_here = 0;
        loop {
            let Some((stream, reader)) = conn.as_mut() else {
                match p
                    .time()
                    .timeout(config.connect_timeout, p.network().connect(server))
                    .await
                {
                    Ok(Ok(s)) => {
                        report.connections += 1;
                        conn = Some((s, FrameReader::new()));
                        timeouts_here = 0;
                        continue;
                    }
                    Ok(Err(e)) => {
                        attempts += 1;
                        failed(&mut report, config, seq, attempts, e.into())?;
                    }
                    Err(_) => {
                        attempts += 1;
                        let e = io::Error::from(io::ErrorKind::TimedOut);
                        failed(&mut report, config, seq, attempts, e.into())?;
                    }
                }
                p.time().sleep(config.reconnect_delay).await;
                continue;
            };
            attempts += 1;
            let started = p.time().timer();
            let stale = &mut report.stale_discarded;
            match attempt(p, stream, reader, client, seq, config, bug, stale).await {
                Ok(Attempt::Answered(pong)) => {
                    let rtt = p.time().timer() - started;
                    report.rtt_total += rtt;
                    report.rtt_max = report.rtt_max.max(rtt);
                    report.answers.push(pong);
                    break;
                }
                Ok(Attempt::TimedOut) => {
                    moonpool_core::reachable!("a ping timed out and was resent");
                    report.retries += 1;
                    timeouts_here += 1;
                    if attempts >= config.attempts_max {
                        return Err(PingError::GaveUp {
                            seq,
                            attempts,
                            last: "pong timeout".to_string(),
                        });
                    }
                    if timeouts_here >= config.timeouts_before_reconnect {
                        conn = None;
                    }
                }
                Err(e @ PingError::WrongPong { .. }) => return Err(e),
                Err(e) => {
                    conn = None;
                    failed(&mut report, config, seq, attempts, e)?;
                    p.time().sleep(config.reconnect_delay).await;
                }
            }
        }
    }
    Ok(report)
}

/// Counts a failed attempt that costs the connection; gives up after
/// [`ClientConfig::attempts_max`].
fn failed(
    report: &mut ClientReport,
    config: &ClientConfig,
    seq: u64,
    attempts: u32,
    e: PingError,
) -> Result<(), PingError> {
    // Coverage goals: under chaos, each path must be taken in some seed.
    moonpool_core::sometimes!(
        matches!(e, PingError::Checksum),
        "a corrupted frame was caught by its CRC"
    );
    moonpool_core::sometimes!(
        matches!(e, PingError::Io(_)),
        "a connection failed and the client reconnected"
    );
    if attempts >= config.attempts_max {
        return Err(PingError::GaveUp {
            seq,
            attempts,
            last: e.to_string(),
        });
    }
    report.retries += 1;
    Ok(())
}

/// Sends ping `seq` on `stream` and reads until its pong (or the
/// timeout), discarding (and counting in `stale`) echoes of earlier pings.
#[allow(clippy::too_many_arguments)]
async fn attempt<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    p: &impl Providers,
    stream: &mut S,
    reader: &mut FrameReader,
    client: u64,
    seq: u64,
    config: &ClientConfig,
    bug: Option<PingpongBug>,
    stale: &mut u64,
) -> Result<Attempt, PingError> {
    let ping = &ping_payload(client, seq);
    // A write interrupted halfway would leave half a frame on the stream:
    // a write that times out costs the connection.
    p.time()
        .timeout(config.connect_timeout, write_frame(stream, ping))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    let deadline: Instant = p.time().now() + config.pong_timeout;
    loop {
        let left = deadline.saturating_duration_since(p.time().now());
        let Ok(pong) = p.time().timeout(left, reader.next_frame(stream)).await else {
            return Ok(Attempt::TimedOut);
        };
        let pong = pong?;
        let answer = |pong: &[u8]| -> Option<[u8; PAYLOAD_LEN]> { pong.try_into().ok() };
        if bug == Some(PingpongBug::StaleEcho)
            && let Some(pong) = answer(&pong)
        {
            return Ok(Attempt::Answered(pong));
        }
        if pong.as_slice() == ping.as_slice() {
            return Ok(Attempt::Answered(*ping));
        }
        match parse_payload(&pong) {
            Some((c, s)) if c == client && s < seq => {
                *stale += 1;
                moonpool_core::reachable!("a stale echo of an earlier ping was discarded");
            }
            got => {
                return Err(PingError::WrongPong {
                    got,
                    want_client: client,
                    want_seq: seq,
                });
            }
        }
    }
}
