//! The client workload: workers issuing calls in every mode, each call
//! checked and recorded.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Instant, Providers, RandomProvider, TaskProvider, TimeProvider};
use moonpool_sim::{SimContext, SimJoinHandle, Workload, WorkloadResult};
use moonpool_transport::{RpcError, Transport, TransportConfig};

use crate::server::bind_retrying;
use crate::service::{Action, Call, CallRep, Mode, body, chaos_service};
use crate::shared::Shared;
use crate::tap::TapProviders;
use crate::{CLIENT_PORT, LONG_TIMEOUT, RUN_MS, SERVERS, WORKERS, server_addr};

pub(crate) struct ChaosClient {
    pub(crate) shared: Rc<Shared>,
    pub(crate) transport: Option<Transport<TapProviders>>,
    pub(crate) long_calls: Vec<SimJoinHandle<()>>,
}

/// Everything one call needs.
#[derive(Clone)]
pub(crate) struct Caller {
    pub(crate) p: TapProviders,
    pub(crate) shared: Rc<Shared>,
    pub(crate) transport: Transport<TapProviders>,
    pub(crate) clients: Rc<[chaos_service::Client<TapProviders>]>,
}

impl Caller {
    /// Issues call `id` and records its outcome, checking it.
    pub(crate) async fn call(
        &self,
        id: u64,
        mode: Mode,
        action: Action,
        server: usize,
        timeout: Duration,
    ) {
        let shared = &self.shared;
        shared.issue(id, mode);
        let client = &self.clients[server];
        let req = Call {
            id,
            mode,
            action,
            body: body(id),
        };
        if mode == Mode::Send {
            let outcome = match client.call.send(&req) {
                Ok(()) => "sent",
                Err(RpcError::Unreachable) => "unreachable",
                Err(RpcError::QueueFull) => "queue_full",
                Err(e) => {
                    shared.violation(format!("send {id}: unexpected error {e:?}"));
                    "violation"
                }
            };
            shared.finish(id, outcome);
            return;
        }
        let addr = server_addr(server);
        let disconnects = || {
            self.transport
                .peer_metrics(addr)
                .map_or(0, |m| m.disconnects)
        };
        let disconnects_before = disconnects();
        let start = self.p.time().now();
        let call = async {
            match mode {
                Mode::TryGet => client.call.try_get_reply(&req, timeout).await,
                Mode::GetUnlessFailed => client.call.get_reply_unless_failed(&req, timeout).await,
                _ => client.call.get_reply(&req, timeout).await,
            }
        };
        // A chaos seed may fire any timer late, by less than the seed's
        // buggified-delay bound (FoundationDB's `MAX_BUGGIFIED_DELAY`):
        // the call's own timeout timer included.
        let late_max = Duration::from_millis(moonpool_sim::buggify::BUGGIFIED_DELAY_MS_MAX);
        // The watchdog: a call silent 1 ms past its own (late) timeout is a bug.
        let watched = self
            .p
            .time()
            .timeout(timeout + late_max + Duration::from_millis(1), call)
            .await;
        let end = self.p.time().now();
        let Ok(result) = watched else {
            shared.violation(format!(
                "call {id} ({mode:?}, {action:?}) silent past its {timeout:?} timeout"
            ));
            shared.finish(id, "silent");
            return;
        };
        if end - start > timeout + late_max {
            shared.violation(format!(
                "call {id} ({mode:?}) ended {:?} after its start, past its {timeout:?} timeout",
                end - start
            ));
        }
        let outcome = match judge(id, mode, action, server, start, end, &result) {
            Ok(o) => o,
            Err(e) => {
                shared.violation(format!(
                    "call {id} ({mode:?}, {action:?}, server{server}): {e}"
                ));
                "violation"
            }
        };
        if mode == Mode::GetLong && outcome == "reply" && disconnects() > disconnects_before {
            shared
                .survived_disconnect
                .set(shared.survived_disconnect.get() + 1);
        }
        shared.finish(id, outcome);
    }
}

/// Checks one call's result against what the call was; names the outcome.
pub(crate) fn judge(
    id: u64,
    mode: Mode,
    action: Action,
    server: usize,
    start: Instant,
    end: Instant,
    result: &Result<CallRep, RpcError>,
) -> Result<&'static str, String> {
    match result {
        Ok(rep) => {
            if rep.id != id {
                return Err(format!("got the reply of call {}", rep.id));
            }
            if rep.body != body(id) {
                return Err("the reply's body was altered".into());
            }
            if rep.server != server {
                return Err(format!("answered by server{}", rep.server));
            }
            if rep.server_clock_ns < start.as_nanos() {
                return Err("the reply was stamped before the request was sent".into());
            }
            if action != Action::Echo {
                return Err("a reply although the server did not answer".into());
            }
            Ok("reply")
        }
        Err(RpcError::Timeout) if mode != Mode::GetLong => Ok("timeout"),
        Err(RpcError::MaybeDelivered) if mode.at_most_once() || mode == Mode::GetUnlessFailed => {
            Ok("maybe_delivered")
        }
        Err(RpcError::ConnectionFailed) if mode.at_most_once() => Ok("connection_failed"),
        Err(RpcError::BrokenPromise) if action != Action::Echo => Ok("broken_promise"),
        Err(RpcError::Unreachable) if end == start => Ok("unreachable"),
        Err(RpcError::Unreachable) if mode == Mode::GetUnlessFailed => Ok("unreachable_later"),
        Err(e) => Err(format!("unexpected outcome {e:?}")),
    }
}

impl ChaosClient {
    pub(crate) fn providers(&self, ctx: &SimContext) -> TapProviders {
        TapProviders::new(ctx.providers().clone(), self.shared.tap.clone())
    }
}

impl Workload for ChaosClient {
    async fn setup(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = self.providers(ctx);
        let t = if ctx.client_id() + 1 == ctx.client_count() {
            Transport::unbound(p.clone(), TransportConfig::default())
        } else {
            bind_retrying(&p, SocketAddr::new(ctx.providers().ip(), CLIENT_PORT)).await
        };
        self.shared
            .register(format!("client{}", ctx.client_id()), &t);
        self.transport = Some(t);
        Ok(())
    }

    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = self.providers(ctx);
        let transport = self.transport.clone().ok_or("no transport")?;
        let clients: Rc<[_]> = (0..SERVERS)
            .map(|s| {
                chaos_service::Client::new(
                    &transport,
                    chaos_service::Interface::well_known(server_addr(s), 1),
                )
            })
            .collect();
        let caller = Caller {
            p: p.clone(),
            shared: self.shared.clone(),
            transport,
            clients,
        };
        let end = p.time().now() + Duration::from_millis(RUN_MS);
        let client = ctx.client_id() as u64;
        let long_calls = RefCell::new(Vec::new());
        let workers = (0..WORKERS).map(|w| {
            let (caller, p, long_calls) = (caller.clone(), p.clone(), &long_calls);
            async move {
                // Bounded by the clock: each round sleeps or waits on a call.
                let mut seq = 0u64;
                while p.time().now() < end {
                    let id = (client << 48) | (w << 40) | seq;
                    seq += 1;
                    let r = p.random();
                    let server = r.random_range(0..SERVERS);
                    let mode = match r.random_range(0..100u32) {
                        0..15 => Mode::Send,
                        15..50 => Mode::TryGet,
                        50..75 => Mode::Get,
                        75..85 => Mode::GetUnlessFailed,
                        _ => Mode::GetLong,
                    };
                    let action = match (mode, r.random_range(0..100u32)) {
                        (Mode::GetLong, _) | (_, 0..90) => Action::Echo,
                        (_, 90..96) => Action::Drop,
                        _ => Action::Hold,
                    };
                    if mode == Mode::GetLong {
                        let c = caller.clone();
                        let h = p.task().spawn("long-call", async move {
                            c.call(id, mode, action, server, LONG_TIMEOUT).await;
                        });
                        long_calls.borrow_mut().push(h);
                    } else {
                        let timeout = Duration::from_millis(r.random_range(20..=3_000u64));
                        caller.call(id, mode, action, server, timeout).await;
                    }
                    let pause = r.random_range(0..100u64);
                    p.time().sleep(Duration::from_millis(pause)).await;
                }
            }
        });
        futures::future::join_all(workers).await;
        self.long_calls = long_calls.into_inner();
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        // Chaos is over: every long call must now end (with its reply).
        for h in std::mem::take(&mut self.long_calls) {
            if p.timeout(LONG_TIMEOUT * 2, h).await.is_err() {
                self.shared
                    .violation("a long call's task never ended".to_string());
            }
        }
        let shared = &self.shared;
        shared.clients_done.set(shared.clients_done.get() + 1);
        if ctx.client_id() == 0 {
            // Bounded: the other clients end within their long calls' wait.
            for _ in 0..10_000 {
                if shared.clients_done.get() == ctx.client_count() {
                    break;
                }
                p.sleep(Duration::from_millis(100)).await;
            }
            // Let frames in flight land, then read every counter at once.
            p.sleep(Duration::from_secs(3)).await;
            shared.take_snapshot();
        }
        self.transport = None;
        Ok(())
    }
}
