//! The receiving end of one pending request: a one-shot slot that the
//! reply frame, or the transport's failure handling, completes.
//!
//! `ReplySlot<Rep, C>` decodes the reply straight from the connection's
//! buffer when it arrives (no copy of the payload), and only from the
//! address the request was sent to: a frame for its token from anyone else
//! is ignored (and counted), so a late reply meant for an earlier process
//! at another address, or a forged one, never completes the call. The
//! peer's side sees it as a `CallSlot`: failed by the transport, marked
//! sent when its request frame was fully written.
//!
//! Invariant: a slot is completed at most once; the first outcome wins and
//! later ones (a duplicate reply, a disconnect after the reply) are ignored.
//! That is what guarantees "exactly one outcome per request".

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use moonpool_core::{Codec, reachable};
use serde::de::DeserializeOwned;

use crate::endpoint::{Receiver, Sender};
use crate::error::{RemoteError, RpcError};

/// A pending call as the peer and the transport see it.
pub(crate) trait CallSlot {
    /// Ends the call with `error` unless it already ended; whether this
    /// call ended it.
    fn fail(&self, error: RpcError) -> bool;
    /// The call's request was fully written to a connection.
    fn mark_sent(&self);
    /// Whether the call's request was ever fully written to a connection.
    fn was_sent(&self) -> bool;
    /// Replies ignored so far (from another address, or after the outcome).
    fn ignored(&self) -> u64;
}

struct SlotState<Rep> {
    result: Option<Result<Rep, RpcError>>,
    done: bool,
    waker: Option<Waker>,
}

/// A one-shot reply slot for a reply of type `Rep`.
pub(crate) struct ReplySlot<Rep, C: Codec> {
    state: RefCell<SlotState<Rep>>,
    sent: Cell<bool>,
    /// The only address a reply is accepted from.
    from: SocketAddr,
    codec: C,
    /// Counts replies ignored (from elsewhere, or after the outcome).
    ignored: Cell<u64>,
    _rep: PhantomData<fn() -> Rep>,
}

impl<Rep: DeserializeOwned, C: Codec> ReplySlot<Rep, C> {
    /// A slot for a reply from `from`.
    pub(crate) fn new(codec: C, from: SocketAddr) -> ReplySlot<Rep, C> {
        ReplySlot {
            state: RefCell::new(SlotState {
                result: None,
                done: false,
                waker: None,
            }),
            sent: Cell::new(false),
            from,
            codec,
            ignored: Cell::new(0),
            _rep: PhantomData,
        }
    }

    /// Completes the slot unless it already was; returns whether this call
    /// completed it.
    fn complete(&self, result: Result<Rep, RpcError>) -> bool {
        let waker = {
            let mut s = self.state.borrow_mut();
            if s.done {
                reachable!("a late outcome of a finished call is ignored");
                return false;
            }
            s.done = true;
            s.result = Some(result);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// Takes the outcome once it is there.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<Rep, RpcError>> {
        let mut s = self.state.borrow_mut();
        if let Some(r) = s.result.take() {
            return Poll::Ready(r);
        }
        if s.done {
            // Taken already: callers poll once after Ready, never again.
            return Poll::Ready(Err(RpcError::Shutdown));
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<Rep: DeserializeOwned, C: Codec> Receiver for ReplySlot<Rep, C> {
    fn deliver(&self, payload: &[u8], from: Sender) {
        if from.addr != self.from {
            self.ignored.set(self.ignored.get() + 1);
            tracing::debug!(from = %from.addr, expected = %self.from, "reply from another address ignored");
            return;
        }
        if self.state.borrow().done {
            reachable!("a late reply of a finished call is ignored");
            self.ignored.set(self.ignored.get() + 1);
            return;
        }
        let result = match self.codec.decode::<Result<Rep, RemoteError>>(payload) {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(remote)) => Err(remote.into()),
            Err(e) => Err(RpcError::Codec(e)),
        };
        self.complete(result);
    }

    fn close(&self) {
        self.complete(Err(RpcError::Shutdown));
    }
}

impl<Rep: DeserializeOwned, C: Codec> CallSlot for ReplySlot<Rep, C> {
    fn fail(&self, error: RpcError) -> bool {
        self.complete(Err(error))
    }

    fn mark_sent(&self) {
        self.sent.set(true);
    }

    fn was_sent(&self) -> bool {
        self.sent.get()
    }

    fn ignored(&self) -> u64 {
        self.ignored.get()
    }
}
