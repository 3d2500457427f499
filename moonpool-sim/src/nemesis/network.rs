//! Built-in network chaos workloads, FoundationDB style.
//!
//! - [`RandomClogging`]: clogs a random pair, a random interface, or
//!   "swizzles" (clogs a random subset of interfaces one by one; they
//!   unclog in a random order).
//! - [`RandomPartitions`]: cuts the processes into two random sets, symmetric
//!   or one-way, holds the cut, heals it.
//! - [`RandomConnectionKills`]: breaks a random live connection (both ends
//!   reset, or one end only, leaving the other half-open).
//!
//! Each aims only at the system under test (`SimControl::system_ips`: the
//! servers and the foreground workloads' clients), never at the processes
//! of background workloads, where the nemeses themselves run: a clog or a
//! partition of a process that never talks would be a fault spent on
//! nothing. A partition always has a process of the system on each side.
//!
//! Each runs the shared loop ([`super::run`]) as a background workload:
//! it acts only while chaos is on, its fault family is on for the seed
//! (swarm testing), and the foreground workloads are still running; it
//! heals what it broke before returning. The runner adds all three with
//! one line (`SimulationBuilder::network_nemeses`), or one with
//! `.background_workload("partitions", 1, |_| RandomPartitions::default())`.

use std::net::IpAddr;
use std::time::Duration;

use moonpool_core::{RandomProvider, Ratio};

use super::{Nemesis, NemesisContext, Next, draw_ms};
use crate::kernel::process::ProcessId;
use crate::model::network::config::family;
use crate::model::network::{ClogDirection, KillMode, Range};
use crate::model::process::lifecycle::ProcessError;
use crate::model::providers::SimProviders;

/// Clogs random pairs and interfaces (`net.clog`).
#[derive(Clone, Debug)]
pub struct RandomClogging {
    /// Pause between clogs, in ms. Default 100..=2,000.
    pub interval_ms: Range,
    /// How long a clog lasts, in ms. Default 50..=2,000 (FDB clogs for
    /// up to seconds).
    pub duration_ms: Range,
}

impl Default for RandomClogging {
    fn default() -> Self {
        RandomClogging {
            interval_ms: Range::new(100, 2_000),
            duration_ms: Range::new(50, 2_000),
        }
    }
}

impl Nemesis for RandomClogging {
    fn family(&self) -> Option<&'static str> {
        Some(family::CLOG)
    }

    fn next_pause(&self, ctx: &NemesisContext<'_>) -> Duration {
        draw_ms(ctx.providers(), self.interval_ms)
    }

    async fn strike(&mut self, ctx: &NemesisContext<'_>) -> Result<Next, ProcessError> {
        let p = ctx.providers();
        let control = ctx.control();
        let ips = control.system_ips();
        if ips.len() < 2 {
            return Ok(Next::Continue);
        }
        let duration = |p: &SimProviders| draw_ms(p, self.duration_ms);
        match p.random_range(0..4u32) {
            0 | 1 => {
                let (a, b) = two_distinct(p, &ips);
                control.clog_pair(a, b, duration(p));
            }
            2 => {
                let ip = ips[p.random_range(0..ips.len())];
                let direction = match p.random_range(0..3u32) {
                    0 => ClogDirection::Send,
                    1 => ClogDirection::Receive,
                    _ => ClogDirection::Both,
                };
                control.clog_interface(ip, direction, duration(p));
            }
            _ => {
                // Swizzle: clog a random subset one by one; each stays
                // clogged a random time, so they unclog in random order.
                let mut subset = ips.clone();
                p.shuffle(&mut subset);
                subset.truncate(p.random_range(1..=subset.len()));
                for ip in subset {
                    control.clog_interface(ip, ClogDirection::Both, duration(p));
                    if !ctx.pause_ms(Range::new(1, 50)).await {
                        break;
                    }
                }
            }
        }
        Ok(Next::Continue)
    }

    async fn heal(&mut self, ctx: &NemesisContext<'_>) -> Result<(), ProcessError> {
        ctx.control().heal_all();
        Ok(())
    }
}

/// Partitions the processes into two random sets (`net.partition`), then heals.
#[derive(Clone, Debug)]
pub struct RandomPartitions {
    /// Pause between partitions, in ms. Default 500..=5,000.
    pub interval_ms: Range,
    /// How long a partition holds, in ms. Default 200..=5,000.
    pub duration_ms: Range,
    /// Probability that a partition is one-way. Default 1/3.
    pub one_way: Ratio,
}

impl Default for RandomPartitions {
    fn default() -> Self {
        RandomPartitions {
            interval_ms: Range::new(500, 5_000),
            duration_ms: Range::new(200, 5_000),
            one_way: Ratio::new(1, 3),
        }
    }
}

impl Nemesis for RandomPartitions {
    fn family(&self) -> Option<&'static str> {
        Some(family::PARTITION)
    }

    fn next_pause(&self, ctx: &NemesisContext<'_>) -> Duration {
        draw_ms(ctx.providers(), self.interval_ms)
    }

    async fn strike(&mut self, ctx: &NemesisContext<'_>) -> Result<Next, ProcessError> {
        let p = ctx.providers();
        let control = ctx.control();
        let mut ips = control.system_ips();
        if ips.len() < 2 {
            return Ok(Next::Continue);
        }
        p.shuffle(&mut ips);
        let k = p.random_range(1..ips.len());
        let (a, b) = ips.split_at(k);
        let id = if control.draw_bool(self.one_way) {
            control.partition_one_way(a, b)
        } else {
            control.partition(a, b)
        };
        let held = ctx.pause_ms(self.duration_ms).await;
        control.heal(id);
        Ok(if held { Next::Continue } else { Next::Stop })
    }

    async fn heal(&mut self, ctx: &NemesisContext<'_>) -> Result<(), ProcessError> {
        ctx.control().heal_all();
        Ok(())
    }
}

/// Breaks random live connections (`net.connection_kill`).
#[derive(Clone, Debug)]
pub struct RandomConnectionKills {
    /// Pause between kills, in ms. Default 200..=3,000.
    pub interval_ms: Range,
}

impl Default for RandomConnectionKills {
    fn default() -> Self {
        RandomConnectionKills {
            interval_ms: Range::new(200, 3_000),
        }
    }
}

impl Nemesis for RandomConnectionKills {
    fn family(&self) -> Option<&'static str> {
        Some(family::DISCONNECT)
    }

    fn next_pause(&self, ctx: &NemesisContext<'_>) -> Duration {
        draw_ms(ctx.providers(), self.interval_ms)
    }

    async fn strike(&mut self, ctx: &NemesisContext<'_>) -> Result<Next, ProcessError> {
        let p = ctx.providers();
        let control = ctx.control();
        let system: Vec<ProcessId> = control
            .system_processes()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let conns: Vec<_> = control
            .connections()
            .into_iter()
            .filter(|c| system.contains(&c.client_process) && system.contains(&c.server_process))
            .collect();
        if conns.is_empty() {
            return Ok(Next::Continue);
        }
        let victim = conns[p.random_range(0..conns.len())].id;
        let mode = match p.random_range(0..3u32) {
            0 => KillMode::Both,
            1 => KillMode::ClientOnly,
            _ => KillMode::ServerOnly,
        };
        control.kill_connection(victim, mode);
        Ok(Next::Continue)
    }
    // Nothing to heal: a broken connection stays broken (the system under
    // test reconnects).
}

/// Two different entries of `ips` (which has at least two).
fn two_distinct(p: &SimProviders, ips: &[IpAddr]) -> (IpAddr, IpAddr) {
    let i = p.random_range(0..ips.len());
    let j = (i + p.random_range(1..ips.len())) % ips.len();
    (ips[i], ips[j])
}
