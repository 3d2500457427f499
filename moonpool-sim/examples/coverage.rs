//! An until-all-sometimes sweep over a tiny system, printing the coverage
//! report: `cargo run -p moonpool-sim --example coverage [max_seeds]`.
//!
//! The system is a counter that a client bumps by random amounts; a
//! buggified knob sometimes makes the bumps tiny, and `buggify!` sometimes
//! skips one. The sweep keeps running seeds until every `sometimes` and
//! `reachable` of the `coverage` module was satisfied, or `max_seeds`.

use std::time::Duration;

use moonpool_core::{RandomProvider, TimeProvider};
use moonpool_sim::assertions::Coverage;
use moonpool_sim::{
    SimContext, SimulationBuilder, Workload, WorkloadResult, always, always_less_than,
    assert_unreachable, buggify, buggify_knob, reachable, sometimes, sometimes_greater_than,
};

struct Bumper {
    total: u64,
}

impl Workload for Bumper {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        let step_max = buggify_knob!(100u64, 2);
        for _ in 0..20 {
            if buggify!() {
                reachable!("a bump was skipped by buggify");
                continue;
            }
            let step = p.random_range(0..step_max);
            always_less_than!(step, 100, "a bump is below 100");
            self.total += step;
            p.sleep(Duration::from_millis(step)).await;
        }
        sometimes!(self.total < 20, "the total stays tiny");
        sometimes_greater_than!(self.total, 1_300, "the total gets large");
        Ok(())
    }

    async fn check(&mut self, _ctx: &SimContext) -> WorkloadResult {
        always!(
            self.total < 2_000,
            "the total is bounded",
            "total = {}",
            self.total
        );
        if self.total > 1_000_000 {
            assert_unreachable!("an impossible total");
        }
        Ok(())
    }
}

fn main() {
    let max_seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let sim = SimulationBuilder::new()
        .workload("bumper", 1, |_| Bumper { total: 0 })
        .chaos(true)
        .build()
        .expect("a valid simulation");
    let mut coverage = Coverage::for_modules(&["coverage"]);
    for seed in 0..max_seeds {
        let report = sim.run_seed(seed);
        if let Some(failure) = report.outcome.failure() {
            println!("seed {seed} failed: {failure}");
        }
        coverage.observe(&report);
        if coverage.all_sometimes_satisfied() {
            break;
        }
    }
    print!("{}", coverage.render());
    let registered = moonpool_core::assertion_sites().len();
    println!("({registered} assertion sites registered in this binary)");
    if !coverage.all_sometimes_satisfied() {
        std::process::exit(1);
    }
}
