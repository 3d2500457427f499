//! Making connections, proving identities, and choosing one connection per
//! peer.
//!
//! - `keeper`: one task per connectable peer. It sleeps until the peer
//!   wants a connection (frames queued, reliable frames outstanding, or a
//!   recent call asked to probe the address) and has none; then it
//!   connects, exchanges handshakes, checks that the peer answering is the
//!   address dialed, and settles the connection. After a failure or a
//!   disconnection it waits the next [`Backoff`] delay before trying again.
//!   When it parks with nothing wanted, the address stops failing: "failed"
//!   means attempts keep failing, never mere idleness.
//! - `incoming`: one task per accepted connection, until its handshake is
//!   done and its identity checked: an announced listen address must be
//!   specified, must not be ours, and its IP must be the IP the connection
//!   comes from (unless `trust_proxy`).
//! - `settle`: the rules for a new connection of a peer, applied
//!   identically on both ends so they agree:
//!   0. an incarnation this peer already replaced is refused;
//!   1. no current connection: adopt;
//!   2. another incarnation while a connection is up: the newcomer must
//!      prove the current connection dead. The current one is pinged; if
//!      anything arrives on it within the ping timeout it is alive and the
//!      newcomer is refused (a delayed handshake of an older incarnation,
//!      or an impostor); otherwise it is replaced (the peer restarted);
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

use super::{ActiveConn, ConnShared, Peer, connection};
use crate::error::ConnectionError;
use crate::failure_monitor::AddressState;
use crate::metrics::add;
use crate::transport::{Control, Inner};
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

/// Checks the identity an incoming connection announces against what the
/// connection shows: `remote` is the address it comes from.
pub(crate) fn check_incoming<P: Providers, C: Codec>(
    inner: &Inner<P, C>,
    hs: &Handshake,
    remote: SocketAddr,
) -> Result<(), ConnectionError> {
    let Some(announced) = hs.listen_addr else {
        return Ok(());
    };
    if announced.ip().is_unspecified() || announced.port() == 0 {
        return Err(ConnectionError::UnspecifiedAddress(announced));
    }
    let not_proven = ConnectionError::AddressNotProven {
        announced,
        observed: remote,
    };
    if inner.is_local(announced) {
        return Err(not_proven);
    }
    if !inner.config.trust_proxy && announced.ip().to_canonical() != remote.ip().to_canonical() {
        return Err(not_proven);
    }
    Ok(())
}

/// Checks that the peer answering a connection to `dialed` is `dialed`.
pub(crate) fn check_dialed(dialed: SocketAddr, hs: &Handshake) -> Result<(), ConnectionError> {
    if hs.listen_addr == Some(dialed) {
        Ok(())
    } else {
        Err(ConnectionError::WrongPeer {
            dialed,
            announced: hs.listen_addr,
        })
    }
}

/// Counts a refused identity.
fn count_refusal<P: Providers, C: Codec>(inner: &Inner<P, C>, e: &ConnectionError) {
    if e.is_identity_refusal() {
        reachable!("a connection whose identity is not proven is refused");
        add(
            &inner.stats.identities_refused,
            "transport.identities_refused",
            1,
        );
    }
}

/// The connect loop of one peer.
pub(crate) async fn keeper<P: Providers, C: Codec>(inner: Rc<Inner<P, C>>, peer: Rc<Peer<P>>) {
    let mut delay_next = false;
    let idle = Duration::from_millis(inner.config.peer_idle_ms);
    loop {
        // Park until a connection is wanted, or the idle timer says the
        // peer may be forgotten. Only a peer without a connection can be
        // forgotten, so the timer runs only while there is none: a peer
        // with a live connection costs nothing here.
        let mut idle_timer = None;
        let woke_idle = poll_fn(|cx| {
            if inner.is_shut_down() {
                return Poll::Ready(false);
            }
            let now = inner.now();
            let parked = {
                let mut st = peer.state.borrow_mut();
                let wanted = Peer::wants_connection(&st, now);
                if st.conn.is_none() && wanted {
                    return Poll::Ready(false);
                }
                st.keeper_waker = Some(cx.waker().clone());
                st.conn.is_none()
            };
            if !parked {
                idle_timer = None;
                return Poll::Pending;
            }
            // Nobody is trying to reach the address: it is not failing.
            inner.failure.idle(peer.addr);
            let timer = idle_timer.get_or_insert_with(|| Box::pin(inner.p.time().sleep(idle)));
            match timer.as_mut().poll(cx) {
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
        if inner.connections.get() >= inner.config.connections_max {
            connect_failed(&inner, &peer, ConnectionError::TooManyConnections);
            continue;
        }
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
            check_dialed(peer.addr, &hs)?;
            Ok((stream, hs))
        };
        match attempt.await {
            Ok((stream, hs)) => {
                if after_backoff {
                    reachable!("a peer reconnects after a backoff delay");
                }
                if let Err(e) = settle(&inner, &peer, stream, hs, true).await {
                    connect_failed(&inner, &peer, e);
                }
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
    let outcome = match exchange_handshake(&inner, &mut stream).await {
        Ok(hs) => match check_incoming(&inner, &hs, remote) {
            Ok(()) => {
                let peer = match hs.listen_addr {
                    Some(addr) => inner.peer(addr),
                    None => inner.incoming_only_peer(remote),
                };
                settle(&inner, &peer, stream, hs, false).await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        add(
            &inner.stats.handshakes_rejected,
            "transport.handshakes_rejected",
            1,
        );
        if let ConnectionError::Wire(w) = &e {
            inner.count_wire_error(None, w);
        }
        count_refusal(&inner, &e);
        tracing::debug!(%remote, error = %e, "incoming connection refused");
    }
    let me = inner.handshakes.borrow_mut().remove(&id);
    if let Some(h) = me {
        h.detach();
    }
}

/// What to do with a new connection of a peer.
enum Decision {
    Adopt,
    /// Rule 4: the other side's connection is kept; this one is dropped
    /// without fuss.
    Duplicate,
    /// Rule 2: the newcomer must prove the current connection dead.
    Contest,
}

fn decide<P: Providers, C: Codec>(
    inner: &Inner<P, C>,
    peer: &Peer<P>,
    hs: &Handshake,
    initiated_by_us: bool,
) -> Result<Decision, ConnectionError> {
    let st = peer.state.borrow();
    if st.retired.contains(&hs.incarnation) {
        return Err(ConnectionError::RetiredIncarnation(hs.incarnation));
    }
    let Some(cur) = &st.conn else {
        return Ok(Decision::Adopt);
    };
    if cur.remote_incarnation != hs.incarnation {
        return Ok(Decision::Contest);
    }
    if cur.initiated_by_us == initiated_by_us {
        return Ok(Decision::Adopt);
    }
    let we_are_smaller = inner.listen_addr.is_some_and(|ours| ours < peer.addr);
    if we_are_smaller == initiated_by_us {
        Ok(Decision::Adopt)
    } else {
        Ok(Decision::Duplicate)
    }
}

/// Makes `stream` the peer's connection, or refuses it (see the module
/// rules). An error is a refusal the caller counts.
async fn settle<P: Providers, C: Codec>(
    inner: &Rc<Inner<P, C>>,
    peer: &Rc<Peer<P>>,
    stream: Stream<P>,
    hs: Handshake,
    initiated_by_us: bool,
) -> Result<(), ConnectionError> {
    match decide(inner, peer, &hs, initiated_by_us)? {
        Decision::Adopt => adopt(inner, peer, stream, hs, initiated_by_us),
        Decision::Duplicate => {
            tracing::debug!(peer = %peer.addr, "duplicate connection dropped");
            Ok(())
        }
        Decision::Contest => {
            if !contest(inner, peer).await {
                return Err(ConnectionError::LiveConnectionKept);
            }
            reachable!("a connection of a new incarnation replaces a silent one");
            // The silent connection (if still there) is replaced.
            adopt(inner, peer, stream, hs, initiated_by_us)
        }
    }
}

/// Whether the peer's current connection is dead: pinged, it stays silent
/// for the ping timeout (or ends meanwhile). `false`: it showed life.
async fn contest<P: Providers, C: Codec>(inner: &Rc<Inner<P, C>>, peer: &Rc<Peer<P>>) -> bool {
    let current = peer
        .state
        .borrow()
        .conn
        .as_ref()
        .map(|c| (c.id, c.shared.clone()));
    let Some((conn_id, shared)) = current else {
        return true;
    };
    let received = shared.received_bytes.get();
    inner.send_control(peer, &Control::Ping(shared.pings_received.get()));
    let timeout = Duration::from_millis(inner.config.ping_timeout_ms);
    let step = Duration::from_millis((inner.config.ping_interval_ms / 20).max(1));
    let start = inner.now();
    // Bounded by the clock: each turn sleeps `step`, until the timeout.
    loop {
        if shared.received_bytes.get() != received {
            reachable!("a live connection is kept against a newcomer");
            return false;
        }
        if peer.state.borrow().conn.as_ref().map(|c| c.id) != Some(conn_id) {
            return true;
        }
        if inner.now().saturating_duration_since(start) >= timeout {
            return true;
        }
        inner.p.time().sleep(step).await;
    }
}

/// Makes `stream` the peer's connection, replacing the current one if any.
fn adopt<P: Providers, C: Codec>(
    inner: &Rc<Inner<P, C>>,
    peer: &Rc<Peer<P>>,
    stream: Stream<P>,
    hs: Handshake,
    initiated_by_us: bool,
) -> Result<(), ConnectionError> {
    if inner.is_shut_down() {
        return Err(ConnectionError::Shutdown);
    }
    let replacing = peer.state.borrow().conn.is_some();
    if !replacing && inner.connections.get() >= inner.config.connections_max {
        add(
            &inner.stats.connections_refused,
            "transport.connections_refused",
            1,
        );
        return Err(ConnectionError::TooManyConnections);
    }
    let replaced = peer.state.borrow_mut().conn.take();
    if let Some(mut old) = replaced {
        if let Some(t) = old.task.take() {
            t.abort();
        }
        after_disconnect(inner, peer, old, &ConnectionError::Replaced);
    }
    let id = inner.next_id();
    let now = inner.now();
    let stream = Rc::new(std::cell::RefCell::new(stream));
    {
        let mut st = peer.state.borrow_mut();
        if let Some(prev) = st.remote_incarnation
            && prev != hs.incarnation
        {
            tracing::debug!(peer = %peer.addr, "peer restarted (new incarnation)");
            Peer::retire(&mut st, prev);
        }
        st.remote_incarnation = Some(hs.incarnation);
        Peer::requeue_for_connection(&mut st, &peer.stats, hs.incarnation);
        st.conn = Some(ActiveConn {
            id,
            initiated_by_us,
            remote_incarnation: hs.incarnation,
            established_at: now,
            task: None,
            shared: Rc::new(ConnShared::default()),
            stream: Rc::downgrade(&stream),
        });
    }
    inner.connections.set(inner.connections.get() + 1);
    add(&peer.stats.connections, "transport.connections", 1);
    if peer.connectable {
        if inner.failure.state(peer.addr, now) == AddressState::Failed {
            reachable!("a failed address recovers");
        }
        inner.failure.connected(peer.addr);
    }
    let task = inner.p.task().spawn(
        "transport-connection",
        connection::run(
            inner.clone(),
            peer.clone(),
            stream,
            id,
            hs.incarnation,
            initiated_by_us,
        ),
    );
    let mut st = peer.state.borrow_mut();
    match st.conn.as_mut() {
        Some(c) if c.id == id => c.task = Some(task),
        _ => drop(task),
    }
    Ok(())
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
    inner
        .connections
        .set(inner.connections.get().saturating_sub(1));
    add(&peer.stats.disconnects, "transport.disconnects", 1);
    let now = inner.now();
    let (waiters, retrying) = {
        let mut st = peer.state.borrow_mut();
        st.last_activity = now;
        let lived = now.saturating_duration_since(conn.established_at);
        if lived >= Duration::from_millis(inner.config.reconnect_reset_after_ms) {
            st.backoff.reset();
        }
        let mut waiters = Peer::clear_queue(&mut st, &peer.stats, &peer.limits);
        if let Some(w) = st.keeper_waker.take() {
            waiters.push(w);
        }
        (waiters, Peer::wants_connection(&st, now))
    };
    if peer.connectable {
        inner.failure.disconnected(peer.addr, now, retrying);
        peer.fail_calls(false, None);
    } else if !matches!(reason, ConnectionError::Replaced) {
        // Nobody can reconnect to a pure client: forget it.
        peer.fail_calls(true, None);
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
    count_refusal(inner, &error);
    if peer.state.borrow().conn.is_some() {
        // The remote connected to us meanwhile: nothing is lost.
        return;
    }
    let now = inner.now();
    if error != ConnectionError::TooManyConnections {
        // A local limit says nothing about the address.
        inner.failure.attempt_failed(peer.addr, now);
    }
    let waiters = {
        let mut st = peer.state.borrow_mut();
        st.last_activity = now;
        Peer::clear_queue(&mut st, &peer.stats, &peer.limits)
    };
    peer.fail_calls(false, None);
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
        if inner.connections.get() >= inner.config.connections_max {
            add(
                &inner.stats.connections_refused,
                "transport.connections_refused",
                1,
            );
            drop(stream);
            continue;
        }
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
