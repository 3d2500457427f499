//! The fenced resource: a durable register that accepts a fence or a
//! write only with a token at least the highest it has accepted.
//!
//! # Invariants
//! - A fence or a write is acknowledged (`Accepted`) only after the new
//!   register (its highest token, value and write count) is durable, so
//!   a restart never forgets a token it fenced.
//! - Requests are decided one at a time, each against the state the
//!   previous one left, and recorded in that order (barring
//!   [`ElectionBug::NoFencing`], a token below the highest is refused).
//! - The resource recovers its register before it binds its address: it
//!   never answers from a state it has not recovered.

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{Providers, RandomProvider, TimeProvider};

use super::checker::{Recorder, ResourceEvent, ResourceOp};
use super::server::bind;
use super::storage::{Durable, REGISTER_PATH};
use super::{
    Ballot, ElectionBug, ElectionError, RESOURCE_INDEX, Register, ResourceReply, resource_api,
};

/// The resource process: recovers its register, binds `listen`, and
/// serves fences, writes and reads until killed.
pub async fn resource<P: Providers>(
    p: P,
    listen: SocketAddr,
    recorder: Recorder,
    bug: Option<ElectionBug>,
) -> Result<(), ElectionError> {
    let (durable, mut register) = Durable::<P, Register>::open(&p, REGISTER_PATH).await?;
    let transport = bind(&p, listen).await?;
    let server = resource_api::Server::well_known(&transport, RESOURCE_INDEX)?;
    while let Some(request) = server.next().await {
        // Rarely, a slow resource (a long fsync, a pause): late writes of
        // a deposed leader then race the next leader's fence.
        if moonpool_core::buggify!() {
            let ms = p.random().random_range(1..=200u64);
            p.time().sleep(Duration::from_millis(ms)).await;
        }
        match request {
            resource_api::Request::fence(r) => {
                let token = r.request.token;
                let reply = decide(&durable, &mut register, token, None, bug).await;
                record(&p, &recorder, ResourceOp::Fence, token, reply);
                r.reply.send(reply);
            }
            resource_api::Request::write(r) => {
                let (token, value) = (r.request.token, r.request.value);
                let reply = decide(&durable, &mut register, token, Some(value), bug).await;
                record(&p, &recorder, ResourceOp::Write, token, reply);
                r.reply.send(reply);
            }
            resource_api::Request::read(r) => r.reply.send(register),
        }
    }
    Ok(())
}

fn record<P: Providers>(
    p: &P,
    recorder: &Recorder,
    op: ResourceOp,
    token: Ballot,
    reply: ResourceReply,
) {
    if reply == ResourceReply::Disk {
        return;
    }
    recorder.resource(ResourceEvent {
        op,
        token,
        accepted: reply == ResourceReply::Accepted,
        at: recorder.stamp(p.time().now()),
    });
}

/// Decides a fence (`value: None`) or a write, making an accepted one
/// durable first.
async fn decide<P: Providers>(
    durable: &Durable<P, Register>,
    register: &mut Register,
    token: Ballot,
    value: Option<u64>,
    bug: Option<ElectionBug>,
) -> ResourceReply {
    if token < register.highest && bug != Some(ElectionBug::NoFencing) {
        moonpool_core::reachable!("the resource refused a deposed leader's token");
        return ResourceReply::Stale {
            highest: register.highest,
        };
    }
    let next = Register {
        highest: register.highest.max(token),
        value: value.unwrap_or(register.value),
        writes: register.writes + u64::from(value.is_some()),
    };
    match durable.store(&next).await {
        Ok(()) => {
            *register = next;
            ResourceReply::Accepted
        }
        Err(e) => {
            tracing::debug!(error = %e, "the resource could not persist its register");
            ResourceReply::Disk
        }
    }
}
