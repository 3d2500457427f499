//! Whole runs in process through `SimCli::run_with`: exit codes, the
//! report, refusals with their usage line, the binary's subcommands, and
//! `--until-all-sometimes` that ends with its goal unmet.

use moonpool_sim::Simulation;
use moonpool_sim::cli::SimCli;
use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;

use super::{DemoCommands, PROGRAM, argv, cli};

/// The simulations, each in its own module: a simulation's assertion
/// scope is a module path.
mod nap {
    use std::time::Duration;

    use moonpool_core::TimeProvider;
    use moonpool_sim::{SimContext, Simulation, SimulationBuilder, Workload, WorkloadResult};

    /// Naps; fails on seeds ≡ 4 (mod 5). Its `sometimes` holds on seeds
    /// ≡ 2 (mod 3).
    struct Nap;
    impl Workload for Nap {
        async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
            ctx.providers().sleep(Duration::from_millis(3)).await;
            moonpool_sim::sometimes!(ctx.seed() % 3 == 2, "a seed that is 2 mod 3");
            if ctx.seed() % 5 == 4 {
                return Err(format!("seed {:#x} is unlucky", ctx.seed()).into());
            }
            Ok(())
        }
    }

    pub(super) fn nap() -> Result<Simulation, moonpool_sim::ConfigError> {
        SimulationBuilder::new()
            .assertion_scope(&[module_path!()])
            .workload("nap", 1, |_| Nap)
            .build()
    }
}

mod hopeless {
    use moonpool_sim::{SimContext, Simulation, SimulationBuilder, Workload, WorkloadResult};

    /// Its `sometimes` holds for no seed below 2^64-1.
    struct Hopeless;
    impl Workload for Hopeless {
        async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
            moonpool_sim::sometimes!(ctx.seed() == u64::MAX, "the last seed of all");
            Ok(())
        }
    }

    pub(super) fn hopeless() -> Result<Simulation, moonpool_sim::ConfigError> {
        SimulationBuilder::new()
            .assertion_scope(&[module_path!()])
            .workload("hopeless", 1, |_| Hopeless)
            .build()
    }
}

use hopeless::hopeless;
use nap::nap;

fn run_sim(
    args: &[&str],
    build: impl Fn() -> Result<Simulation, moonpool_sim::ConfigError> + Sync,
) -> (ExitCode, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli().run_with(&argv(args), &|_| None, &mut out, &mut err, |_, _| build());
    (
        code,
        String::from_utf8(out).expect("utf-8"),
        String::from_utf8(err).expect("utf-8"),
    )
}

fn run(args: &[&str]) -> (ExitCode, String, String) {
    run_sim(args, nap)
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
        out.contains(&format!("replay: {PROGRAM} sim --chaos --seed 0x4")),
        "{out}"
    );

    let (code, out, err) = run(&["sim", "--shard", "5/4"]);
    assert_eq!(code, ExitCode::from(2));
    assert!(out.is_empty());
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("demo: error: --shard: '5/4' is not a shard"),
        "{err}"
    );
    assert_eq!(
        lines[1],
        "usage: demo sim [OPTIONS]   (`demo sim --help` lists every flag)"
    );
    assert_eq!(lines.len(), 2, "{err}");

    let (code, _, err) = run(&["sim", "--sed", "1"]);
    assert_eq!(code, ExitCode::from(2));
    assert!(
        err.starts_with(
            "demo: error: unexpected argument '--sed' found (did you mean '--seed'?)\n"
        ),
        "{err}"
    );
    assert!(
        err.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("usage: demo sim"))
    );

    let (code, out, err) = run(&["--help"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.contains("demo sim --help"), "{out}");
    assert!(err.is_empty());
    let (code, out, _) = run(&["sim", "--help"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(out.contains("--check-determinism"));

    let (code, _, err) = run(&["sim", "--trace", "/nonexistent-dir/x/trace.log"]);
    assert_eq!(code, ExitCode::from(2));
    assert!(err.contains("cannot create trace file"), "{err}");
}

#[test]
fn a_simulation_the_build_closure_refuses_exits_2() {
    let (mut out, mut errs) = (Vec::new(), Vec::new());
    let code = cli().run_with(
        &argv(&["sim", "--bug", "nope"]),
        &|_| None,
        &mut out,
        &mut errs,
        |flags, _| match &flags.bug {
            Some(b) => Err(format!("unknown bug '{b}'")),
            None => nap().map_err(|e| e.to_string()),
        },
    );
    assert_eq!(code, ExitCode::from(2));
    let errs = String::from_utf8(errs).expect("utf-8");
    assert!(
        errs.starts_with("demo: error: invalid simulation: unknown bug 'nope'"),
        "{errs}"
    );
}

#[test]
fn the_build_closure_gets_the_binarys_flags_and_the_settings() {
    let seen = std::sync::Mutex::new(None);
    let code = cli().run_with(
        &argv(&["sim", "--fast", "--no-chaos", "--seed", "3", "--quiet"]),
        &|_| None,
        &mut Vec::new(),
        &mut Vec::new(),
        |flags, settings| {
            *seen.lock().expect("not poisoned") = Some((flags.fast, settings.chaos()));
            nap()
        },
    );
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(*seen.lock().expect("not poisoned"), Some((true, false)));
}

#[test]
fn the_binarys_subcommands_run_their_closure_with_typed_arguments() {
    let got = Rc::new(Cell::new(None));
    let got2 = Rc::clone(&got);
    let cli = SimCli::new("x")
        .flags::<super::DemoFlags>()
        .commands(move |c: DemoCommands| {
            let code = match c {
                DemoCommands::Real { count } => count.unwrap_or(0) as u8 + 10,
                DemoCommands::ListBugs => 20,
            };
            got2.set(Some(code));
            ExitCode::from(code)
        });
    let code = cli.run_with(
        &argv(&["real", "--count", "2"]),
        &|_| None,
        &mut Vec::new(),
        &mut Vec::new(),
        |_, _| nap(),
    );
    assert_eq!(code, ExitCode::from(12));
    assert_eq!(got.get(), Some(12));
}

#[test]
fn until_all_sometimes_that_misses_its_goal_exits_1_naming_the_sites() {
    // Met: seed 2 satisfies the only site of `nap`.
    let (code, out, err) = run(&[
        "sim",
        "--until-all-sometimes",
        "--max-seeds",
        "3",
        "--first-seed",
        "0",
        "--quiet",
    ]);
    assert_eq!(code, ExitCode::SUCCESS, "{out}{err}");
    assert!(out.contains("RESULT: PASS (3 seeds)"), "{out}");
    // Unmet at the cap: exit 1, and the report and stderr say which site.
    let (code, out, err) = run_sim(
        &[
            "sim",
            "--until-all-sometimes",
            "--max-seeds",
            "4",
            "--first-seed",
            "0",
            "--quiet",
        ],
        hopeless,
    );
    assert_eq!(code, ExitCode::from(1), "{out}{err}");
    assert!(
        out.contains("RESULT: FAIL (goal unmet: 1 sometimes site(s) never satisfied in 4 seeds)"),
        "{out}"
    );
    let line = err.lines().next().unwrap_or_default();
    assert!(
        line.starts_with(
            "demo: goal unmet: --until-all-sometimes stopped at the --max-seeds cap after 4 seed(s) \
             with 1 sometimes site(s) unsatisfied: \"the last seed of all\" at moonpool-sim/tests/cli_parse/runs.rs:"
        ),
        "{err}"
    );
    assert!(line.ends_with("(never true)"), "{line}");
    // The same sweep without the goal passes: only the goal fails it.
    let (code, _, _) = run_sim(
        &["sim", "--seeds", "4", "--first-seed", "0", "--quiet"],
        hopeless,
    );
    assert_eq!(code, ExitCode::SUCCESS);
}
