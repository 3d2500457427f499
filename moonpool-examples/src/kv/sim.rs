//! The simulation: three replicas, clients that record a history, chaos,
//! and the checks after quiesce.
//!
//! # Run phase
//! Each client (a workload process with its own IP) issues
//! `ops_per_client` random gets and puts on a few keys, one at a time,
//! with unique put values (`(client + 1) << 32 | sequence`), and records
//! every operation in the seed's shared [`History`]. Meanwhile attrition
//! kills and reboots replicas (one down at most), the network nemeses
//! clog, partition (one-way too) and cut connections, the clock nemesis
//! skews the replicas' clocks, disks fail, rot and fill up, and buggify
//! widens the rare paths.
//!
//! # Check phase (after quiesce: network healed, replicas rebooted)
//! 1. **Convergence**: client 0 polls every replica's state until all three
//!    hold the same entries (anti-entropy must get them there within
//!    [`SimConfig::converge_timeout`]); otherwise `convergence violated`.
//! 2. **Final reads**: every client reads every key; the reads join the
//!    history, and must return the converged value (`convergence violated`).
//! 3. **Durability**: for every key, the converged timestamp is at least the
//!    timestamp of every acknowledged put of that key (`durability
//!    violated`): an acknowledged write was not lost, even if nobody read
//!    it.
//! 4. **Linearizability** of the whole history, per key
//!    ([`check_history`]; `linearizability violated`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{RandomProvider, Ratio, TimeProvider};
use moonpool_sim::{
    Attrition, ConfigError, ProcessState, SimContext, SimProviders, Simulation, SimulationBuilder,
    Workload, WorkloadResult,
};
use moonpool_transport::{Transport, TransportConfig};

use super::checker::{History, Op, OpKind, Outcome, check_history};
use super::client::{KvClient, OpError};
use super::{Key, KvBug, MAJORITY, PORT, REPLICAS, Timestamp, Versioned, serve};

/// The name of replica `i`'s process.
pub fn replica_name(i: usize) -> String {
    format!("kv-replica-{i}")
}

/// The address of replica `i` in the simulation (10.0.2.`i+1`).
pub fn replica_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 2, i as u8 + 1], PORT))
}

/// Knobs of the simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Client processes. Default 3.
    pub clients: usize,
    /// Operations per client. Default 50.
    pub ops_per_client: u64,
    /// Keys (a small key space, so clients contend). Default 3.
    pub keys: u64,
    /// Probability that an operation is a get. Default 1/2.
    pub get_ratio: Ratio,
    /// Longest pause between a client's operations. Default 50 ms.
    pub think_time_max: Duration,
    /// Deadline of one operation. Default 1 s (shorter than [`OP_TIMEOUT`](super::OP_TIMEOUT),
    /// so partitions leave more outcomes unknown).
    pub op_timeout: Duration,
    /// How long replicas get to converge after quiesce. Default 30 s.
    pub converge_timeout: Duration,
    /// The attrition nemesis. Default: replicas only, one down at most,
    /// a kill every 200 ms to 2 s, rebooted after 0 to 1 s.
    pub attrition: Attrition,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            clients: 3,
            ops_per_client: 50,
            keys: 3,
            get_ratio: Ratio::new(1, 2),
            think_time_max: Duration::from_millis(50),
            op_timeout: Duration::from_secs(1),
            converge_timeout: Duration::from_secs(30),
            attrition: Attrition::new()
                .targets((0..REPLICAS).map(replica_name))
                .max_down(1)
                .interval(Duration::from_millis(200), Duration::from_secs(2))
                .reboot_delay(Duration::ZERO, Duration::from_secs(1)),
        }
    }
}

/// The `kv` simulation with the default configuration, chaos on.
pub fn simulation(bug: Option<KvBug>) -> Result<Simulation, ConfigError> {
    simulation_with(bug, SimConfig::default())
}

/// The `kv` simulation: three replicas, `clients` client workloads,
/// attrition, the network and clock nemeses; chaos on (the runner may turn
/// it off).
pub fn simulation_with(bug: Option<KvBug>, config: SimConfig) -> Result<Simulation, ConfigError> {
    let shared = Rc::new(RefCell::new(Shared::default()));
    let attrition = config.attrition.clone();
    let mut builder = SimulationBuilder::new().chaos(true).max_down(1);
    for i in 0..REPLICAS {
        let me = replica_addr(i);
        let peers: Vec<SocketAddr> = (0..REPLICAS)
            .filter(|j| *j != i)
            .map(replica_addr)
            .collect();
        let ip: IpAddr = me.ip();
        builder = builder.process(replica_name(i), ip, move |p: SimProviders| {
            serve(p, me, peers.clone(), bug, TransportConfig::default())
        });
    }
    builder
        .workload("kv-client", config.clients, move |client_id| KvWorkload {
            client_id,
            bug,
            config: config.clone(),
            shared: Rc::clone(&shared),
            client: None,
        })
        .background_workload("attrition", 1, move |_| attrition.clone())
        .network_nemeses()
        .clock_nemesis()
        .assertion_scope(&["moonpool_examples::kv"])
        .build()
}

/// What the clients of one seed share. Reset by client 0's `setup`.
#[derive(Default)]
struct Shared {
    history: History,
    /// Per key, the highest timestamp of an acknowledged put.
    acked: BTreeMap<Key, Timestamp>,
    /// The converged state, once client 0 saw the replicas agree.
    converged: Option<BTreeMap<Key, Versioned>>,
    /// Clients done with their final reads.
    final_reads_done: usize,
}

/// How long the check phase lets in-flight messages land before it
/// compares replicas (longer than the transport's connect timeout plus the
/// largest latency a seed can draw).
const SETTLE: Duration = Duration::from_secs(5);
/// Pause between polls in the check phase.
const CHECK_POLL: Duration = Duration::from_millis(100);
/// Attempts at one final read before the check gives up.
const FINAL_READ_ATTEMPTS_MAX: u32 = 20;

/// One client. See the [module documentation](self).
struct KvWorkload {
    client_id: usize,
    bug: Option<KvBug>,
    config: SimConfig,
    shared: Rc<RefCell<Shared>>,
    client: Option<KvClient<SimProviders>>,
}

impl KvWorkload {
    fn client(&self) -> Result<&KvClient<SimProviders>, String> {
        self.client
            .as_ref()
            .ok_or_else(|| "the client was not set up".to_string())
    }

    fn record(&self, op: Op) {
        self.shared.borrow_mut().history.push(op);
    }

    /// One operation, recorded.
    async fn operate(&self, ctx: &SimContext, key: Key, kind: OpKind) -> Result<(), String> {
        let p = ctx.providers();
        let client = self.client()?;
        let invoke_ns = p.now().as_nanos();
        let outcome = match kind {
            OpKind::Get => match client.get(key).await {
                Ok(got) => Outcome::Read(got.versioned.value),
                Err(_) => Outcome::Fail,
            },
            OpKind::Put(value) => match client.put(key, value).await {
                Ok(put) => {
                    let replica_down = ctx
                        .control()
                        .servers()
                        .iter()
                        .any(|(_, info)| info.state == ProcessState::Dead);
                    moonpool_core::sometimes!(
                        put.acks == MAJORITY && replica_down,
                        "a put was acknowledged by exactly a majority while a replica was down"
                    );
                    let mut shared = self.shared.borrow_mut();
                    let top = shared.acked.entry(key).or_default();
                    *top = (*top).max(put.ts);
                    Outcome::Wrote
                }
                Err(OpError::Failed) => Outcome::Fail,
                Err(OpError::Unknown) => Outcome::Unknown,
            },
        };
        self.record(Op {
            client: self.client_id,
            key,
            kind,
            invoke_ns,
            complete_ns: p.now().as_nanos(),
            outcome,
        });
        Ok(())
    }

    /// Client 0: waits until every replica holds the same entries.
    async fn await_convergence(
        &self,
        ctx: &SimContext,
    ) -> Result<BTreeMap<Key, Versioned>, String> {
        let p = ctx.providers();
        let client = self.client()?;
        // Bytes held by a partition or a clog are delivered after the heal,
        // and a store from an operation that ended unknown may still land:
        // let the network drain before judging.
        p.sleep(SETTLE).await;
        let deadline = p.now() + self.config.converge_timeout;
        let mut last = Vec::new();
        let mut agreed: Option<Vec<(Key, Versioned)>> = None;
        while p.now() < deadline {
            let mut states = Vec::with_capacity(REPLICAS);
            for i in 0..REPLICAS {
                states.push(client.dump(i, Duration::from_secs(1)).await);
            }
            if let [Ok(first), rest @ ..] = states.as_slice()
                && rest.iter().all(|s| s.as_ref() == Ok(first))
            {
                // Converged: the same agreement twice in a row.
                if agreed.as_ref() == Some(first) {
                    return Ok(first.iter().copied().collect());
                }
                agreed = Some(first.clone());
            } else {
                agreed = None;
            }
            last = states;
            p.sleep(CHECK_POLL).await;
        }
        let shown: Vec<String> = last
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Ok(entries) => format!("replica {i}: {entries:?}"),
                Err(e) => format!("replica {i}: {e}"),
            })
            .collect();
        Err(format!(
            "convergence violated: replicas still disagree {:?} after quiesce: {}",
            self.config.converge_timeout,
            shown.join("; ")
        ))
    }

    /// Waits (bounded) until `ready` holds on the shared state.
    async fn wait_for(
        &self,
        ctx: &SimContext,
        what: &str,
        ready: impl Fn(&Shared) -> bool,
    ) -> Result<(), String> {
        let p = ctx.providers();
        let deadline = p.now() + self.config.converge_timeout * 2;
        while !ready(&self.shared.borrow()) {
            if p.now() >= deadline {
                return Err(format!("check phase stuck waiting for {what}"));
            }
            p.sleep(CHECK_POLL).await;
        }
        Ok(())
    }
}

impl Workload for KvWorkload {
    async fn setup(&mut self, ctx: &SimContext) -> WorkloadResult {
        if self.client_id == 0 {
            *self.shared.borrow_mut() = Shared::default();
        }
        let p = ctx.providers().clone();
        let transport = Transport::unbound(p, TransportConfig::default());
        let replicas: Vec<SocketAddr> = (0..REPLICAS).map(replica_addr).collect();
        let writer = self.client_id as u64 + 1;
        self.client = Some(
            KvClient::new(&transport, &replicas, writer, self.bug)
                .with_op_timeout(self.config.op_timeout),
        );
        Ok(())
    }

    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers().clone();
        let writer = self.client_id as u64 + 1;
        for seq in 1..=self.config.ops_per_client {
            let key = p.random_range(0..self.config.keys);
            let kind = if p.random_bool(self.config.get_ratio) {
                OpKind::Get
            } else {
                OpKind::Put(writer << 32 | seq)
            };
            self.operate(ctx, key, kind).await?;
            let think = p.random_range(0..=self.config.think_time_max.as_micros() as u64);
            p.sleep(Duration::from_micros(think)).await;
        }
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers().clone();
        // 1. Convergence.
        if self.client_id == 0 {
            let converged = self.await_convergence(ctx).await?;
            self.shared.borrow_mut().converged = Some(converged);
        } else {
            self.wait_for(ctx, "convergence", |s| s.converged.is_some())
                .await?;
        }
        // 2. Final reads, recorded in the history.
        for key in 0..self.config.keys {
            let client = self.client()?;
            let mut attempts = 0;
            let got = loop {
                let invoke_ns = p.now().as_nanos();
                match client.get(key).await {
                    Ok(got) => {
                        self.record(Op {
                            client: self.client_id,
                            key,
                            kind: OpKind::Get,
                            invoke_ns,
                            complete_ns: p.now().as_nanos(),
                            outcome: Outcome::Read(got.versioned.value),
                        });
                        break got.versioned;
                    }
                    Err(e) if attempts + 1 >= FINAL_READ_ATTEMPTS_MAX => {
                        return Err(format!(
                            "a final read of key {key} failed {FINAL_READ_ATTEMPTS_MAX} times after quiesce: {e}"
                        )
                        .into());
                    }
                    Err(_) => attempts += 1,
                }
            };
            let converged = self
                .shared
                .borrow()
                .converged
                .as_ref()
                .and_then(|c| c.get(&key).copied())
                .unwrap_or_default();
            if got != converged {
                return Err(format!(
                    "convergence violated: key {key}: the replicas agreed on {converged:?}, \
                     a final read by client {} returned {got:?}",
                    self.client_id
                )
                .into());
            }
        }
        self.shared.borrow_mut().final_reads_done += 1;
        if self.client_id != 0 {
            return Ok(());
        }
        // 3 and 4, once every client's final reads are in the history.
        let clients = ctx.client_count();
        self.wait_for(ctx, "every client's final reads", |s| {
            s.final_reads_done >= clients
        })
        .await?;
        let shared = self.shared.borrow();
        for (key, acked) in &shared.acked {
            let have = shared
                .converged
                .as_ref()
                .and_then(|c| c.get(key).copied())
                .unwrap_or_default();
            if have.ts < *acked {
                return Err(format!(
                    "durability violated: key {key}: a put was acknowledged with timestamp {acked}, \
                     the replicas converged on timestamp {} ({:?})",
                    have.ts, have.value
                )
                .into());
            }
        }
        let stats = check_history(&shared.history).map_err(|e| e.to_string())?;
        tracing::debug!(?stats, "kv history checked");
        Ok(())
    }
}
