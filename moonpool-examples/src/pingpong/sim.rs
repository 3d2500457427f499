//! The simulation: one server process and client workloads pinging it
//! through every network fault (latency, clogs, partitions, resets, bit
//! flips, short reads and writes), the network and clock nemeses on. Each client
//! checks its answers in the check phase.

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_sim::{
    ConfigError, SimContext, SimProviders, Simulation, SimulationBuilder, Workload, WorkloadResult,
};

use super::client::{ClientConfig, ClientReport, run_client};
use super::{PORT, PingpongBug, check_answers, serve};

/// The simulation's server address.
pub const SERVER_IP: [u8; 4] = [10, 0, 1, 1];

/// Knobs of the simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Client processes. Default 3.
    pub clients: usize,
    /// Pings per client. Default 300: 10 ms apart, the run phase lasts
    /// about 3 simulated seconds, long enough for the nemeses.
    pub pings: u64,
    /// The clients' timeouts. Default: pongs awaited 300 ms (a slow link
    /// or a clog makes the client resend), 10 ms between pings.
    pub client: ClientConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            clients: 3,
            pings: 300,
            client: ClientConfig {
                pong_timeout: Duration::from_millis(300),
                interval: Duration::from_millis(10),
                ..ClientConfig::default()
            },
        }
    }
}

/// The `pingpong` simulation with the default configuration.
pub fn simulation(bug: Option<PingpongBug>) -> Result<Simulation, ConfigError> {
    simulation_with(bug, SimConfig::default())
}

/// A server process and `config.clients` clients sending `config.pings`
/// pings each, over simulated TCP, with the network and clock nemeses;
/// chaos on (the runner may turn it off).
pub fn simulation_with(
    bug: Option<PingpongBug>,
    config: SimConfig,
) -> Result<Simulation, ConfigError> {
    SimulationBuilder::new()
        .chaos(true)
        .process("server", SERVER_IP, |p: SimProviders| {
            serve(p, SocketAddr::from((SERVER_IP, PORT)))
        })
        .workload("client", config.clients, move |_| PingWorkload {
            config: config.clone(),
            bug,
            report: None,
        })
        .network_nemeses()
        .clock_nemesis()
        .assertion_scope(&["moonpool_examples::pingpong"])
        .build()
}

/// A client: sends its pings, then checks the answers.
struct PingWorkload {
    config: SimConfig,
    bug: Option<PingpongBug>,
    report: Option<ClientReport>,
}

impl Workload for PingWorkload {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let server = SocketAddr::from((SERVER_IP, PORT));
        let client = ctx.client_id() as u64;
        let report = run_client(
            ctx.providers(),
            server,
            client,
            self.config.pings,
            &self.config.client,
            self.bug,
        )
        .await?;
        self.report = Some(report);
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        let Some(report) = &self.report else {
            return Err("the run phase recorded no answers".into());
        };
        check_answers(ctx.client_id() as u64, self.config.pings, &report.answers)?;
        Ok(())
    }
}
