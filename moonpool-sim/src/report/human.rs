//! The human report: a header, one table row per seed (with the failure
//! and its replay line right under a failed row, and the chaos timeline of
//! a replayed seed), then a summary.

use std::fmt::Write as _;

use super::{rate, sim, wall};
use crate::runner::report::SeedReport;
use crate::runner::sweep::is_fault_kind;
use crate::runner::sweep::plan::{SeedPlan, SweepPlan};
use crate::runner::sweep::report::{StopReason, SweepReport};

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// How to rerun the same seeds as `plan`, as flags.
fn rerun_flags(plan: &SweepPlan) -> String {
    let mut flags = format!("--first-seed {:#x}", plan.seeds.first());
    match (plan.seeds, plan.until) {
        (_, Some(_)) => {
            let _ = write!(
                flags,
                " --until-all-sometimes --max-seeds {}",
                plan.seeds.count()
            );
        }
        (SeedPlan::Range { count, .. }, None) if count != u64::MAX => {
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
    pass_rows: bool,
) -> String {
    let mut text = String::new();
    match plan.seeds {
        SeedPlan::One(seed) => {
            let _ = writeln!(
                text,
                "{title}: replaying seed {seed:#x}, chaos {}",
                on_off(chaos)
            );
        }
        SeedPlan::Range { first, count } => {
            let what = match (plan.until, count) {
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
    if !pass_rows {
        let _ = writeln!(
            text,
            "{title}: more than {} seeds planned: only failed seeds get a row (--json lists every seed)",
            super::PASS_ROWS_MAX
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

/// The summary block: totals, fault counts, and every kept failure.
pub(crate) fn summary(title: &str, sweep: &SweepReport, fresh: bool) -> String {
    let plan = &sweep.plan;
    let mut text = String::new();
    let _ = writeln!(text, "--- {title} summary ---");
    let planned = match (plan.seeds, plan.until) {
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
    let mut settings = format!(
        "{:#x}{}; chaos {}; check-determinism {}",
        plan.seeds.first(),
        if fresh { " (fresh)" } else { "" },
        on_off(sweep.chaos),
        on_off(plan.check_determinism)
    );
    if let Some(shard) = plan.shard {
        let _ = write!(settings, "; shard {shard}");
    }
    let label = match plan.seeds {
        SeedPlan::One(_) => "seed        ",
        SeedPlan::Range { .. } => "first seed  ",
    };
    let _ = writeln!(text, "{label} {settings}");
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
    };
    let _ = writeln!(text, "stopped      {stopped}");
    let _ = writeln!(
        text,
        "time         sim {} total, wall {} total, sim/wall {:.1}x",
        sim(sweep.sim_time),
        wall(sweep.wall_time),
        sweep.sim_wall_ratio()
    );
    let _ = writeln!(
        text,
        "events       {} total, {} events/s",
        sweep.events,
        rate(sweep.events_per_sec())
    );
    if !sweep.faults.is_empty() {
        let _ = writeln!(
            text,
            "faults       {:<28} {:>10} {:>8} {:>10}",
            "kind", "total", "seeds", "on system"
        );
        for (kind, tally) in &sweep.faults {
            let _ = writeln!(
                text,
                "             {kind:<28} {:>10} {:>8} {:>10}",
                tally.total, tally.seeds, tally.on_system
            );
        }
    }
    if !sweep.metrics.is_empty() {
        let _ = writeln!(text, "metrics      {:<28} {:>10}", "name", "total");
        for (name, total) in &sweep.metrics {
            let _ = writeln!(text, "             {name:<28} {total:>10}");
        }
    }
    if !sweep.fault_families.is_empty() {
        let _ = writeln!(text, "families     {:<28} {:>10}", "family", "seeds on");
        for (family, seeds_on) in &sweep.fault_families {
            let _ = writeln!(
                text,
                "             {family:<28} {:>10}",
                format!("{seeds_on}/{}", sweep.seeds_run)
            );
        }
    }
    if !sweep.coverage.sites().is_empty() || !sweep.coverage.buggify_sites().is_empty() {
        let _ = writeln!(text, "assertions");
        for line in sweep.coverage.render().lines() {
            let _ = writeln!(text, "  {line}");
        }
    }
    if sweep.failed > 0 {
        let _ = writeln!(text, "failures ({}):", sweep.failed);
        for f in &sweep.failures {
            let message = f
                .outcome
                .failure()
                .map(ToString::to_string)
                .unwrap_or_default();
            let _ = writeln!(text, "  seed {:#x}: {message}", f.seed);
            let _ = writeln!(text, "    replay: {}", sweep.replay_line(f.seed));
        }
        let unlisted = sweep.failed.saturating_sub(sweep.failures.len() as u64);
        if unlisted > 0 {
            let _ = writeln!(
                text,
                "  ... and {unlisted} more (listed above, or use --json)"
            );
        }
        let _ = writeln!(
            text,
            "RESULT: FAIL ({} of {} seeds failed)",
            sweep.failed, sweep.seeds_run
        );
    } else if sweep.plan.until.is_some() && !sweep.coverage.all_sometimes_satisfied() {
        let _ = writeln!(
            text,
            "RESULT: FAIL (goal unmet: {} sometimes site(s) never satisfied in {} seeds)",
            sweep.coverage.unsatisfied_sometimes().count(),
            sweep.seeds_run
        );
    } else {
        let _ = writeln!(text, "RESULT: PASS ({} seeds)", sweep.seeds_run);
    }
    text
}
