//! The in-simulation link between clients and the store, and the server
//! loop that answers on it.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use moonpool_core::{JoinHandle, Providers, TaskProvider, TimeProvider};

use super::{QUEUE_CAPACITY, Request, Response, WalBug, WalError, WalStore};

/// A request and where to send its answer.
pub struct Call {
    /// The request.
    pub request: Request,
    /// The answer goes here; dropping it tells the caller the request died.
    pub reply: oneshot::Sender<Response>,
}

/// Why a call got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No store is serving (down or recovering): the request was not sent.
    #[error("store unavailable")]
    Unavailable,
    /// The store died with the request: it may or may not have happened.
    #[error("request dropped by the store (maybe applied)")]
    Dropped,
    /// No answer in time: it may or may not have happened.
    #[error("request timed out (maybe applied)")]
    TimedOut,
}

/// The in-simulation link between clients and the store's current
/// incarnation. See the [`wal`](super) module documentation.
#[derive(Clone, Default)]
pub struct WalLink {
    sender: Rc<RefCell<Option<mpsc::Sender<Call>>>>,
}

impl WalLink {
    /// A link with no store behind it.
    pub fn new() -> WalLink {
        WalLink::default()
    }

    /// Forgets the published store (a new seed, or a new incarnation that
    /// is not serving yet).
    pub fn reset(&self) {
        let old = self.sender.borrow_mut().take();
        drop(old);
    }

    /// Publishes the store's request queue.
    pub fn publish(&self, sender: mpsc::Sender<Call>) {
        let old = self.sender.borrow_mut().replace(sender);
        drop(old);
    }

    /// Sends `request` and waits up to `timeout` for the answer.
    pub async fn call<P: Providers>(
        &self,
        p: &P,
        request: Request,
        timeout: Duration,
    ) -> Result<Response, CallError> {
        let sender = self.sender.borrow().clone();
        let Some(mut sender) = sender else {
            return Err(CallError::Unavailable);
        };
        let (reply, answer) = oneshot::channel();
        if sender.try_send(Call { request, reply }).is_err() {
            // Full or disconnected: nothing was sent.
            return Err(CallError::Unavailable);
        }
        match p.time().timeout(timeout, answer).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(oneshot::Canceled)) => Err(CallError::Dropped),
            Err(_) => Err(CallError::TimedOut),
        }
    }
}

/// Runs the store: recovers, publishes its queue on `link`, and serves
/// each request in its own task until the process dies.
pub async fn serve<P: Providers>(p: P, link: WalLink, bug: Option<WalBug>) -> Result<(), WalError> {
    let store = Rc::new(WalStore::open(&p, bug).await?);
    let (sender, mut requests) = mpsc::channel(QUEUE_CAPACITY);
    link.publish(sender);
    while let Some(call) = requests.next().await {
        let store = Rc::clone(&store);
        p.task()
            .spawn("wal-request", async move {
                let response = store.handle(call.request).await;
                // The caller may have given up; that is its business.
                let _ = call.reply.send(response);
            })
            .detach();
    }
    Ok(())
}
