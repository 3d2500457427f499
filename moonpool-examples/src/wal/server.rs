//! The store's RPC service: the wire types, the [`wal_api`] service, and
//! [`WalServer`], which recovers the store and serves it over a
//! [`Transport`].
//!
//! # States of a store process
//! 1. **Recovering**: [`WalStore::open`] replays the log. Nothing listens
//!    yet: clients see refused connections and keep retrying.
//! 2. **Binding**: the transport binds the store's address, retried up to
//!    [`BIND_ATTEMPTS_MAX`] times (a bind can fail transiently), and the
//!    service registers its well-known tokens — in the same step, so no
//!    request can arrive at a bound address without its endpoint.
//! 3. **Serving**: the service's `serve` takes requests of every method
//!    (round-robin) and runs at most [`REQUESTS_IN_FLIGHT_MAX`] at once;
//!    further requests wait in the transport's bounded request queue.
//!
//! A kill drops everything at any step: in-flight puts are abandoned (their
//! callers see a broken connection), and whatever was synced survives.

use std::net::SocketAddr;
use std::rc::Rc;

use moonpool_core::Providers;
use moonpool_transport::{Transport, TransportConfig, TransportError};
use serde::{Deserialize, Serialize};

use crate::net::bind_retrying;

use super::{
    BIND_ATTEMPTS_MAX, BIND_RETRY_DELAY, Entry, REQUESTS_IN_FLIGHT_MAX, STORE_TOKEN_FIRST, WalBug,
    WalError, WalStore,
};

/// `put`: durably write `value` under `key`, tagged `version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRequest {
    /// The key.
    pub key: u64,
    /// The writer's version (the highest version of a key wins).
    pub version: u64,
    /// The value.
    pub value: Vec<u8>,
}

/// Why the store refused or failed a put.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum PutRejected {
    /// The value is longer than [`VALUE_BYTES_MAX`](super::VALUE_BYTES_MAX):
    /// nothing was written.
    #[error("value of {len} bytes is too large")]
    ValueTooLarge {
        /// The value's length.
        len: u64,
    },
    /// The disk failed while writing or syncing: the record may or may not
    /// become durable (a later sync can still cover it).
    #[error("storage: {message}")]
    Storage {
        /// The error, as text.
        message: String,
    },
}

impl From<WalError> for PutRejected {
    fn from(e: WalError) -> PutRejected {
        match e {
            WalError::ValueTooLarge(len) => PutRejected::ValueTooLarge { len: len as u64 },
            other => PutRejected::Storage {
                message: other.to_string(),
            },
        }
    }
}

/// The answer to a put.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutReply {
    /// The serving store's transport incarnation (changes when it reboots).
    pub incarnation: u64,
    /// `Ok`: the write (or a later version of the key) is durable.
    pub outcome: Result<(), PutRejected>,
}

/// `get`: read a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetRequest {
    /// The key.
    pub key: u64,
}

/// The answer to a get.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetReply {
    /// The serving store's transport incarnation.
    pub incarnation: u64,
    /// The entry with the key's highest durable version, if any.
    pub entry: Option<Entry>,
}

/// `status`: what the store is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRequest;

/// The answer to a status request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStatus {
    /// The serving store's transport incarnation.
    pub incarnation: u64,
    /// Records replayed when this incarnation recovered.
    pub recovered_records: u64,
    /// Bytes of torn tail this incarnation's recovery cut.
    pub cut_bytes: u64,
    /// Keys held.
    pub keys: u64,
    /// The highest version held for any key (0 if none).
    pub version_max: u64,
    /// Bytes of valid log.
    pub log_end: u64,
}

moonpool_transport::service! {
    /// The store's API, registered on well-known tokens from
    /// [`STORE_TOKEN_FIRST`]: `put`, `get`, `status`.
    pub mod wal_api {
        put: PutRequest => PutReply,
        get: GetRequest => GetReply,
        status: StatusRequest => StoreStatus,
    }
}

/// A recovered store, bound and registered, ready to [`run`](Self::run).
pub struct WalServer<P: Providers> {
    store: Rc<WalStore<P>>,
    transport: Transport<P>,
    api: wal_api::Server,
}

impl<P: Providers> WalServer<P> {
    /// Recovers the store from its log, then binds `listen` (retrying a
    /// failed bind) and registers the service on its well-known tokens.
    pub async fn start(
        p: P,
        listen: SocketAddr,
        bug: Option<WalBug>,
        config: TransportConfig,
    ) -> Result<WalServer<P>, WalError> {
        let store = Rc::new(WalStore::open(&p, bug).await?);
        let transport =
            bind_retrying(&p, listen, &config, BIND_ATTEMPTS_MAX, BIND_RETRY_DELAY).await?;
        // No await between binding and registering: no request can find
        // the address bound and the endpoints missing.
        let api = wal_api::Server::well_known(&transport, STORE_TOKEN_FIRST)?;
        Ok(WalServer {
            store,
            transport,
            api,
        })
    }

    /// The address the store listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, WalError> {
        self.transport
            .listen_addr()
            .ok_or(WalError::Transport(TransportError::Shutdown))
    }

    /// The store.
    pub fn store(&self) -> &WalStore<P> {
        &self.store
    }

    /// The transport.
    pub fn transport(&self) -> &Transport<P> {
        &self.transport
    }

    /// Serves requests until the transport shuts down.
    pub async fn run(self) {
        let incarnation = self.transport.incarnation();
        self.api
            .serve(REQUESTS_IN_FLIGHT_MAX, |request| {
                handle(Rc::clone(&self.store), incarnation, request)
            })
            .await;
    }
}

/// Serves one request.
async fn handle<P: Providers>(store: Rc<WalStore<P>>, incarnation: u64, request: wal_api::Request) {
    match request {
        wal_api::Request::put(r) => {
            let PutRequest {
                key,
                version,
                ref value,
            } = r.request;
            let outcome = store
                .put(key, version, value)
                .await
                .map_err(PutRejected::from);
            // The caller may have given up; the write stands either way.
            r.reply.send(PutReply {
                incarnation,
                outcome,
            });
        }
        wal_api::Request::get(r) => {
            let entry = store.get(r.request.key);
            r.reply.send(GetReply { incarnation, entry });
        }
        wal_api::Request::status(r) => r.reply.send(StoreStatus {
            incarnation,
            recovered_records: store.recovered_records() as u64,
            cut_bytes: store.cut_bytes(),
            keys: store.key_count() as u64,
            version_max: store.version_max(),
            log_end: store.log_end(),
        }),
    }
}

/// The store process: recovers, binds `listen`, serves until killed.
pub async fn serve<P: Providers>(
    p: P,
    listen: SocketAddr,
    bug: Option<WalBug>,
) -> Result<(), WalError> {
    WalServer::start(p, listen, bug, TransportConfig::default())
        .await?
        .run()
        .await;
    Ok(())
}
