//! The simulation: three shard processes and client workloads moving
//! money between nine accounts, under attrition (one shard down at a
//! time), the network and clock nemeses and faults, disk faults and buggify; after
//! quiesce, client 0 waits for every shard to resolve every transfer, then
//! checks the dumps against every client's outcomes.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{RandomProvider, TimeProvider};
use moonpool_sim::{
    Attrition, ConfigError, SimContext, SimProviders, Simulation, SimulationBuilder, Workload,
    WorkloadResult,
};
use moonpool_transport::{Transport, TransportConfig};

use super::checker::{ClientOp, Violation, check};
use super::{ACCOUNTS, BankBug, BankClient, PORT, SHARDS, ShardDump, Transfer, shard};

/// How long after quiesce every transfer must be resolved.
pub const QUIESCE_BOUND: Duration = Duration::from_secs(30);
/// Pause between the checker's looks at the shards.
const POLL: Duration = Duration::from_millis(200);

/// The name of shard `i`'s process.
pub fn shard_name(i: u32) -> String {
    format!("bank-shard-{i}")
}

/// The address of shard `i` (10.0.4.`i+1`).
pub fn shard_addr(i: u32) -> SocketAddr {
    SocketAddr::from(([10, 0, 4, i as u8 + 1], PORT))
}

/// Knobs of the simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Client processes. Default 3.
    pub clients: usize,
    /// Transfers per client. Default 40.
    pub transfers_per_client: u64,
    /// The largest amount moved (uniform from 1). Default 60.
    pub amount_max: i64,
    /// Longest pause between a client's transfers. Default 30 ms.
    pub think_time_max: Duration,
    /// The attrition nemesis. Default: the shards, one down at most, a
    /// kill every 200 ms to 2 s, rebooted after 0 to 1 s.
    pub attrition: Attrition,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            clients: 3,
            transfers_per_client: 40,
            amount_max: 60,
            think_time_max: Duration::from_millis(30),
            attrition: Attrition::new()
                .targets((0..SHARDS).map(shard_name))
                .max_down(1)
                .interval(Duration::from_millis(200), Duration::from_secs(2))
                .reboot_delay(Duration::ZERO, Duration::from_secs(1)),
        }
    }
}

/// The `bank` simulation with the default configuration, chaos on.
pub fn simulation(bug: Option<BankBug>) -> Result<Simulation, ConfigError> {
    simulation_with(bug, SimConfig::default())
}

/// The `bank` simulation: three shards, `config.clients` clients,
/// attrition, the network and clock nemeses; chaos on (the runner may
/// turn it off).
pub fn simulation_with(bug: Option<BankBug>, config: SimConfig) -> Result<Simulation, ConfigError> {
    let addrs: Vec<SocketAddr> = (0..SHARDS).map(shard_addr).collect();
    let shared = Rc::new(RefCell::new(Vec::<ClientOp>::new()));
    let attrition = config.attrition.clone();
    let mut builder = SimulationBuilder::new().chaos(true).max_down(1);
    for i in 0..SHARDS {
        let addrs = addrs.clone();
        let ip: IpAddr = shard_addr(i).ip();
        builder = builder.process(shard_name(i), ip, move |p: SimProviders| {
            shard(p, i, addrs.clone(), bug)
        });
    }
    builder
        .workload("bank-client", config.clients, move |client_id| {
            BankWorkload {
                client_id,
                config: config.clone(),
                ops: Rc::clone(&shared),
                client: None,
            }
        })
        .background_workload("attrition", 1, move |_| attrition.clone())
        .network_nemeses()
        .clock_nemesis()
        .assertion_scope(&["moonpool_examples::bank"])
        .build()
}

/// Reads every shard's state until all of them resolved every transfer
/// (or `bound` passed); returns the last dumps.
pub async fn quiescent_dumps<P: moonpool_core::Providers>(
    p: &P,
    client: &BankClient<P>,
    bound: Duration,
) -> Result<Vec<ShardDump>, String> {
    let deadline = p.time().now() + bound;
    let mut last: Vec<Option<ShardDump>> = vec![None; SHARDS as usize];
    loop {
        for i in 0..SHARDS {
            if let Ok(d) = client.dump(i, Duration::from_secs(1)).await {
                last[i as usize] = Some(d);
            }
        }
        let settled = last.iter().all(|d| {
            d.as_ref().is_some_and(|d| {
                d.coordinating.is_empty()
                    && d.in_doubt.is_empty()
                    && d.reserved == 0
                    && d.pending == 0
            })
        });
        if settled || p.time().now() >= deadline {
            break;
        }
        p.time().sleep(POLL).await;
    }
    if last.iter().any(Option::is_none) {
        return Err(format!(
            "liveness violated: a shard never answered within {bound:?} after quiesce"
        ));
    }
    Ok(last.into_iter().flatten().collect())
}

/// One client: random transfers, then (client 0) the checks.
struct BankWorkload {
    client_id: usize,
    config: SimConfig,
    ops: Rc<RefCell<Vec<ClientOp>>>,
    client: Option<BankClient<SimProviders>>,
}

impl Workload for BankWorkload {
    async fn setup(&mut self, ctx: &SimContext) -> WorkloadResult {
        if self.client_id == 0 {
            self.ops.borrow_mut().clear();
        }
        let transport = Transport::unbound(ctx.providers().clone(), TransportConfig::default());
        let addrs: Vec<SocketAddr> = (0..SHARDS).map(shard_addr).collect();
        self.client = Some(BankClient::new(&transport, &addrs));
        Ok(())
    }

    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers().clone();
        let Some(client) = self.client.as_ref() else {
            return Err("the client was not set up".into());
        };
        for seq in 1..=self.config.transfers_per_client {
            let from = p.random_range(0..ACCOUNTS);
            let to = (from + p.random_range(1..ACCOUNTS)) % ACCOUNTS;
            let t = Transfer {
                id: (self.client_id as u64 + 1) << 32 | seq,
                from,
                to,
                amount: p.random_range(1..=self.config.amount_max),
            };
            let outcome = client.transfer(t).await;
            self.ops.borrow_mut().push(ClientOp {
                transfer: t,
                outcome,
            });
            let think = p.random_range(0..=self.config.think_time_max.as_micros() as u64);
            p.sleep(Duration::from_micros(think)).await;
        }
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        if self.client_id != 0 {
            return Ok(());
        }
        let Some(client) = self.client.as_ref() else {
            return Err("the client was not set up".into());
        };
        let dumps = quiescent_dumps(ctx.providers(), client, QUIESCE_BOUND).await?;
        let stats = check(&self.ops.borrow(), &dumps).map_err(|e: Violation| e.to_string())?;
        tracing::debug!(?stats, "bank checked");
        Ok(())
    }
}
