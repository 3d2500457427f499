//! A task that blocks its thread (`block_on` inside a simulation) cannot
//! be seen by the simulator's own loop: the watchdog ends the process with
//! a message naming the mistake and what to use instead.
//!
//! The blocking simulation runs in a child process (this test binary,
//! re-run on the ignored test below) so that its exit is observable.

use std::process::Command;
use std::time::Duration;

use moonpool_core::TimeProvider;
use moonpool_sim::{FnWorkload, SimContext, SimulationBuilder};

const CHILD: &str = "a_task_blocking_its_thread_in_a_child_process";

#[test]
fn a_task_blocking_its_thread_ends_the_run_with_a_message_naming_block_on() {
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([CHILD, "--exact", "--ignored", "--nocapture"])
        .env("MOONPOOL_HANG_SECS", "1")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(moonpool_sim::HANG_EXIT_CODE),
        "{stderr}"
    );
    assert!(
        stderr.contains("seed 0x7 has made no simulator step"),
        "{stderr}"
    );
    assert!(
        stderr.contains("block_on") && stderr.contains(".await"),
        "{stderr}"
    );
}

#[test]
#[ignore = "run in a child process by the test above"]
fn a_task_blocking_its_thread_in_a_child_process() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .workload("blocker", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                // The simulated clock cannot move while this blocks: the
                // sleep never ends and the thread never comes back.
                futures::executor::block_on(ctx.providers().sleep(Duration::from_secs(1)));
                Ok(())
            })
        })
        .build()
        .expect("valid");
    let _ = sim.run_seed(7);
    panic!("the blocked seed returned");
}
