//! The chaos simulation: servers, clients, nemeses, attrition.

use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{RandomProvider, Ratio};
use moonpool_sim::{
    Attrition, SimContext, SimProviders, Simulation, SimulationBuilder, Workload, WorkloadResult,
};

use crate::client::ChaosClient;
use crate::server::server_main;
use crate::shared::Shared;
use crate::{CLIENTS, SERVERS};

/// Attrition in half the seeds (decided per seed from the seed's
/// generator, when chaos is on).
pub(crate) struct SomeSeeds(pub(crate) Attrition);

impl Workload for SomeSeeds {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        if ctx.control().chaos_enabled() && ctx.providers().random_bool(Ratio::new(1, 2)) {
            self.0.run(ctx).await
        } else {
            Ok(())
        }
    }
}

/// The chaos profile of a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// The simulator's default chaos profile.
    Default,
    /// Bit flips on 1/50 ..= 1/5 of reads, random closes on 1/500 ..= 1/50
    /// of reads and writes, each family off in only a quarter of the seeds:
    /// many flips per connection, many frames cut, to test the flip
    /// account where it is hardest.
    HeavyCorruption,
}

pub(crate) fn chaos_simulation(shared: &Rc<Shared>, profile: Profile) -> Simulation {
    let mut network = moonpool_sim::NetworkConfig::default();
    if profile == Profile::HeavyCorruption {
        network.chaos.bit_flip = moonpool_sim::OneIn::new(5, 50);
        network.chaos.random_close = moonpool_sim::OneIn::new(50, 500);
        network.chaos.family_off = Ratio::new(1, 4);
    }
    let mut b = SimulationBuilder::new()
        .chaos(true)
        .network(network)
        // One poll in eight runs a random ready task, not the oldest.
        .perturb_ready_order(Ratio::new(1, 8))
        .time_limit(Duration::from_secs(900))
        .assertion_scope(&["moonpool_transport"]);
    for i in 0..SERVERS {
        let sh = shared.clone();
        b = b.process(
            format!("server{i}"),
            [10, 0, 0, i as u8 + 1],
            move |p: SimProviders| server_main(p, sh.clone(), i),
        );
    }
    let sh = shared.clone();
    b.workload("client", CLIENTS, move |id| {
        // Factories run when a world is populated, before any process or
        // workload is polled: a fresh start for each run of the simulation
        // (`check_determinism` runs it twice).
        if id == 0 {
            sh.reset();
        }
        ChaosClient {
            shared: sh.clone(),
            transport: None,
            long_calls: Vec::new(),
        }
    })
    .network_nemeses()
    .background_workload("attrition", 1, |_| SomeSeeds(Attrition::new().max_down(1)))
    .build()
    .expect("valid simulation")
}
