//! The debugging flags: fault selections, `--minimize`, and the trace
//! filter and window, parsed, checked, and refused when they make no sense.

use std::time::Duration;

use moonpool_sim::cli::CliError;

use super::{err, err_env, sim, sim_env};

#[test]
fn fault_selections_fill_the_plan_and_its_replay_lines() {
    let s = sim(&[
        "sim",
        "--chaos",
        "--faults",
        "net.clog, disk.slow",
        "--no-faults=process.attrition",
        "--buggify-sites",
        "none",
        "--seed",
        "7",
    ]);
    let f = &s.plan().faults;
    assert_eq!(
        f.only,
        Some(["disk.slow".to_string(), "net.clog".to_string()].into())
    );
    assert_eq!(f.off, ["process.attrition".to_string()].into());
    assert_eq!(f.buggify_sites, Some(Default::default()));
    let line = s.plan().replay.line_with_faults(7, true, false, f);
    assert!(
        line.ends_with(
            "--faults disk.slow,net.clog --no-faults process.attrition --buggify-sites none --chaos --seed 0x7"
        ),
        "{line}"
    );
}

#[test]
fn fault_selections_come_from_their_variables_too() {
    let s = sim_env(&["sim", "--chaos"], &[("MOONPOOL_FAULTS", "net.partition")]);
    assert_eq!(
        s.plan().faults.only,
        Some(["net.partition".to_string()].into())
    );
}

#[test]
fn an_unknown_fault_family_is_refused_with_the_known_ones() {
    let e = err(&["sim", "--chaos", "--faults", "net.partitoin"]);
    assert!(matches!(e, CliError::UnknownFault(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("net.partitoin") && text.contains("net.partition"),
        "{text}"
    );
    let e = err_env(&["sim", "--chaos"], &[("MOONPOOL_BUGGIFY_SITES", "a::b:1")]);
    assert!(e.to_string().contains("a::b:1"), "{e}");
}

#[test]
fn a_fault_selection_without_chaos_is_refused() {
    let e = err(&["sim", "--no-chaos", "--faults", "net.clog"]);
    assert!(matches!(e, CliError::Conflict { .. }), "{e:?}");
}

#[test]
fn minimize_needs_one_seed_and_excludes_the_determinism_check() {
    assert!(sim(&["sim", "--seed", "3", "--minimize"]).minimize());
    let e = err(&["sim", "--seeds", "3", "--minimize"]);
    assert!(matches!(e, CliError::Requires { .. }), "{e:?}");
    let e = err(&["sim", "--seed", "3", "--minimize", "--check-determinism"]);
    assert!(matches!(e, CliError::Conflict { .. }), "{e:?}");
}

#[test]
fn trace_filters_and_windows_need_a_trace_and_must_parse() {
    let e = err(&["sim", "--trace-filter", "level=debug"]);
    assert!(matches!(e, CliError::Requires { .. }), "{e:?}");
    let e = err(&["sim", "--trace", "-", "--trace-filter", "level=loud"]);
    assert!(matches!(e, CliError::InvalidTraceFilter { .. }), "{e:?}");
    let e = err(&["sim", "--trace", "-", "--trace-from", "1.2"]);
    assert!(matches!(e, CliError::InvalidDuration { .. }), "{e:?}");
    let e = err(&[
        "sim",
        "--trace",
        "-",
        "--trace-from",
        "2s",
        "--trace-until",
        "1s",
    ]);
    assert!(matches!(e, CliError::InvalidTraceFilter { .. }), "{e:?}");
    let s = sim(&[
        "sim",
        "--trace",
        "-",
        "--trace-filter",
        "process=server,kv=debug",
        "--trace-from",
        "1.2s",
        "--trace-until",
        "1500ms",
    ]);
    assert_eq!(s.trace(), Some("-"));
    let f = s.trace_filter();
    assert_eq!(f.from, Some(Duration::from_millis(1200)));
    assert_eq!(f.until, Some(Duration::from_millis(1500)));
    assert_eq!(f.processes, Some(["server".to_string()].into()));
}

#[test]
fn the_timeline_picture_needs_one_seed_and_not_minimize() {
    let s = sim(&["sim", "--seed", "3", "--timeline", "t.html"]);
    assert_eq!(s.timeline(), Some("t.html"));
    let e = err(&["sim", "--seeds", "3", "--timeline", "t.html"]);
    assert!(matches!(e, CliError::Requires { .. }), "{e:?}");
    let e = err(&["sim", "--seed", "3", "--minimize", "--timeline", "t.html"]);
    assert!(matches!(e, CliError::Conflict { .. }), "{e:?}");
}
