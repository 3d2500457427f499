//! The README's taste of the API: an echo server written once against the
//! providers, a workload that checks the echo, and a binary with the whole
//! `sim` command line:
//!
//! ```text
//! cargo run -p moonpool-examples --example taste -- sim --seeds 1000
//! ```
//!
//! The README shows the part between the anchors; `tests/book.rs` checks
//! that it shows exactly that, and the tests below that it does what the
//! README says.

// ANCHOR: taste
use moonpool_core::{Listener, NetworkProvider, Providers};
use moonpool_sim::{SimContext, SimulationBuilder, Workload, WorkloadResult, cli::SimCli};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVER: ([u8; 4], u16) = ([10, 0, 0, 1], 7000);

// The system under test, generic over the providers: it runs unchanged on tokio.
async fn echo_once<P: Providers>(p: P) -> std::io::Result<()> {
    let (mut conn, _) = p.network().bind(SERVER.into()).await?.accept().await?;
    let mut buf = [0u8; 5];
    conn.read_exact(&mut buf).await?;
    conn.write_all(&buf).await
}

// A workload drives the system and checks it: an error fails the seed.
struct Client;
impl Workload for Client {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let mut conn = ctx.providers().network().connect(SERVER.into()).await?;
        conn.write_all(b"hello").await?;
        let mut echo = [0u8; 5];
        conn.read_exact(&mut echo).await?;
        assert_eq!(&echo, b"hello", "a panic fails the seed too");
        Ok(())
    }
}

// `taste sim --seeds 1000` sweeps; each failing seed prints the line that replays it.
fn main() -> std::process::ExitCode {
    SimCli::new("taste").run(|_, _| {
        SimulationBuilder::new()
            .process("server", [10, 0, 0, 1], echo_once)
            .workload("client", 1, |_| Client)
            .build()
    })
}
// ANCHOR_END: taste

#[cfg(test)]
mod tests {
    use super::*;
    use moonpool_sim::SweepPlan;
    use moonpool_sim::cli::SimCli;
    use std::ffi::OsString;

    /// Runs `taste ARGS...` as the README's binary would, returning the exit
    /// code's debug form and what it printed.
    fn taste(args: &[&str]) -> (String, String) {
        let argv: Vec<OsString> = std::iter::once("taste")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = SimCli::new("taste").run_with(&argv, &|_| None, &mut out, &mut err, |_, _| {
            SimulationBuilder::new()
                .process("server", [10, 0, 0, 1], echo_once)
                .workload("client", 1, |_| Client)
                .build()
        });
        let printed = String::from_utf8_lossy(&out).into_owned() + &String::from_utf8_lossy(&err);
        (format!("{code:?}"), printed)
    }

    #[test]
    fn the_echo_works_when_nothing_goes_wrong() {
        let (code, printed) = taste(&["sim", "--no-chaos", "--first-seed", "1", "--seeds", "50"]);
        assert_eq!(
            code,
            format!("{:?}", std::process::ExitCode::SUCCESS),
            "{printed}"
        );
    }

    #[test]
    fn the_chaos_sweep_finds_the_naive_echo_failing_and_prints_replay_lines() {
        let (code, printed) = taste(&["sim", "--first-seed", "1", "--seeds", "300"]);
        assert_eq!(
            code,
            format!("{:?}", std::process::ExitCode::FAILURE),
            "{printed}"
        );
        assert!(
            printed.contains("replay: taste sim --chaos --seed 0x"),
            "{printed}"
        );
        // The failures the README names: a bind that fails once, a connect
        // before the server listens, a connect whose SYN is lost (no timeout).
        assert!(printed.contains("simulated bind failure"), "{printed}");
        assert!(printed.contains("refused"), "{printed}");
        assert!(printed.contains("deadlock"), "{printed}");
    }

    #[test]
    fn a_failing_seed_replays_with_the_same_fingerprint() {
        let sim = SimulationBuilder::new()
            .process("server", [10, 0, 0, 1], echo_once)
            .workload("client", 1, |_| Client)
            .build()
            .expect("a valid simulation");
        let sweep = sim.sweep(&SweepPlan::range(1, 300));
        let failed = sweep
            .failures
            .first()
            .expect("the chaos sweep finds a failing seed");
        let again = sim.run_seed(failed.seed);
        assert!(!again.outcome.is_pass());
        assert_eq!(again.fingerprint, failed.fingerprint);
    }
}
