//! Network helpers shared by the examples' server processes.

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{Providers, TimeProvider};
use moonpool_transport::{Transport, TransportConfig, TransportError};

/// Binds a transport at `me`, retrying up to `attempts_max` times in all,
/// `delay` apart: a port may still be held after a restart, and binding
/// may fail under chaos.
pub(crate) async fn bind_retrying<P: Providers>(
    p: &P,
    me: SocketAddr,
    config: &TransportConfig,
    attempts_max: u32,
    delay: Duration,
) -> Result<Transport<P>, TransportError> {
    let mut attempts = 0;
    loop {
        match Transport::bind(p.clone(), me, config.clone()).await {
            Ok(t) => return Ok(t),
            Err(e) if attempts + 1 >= attempts_max => return Err(e),
            Err(e) => {
                attempts += 1;
                tracing::debug!(error = %e, attempts, %me, "bind failed; retrying");
                p.time().sleep(delay).await;
            }
        }
    }
}

/// Serves requests from `next` (until it yields `None`), each with
/// `handle`, at most `max` at once: further requests wait in the
/// transport's bounded queues. Handlers finishing are polled before new
/// requests are taken.
pub(crate) async fn serve_bounded<R, N, NF, H, HF>(max: usize, mut next: N, mut handle: H)
where
    N: FnMut() -> NF,
    NF: std::future::Future<Output = Option<R>>,
    H: FnMut(R) -> HF,
    HF: std::future::Future<Output = ()>,
{
    use futures::{FutureExt, StreamExt};
    let mut handlers = futures::stream::FuturesUnordered::new();
    loop {
        if handlers.len() >= max {
            handlers.next().await;
            continue;
        }
        futures::select_biased! {
            _ = handlers.select_next_some() => {}
            request = next().fuse() => match request {
                Some(request) => handlers.push(handle(request)),
                // The transport shut down: nothing more will come.
                None => return,
            },
        }
    }
}
