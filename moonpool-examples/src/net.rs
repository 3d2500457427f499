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
