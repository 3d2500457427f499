//! Measures the fixed cost of a seed: 1,000 seeds of a two-process
//! simulation doing 10 sleeps each (no network).

use std::time::{Duration, Instant};

use moonpool_core::TimeProvider;
use moonpool_sim::{SimContext, SimProviders, SimulationBuilder, Workload, WorkloadResult};

struct Tiny;
impl Workload for Tiny {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        for _ in 0..10 {
            ctx.providers().sleep(Duration::from_micros(500)).await;
        }
        Ok(())
    }
}

fn main() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .process("server", [10, 0, 0, 1], |p: SimProviders| async move {
            p.sleep(Duration::from_millis(1)).await;
        })
        .workload("client", 1, |_| Tiny)
        .build()
        .expect("valid");
    for _ in 0..5 {
        let start = Instant::now();
        for seed in 1..=1000 {
            let r = sim.run_seed(seed);
            assert!(r.outcome.is_pass());
        }
        let wall = start.elapsed();
        println!(
            "1000 seeds in {:.1} ms: {:.0} seeds/s",
            wall.as_secs_f64() * 1e3,
            1000.0 / wall.as_secs_f64()
        );
    }
}
