//! The server side: [`RequestStream`], [`Incoming`], [`ReplyPromise`].
//!
//! A request stream's queue is registered in the transport's endpoint map
//! as a receiver. Delivering decodes the request envelope and pushes it, or
//! answers `Overloaded` when the queue is at its limit (so the queue is
//! bounded and the client still gets exactly one outcome). Dropping the
//! stream unregisters the token and drops the queued requests, which
//! breaks their promises.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use moonpool_core::{Codec, PostcardCodec, reachable};
use serde::Serialize;

use super::Request;
use crate::endpoint::{Endpoint, Receiver, Token};
use crate::error::RemoteError;
use crate::transport::Core;
use crate::wire::{FRAME_BUILD_CAPACITY, begin_frame, finish_frame};

/// One request taken from a [`RequestStream`].
pub struct Incoming<Req: Request, C: Codec = PostcardCodec> {
    /// The request.
    pub request: Req,
    /// Where the reply goes. Answer it, or drop it to break the promise.
    pub reply: ReplyPromise<Req::Reply, C>,
    /// The peer the request came from (its listen address, or its socket
    /// address for a client that does not listen).
    pub from: SocketAddr,
}

/// The promise of a reply to one request.
///
/// [`send`](Self::send) answers it. Dropping it unanswered answers
/// [`RpcError::BrokenPromise`](crate::RpcError::BrokenPromise). A request
/// sent with [`RequestSender::send`](crate::RequestSender::send) wants no
/// reply; its promise does nothing.
pub struct ReplyPromise<Rep: Serialize, C: Codec = PostcardCodec> {
    target: Option<(SocketAddr, Token)>,
    core: Weak<dyn Core>,
    codec: C,
    _reply: PhantomData<fn(Rep)>,
}

impl<Rep: Serialize, C: Codec> ReplyPromise<Rep, C> {
    /// Sends the reply.
    pub fn send(mut self, reply: Rep) {
        self.finish(Ok(&reply));
    }

    /// Whether the requester waits for a reply.
    pub fn is_wanted(&self) -> bool {
        self.target.is_some()
    }

    /// The reply endpoint, if a reply is wanted.
    pub fn reply_endpoint(&self) -> Option<Endpoint> {
        self.target.map(|(a, t)| Endpoint::new(a, t))
    }

    fn finish(&mut self, result: Result<&Rep, RemoteError>) {
        let Some((to, token)) = self.target.take() else {
            return;
        };
        let Some(core) = self.core.upgrade() else {
            return;
        };
        let mut frame = Vec::with_capacity(FRAME_BUILD_CAPACITY);
        let start = begin_frame(token, &mut frame);
        let encoded = self.codec.encode(&result, &mut frame).is_ok()
            && finish_frame(&mut frame, start, core.frame_bytes_max()).is_ok();
        if !encoded {
            // The reply cannot be sent: tell the client the promise broke.
            frame.clear();
            let start = begin_frame(token, &mut frame);
            let broken: Result<&Rep, RemoteError> = Err(RemoteError::BrokenPromise);
            if self.codec.encode(&broken, &mut frame).is_err()
                || finish_frame(&mut frame, start, core.frame_bytes_max()).is_err()
            {
                return;
            }
        }
        core.send_frame_unreliable(to, frame);
    }
}

impl<Rep: Serialize, C: Codec> Drop for ReplyPromise<Rep, C> {
    fn drop(&mut self) {
        if self.target.is_some() {
            reachable!("a reply promise is broken");
            self.finish(Err(RemoteError::BrokenPromise));
        }
    }
}

/// The queue behind a request stream; the transport's receiver.
struct StreamQueue<Req: Request, C: Codec> {
    items: RefCell<VecDeque<Incoming<Req, C>>>,
    waker: RefCell<Option<Waker>>,
    closed: Cell<bool>,
    limit: usize,
    codec: C,
    core: Weak<dyn Core>,
}

impl<Req: Request, C: Codec> Receiver for StreamQueue<Req, C> {
    fn deliver(&self, payload: &[u8], from: SocketAddr) {
        let (reply_to, request) = match self.codec.decode::<(Option<Token>, Req)>(payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(%from, error = %e, "undecodable request");
                // The reply token leads the envelope: answer if it decodes.
                if let Ok((Some(t), _)) = postcard_prefix_token(&self.codec, payload) {
                    let mut p: ReplyPromise<Req::Reply, C> = self.promise(Some((from, t)));
                    p.finish(Err(RemoteError::BadRequest));
                }
                return;
            }
        };
        let mut reply = self.promise(reply_to.map(|t| (from, t)));
        if self.closed.get() {
            return;
        }
        if self.items.borrow().len() >= self.limit {
            if let Some(core) = self.core.upgrade() {
                core.note_overloaded();
            }
            reply.finish(Err(RemoteError::Overloaded));
            return;
        }
        self.items.borrow_mut().push_back(Incoming {
            request,
            reply,
            from,
        });
        let w = self.waker.borrow_mut().take();
        if let Some(w) = w {
            w.wake();
        }
    }

    fn close(&self) {
        self.closed.set(true);
        let items = std::mem::take(&mut *self.items.borrow_mut());
        drop(items);
        let w = self.waker.borrow_mut().take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// Decodes just the leading `Option<Token>` of an envelope.
fn postcard_prefix_token<C: Codec>(
    codec: &C,
    payload: &[u8],
) -> Result<(Option<Token>, ()), moonpool_core::CodecError> {
    // Try successively shorter prefixes: the token is at most 1 + 19 bytes.
    for len in (1..=payload.len().min(20)).rev() {
        if let Ok(t) = codec.decode::<Option<Token>>(&payload[..len]) {
            return Ok((t, ()));
        }
    }
    Err(moonpool_core::CodecError::Decode("no reply token".into()))
}

impl<Req: Request, C: Codec> StreamQueue<Req, C> {
    fn promise(&self, target: Option<(SocketAddr, Token)>) -> ReplyPromise<Req::Reply, C> {
        ReplyPromise {
            target,
            core: self.core.clone(),
            codec: self.codec.clone(),
            _reply: PhantomData,
        }
    }
}

/// A stream of requests of type `Req`, registered under one token.
///
/// Created by [`Transport::request_stream`](crate::Transport::request_stream)
/// (random token) or
/// [`Transport::well_known_stream`](crate::Transport::well_known_stream).
/// Dropping it unregisters the token: later requests get
/// [`RpcError::EndpointNotFound`](crate::RpcError::EndpointNotFound).
pub struct RequestStream<Req: Request, C: Codec = PostcardCodec> {
    queue: Option<Rc<StreamQueue<Req, C>>>,
    endpoint: Endpoint,
    registered: Cell<bool>,
}

impl<Req: Request, C: Codec> RequestStream<Req, C> {
    pub(crate) fn new(
        endpoint: Endpoint,
        core: Weak<dyn Core>,
        codec: C,
        limit: usize,
    ) -> (RequestStream<Req, C>, Rc<dyn Receiver>) {
        let queue = Rc::new(StreamQueue {
            items: RefCell::new(VecDeque::new()),
            waker: RefCell::new(None),
            closed: Cell::new(false),
            limit: limit.max(1),
            codec,
            core,
        });
        let receiver: Rc<dyn Receiver> = queue.clone();
        (
            RequestStream {
                queue: Some(queue),
                endpoint,
                registered: Cell::new(true),
            },
            receiver,
        )
    }

    /// A stream that is already over (registration impossible).
    pub(crate) fn closed(endpoint: Endpoint) -> RequestStream<Req, C> {
        RequestStream {
            queue: None,
            endpoint,
            registered: Cell::new(false),
        }
    }

    pub(crate) fn forget_registration(&self) {
        self.registered.set(false);
    }

    /// Where clients send requests: this transport's listen address and the
    /// stream's token. (On an unbound transport the address is `0.0.0.0:0`:
    /// nobody else can reach the stream.)
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The next request; `None` once the transport has shut down.
    pub async fn next(&self) -> Option<Incoming<Req, C>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Polls for the next request.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Incoming<Req, C>>> {
        let Some(q) = &self.queue else {
            return Poll::Ready(None);
        };
        if let Some(item) = q.items.borrow_mut().pop_front() {
            return Poll::Ready(Some(item));
        }
        if q.closed.get() {
            return Poll::Ready(None);
        }
        *q.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// A request if one is waiting.
    pub fn try_next(&self) -> Option<Incoming<Req, C>> {
        self.queue.as_ref()?.items.borrow_mut().pop_front()
    }

    /// Requests waiting in the queue.
    pub fn len(&self) -> usize {
        self.queue.as_ref().map_or(0, |q| q.items.borrow().len())
    }

    /// Whether no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<Req: Request, C: Codec> Drop for RequestStream<Req, C> {
    fn drop(&mut self) {
        if let Some(q) = self.queue.take() {
            if self.registered.get()
                && let Some(core) = q.core.upgrade()
            {
                core.unregister(self.endpoint.token);
            }
            q.close();
        }
    }
}
