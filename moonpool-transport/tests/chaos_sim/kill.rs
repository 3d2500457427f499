//! A killed process drops its transport with its tasks.

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{TaskProvider, TimeProvider};
use moonpool_sim::{SimContext, SimProviders, SimulationBuilder, Workload, WorkloadResult};
use moonpool_transport::{RpcError, Transport, TransportConfig};

use crate::SERVER_PORT;

/// Killing a process drops its transport together with the transport's own
/// tasks, in whatever order the simulator drops them: the transport's
/// shutdown aborts handles of tasks already gone and wakes tasks that are
/// dead; both must be no-ops. `holder_task` keeps the transport in a task
/// spawned after the connections (so those die first), otherwise in `main`
/// (which dies first).
pub(crate) fn kill_drops_transport(holder_task: bool) {
    use moonpool_transport::scenarios::{EchoMode, EchoServer, echo, echo_service};

    let a = SocketAddr::from(([10, 0, 0, 1], SERVER_PORT));
    let b = SocketAddr::from(([10, 0, 0, 2], SERVER_PORT));
    let sim = SimulationBuilder::new()
        .process("a", [10, 0, 0, 1], move |p: SimProviders| async move {
            let server = EchoServer::start(&p, a, TransportConfig::default(), false).await;
            // A reliable call to b that b holds: pending when `a` dies.
            let to_b = echo_service::Client::new(
                &server.transport,
                echo_service::Interface::well_known(b, 1),
            );
            let calls = p.spawn("calls-to-b", async move {
                let _ = to_b
                    .echo
                    .get_reply(&echo(1, EchoMode::Hold), Duration::from_secs(600))
                    .await;
            });
            if holder_task {
                let p2 = p.clone();
                p.spawn("holder", async move {
                    let _keep = (server, calls);
                    loop {
                        p2.sleep(Duration::from_secs(3600)).await;
                    }
                })
                .detach();
                loop {
                    p.sleep(Duration::from_secs(3600)).await;
                }
            } else {
                let _keep = (server, calls);
                loop {
                    p.sleep(Duration::from_secs(3600)).await;
                }
            }
        })
        .process("b", [10, 0, 0, 2], move |p: SimProviders| async move {
            let _server = EchoServer::start(&p, b, TransportConfig::default(), false).await;
            loop {
                p.sleep(Duration::from_secs(3600)).await;
            }
        })
        .workload("driver", 1, move |_| KillDriver { a })
        .build()
        .expect("valid simulation");
    for seed in 0..20 {
        let report = sim.run_seed(seed);
        assert!(
            report.outcome.is_pass(),
            "holder_task={holder_task} seed {seed}: {:?}",
            report.outcome
        );
        assert_eq!(report.counters.get("process.kill"), Some(&1));
    }
}

pub(crate) struct KillDriver {
    pub(crate) a: SocketAddr,
}

impl Workload for KillDriver {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        use moonpool_transport::scenarios::{EchoMode, echo, echo_service};
        let p = ctx.providers();
        let control = ctx.control();
        let t = Transport::unbound(p.clone(), TransportConfig::default());
        let c = echo_service::Client::new(&t, echo_service::Interface::well_known(self.a, 1));
        let mut first = None;
        for _ in 0..100 {
            match c
                .echo
                .get_reply(&echo(1, EchoMode::Echo), Duration::from_secs(1))
                .await
            {
                Ok(r) => {
                    first = Some(r.server_incarnation);
                    break;
                }
                Err(_) => p.sleep(Duration::from_millis(10)).await,
            }
        }
        let first = first.ok_or("a never answered")?;
        // An at-most-once call `a` holds while it dies.
        let held = {
            let c = c.clone();
            p.spawn("held", async move {
                c.echo
                    .try_get_reply(&echo(2, EchoMode::Hold), Duration::from_secs(30))
                    .await
            })
        };
        p.sleep(Duration::from_millis(100)).await;
        let a = control.process_by_name("a").ok_or("no a")?;
        control.kill(a)?;
        let r = p.timeout(Duration::from_secs(10), held).await;
        if !matches!(r, Ok(Ok(Err(RpcError::MaybeDelivered)))) {
            return Err(format!("the held call ended with {r:?}").into());
        }
        p.sleep(Duration::from_millis(500)).await;
        control.reboot(a)?;
        let r = c
            .echo
            .get_reply(&echo(3, EchoMode::Echo), Duration::from_secs(30))
            .await?;
        if r.server_incarnation == first {
            return Err("the reply came from the killed incarnation".into());
        }
        Ok(())
    }
}

#[test]
pub(crate) fn a_killed_process_drops_its_transport_with_its_tasks() {
    kill_drops_transport(false);
    kill_drops_transport(true);
}
