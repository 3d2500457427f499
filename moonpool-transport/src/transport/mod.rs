//! The [`Transport`]: one per process. It owns the listener, the peers (one
//! per remote address), the endpoint map, the failure monitor and the
//! counters, and routes every frame.
//!
//! Routing (`routing`): a frame arriving on any connection is dispatched by
//! its token: the control token (pings, "endpoint not found") is handled
//! there; any other token is looked up in the endpoint map and handed to
//! its receiver (a request stream or a pending reply); an unknown token is
//! answered with a control "endpoint not found" frame carrying the token.
//! Messages to this transport's own listen address never touch the
//! network: they are encoded, then delivered locally, so serialization is
//! exercised anyway.
//!
//! Identity: a transport's incarnation mixes a random draw with its listen
//! address and its start time, and its random tokens are salted with it, so
//! processes forced to the same seed still differ.
//!
//! Tasks: the accept loop, one handshake task per incoming connection being
//! set up, and per peer a keeper (connects) and the connection task. Every
//! handle is owned by the transport or its peers; [`Transport::shutdown`]
//! cancels them all and completes every pending call with `Shutdown`.
//!
//! Invariants: no `RefCell` borrow is held while a receiver runs or a task
//! is woken (receivers may send); peers live in a `BTreeMap` (iteration in
//! address order); every queue has a limit from [`TransportConfig`].

mod on_failed;
mod routing;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{
    Codec, Instant, JoinHandle, Listener, NetworkProvider, PostcardCodec, Providers,
    RandomProvider, TaskProvider, TimeProvider,
};

use crate::config::TransportConfig;
use crate::endpoint::{Endpoint, EndpointMap, Token};
use crate::error::TransportError;
use crate::failure_monitor::{AddressState, FailureMonitor};
use crate::metrics::{GlobalStats, PeerMetrics, TransportMetrics};
use crate::peer::{Peer, TaskHandle, keeper};
use crate::rpc::{Request, RequestSender, RequestStream, StreamLimits};

pub use on_failed::OnFailed;
pub(crate) use routing::{Control, Core, ReplyBody};

/// Frame buffers kept for reuse per transport.
const FRAME_POOL_MAX: usize = 64;
/// Capacity above which a frame buffer is not kept for reuse.
const FRAME_POOL_CAPACITY_MAX: usize = 16 * 1024;

/// The shared state behind a [`Transport`] handle.
pub(crate) struct Inner<P: Providers, C: Codec> {
    pub(crate) p: P,
    pub(crate) codec: C,
    pub(crate) config: TransportConfig,
    pub(crate) listen_addr: Option<SocketAddr>,
    pub(crate) incarnation: u64,
    /// Mixed into every random token this transport draws.
    pub(crate) token_salt: u128,
    pub(crate) endpoints: RefCell<EndpointMap>,
    pub(crate) peers: RefCell<BTreeMap<SocketAddr, Rc<Peer<P>>>>,
    pub(crate) failure: FailureMonitor,
    pub(crate) stats: GlobalStats,
    /// Established connections (both directions).
    pub(crate) connections: Cell<usize>,
    accept_task: RefCell<Option<TaskHandle<P>>>,
    pub(crate) handshakes: RefCell<BTreeMap<u64, TaskHandle<P>>>,
    next_id: Cell<u64>,
    pub(crate) shut_down: Cell<bool>,
    /// Frame buffers for reuse (reliable frames, local calls).
    frame_pool: RefCell<Vec<Vec<u8>>>,
}

/// FoundationDB-style transport: peers, endpoints, request/reply.
///
/// A cheap handle (`Rc`); clones share one transport. The transport runs
/// while any handle exists (including those inside [`RequestSender`]s and
/// [`RequestStream`]s): when the last one is dropped, it shuts down. See
/// the crate documentation for an example.
pub struct Transport<P: Providers, C: Codec = PostcardCodec> {
    pub(crate) inner: Rc<Inner<P, C>>,
    owner: Rc<Owner<P, C>>,
}

/// Shuts the transport down when the last user handle goes. (The
/// transport's own tasks hold `Inner`, never a `Transport`, so they do not
/// keep it alive.)
struct Owner<P: Providers, C: Codec>(Rc<Inner<P, C>>);

impl<P: Providers, C: Codec> Drop for Owner<P, C> {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl<P: Providers, C: Codec> Clone for Transport<P, C> {
    fn clone(&self) -> Self {
        Transport {
            inner: self.inner.clone(),
            owner: self.owner.clone(),
        }
    }
}

/// A 64-bit finalizer (SplitMix64's): every input bit affects every output
/// bit.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The listen address as 64 bits to mix.
fn addr_bits(addr: Option<SocketAddr>) -> u64 {
    let Some(addr) = addr else {
        return 0;
    };
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) => u128::from(u32::from(v4)),
        std::net::IpAddr::V6(v6) => u128::from(v6),
    };
    mix64((ip as u64) ^ mix64((ip >> 64) as u64 ^ u64::from(addr.port())))
}

impl<P: Providers> Transport<P> {
    /// Binds a listener on `addr` (port 0 picks a free port) and starts
    /// accepting connections. The bound address is this transport's
    /// identity, which peers check: bind the address others use to reach
    /// it. An unspecified address (`0.0.0.0`, `::`) is refused.
    pub async fn bind(
        p: P,
        addr: SocketAddr,
        config: TransportConfig,
    ) -> Result<Transport<P>, TransportError> {
        Self::bind_with_codec(p, addr, config, PostcardCodec).await
    }

    /// A transport without a listener: it can call others, and receive
    /// replies on its own connections, but nobody can connect to it.
    pub fn unbound(p: P, config: TransportConfig) -> Transport<P> {
        Self::unbound_with_codec(p, config, PostcardCodec)
    }
}

impl<P: Providers, C: Codec> Transport<P, C> {
    /// [`bind`](Self::bind) with an explicit codec.
    pub async fn bind_with_codec(
        p: P,
        addr: SocketAddr,
        config: TransportConfig,
        codec: C,
    ) -> Result<Transport<P, C>, TransportError> {
        if addr.ip().is_unspecified() {
            return Err(TransportError::UnspecifiedAddress(addr));
        }
        let listener = p.network().bind(addr).await.map_err(TransportError::Bind)?;
        let local = listener.local_addr().map_err(TransportError::Bind)?;
        let t = Transport::new(p, config, codec, Some(local));
        let inner = t.inner.clone();
        let task = t
            .inner
            .p
            .task()
            .spawn("transport-accept", keeper::accept_loop(inner, listener));
        *t.inner.accept_task.borrow_mut() = Some(task);
        tracing::debug!(addr = %local, incarnation = t.inner.incarnation, "transport listening");
        Ok(t)
    }

    /// [`unbound`](Self::unbound) with an explicit codec.
    pub fn unbound_with_codec(p: P, config: TransportConfig, codec: C) -> Transport<P, C> {
        Transport::new(p, config, codec, None)
    }

    fn new(p: P, config: TransportConfig, codec: C, listen_addr: Option<SocketAddr>) -> Self {
        // A random draw, the listen address and the start time: processes
        // forced to the same seed still get distinct incarnations.
        let drawn = p.random().next_u64();
        let started = p.time().now().as_nanos();
        let incarnation = mix64(drawn ^ mix64(started ^ addr_bits(listen_addr)));
        let token_salt = (u128::from(mix64(incarnation ^ 0x5A17_0001)) << 64)
            | u128::from(mix64(incarnation ^ 0x5A17_0002));
        let failure = FailureMonitor::new(
            Duration::from_millis(config.failed_after_ms),
            config.failed_endpoints_max,
        );
        let inner = Rc::new(Inner {
            p,
            codec,
            config,
            listen_addr,
            incarnation,
            token_salt,
            endpoints: RefCell::new(EndpointMap::default()),
            peers: RefCell::new(BTreeMap::new()),
            failure,
            stats: GlobalStats::default(),
            connections: Cell::new(0),
            accept_task: RefCell::new(None),
            handshakes: RefCell::new(BTreeMap::new()),
            next_id: Cell::new(1),
            shut_down: Cell::new(false),
            frame_pool: RefCell::new(Vec::new()),
        });
        Transport {
            owner: Rc::new(Owner(inner.clone())),
            inner,
        }
    }

    /// The address this transport listens on, if bound.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.inner.listen_addr
    }

    /// The number that identifies this transport instance: a random draw
    /// mixed with the listen address and the start time.
    pub fn incarnation(&self) -> u64 {
        self.inner.incarnation
    }

    /// The configuration.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// The providers.
    pub fn providers(&self) -> &P {
        &self.inner.p
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.inner.codec
    }

    /// The failure monitor.
    pub fn failure_monitor(&self) -> &FailureMonitor {
        &self.inner.failure
    }

    /// The failure monitor's verdict on `addr` now.
    pub fn address_state(&self, addr: SocketAddr) -> AddressState {
        self.inner.address_state(addr)
    }

    /// A future that resolves once the failure monitor judges `addr`
    /// failed (its connection attempts kept failing for
    /// `failed_after_ms`), or once this transport shuts down. Race it
    /// against a call, as FoundationDB users race `onFailed`; or use
    /// [`RequestSender::get_reply_unless_failed`]. An address nobody is
    /// trying to reach never fails: the future then waits.
    pub fn on_failed(&self, addr: SocketAddr) -> OnFailed<P, C> {
        OnFailed::new(self.inner.clone(), addr)
    }

    /// Whether a connection to the peer at `addr` is established.
    pub fn is_connected(&self, addr: SocketAddr) -> bool {
        self.inner
            .peers
            .borrow()
            .get(&addr)
            .is_some_and(|p| p.state.borrow().conn.is_some())
    }

    /// Established connections, both directions.
    pub fn connection_count(&self) -> usize {
        self.inner.connections.get()
    }

    /// Bytes allocated for connection buffers: every connection's read
    /// buffer and every peer's outgoing buffer. Buffers grow with traffic
    /// and are given back when a connection idles (see the guide's
    /// *Buffers*), so an idle transport holds little.
    pub fn buffer_bytes(&self) -> usize {
        self.inner
            .peers
            .borrow()
            .values()
            .map(|p| {
                let st = p.state.borrow();
                let read = st
                    .conn
                    .as_ref()
                    .map_or(0, |c| c.shared.read_buffer_bytes.get());
                read + st.out.capacity_bytes()
            })
            .sum()
    }

    /// Totals over all peers (including removed ones) and the events that
    /// belong to no peer.
    pub fn metrics(&self) -> TransportMetrics {
        let mut m = TransportMetrics::default();
        for peer in self.inner.peers.borrow().values() {
            m.accumulate(&peer.stats.snapshot());
        }
        let g = &self.inner.stats;
        m.accumulate(&g.retired.get());
        m.checksum_failures += g.checksum_failures.get();
        m.oversize_frames += g.oversize_frames.get();
        m.decode_errors += g.decode_errors.get();
        m.replies_dropped += g.replies_dropped.get();
        m.replies_ignored += g.replies_ignored.get();
        m.handshakes_rejected = g.handshakes_rejected.get();
        m.connections_accepted = g.connections_accepted.get();
        m.unknown_endpoint_frames = g.unknown_endpoint_frames.get();
        m.requests_overloaded = g.requests_overloaded.get();
        m.identities_refused = g.identities_refused.get();
        m.connections_refused = g.connections_refused.get();
        m
    }

    /// The counters of the peer at `addr`, if it exists.
    pub fn peer_metrics(&self, addr: SocketAddr) -> Option<PeerMetrics> {
        self.inner
            .peers
            .borrow()
            .get(&addr)
            .map(|p| p.stats.snapshot())
    }

    /// Every current peer and its counters, in address order.
    pub fn peer_metrics_all(&self) -> Vec<(SocketAddr, PeerMetrics)> {
        self.inner
            .peers
            .borrow()
            .iter()
            .map(|(a, p)| (*a, p.stats.snapshot()))
            .collect()
    }

    /// Number of registered receivers (request streams and pending replies).
    pub fn endpoint_count(&self) -> usize {
        self.inner.endpoints.borrow().len()
    }

    /// A new request stream on a fresh random token. Fails with
    /// [`TransportError::TokenCollision`] if every token drawn is taken (a
    /// random provider repeating itself), or `Shutdown`.
    pub fn request_stream<Req: Request>(&self) -> Result<RequestStream<Req, C>, TransportError> {
        // 127 random bits: a collision is astronomically unlikely unless
        // the random provider is broken; a few draws tell the two apart.
        let mut token = self.inner.random_token();
        for _ in 0..4 {
            match self.stream_on(token) {
                Err(TransportError::TokenInUse(_)) => token = self.inner.random_token(),
                other => return other,
            }
        }
        Err(TransportError::TokenCollision(token))
    }

    /// A request stream on the well-known token `index` (1 and up).
    pub fn well_known_stream<Req: Request>(
        &self,
        index: u32,
    ) -> Result<RequestStream<Req, C>, TransportError> {
        self.stream_on(Token::well_known(index))
    }

    fn stream_on<Req: Request>(
        &self,
        token: Token,
    ) -> Result<RequestStream<Req, C>, TransportError> {
        if self.inner.shut_down.get() {
            return Err(TransportError::Shutdown);
        }
        if token == Token::CONTROL {
            return Err(TransportError::TokenInUse(token));
        }
        let core: Rc<dyn Core> = self.inner.clone();
        let keep: Rc<dyn Any> = self.owner.clone();
        let (stream, receiver) = RequestStream::new(
            self.endpoint_of(token),
            Rc::downgrade(&core),
            self.inner.codec.clone(),
            StreamLimits {
                requests_max: self.inner.config.request_stream_requests_max,
                bytes_max: self.inner.config.request_stream_bytes_max,
            },
            keep,
        );
        if !self.inner.endpoints.borrow_mut().insert(token, receiver) {
            stream.forget_registration();
            return Err(TransportError::TokenInUse(token));
        }
        Ok(stream)
    }

    fn endpoint_of(&self, token: Token) -> Endpoint {
        Endpoint::new(self.inner.local_sender_addr(), token)
    }

    /// A client handle for the request stream at `endpoint`.
    pub fn sender<Req: Request>(&self, endpoint: Endpoint) -> RequestSender<Req, P, C> {
        RequestSender::new(self.clone(), endpoint)
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.get()
    }

    /// Stops everything: the listener is closed, connections are dropped,
    /// every pending call completes with
    /// [`RpcError::Shutdown`](crate::RpcError::Shutdown), request streams
    /// end and `on_failed` futures resolve. Idempotent.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl<P: Providers, C: Codec> Inner<P, C> {
    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    pub(crate) fn now(&self) -> Instant {
        self.p.time().now()
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.get()
    }

    /// A fresh random token, salted with this transport's identity.
    pub(crate) fn random_token(&self) -> Token {
        Token::random_salted(self.p.random(), self.token_salt)
    }

    /// The address local receivers see as the sender of local messages.
    pub(crate) fn local_sender_addr(&self) -> SocketAddr {
        self.listen_addr
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub(crate) fn address_state(&self, addr: SocketAddr) -> AddressState {
        if Some(addr) == self.listen_addr {
            return AddressState::Available;
        }
        self.failure.state(addr, self.now())
    }

    pub(crate) fn is_local(&self, addr: SocketAddr) -> bool {
        Some(addr) == self.listen_addr
    }

    /// A frame buffer from the pool (empty).
    pub(crate) fn frame_buffer(&self) -> Vec<u8> {
        self.frame_pool
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(crate::wire::FRAME_BUILD_CAPACITY))
    }

    /// Gives a frame buffer back to the pool.
    pub(crate) fn recycle(&self, mut frame: Vec<u8>) {
        if frame.capacity() > FRAME_POOL_CAPACITY_MAX {
            return;
        }
        let mut pool = self.frame_pool.borrow_mut();
        if pool.len() < FRAME_POOL_MAX {
            frame.clear();
            pool.push(frame);
        }
    }

    /// The peer for a listen address, created (with its keeper) if new.
    pub(crate) fn peer(self: &Rc<Self>, addr: SocketAddr) -> Rc<Peer<P>> {
        if let Some(p) = self.peers.borrow().get(&addr) {
            return p.clone();
        }
        let peer = Rc::new(Peer::new(addr, true, &self.config));
        self.peers.borrow_mut().insert(addr, peer.clone());
        let task = self.p.task().spawn(
            "transport-keeper",
            keeper::keeper(self.clone(), peer.clone()),
        );
        peer.state.borrow_mut().keeper = Some(task);
        peer
    }

    /// A peer known only by the socket address of its connection.
    pub(crate) fn incoming_only_peer(&self, addr: SocketAddr) -> Rc<Peer<P>> {
        if let Some(p) = self.peers.borrow().get(&addr) {
            return p.clone();
        }
        let peer = Rc::new(Peer::new(addr, false, &self.config));
        self.peers.borrow_mut().insert(addr, peer.clone());
        peer
    }

    /// Forgets a peer, keeping its counters in the totals.
    pub(crate) fn remove_peer(&self, addr: SocketAddr) {
        let removed = self.peers.borrow_mut().remove(&addr);
        if let Some(p) = removed {
            if p.connectable {
                self.failure.forget(addr);
            }
            let retired = self.stats.retired.get().plus(&p.stats.snapshot());
            self.stats.retired.set(retired);
        }
    }

    /// Forgets a connectable peer from inside its own keeper task: the
    /// keeper's handle is detached (the task is finishing by itself).
    pub(crate) fn forget_peer(&self, peer: &Rc<Peer<P>>) {
        let same = self
            .peers
            .borrow()
            .get(&peer.addr)
            .is_some_and(|p| Rc::ptr_eq(p, peer));
        if !same {
            return;
        }
        let keeper = peer.state.borrow_mut().keeper.take();
        if let Some(k) = keeper {
            k.detach();
        }
        self.remove_peer(peer.addr);
    }

    fn shutdown(&self) {
        if self.shut_down.replace(true) {
            return;
        }
        tracing::debug!(addr = ?self.listen_addr, "transport shutting down");
        let accept = self.accept_task.borrow_mut().take();
        drop(accept);
        let handshakes = std::mem::take(&mut *self.handshakes.borrow_mut());
        drop(handshakes);
        let peers: Vec<Rc<Peer<P>>> = self.peers.borrow().values().cloned().collect();
        for p in &peers {
            p.abort_tasks();
            p.fail_calls(true, Some(crate::RpcError::Shutdown));
        }
        self.connections.set(0);
        let receivers = self.endpoints.borrow_mut().clear();
        for r in receivers {
            r.close();
        }
        self.failure.wake_all();
    }
}
