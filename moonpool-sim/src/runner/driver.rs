//! Populating a world and driving its workloads through their phases.

use std::rc::Rc;

use super::builder::{ProcessSpec, WorkloadSpec, client_ip};
use super::workload::{DynWorkload, Phase, ProcessRef, SimContext};
use crate::kernel::executor::join::SimJoinHandle;
use crate::kernel::failure::SeedFailure;
use crate::kernel::process::ProcessId;
use crate::model::process::ProcessKind;
use crate::model::providers::SimProviders;
use crate::model::world::World;

/// Creates the processes, starts every server's `main`, and spawns the
/// workload driver.
pub(crate) fn populate(world: &Rc<World>, processes: &[ProcessSpec], workloads: &[WorkloadSpec]) {
    // Per-seed fault parameters are drawn first, so they depend only on the
    // seed and the configuration.
    crate::model::network::init_seed(world);
    crate::model::clock::init_seed(world);
    crate::model::storage::init_seed(world);
    crate::model::buggify::init_seed(world);
    world.add_process(
        super::builder::SIMULATOR_PROCESS.into(),
        std::net::IpAddr::from([0, 0, 0, 0]),
        ProcessKind::System,
        None,
    );
    for p in processes {
        world.add_process(
            p.name.clone(),
            p.ip,
            ProcessKind::Server,
            Some(p.main.clone()),
        );
    }
    let servers: Rc<[ProcessRef]> = processes
        .iter()
        .map(|p| ProcessRef {
            name: p.name.clone(),
            ip: p.ip,
        })
        .collect();
    for i in 0..processes.len() {
        world.start_process(ProcessId(i as u32 + 1));
    }
    let mut clients: Vec<Client> = Vec::new();
    for (w, spec) in workloads.iter().enumerate() {
        for client_id in 0..spec.count {
            let pid = world.add_process(
                format!("{}#{client_id}", spec.name).into(),
                client_ip(w, client_id),
                if spec.background {
                    ProcessKind::Background
                } else {
                    ProcessKind::Workload
                },
                None,
            );
            let ctx = SimContext {
                providers: SimProviders::new(Rc::clone(world), pid, 0),
                workload: spec.name.clone(),
                client_id,
                client_count: spec.count,
                servers: Rc::clone(&servers),
            };
            clients.push(Client {
                ctx,
                workload: (spec.factory)(client_id),
                background: spec.background,
            });
        }
    }
    world
        .spawn(
            ProcessId::SYSTEM,
            0,
            "workload-driver",
            drive(Rc::clone(world), clients),
        )
        .detach();
}

/// One workload client and its state between phases.
struct Client {
    ctx: SimContext,
    workload: Box<dyn DynWorkload>,
    background: bool,
}

/// Runs every client through setup, run and check; fails the seed on the
/// first error, finishes it when all checks pass.
async fn drive(world: Rc<World>, mut clients: Vec<Client>) {
    for phase in [Phase::Setup, Phase::Run, Phase::Check] {
        if phase == Phase::Check {
            world.quiesce();
        }
        let handles: Vec<_> = clients
            .into_iter()
            .map(|client| {
                let background = client.background;
                (background, spawn_phase(&world, phase, client))
            })
            .collect();
        // Foreground clients first: when they are done with `run`, the
        // background ones are told to stop.
        let (background, foreground): (Vec<_>, Vec<_>) =
            handles.into_iter().partition(|(bg, _)| *bg);
        let mut next = Vec::with_capacity(foreground.len() + background.len());
        for (_, handle) in foreground {
            match handle.await {
                Ok(client) => next.push(client),
                // A client process cannot be killed, so only teardown cancels.
                Err(_) => return,
            }
        }
        if phase == Phase::Run {
            world.end_run_phase();
        }
        for (_, handle) in background {
            match handle.await {
                Ok(client) => next.push(client),
                Err(_) => return,
            }
        }
        clients = next;
    }
    world.finish();
}

/// Spawns one phase of one client in its process; the task hands the client
/// back for the next phase.
fn spawn_phase(world: &Rc<World>, phase: Phase, mut client: Client) -> SimJoinHandle<Client> {
    let w = Rc::clone(world);
    let process = client.ctx.providers.process;
    let incarnation = client.ctx.providers.incarnation;
    world.spawn(process, incarnation, phase.name(), async move {
        let result = client.workload.phase(phase, &client.ctx).await;
        if let Err(e) = result {
            w.fail(SeedFailure::WorkloadFailed {
                workload: client.ctx.workload.to_string(),
                client_id: client.ctx.client_id,
                phase: phase.name(),
                message: e.to_string(),
            });
        }
        client
    })
}
