//! The transport's metrics reach the simulator's report: every counter the
//! transport keeps is also counted, under `transport.*`, in the seed's
//! counters (the `metrics` object of `--json`), exactly.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::TaskProvider;
use moonpool_sim::{FnWorkload, SimContext, SimulationBuilder};
use moonpool_transport::{Transport, TransportConfig, TransportMetrics};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Echo(u64);

moonpool_transport::service! {
    /// Echoes numbers.
    mod echo { echo: Echo => u64 }
}

#[test]
fn transport_metrics_appear_in_the_seed_report_exactly() {
    let seen: Rc<RefCell<Vec<TransportMetrics>>> = Rc::default();
    let s = Rc::clone(&seen);
    let sim = SimulationBuilder::new()
        .workload("rpc", 1, move |_| {
            let s = Rc::clone(&s);
            FnWorkload::new(move |ctx: SimContext| {
                let s = Rc::clone(&s);
                async move {
                    let p = ctx.providers().clone();
                    let addr = SocketAddr::new(p.ip(), 4700);
                    let server_t =
                        Transport::bind(p.clone(), addr, TransportConfig::default()).await?;
                    let server = echo::Server::new(&server_t)?;
                    let client_t = Transport::unbound(p.clone(), TransportConfig::default());
                    let client = echo::Client::new(&client_t, server.interface());
                    let serving = p.spawn("server", async move {
                        while let Some(echo::Request::echo(r)) = server.next().await {
                            r.reply.send(r.request.0 + 1);
                        }
                    });
                    for i in 0..25 {
                        let reply = client
                            .echo
                            .get_reply(&Echo(i), Duration::from_secs(5))
                            .await?;
                        assert_eq!(reply, i + 1);
                    }
                    s.borrow_mut().push(server_t.metrics());
                    s.borrow_mut().push(client_t.metrics());
                    serving.abort();
                    Ok(())
                }
            })
        })
        .build()
        .expect("valid");
    let report = sim.run_seed(5);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    let metrics = seen.borrow();
    let total = |f: fn(&TransportMetrics) -> u64| metrics.iter().map(f).sum::<u64>();
    let counted = |name: &str| report.counters.get(name).copied().unwrap_or(0);
    assert!(total(|m| m.frames_sent) >= 50, "{metrics:?}");
    assert_eq!(counted("transport.frames_sent"), total(|m| m.frames_sent));
    assert_eq!(counted("transport.bytes_sent"), total(|m| m.bytes_sent));
    assert_eq!(
        counted("transport.frames_received"),
        total(|m| m.frames_received)
    );
    assert_eq!(
        counted("transport.bytes_received"),
        total(|m| m.bytes_received)
    );
    assert_eq!(
        counted("transport.connections_accepted"),
        total(|m| m.connections_accepted)
    );
}
