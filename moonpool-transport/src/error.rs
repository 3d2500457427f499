//! Typed errors: of the wire format ([`WireError`]), of a connection
//! ([`ConnectionError`]), of the transport's setup ([`TransportError`]) and
//! of a request ([`RpcError`]).

use std::io;
use std::net::SocketAddr;

use moonpool_core::CodecError;
use serde::{Deserialize, Serialize};

/// A violation of the wire format. Each one closes the connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The handshake did not start with the magic bytes: not a moonpool peer.
    #[error("bad handshake magic {found:#010x}")]
    BadMagic {
        /// The first four bytes, little-endian.
        found: u32,
    },
    /// The handshake's checksum did not match (corruption).
    #[error("handshake checksum mismatch (expected {expected:#010x}, computed {computed:#010x})")]
    HandshakeChecksum {
        /// The checksum the handshake carried.
        expected: u32,
        /// The checksum of the bytes received.
        computed: u32,
    },
    /// The peer speaks another protocol version.
    #[error("incompatible protocol version {found} (ours is {ours})")]
    IncompatibleVersion {
        /// The peer's version.
        found: u16,
        /// Ours.
        ours: u16,
    },
    /// The handshake's address family byte is not 0, 4 or 6.
    #[error("bad address family {family} in handshake")]
    BadAddressFamily {
        /// The byte found.
        family: u8,
    },
    /// A handshake buffer of the wrong size was given to the decoder.
    #[error("handshake of {len} bytes")]
    HandshakeLength {
        /// The size given.
        len: usize,
    },
    /// A frame's length word failed its check byte (corruption).
    #[error(
        "frame length word {word:#010x} fails its check (expected {expected:#04x}, computed {computed:#04x})"
    )]
    LengthChecksum {
        /// The length word received.
        word: u32,
        /// The check byte it carried.
        expected: u8,
        /// The check byte of its length bits.
        computed: u8,
    },
    /// A frame announced a payload longer than the configured maximum.
    #[error("frame length {len} exceeds the maximum {max}")]
    FrameTooLarge {
        /// The announced length.
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes of the incomplete frame.
        buffered: usize,
    },
    /// A frame's checksum did not match its token and payload.
    #[error("frame checksum mismatch (expected {expected:#010x}, computed {computed:#010x})")]
    FrameChecksum {
        /// The checksum the frame carried.
        expected: u32,
        /// The checksum of the bytes received.
        computed: u32,
    },
}

impl WireError {
    /// Whether this error is a checksum mismatch (of a frame or a handshake).
    pub fn is_checksum(&self) -> bool {
        matches!(
            self,
            WireError::FrameChecksum { .. }
                | WireError::LengthChecksum { .. }
                | WireError::HandshakeChecksum { .. }
        )
    }
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The socket failed.
    #[error("I/O error: {0:?}")]
    Io(io::ErrorKind),
    /// The peer closed the connection between frames.
    #[error("closed by peer")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("closed by peer mid-frame ({buffered} bytes of a frame buffered)")]
    ClosedMidFrame {
        /// Bytes of the incomplete frame.
        buffered: usize,
    },
    /// The wire format was violated.
    #[error("wire format: {0}")]
    Wire(#[from] WireError),
    /// Connecting took too long.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The peer's handshake did not arrive in time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// An incomplete frame made no progress to completion for the frame
    /// stall timeout.
    #[error("incomplete frame stalled ({buffered} bytes buffered)")]
    FrameStalled {
        /// Bytes of the incomplete frame.
        buffered: usize,
    },
    /// Nothing was received for longer than the ping timeout.
    #[error("no data or pong within the ping timeout")]
    PingTimeout,
    /// The connection reached this transport itself.
    #[error("connected to self")]
    ConnectedToSelf,
    /// Another connection to the same peer was kept instead of this one.
    #[error("replaced by another connection to the same peer")]
    Replaced,
    /// The transport is shutting down.
    #[error("transport shut down")]
    Shutdown,
    /// The peer announced a listen address the connection does not prove:
    /// the connecting IP differs from the announced IP (and the listener
    /// does not trust a proxy), or it claims this transport's own address.
    #[error("announced address {announced} not proven by the connection from {observed}")]
    AddressNotProven {
        /// The listen address the peer announced.
        announced: SocketAddr,
        /// The address the connection came from.
        observed: SocketAddr,
    },
    /// The peer announced an unspecified address (`0.0.0.0`, `::`, or port
    /// 0) as its identity.
    #[error("unspecified announced address {0}")]
    UnspecifiedAddress(SocketAddr),
    /// The peer that answered a connection we dialed announced another
    /// listen address than the one dialed.
    #[error("dialed {dialed}, answered by {announced:?}")]
    WrongPeer {
        /// The address dialed.
        dialed: SocketAddr,
        /// The listen address the answering peer announced.
        announced: Option<SocketAddr>,
    },
    /// The handshake carried an incarnation this peer already replaced: a
    /// delayed connection of an older incarnation.
    #[error("incarnation {0:#x} of this peer was already replaced")]
    RetiredIncarnation(u64),
    /// Another incarnation announced this peer's address while its current
    /// connection is alive (it answered a ping): the newcomer is refused.
    #[error("the peer's current connection is alive")]
    LiveConnectionKept,
    /// The transport's cap on established connections was reached.
    #[error("too many connections")]
    TooManyConnections,
    /// The replies waiting for this peer exceeded their byte budget: the
    /// connection is reset so that the requesters learn their replies are
    /// lost.
    #[error("replies to this peer exceeded their byte budget")]
    RepliesOverflow,
}

impl ConnectionError {
    /// Whether the error is a refused identity (an announced address not
    /// proven, a wrong peer, a retired incarnation, a live connection
    /// kept): counted in
    /// [`TransportMetrics::identities_refused`](crate::TransportMetrics::identities_refused).
    pub fn is_identity_refusal(&self) -> bool {
        matches!(
            self,
            ConnectionError::AddressNotProven { .. }
                | ConnectionError::UnspecifiedAddress(_)
                | ConnectionError::WrongPeer { .. }
                | ConnectionError::RetiredIncarnation(_)
                | ConnectionError::LiveConnectionKept
        )
    }
}

impl From<io::Error> for ConnectionError {
    fn from(e: io::Error) -> ConnectionError {
        ConnectionError::Io(e.kind())
    }
}

/// Errors setting up a transport or registering an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Binding the listener failed.
    #[error("bind failed: {0}")]
    Bind(#[source] io::Error),
    /// The token is already registered.
    #[error("token {0:?} is already registered")]
    TokenInUse(crate::Token),
    /// Every fresh random token drawn was already registered (the random
    /// provider repeats itself).
    #[error("token collision: random token {0:?} is already registered")]
    TokenCollision(crate::Token),
    /// A transport cannot be bound to an unspecified address (`0.0.0.0`,
    /// `::`): its listen address is its identity, which peers check.
    #[error(
        "cannot bind the unspecified address {0}: bind the address peers use to reach this transport"
    )]
    UnspecifiedAddress(SocketAddr),
    /// The transport was shut down.
    #[error("transport shut down")]
    Shutdown,
}

/// Errors the server side reports to a client inside a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoteError {
    /// The reply promise was dropped without an answer.
    BrokenPromise,
    /// The request stream's queue was full; the request was not processed.
    Overloaded,
    /// The request could not be decoded as the stream's request type.
    BadRequest,
    /// The request was processed, but its reply exceeds the server's frame
    /// limit.
    ReplyTooLarge,
    /// The request was processed, but its reply could not be encoded.
    ReplyUnencodable,
}

/// How a request ended, when it did not end with a reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The server dropped the reply promise without answering (it failed or
    /// its request stream was dropped). The request was delivered.
    #[error("broken promise")]
    BrokenPromise,
    /// The connection was lost after the request may have been sent: it may
    /// or may not have been processed.
    #[error("request maybe delivered (connection lost)")]
    MaybeDelivered,
    /// No reply within the caller's deadline. The request may have been
    /// processed.
    #[error("timed out")]
    Timeout,
    /// The failure monitor judged the destination's address failed (its
    /// connection attempts kept failing) before the request was sent: not
    /// processed. Checked when a call starts, and by
    /// [`get_reply_unless_failed`](crate::RequestSender::get_reply_unless_failed)
    /// while it waits.
    #[error("address unreachable (failure monitor)")]
    Unreachable,
    /// The destination has no receiver for the token. Not processed.
    #[error("endpoint not found")]
    EndpointNotFound,
    /// The server's request queue was full. Not processed.
    #[error("server overloaded")]
    Overloaded,
    /// The local outgoing queue to that peer is full. Not sent.
    #[error("outgoing queue full")]
    QueueFull,
    /// The request or the reply could not be encoded or decoded.
    #[error("codec: {0}")]
    Codec(#[from] CodecError),
    /// The connection to the destination failed (a connect attempt, a
    /// handshake, or the connection itself) before the request was
    /// written to it: the request was certainly not processed.
    #[error("connection failed before the request was sent")]
    ConnectionFailed,
    /// The server processed the request, but its reply is larger than the
    /// server's frame limit.
    #[error("the reply exceeds the server's frame limit")]
    ReplyTooLarge,
    /// The server processed the request, but could not encode its reply.
    #[error("the server could not encode the reply")]
    ReplyUnencodable,
    /// The call's random reply token was already registered (the random
    /// provider repeats itself). Not sent.
    #[error("reply token collision")]
    TokenCollision,
    /// The server could not decode the request.
    #[error("server could not decode the request")]
    BadRequest,
    /// The local transport was shut down.
    #[error("transport shut down")]
    Shutdown,
}

impl RpcError {
    /// Whether retrying the same request can succeed: the transient
    /// outcomes (maybe delivered, timeout, unreachable, connection failed,
    /// overloaded, queue full). Retrying is only safe for idempotent
    /// requests, or for those [certainly not
    /// processed](Self::certainly_not_processed).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RpcError::MaybeDelivered
                | RpcError::Timeout
                | RpcError::Unreachable
                | RpcError::ConnectionFailed
                | RpcError::Overloaded
                | RpcError::QueueFull
        )
    }

    /// Whether the request certainly was not processed by the server.
    ///
    /// This describes the transmission that ended the call. A `get_reply`
    /// call may have been transmitted several times (once per connection):
    /// an earlier transmission may have been processed, e.g. by a server
    /// incarnation that died before answering, even though the resend was
    /// answered `EndpointNotFound` or `Overloaded`. For such a call only
    /// `Unreachable` and `TokenCollision` (nothing sent) are certain.
    pub fn certainly_not_processed(&self) -> bool {
        matches!(
            self,
            RpcError::Unreachable
                | RpcError::ConnectionFailed
                | RpcError::EndpointNotFound
                | RpcError::Overloaded
                | RpcError::QueueFull
                | RpcError::BadRequest
                | RpcError::TokenCollision
        )
    }
}

impl From<RemoteError> for RpcError {
    fn from(e: RemoteError) -> RpcError {
        match e {
            RemoteError::BrokenPromise => RpcError::BrokenPromise,
            RemoteError::Overloaded => RpcError::Overloaded,
            RemoteError::BadRequest => RpcError::BadRequest,
            RemoteError::ReplyTooLarge => RpcError::ReplyTooLarge,
            RemoteError::ReplyUnencodable => RpcError::ReplyUnencodable,
        }
    }
}
