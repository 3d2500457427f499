//! The code of the book's chapter "Assertions and coverage"
//! (`docs/src/assertions.md`): assertions written into the code under
//! test, what a violation does in simulation and outside it, and the
//! coverage report accumulated across seeds.
//!
//! `cargo run -p moonpool-examples --example book_assertions` sweeps until
//! every `sometimes` of this file was satisfied and prints the coverage
//! report; `cargo test -p moonpool-examples --example book_assertions`
//! checks what the chapter says.
//!
//! The system: clients that keep a leader's term and a buffer of writes.
//! The planted bug (`term_goes_back`) lets a term go back by two in one
//! client in four.

use std::time::Duration;

use moonpool_core::{RandomProvider, TimeProvider};
use moonpool_sim::assertions::Coverage;
use moonpool_sim::{
    ConfigError, SimContext, Simulation, SimulationBuilder, Workload, WorkloadResult, always,
    sometimes,
};

// ANCHOR: on_ack
/// Called when the disk acknowledged `acked` of the `buffered` bytes.
fn on_ack(buffered: usize, acked: usize) {
    always!(
        acked <= buffered,
        "never ack what was not buffered",
        "acked {acked} > buffered {buffered}"
    );
    sometimes!(acked == buffered, "an ack covers the whole buffer");
}
// ANCHOR_END: on_ack

/// Called when a process learns of a new term.
fn on_new_term(term: u64, last_term: u64) {
    // ANCHOR: details
    always!(
        term >= last_term,
        "terms never go back",
        "term {term} after {last_term}"
    );
    // ANCHOR_END: details
}

/// One client: 30 rounds of a term change and a partial or whole ack.
struct Node {
    term_goes_back: bool,
}

impl Workload for Node {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        let planted = self.term_goes_back && p.random_range(0..4u64) == 0;
        let mut term = 1u64;
        for round in 0..30 {
            p.sleep(Duration::from_millis(p.random_range(1..=10u64)))
                .await;
            let next = if planted && round == 15 {
                term.saturating_sub(2)
            } else {
                term + p.random_range(0..2u64)
            };
            on_new_term(next, term);
            term = next;
            let buffered = p.random_range(1..=8usize);
            on_ack(buffered, p.random_range(0..=buffered));
        }
        Ok(())
    }
}

fn simulation(term_goes_back: bool) -> Result<Simulation, ConfigError> {
    SimulationBuilder::new()
        .workload("node", 2, move |_| Node { term_goes_back })
        .build()
}

/// Runs seeds `0..max_seeds` until every `sometimes` of this file held.
fn coverage_until_all_sometimes(sim: &Simulation, max_seeds: u64) -> Coverage {
    // ANCHOR: coverage
    let mut coverage = Coverage::for_modules(&["book_assertions"]);
    for seed in 0..max_seeds {
        coverage.observe(&sim.run_seed(seed));
        if coverage.all_sometimes_satisfied() {
            break; // what --until-all-sometimes does
        }
    }
    println!("{}", coverage.render()); // the human table
    let json = coverage.to_json(); // for CI (or coverage.summary(), serde-serializable)
    // ANCHOR_END: coverage
    assert!(json.is_object());
    coverage
}

fn main() -> Result<(), ConfigError> {
    let coverage = coverage_until_all_sometimes(&simulation(false)?, 1_000);
    if !coverage.all_sometimes_satisfied() {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use moonpool_sim::SeedFailure;
    use moonpool_sim::assertions::SiteStatus;

    #[test]
    fn a_violated_always_fails_the_seed_with_its_details() -> Result<(), ConfigError> {
        let sim = simulation(true)?;
        let failed = (1..40)
            .map(|seed| sim.run_seed(seed))
            .find(|r| !r.outcome.is_pass())
            .expect("one client in four lets its term go back: a seed of 40 fails");
        let failure = failed.outcome.failure().expect("a failure");
        assert!(
            matches!(failure, SeedFailure::Assertion { .. }),
            "{failure}"
        );
        let message = failure.to_string();
        assert!(message.contains("'terms never go back'"), "{message}");
        assert!(message.contains("examples/book_assertions.rs"), "{message}");
        assert!(message.contains(" after "), "{message}");
        Ok(())
    }

    #[test]
    fn outside_a_simulation_a_violation_does_not_panic() {
        on_new_term(1, 5);
        on_ack(1, 2);
    }

    #[test]
    fn coverage_reaches_every_sometimes_and_lists_every_site_of_the_module()
    -> Result<(), ConfigError> {
        let coverage = coverage_until_all_sometimes(&simulation(false)?, 200);
        assert!(coverage.all_sometimes_satisfied());
        assert!(coverage.seeds() < 200, "the sweep stopped early");
        let messages: Vec<&str> = coverage.sites().iter().map(|s| s.site.message).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        let sometimes = coverage
            .site_named("an ack covers the whole buffer")
            .expect("registered");
        assert_eq!(sometimes.status(), SiteStatus::Satisfied);
        assert!(sometimes.false_count > 0, "a partial ack happened too");
        let always = coverage
            .site_named("terms never go back")
            .expect("registered");
        assert_eq!(always.status(), SiteStatus::Satisfied);
        assert_eq!(always.false_count, 0);
        Ok(())
    }
}
