//! [`TransportConfig`]: every limit and delay of the transport, with
//! FoundationDB-derived defaults.

use moonpool_core::Ratio;

use crate::wire::FRAME_BYTES_MAX_DEFAULT;

/// Limits and delays. `Default` gives production values; tests shrink the
/// delays.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Largest payload accepted or sent in one frame (default and maximum
    /// 16 MiB − 1, the wire format's limit). A longer announced length
    /// closes the connection before any allocation. It also bounds each
    /// connection's decode buffer: at most one frame of this size, its
    /// 24-byte header and one 64 KiB read.
    pub frame_bytes_max: u32,
    /// First reconnect delay after a failure (default 50 ms, as FDB).
    pub reconnect_delay_ms_initial: u64,
    /// Reconnect delay cap (default 500 ms, as FDB).
    pub reconnect_delay_ms_max: u64,
    /// Growth of the reconnect delay per consecutive failure, in percent
    /// (default 120: ×1.2, as FDB).
    pub reconnect_delay_growth_percent: u64,
    /// Each delay is multiplied by a uniform factor in `1 ± jitter`
    /// (default 1/10: ±10%, as FDB), drawn from the random provider.
    pub reconnect_jitter: Ratio,
    /// A connection that lived this long resets the delay to its initial
    /// value (default 5 s, as FDB).
    pub reconnect_reset_after_ms: u64,
    /// Connect attempts give up after this long (default 2 s).
    pub connect_timeout_ms: u64,
    /// The peer's handshake must arrive within this long (default 2 s).
    pub handshake_timeout_ms: u64,
    /// A ping is sent after this long without receiving anything (default
    /// 1 s; FDB pings every 0.75–1 s).
    pub ping_interval_ms: u64,
    /// A connection on which nothing was received for this long is closed
    /// (default 2 s; FDB 1.5–2 s).
    pub ping_timeout_ms: u64,
    /// A connection holding an incomplete frame, with no complete frame
    /// decoded for this long, is closed (default 30 s: a 16 MiB frame at
    /// 0.5 MB/s). Pings keep a connection alive on bytes alone, so without
    /// this a length word corrupted past its check byte could stall a
    /// connection forever.
    pub frame_stall_timeout_ms: u64,
    /// An address is judged failed by the failure monitor once the
    /// transport has wanted a connection to it and its attempts kept
    /// failing for this long (default 4 s, as FDB). An address nobody is
    /// trying to reach is never failed.
    pub failed_after_ms: u64,
    /// After a call to an address, the transport keeps trying to reconnect
    /// to it for this long even with nothing queued, so that a failed
    /// address is noticed when it recovers (default 10 s).
    pub probe_window_ms: u64,
    /// A peer with no connection and nothing to send, receive or probe for
    /// this long is forgotten (default 60 s), so peers and failure-monitor
    /// entries stay bounded by the addresses in recent use.
    pub peer_idle_ms: u64,
    /// Bytes of requests and one-way messages that may wait in one peer's
    /// outgoing queue (default 64 MiB). Calls that would exceed it wait
    /// (back-pressure, first come first served); fire-and-forget sends
    /// fail with `QueueFull`. A frame larger than the limit still goes
    /// through an empty queue.
    pub peer_queue_bytes_max: usize,
    /// Frames (requests and one-way messages) that may wait in one peer's
    /// outgoing queue (default 65 536).
    pub peer_queue_frames_max: usize,
    /// Bytes of outstanding reliable requests (`get_reply`, kept until
    /// their call ends, to be resent on every new connection) per peer
    /// (default 64 MiB). Reliable calls beyond it wait for room.
    pub peer_reliable_bytes_max: usize,
    /// Bytes of replies (and answers: pongs, "endpoint not found") that may
    /// wait in one peer's outgoing queue (default 64 MiB). Replies have
    /// their own budget, apart from requests, and are never refused for
    /// the request limits; past this budget the connection is reset
    /// (`RepliesOverflow`) so the requesters learn the replies are lost.
    pub peer_replies_bytes_max: usize,
    /// Requests that may wait in one request stream (default 4096); more
    /// are answered with `Overloaded`.
    pub request_stream_requests_max: usize,
    /// Payload bytes of the requests that may wait in one request stream
    /// (default 64 MiB); more are answered with `Overloaded`. A request
    /// larger than the limit is still accepted by an empty stream.
    pub request_stream_bytes_max: usize,
    /// Established connections per transport, both directions (default
    /// 4096). Incoming connections beyond it are closed; outgoing attempts
    /// wait for a slot (their calls end with `ConnectionFailed`).
    pub connections_max: usize,
    /// Whether to accept an announced listen address whose IP differs from
    /// the IP the connection comes from (default false). Set it only when
    /// peers reach this listener through a proxy or NAT that hides their
    /// IP: the check is what stops another host from claiming a peer's
    /// address.
    pub trust_proxy: bool,
    /// Incoming connections allowed to be in their handshake at once
    /// (default 256); more are closed at once.
    pub handshakes_pending_max: usize,
    /// Endpoints remembered as permanently not found (default 4096).
    pub failed_endpoints_max: usize,
}

impl Default for TransportConfig {
    fn default() -> TransportConfig {
        TransportConfig {
            frame_bytes_max: FRAME_BYTES_MAX_DEFAULT,
            reconnect_delay_ms_initial: 50,
            reconnect_delay_ms_max: 500,
            reconnect_delay_growth_percent: 120,
            reconnect_jitter: Ratio::new(1, 10),
            reconnect_reset_after_ms: 5_000,
            connect_timeout_ms: 2_000,
            handshake_timeout_ms: 2_000,
            ping_interval_ms: 1_000,
            ping_timeout_ms: 2_000,
            frame_stall_timeout_ms: 30_000,
            failed_after_ms: 4_000,
            probe_window_ms: 10_000,
            peer_idle_ms: 60_000,
            peer_queue_bytes_max: 64 * 1024 * 1024,
            peer_queue_frames_max: 65_536,
            peer_reliable_bytes_max: 64 * 1024 * 1024,
            peer_replies_bytes_max: 64 * 1024 * 1024,
            request_stream_requests_max: 4_096,
            request_stream_bytes_max: 64 * 1024 * 1024,
            connections_max: 4_096,
            trust_proxy: false,
            handshakes_pending_max: 256,
            failed_endpoints_max: 4_096,
        }
    }
}

impl TransportConfig {
    /// Defaults with every delay divided by ten: for tests that provoke
    /// failures on real time.
    pub fn fast() -> TransportConfig {
        TransportConfig {
            reconnect_delay_ms_initial: 5,
            reconnect_delay_ms_max: 50,
            reconnect_reset_after_ms: 500,
            connect_timeout_ms: 500,
            handshake_timeout_ms: 500,
            ping_interval_ms: 100,
            ping_timeout_ms: 300,
            frame_stall_timeout_ms: 1_500,
            failed_after_ms: 400,
            probe_window_ms: 2_000,
            peer_idle_ms: 6_000,
            ..TransportConfig::default()
        }
    }
}
