//! Request/reply on top of the transport, FoundationDB style.
//!
//! - The server owns a [`RequestStream<Req>`](RequestStream) registered
//!   under a token and takes [`Incoming`] requests from it. Each request
//!   carries a [`ReplyPromise`]: answering it sends the reply to the
//!   requester's reply endpoint; dropping it unanswered sends
//!   [`RpcError::BrokenPromise`](crate::RpcError::BrokenPromise).
//! - The client holds a [`RequestSender<Req>`](RequestSender) for the
//!   stream's [`Endpoint`](crate::Endpoint) and picks a delivery mode per
//!   call:
//!
//! | method | sends | ends with | duplicates |
//! |---|---|---|---|
//! | [`send`](RequestSender::send) | once, unreliably | nothing (no reply) | never |
//! | [`try_get_reply`](RequestSender::try_get_reply) | once, unreliably | the reply, or `MaybeDelivered` if the connection is lost, or `Timeout` | never |
//! | [`get_reply`](RequestSender::get_reply) | reliably: again on every reconnect until the reply arrives | the reply, or `Timeout` | possible: the server may process the request more than once |
//! | [`get_reply_unless_failed`](RequestSender::get_reply_unless_failed) | as `get_reply` | as `get_reply`, or as soon as the address is judged failed: `Unreachable` if never sent, else `MaybeDelivered` | possible |
//!
//! Every call ends with exactly one outcome: the reply, or a typed
//! [`RpcError`](crate::RpcError), and never later than its timeout.
//! [`retry`](retry::retry) and
//! [`RequestSender::get_reply_idempotent`] add retries with backoff for
//! idempotent requests; [`DedupCache`](retry::DedupCache) makes a
//! non-idempotent request safe to retry by answering duplicates from a
//! cache.
//!
//! Wire: a request frame's payload is the codec encoding of
//! `(Option<Token>, Req)`: the reply token (absent for `send`) and the
//! request. The reply endpoint's address is implicit: replies go back to the
//! peer the request came from. A reply frame's payload is the encoding of
//! `Result<Rep, RemoteError>`.

pub(crate) mod call;
pub(crate) mod retry;
mod sender;
pub(crate) mod slot;
mod stream;
pub(crate) mod waiters;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use sender::RequestSender;
pub(crate) use stream::StreamLimits;
pub use stream::{Incoming, ReplyPromise, RequestStream, serve};
pub use waiters::WaitSlot;

/// A request type and the type of its reply.
///
/// Usually implemented by the [`service!`](macro@crate::service) macro.
pub trait Request: Serialize + DeserializeOwned + 'static {
    /// The reply.
    type Reply: Serialize + DeserializeOwned + 'static;
}
