//! Built-in network chaos workloads, FoundationDB style.
//!
//! - [`RandomClogging`]: clogs a random pair, a random interface, or
//!   "swizzles" (clogs a random subset of interfaces one by one; they
//!   unclog in a random order).
//! - [`RandomPartitions`]: cuts the hosts into two random sets, symmetric
//!   or one-way, holds the cut, heals it.
//! - [`RandomConnectionKills`]: breaks a random live connection (both ends
//!   reset, or one end only, leaving the other half-open).
//!
//! Each is a background workload: it acts only while chaos is on, its
//! fault family is on for the seed (swarm testing), and the foreground
//! workloads are still running; it heals what it broke before returning.
//! Add all three with one line, [`SimulationBuilder::network_nemeses`], or
//! one with `.background_workload("partitions", 1, |_| RandomPartitions::default())`.

use std::net::IpAddr;
use std::time::Duration;

use moonpool_core::{RandomProvider, Ratio};

use super::config::{Range, family};
use super::control::{ClogDirection, KillMode};
use crate::runner::{SimContext, SimulationBuilder, Workload, WorkloadResult};

/// Actions a nemesis takes in one seed, at most (a bound on its loop).
const ACTIONS_MAX: u32 = 100_000;

/// Sleeps a random duration from `range_ms`; false if the run phase ended
/// first (the nemesis must then stop).
async fn pause(ctx: &SimContext, range_ms: Range) -> bool {
    let ms = ctx
        .providers()
        .random_range(range_ms.min..=range_ms.max.max(range_ms.min));
    ctx.pause(Duration::from_millis(ms)).await
}

/// Whether the nemesis for `family` should run at all this seed.
fn enabled(ctx: &SimContext, family: &str) -> bool {
    let control = ctx.control();
    control.chaos_active() && control.fault_family_on(family)
}

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

impl Workload for RandomClogging {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        if !enabled(ctx, family::CLOG) {
            ctx.wait_run_phase_done().await;
            return Ok(());
        }
        let p = ctx.providers();
        let control = ctx.control();
        for _ in 0..ACTIONS_MAX {
            if !pause(ctx, self.interval_ms).await || !control.chaos_active() {
                break;
            }
            let ips = control.host_ips();
            if ips.len() < 2 {
                continue;
            }
            let duration = |p: &crate::SimProviders| {
                Duration::from_millis(p.random_range(
                    self.duration_ms.min..=self.duration_ms.max.max(self.duration_ms.min),
                ))
            };
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
                        if !pause(ctx, Range::new(1, 50)).await {
                            break;
                        }
                    }
                }
            }
        }
        control.heal_all();
        Ok(())
    }
}

/// Partitions the hosts into two random sets (`net.partition`), then heals.
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

impl Workload for RandomPartitions {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        if !enabled(ctx, family::PARTITION) {
            ctx.wait_run_phase_done().await;
            return Ok(());
        }
        let p = ctx.providers();
        let control = ctx.control();
        for _ in 0..ACTIONS_MAX {
            if !pause(ctx, self.interval_ms).await || !control.chaos_active() {
                break;
            }
            let mut ips = control.host_ips();
            if ips.len() < 2 {
                continue;
            }
            p.shuffle(&mut ips);
            let k = p.random_range(1..ips.len());
            let (a, b) = ips.split_at(k);
            let id = if control.draw_bool(self.one_way) {
                control.partition_one_way(a, b)
            } else {
                control.partition(a, b)
            };
            let held = pause(ctx, self.duration_ms).await;
            control.heal(id);
            if !held {
                break;
            }
        }
        control.heal_all();
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

impl Workload for RandomConnectionKills {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        if !enabled(ctx, family::DISCONNECT) {
            ctx.wait_run_phase_done().await;
            return Ok(());
        }
        let p = ctx.providers();
        let control = ctx.control();
        for _ in 0..ACTIONS_MAX {
            if !pause(ctx, self.interval_ms).await || !control.chaos_active() {
                break;
            }
            let conns = control.connections();
            if conns.is_empty() {
                continue;
            }
            let victim = conns[p.random_range(0..conns.len())].id;
            let mode = match p.random_range(0..3u32) {
                0 => KillMode::Both,
                1 => KillMode::ClientOnly,
                _ => KillMode::ServerOnly,
            };
            control.kill_connection(victim, mode);
        }
        Ok(())
    }
}

/// Two different entries of `ips` (which has at least two).
fn two_distinct(p: &crate::SimProviders, ips: &[IpAddr]) -> (IpAddr, IpAddr) {
    let i = p.random_range(0..ips.len());
    let j = (i + p.random_range(1..ips.len())) % ips.len();
    (ips[i], ips[j])
}

impl SimulationBuilder {
    /// Adds the three network nemeses ([`RandomClogging`],
    /// [`RandomPartitions`], [`RandomConnectionKills`]) as background
    /// workloads named `nemesis-clog`, `nemesis-partition` and
    /// `nemesis-kill`. They act only when chaos is on.
    pub fn network_nemeses(self) -> Self {
        self.background_workload("nemesis-clog", 1, |_| RandomClogging::default())
            .background_workload("nemesis-partition", 1, |_| RandomPartitions::default())
            .background_workload("nemesis-kill", 1, |_| RandomConnectionKills::default())
    }
}
