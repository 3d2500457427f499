//! Every refusal: clap's (unknown flags with suggestions, missing and
//! unexpected values, flags given twice), the runner's (malformed values,
//! flags that exclude each other), and a binary that declares its command
//! line wrongly. One line each, exit code 2.

use std::process::ExitCode;

use moonpool_core::SeedSyntaxError;
use moonpool_sim::cli::{CliError, SimCli};

use super::{argv, clap_message, err, err_env, parse};

#[test]
fn clap_refuses_what_is_not_a_command_line() {
    let m = clap_message(&[]);
    assert!(m.contains("requires a subcommand"), "{m}");
    assert!(
        m.contains("subcommands: sim, merge, real, list-bugs"),
        "{m}"
    );
    let m = clap_message(&["frob"]);
    assert!(m.starts_with("unrecognized subcommand 'frob'"), "{m}");
    assert_eq!(
        clap_message(&["simm"]),
        "unrecognized subcommand 'simm' (did you mean 'sim'?)"
    );
    assert_eq!(
        clap_message(&["sim", "--sed", "1"]),
        "unexpected argument '--sed' found (did you mean '--seed'?)"
    );
    assert!(clap_message(&["sim", "--jsno"]).contains("did you mean '--json'?"));
    // Runner flags belong to `sim`.
    assert!(clap_message(&["--seed", "1"]).starts_with("unexpected argument '--seed'"));
    let m = clap_message(&["sim", "--frobnicate"]);
    assert!(!m.contains("did you mean"), "{m}");
    assert!(clap_message(&["sim", "extra"]).starts_with("unexpected argument 'extra'"));
    assert!(clap_message(&["sim", "--seed"]).starts_with("a value is required for '--seed <S>'"));
    assert!(clap_message(&["sim", "--seed", "--json"]).contains("'--seed <S>'"));
    assert!(clap_message(&["sim", "--bug"]).contains("'--bug <NAME>'"));
    assert!(clap_message(&["sim", "--json=1"]).starts_with("unexpected value '1' for '--json'"));
    assert!(clap_message(&["sim", "--fast=yes"]).contains("'--fast'"));
    // Action flags of the binary are subcommands: not inside `sim`.
    assert!(clap_message(&["sim", "--list-bugs"]).starts_with("unexpected argument"));
    // The binary's subcommands get clap's checks too.
    assert!(clap_message(&["real", "--count", "many"]).starts_with("invalid value 'many'"));
}

#[test]
fn a_flag_given_twice_is_refused() {
    for args in [
        &["sim", "--json", "--json"][..],
        &["sim", "--seeds", "1", "--seeds", "2"],
        &["sim", "--bug", "a", "--bug", "b"],
        &["sim", "--fast", "--fast"],
    ] {
        let m = clap_message(args);
        assert!(m.contains("cannot be used multiple times"), "{args:?}: {m}");
    }
}

#[test]
fn flags_that_exclude_each_other_are_refused_by_name() {
    let conflict = |args: &[&str], a: &str, b: &str| match err(args) {
        CliError::Conflict { first, second, .. } => {
            assert_eq!((first.as_str(), second.as_str()), (a, b), "{args:?}")
        }
        other => panic!("{args:?}: expected a conflict, got {other:?}"),
    };
    conflict(&["sim", "--seed", "1", "--seeds", "5"], "--seed", "--seeds");
    conflict(&["sim", "--seeds", "5", "--seed", "1"], "--seed", "--seeds");
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
    conflict(&["sim", "--no-chaos", "--chaos"], "--chaos", "--no-chaos");
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
fn malformed_values_are_refused_with_what_is_wrong() {
    for (bad, reason) in [
        ("xyz", SeedSyntaxError::InvalidDigit),
        ("-1", SeedSyntaxError::Sign),
        ("+5", SeedSyntaxError::Sign),
        ("0x", SeedSyntaxError::Empty),
        ("010", SeedSyntaxError::LeadingZero),
        ("0b101", SeedSyntaxError::OtherBase),
        (" 7", SeedSyntaxError::Whitespace),
        ("18446744073709551616", SeedSyntaxError::TooLarge),
        ("1.5", SeedSyntaxError::InvalidDigit),
    ] {
        let flag = format!("--seed={bad}");
        assert_eq!(
            err(&["sim", &flag]),
            CliError::InvalidSeed {
                setting: "--seed".into(),
                text: bad.into(),
                reason
            }
        );
    }
    assert!(matches!(
        err(&["sim", "--first-seed", "nope"]),
        CliError::InvalidSeed { .. }
    ));
    for bad in ["0", "ten", "-3"] {
        let flag = format!("--seeds={bad}");
        assert!(
            matches!(err(&["sim", &flag]), CliError::InvalidCount { .. }),
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
        let flag = format!("--time-budget={bad}");
        assert!(
            matches!(err(&["sim", &flag]), CliError::InvalidDuration { .. }),
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
    #[derive(clap::Args)]
    struct ShadowsSeed {
        #[arg(long)]
        seed: bool,
    }
    #[derive(clap::Args)]
    struct ShadowsJson {
        /// A flag whose field is not called json, but whose name is
        #[arg(long = "json")]
        as_json: bool,
    }
    #[derive(clap::Args)]
    struct TwiceTheSameName {
        #[arg(long = "a")]
        one: bool,
        #[arg(long = "a")]
        two: bool,
    }
    #[derive(clap::Subcommand)]
    enum TakesSim {
        /// Shadows the runner
        Sim,
    }
    let refused = |result: Result<(), CliError>| {
        assert!(matches!(result, Err(CliError::Definition(_))), "{result:?}")
    };
    let sim = argv(&["sim"]);
    let env = |_: &str| None;
    refused(
        SimCli::new("x")
            .flags::<ShadowsSeed>()
            .parse_with_env(&sim, &env)
            .map(drop),
    );
    refused(
        SimCli::new("x")
            .flags::<ShadowsJson>()
            .parse_with_env(&sim, &env)
            .map(drop),
    );
    refused(
        SimCli::new("x")
            .flags::<TwiceTheSameName>()
            .parse_with_env(&sim, &env)
            .map(drop),
    );
    refused(
        SimCli::new("x")
            .commands(|_: TakesSim| ExitCode::SUCCESS)
            .parse_with_env(&sim, &env)
            .map(drop),
    );
    refused(
        SimCli::new("x")
            .default_seeds(0)
            .parse_with_env(&sim, &env)
            .map(drop),
    );
}

#[test]
fn every_error_message_is_one_clear_line() {
    let errors = [
        err(&["sim", "--seed", "1", "--seeds", "2"]),
        err(&["sim", "--shard", "0/4"]),
        err(&["sim", "--time-budget", "30"]),
        err_env(&["sim"], &[("MOONPOOL_JSON", "maybe")]),
        err(&["sim", "--seed=010"]),
        parse(&["sim", "--sed", "1"]).expect_err("clap refuses"),
        parse(&[]).expect_err("clap refuses"),
    ];
    let texts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        texts[0],
        "--seed and --seeds cannot be combined: --seed replays one seed, the other describes a sweep"
    );
    assert!(
        texts[1].starts_with("--shard: '0/4' is not a shard"),
        "{}",
        texts[1]
    );
    assert!(texts[2].contains("missing unit"), "{}", texts[2]);
    assert!(
        texts[3].starts_with("MOONPOOL_JSON: 'maybe'"),
        "{}",
        texts[3]
    );
    assert!(
        texts[4].starts_with("--seed: '010' is not a seed: a leading zero"),
        "{}",
        texts[4]
    );
    assert!(
        texts[5].ends_with("(did you mean '--seed'?)"),
        "{}",
        texts[5]
    );
    for (e, t) in errors.iter().zip(&texts) {
        assert_eq!(e.exit_code(), 2);
        assert!(!t.contains('\n'), "{t}");
    }
}
