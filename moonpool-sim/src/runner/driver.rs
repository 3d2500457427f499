//! Populating a world and driving its workloads through their phases.

use std::rc::Rc;

use moonpool_core::JoinHandle;

use super::workload::{DynWorkload, Phase, ProcessRef, SimContext};
use super::{ProcessSpec, WorkloadSpec, client_ip};
use crate::failure::SeedFailure;
use crate::process::{ProcessId, ProcessKind, ProcessState};
use crate::providers::SimProviders;
use crate::world::World;

/// Creates the processes, starts every server's `main`, and spawns the
/// workload driver.
pub(crate) fn populate(world: &Rc<World>, processes: &[ProcessSpec], workloads: &[WorkloadSpec]) {
    // Per-seed fault parameters are drawn first, so they depend only on the
    // seed and the configuration.
    crate::network::init_seed(world);
    crate::storage::init_seed(world);
    crate::buggify::init_seed(world);
    {
        let mut table = world.processes.borrow_mut();
        table.add(
            "simulator".into(),
            std::net::IpAddr::from([0, 0, 0, 0]),
            ProcessKind::System,
            None,
        );
        for p in processes {
            table.add(
                p.name.clone(),
                p.ip,
                ProcessKind::Server,
                Some(p.main.clone()),
            );
        }
    }
    let servers: Rc<[ProcessRef]> = processes
        .iter()
        .map(|p| ProcessRef {
            name: p.name.clone(),
            ip: p.ip,
        })
        .collect();
    for i in 0..processes.len() {
        start_process(world, ProcessId(i as u32 + 1));
    }
    let mut clients: Vec<Client> = Vec::new();
    for (w, spec) in workloads.iter().enumerate() {
        for client_id in 0..spec.count {
            let pid = world.processes.borrow_mut().add(
                format!("{}#{client_id}", spec.name).into(),
                client_ip(w, client_id),
                ProcessKind::Workload,
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
            "workload-driver",
            drive(Rc::clone(world), clients),
        )
        .detach();
}

/// Spawns the `main` of server process `id` in its current incarnation.
pub(crate) fn start_process(world: &Rc<World>, id: ProcessId) {
    let (main, incarnation) = {
        let table = world.processes.borrow();
        match (table.main(id), table.get(id)) {
            (Some(main), Some(info)) => (main, info.incarnation),
            _ => return,
        }
    };
    let providers = SimProviders::new(Rc::clone(world), id, incarnation);
    let main_future = main(providers);
    let world2 = Rc::clone(world);
    world
        .spawn(id, "main", async move {
            let result = main_future.await;
            main_exited(&world2, id, incarnation, result);
        })
        .detach();
}

/// Records the end of a `main`: an error fails the seed.
fn main_exited(world: &World, id: ProcessId, incarnation: u32, result: Result<(), String>) {
    let mut table = world.processes.borrow_mut();
    let Some(info) = table.get_mut(id) else {
        return;
    };
    if info.incarnation != incarnation || info.state == ProcessState::Dead {
        return;
    }
    match result {
        Ok(()) => info.state = ProcessState::Exited,
        Err(message) => {
            let failure = SeedFailure::ProcessFailed {
                process: info.name.to_string(),
                ip: info.ip.to_string(),
                message,
            };
            drop(table);
            world.fail(failure);
        }
    }
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
fn spawn_phase(
    world: &Rc<World>,
    phase: Phase,
    mut client: Client,
) -> crate::SimJoinHandle<Client> {
    let w = Rc::clone(world);
    let process = client.ctx.providers.process;
    world.spawn(process, phase.name(), async move {
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
