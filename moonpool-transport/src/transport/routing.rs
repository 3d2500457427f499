//! Routing frames: building them, dispatching received ones by token,
//! local delivery, and the replies of the server side (`Core`).
//!
//! Replies are encoded straight into the destination peer's outbox and
//! admitted under the replies budget, never the request limits. A reply
//! too large for a frame is answered `ReplyTooLarge` (and one that cannot
//! be encoded `ReplyUnencodable`): the requester learns its request was
//! processed. A reply for a requester incarnation that is gone is dropped;
//! a reply past the budget resets the connection, so the requester's calls
//! end (`MaybeDelivered`) or are resent instead of waiting in silence.

use std::rc::Rc;

use moonpool_core::{Codec, CodecError, Providers};
use serde::{Deserialize, Serialize};

use super::Inner;
use crate::endpoint::{Sender, Token};
use crate::error::{ConnectionError, RemoteError, RpcError, WireError};
use crate::metrics::add;
use crate::peer::{AnswerRefused, Peer};
use crate::wire::{FRAME_HEADER_LEN, begin_frame, finish_frame};

/// Messages on the control token.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    /// Keepalive: "I am here; show me you are within the ping timeout".
    /// Carries how many pings its sender had received from the receiver,
    /// so that pings that crossed are told apart from answers (see the
    /// connection driver).
    Ping(u64),
    /// A frame you sent to this token found no receiver.
    EndpointNotFound(Token),
}

/// The body of a reply.
pub(crate) enum ReplyBody<'a> {
    /// A reply: appends the encoding of `Ok::<&Rep, RemoteError>(reply)`.
    Ok(&'a mut dyn FnMut(&mut Vec<u8>) -> Result<(), CodecError>),
    /// An error answered instead of a reply.
    Err(RemoteError),
}

/// The part of the transport that P-free RPC types (request streams, reply
/// promises) need.
pub(crate) trait Core {
    /// Sends a reply on `token` to the requester `to`.
    fn send_reply(&self, to: Sender, token: Token, body: ReplyBody<'_>);
    /// Removes a receiver.
    fn unregister(&self, token: Token);
    /// Counts a request refused by a full request stream.
    fn note_overloaded(&self);
}

impl<P: Providers, C: Codec> Inner<P, C> {
    /// Counts a wire error against `peer` (or globally).
    pub(crate) fn count_wire_error(&self, peer: Option<&Peer<P>>, e: &WireError) {
        let oversize = matches!(e, WireError::FrameTooLarge { .. });
        let (c, name) = match (peer, e.is_checksum(), oversize) {
            (Some(p), true, _) => (&p.stats.checksum_failures, "transport.checksum_failures"),
            (Some(p), _, true) => (&p.stats.oversize_frames, "transport.oversize_frames"),
            (Some(p), _, _) => (&p.stats.decode_errors, "transport.decode_errors"),
            (None, true, _) => (&self.stats.checksum_failures, "transport.checksum_failures"),
            (None, _, true) => (&self.stats.oversize_frames, "transport.oversize_frames"),
            (None, _, _) => (&self.stats.decode_errors, "transport.decode_errors"),
        };
        add(c, name, 1);
    }

    /// Appends to `out` a frame for `token` whose payload `encode` appends.
    pub(crate) fn append_frame(
        &self,
        out: &mut Vec<u8>,
        token: Token,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(), RpcError> {
        let start = begin_frame(token, out);
        if let Err(e) = encode(out) {
            out.truncate(start);
            return Err(e.into());
        }
        finish_frame(out, start, self.config.frame_bytes_max)
            .map_err(|e| RpcError::Codec(CodecError::Encode(e.to_string())))
    }

    /// A frame in a pooled buffer.
    pub(crate) fn build_frame(
        &self,
        token: Token,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Vec<u8>, RpcError> {
        let mut frame = self.frame_buffer();
        match self.append_frame(&mut frame, token, encode) {
            Ok(()) => Ok(frame),
            Err(e) => {
                self.recycle(frame);
                Err(e)
            }
        }
    }

    /// Appends a reply frame to `out`: the reply, or the error answered
    /// instead when it is too large or cannot be encoded.
    fn append_reply(&self, out: &mut Vec<u8>, token: Token, body: ReplyBody<'_>) -> Result<(), ()> {
        let error = match body {
            ReplyBody::Ok(encode) => {
                let start = begin_frame(token, out);
                let error = match encode(out) {
                    Ok(()) => match finish_frame(out, start, self.config.frame_bytes_max) {
                        Ok(()) => return Ok(()),
                        Err(_) => RemoteError::ReplyTooLarge,
                    },
                    Err(_) => RemoteError::ReplyUnencodable,
                };
                out.truncate(start);
                tracing::debug!(?error, "reply not sendable; answering the error");
                error
            }
            ReplyBody::Err(e) => e,
        };
        let start = begin_frame(token, out);
        let encoded = self
            .codec
            .encode(&Err::<(), RemoteError>(error), out)
            .is_ok()
            && finish_frame(out, start, self.config.frame_bytes_max).is_ok();
        if encoded {
            Ok(())
        } else {
            out.truncate(start);
            Err(())
        }
    }

    /// Sends a control message to `peer` as an answer (never refused for
    /// the request limits).
    pub(crate) fn send_control(&self, peer: &Peer<P>, msg: &Control) {
        let sent = peer.push_answer(None, |out| {
            let start = begin_frame(Token::CONTROL, out);
            self.codec.encode(msg, out)?;
            finish_frame(out, start, self.config.frame_bytes_max)
                .map_err(|e| CodecError::Encode(e.to_string()))
        });
        if let Ok(Err(AnswerRefused::Overflow)) = sent {
            self.reset_connection(peer);
        }
    }

    /// Closes `peer`'s connection: answers to it exceeded their budget.
    fn reset_connection(&self, peer: &Peer<P>) {
        let shared = peer.state.borrow().conn.as_ref().map(|c| c.shared.clone());
        if let Some(shared) = shared {
            tracing::debug!(peer = %peer.addr, "replies overflow: resetting the connection");
            shared.reset(ConnectionError::RepliesOverflow);
        }
    }

    /// Routes one received frame from `peer`, whose transport is
    /// incarnation `incarnation`. A ping is left to the connection, which
    /// answers it: its acknowledgement is returned.
    pub(crate) fn dispatch(
        &self,
        peer: &Peer<P>,
        incarnation: u64,
        token: Token,
        payload: &[u8],
    ) -> Option<u64> {
        if token == Token::CONTROL {
            match self.codec.decode::<Control>(payload) {
                Ok(Control::Ping(acked)) => return Some(acked),
                Ok(Control::EndpointNotFound(t)) => {
                    if peer.connectable {
                        self.failure
                            .endpoint_not_found(crate::Endpoint::new(peer.addr, t));
                    }
                    peer.endpoint_not_found(t);
                }
                Err(_) => add(&peer.stats.decode_errors, "transport.decode_errors", 1),
            }
            return None;
        }
        let receiver = self.endpoints.borrow().get(token);
        match receiver {
            Some(r) => r.deliver(
                payload,
                Sender {
                    addr: peer.addr,
                    incarnation,
                },
            ),
            None => {
                add(
                    &self.stats.unknown_endpoint_frames,
                    "transport.unknown_endpoint_frames",
                    1,
                );
                self.send_control(peer, &Control::EndpointNotFound(token));
            }
        }
        None
    }

    /// Delivers a payload to a local receiver; false if there is none.
    pub(crate) fn deliver_local(&self, token: Token, payload: &[u8]) -> bool {
        let receiver = self.endpoints.borrow().get(token);
        match receiver {
            Some(r) => {
                r.deliver(payload, self.local_sender());
                true
            }
            None => {
                add(
                    &self.stats.unknown_endpoint_frames,
                    "transport.unknown_endpoint_frames",
                    1,
                );
                false
            }
        }
    }

    /// This transport as the sender of local messages.
    pub(crate) fn local_sender(&self) -> Sender {
        Sender {
            addr: self.local_sender_addr(),
            incarnation: self.incarnation,
        }
    }

    fn is_local_sender(&self, to: &Sender) -> bool {
        to.incarnation == self.incarnation && self.listen_addr.is_none_or(|a| a == to.addr)
    }

    fn count_reply_dropped(&self) {
        add(&self.stats.replies_dropped, "transport.replies_dropped", 1);
    }
}

impl<P: Providers, C: Codec> Core for Inner<P, C> {
    fn send_reply(&self, to: Sender, token: Token, body: ReplyBody<'_>) {
        if self.shut_down.get() {
            return;
        }
        if self.is_local_sender(&to) {
            let mut frame = self.frame_buffer();
            if self.append_reply(&mut frame, token, body).is_ok() {
                self.deliver_local(token, &frame[FRAME_HEADER_LEN..]);
            }
            self.recycle(frame);
            return;
        }
        let peer: Option<Rc<Peer<P>>> = self.peers.borrow().get(&to.addr).cloned();
        let Some(peer) = peer else {
            // The requester's peer is gone (its connection ended and it
            // cannot be reached): its calls ended with the connection.
            self.count_reply_dropped();
            return;
        };
        match peer.push_answer(Some(to.incarnation), |out| {
            self.append_reply(out, token, body)
        }) {
            Ok(Ok(())) => {}
            Ok(Err(AnswerRefused::Stale)) => {
                tracing::debug!(peer = %to.addr, "reply for a previous incarnation dropped");
            }
            Ok(Err(AnswerRefused::Overflow)) => self.reset_connection(&peer),
            Err(()) => self.count_reply_dropped(),
        }
    }

    fn unregister(&self, token: Token) {
        self.endpoints.borrow_mut().remove(token);
    }

    fn note_overloaded(&self) {
        add(
            &self.stats.requests_overloaded,
            "transport.requests_overloaded",
            1,
        );
    }
}
