//! Calls: admission (shutdown, known-missing endpoints, the failure
//! monitor), back-pressure, registration of the reply slot and the pending
//! call, queueing in the chosen mode, and the cleanup guard that runs
//! however the call ends (reply, error, timeout, or the caller dropping
//! the future).

use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::time::Duration;

use moonpool_core::{Codec, CodecError, Providers, reachable};

use crate::endpoint::{Endpoint, Token};
use crate::error::RpcError;
use crate::failure_monitor::AddressState;
use crate::peer::{Peer, PendingCall};
use crate::rpc::slot::ReplySlot;
use crate::transport::Inner;
use crate::wire::FRAME_HEADER_LEN;

/// How a call is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Sent once; a lost connection ends the call with `MaybeDelivered`.
    AtMostOnce,
    /// Resent on every reconnect until the reply arrives.
    Reliable,
}

impl<P: Providers, C: Codec> Inner<P, C> {
    /// Checks that a call to `dest` may start.
    fn admit(&self, dest: &Endpoint) -> Result<(), RpcError> {
        if self.shut_down.get() {
            return Err(RpcError::Shutdown);
        }
        if self.failure.is_endpoint_failed(dest) {
            return Err(RpcError::EndpointNotFound);
        }
        Ok(())
    }

    /// Keeps the peer probing its address for the probe window, and tells
    /// whether the failure monitor lets a call to it start.
    fn touch_and_admit(&self, peer: &Peer<P>) -> Result<(), RpcError> {
        let now = self.now();
        peer.touch(
            now,
            now + Duration::from_millis(self.config.probe_window_ms),
        );
        match self.failure.state(peer.addr, now) {
            AddressState::Failed => {
                reachable!("a call fails fast: its address is marked failed");
                Err(RpcError::Unreachable)
            }
            AddressState::Available => Ok(()),
        }
    }

    /// A one-way message: at most once, no reply.
    pub(crate) fn send_oneway(
        self: &Rc<Self>,
        dest: Endpoint,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(), RpcError> {
        self.admit(&dest)?;
        let frame = self.build_frame(dest.token, encode)?;
        if self.is_local(dest.addr) {
            return if self.deliver_local(dest.token, &frame[FRAME_HEADER_LEN..]) {
                Ok(())
            } else {
                Err(RpcError::EndpointNotFound)
            };
        }
        let peer = self.peer(dest.addr);
        self.touch_and_admit(&peer)?;
        peer.push_unreliable(frame, &self.config)
    }

    /// A request expecting a reply: resolves to the reply's payload bytes
    /// or the error that ended the call. `encode` gets the reply token.
    pub(crate) async fn call(
        self: &Rc<Self>,
        dest: Endpoint,
        mode: Mode,
        encode: impl FnOnce(Token, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Vec<u8>, RpcError> {
        self.admit(&dest)?;
        let reply_token = Token::random(self.p.random());
        let frame = self.build_frame(dest.token, |out| encode(reply_token, out))?;
        let slot = Rc::new(ReplySlot::default());
        if self.is_local(dest.addr) {
            if !self
                .endpoints
                .borrow_mut()
                .insert(reply_token, slot.clone())
            {
                return Err(RpcError::Shutdown);
            }
            let _guard = CallGuard::<P, C> {
                inner: Rc::downgrade(self),
                reply_token,
                peer: None,
            };
            if !self.deliver_local(dest.token, &frame[FRAME_HEADER_LEN..]) {
                return Err(RpcError::EndpointNotFound);
            }
            return poll_fn(|cx| slot.poll_take(cx)).await;
        }
        let peer = self.peer(dest.addr);
        self.touch_and_admit(&peer)?;
        // Back-pressure: wait for room in the peer's queue.
        poll_fn(|cx| peer.poll_room(cx, &self.config)).await;
        if self.shut_down.get() {
            return Err(RpcError::Shutdown);
        }
        if !self
            .endpoints
            .borrow_mut()
            .insert(reply_token, slot.clone())
        {
            return Err(RpcError::Shutdown);
        }
        let call_id = self.next_id();
        peer.state.borrow_mut().pending.insert(
            call_id,
            PendingCall {
                dest: dest.token,
                at_most_once: mode == Mode::AtMostOnce,
                slot: slot.clone(),
            },
        );
        let mut guard = CallGuard {
            inner: Rc::downgrade(self),
            reply_token,
            peer: Some((peer.clone(), call_id, None)),
        };
        match mode {
            Mode::AtMostOnce => peer.push_unreliable_admitted(frame),
            Mode::Reliable => {
                let seq = peer.push_reliable(frame);
                if let Some((_, _, s)) = guard.peer.as_mut() {
                    *s = Some(seq);
                }
            }
        }
        poll_fn(|cx| slot.poll_take(cx)).await
    }
}

/// Cleans up a call however it ends (reply, error, timeout, cancellation):
/// unregisters the reply token, forgets the pending call, and stops
/// resending its reliable frame.
struct CallGuard<P: Providers, C: Codec> {
    inner: Weak<Inner<P, C>>,
    reply_token: Token,
    peer: Option<(Rc<Peer<P>>, u64, Option<u64>)>,
}

impl<P: Providers, C: Codec> Drop for CallGuard<P, C> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.endpoints.borrow_mut().remove(self.reply_token);
        }
        if let Some((peer, call_id, seq)) = self.peer.take() {
            peer.state.borrow_mut().pending.remove(&call_id);
            if let Some(seq) = seq {
                peer.release_reliable(seq);
            }
        }
    }
}
