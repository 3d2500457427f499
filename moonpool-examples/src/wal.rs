//! wal: a small write-ahead-logged key-value store that acknowledges a
//! write only once it is durable, and a client that remembers what was
//! acknowledged and checks none of it is ever lost.
//!
//! # The store ([`WalStore`])
//! Every `put` appends one record to a single log file, syncs the file,
//! and only then applies the write to the in-memory map and acknowledges.
//! Appends are serialized (one writer at a time, at the end of the valid
//! log), so a failed write leaves no hole: the next record overwrites it.
//! On start, recovery replays the log record by record, validating each
//! with its CRC-32; the first record that is short, absurd or fails its
//! checksum (after re-reading it, in case the read itself was corrupted)
//! marks the torn tail, which is cut (truncate + sync) before new records
//! are appended.
//!
//! Record: `len: u32 LE | crc32(body): u32 LE | body`, with
//! `body = key: u64 LE | version: u64 LE | value`.
//!
//! # The client ([`WalClient`])
//! Each client owns its keys and writes them sequentially with increasing
//! versions. It remembers every write it issued and the highest version
//! acknowledged per key. An unacknowledged write (failed, dropped by a
//! killed server, timed out) may or may not be in the store. The invariant
//! checked during the run and after quiesce: for every key, the store
//! returns a version at least the highest acknowledged one, and the value
//! the client wrote with that version (no lost, no invented data).
//!
//! # The link (for now)
//! Client and store talk through [`WalLink`], an in-simulation channel: the
//! store's current incarnation publishes a `futures` mpsc sender; when it
//! is killed its tasks drop, and with them every in-flight request, which
//! the client sees as [`CallError::Dropped`] (outcome unknown). It will be
//! replaced by simulated TCP.
//!
//! # Planted bugs ([`WalBug`])
//! Each is a realistic durability mistake the simulation must catch.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use moonpool_core::{
    JoinHandle, OpenMode, Providers, RandomProvider, StorageError, StorageFile, StorageProvider,
    TaskProvider, TimeProvider,
};
use moonpool_sim::{
    Attrition, ConfigError, SimContext, SimProviders, Simulation, SimulationBuilder, Workload,
    WorkloadResult,
};

/// The log file.
pub const LOG_PATH: &str = "wal/log";
/// Largest value a `put` accepts.
pub const VALUE_BYTES_MAX: usize = 1024;
/// Bytes of a record header (`len` and `crc`).
pub const RECORD_HEADER_BYTES: usize = 8;
/// Bytes of a record body before the value (`key` and `version`).
pub const RECORD_BODY_MIN_BYTES: usize = 16;
/// Largest record.
pub const RECORD_BYTES_MAX: usize = RECORD_HEADER_BYTES + RECORD_BODY_MIN_BYTES + VALUE_BYTES_MAX;
/// Attempts at one storage operation during recovery before giving up.
pub const RECOVERY_ATTEMPTS_MAX: u32 = 50;
/// Pause between recovery attempts.
pub const RECOVERY_RETRY_DELAY: Duration = Duration::from_millis(10);
/// Re-reads of a record that fails its checksum before it is taken as the
/// torn tail (reads can be corrupted in transit; the data is not).
pub const REREADS_MAX: u32 = 3;
/// Requests queued to the store, at most.
pub const QUEUE_CAPACITY: usize = 64;
/// The server process's name in the simulation.
pub const STORE_NAME: &str = "wal-store";

/// A durability bug that can be planted in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WalBug {
    /// Acknowledge a put as soon as its record is written, without `sync`.
    SkipSync,
    /// Recovery stops at the torn tail but new records are appended at the
    /// end of the file, after the garbage: the next recovery never reaches
    /// them.
    AppendAfterTornTail,
    /// The sync is issued together with the record's write instead of
    /// after it completes, so it need not cover the record.
    UnorderedSync,
}

/// An unknown bug name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bug {0:?} (try --list-bugs)")]
pub struct UnknownBug(pub String);

impl WalBug {
    /// Every planted bug.
    pub const ALL: [WalBug; 3] = [
        WalBug::SkipSync,
        WalBug::UnorderedSync,
        WalBug::AppendAfterTornTail,
    ];

    /// The command-line name (`--bug NAME`).
    pub fn name(self) -> &'static str {
        match self {
            WalBug::SkipSync => "skip-sync",
            WalBug::AppendAfterTornTail => "append-after-torn-tail",
            WalBug::UnorderedSync => "unordered-sync",
        }
    }

    /// What the bug does, in one line.
    pub fn description(self) -> &'static str {
        match self {
            WalBug::SkipSync => {
                "acknowledges a put once its record is written, without syncing the log: a crash loses acknowledged data"
            }
            WalBug::AppendAfterTornTail => {
                "recovery stops at a torn record but appends after it, at the end of the file: later records are unreachable after the next crash"
            }
            WalBug::UnorderedSync => {
                "issues the sync concurrently with the record's write instead of after it: the sync may not cover the record it acknowledges"
            }
        }
    }
}

impl std::str::FromStr for WalBug {
    type Err = UnknownBug;
    fn from_str(s: &str) -> Result<WalBug, UnknownBug> {
        WalBug::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBug(s.to_string()))
    }
}

impl std::fmt::Display for WalBug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// The disk failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A value longer than [`VALUE_BYTES_MAX`].
    #[error("value of {0} bytes exceeds {VALUE_BYTES_MAX}")]
    ValueTooLarge(usize),
    /// Recovery could not read or repair the log.
    #[error("recovery failed after {RECOVERY_ATTEMPTS_MAX} attempts: {0}")]
    Recovery(StorageError),
}

/// A stored value and the version it was written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The writer's version.
    pub version: u64,
    /// The value.
    pub value: Vec<u8>,
}

/// A request to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Durably write `value` under `key`, tagged `version`.
    Put {
        /// The key.
        key: u64,
        /// The writer's version.
        version: u64,
        /// The value.
        value: Vec<u8>,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: u64,
    },
}

/// The store's answer.
#[derive(Debug)]
pub enum Response {
    /// `Ok`: the write is durable.
    Put(Result<(), WalError>),
    /// The latest entry of the key, if any.
    Get(Option<Entry>),
}

/// Encodes one log record.
pub fn encode_record(key: u64, version: u64, value: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(RECORD_BODY_MIN_BYTES + value.len());
    body.extend_from_slice(&key.to_le_bytes());
    body.extend_from_slice(&version.to_le_bytes());
    body.extend_from_slice(value);
    let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + body.len());
    record.extend_from_slice(&(body.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    record.extend_from_slice(&body);
    record
}

/// A record parsed from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The key.
    pub key: u64,
    /// The entry.
    pub entry: Entry,
    /// Bytes the record takes in the log.
    pub size: usize,
}

/// Parses the record at the start of `buf`; `None` if it is short, of an
/// impossible length, or fails its checksum.
pub fn parse_record(buf: &[u8]) -> Option<Record> {
    let header = buf.get(..RECORD_HEADER_BYTES)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if !(RECORD_BODY_MIN_BYTES..=RECORD_BODY_MIN_BYTES + VALUE_BYTES_MAX).contains(&len) {
        return None;
    }
    let body = buf.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    Some(Record {
        key: u64::from_le_bytes(body[..8].try_into().ok()?),
        entry: Entry {
            version: u64::from_le_bytes(body[8..16].try_into().ok()?),
            value: body[16..].to_vec(),
        },
        size: RECORD_HEADER_BYTES + len,
    })
}

/// Retries a recovery step on I/O errors (the disk may fail transiently).
async fn retry<P, T, F, Fut>(p: &P, mut step: F) -> Result<T, WalError>
where
    P: Providers,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StorageError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match step().await {
            Ok(v) => return Ok(v),
            Err(e @ StorageError::Io(_)) if attempt < RECOVERY_ATTEMPTS_MAX => {
                tracing::debug!(error = %e, attempt, "recovery step failed; retrying");
                p.time().sleep(RECOVERY_RETRY_DELAY).await;
            }
            Err(e) => return Err(WalError::Recovery(e)),
        }
    }
}

/// Reads `len` bytes at `offset` (fewer at the end of the file).
async fn read_exact_at<F: StorageFile>(
    f: &F,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, StorageError> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n = f
            .read_at(&mut buf[filled..], offset + filled as u64)
            .await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

struct State {
    /// Key → entry and the log offset of its record (later records win).
    map: BTreeMap<u64, (Entry, u64)>,
    /// Where the next record goes.
    end: u64,
}

/// The write-ahead-logged store. See the [module documentation](self).
pub struct WalStore<P: Providers> {
    file: <P::Storage as StorageProvider>::File,
    state: RefCell<State>,
    append: futures::lock::Mutex<()>,
    bug: Option<WalBug>,
    recovered_records: usize,
    cut_bytes: u64,
}

impl<P: Providers> WalStore<P> {
    /// Opens the log and recovers the store from it.
    pub async fn open(p: &P, bug: Option<WalBug>) -> Result<WalStore<P>, WalError> {
        let file = retry(p, || p.storage().open(LOG_PATH, OpenMode::OpenOrCreate)).await?;
        let len = retry(p, || file.len()).await?;
        let mut log = retry(p, || read_exact_at(&file, 0, len as usize)).await?;
        let mut map = BTreeMap::new();
        let mut offset = 0usize;
        let mut records = 0;
        while offset < log.len() {
            let mut parsed = parse_record(&log[offset..]);
            // A failed checksum may be a corrupted read: read it again.
            let mut rereads = 0;
            while parsed.is_none() && rereads < REREADS_MAX {
                rereads += 1;
                let window = RECORD_BYTES_MAX.min(log.len() - offset);
                let fresh = retry(p, || read_exact_at(&file, offset as u64, window)).await?;
                parsed = parse_record(&fresh);
                if parsed.is_some() {
                    log[offset..offset + fresh.len()].copy_from_slice(&fresh);
                }
            }
            let Some(record) = parsed else {
                break;
            };
            map.insert(record.key, (record.entry, offset as u64));
            offset += record.size;
            records += 1;
        }
        let valid_end = offset as u64;
        let cut_bytes = len - valid_end;
        let end = if bug == Some(WalBug::AppendAfterTornTail) {
            len
        } else {
            if cut_bytes > 0 {
                retry(p, || file.truncate(valid_end)).await?;
                retry(p, || file.sync()).await?;
            }
            valid_end
        };
        tracing::debug!(records, cut_bytes, "wal recovered");
        Ok(WalStore {
            file,
            state: RefCell::new(State { map, end }),
            append: futures::lock::Mutex::new(()),
            bug,
            recovered_records: records,
            cut_bytes,
        })
    }

    /// Records replayed by recovery.
    pub fn recovered_records(&self) -> usize {
        self.recovered_records
    }

    /// Bytes of torn tail recovery cut.
    pub fn cut_bytes(&self) -> u64 {
        self.cut_bytes
    }

    /// Durably writes `value` under `key` with `version`; `Ok` only once
    /// the record is synced.
    pub async fn put(&self, key: u64, version: u64, value: &[u8]) -> Result<(), WalError> {
        if value.len() > VALUE_BYTES_MAX {
            return Err(WalError::ValueTooLarge(value.len()));
        }
        let record = encode_record(key, version, value);
        let offset = {
            let _writer = self.append.lock().await;
            let offset = self.state.borrow().end;
            if self.bug == Some(WalBug::UnorderedSync) {
                let (written, synced) =
                    futures::join!(self.file.write_at(&record, offset), self.file.sync());
                written?;
                synced?;
            } else {
                self.file.write_at(&record, offset).await?;
            }
            self.state.borrow_mut().end = offset + record.len() as u64;
            offset
        };
        if self.bug.is_none() || self.bug == Some(WalBug::AppendAfterTornTail) {
            self.file.sync().await?;
        }
        let mut state = self.state.borrow_mut();
        let newer = state.map.get(&key).is_none_or(|(_, at)| *at < offset);
        if newer {
            let entry = Entry {
                version,
                value: value.to_vec(),
            };
            state.map.insert(key, (entry, offset));
        }
        Ok(())
    }

    /// The latest acknowledged (or recovered) entry of `key`.
    pub fn get(&self, key: u64) -> Option<Entry> {
        self.state.borrow().map.get(&key).map(|(e, _)| e.clone())
    }

    /// Serves one request.
    pub async fn handle(&self, request: Request) -> Response {
        match request {
            Request::Put {
                key,
                version,
                value,
            } => Response::Put(self.put(key, version, &value).await),
            Request::Get { key } => Response::Get(self.get(key)),
        }
    }
}

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
/// incarnation. See the [module documentation](self).
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

/// Knobs of the simulation.
#[derive(Clone, Debug)]
pub struct WalSimConfig {
    /// Client processes. Default 2.
    pub clients: usize,
    /// Puts per client. Default 60.
    pub puts_per_client: u64,
    /// Keys per client (each client owns its keys). Default 8.
    pub keys_per_client: u64,
    /// Largest value written (sizes are uniform from 1). Default 600, so
    /// records often straddle 512-byte sectors and can be torn.
    pub value_bytes_max: usize,
    /// Longest pause between a client's operations. Default 20 ms.
    pub think_time_max: Duration,
    /// How long a client waits for an answer. Default 1 s.
    pub call_timeout: Duration,
    /// The attrition nemesis (targets the store, one down at most).
    pub attrition: Attrition,
}

impl Default for WalSimConfig {
    fn default() -> Self {
        WalSimConfig {
            clients: 2,
            puts_per_client: 60,
            keys_per_client: 8,
            value_bytes_max: 600,
            think_time_max: Duration::from_millis(20),
            call_timeout: Duration::from_secs(1),
            attrition: Attrition::new()
                .targets([STORE_NAME])
                .max_down(1)
                .interval(Duration::from_millis(50), Duration::from_millis(500))
                .reboot_delay(Duration::ZERO, Duration::from_millis(300)),
        }
    }
}

/// The `wal` simulation with the default configuration, chaos on.
pub fn simulation(bug: Option<WalBug>) -> Result<Simulation, ConfigError> {
    simulation_with(bug, WalSimConfig::default())
}

/// The `wal` simulation: one store process under attrition, `clients`
/// client workloads, chaos on (the runner may turn it off).
pub fn simulation_with(
    bug: Option<WalBug>,
    config: WalSimConfig,
) -> Result<Simulation, ConfigError> {
    let link = WalLink::new();
    let server_link = link.clone();
    let attrition = config.attrition.clone();
    SimulationBuilder::new()
        .chaos(true)
        .max_down(1)
        .process(STORE_NAME, [10, 0, 0, 1], move |p: SimProviders| {
            // Runs when the process (re)starts, before any task of this
            // incarnation: whatever was published belongs to a dead
            // incarnation or an earlier seed.
            server_link.reset();
            serve(p, server_link.clone(), bug)
        })
        .workload("wal-client", config.clients, move |client_id| {
            WalClient::new(client_id, link.clone(), config.clone())
        })
        .background_workload("attrition", 1, move |_| attrition.clone())
        .build()
}

/// Pause before retrying an unavailable store.
const UNAVAILABLE_RETRY_DELAY: Duration = Duration::from_millis(20);
/// Attempts at reaching the store before a client gives up (60 s).
const UNAVAILABLE_ATTEMPTS_MAX: u32 = 3_000;

/// A client: writes its keys, remembers what was acknowledged, and checks
/// the store never loses or invents data.
pub struct WalClient {
    client_id: usize,
    link: WalLink,
    config: WalSimConfig,
    /// Every write issued: (key, version) → value.
    issued: BTreeMap<(u64, u64), Vec<u8>>,
    /// Highest acknowledged version per key.
    acked: BTreeMap<u64, u64>,
    /// Writes acknowledged, writes whose outcome is unknown.
    acks: u64,
    unknown: u64,
}

impl WalClient {
    /// Client `client_id` of a simulation configured by `config`.
    pub fn new(client_id: usize, link: WalLink, config: WalSimConfig) -> WalClient {
        WalClient {
            client_id,
            link,
            config,
            issued: BTreeMap::new(),
            acked: BTreeMap::new(),
            acks: 0,
            unknown: 0,
        }
    }

    fn key(&self, k: u64) -> u64 {
        self.client_id as u64 * 1_000_000 + k
    }

    /// Calls the store, retrying while it is unavailable (nothing sent).
    async fn call(&self, p: &SimProviders, request: Request) -> Result<Response, String> {
        for _ in 0..UNAVAILABLE_ATTEMPTS_MAX {
            match self
                .link
                .call(p, request.clone(), self.config.call_timeout)
                .await
            {
                Err(CallError::Unavailable) => p.sleep(UNAVAILABLE_RETRY_DELAY).await,
                Ok(response) => return Ok(response),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!(
            "store unavailable for {UNAVAILABLE_ATTEMPTS_MAX} attempts"
        ))
    }

    /// Checks what the store says about `key` against what was acknowledged.
    fn verify(&self, key: u64, got: Option<&Entry>) -> Result<(), String> {
        let acked = self.acked.get(&key).copied();
        match (acked, got) {
            (None, None) => Ok(()),
            (Some(v), None) => Err(format!(
                "acknowledged write lost: key {key} version {v} was acknowledged, the store has nothing"
            )),
            (_, Some(e)) => {
                if let Some(v) = acked
                    && e.version < v
                {
                    return Err(format!(
                        "acknowledged write lost: key {key} version {v} was acknowledged, the store has version {}",
                        e.version
                    ));
                }
                match self.issued.get(&(key, e.version)) {
                    Some(value) if *value == e.value => Ok(()),
                    Some(_) => Err(format!(
                        "corrupt data: key {key} version {} has a value that was never written",
                        e.version
                    )),
                    None => Err(format!(
                        "invented data: key {key} version {} was never written",
                        e.version
                    )),
                }
            }
        }
    }

    async fn get_and_verify(&self, p: &SimProviders, key: u64) -> Result<bool, String> {
        match self.call(p, Request::Get { key }).await {
            Ok(Response::Get(got)) => self.verify(key, got.as_ref()).map(|()| true),
            Ok(Response::Put(_)) => Err("a get answered as a put".to_string()),
            // The store died meanwhile: nothing learned.
            Err(_) => Ok(false),
        }
    }
}

impl Workload for WalClient {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers().clone();
        for version in 1..=self.config.puts_per_client {
            let key = self.key(p.random_range(0..self.config.keys_per_client));
            let len = p.random_range(1..=self.config.value_bytes_max.clamp(1, VALUE_BYTES_MAX));
            let value: Vec<u8> = (0..len).map(|_| p.next_u64() as u8).collect();
            self.issued.insert((key, version), value.clone());
            match self
                .call(
                    &p,
                    Request::Put {
                        key,
                        version,
                        value,
                    },
                )
                .await
            {
                Ok(Response::Put(Ok(()))) => {
                    self.acks += 1;
                    let top = self.acked.entry(key).or_insert(version);
                    *top = (*top).max(version);
                }
                Ok(Response::Put(Err(_))) | Err(_) => self.unknown += 1,
                Ok(Response::Get(_)) => return Err("a put answered as a get".into()),
            }
            // Read back a key now and then: acknowledged data must be there
            // whatever happened to the store since.
            if p.random_range(0..4u32) == 0 {
                let k = self.key(p.random_range(0..self.config.keys_per_client));
                self.get_and_verify(&p, k).await?;
            }
            let think = p.random_range(0..=self.config.think_time_max.as_micros() as u64);
            p.sleep(Duration::from_micros(think)).await;
        }
        tracing::debug!(acks = self.acks, unknown = self.unknown, "wal client done");
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers().clone();
        // The store was rebooted at quiesce if it was down; wait for it.
        let keys: Vec<u64> = (0..self.config.keys_per_client)
            .map(|k| self.key(k))
            .collect();
        for key in keys {
            let mut attempts = 0;
            while !self.get_and_verify(&p, key).await? {
                attempts += 1;
                if attempts >= 100 {
                    return Err(format!("the store never answered for key {key}").into());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let record = encode_record(7, 3, b"value");
        let parsed = parse_record(&record).expect("valid");
        assert_eq!(parsed.key, 7);
        assert_eq!(parsed.entry.version, 3);
        assert_eq!(parsed.entry.value, b"value");
        assert_eq!(parsed.size, record.len());
        for i in 0..record.len() {
            let mut bad = record.clone();
            bad[i] ^= 0x40;
            assert!(
                parse_record(&bad) != Some(parsed.clone()),
                "a flip at byte {i} went unnoticed"
            );
        }
        assert!(parse_record(&record[..record.len() - 1]).is_none());
        assert!(parse_record(&[0u8; 64]).is_none(), "zeros are not a record");
    }

    #[test]
    fn bug_names_round_trip() {
        for bug in WalBug::ALL {
            assert_eq!(bug.name().parse::<WalBug>(), Ok(bug));
            assert!(!bug.description().is_empty());
        }
        assert!("nope".parse::<WalBug>().is_err());
    }
}
