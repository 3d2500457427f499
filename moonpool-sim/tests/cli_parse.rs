//! The command line: every flag, every refusal (exit code 2), environment
//! variables and their precedence, and the replay line. In-process, through
//! `SimCli::parse_with` and `SimCli::run_with`.

use std::process::ExitCode;
use std::time::Duration;

use moonpool_core::TimeProvider;
use moonpool_sim::cli::{CliArgs, CliError, Invocation, SimCli};
use moonpool_sim::runner::sweep::Until;
use moonpool_sim::{SeedPlan, Shard, SimContext, Simulation, SimulationBuilder, Workload};

const FRESH: u64 = 0xF2E5;

fn cli() -> SimCli {
    SimCli::new("demo")
        .about("a test binary")
        .option("bug", "NAME", "plant a bug")
        .flag("fast", "go fast")
        .action_flag("list-bugs", "list bugs", || {})
        .subcommand("real", "run for real", |_| ExitCode::SUCCESS)
}

fn parse_env(args: &[&str], env: &[(&str, &str)]) -> Result<Invocation, CliError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    cli().parse_with(&args, &lookup, &mut || FRESH)
}

fn parse(args: &[&str]) -> Result<Invocation, CliError> {
    parse_env(args, &[])
}

fn sim_env(args: &[&str], env: &[(&str, &str)]) -> CliArgs {
    match parse_env(args, env) {
        Ok(Invocation::Sim(a)) => a,
        other => panic!("{args:?} {env:?}: expected a sim invocation, got {other:?}"),
    }
}

fn sim(args: &[&str]) -> CliArgs {
    sim_env(args, &[])
}

fn err(args: &[&str]) -> CliError {
    match parse(args) {
        Err(e) => e,
        Ok(i) => panic!("{args:?} should be refused, parsed as {i:?}"),
    }
}

fn err_env(args: &[&str], env: &[(&str, &str)]) -> CliError {
    match parse_env(args, env) {
        Err(e) => e,
        Ok(i) => panic!("{args:?} {env:?} should be refused, parsed as {i:?}"),
    }
}

#[test]
fn defaults_are_100_fresh_seeds_with_the_binarys_chaos_default() {
    let a = sim(&["sim"]);
    assert_eq!(
        a.plan().seeds,
        SeedPlan::Range {
            first: FRESH,
            count: 100
        }
    );
    assert!(a.first_seed_fresh());
    assert!(a.chaos(), "SimCli defaults to chaos on");
    assert!(!a.json() && !a.quiet() && a.trace().is_none());
    assert!(!a.plan().check_determinism);
    assert_eq!(a.plan().shard, None);
    assert_eq!(a.plan().time_budget, None);
    let off = SimCli::new("x").default_chaos(false);
    match off.parse_with(&["sim".to_string()], &|_| None, &mut || 1) {
        Ok(Invocation::Sim(a)) => assert!(!a.chaos()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_flag_is_understood() {
    let a = sim(&["sim", "--seed", "0x2a"]);
    assert_eq!(a.plan().seeds, SeedPlan::One(42));
    assert!(
        a.plan().record_timeline,
        "a replayed seed records its timeline"
    );
    assert!(!a.first_seed_fresh());
    assert_eq!(sim(&["sim", "--seed=42"]).plan().seeds, SeedPlan::One(42));

    let a = sim(&["sim", "--seeds", "10", "--first-seed", "0x5"]);
    assert_eq!(
        a.plan().seeds,
        SeedPlan::Range {
            first: 5,
            count: 10
        }
    );
    assert!(!a.first_seed_fresh());

    let a = sim(&["sim", "--seeds=1_000", "--shard", "2/4"]);
    assert_eq!(a.plan().seeds.count(), 1000);
    assert_eq!(a.plan().shard, Some(Shard::new(2, 4).expect("valid")));
    assert_eq!(a.plan().seeds_planned(), 250);

    let a = sim(&["sim", "--time-budget", "30s"]);
    assert_eq!(a.plan().time_budget, Some(Duration::from_secs(30)));
    assert_eq!(
        a.plan().seeds.count(),
        u64::MAX,
        "a budget alone is unbounded"
    );
    let a = sim(&["sim", "--time-budget", "500ms", "--seeds", "7"]);
    assert_eq!(a.plan().time_budget, Some(Duration::from_millis(500)));
    assert_eq!(a.plan().seeds.count(), 7);
    assert_eq!(
        sim(&["sim", "--time-budget=2m"]).plan().time_budget,
        Some(Duration::from_secs(120))
    );

    assert!(
        sim(&["sim", "--check-determinism"])
            .plan()
            .check_determinism
    );
    assert!(!sim(&["sim", "--no-chaos"]).chaos());
    assert!(sim(&["sim", "--chaos"]).chaos());
    let a = sim(&["sim", "--json"]);
    assert!(a.json() && a.quiet(), "--json implies quiet");
    assert!(sim(&["sim", "--quiet"]).quiet());
    assert_eq!(sim(&["sim", "--trace", "t.log"]).trace(), Some("t.log"));

    let a = sim(&["sim", "--until-all-sometimes"]);
    assert_eq!(a.plan().until, Some(Until::AllSometimes));
    assert_eq!(a.plan().seeds.count(), 10_000);
    let a = sim(&["sim", "--until-all-sometimes", "--max-seeds", "50"]);
    assert_eq!(a.plan().seeds.count(), 50);
}

#[test]
fn the_binarys_own_options_are_read_and_replayed_in_declaration_order() {
    let a = sim(&["sim", "--fast", "--seed", "7", "--bug", "skip-sync"]);
    assert_eq!(a.option("bug"), Some("skip-sync"));
    assert!(a.flag("fast"));
    assert_eq!(a.option("nope"), None);
    assert_eq!(
        a.plan().replay.line(7, a.chaos(), false),
        "demo sim --bug skip-sync --fast --chaos --seed 0x7"
    );
    let b = sim(&["sim", "--bug=it's", "--no-chaos"]);
    assert_eq!(
        b.plan().replay.line(0xabc, b.chaos(), true),
        r"demo sim --bug 'it'\''s' --check-determinism --no-chaos --seed 0xabc"
    );
}

#[test]
fn help_actions_and_subcommands() {
    assert!(matches!(parse(&["--help"]), Ok(Invocation::Help)));
    assert!(matches!(parse(&["help"]), Ok(Invocation::Help)));
    assert!(matches!(parse(&["sim", "-h"]), Ok(Invocation::Help)));
    assert!(matches!(parse(&["--list-bugs"]), Ok(Invocation::Action(n)) if n == "list-bugs"));
    assert!(
        matches!(parse(&["sim", "--list-bugs"]), Ok(Invocation::Action(n)) if n == "list-bugs")
    );
    match parse(&["real", "--count", "3"]) {
        Ok(Invocation::Subcommand { name, args }) => {
            assert_eq!(name, "real");
            assert_eq!(args, vec!["--count".to_string(), "3".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    let usage = cli().usage();
    for needle in [
        "--seed S",
        "--seeds N",
        "--first-seed S",
        "--shard K/N",
        "--time-budget DURATION",
        "--check-determinism",
        "--chaos",
        "--no-chaos",
        "--until-all-sometimes",
        "--max-seeds N",
        "--json",
        "--trace FILE",
        "--quiet",
        "MOONPOOL_SEED",
        "--bug NAME",
        "--list-bugs",
        "demo real",
        "exit codes",
    ] {
        assert!(usage.contains(needle), "usage lacks {needle:?}:\n{usage}");
    }
}

#[test]
fn structural_errors() {
    assert_eq!(err(&[]), CliError::MissingSubcommand);
    assert_eq!(err(&["frob"]), CliError::UnknownSubcommand("frob".into()));
    assert_eq!(
        err(&["sim", "--sed", "1"]),
        CliError::UnknownFlag {
            flag: "--sed".into(),
            suggestion: Some("--seed".into())
        }
    );
    assert!(matches!(
        err(&["--seed", "1"]),
        CliError::UnknownFlag { .. }
    ));
    assert!(matches!(
        err(&["sim", "--frobnicate"]),
        CliError::UnknownFlag {
            suggestion: None,
            ..
        }
    ));
    assert_eq!(
        err(&["sim", "extra"]),
        CliError::UnexpectedArgument("extra".into())
    );
    assert_eq!(
        err(&["sim", "--seed"]),
        CliError::MissingValue {
            flag: "--seed".into(),
            value_name: "S"
        }
    );
    assert!(matches!(
        err(&["sim", "--seed", "--json"]),
        CliError::MissingValue { .. }
    ));
    assert!(matches!(
        err(&["sim", "--bug"]),
        CliError::MissingValue { .. }
    ));
    assert_eq!(
        err(&["sim", "--json=1"]),
        CliError::UnexpectedValue {
            flag: "--json".into()
        }
    );
    assert!(matches!(
        err(&["sim", "--fast=yes"]),
        CliError::UnexpectedValue { .. }
    ));
}

#[test]
fn duplicates_and_conflicts() {
    assert_eq!(
        err(&["sim", "--json", "--json"]),
        CliError::Duplicate {
            flag: "--json".into()
        }
    );
    assert_eq!(
        err(&["sim", "--seeds", "1", "--seeds", "2"]),
        CliError::Duplicate {
            flag: "--seeds".into()
        }
    );
    assert_eq!(
        err(&["sim", "--bug", "a", "--bug", "b"]),
        CliError::Duplicate {
            flag: "--bug".into()
        }
    );
    assert!(matches!(
        err(&["sim", "--fast", "--fast"]),
        CliError::Duplicate { .. }
    ));
    let conflict = |args: &[&str], a: &str, b: &str| match err(args) {
        CliError::Conflict { first, second, .. } => {
            assert_eq!((first.as_str(), second.as_str()), (a, b), "{args:?}")
        }
        other => panic!("{args:?}: expected a conflict, got {other:?}"),
    };
    conflict(&["sim", "--seed", "1", "--seeds", "5"], "--seed", "--seeds");
    conflict(
        &["sim", "--seed", "1", "--first-seed", "5"],
        "--seed",
        "--first-seed",
    );
    conflict(
        &["sim", "--seed", "1", "--shard", "1/2"],
        "--seed",
        "--shard",
    );
    conflict(
        &["sim", "--seed", "1", "--until-all-sometimes"],
        "--seed",
        "--until-all-sometimes",
    );
    conflict(&["sim", "--chaos", "--no-chaos"], "--chaos", "--no-chaos");
    conflict(&["sim", "--no-chaos", "--chaos"], "--no-chaos", "--chaos");
    conflict(
        &["sim", "--seeds", "5", "--until-all-sometimes"],
        "--seeds",
        "--until-all-sometimes",
    );
    assert_eq!(
        err(&["sim", "--max-seeds", "5"]),
        CliError::Requires {
            setting: "--max-seeds".into(),
            needs: "--until-all-sometimes"
        }
    );
}

#[test]
fn malformed_values() {
    for bad in ["xyz", "-1", "0x", "18446744073709551616", "1.5"] {
        assert_eq!(
            err(&["sim", "--seed", bad]),
            CliError::InvalidSeed {
                setting: "--seed".into(),
                text: bad.into()
            }
        );
    }
    assert!(matches!(
        err(&["sim", "--first-seed", "nope"]),
        CliError::InvalidSeed { .. }
    ));
    for bad in ["0", "ten", "-3"] {
        assert!(
            matches!(err(&["sim", "--seeds", bad]), CliError::InvalidCount { .. }),
            "{bad}"
        );
    }
    assert!(matches!(
        err(&["sim", "--until-all-sometimes", "--max-seeds", "0"]),
        CliError::InvalidCount { .. }
    ));
    for bad in ["0/4", "5/4", "1/0", "abc", "1-4", "a/4", "2/b", "/"] {
        match err(&["sim", "--shard", bad]) {
            CliError::InvalidShard { setting, text, .. } => {
                assert_eq!((setting.as_str(), text.as_str()), ("--shard", bad))
            }
            other => panic!("--shard {bad}: {other:?}"),
        }
    }
    for bad in ["30", "0s", "1.5s", "10x", "s", "-5s"] {
        assert!(
            matches!(
                err(&["sim", "--time-budget", bad]),
                CliError::InvalidDuration { .. }
            ),
            "{bad}"
        );
    }
    assert_eq!(
        err(&["sim", "--seeds", "2", "--shard", "3/4"]),
        CliError::EmptyShard {
            shard: "3/4".into(),
            count: 2
        }
    );
}

#[test]
fn a_bad_definition_is_refused_not_panicked() {
    for cli in [
        SimCli::new("x").option("seed", "S", "shadows a runner flag"),
        SimCli::new("x").flag("json", "shadows a runner flag"),
        SimCli::new("x").flag("a", "").flag("a", "twice"),
        SimCli::new("x").option("Bad Name", "V", ""),
        SimCli::new("x").subcommand("sim", "reserved", |_| ExitCode::SUCCESS),
        SimCli::new("x").default_seeds(0),
    ] {
        assert!(matches!(
            cli.parse(&["sim".to_string()], &|_| None),
            Err(CliError::Definition(_))
        ));
    }
}

#[test]
fn environment_variables_mirror_every_flag() {
    let a = sim_env(&["sim"], &[("MOONPOOL_SEED", "0x2a")]);
    assert_eq!(a.plan().seeds, SeedPlan::One(42));
    let a = sim_env(
        &["sim"],
        &[
            ("MOONPOOL_SEEDS", "7"),
            ("MOONPOOL_FIRST_SEED", "3"),
            ("MOONPOOL_SHARD", "2/3"),
            ("MOONPOOL_TIME_BUDGET", "2m"),
            ("MOONPOOL_CHECK_DETERMINISM", "1"),
            ("MOONPOOL_JSON", "true"),
            ("MOONPOOL_QUIET", "yes"),
            ("MOONPOOL_TRACE", "/tmp/x.log"),
            ("MOONPOOL_CHAOS", "off"),
        ],
    );
    assert_eq!(a.plan().seeds, SeedPlan::Range { first: 3, count: 7 });
    assert_eq!(a.plan().shard, Some(Shard::new(2, 3).expect("valid")));
    assert_eq!(a.plan().time_budget, Some(Duration::from_secs(120)));
    assert!(a.plan().check_determinism && a.json() && a.quiet());
    assert_eq!(a.trace(), Some("/tmp/x.log"));
    assert!(!a.chaos());
    let a = sim_env(
        &["sim"],
        &[
            ("MOONPOOL_UNTIL_ALL_SOMETIMES", "on"),
            ("MOONPOOL_MAX_SEEDS", "9"),
        ],
    );
    assert_eq!(a.plan().until, Some(Until::AllSometimes));
    assert_eq!(a.plan().seeds.count(), 9);
    // Zero means off, and an empty variable is unset.
    let a = sim_env(
        &["sim"],
        &[
            ("MOONPOOL_JSON", "0"),
            ("MOONPOOL_SEED", ""),
            ("MOONPOOL_CHAOS", "1"),
        ],
    );
    assert!(!a.json());
    assert_eq!(a.plan().seeds.count(), 100);
    assert!(a.chaos());
}

#[test]
fn flags_win_over_the_environment() {
    let a = sim_env(&["sim", "--seed", "5"], &[("MOONPOOL_SEEDS", "1000")]);
    assert_eq!(a.plan().seeds, SeedPlan::One(5));
    let a = sim_env(
        &["sim", "--seed", "5"],
        &[("MOONPOOL_SHARD", "1/2"), ("MOONPOOL_FIRST_SEED", "9")],
    );
    assert_eq!(a.plan().seeds, SeedPlan::One(5));
    assert_eq!(a.plan().shard, None);
    let a = sim_env(&["sim", "--seeds", "3"], &[("MOONPOOL_SEED", "5")]);
    assert_eq!(
        a.plan().seeds,
        SeedPlan::Range {
            first: FRESH,
            count: 3
        }
    );
    let a = sim_env(&["sim", "--no-chaos"], &[("MOONPOOL_CHAOS", "on")]);
    assert!(!a.chaos());
    let a = sim_env(&["sim", "--seeds", "4"], &[("MOONPOOL_SEEDS", "8")]);
    assert_eq!(a.plan().seeds.count(), 4);
    let a = sim_env(
        &["sim", "--until-all-sometimes"],
        &[("MOONPOOL_SEEDS", "8")],
    );
    assert_eq!(a.plan().until, Some(Until::AllSometimes));
}

#[test]
fn a_malformed_environment_variable_is_refused_and_named() {
    assert_eq!(
        err_env(&["sim"], &[("MOONPOOL_SEED", "zz")]),
        CliError::InvalidSeed {
            setting: "MOONPOOL_SEED".into(),
            text: "zz".into()
        }
    );
    assert_eq!(
        err_env(&["sim"], &[("MOONPOOL_JSON", "maybe")]),
        CliError::InvalidBool {
            setting: "MOONPOOL_JSON".into(),
            text: "maybe".into()
        }
    );
    assert!(matches!(
        err_env(&["sim"], &[("MOONPOOL_CHAOS", "sometimes")]),
        CliError::InvalidBool { .. }
    ));
    assert!(matches!(
        err_env(&["sim"], &[("MOONPOOL_TIME_BUDGET", "30")]),
        CliError::InvalidDuration { .. }
    ));
    assert!(matches!(
        err_env(&["sim"], &[("MOONPOOL_SHARD", "5/4")]),
        CliError::InvalidShard { .. }
    ));
    // Even when a flag overrides it: a broken variable is a broken setup.
    assert!(matches!(
        err_env(&["sim", "--seed", "1"], &[("MOONPOOL_SEEDS", "lots")]),
        CliError::InvalidCount { .. }
    ));
    match err_env(&["sim"], &[("MOONPOOL_SEED", "1"), ("MOONPOOL_SEEDS", "2")]) {
        CliError::Conflict { first, second, .. } => {
            assert_eq!(
                (first.as_str(), second.as_str()),
                ("MOONPOOL_SEED", "MOONPOOL_SEEDS")
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_error_message_is_one_clear_line() {
    let errors = [
        err(&["sim", "--sed", "1"]),
        err(&["sim", "--seed", "1", "--seeds", "2"]),
        err(&["sim", "--shard", "0/4"]),
        err(&["sim", "--time-budget", "30"]),
        err_env(&["sim"], &[("MOONPOOL_JSON", "maybe")]),
    ];
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts[0], "unknown flag '--sed' (did you mean '--seed'?)");
    assert_eq!(
        texts[1],
        "--seed and --seeds cannot be combined: --seed replays one seed, the other describes a sweep"
    );
    assert!(
        texts[2].starts_with("--shard: '0/4' is not a shard"),
        "{}",
        texts[2]
    );
    assert!(texts[3].contains("missing unit"), "{}", texts[3]);
    assert!(
        texts[4].starts_with("MOONPOOL_JSON: 'maybe'"),
        "{}",
        texts[4]
    );
    for (e, t) in errors.iter().zip(&texts) {
        assert_eq!(e.exit_code(), 2);
        assert!(!t.contains('\n'), "{t}");
    }
}

// ----- whole runs, in process -----

struct Nap;
impl Workload for Nap {
    async fn run(&mut self, ctx: &SimContext) -> moonpool_sim::WorkloadResult {
        ctx.providers().sleep(Duration::from_millis(3)).await;
        if ctx.seed() % 5 == 4 {
            return Err(format!("seed {:#x} is unlucky", ctx.seed()).into());
        }
        Ok(())
    }
}

fn nap() -> Result<Simulation, moonpool_sim::ConfigError> {
    SimulationBuilder::new().workload("nap", 1, |_| Nap).build()
}

fn run(args: &[&str]) -> (ExitCode, String, String) {
    let mut argv = vec!["target/debug/demo".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli().run_with(argv, &|_| None, &mut out, &mut err, |_| nap());
    (
        code,
        String::from_utf8(out).expect("utf-8"),
        String::from_utf8(err).expect("utf-8"),
    )
}

#[test]
fn exit_codes_in_process() {
    let (code, out, _) = run(&["sim", "--seeds", "4", "--first-seed", "0", "--quiet"]);
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    assert!(out.contains("RESULT: PASS (4 seeds)"), "{out}");

    let (code, out, _) = run(&["sim", "--seeds", "5", "--first-seed", "0", "--quiet"]);
    assert_eq!(code, ExitCode::from(1));
    assert!(out.contains("seed 0x4: workload 'nap' client 0 failed in run: seed 0x4 is unlucky"));
    assert!(
        out.contains("replay: target/debug/demo sim --chaos --seed 0x4"),
        "{out}"
    );

    let (code, _, err) = run(&["sim", "--shard", "5/4"]);
    assert_eq!(code, ExitCode::from(2));
    assert!(
        err.contains("error: --shard: '5/4' is not a shard"),
        "{err}"
    );
    assert!(err.contains("usage: demo sim"), "{err}");

    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.contains("--check-determinism"));

    let (code, _, err) = run(&["sim", "--trace", "/nonexistent-dir/x/trace.log"]);
    assert_eq!(code, ExitCode::from(2));
    assert!(err.contains("cannot create trace file"), "{err}");

    let mut out = Vec::new();
    let mut errs = Vec::new();
    let code = cli().run_with(
        vec!["demo".into(), "sim".into(), "--bug".into(), "nope".into()],
        &|_| None,
        &mut out,
        &mut errs,
        |args| match args.option("bug") {
            Some(b) => Err(format!("unknown bug '{b}'")),
            None => nap().map_err(|e| e.to_string()),
        },
    );
    assert_eq!(code, ExitCode::from(2));
    let errs = String::from_utf8(errs).expect("utf-8");
    assert!(
        errs.contains("invalid simulation: unknown bug 'nope'"),
        "{errs}"
    );
}

#[test]
fn actions_and_subcommands_run_their_closures() {
    use std::cell::Cell;
    use std::rc::Rc;
    let listed = Rc::new(Cell::new(false));
    let l2 = Rc::clone(&listed);
    let cli = SimCli::new("x")
        .action_flag("list-bugs", "", move || l2.set(true))
        .subcommand("real", "", |args| ExitCode::from(args.len() as u8 + 10));
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let code = cli.run_with(
        vec!["x".into(), "--list-bugs".into()],
        &|_| None,
        &mut o,
        &mut e,
        |_| nap(),
    );
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(listed.get());
    let cli = SimCli::new("x").subcommand("real", "", |args| ExitCode::from(args.len() as u8 + 10));
    let code = cli.run_with(
        vec!["x".into(), "real".into(), "a".into(), "b".into()],
        &|_| None,
        &mut o,
        &mut e,
        |_| nap(),
    );
    assert_eq!(code, ExitCode::from(12));
}
