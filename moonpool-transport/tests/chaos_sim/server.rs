//! The echo servers.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Providers, TimeProvider};
use moonpool_sim::SimProviders;
use moonpool_transport::{Transport, TransportConfig};

use crate::service::{Action, CallRep, Mode, body, chaos_service};
use crate::shared::Shared;
use crate::tap::TapProviders;
use crate::{HELD_MAX, server_addr};

pub(crate) async fn bind_retrying(p: &TapProviders, addr: SocketAddr) -> Transport<TapProviders> {
    // Bounded: binds fail only under the bind-failure fault (at most 1/2).
    for _ in 0..10_000 {
        if let Ok(t) = Transport::bind(p.clone(), addr, TransportConfig::default()).await {
            return t;
        }
        p.time().sleep(Duration::from_millis(10)).await;
    }
    panic!("could not bind {addr}");
}

pub(crate) async fn server_main(
    sim: SimProviders,
    shared: Rc<Shared>,
    index: usize,
) -> Result<(), String> {
    let p = TapProviders::new(sim.clone(), shared.tap.clone());
    let t = bind_retrying(&p, server_addr(index)).await;
    let incarnation = t.incarnation();
    shared.register(format!("server{index}/{incarnation:#x}"), &t);
    let server = chaos_service::Server::well_known(&t, 1).map_err(|e| e.to_string())?;
    let mut held = VecDeque::new();
    while let Some(chaos_service::Request::call(incoming)) = server.next().await {
        let call = incoming.request;
        *shared.processed.borrow_mut().entry(call.id).or_default() += 1;
        if call.body != body(call.id) {
            shared.violation(format!(
                "server{index} got a corrupted body for call {}",
                call.id
            ));
        }
        if incoming.reply.is_wanted() == (call.mode == Mode::Send) {
            shared.violation(format!(
                "server{index}: call {} ({:?}) arrived with the wrong reply wish",
                call.id, call.mode
            ));
        }
        match call.action {
            Action::Echo => incoming.reply.send(CallRep {
                id: call.id,
                body: call.body,
                server: index,
                incarnation,
                server_clock_ns: p.time().timer().as_nanos(),
            }),
            Action::Drop => drop(incoming.reply),
            Action::Hold => {
                held.push_back(incoming.reply);
                if held.len() > HELD_MAX {
                    held.pop_front();
                }
            }
        }
    }
    Ok(())
}
