//! The command line itself: refusals with exit code 2, help, and the
//! binary's own subcommands.

use super::{demo, stderr, stdout};

#[test]
fn bad_flags_exit_2_with_a_clear_message() {
    for (args, needle) in [
        (vec![], "requires a subcommand"),
        (
            vec!["simulate"],
            "unrecognized subcommand 'simulate' (did you mean 'sim'?)",
        ),
        (vec!["sim", "--seed", "abc"], "--seed: 'abc' is not a seed"),
        (vec!["sim", "--seed", "010"], "--seed: '010' is not a seed"),
        (
            vec!["sim", "--json", "--json"],
            "cannot be used multiple times",
        ),
        (
            vec!["sim", "--seeds", "5", "--seed", "1"],
            "cannot be combined",
        ),
        (vec!["sim", "--chaos", "--no-chaos"], "cannot be combined"),
        (
            vec!["sim", "--shard", "0/4"],
            "--shard: '0/4' is not a shard",
        ),
        (
            vec!["sim", "--shard", "5/4"],
            "--shard: '5/4' is not a shard",
        ),
        (vec!["sim", "--time-budget", "30"], "is not a duration"),
        (vec!["sim", "--jsn"], "(did you mean '--json'?)"),
        (
            vec!["sim", "--bug", "nope"],
            "invalid value 'nope' for '--bug <NAME>' (possible values: panic, deadlock, lost-message, nondeterminism)",
        ),
        (vec!["sim", "--bug", "panik"], "(did you mean 'panic'?;"),
        (vec!["real", "--fast"], "unexpected argument '--fast'"),
    ] {
        let o = demo(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert!(lines[0].starts_with("sim-demo: error: "), "{args:?}: {err}");
        assert!(lines[0].contains(needle), "{args:?}: {err}");
        assert_eq!(lines.len(), 2, "one error line and a usage line: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}

#[test]
fn help_the_bug_list_and_the_binarys_subcommands() {
    for list in ["--list-bugs", "list-bugs"] {
        let o = demo(&[list]);
        assert!(o.status.success());
        let out = stdout(&o);
        assert!(
            out.starts_with("panic            worker-1 panics halfway"),
            "{out}"
        );
        for bug in ["deadlock", "lost-message", "nondeterminism"] {
            assert!(out.contains(&format!("\n{bug} ")), "{out}");
        }
    }
    let o = demo(&["real"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("sim-demo real: sent "));
    let o = demo(&["--help"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for needle in ["sim ", "real ", "--list-bugs", "sim-demo sim --help"] {
        assert!(out.contains(needle), "lacks {needle:?}: {out}");
    }
    // `sim --help` lists the runner's flags and the bugs, with their help.
    let o = demo(&["sim", "--help"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for needle in [
        "--bug <NAME>",
        "- lost-message:",
        "worker-1 drops a message",
        "--seeds <N>",
        "[env: MOONPOOL_SEEDS=]",
    ] {
        assert!(out.contains(needle), "lacks {needle:?}: {out}");
    }
    assert!(stderr(&o).is_empty());
}
