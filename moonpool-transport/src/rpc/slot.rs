//! The receiving end of one pending request: a one-shot slot that the
//! reply frame, or the transport's failure handling, completes.
//!
//! Invariant: a slot is completed at most once; the first outcome wins and
//! later ones (a duplicate reply, a disconnect after the reply) are ignored.
//! That is what guarantees "exactly one outcome per request".

use std::cell::RefCell;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use moonpool_core::reachable;

use crate::endpoint::Receiver;
use crate::error::RpcError;

#[derive(Default)]
struct SlotState {
    result: Option<Result<Vec<u8>, RpcError>>,
    done: bool,
    waker: Option<Waker>,
}

/// A one-shot reply slot.
#[derive(Default)]
pub(crate) struct ReplySlot {
    state: RefCell<SlotState>,
}

impl ReplySlot {
    /// Completes the slot unless it already was; returns whether this call
    /// completed it.
    pub(crate) fn complete(&self, result: Result<Vec<u8>, RpcError>) -> bool {
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
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>, RpcError>> {
        let mut s = self.state.borrow_mut();
        if let Some(r) = s.result.take() {
            return Poll::Ready(r);
        }
        if s.done {
            // Taken already: callers poll once after Ready, never again.
            return Poll::Ready(Err(RpcError::Shutdown));
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Receiver for ReplySlot {
    fn deliver(&self, payload: &[u8], _from: SocketAddr) {
        self.complete(Ok(payload.to_vec()));
    }

    fn close(&self) {
        self.complete(Err(RpcError::Shutdown));
    }
}
