//! The human report: a header, one table row per seed (with the failure
//! and its replay line right under a failed row, and the chaos timeline of
//! a replayed seed), then a summary.

use std::fmt::Write as _;

use super::{rate, sim, wall};
use crate::runner::coverage::SiteStatus;
use crate::runner::report::SeedReport;
use crate::runner::sweep::plan::{SeedPlan, SweepPlan};
use crate::runner::sweep::report::{StopReason, SweepReport};
use crate::runner::sweep::{SweepSummary, is_fault_kind};

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// How to rerun the same seeds as `plan`, as flags.
fn rerun_flags(plan: &SweepPlan) -> String {
    let mut flags = format!("--first-seed {:#x}", plan.seeds.first());
    match (&plan.seeds, plan.until) {
        (_, Some(_)) => {
            let _ = write!(
                flags,
                " --until-all-sometimes --max-seeds {}",
                plan.seeds.count()
            );
        }
        (SeedPlan::Range { count, .. }, None) if *count != u64::MAX => {
            let _ = write!(flags, " --seeds {count}");
        }
        _ => {}
    }
    if let Some(shard) = plan.shard {
        let _ = write!(flags, " --shard {shard}");
    }
    flags
}

const ROW_HEADER: &str = "seed                outcome  fingerprint          sim time        wall          events   events/s  faults\n";

/// The lines printed before the first seed.
pub(crate) fn header(
    title: &str,
    plan: &SweepPlan,
    chaos: bool,
    fresh: bool,
    every_row: bool,
) -> String {
    let mut text = String::new();
    match &plan.seeds {
        SeedPlan::List(seeds) => {
            let _ = write!(
                text,
                "{title}: {} listed seed(s)",
                plan.seeds_planned().min(seeds.len() as u64)
            );
            if let Some(shard) = plan.shard {
                let _ = write!(text, " (shard {shard})");
            }
            let _ = writeln!(text, ", chaos {}", on_off(chaos));
        }
        SeedPlan::One(seed) => {
            let _ = writeln!(
                text,
                "{title}: replaying seed {seed:#x}, chaos {}",
                on_off(chaos)
            );
        }
        SeedPlan::Range { first, count } => {
            let what = match (plan.until, *count) {
                (Some(_), n) => {
                    format!("seeds until every sometimes assertion is satisfied (at most {n})")
                }
                (None, u64::MAX) => "seeds until the time budget runs out".to_string(),
                (None, n) => format!("{} seed(s)", plan.seeds_planned().min(n)),
            };
            let _ = write!(text, "{title}: {what} from {first:#x}");
            if let Some(shard) = plan.shard {
                let _ = write!(text, " (shard {shard})");
            }
            let _ = writeln!(text, ", chaos {}", on_off(chaos));
            if fresh {
                let _ = writeln!(
                    text,
                    "{title}: fresh first seed; rerun these seeds with: {}",
                    rerun_flags(plan)
                );
            }
        }
    }
    if let Some(budget) = plan.time_budget {
        let _ = writeln!(text, "{title}: time budget {}", wall(budget));
    }
    if plan.check_determinism {
        let _ = writeln!(text, "{title}: checking determinism (each seed runs twice)");
    }
    if !every_row {
        let _ = writeln!(
            text,
            "{title}: only failed seeds get a row (--verbose lists every seed, --json too)"
        );
    }
    text.push_str(ROW_HEADER);
    text
}

/// The row of one seed, its failure and replay line, and its timeline.
pub(crate) fn row(report: &SeedReport, sweep: &SweepReport) -> String {
    let faults: u64 = report
        .counters
        .iter()
        .filter(|(kind, _)| is_fault_kind(kind))
        .map(|(_, n)| n)
        .sum();
    let mut text = format!(
        "{:<19} {:<8} {:#018x}   {:<15} {:<12} {:>8} {:>10}  {}\n",
        format!("{:#x}", report.seed),
        if report.outcome.is_pass() {
            "pass"
        } else {
            "FAIL"
        },
        report.fingerprint,
        sim(report.sim_time),
        wall(report.wall_time),
        report.events,
        rate(crate::runner::sweep::per_sec(
            report.events,
            report.wall_time
        )),
        faults,
    );
    if let Some(failure) = report.outcome.failure() {
        let _ = writeln!(text, "  error:  {failure}");
        let _ = writeln!(text, "  replay: {}", sweep.replay_line(report.seed));
    }
    if !report.timeline.is_empty() {
        let _ = writeln!(text, "  timeline of seed {:#x}:", report.seed);
        let _ = writeln!(text, "    {:<15} {:<16} event", "time", "process");
        for e in &report.timeline {
            let _ = writeln!(
                text,
                "    {:<15} {:<16} {}: {}",
                sim(e.time),
                e.process,
                e.kind,
                e.detail
            );
        }
    }
    text
}

/// The summary block of a sweep: totals, fault counts, the coverage
/// table, and every kept failure.
pub(crate) fn summary(title: &str, sweep: &SweepReport, fresh: bool) -> String {
    let plan = &sweep.plan;
    let totals = SweepSummary::of(sweep, fresh);
    let mut text = String::new();
    let _ = writeln!(text, "--- {title} summary ---");
    let planned = match (&plan.seeds, plan.until) {
        (_, Some(_))
        | (
            SeedPlan::Range {
                count: u64::MAX, ..
            },
            _,
        ) => String::new(),
        _ => format!(" of {}", plan.seeds_planned()),
    };
    let _ = writeln!(
        text,
        "seeds        {}{planned} run: {} passed, {} failed",
        sweep.seeds_run, sweep.passed, sweep.failed
    );
    let label = match plan.seeds {
        SeedPlan::One(_) => "seed        ",
        _ => "first seed  ",
    };
    let _ = writeln!(text, "{label} {}", settings(&totals));
    let stopped = match &sweep.stopped {
        StopReason::Completed => "every planned seed ran".to_string(),
        StopReason::TimeBudget(b) => format!(
            "time budget of {} reached after {} seed(s)",
            wall(*b),
            sweep.seeds_run
        ),
        StopReason::Condition(what) => {
            format!("goal met after {} seed(s): {what}", sweep.seeds_run)
        }
        StopReason::MaxFailures(n) => format!(
            "stopped at the seed that made {n} failure(s), after {} seed(s)",
            sweep.seeds_run
        ),
    };
    let _ = writeln!(text, "stopped      {stopped}");
    tables(&mut text, &totals);
    if !sweep.coverage.sites().is_empty() || !sweep.coverage.buggify_sites().is_empty() {
        let _ = writeln!(text, "assertions");
        for line in sweep.coverage.render().lines() {
            let _ = writeln!(text, "  {line}");
        }
    }
    let goal_unmet = (sweep.plan.until.is_some() && !sweep.coverage.all_sometimes_satisfied())
        .then(|| sweep.coverage.unsatisfied_sometimes().count());
    failures_and_result(&mut text, &totals, goal_unmet);
    text
}

/// The summary of many sweeps merged (`merge`, a seeds file run in
/// several groups): totals, fault counts, the coverage sites not
/// satisfied, every kept failure. `require_sometimes` makes a `sometimes`
/// site never satisfied fail the result.
pub(crate) fn merged(title: &str, totals: &SweepSummary, require_sometimes: bool) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "--- {title} summary ---");
    let planned = match totals.seeds_planned {
        Some(n) => format!(" of {n}"),
        None => String::new(),
    };
    let _ = writeln!(
        text,
        "seeds        {}{planned} run in {} report(s): {} passed, {} failed",
        totals.seeds_run, totals.reports, totals.passed, totals.failed
    );
    let _ = writeln!(text, "first seed   {}", settings(totals));
    let _ = writeln!(
        text,
        "stopped      {}",
        match &totals.stop_condition {
            Some(what) => format!("{}: {what}", totals.stopped),
            None => totals.stopped.clone(),
        }
    );
    tables(&mut text, totals);
    let coverage = &totals.assertions;
    if !coverage.sites.is_empty() {
        let unsatisfied: Vec<_> = coverage
            .sites
            .iter()
            .filter(|s| s.status != SiteStatus::Satisfied)
            .collect();
        let _ = writeln!(
            text,
            "assertions   {} sites over {} seeds, {} not satisfied",
            coverage.sites.len(),
            coverage.seeds,
            unsatisfied.len()
        );
        for site in unsatisfied {
            let _ = writeln!(
                text,
                "  {:<14} {} {:?} at {}:{}:{} ({} evaluations in {} seeds)",
                site.status.label(),
                site.assertion,
                site.message,
                site.file,
                site.line,
                site.column,
                site.evaluations,
                site.seeds_reached
            );
        }
    }
    let gaps = totals.shard_gaps();
    if !gaps.is_empty() {
        let _ = writeln!(text, "shards       not merged once each:");
        for gap in &gaps {
            let _ = writeln!(text, "  {gap}");
        }
    }
    let goal_unmet = (require_sometimes && !coverage.all_sometimes_satisfied)
        .then(|| coverage.unsatisfied_sometimes().count());
    if gaps.is_empty() || totals.failed > 0 {
        failures_and_result(&mut text, totals, goal_unmet);
    } else {
        let _ = writeln!(
            text,
            "RESULT: FAIL (incomplete: {} shard gap(s); {} seeds merged)",
            gaps.len(),
            totals.seeds_run
        );
    }
    text
}

/// `0x2a (fresh); chaos on; check-determinism off; shard 1/4`.
fn settings(totals: &SweepSummary) -> String {
    let known = |b: Option<bool>| b.map_or("mixed", on_off);
    let mut text = match totals.first_seed {
        Some(seed) => format!("{seed:#x}"),
        None => "mixed".to_string(),
    };
    if totals.first_seed_fresh {
        text.push_str(" (fresh)");
    }
    let _ = write!(
        text,
        "; chaos {}; check-determinism {}",
        known(totals.chaos),
        known(totals.check_determinism)
    );
    if totals.chaos == Some(false) {
        text.push_str(" (quiet: no faults injected)");
    }
    if let Some(shard) = &totals.shard {
        let _ = write!(text, "; shard {shard}");
    }
    text
}

/// Time, events, faults, metrics and families.
fn tables(text: &mut String, totals: &SweepSummary) {
    let sim_time = std::time::Duration::from_nanos(totals.sim_time_ns);
    let wall_time = std::time::Duration::from_nanos(totals.wall_time_ns);
    let ratio = if wall_time.is_zero() {
        0.0
    } else {
        sim_time.as_secs_f64() / wall_time.as_secs_f64()
    };
    let _ = writeln!(
        text,
        "time         sim {} total, wall {} total, sim/wall {ratio:.1}x",
        sim(sim_time),
        wall(wall_time),
    );
    let _ = writeln!(
        text,
        "events       {} total, {} events/s",
        totals.events,
        rate(crate::runner::sweep::per_sec(totals.events, wall_time))
    );
    if !totals.faults.is_empty() {
        let _ = writeln!(
            text,
            "faults       {:<28} {:>10} {:>8} {:>10}",
            "kind", "total", "seeds", "on system"
        );
        for (kind, tally) in &totals.faults {
            let _ = writeln!(
                text,
                "             {kind:<28} {:>10} {:>8} {:>10}",
                tally.total, tally.seeds, tally.on_system
            );
        }
    }
    if !totals.metrics.is_empty() {
        let _ = writeln!(text, "metrics      {:<28} {:>10}", "name", "total");
        for (name, total) in &totals.metrics {
            let _ = writeln!(text, "             {name:<28} {total:>10}");
        }
    }
    if !totals.fault_families.is_empty() {
        let _ = writeln!(text, "families     {:<28} {:>10}", "family", "seeds on");
        for (family, seeds_on) in &totals.fault_families {
            let _ = writeln!(
                text,
                "             {family:<28} {:>10}",
                format!("{seeds_on}/{}", totals.seeds_run)
            );
        }
    }
}

/// Every kept failure with its replay line, then the one-line result.
/// `goal_unmet`: the count of `sometimes` sites never satisfied, when
/// they make the result fail.
fn failures_and_result(text: &mut String, totals: &SweepSummary, goal_unmet: Option<usize>) {
    if totals.failed > 0 {
        let _ = writeln!(text, "failures ({}):", totals.failed);
        for f in &totals.failures {
            let _ = writeln!(text, "  seed {:#x}: {}", f.seed, f.error);
            let _ = writeln!(text, "    replay: {}", f.replay);
        }
        let unlisted = totals.failed.saturating_sub(totals.failures.len() as u64);
        if unlisted > 0 {
            let _ = writeln!(
                text,
                "  ... and {unlisted} more (listed above, or use --json)"
            );
        }
        let _ = writeln!(
            text,
            "RESULT: FAIL ({} of {} seeds failed)",
            totals.failed, totals.seeds_run
        );
    } else if let Some(unmet) = goal_unmet {
        let _ = writeln!(
            text,
            "RESULT: FAIL (goal unmet: {unmet} sometimes site(s) never satisfied in {} seeds)",
            totals.seeds_run
        );
    } else {
        let _ = writeln!(text, "RESULT: PASS ({} seeds)", totals.seeds_run);
    }
}
