//! [`OnFailed`]: the future of [`Transport::on_failed`](crate::Transport::on_failed).
//!
//! It registers with the failure monitor for its address (woken on every
//! change of the address's health) and, while the address is failing,
//! sleeps until the instant it would be judged failed. It resolves when
//! that instant passes with the address still failing, or when the
//! transport shuts down. Dropping it unregisters it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use moonpool_core::{Codec, Instant, PostcardCodec, Providers, TimeProvider};

use super::Inner;
use crate::failure_monitor::Verdict;

type Sleep<P> = <<P as Providers>::Time as TimeProvider>::Sleep;

/// Resolves once an address is judged failed (or the transport shuts
/// down). Created by [`Transport::on_failed`](crate::Transport::on_failed).
pub struct OnFailed<P: Providers, C: Codec = PostcardCodec> {
    inner: Rc<Inner<P, C>>,
    addr: SocketAddr,
    watch: Option<u64>,
    timer: Option<(Instant, Pin<Box<Sleep<P>>>)>,
}

impl<P: Providers, C: Codec> OnFailed<P, C> {
    pub(crate) fn new(inner: Rc<Inner<P, C>>, addr: SocketAddr) -> OnFailed<P, C> {
        OnFailed {
            inner,
            addr,
            watch: None,
            timer: None,
        }
    }
}

impl<P: Providers, C: Codec> Future for OnFailed<P, C> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        // Bounded: each turn either returns or re-arms the timer for a
        // later instant than the clock now shows.
        for _ in 0..4 {
            if this.inner.is_shut_down() {
                return Poll::Ready(());
            }
            this.watch = Some(this.inner.failure.watch(this.addr, this.watch, cx.waker()));
            if this.inner.is_local(this.addr) {
                return Poll::Pending;
            }
            let Verdict::FailedAt(at) = this.inner.failure.verdict(this.addr) else {
                this.timer = None;
                return Poll::Pending;
            };
            let now = this.inner.now();
            if now >= at {
                return Poll::Ready(());
            }
            let timer = match &mut this.timer {
                Some((when, t)) if *when == at => t,
                slot => {
                    let sleep = this.inner.p.time().sleep(at.saturating_duration_since(now));
                    &mut slot.insert((at, Box::pin(sleep))).1
                }
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.timer = None;
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<P: Providers, C: Codec> Drop for OnFailed<P, C> {
    fn drop(&mut self) {
        if let Some(id) = self.watch.take() {
            self.inner.failure.unwatch(self.addr, id);
        }
    }
}
