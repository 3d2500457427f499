//! A binary with its own clap parser (`examples/own_cli.rs`, included
//! here as it is) flattens `SimArgs` beside its own `--system` and `--bug`:
//! clap parses both, one call runs the sweep, and the replay line of a
//! failed seed carries the binary's own flags and reproduces the failure.

#[path = "../../examples/own_cli.rs"]
#[allow(dead_code)] // its `main` is the example's
mod own_cli;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use moonpool_sim::SeedPlan;
use serde_json::Value;

use own_cli::{Bug, Cli, Command, System};

const OWN: &str = "target/debug/examples/own_cli";

/// Parses `words` (the program first) with the example's parser and runs
/// its `sim`, with no `MOONPOOL_*` variables.
fn run_own(words: &[&str]) -> (ExitCode, Vec<Value>) {
    let argv: Vec<OsString> = words.iter().map(OsString::from).collect();
    let cli = Cli::try_parse_from(&argv).expect("the example's parser accepts it");
    let Command::Sim(cmd) = cli.command else {
        panic!("{words:?} is not `sim`")
    };
    let sim = cmd.sim.clone().with_env(&|_| None);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = sim.run_with("own-cli", &argv, &mut out, &mut err, |s| cmd.build(s));
    let out = String::from_utf8(out).expect("utf-8");
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (code, lines)
}

fn own<'a>(words: &[&'a str]) -> Vec<&'a str> {
    std::iter::once(OWN).chain(words.iter().copied()).collect()
}

#[test]
fn its_parser_reads_its_own_flags_and_the_runners() {
    let words = own(&[
        "sim",
        "--system",
        "replicated",
        "--seeds",
        "40",
        "--bug",
        "lose-write",
        "--first-seed",
        "0x10",
        "--json",
    ]);
    let argv: Vec<OsString> = words.iter().map(OsString::from).collect();
    let Command::Sim(cmd) = Cli::try_parse_from(&argv).expect("parses").command else {
        panic!("sim")
    };
    assert_eq!(
        (cmd.system, cmd.bug),
        (System::Replicated, Some(Bug::LoseWrite))
    );
    let settings = cmd.sim.with_env(&|_| None).resolve(&argv).expect("valid");
    assert_eq!(
        settings.plan().seeds,
        SeedPlan::Range {
            first: 0x10,
            count: 40
        }
    );
    assert!(settings.json() && settings.chaos());

    let help = Cli::try_parse_from(own(&["sim", "--help"]))
        .expect_err("help")
        .render()
        .to_string();
    for needle in [
        "--system <SYSTEM>",
        "--bug <BUG>",
        "Runner options",
        "--seeds <N>",
        "MOONPOOL_SEEDS",
        "--check-determinism",
    ] {
        assert!(help.contains(needle), "lacks {needle:?}:\n{help}");
    }
    // clap suggests runner flags in the binary's own parser too.
    let e = Cli::try_parse_from(own(&["sim", "--sed", "1"])).expect_err("refused");
    assert_eq!(e.exit_code(), 2);
    assert!(e.render().to_string().contains("'--seed'"), "{e}");
}

#[test]
fn its_replay_lines_carry_its_own_flags_and_reproduce_the_failure() {
    let (code, lines) = run_own(&own(&[
        "sim",
        "--system",
        "replicated",
        "--bug",
        "lose-write",
        "--first-seed",
        "0",
        "--seeds",
        "40",
        "--json",
    ]));
    assert_eq!(code, ExitCode::from(1));
    let failed: Vec<&Value> = lines.iter().filter(|l| l["outcome"] == "fail").collect();
    assert!(!failed.is_empty(), "lose-write never fired in 40 seeds");
    for f in failed.iter().take(3) {
        let seed = f["seed"].as_str().expect("seed");
        let replay = f["replay"].as_str().expect("replay");
        assert_eq!(
            replay,
            format!("{OWN} sim --system replicated --bug lose-write --chaos --seed {seed}")
        );
        let mut words: Vec<&str> = replay.split(' ').collect();
        words.push("--json");
        let (code, again) = run_own(&words);
        assert_eq!(code, ExitCode::from(1), "the replay of {seed} passed");
        assert_eq!(again.len(), 2, "one seed and the summary");
        for key in ["seed", "fingerprint", "error", "events"] {
            assert_eq!(again[0][key], f[key], "{key} of {seed}");
        }
        // Without the binary's own flags the seed is another execution:
        // the replay line needs them.
        let (_, bare) = run_own(&own(&["sim", "--chaos", "--seed", seed, "--json"]));
        assert_ne!(bare[0]["fingerprint"], f["fingerprint"], "{seed}");
    }
}

#[test]
fn its_runner_flags_are_refused_like_the_sim_clis() {
    let argv: Vec<OsString> = own(&["sim", "--seed", "1", "--seeds", "2"])
        .iter()
        .map(OsString::from)
        .collect();
    let Command::Sim(cmd) = Cli::try_parse_from(&argv).expect("parses").command else {
        panic!("sim")
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code =
        cmd.sim
            .clone()
            .with_env(&|_| None)
            .run_with("own-cli", &argv, &mut out, &mut err, |s| cmd.build(s));
    assert_eq!(code, ExitCode::from(2));
    assert!(out.is_empty());
    assert_eq!(
        String::from_utf8(err).expect("utf-8"),
        "own-cli: error: --seed and --seeds cannot be combined: \
         --seed replays one seed, the other describes a sweep\n"
    );
}
