//! A simulation binary with a clap parser of its own: the runner's flags
//! ([`SimArgs`]) are flattened into its `sim` subcommand next to its own
//! (`--system`, `--bug`), and one call sweeps, reports and gives the exit
//! code. Replay lines keep the binary's own flags:
//!
//! ```text
//! $ cargo run -p moonpool-sim --example own_cli -- sim --system replicated --bug lose-write --seeds 20
//! ...
//!   replay: target/debug/examples/own_cli sim --system replicated --bug lose-write --chaos --seed 0x...
//! ```
//!
//! The system: clients write to a counter kept in one copy (`single`) or
//! three (`replicated`); every copy must hold every write. `--bug
//! lose-write` makes a copy drop a write now and then.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use moonpool_core::{RandomProvider, TimeProvider};
use moonpool_sim::cli::{SimArgs, SimSettings};
use moonpool_sim::{
    ConfigError, SimContext, Simulation, SimulationBuilder, Workload, WorkloadResult,
};

// ANCHOR: parser
/// The whole command line.
#[derive(Parser, Debug)]
#[command(name = "own-cli", about = "writes kept in one or three copies")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run seeds in the simulator
    Sim(SimCommand),
    /// List the systems
    Systems,
}

/// `sim`: this binary's flags, then the runner's.
#[derive(clap::Args, Debug)]
pub struct SimCommand {
    /// The system to test
    #[arg(long, value_enum, default_value_t = System::Single)]
    pub system: System,
    /// Plant a bug
    #[arg(long, value_enum)]
    pub bug: Option<Bug>,
    /// The runner's flags and their MOONPOOL_* variables.
    #[command(flatten)]
    pub sim: SimArgs,
}
// ANCHOR_END: parser

/// How many copies keep the counter.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// One copy
    Single,
    /// Three copies
    Replicated,
}

/// The bugs `--bug` plants.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// A copy drops about one write in 60
    LoseWrite,
}

/// One client: writes 20 times, each write to every copy.
struct Writer {
    copies: usize,
    bug: Option<Bug>,
    written: u64,
    stored: Vec<u64>,
}

impl Workload for Writer {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        self.stored = vec![0; self.copies];
        for _ in 0..20 {
            p.sleep(Duration::from_millis(p.random_range(1..=10u64)))
                .await;
            self.written += 1;
            for copy in &mut self.stored {
                p.sleep(Duration::from_micros(100)).await;
                let lost = self.bug == Some(Bug::LoseWrite) && p.random_range(0..60u64) == 0;
                if !lost {
                    *copy += 1;
                }
            }
        }
        Ok(())
    }

    async fn check(&mut self, _ctx: &SimContext) -> WorkloadResult {
        for (i, held) in self.stored.iter().enumerate() {
            if *held != self.written {
                return Err(format!("copy {i} holds {held} of {} writes", self.written).into());
            }
        }
        Ok(())
    }
}

impl SimCommand {
    /// The simulation these flags describe.
    pub fn build(&self, _settings: &SimSettings) -> Result<Simulation, ConfigError> {
        let copies = match self.system {
            System::Single => 1,
            System::Replicated => 3,
        };
        let bug = self.bug;
        SimulationBuilder::new()
            .workload("writer", 2, move |_| Writer {
                copies,
                bug,
                written: 0,
                stored: Vec::new(),
            })
            .build()
    }
}

// ANCHOR: main
fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    match Cli::parse_from(&argv).command {
        Command::Sim(cmd) => cmd
            .sim
            .run("own-cli", &argv, |settings| cmd.build(settings)),
        Command::Systems => {
            for system in System::value_variants() {
                println!("{system:?}");
            }
            ExitCode::SUCCESS
        }
    }
}
// ANCHOR_END: main
