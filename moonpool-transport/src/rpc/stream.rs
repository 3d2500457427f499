//! The server side: [`RequestStream`], [`Incoming`], [`ReplyPromise`].
//!
//! A request stream's queue is registered in the transport's endpoint map
//! as a receiver. Delivering decodes the request envelope and pushes it, or
//! answers `Overloaded` when the queue is at its limit in requests or in
//! bytes (so the queue is bounded and the client still gets exactly one
//! outcome). Dropping the stream unregisters the token and drops the
//! queued requests, which breaks their promises.
//!
//! Consumers: any number of tasks may take requests from one stream. Each
//! request wakes one waiting consumer (`rpc::waiters`), and
//! [`RequestStream::serve`] runs a handler per request with a bound on how
//! many run at once.
//!
//! Lifetime: a live request stream keeps its transport alive (it holds a
//! handle), so `Server::new(&Transport::bind(..).await?)` serves for as long
//! as the server exists; the transport stops when its last handle, stream
//! or sender is dropped, or on `shutdown`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use moonpool_core::{Codec, CodecError, PostcardCodec, reachable};
use serde::Serialize;

use super::Request;
use super::waiters::{WaitList, WaitSlot};
use crate::endpoint::{Endpoint, Receiver, Sender, Token};
use crate::error::RemoteError;
use crate::transport::{Core, ReplyBody};

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
/// reply; its promise does nothing. A reply larger than the frame limit is
/// answered [`RpcError::ReplyTooLarge`](crate::RpcError::ReplyTooLarge); a
/// reply meant for a requester that restarted since is dropped (its call
/// died with it).
pub struct ReplyPromise<Rep: Serialize, C: Codec = PostcardCodec> {
    target: Option<(Sender, Token)>,
    core: Weak<dyn Core>,
    codec: C,
    _reply: PhantomData<fn(Rep)>,
}

impl<Rep: Serialize, C: Codec> ReplyPromise<Rep, C> {
    /// Sends the reply.
    pub fn send(mut self, reply: Rep) {
        let Some((to, token)) = self.target.take() else {
            return;
        };
        let Some(core) = self.core.upgrade() else {
            return;
        };
        moonpool_core::sim_hook::mark("rpc.serve", token.mark_key());
        let codec = &self.codec;
        let mut encode = |out: &mut Vec<u8>| codec.encode(&Ok::<&Rep, RemoteError>(&reply), out);
        core.send_reply(to, token, ReplyBody::Ok(&mut encode));
    }

    /// Whether the requester waits for a reply.
    pub fn is_wanted(&self) -> bool {
        self.target.is_some()
    }

    /// The reply endpoint, if a reply is wanted.
    pub fn reply_endpoint(&self) -> Option<Endpoint> {
        self.target.map(|(s, t)| Endpoint::new(s.addr, t))
    }

    fn fail(&mut self, error: RemoteError) {
        let Some((to, token)) = self.target.take() else {
            return;
        };
        moonpool_core::sim_hook::mark("rpc.serve", token.mark_key());
        if let Some(core) = self.core.upgrade() {
            core.send_reply(to, token, ReplyBody::Err(error));
        }
    }
}

impl<Rep: Serialize, C: Codec> Drop for ReplyPromise<Rep, C> {
    fn drop(&mut self) {
        if self.target.is_some() {
            reachable!("a reply promise is broken");
            self.fail(RemoteError::BrokenPromise);
        }
    }
}

/// The queue behind a request stream; the transport's receiver.
struct StreamQueue<Req: Request, C: Codec> {
    /// Requests and their payload sizes.
    items: RefCell<VecDeque<(Incoming<Req, C>, usize)>>,
    bytes: Cell<usize>,
    waiters: Rc<WaitList>,
    closed: Cell<bool>,
    requests_max: usize,
    bytes_max: usize,
    codec: C,
    core: Weak<dyn Core>,
}

impl<Req: Request, C: Codec> StreamQueue<Req, C> {
    fn promise(&self, target: Option<(Sender, Token)>) -> ReplyPromise<Req::Reply, C> {
        ReplyPromise {
            target,
            core: self.core.clone(),
            codec: self.codec.clone(),
            _reply: PhantomData,
        }
    }

    fn pop(&self) -> Option<Incoming<Req, C>> {
        let (item, len) = self.items.borrow_mut().pop_front()?;
        self.bytes.set(self.bytes.get() - len);
        Some(item)
    }
}

impl<Req: Request, C: Codec> Receiver for StreamQueue<Req, C> {
    fn deliver(&self, payload: &[u8], from: Sender) {
        let (reply_to, request) = match self.codec.decode::<(Option<Token>, Req)>(payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(from = %from.addr, error = %e, "undecodable request");
                // The reply token leads the envelope: answer if it decodes.
                if let Ok(Some(t)) = prefix_token(&self.codec, payload) {
                    self.promise(Some((from, t))).fail(RemoteError::BadRequest);
                }
                return;
            }
        };
        let mut reply = self.promise(reply_to.map(|t| (from, t)));
        if self.closed.get() {
            return;
        }
        let len = payload.len();
        let (queued, bytes) = (self.items.borrow().len(), self.bytes.get());
        if queued >= self.requests_max || (bytes > 0 && bytes + len > self.bytes_max) {
            if let Some(core) = self.core.upgrade() {
                core.note_overloaded();
            }
            reply.fail(RemoteError::Overloaded);
            return;
        }
        self.items.borrow_mut().push_back((
            Incoming {
                request,
                reply,
                from: from.addr,
            },
            len,
        ));
        self.bytes.set(bytes + len);
        self.waiters.notify_one();
    }

    fn close(&self) {
        self.closed.set(true);
        let items = std::mem::take(&mut *self.items.borrow_mut());
        self.bytes.set(0);
        drop(items);
        self.waiters.notify_all();
    }
}

/// Decodes just the leading `Option<Token>` of an envelope.
fn prefix_token<C: Codec>(codec: &C, payload: &[u8]) -> Result<Option<Token>, CodecError> {
    // Try successively shorter prefixes: the token is at most 1 + 19 bytes.
    for len in (1..=payload.len().min(20)).rev() {
        if let Ok(t) = codec.decode::<Option<Token>>(&payload[..len]) {
            return Ok(t);
        }
    }
    Err(CodecError::Decode("no reply token".into()))
}

/// A stream of requests of type `Req`, registered under one token.
///
/// Created by [`Transport::request_stream`](crate::Transport::request_stream)
/// (random token) or
/// [`Transport::well_known_stream`](crate::Transport::well_known_stream).
/// Several tasks may take requests from it at once: each request wakes one
/// waiting consumer. It keeps its transport alive. Dropping it unregisters
/// the token: later requests get
/// [`RpcError::EndpointNotFound`](crate::RpcError::EndpointNotFound).
pub struct RequestStream<Req: Request, C: Codec = PostcardCodec> {
    queue: Rc<StreamQueue<Req, C>>,
    endpoint: Endpoint,
    registered: Cell<bool>,
    /// A handle on the transport: a live stream keeps it running.
    _transport: Rc<dyn Any>,
}

/// The limits of one request stream.
pub(crate) struct StreamLimits {
    pub(crate) requests_max: usize,
    pub(crate) bytes_max: usize,
}

impl<Req: Request, C: Codec> RequestStream<Req, C> {
    pub(crate) fn new(
        endpoint: Endpoint,
        core: Weak<dyn Core>,
        codec: C,
        limits: StreamLimits,
        transport: Rc<dyn Any>,
    ) -> (RequestStream<Req, C>, Rc<dyn Receiver>) {
        let queue = Rc::new(StreamQueue {
            items: RefCell::new(VecDeque::new()),
            bytes: Cell::new(0),
            waiters: Rc::new(WaitList::default()),
            closed: Cell::new(false),
            requests_max: limits.requests_max.max(1),
            bytes_max: limits.bytes_max,
            codec,
            core,
        });
        let receiver: Rc<dyn Receiver> = queue.clone();
        (
            RequestStream {
                queue,
                endpoint,
                registered: Cell::new(true),
                _transport: transport,
            },
            receiver,
        )
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

    /// The next request; `None` once the transport has shut down. Any
    /// number of tasks may wait at once: each request wakes one of them.
    pub async fn next(&self) -> Option<Incoming<Req, C>> {
        let mut slot = WaitSlot::default();
        poll_fn(|cx| self.poll_next_in(cx, &mut slot)).await
    }

    /// Polls for the next request as the consumer registered in `slot`
    /// (what [`next`](Self::next) does; for generated code that waits on
    /// several streams at once).
    #[doc(hidden)]
    pub fn poll_next_in(
        &self,
        cx: &mut Context<'_>,
        slot: &mut WaitSlot,
    ) -> Poll<Option<Incoming<Req, C>>> {
        if let Some(item) = self.queue.pop() {
            slot.done();
            return Poll::Ready(Some(item));
        }
        if self.queue.closed.get() {
            slot.done();
            return Poll::Ready(None);
        }
        slot.register(&self.queue.waiters, cx.waker());
        Poll::Pending
    }

    /// Polls for the next request without a place in line: the task is
    /// woken on every request that arrives (prefer [`next`](Self::next),
    /// which wakes one consumer per request).
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Incoming<Req, C>>> {
        if let Some(item) = self.queue.pop() {
            return Poll::Ready(Some(item));
        }
        if self.queue.closed.get() {
            return Poll::Ready(None);
        }
        self.queue.waiters.add_poller(cx.waker());
        Poll::Pending
    }

    /// A request if one is waiting.
    pub fn try_next(&self) -> Option<Incoming<Req, C>> {
        self.queue.pop()
    }

    /// Requests waiting in the queue.
    pub fn len(&self) -> usize {
        self.queue.items.borrow().len()
    }

    /// Whether no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Payload bytes of the requests waiting in the queue.
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes.get()
    }

    /// Serves the stream until it ends: `handler` runs for each request,
    /// at most `concurrency_max` at once (more requests wait in the
    /// stream, bounded by its limits). Resolves once the stream ended and
    /// every handler finished.
    pub async fn serve<H, Fut>(&self, concurrency_max: usize, handler: H)
    where
        H: FnMut(Incoming<Req, C>) -> Fut,
        Fut: Future<Output = ()>,
    {
        serve(|| self.next(), concurrency_max, handler).await
    }
}

impl<Req: Request, C: Codec> Drop for RequestStream<Req, C> {
    fn drop(&mut self) {
        if self.registered.get()
            && let Some(core) = self.queue.core.upgrade()
        {
            core.unregister(self.endpoint.token);
        }
        self.queue.close();
    }
}

/// Takes items with `next` until it yields `None`, running `handler` on
/// each with at most `concurrency_max` handlers in flight; then waits for
/// the handlers still running. At capacity the pending `next` is dropped,
/// so a consumer at its bound holds no wakeup another could use.
#[doc(hidden)]
pub async fn serve<T, N, NF, H, HF>(mut next: N, concurrency_max: usize, mut handler: H)
where
    N: FnMut() -> NF,
    NF: Future<Output = Option<T>>,
    H: FnMut(T) -> HF,
    HF: Future<Output = ()>,
{
    use futures::stream::{FuturesUnordered, StreamExt};
    let limit = concurrency_max.max(1);
    let mut running = FuturesUnordered::new();
    let mut waiting: Option<Pin<Box<NF>>> = None;
    let mut ended = false;
    poll_fn(|cx| {
        // Bounded: each turn either starts a handler (at most `limit`
        // before returning) or returns.
        loop {
            while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
            if ended {
                return if running.is_empty() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                };
            }
            if running.len() >= limit {
                waiting = None;
                return Poll::Pending;
            }
            let fut = waiting.get_or_insert_with(|| Box::pin(next()));
            match fut.as_mut().poll(cx) {
                Poll::Ready(Some(item)) => {
                    waiting = None;
                    running.push(handler(item));
                }
                Poll::Ready(None) => {
                    waiting = None;
                    ended = true;
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}
