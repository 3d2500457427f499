//! The simulation: one store process serving over simulated TCP, client
//! workloads calling it, and the chaos — network and clock nemeses,
//! network, clock and disk faults, and attrition of the store.

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{RandomProvider, TimeProvider};
use moonpool_sim::{
    Attrition, ConfigError, SimContext, SimProviders, Simulation, SimulationBuilder, Workload,
    WorkloadResult,
};

use super::{
    ClientConfig, STORE_IP, STORE_NAME, STORE_PORT, VALUE_BYTES_MAX, WalBug, WalClient, serve,
};

/// Knobs of the simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Client processes. Default 2.
    pub clients: usize,
    /// Puts per client. Default 100.
    pub puts_per_client: u64,
    /// Keys per client (each client owns its keys). Default 8.
    pub keys_per_client: u64,
    /// Largest value written (sizes are uniform from 1). Default 600, so
    /// records often straddle 512-byte sectors and can be torn.
    pub value_bytes_max: usize,
    /// Longest pause between a client's operations. Default 20 ms.
    pub think_time_max: Duration,
    /// One read in this many operations (a read-back of a random own key
    /// during the run). Default 4.
    pub read_one_in: u32,
    /// The clients' timeouts and retry limits.
    pub client: ClientConfig,
    /// The attrition nemesis (targets the store, one down at most).
    pub attrition: Attrition,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            clients: 2,
            puts_per_client: 100,
            keys_per_client: 8,
            value_bytes_max: 600,
            think_time_max: Duration::from_millis(20),
            read_one_in: 4,
            client: ClientConfig::default(),
            attrition: Attrition::new()
                .targets([STORE_NAME])
                .max_down(1)
                .interval(Duration::from_millis(100), Duration::from_millis(1_000))
                .reboot_delay(Duration::ZERO, Duration::from_millis(300)),
        }
    }
}

/// The store's address in the simulation.
pub fn store_addr() -> SocketAddr {
    SocketAddr::from((STORE_IP, STORE_PORT))
}

/// The `wal` simulation with the default configuration, chaos on.
pub fn simulation(bug: Option<WalBug>) -> Result<Simulation, ConfigError> {
    simulation_with(bug, SimConfig::default())
}

/// The `wal` simulation: one store process under attrition serving over
/// simulated TCP, `clients` client workloads, the network and clock nemeses, chaos on
/// (the runner may turn it off). Coverage goals are scoped to this module.
pub fn simulation_with(bug: Option<WalBug>, config: SimConfig) -> Result<Simulation, ConfigError> {
    let attrition = config.attrition.clone();
    SimulationBuilder::new()
        .chaos(true)
        .max_down(1)
        .process(STORE_NAME, STORE_IP, move |p: SimProviders| {
            serve(p, store_addr(), bug)
        })
        .workload("wal-client", config.clients, move |client_id| {
            WalWorkload::new(client_id, config.clone())
        })
        .background_workload("attrition", 1, move |_| attrition.clone())
        .network_nemeses()
        .clock_nemesis()
        .assertion_scope(&["moonpool_examples::wal"])
        .build()
}

/// A client workload: writes its keys through a [`WalClient`], reads some
/// back during the run, and checks all of them after quiesce.
pub struct WalWorkload {
    client_id: usize,
    config: SimConfig,
    client: Option<WalClient<SimProviders>>,
}

impl WalWorkload {
    /// Client `client_id` of a simulation configured by `config`.
    pub fn new(client_id: usize, config: SimConfig) -> WalWorkload {
        WalWorkload {
            client_id,
            config,
            client: None,
        }
    }

    /// The keys this client owns.
    fn keys(&self) -> Vec<u64> {
        (0..self.config.keys_per_client)
            .map(|k| self.client_id as u64 * 1_000_000 + k)
            .collect()
    }
}

impl Workload for WalWorkload {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers().clone();
        let keys = self.keys();
        let client = self.client.insert(WalClient::new(
            p.clone(),
            store_addr(),
            self.config.client.clone(),
        ));
        let value_max = self.config.value_bytes_max.clamp(1, VALUE_BYTES_MAX);
        for _ in 0..self.config.puts_per_client {
            let key = keys[p.random_range(0..keys.len())];
            let len = p.random_range(1..=value_max);
            let value: Vec<u8> = (0..len).map(|_| p.next_u64() as u8).collect();
            client.put(key, value).await;
            // Read back a key now and then: acknowledged data must be there
            // whatever happened to the store since.
            if p.random_range(0..self.config.read_one_in.max(1)) == 0 {
                let k = keys[p.random_range(0..keys.len())];
                client.read_checked(k).await?;
            }
            let think = p.random_range(0..=self.config.think_time_max.as_micros() as u64);
            p.sleep(Duration::from_micros(think)).await;
        }
        let stats = client.stats();
        tracing::debug!(?stats, "wal client done");
        Ok(())
    }

    async fn check(&mut self, _ctx: &SimContext) -> WorkloadResult {
        let keys = self.keys();
        let Some(client) = self.client.as_mut() else {
            return Err("the run phase never started the client".into());
        };
        let status = client.check_all(&keys).await?;
        tracing::debug!(stats = ?client.stats(), ?status, "wal client checked");
        Ok(())
    }
}
