//! Making connections and choosing one per peer.
//!
//! - `keeper`: one task per connectable peer. It sleeps until the peer
//!   wants a connection (frames queued, reliable frames outstanding, or a
//!   recent send asked to probe the address) and has none; then it
//!   connects, exchanges handshakes, and hands the stream to `adopt`. After
//!   a failure or a disconnection it waits the next [`Backoff`] delay
//!   before trying again.
//! - `incoming`: one task per accepted connection, until its handshake is
//!   done.
//! - `adopt`: makes an established connection the peer's connection, or
//!   refuses it. Rules, applied identically on both ends so they agree:
//!   1. no current connection: adopt;
//!   2. the remote's incarnation changed: the peer restarted, the new
//!      connection replaces the old;
//!   3. both connections were opened by the same side: that side gave up
//!      on the old one, the new one replaces it;
//!   4. each side opened one (simultaneous connect): keep the connection
//!      opened by the side with the smaller listen address.
//! - `connection_lost` / `connect_failed`: the bookkeeping when a
//!   connection or an attempt ends (see the peer module's queue rules).
//!
//! [`Backoff`]: super::backoff::Backoff

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use moonpool_core::{
    Codec, JoinHandle, Listener, NetStream, NetworkProvider, Providers, TaskProvider, TimeProvider,
    reachable,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ActiveConn, Peer, connection};
use crate::error::{ConnectionError, RpcError};
use crate::failure_monitor::AddressState;
use crate::metrics::add;
use crate::transport::Inner;
use crate::wire::{HANDSHAKE_LEN, Handshake};

type Stream<P> = <<P as Providers>::Network as NetworkProvider>::Stream;

/// Sends our handshake and reads the remote's, within the handshake timeout.
pub(crate) async fn exchange_handshake<P: Providers, C: Codec, S: NetStream>(
    inner: &Inner<P, C>,
    stream: &mut S,
) -> Result<Handshake, ConnectionError> {
    let ours = Handshake::new(inner.incarnation, inner.listen_addr).encode();
    let exchange = async {
        stream.write_all(&ours).await?;
        stream.flush().await?;
        let mut theirs = [0u8; HANDSHAKE_LEN];
        stream.read_exact(&mut theirs).await?;
        Ok::<_, std::io::Error>(theirs)
    };
    let theirs = match inner
        .p
        .time()
        .timeout(
            Duration::from_millis(inner.config.handshake_timeout_ms),
            exchange,
        )
        .await
    {
        Err(_) => return Err(ConnectionError::HandshakeTimeout),
        Ok(Err(e)) => return Err(e.into()),
        Ok(Ok(b)) => b,
    };
    let hs = Handshake::decode(&theirs).inspect_err(|_| {
        reachable!("a corrupted handshake is detected");
    })?;
    if hs.incarnation == inner.incarnation {
        return Err(ConnectionError::ConnectedToSelf);
    }
    Ok(hs)
}

/// The connect loop of one peer.
pub(crate) async fn keeper<P: Providers, C: Codec>(inner: Rc<Inner<P, C>>, peer: Rc<Peer<P>>) {
    let mut delay_next = false;
    let idle = Duration::from_millis(inner.config.peer_idle_ms);
    loop {
        // Park until a connection is wanted, or the idle timer says the
        // peer may be forgotten.
        let mut idle_timer = Box::pin(inner.p.time().sleep(idle));
        let woke_idle = poll_fn(|cx| {
            if inner.is_shut_down() {
                return Poll::Ready(false);
            }
            let now = inner.now();
            let mut st = peer.state.borrow_mut();
            let wanted = !st.queue.is_empty() || !st.reliable.is_empty() || now < st.probe_until;
            if st.conn.is_none() && wanted {
                return Poll::Ready(false);
            }
            st.keeper_waker = Some(cx.waker().clone());
            drop(st);
            match idle_timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(true),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if woke_idle {
            if peer.is_idle(inner.now(), idle) {
                tracing::debug!(peer = %peer.addr, "forgetting idle peer");
                inner.forget_peer(&peer);
                return;
            }
            continue;
        }
        if inner.is_shut_down() {
            return;
        }
        let after_backoff = delay_next;
        if delay_next {
            let delay = peer.state.borrow_mut().backoff.next_delay(inner.p.random());
            inner.p.time().sleep(delay).await;
            if peer.state.borrow().conn.is_some() {
                continue;
            }
        }
        delay_next = true;
        let connect = inner.p.network().connect(peer.addr);
        let attempt = async {
            let mut stream = match inner
                .p
                .time()
                .timeout(
                    Duration::from_millis(inner.config.connect_timeout_ms),
                    connect,
                )
                .await
            {
                Err(_) => return Err(ConnectionError::ConnectTimeout),
                Ok(Err(e)) => return Err(ConnectionError::from(e)),
                Ok(Ok(s)) => s,
            };
            let hs = exchange_handshake(&inner, &mut stream).await?;
            Ok((stream, hs))
        };
        match attempt.await {
            Ok((stream, hs)) => {
                if after_backoff {
                    reachable!("a peer reconnects after a backoff delay");
                }
                adopt(&inner, &peer, stream, hs, true)
            }
            Err(e) => connect_failed(&inner, &peer, e),
        }
    }
}

/// Sets up one accepted connection, then forgets its own task handle.
pub(crate) async fn incoming<P: Providers, C: Codec>(
    inner: Rc<Inner<P, C>>,
    mut stream: Stream<P>,
    remote: SocketAddr,
    id: u64,
) {
    match exchange_handshake(&inner, &mut stream).await {
        Ok(hs) => {
            let peer = match hs.listen_addr {
                Some(addr) => inner.peer(addr),
                None => inner.incoming_only_peer(remote),
            };
            adopt(&inner, &peer, stream, hs, false);
        }
        Err(e) => {
            add(
                &inner.stats.handshakes_rejected,
                "transport.handshakes_rejected",
                1,
            );
            if let ConnectionError::Wire(w) = &e {
                inner.count_wire_error(None, w);
            }
            tracing::debug!(%remote, error = %e, "incoming handshake rejected");
        }
    }
    let me = inner.handshakes.borrow_mut().remove(&id);
    if let Some(h) = me {
        h.detach();
    }
}

/// Makes `stream` the peer's connection, or drops it (see the module rules).
pub(crate) fn adopt<P: Providers, C: Codec>(
    inner: &Rc<Inner<P, C>>,
    peer: &Rc<Peer<P>>,
    stream: Stream<P>,
    hs: Handshake,
    initiated_by_us: bool,
) {
    if inner.is_shut_down() {
        return;
    }
    let replaced = {
        let mut st = peer.state.borrow_mut();
        if let Some(cur) = &st.conn {
            let keep_new = if cur.remote_incarnation != hs.incarnation
                || cur.initiated_by_us == initiated_by_us
            {
                // Rules 2 and 3: a restarted peer, or a side that reconnected.
                true
            } else {
                // Rule 4: simultaneous connect.
                let we_are_smaller = inner.listen_addr.is_some_and(|ours| ours < peer.addr);
                we_are_smaller == initiated_by_us
            };
            if !keep_new {
                tracing::debug!(peer = %peer.addr, "duplicate connection refused");
                return;
            }
        }
        st.conn.take()
    };
    if let Some(mut old) = replaced {
        if let Some(t) = old.task.take() {
            t.abort();
        }
        after_disconnect(inner, peer, old, &ConnectionError::Replaced);
    }
    let id = inner.next_id();
    {
        let mut st = peer.state.borrow_mut();
        if let Some(prev) = st.remote_incarnation
            && prev != hs.incarnation
        {
            tracing::debug!(peer = %peer.addr, "peer restarted (new incarnation)");
        }
        st.remote_incarnation = Some(hs.incarnation);
        Peer::requeue_reliable(&mut st, &peer.stats);
        st.conn = Some(ActiveConn {
            id,
            initiated_by_us,
            remote_incarnation: hs.incarnation,
            established_at: inner.now(),
            task: None,
            writer_waker: None,
        });
    }
    add(&peer.stats.connections, "transport.connections", 1);
    if peer.connectable {
        if inner.failure.state(peer.addr, inner.now()) == AddressState::Failed {
            reachable!("a failed address recovers");
        }
        inner.failure.connected(peer.addr);
    }
    let task = inner.p.task().spawn(
        "transport-connection",
        connection::run(inner.clone(), peer.clone(), stream, id),
    );
    let mut st = peer.state.borrow_mut();
    match st.conn.as_mut() {
        Some(c) if c.id == id => c.task = Some(task),
        _ => drop(task),
    }
}

/// The connection `conn_id` of `peer` ended by itself with `reason`.
pub(crate) fn connection_lost<P: Providers, C: Codec>(
    inner: &Rc<Inner<P, C>>,
    peer: &Rc<Peer<P>>,
    conn_id: u64,
    reason: &ConnectionError,
) {
    let conn = {
        let mut st = peer.state.borrow_mut();
        if st.conn.as_ref().map(|c| c.id) != Some(conn_id) {
            return;
        }
        st.conn.take()
    };
    if let Some(mut conn) = conn {
        // We are running inside this task: let it finish rather than abort it.
        if let Some(t) = conn.task.take() {
            t.detach();
        }
        after_disconnect(inner, peer, conn, reason);
    }
}

/// Bookkeeping after an established connection ended.
fn after_disconnect<P: Providers, C: Codec>(
    inner: &Rc<Inner<P, C>>,
    peer: &Rc<Peer<P>>,
    conn: ActiveConn<P>,
    reason: &ConnectionError,
) {
    tracing::debug!(peer = %peer.addr, %reason, "connection lost");
    add(&peer.stats.disconnects, "transport.disconnects", 1);
    let now = inner.now();
    let waiters = {
        let mut st = peer.state.borrow_mut();
        st.last_activity = now;
        let lived = now.saturating_duration_since(conn.established_at);
        if lived >= Duration::from_millis(inner.config.reconnect_reset_after_ms) {
            st.backoff.reset();
        }
        let mut waiters = Peer::drop_unreliable(&mut st, &peer.stats);
        if let Some(w) = st.keeper_waker.take() {
            waiters.push(w);
        }
        waiters
    };
    if peer.connectable {
        inner.failure.failed(peer.addr, now);
        peer.fail_calls(false, RpcError::MaybeDelivered);
    } else if !matches!(reason, ConnectionError::Replaced) {
        // Nobody can reconnect to a pure client: forget it.
        peer.fail_calls(true, RpcError::MaybeDelivered);
        inner.remove_peer(peer.addr);
    }
    for w in waiters {
        w.wake();
    }
}

/// An outgoing connection attempt failed.
fn connect_failed<P: Providers, C: Codec>(
    inner: &Rc<Inner<P, C>>,
    peer: &Rc<Peer<P>>,
    error: ConnectionError,
) {
    tracing::debug!(peer = %peer.addr, %error, "connect failed");
    add(
        &peer.stats.connect_failures,
        "transport.connect_failures",
        1,
    );
    if let ConnectionError::Wire(w) = &error {
        inner.count_wire_error(Some(peer), w);
    }
    if peer.state.borrow().conn.is_some() {
        // The remote connected to us meanwhile: nothing is lost.
        return;
    }
    let now = inner.now();
    inner.failure.failed(peer.addr, now);
    let waiters = {
        let mut st = peer.state.borrow_mut();
        st.last_activity = now;
        Peer::drop_unreliable(&mut st, &peer.stats)
    };
    peer.fail_calls(false, RpcError::MaybeDelivered);
    for w in waiters {
        w.wake();
    }
}

/// Accepts connections until cancelled, handing each to a handshake task.
pub(crate) async fn accept_loop<P: Providers, C: Codec>(
    inner: Rc<Inner<P, C>>,
    listener: <P::Network as NetworkProvider>::Listener,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                inner.p.time().sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        add(
            &inner.stats.connections_accepted,
            "transport.connections_accepted",
            1,
        );
        if inner.handshakes.borrow().len() >= inner.config.handshakes_pending_max {
            add(
                &inner.stats.handshakes_rejected,
                "transport.handshakes_rejected",
                1,
            );
            drop(stream);
            continue;
        }
        let id = inner.next_id();
        let task = inner.p.task().spawn(
            "transport-handshake",
            incoming(inner.clone(), stream, remote, id),
        );
        inner.handshakes.borrow_mut().insert(id, task);
    }
}
