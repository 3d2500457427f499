//! Calls: admission (shutdown, known-missing endpoints, the failure
//! monitor), the reply slot and the pending call, queueing in the chosen
//! mode with back-pressure, and the cleanup guard that runs however the
//! call ends (reply, error, timeout, or the caller dropping the future).
//!
//! Order of a remote call: draw a reply token and register the slot (a
//! collision is `TokenCollision`); register the pending call with the
//! peer, so that a failure while the request waits ends the call; queue
//! the request (at most once: encoded straight into the outbox; reliable:
//! kept in the reliable map and copied into the outbox per connection),
//! waiting in line for room if needed; wait for the outcome, and with
//! `unless_failed` for the address to be judged failed as well.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::Poll;
use std::time::Duration;

use moonpool_core::{Codec, CodecError, Providers, reachable};
use serde::de::DeserializeOwned;

use crate::endpoint::{Endpoint, Token};
use crate::error::RpcError;
use crate::failure_monitor::AddressState;
use crate::metrics::add;
use crate::peer::outbox::FrameKind;
use crate::peer::room::{self, RoomTicket};
use crate::peer::{Peer, PendingCall};
use crate::rpc::slot::{CallSlot, ReplySlot};
use crate::transport::{Inner, OnFailed};
use crate::wire::FRAME_HEADER_LEN;

/// How a call is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Sent once; a lost connection ends the call.
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
        let connected = {
            let mut st = peer.state.borrow_mut();
            st.last_activity = now;
            let until = now + Duration::from_millis(self.config.probe_window_ms);
            if st.probe_until < until {
                st.probe_until = until;
            }
            if st.conn.is_some() {
                true
            } else {
                if let Some(w) = st.keeper_waker.take() {
                    drop(st);
                    w.wake();
                }
                false
            }
        };
        if connected {
            // A connected address is never failing.
            return Ok(());
        }
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
        if self.is_local(dest.addr) {
            let frame = self.build_frame(dest.token, encode)?;
            let delivered = self.deliver_local(dest.token, &frame[FRAME_HEADER_LEN..]);
            self.recycle(frame);
            return if delivered {
                Ok(())
            } else {
                Err(RpcError::EndpointNotFound)
            };
        }
        let peer = self.peer(dest.addr);
        self.touch_and_admit(&peer)?;
        match peer.push_oneway(|out| self.append_frame(out, dest.token, encode)) {
            Ok(()) => Ok(()),
            Err(Ok(e)) | Err(Err(e)) => Err(e),
        }
    }

    /// A request expecting a reply of type `Rep`: resolves to the reply or
    /// the error that ended the call. `encode` gets the reply token. With
    /// `unless_failed`, the call also ends as soon as the failure monitor
    /// judges the destination failed.
    ///
    /// Everything up to queueing is synchronous (`start`); only waiting
    /// for room (rare, boxed) and for the outcome are awaited, which keeps
    /// the future small: callers move it around.
    pub(crate) async fn call<Rep: DeserializeOwned + 'static>(
        self: &Rc<Self>,
        dest: Endpoint,
        mode: Mode,
        unless_failed: bool,
        encode: impl FnOnce(Token, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Rep, RpcError> {
        let (mut call, waiting) = self.start::<Rep>(dest, mode, unless_failed, encode)?;
        // The simulator's timeline picture draws a call from its send to
        // the server's answer and back (no-ops outside a simulation).
        let key = call.guard.reply_token.mark_key();
        moonpool_core::sim_hook::mark("rpc.send", key);
        let outcome = match waiting {
            Some(frame) => Box::pin(self.queue_after_room(&mut call, frame)).await,
            None => None,
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => poll_fn(|cx| self.poll_outcome(&mut call, cx)).await,
        };
        let kind = if outcome.is_ok() {
            "rpc.reply"
        } else {
            "rpc.error"
        };
        moonpool_core::sim_hook::mark(kind, key);
        outcome
    }

    /// Registers the call and queues its request if there is room; returns
    /// the frame still to queue otherwise.
    fn start<Rep: DeserializeOwned + 'static>(
        self: &Rc<Self>,
        dest: Endpoint,
        mode: Mode,
        unless_failed: bool,
        encode: impl FnOnce(Token, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Started<Rep, P, C>, RpcError> {
        self.admit(&dest)?;
        let reply_token = self.random_token();
        let local = self.is_local(dest.addr);
        let from = if local {
            self.local_sender_addr()
        } else {
            dest.addr
        };
        let slot = Rc::new(ReplySlot::<Rep, C>::new(self.codec.clone(), from));
        if !self
            .endpoints
            .borrow_mut()
            .insert(reply_token, slot.clone())
        {
            return Err(RpcError::TokenCollision);
        }
        let mut call = Call {
            guard: CallGuard {
                inner: Rc::downgrade(self),
                reply_token,
                peer: None,
                seq: None,
                slot: slot.clone(),
            },
            slot,
            mode,
            failed: None,
        };
        if local {
            let frame = self.build_frame(dest.token, |out| encode(reply_token, out))?;
            let delivered = self.deliver_local(dest.token, &frame[FRAME_HEADER_LEN..]);
            self.recycle(frame);
            if !delivered {
                return Err(RpcError::EndpointNotFound);
            }
            return Ok((call, None));
        }
        let peer = self.peer(dest.addr);
        self.touch_and_admit(&peer)?;
        let dyn_slot: Rc<dyn CallSlot> = call.slot.clone();
        let call_id = peer.state.borrow_mut().pending.insert(PendingCall {
            dest: dest.token,
            at_most_once: mode == Mode::AtMostOnce,
            slot: dyn_slot.clone(),
        });
        call.guard.peer = Some((peer.clone(), call_id));
        if unless_failed {
            call.failed = Some(Box::pin(OnFailed::new(self.clone(), dest.addr)));
        }
        let waiting = match mode {
            Mode::AtMostOnce => peer.push_built(
                || FrameKind::Request { slot: dyn_slot },
                |out| self.append_frame(out, dest.token, |o| encode(reply_token, o)),
            )?,
            Mode::Reliable => {
                let frame = self.build_frame(dest.token, |out| encode(reply_token, out))?;
                if room::admits(&peer.state.borrow(), frame.len(), true, &peer.limits) {
                    call.guard.seq = Some(peer.push_reliable(frame, dyn_slot));
                    None
                } else {
                    Some(frame)
                }
            }
        };
        Ok((call, waiting))
    }

    /// Waits in line for room, then queues `frame`. `Some(outcome)` if the
    /// call ended meanwhile (a failure, the address judged failed,
    /// shutdown).
    async fn queue_after_room<Rep: DeserializeOwned + 'static>(
        &self,
        call: &mut Call<Rep, P, C>,
        frame: Vec<u8>,
    ) -> Option<Result<Rep, RpcError>> {
        let (peer, _) = call.guard.peer.clone()?;
        let reliable = call.mode == Mode::Reliable;
        let mut ticket = RoomTicket::new(peer.clone(), frame.len(), reliable);
        let ended = poll_fn(|cx| {
            if let Poll::Ready(r) = self.poll_outcome(call, cx) {
                return Poll::Ready(Some(r));
            }
            ticket.poll(cx).map(|()| None)
        })
        .await;
        if ended.is_none() && self.shut_down.get() {
            return Some(Err(RpcError::Shutdown));
        }
        if ended.is_some() {
            self.recycle(frame);
            return ended;
        }
        ticket.consume();
        let slot: Rc<dyn CallSlot> = call.slot.clone();
        if reliable {
            call.guard.seq = Some(peer.push_reliable(frame, slot));
        } else {
            peer.push_admitted(&frame, FrameKind::Request { slot });
            self.recycle(frame);
        }
        None
    }

    /// The call's outcome, once there: its reply or error, or (with
    /// `unless_failed`) the address judged failed.
    fn poll_outcome<Rep: DeserializeOwned>(
        &self,
        call: &mut Call<Rep, P, C>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<Rep, RpcError>> {
        if let Poll::Ready(r) = call.slot.poll_take(cx) {
            return Poll::Ready(r);
        }
        if let Some(f) = call.failed.as_mut()
            && f.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(self.failed_outcome(&*call.slot)));
        }
        Poll::Pending
    }

    /// How a call whose address was judged failed ends: `Unreachable` if
    /// its request was never written, else `MaybeDelivered`.
    fn failed_outcome(&self, slot: &dyn CallSlot) -> RpcError {
        if self.shut_down.get() {
            RpcError::Shutdown
        } else if slot.was_sent() {
            RpcError::MaybeDelivered
        } else {
            RpcError::Unreachable
        }
    }
}

/// A started call, and its request frame if it still waits for room.
type Started<Rep, P, C> = (Call<Rep, P, C>, Option<Vec<u8>>);

/// A call in progress: its reply slot, its cleanup, and what it races.
pub(crate) struct Call<Rep, P: Providers, C: Codec> {
    slot: Rc<ReplySlot<Rep, C>>,
    guard: CallGuard<P, C>,
    mode: Mode,
    failed: Option<Pin<Box<OnFailed<P, C>>>>,
}

/// Cleans up a call however it ends (reply, error, timeout, cancellation):
/// unregisters the reply token, forgets the pending call, stops resending
/// its reliable frame (recycling its buffer), and counts replies the slot
/// ignored.
struct CallGuard<P: Providers, C: Codec> {
    inner: Weak<Inner<P, C>>,
    reply_token: Token,
    peer: Option<(Rc<Peer<P>>, usize)>,
    seq: Option<u64>,
    slot: Rc<dyn CallSlot>,
}

impl<P: Providers, C: Codec> Drop for CallGuard<P, C> {
    fn drop(&mut self) {
        let inner = self.inner.upgrade();
        if let Some(inner) = &inner {
            inner.endpoints.borrow_mut().remove(self.reply_token);
        }
        let ignored = self.slot.ignored();
        if let Some((peer, call_id)) = self.peer.take() {
            peer.state.borrow_mut().pending.remove(call_id);
            if let Some(seq) = self.seq
                && let Some(frame) = peer.release_reliable(seq)
                && let Some(inner) = &inner
            {
                inner.recycle(frame);
            }
            if ignored > 0 {
                add(
                    &peer.stats.replies_ignored,
                    "transport.replies_ignored",
                    ignored,
                );
            }
        } else if ignored > 0
            && let Some(inner) = &inner
        {
            add(
                &inner.stats.replies_ignored,
                "transport.replies_ignored",
                ignored,
            );
        }
    }
}
