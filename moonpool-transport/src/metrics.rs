//! Counters: per peer ([`PeerMetrics`]) and per transport
//! ([`TransportMetrics`]).
//!
//! Counters only grow. They are plain `Cell<u64>`s updated on the hot path
//! and copied into snapshot structs when read, so tests (and the
//! simulator's report) can compare, for example, injected bit flips with
//! [`TransportMetrics::checksum_failures`].

use std::cell::Cell;

/// A snapshot of one peer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerMetrics {
    /// Frames written to connections to this peer.
    pub frames_sent: u64,
    /// Bytes of frames written.
    pub bytes_sent: u64,
    /// Valid frames received from this peer.
    pub frames_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Connections established (both directions), including the first.
    pub connections: u64,
    /// Connections established after the first one: reconnections.
    pub reconnects: u64,
    /// Outgoing connection attempts that failed (connect or handshake).
    pub connect_failures: u64,
    /// Established connections that ended.
    pub disconnects: u64,
    /// Frames or handshakes that failed their checksum.
    pub checksum_failures: u64,
    /// Frames whose announced length exceeded the maximum.
    pub oversize_frames: u64,
    /// Connections closed by the peer in the middle of a frame.
    pub closed_mid_frame: u64,
    /// Connections closed because an incomplete frame stalled.
    pub frames_stalled: u64,
    /// Other wire violations (bad magic, bad version, bad address family,
    /// undecodable control messages).
    pub decode_errors: u64,
    /// Unreliable frames dropped (queue full, or connection lost).
    pub unreliable_dropped: u64,
    /// Reliable frames re-queued after a reconnect.
    pub reliable_resent: u64,
    /// Pings sent.
    pub pings_sent: u64,
    /// Connections closed because the peer went silent.
    pub ping_timeouts: u64,
    /// "Endpoint not found" answers received from this peer.
    pub endpoint_not_found: u64,
    /// Replies to this peer dropped: meant for an incarnation that is gone
    /// (the requester restarted), or past the replies budget (the
    /// connection was then reset).
    pub replies_dropped: u64,
    /// Replies from this peer ignored: for a call to another address, or
    /// for a call already over.
    pub replies_ignored: u64,
}

/// A snapshot of a transport's counters, summed over its peers, plus the
/// events that belong to no peer (connections rejected during the
/// handshake).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportMetrics {
    /// Sum of [`PeerMetrics::frames_sent`].
    pub frames_sent: u64,
    /// Sum of [`PeerMetrics::bytes_sent`].
    pub bytes_sent: u64,
    /// Sum of [`PeerMetrics::frames_received`].
    pub frames_received: u64,
    /// Sum of [`PeerMetrics::bytes_received`].
    pub bytes_received: u64,
    /// Sum of [`PeerMetrics::reconnects`].
    pub reconnects: u64,
    /// Sum of [`PeerMetrics::connect_failures`].
    pub connect_failures: u64,
    /// Sum of [`PeerMetrics::disconnects`].
    pub disconnects: u64,
    /// Sum of [`PeerMetrics::reliable_resent`].
    pub reliable_resent: u64,
    /// All checksum failures: frames and handshakes, on connections with a
    /// known peer or not. Compare with injected bit flips.
    pub checksum_failures: u64,
    /// All frames announcing more than the maximum length.
    pub oversize_frames: u64,
    /// All connections closed by the peer in the middle of a frame.
    pub closed_mid_frame: u64,
    /// All connections closed because an incomplete frame stalled.
    pub frames_stalled: u64,
    /// All other wire violations (bad magic, version, address family).
    pub decode_errors: u64,
    /// Handshakes rejected (bad magic, version, checksum, timeout, self).
    pub handshakes_rejected: u64,
    /// Incoming connections accepted by the listener.
    pub connections_accepted: u64,
    /// Frames that arrived for a token with no receiver.
    pub unknown_endpoint_frames: u64,
    /// Requests dropped because a request stream's queue was full.
    pub requests_overloaded: u64,
    /// Sum of [`PeerMetrics::unreliable_dropped`].
    pub unreliable_dropped: u64,
    /// Sum of [`PeerMetrics::ping_timeouts`].
    pub ping_timeouts: u64,
    /// Sum of [`PeerMetrics::replies_dropped`].
    pub replies_dropped: u64,
    /// Sum of [`PeerMetrics::replies_ignored`].
    pub replies_ignored: u64,
    /// Handshakes refused because the announced identity was not proven:
    /// an announced IP that is not the connecting IP, an unspecified or
    /// own address, a dialed peer answering as another address, a retired
    /// incarnation, or a newcomer contesting a live connection.
    pub identities_refused: u64,
    /// Connections closed because the transport had `connections_max`
    /// established connections.
    pub connections_refused: u64,
}

/// Live counters of one peer.
#[derive(Debug, Default)]
pub(crate) struct PeerStats {
    pub(crate) frames_sent: Cell<u64>,
    pub(crate) bytes_sent: Cell<u64>,
    pub(crate) frames_received: Cell<u64>,
    pub(crate) bytes_received: Cell<u64>,
    pub(crate) connections: Cell<u64>,
    pub(crate) connect_failures: Cell<u64>,
    pub(crate) disconnects: Cell<u64>,
    pub(crate) checksum_failures: Cell<u64>,
    pub(crate) oversize_frames: Cell<u64>,
    pub(crate) closed_mid_frame: Cell<u64>,
    pub(crate) frames_stalled: Cell<u64>,
    pub(crate) decode_errors: Cell<u64>,
    pub(crate) unreliable_dropped: Cell<u64>,
    pub(crate) reliable_resent: Cell<u64>,
    pub(crate) pings_sent: Cell<u64>,
    pub(crate) ping_timeouts: Cell<u64>,
    pub(crate) endpoint_not_found: Cell<u64>,
    pub(crate) replies_dropped: Cell<u64>,
    pub(crate) replies_ignored: Cell<u64>,
}

/// Adds `n` to a counter, and reports it as the metric `name` to a
/// simulator if one is running (so its report shows transport metrics).
pub(crate) fn add(c: &Cell<u64>, name: &'static str, n: u64) {
    c.set(c.get().wrapping_add(n));
    moonpool_core::sim_hook::metric(name, n);
}

impl PeerStats {
    pub(crate) fn snapshot(&self) -> PeerMetrics {
        let connections = self.connections.get();
        PeerMetrics {
            frames_sent: self.frames_sent.get(),
            bytes_sent: self.bytes_sent.get(),
            frames_received: self.frames_received.get(),
            bytes_received: self.bytes_received.get(),
            connections,
            reconnects: connections.saturating_sub(1),
            connect_failures: self.connect_failures.get(),
            disconnects: self.disconnects.get(),
            checksum_failures: self.checksum_failures.get(),
            oversize_frames: self.oversize_frames.get(),
            closed_mid_frame: self.closed_mid_frame.get(),
            frames_stalled: self.frames_stalled.get(),
            decode_errors: self.decode_errors.get(),
            unreliable_dropped: self.unreliable_dropped.get(),
            reliable_resent: self.reliable_resent.get(),
            pings_sent: self.pings_sent.get(),
            ping_timeouts: self.ping_timeouts.get(),
            endpoint_not_found: self.endpoint_not_found.get(),
            replies_dropped: self.replies_dropped.get(),
            replies_ignored: self.replies_ignored.get(),
        }
    }
}

/// Live counters that belong to the transport rather than a peer.
#[derive(Debug, Default)]
pub(crate) struct GlobalStats {
    /// Checksum failures on connections whose peer is not known yet
    /// (handshakes) or no longer tracked.
    pub(crate) checksum_failures: Cell<u64>,
    pub(crate) oversize_frames: Cell<u64>,
    pub(crate) decode_errors: Cell<u64>,
    pub(crate) handshakes_rejected: Cell<u64>,
    pub(crate) connections_accepted: Cell<u64>,
    pub(crate) unknown_endpoint_frames: Cell<u64>,
    pub(crate) requests_overloaded: Cell<u64>,
    pub(crate) identities_refused: Cell<u64>,
    pub(crate) connections_refused: Cell<u64>,
    /// Replies dropped or ignored with no peer to count them against.
    pub(crate) replies_dropped: Cell<u64>,
    pub(crate) replies_ignored: Cell<u64>,
    /// Counters of peers that were removed, so totals never go down.
    pub(crate) retired: Cell<PeerMetrics>,
}

impl TransportMetrics {
    pub(crate) fn accumulate(&mut self, m: &PeerMetrics) {
        self.frames_sent += m.frames_sent;
        self.bytes_sent += m.bytes_sent;
        self.frames_received += m.frames_received;
        self.bytes_received += m.bytes_received;
        self.reconnects += m.reconnects;
        self.connect_failures += m.connect_failures;
        self.disconnects += m.disconnects;
        self.reliable_resent += m.reliable_resent;
        self.checksum_failures += m.checksum_failures;
        self.oversize_frames += m.oversize_frames;
        self.closed_mid_frame += m.closed_mid_frame;
        self.frames_stalled += m.frames_stalled;
        self.decode_errors += m.decode_errors;
        self.unreliable_dropped += m.unreliable_dropped;
        self.ping_timeouts += m.ping_timeouts;
        self.replies_dropped += m.replies_dropped;
        self.replies_ignored += m.replies_ignored;
    }

    /// Wire errors that only corrupted bytes can cause: checksum failures,
    /// oversize lengths, stalled frames and malformed handshakes. On a
    /// network whose only byte-level fault is bit flips, each detection is
    /// one corrupted connection caught; a mid-frame close is not counted
    /// (it is a cut, not a corruption).
    pub fn corruptions_detected(&self) -> u64 {
        self.checksum_failures + self.oversize_frames + self.frames_stalled + self.decode_errors
    }
}

impl PeerMetrics {
    /// Field-wise sum, for retiring a peer's counters into the totals.
    pub(crate) fn plus(mut self, o: &PeerMetrics) -> PeerMetrics {
        self.frames_sent += o.frames_sent;
        self.bytes_sent += o.bytes_sent;
        self.frames_received += o.frames_received;
        self.bytes_received += o.bytes_received;
        self.connections += o.connections;
        self.reconnects += o.reconnects;
        self.connect_failures += o.connect_failures;
        self.disconnects += o.disconnects;
        self.checksum_failures += o.checksum_failures;
        self.oversize_frames += o.oversize_frames;
        self.closed_mid_frame += o.closed_mid_frame;
        self.frames_stalled += o.frames_stalled;
        self.decode_errors += o.decode_errors;
        self.unreliable_dropped += o.unreliable_dropped;
        self.reliable_resent += o.reliable_resent;
        self.pings_sent += o.pings_sent;
        self.ping_timeouts += o.ping_timeouts;
        self.endpoint_not_found += o.endpoint_not_found;
        self.replies_dropped += o.replies_dropped;
        self.replies_ignored += o.replies_ignored;
        self
    }
}
