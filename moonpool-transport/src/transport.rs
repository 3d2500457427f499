//! The [`Transport`]: one per process. It owns the listener, the peers (one
//! per remote address), the endpoint map, the failure monitor and the
//! counters, and routes every frame.
//!
//! Routing: a frame arriving on any connection is dispatched by its token:
//! the control token (pings, "endpoint not found") is handled here; any
//! other token is looked up in the endpoint map and handed to its receiver
//! (a request stream or a pending reply); an unknown token is answered with
//! a control "endpoint not found" frame carrying the token. Messages to this
//! transport's own listen address never touch the network: they are
//! encoded, then delivered locally, so serialization is exercised anyway.
//!
//! Tasks: the accept loop, one handshake task per incoming connection being
//! set up, and per peer a keeper (connects) and the connection task. Every
//! handle is owned by the transport or its peers; [`Transport::shutdown`]
//! cancels them all and completes every pending call with `Shutdown`.
//!
//! Invariants: no `RefCell` borrow is held while a receiver runs or a task
//! is woken (receivers may send); peers live in a `BTreeMap` (iteration in
//! address order); every queue has a limit from [`TransportConfig`].

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{
    Codec, CodecError, Instant, JoinHandle, Listener, NetworkProvider, PostcardCodec, Providers,
    RandomProvider, TaskProvider, TimeProvider,
};
use serde::{Deserialize, Serialize};

use crate::config::TransportConfig;
use crate::endpoint::{Endpoint, EndpointMap, Token};
use crate::error::{RpcError, TransportError, WireError};
use crate::failure_monitor::{AddressState, FailureMonitor};
use crate::metrics::{GlobalStats, PeerMetrics, TransportMetrics, add};
use crate::peer::{Peer, TaskHandle, keeper};
use crate::rpc::{Request, RequestSender, RequestStream};
use crate::wire::{FRAME_BUILD_CAPACITY, FRAME_HEADER_LEN, begin_frame, finish_frame};

/// Messages on the control token.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Control {
    /// Are you there?
    Ping(u64),
    /// Yes.
    Pong(u64),
    /// A frame you sent to this token found no receiver.
    EndpointNotFound(Token),
}

/// The part of the transport that P-free RPC types (request streams, reply
/// promises) need.
pub(crate) trait Core {
    /// Sends a complete reply frame to the peer keyed `to`, unreliably.
    fn send_frame_unreliable(&self, to: SocketAddr, frame: Vec<u8>);
    /// Removes a receiver.
    fn unregister(&self, token: Token);
    /// The maximum payload length.
    fn frame_bytes_max(&self) -> u32;
    /// Counts a request refused by a full request stream.
    fn note_overloaded(&self);
}

/// The shared state behind a [`Transport`] handle.
pub(crate) struct Inner<P: Providers, C: Codec> {
    pub(crate) p: P,
    pub(crate) codec: C,
    pub(crate) config: TransportConfig,
    pub(crate) listen_addr: Option<SocketAddr>,
    pub(crate) incarnation: u64,
    pub(crate) endpoints: RefCell<EndpointMap>,
    pub(crate) peers: RefCell<BTreeMap<SocketAddr, Rc<Peer<P>>>>,
    pub(crate) failure: FailureMonitor,
    pub(crate) stats: GlobalStats,
    accept_task: RefCell<Option<TaskHandle<P>>>,
    pub(crate) handshakes: RefCell<BTreeMap<u64, TaskHandle<P>>>,
    next_id: Cell<u64>,
    pub(crate) shut_down: Cell<bool>,
}

/// FoundationDB-style transport: peers, endpoints, request/reply.
///
/// A cheap handle (`Rc`); clones share one transport. When the last handle
/// (including those inside [`RequestSender`]s) is dropped, the transport
/// shuts down. See the crate documentation for an example.
pub struct Transport<P: Providers, C: Codec = PostcardCodec> {
    pub(crate) inner: Rc<Inner<P, C>>,
    _owner: Rc<Owner<P, C>>,
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
            _owner: self._owner.clone(),
        }
    }
}

impl<P: Providers> Transport<P> {
    /// Binds a listener on `addr` (port 0 picks a free port) and starts
    /// accepting connections. The bound address is this transport's
    /// identity: bind the address others will use to reach it (not
    /// `0.0.0.0`).
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
        let incarnation = p.random().next_u64();
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
            endpoints: RefCell::new(EndpointMap::default()),
            peers: RefCell::new(BTreeMap::new()),
            failure,
            stats: GlobalStats::default(),
            accept_task: RefCell::new(None),
            handshakes: RefCell::new(BTreeMap::new()),
            next_id: Cell::new(1),
            shut_down: Cell::new(false),
        });
        Transport {
            _owner: Rc::new(Owner(inner.clone())),
            inner,
        }
    }

    /// The address this transport listens on, if bound.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.inner.listen_addr
    }

    /// The random number that identifies this transport instance.
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

    /// Whether a connection to the peer at `addr` is established.
    pub fn is_connected(&self, addr: SocketAddr) -> bool {
        self.inner
            .peers
            .borrow()
            .get(&addr)
            .is_some_and(|p| p.state.borrow().conn.is_some())
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
        m.handshakes_rejected = g.handshakes_rejected.get();
        m.connections_accepted = g.connections_accepted.get();
        m.unknown_endpoint_frames = g.unknown_endpoint_frames.get();
        m.requests_overloaded = g.requests_overloaded.get();
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

    /// A new request stream on a fresh random token.
    pub fn request_stream<Req: Request>(&self) -> RequestStream<Req, C> {
        // 127 random bits: a collision is astronomically unlikely, but a
        // bounded retry keeps it impossible to register twice.
        for _ in 0..16 {
            let token = Token::random(self.inner.p.random());
            if let Ok(s) = self.stream_on(token) {
                return s;
            }
        }
        // Unreachable in practice; a closed stream is a safe fallback.
        RequestStream::closed(self.endpoint_of(Token::random(self.inner.p.random())))
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
        let (stream, receiver) = RequestStream::new(
            self.endpoint_of(token),
            Rc::downgrade(&core),
            self.inner.codec.clone(),
            self.inner.config.request_stream_requests_max,
        );
        if !self.inner.endpoints.borrow_mut().insert(token, receiver) {
            stream.forget_registration();
            return Err(TransportError::TokenInUse(token));
        }
        Ok(stream)
    }

    fn endpoint_of(&self, token: Token) -> Endpoint {
        let addr = self
            .inner
            .listen_addr
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        Endpoint::new(addr, token)
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
    /// every pending call completes with [`RpcError::Shutdown`], and
    /// request streams end. Idempotent.
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

    pub(crate) fn address_state(&self, addr: SocketAddr) -> AddressState {
        if Some(addr) == self.listen_addr {
            return AddressState::Available;
        }
        self.failure.state(addr, self.now())
    }

    pub(crate) fn is_local(&self, addr: SocketAddr) -> bool {
        Some(addr) == self.listen_addr
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

    /// Counts a wire error against `peer` (or globally).
    pub(crate) fn count_wire_error(&self, peer: Option<&Peer<P>>, e: &WireError) {
        let oversize = matches!(e, WireError::FrameTooLarge { .. });
        let (c, name) = match (peer, e.is_checksum(), oversize) {
            (Some(p), true, _) => (&p.stats.checksum_failures, "transport.checksum_failures"),
            (Some(p), _, true) => (&p.stats.oversize_frames, "transport.oversize_frames"),
            (Some(p), _, _) => (&p.stats.decode_errors, "transport.decode_errors"),
            (None, true, _) => (&self.stats.checksum_failures, "transport.checksum_failures"),
            (None, _, true) => (&self.stats.oversize_frames, "transport.oversize_frames"),
            (None, _, _) => (&self.stats.decode_errors, "transport.decode_errors"),
        };
        add(c, name, 1);
    }

    /// Builds a frame whose payload `encode` appends.
    pub(crate) fn build_frame(
        &self,
        token: Token,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Vec<u8>, RpcError> {
        let mut frame = Vec::with_capacity(FRAME_BUILD_CAPACITY);
        let start = begin_frame(token, &mut frame);
        encode(&mut frame)?;
        finish_frame(&mut frame, start, self.config.frame_bytes_max)
            .map_err(|e| RpcError::Codec(CodecError::Encode(e.to_string())))?;
        Ok(frame)
    }

    /// Sends a control message to `peer`, unreliably.
    pub(crate) fn send_control(&self, peer: &Peer<P>, msg: &Control) {
        if let Ok(frame) = self.build_frame(Token::CONTROL, |out| self.codec.encode(msg, out)) {
            let _ = peer.push_unreliable(frame, &self.config);
        }
    }

    /// Routes one received frame from `peer`.
    pub(crate) fn dispatch(&self, peer: &Peer<P>, token: Token, payload: &[u8]) {
        if token == Token::CONTROL {
            match self.codec.decode::<Control>(payload) {
                Ok(Control::Ping(n)) => self.send_control(peer, &Control::Pong(n)),
                Ok(Control::Pong(_)) => {}
                Ok(Control::EndpointNotFound(t)) => {
                    if peer.connectable {
                        self.failure.endpoint_not_found(Endpoint::new(peer.addr, t));
                    }
                    peer.endpoint_not_found(t);
                }
                Err(_) => add(&peer.stats.decode_errors, "transport.decode_errors", 1),
            }
            return;
        }
        let receiver = self.endpoints.borrow().get(token);
        match receiver {
            Some(r) => r.deliver(payload, peer.addr),
            None => {
                add(
                    &self.stats.unknown_endpoint_frames,
                    "transport.unknown_endpoint_frames",
                    1,
                );
                self.send_control(peer, &Control::EndpointNotFound(token));
            }
        }
    }

    /// Delivers a payload to a local receiver; false if there is none.
    pub(crate) fn deliver_local(&self, token: Token, payload: &[u8]) -> bool {
        let receiver = self.endpoints.borrow().get(token);
        match receiver {
            Some(r) => {
                r.deliver(
                    payload,
                    self.listen_addr
                        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                );
                true
            }
            None => {
                add(
                    &self.stats.unknown_endpoint_frames,
                    "transport.unknown_endpoint_frames",
                    1,
                );
                false
            }
        }
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
            p.fail_calls(true, RpcError::Shutdown);
        }
        let receivers = self.endpoints.borrow_mut().clear();
        for r in receivers {
            r.close();
        }
    }
}

impl<P: Providers, C: Codec> Core for Inner<P, C> {
    fn send_frame_unreliable(&self, to: SocketAddr, frame: Vec<u8>) {
        if self.shut_down.get() {
            return;
        }
        if self.is_local(to) {
            let token = frame
                .get(8..24)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(Token::from_bytes);
            if let (Some(token), Some(payload)) = (token, frame.get(FRAME_HEADER_LEN..)) {
                self.deliver_local(token, payload);
            }
            return;
        }
        let peer = self.peers.borrow().get(&to).cloned();
        if let Some(peer) = peer {
            let _ = peer.push_unreliable(frame, &self.config);
        }
    }

    fn unregister(&self, token: Token) {
        self.endpoints.borrow_mut().remove(token);
    }

    fn frame_bytes_max(&self) -> u32 {
        self.config.frame_bytes_max
    }

    fn note_overloaded(&self) {
        add(
            &self.stats.requests_overloaded,
            "transport.requests_overloaded",
            1,
        );
    }
}
