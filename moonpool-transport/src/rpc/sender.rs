//! The client side: [`RequestSender`] and its three delivery modes.

use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use moonpool_core::{Codec, PostcardCodec, Providers, TimeProvider};

use super::Request;
use super::retry::{RetryPolicy, retry};
use crate::endpoint::{Endpoint, Token};
use crate::error::RpcError;
use crate::rpc::call::Mode;
use crate::transport::Transport;

/// A client handle for the request stream at one endpoint.
pub struct RequestSender<Req: Request, P: Providers, C: Codec = PostcardCodec> {
    transport: Transport<P, C>,
    endpoint: Endpoint,
    _req: PhantomData<fn(Req)>,
}

impl<Req: Request, P: Providers, C: Codec> Clone for RequestSender<Req, P, C> {
    fn clone(&self) -> Self {
        RequestSender {
            transport: self.transport.clone(),
            endpoint: self.endpoint,
            _req: PhantomData,
        }
    }
}

impl<Req: Request, P: Providers, C: Codec> RequestSender<Req, P, C> {
    /// A sender through `transport` to the stream at `endpoint`.
    pub fn new(transport: Transport<P, C>, endpoint: Endpoint) -> Self {
        RequestSender {
            transport,
            endpoint,
            _req: PhantomData,
        }
    }

    /// The destination.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The transport.
    pub fn transport(&self) -> &Transport<P, C> {
        &self.transport
    }

    /// Fire and forget, at most once: the request is queued for one
    /// unreliable transmission and no reply is expected. Errors are only
    /// the local, immediate ones: `Unreachable` (failure monitor),
    /// `EndpointNotFound` (known missing), `QueueFull`, `Codec`, `Shutdown`.
    pub fn send(&self, request: &Req) -> Result<(), RpcError> {
        let codec = self.transport.inner.codec.clone();
        self.transport.inner.send_oneway(self.endpoint, |out| {
            codec.encode(&(None::<Token>, request), out)
        })
    }

    /// At most once, with a reply: the request is sent once. Ends with the
    /// reply; `MaybeDelivered` if the connection is lost after the request
    /// was written; `ConnectionFailed` if the connection (or the attempt to
    /// make one) failed before it was written; `Timeout` after `timeout`;
    /// `BrokenPromise`, `EndpointNotFound`, `Overloaded`, `Unreachable`,
    /// `ReplyTooLarge`.
    pub async fn try_get_reply(
        &self,
        request: &Req,
        timeout: Duration,
    ) -> Result<Req::Reply, RpcError> {
        self.call(request, timeout, Mode::AtMostOnce, false).await
    }

    /// Retransmit until reply: the request is resent on every new
    /// connection until the reply arrives, so it survives disconnections
    /// and server restarts, **and may be processed more than once**. Ends
    /// with the reply, `Timeout` after `timeout`, or `BrokenPromise`,
    /// `EndpointNotFound`, `Overloaded`, `ReplyTooLarge`, `Unreachable`
    /// (checked when the call starts).
    pub async fn get_reply(
        &self,
        request: &Req,
        timeout: Duration,
    ) -> Result<Req::Reply, RpcError> {
        self.call(request, timeout, Mode::Reliable, false).await
    }

    /// [`get_reply`](Self::get_reply), raced against the failure monitor
    /// (as FoundationDB users race a reply with `onFailed`): besides its
    /// outcomes, the call ends as soon as the destination's address is
    /// judged failed, with `Unreachable` if the request was never written
    /// (certainly not processed) or `MaybeDelivered` if it was.
    pub async fn get_reply_unless_failed(
        &self,
        request: &Req,
        timeout: Duration,
    ) -> Result<Req::Reply, RpcError> {
        self.call(request, timeout, Mode::Reliable, true).await
    }

    /// For idempotent requests: [`try_get_reply`](Self::try_get_reply)
    /// attempts retried with backoff on the transient errors
    /// ([`RpcError::is_retryable`]), under `policy`.
    pub async fn get_reply_idempotent(
        &self,
        request: &Req,
        policy: &RetryPolicy,
    ) -> Result<Req::Reply, RpcError> {
        let p = self.transport.providers().clone();
        retry(&p, policy, |_| {
            self.try_get_reply(request, Duration::from_millis(policy.attempt_timeout_ms))
        })
        .await
    }

    async fn call(
        &self,
        request: &Req,
        timeout: Duration,
        mode: Mode,
        unless_failed: bool,
    ) -> Result<Req::Reply, RpcError> {
        let inner = &self.transport.inner;
        let codec = &inner.codec;
        // The deadline is raced here rather than with `TimeProvider::timeout`,
        // which would move the call future into its own: fewer copies.
        let mut deadline = pin!(inner.p.time().sleep(timeout));
        let mut call = pin!(inner.call::<Req::Reply>(
            self.endpoint,
            mode,
            unless_failed,
            |reply_token, out| codec.encode(&(Some(reply_token), request), out),
        ));
        poll_fn(|cx| {
            if let Poll::Ready(r) = call.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            deadline.as_mut().poll(cx).map(|()| Err(RpcError::Timeout))
        })
        .await
    }
}
