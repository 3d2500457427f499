//! `MOONPOOL_*` variables: each mirrors its flag, a malformed one is
//! refused by name, and flags win, also across kinds of run, so a variable
//! left in the shell never changes the kind of run the flags asked for.

use std::time::Duration;

use moonpool_sim::cli::CliError;
use moonpool_sim::runner::sweep::Until;
use moonpool_sim::{SeedPlan, Shard};

use super::{err_env, sim_env};

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
    // Zero means off, an empty variable is unset, a value is trimmed.
    let a = sim_env(
        &["sim"],
        &[
            ("MOONPOOL_JSON", "0"),
            ("MOONPOOL_SEED", ""),
            ("MOONPOOL_FIRST_SEED", " 0x10\n"),
            ("MOONPOOL_CHAOS", "1"),
        ],
    );
    assert!(!a.json());
    assert_eq!(
        a.plan().seeds,
        SeedPlan::Range {
            first: 16,
            count: 100
        }
    );
    assert!(a.chaos());
}

#[test]
fn flags_win_over_the_environment() {
    let a = sim_env(&["sim", "--seed", "5"], &[("MOONPOOL_SEEDS", "1000")]);
    assert_eq!(a.plan().seeds, SeedPlan::One(5));
    let a = sim_env(
        &["sim", "--seed", "5"],
        &[
            ("MOONPOOL_SHARD", "1/2"),
            ("MOONPOOL_FIRST_SEED", "9"),
            ("MOONPOOL_TIME_BUDGET", "1s"),
        ],
    );
    assert_eq!(a.plan().seeds, SeedPlan::One(5));
    assert_eq!(a.plan().shard, None);
    assert_eq!(a.plan().time_budget, None);
    let a = sim_env(&["sim", "--no-chaos"], &[("MOONPOOL_CHAOS", "on")]);
    assert!(!a.chaos());
    let a = sim_env(&["sim", "--chaos"], &[("MOONPOOL_CHAOS", "off")]);
    assert!(a.chaos());
    let a = sim_env(&["sim", "--seeds", "4"], &[("MOONPOOL_SEEDS", "8")]);
    assert_eq!(a.plan().seeds.count(), 4);
    let a = sim_env(
        &["sim", "--until-all-sometimes"],
        &[("MOONPOOL_SEEDS", "8")],
    );
    assert_eq!(a.plan().until, Some(Until::AllSometimes));
    let a = sim_env(
        &["sim", "--seeds", "3"],
        &[
            ("MOONPOOL_UNTIL_ALL_SOMETIMES", "1"),
            ("MOONPOOL_MAX_SEEDS", "9"),
        ],
    );
    assert_eq!((a.plan().until, a.plan().seeds.count()), (None, 3));
    // Variables of the same kind of run still combine with the flags.
    let a = sim_env(&["sim", "--seeds", "3"], &[("MOONPOOL_FIRST_SEED", "9")]);
    assert_eq!(a.plan().seeds, SeedPlan::Range { first: 9, count: 3 });
    let a = sim_env(
        &["sim", "--until-all-sometimes"],
        &[("MOONPOOL_MAX_SEEDS", "9")],
    );
    assert_eq!(a.plan().seeds.count(), 9);
}

#[test]
fn a_sweep_flag_overrides_a_seed_variable_left_in_the_environment() {
    // Issue 10 §5: `MOONPOOL_SEED=5 bin sim --time-budget 10s` sweeps; it
    // used to replay seed 5 for ten seconds' worth of nothing.
    let a = sim_env(&["sim", "--time-budget", "10s"], &[("MOONPOOL_SEED", "5")]);
    assert_eq!(a.plan().time_budget, Some(Duration::from_secs(10)));
    assert!(
        matches!(
            a.plan().seeds,
            SeedPlan::Range {
                count: u64::MAX,
                ..
            }
        ),
        "{:?}",
        a.plan().seeds
    );
    assert!(a.first_seed_fresh());
    for args in [
        &["sim", "--seeds", "3"][..],
        &["sim", "--first-seed", "7"],
        &["sim", "--shard", "1/2"],
        &["sim", "--until-all-sometimes"],
        &["sim", "--until-all-sometimes", "--max-seeds", "4"],
    ] {
        let a = sim_env(args, &[("MOONPOOL_SEED", "5")]);
        assert!(
            matches!(a.plan().seeds, SeedPlan::Range { .. }),
            "{args:?} with MOONPOOL_SEED=5 ran {:?}",
            a.plan().seeds
        );
    }
    // A flag that does not pick a kind of run leaves the variable's choice.
    let a = sim_env(&["sim", "--check-determinism"], &[("MOONPOOL_SEED", "5")]);
    assert_eq!(a.plan().seeds, SeedPlan::One(5));
}

#[test]
fn a_malformed_environment_variable_is_refused_and_named() {
    assert!(matches!(
        err_env(&["sim"], &[("MOONPOOL_SEED", "zz")]),
        CliError::InvalidSeed { setting, text, .. } if setting == "MOONPOOL_SEED" && text == "zz"
    ));
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
    // Even when a flag of another setting overrides it: a broken variable
    // is a broken setup.
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
