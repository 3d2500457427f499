//! The echo server: one task per connection, echoing every valid frame
//! and dropping the connection on the first bad one.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{JoinHandle, Listener, NetworkProvider, Providers, TaskProvider, TimeProvider};

use super::wire::{FrameReader, write_frame};

/// The server's pause between attempts to bind its port.
pub const BIND_RETRY_DELAY: Duration = Duration::from_millis(50);
/// After this many failed binds in a row, the server gives up.
pub const BIND_ATTEMPTS_MAX: u32 = 1_000;

/// Serves ping-pong on `listen` until the task is cancelled.
pub async fn serve<P: Providers>(p: P, listen: SocketAddr) -> io::Result<()> {
    // A bind can fail transiently (a port still held after a restart): retry.
    let mut attempts = 0;
    let listener = loop {
        match p.network().bind(listen).await {
            Ok(l) => break l,
            Err(e) if attempts + 1 >= BIND_ATTEMPTS_MAX => return Err(e),
            Err(_) => {
                attempts += 1;
                p.time().sleep(BIND_RETRY_DELAY).await;
            }
        }
    };
    // Connection tasks are owned here: cancelling the server cancels them.
    let mut connections = Vec::new();
    loop {
        let (mut stream, _) = listener.accept().await?;
        connections.retain(|c: &<P::Task as TaskProvider>::Handle<()>| !c.is_finished());
        connections.push(p.task().spawn("pingpong-conn", async move {
            let mut reader = FrameReader::new();
            while let Ok(payload) = reader.next_frame(&mut stream).await {
                if write_frame(&mut stream, &payload).await.is_err() {
                    break;
                }
            }
        }));
    }
}
