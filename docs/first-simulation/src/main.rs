//! Your first simulation: a counter server and a client that retries,
//! under the simulator's network faults. See the moonpool book's chapter
//! "Your first simulation in 15 minutes".

// ANCHOR: simulation
mod server;
mod workload;

use std::process::ExitCode;

use moonpool_sim::cli::SimCli;
use moonpool_sim::{ConfigError, SimProviders, Simulation, SimulationBuilder};

/// The simulation: the server process and one client, under the
/// network faults chaos draws for each seed.
fn simulation(bug: bool) -> Result<Simulation, ConfigError> {
    SimulationBuilder::new()
        .process("server", server::SERVER_IP, move |p: SimProviders| {
            server::serve(p, bug)
        })
        .workload("client", 1, |_| workload::Client::default())
        .assertion_scope(&["first_simulation"])
        .build()
}
// ANCHOR_END: simulation

// ANCHOR: main
/// This binary's own `sim` flags, next to the runner's.
#[derive(clap::Args)]
struct Flags {
    /// Plant the bug: the server applies a retried addition again
    #[arg(long)]
    bug: bool,
}

fn main() -> ExitCode {
    SimCli::new("first-simulation")
        .about("a counter server and a client that retries")
        .flags::<Flags>()
        .run(|flags, _settings| simulation(flags.bug))
}
// ANCHOR_END: main
