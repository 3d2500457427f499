//! Every flag, the binary's own flags and subcommands, help, and the
//! replay line.

use std::time::Duration;

use moonpool_sim::cli::{Invocation, SimCli};
use moonpool_sim::runner::sweep::Until;
use moonpool_sim::{SeedPlan, Shard};

use super::{DemoCommands, PROGRAM, argv, cli, parse, resolve_env, sim};

#[test]
fn defaults_are_100_fresh_seeds_with_the_binarys_chaos_default() {
    let a = sim(&["sim"]);
    assert!(matches!(a.plan().seeds, SeedPlan::Range { count: 100, .. }));
    assert!(a.first_seed_fresh());
    assert!(a.chaos(), "SimCli defaults to chaos on");
    assert!(!a.json() && !a.quiet() && a.trace().is_none());
    assert!(!a.plan().check_determinism);
    assert_eq!(a.plan().shard, None);
    assert_eq!(a.plan().time_budget, None);
    let off = SimCli::new("x").default_chaos(false).default_seeds(7);
    match off.parse_with_env(&argv(&["sim"]), &|_| None) {
        Ok(Invocation::Sim { args, .. }) => {
            let s = args.resolve(&argv(&["sim"])).expect("valid");
            assert!(!s.chaos());
            assert_eq!(s.plan().seeds.count(), 7);
        }
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
    assert_eq!(sim(&["sim", "--trace", "-"]).trace(), Some("-"));

    let a = sim(&["sim", "--until-all-sometimes"]);
    assert_eq!(a.plan().until, Some(Until::AllSometimes));
    assert_eq!(a.plan().seeds.count(), 10_000);
    let a = sim(&["sim", "--until-all-sometimes", "--max-seeds", "50"]);
    assert_eq!(a.plan().seeds.count(), 50);
}

#[test]
fn the_binarys_own_flags_are_parsed_and_replayed_as_typed() {
    let (flags, a) =
        resolve_env(&["sim", "--fast", "--seed", "7", "--bug", "skip-sync"], &[]).expect("valid");
    assert_eq!(flags.bug.as_deref(), Some("skip-sync"));
    assert!(flags.fast);
    assert_eq!(
        a.plan().replay.line(7, a.chaos(), false),
        format!("{PROGRAM} sim --fast --bug skip-sync --chaos --seed 0x7")
    );
    // Runner flags in any spelling are left out; the binary's are kept.
    let (_, b) = resolve_env(
        &[
            "sim",
            "--json",
            "--bug=it's",
            "--seeds=5",
            "--no-chaos",
            "--trace",
            "t.log",
        ],
        &[],
    )
    .expect("valid");
    assert_eq!(
        b.plan().replay.line(0xabc, b.chaos(), true),
        format!(r"{PROGRAM} sim '--bug=it'\''s' --check-determinism --no-chaos --seed 0xabc")
    );
}

#[test]
fn help_and_the_binarys_subcommands() {
    for args in [&["--help"][..], &["-h"], &["help"]] {
        match parse(args) {
            Ok(Invocation::Help(text)) => {
                for needle in [
                    "a test binary",
                    "sim",
                    "real",
                    "--list-bugs",
                    "demo sim --help",
                ] {
                    assert!(text.contains(needle), "{args:?}: lacks {needle:?}:\n{text}");
                }
            }
            other => panic!("{args:?}: {other:?}"),
        }
    }
    let Ok(Invocation::Help(sim_help)) = parse(&["sim", "--help"]) else {
        panic!("sim --help is help")
    };
    for needle in [
        "--seed <S>",
        "--seeds <N>",
        "--first-seed <S>",
        "--shard <K/N>",
        "--time-budget <DURATION>",
        "--check-determinism",
        "--chaos",
        "--no-chaos",
        "--until-all-sometimes",
        "--max-seeds <N>",
        "--json",
        "--trace <FILE>",
        "--quiet",
        "MOONPOOL_SEED",
        "MOONPOOL_UNTIL_ALL_SOMETIMES",
        "--bug <NAME>",
        "--fast",
        "Runner options",
        "Chaos is on by default",
        "Flags win over MOONPOOL_* variables",
        "Exit codes",
    ] {
        assert!(sim_help.contains(needle), "lacks {needle:?}:\n{sim_help}");
    }
    assert!(matches!(parse(&["sim", "-h"]), Ok(Invocation::Help(_))));
    assert!(matches!(
        parse(&["--list-bugs"]),
        Ok(Invocation::Command(DemoCommands::ListBugs))
    ));
    assert!(matches!(
        parse(&["list-bugs"]),
        Ok(Invocation::Command(DemoCommands::ListBugs))
    ));
    match parse(&["real", "--count", "3"]) {
        Ok(Invocation::Command(c)) => assert_eq!(c, DemoCommands::Real { count: Some(3) }),
        other => panic!("{other:?}"),
    }
    // The clap command is there for completions and help tests.
    let command = cli().command();
    let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
    assert_eq!(names, ["sim", "merge", "real", "list-bugs"]);
}
