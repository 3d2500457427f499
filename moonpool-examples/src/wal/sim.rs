//! The client workload and the simulation definition.

use std::collections::BTreeMap;
use std::time::Duration;

use moonpool_core::{RandomProvider, TimeProvider};
use moonpool_sim::{
    Attrition, ConfigError, SimContext, SimProviders, Simulation, SimulationBuilder, Workload,
    WorkloadResult,
};

use super::{
    CallError, Entry, Request, Response, STORE_NAME, VALUE_BYTES_MAX, WalBug, WalLink, serve,
};

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
