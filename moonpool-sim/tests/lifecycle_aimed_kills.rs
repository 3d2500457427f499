//! Kills aimed at I/O in flight: `SimControl::kill_at_io` strikes right
//! after an unsynced write or during a sync, and attrition's aimed kills
//! find unsynced data on the disk in most kills, where kills at uniformly
//! random times rarely do under light load.

use std::time::Duration;

use moonpool_core::{OpenMode, Ratio, StorageFile, StorageProvider, TimeProvider};
use moonpool_sim::{
    Attrition, FnWorkload, KillMoment, ProcessError, SeedReport, SimContext, SimProviders,
    Simulation, SimulationBuilder,
};

/// A lightly loaded logger: every 50 ms it appends a record and syncs
/// (a few milliseconds of I/O in flight per 50).
async fn logger(p: SimProviders) -> Result<(), String> {
    let file = p
        .open("log", OpenMode::OpenOrCreate)
        .await
        .map_err(|e| e.to_string())?;
    let mut end = file.len().await.map_err(|e| e.to_string())?;
    loop {
        p.sleep(Duration::from_millis(50)).await;
        // Disk faults are off here; a killed incarnation's handle fails,
        // and then this task is gone anyway.
        if file.write_at(&[7u8; 512], end).await.is_ok() && file.sync().await.is_ok() {
            end += 512;
        }
    }
}

/// An idle server with no files.
async fn idle(p: SimProviders) {
    loop {
        p.sleep(Duration::from_secs(1)).await;
    }
}

fn count(r: &SeedReport, kind: &str) -> u64 {
    r.counters.get(kind).copied().unwrap_or(0)
}

#[test]
fn an_aimed_kill_strikes_after_a_write_or_during_a_sync_with_data_unsynced() {
    let sim = SimulationBuilder::new()
        .process("logger", [10, 0, 0, 1], logger)
        .process("idle", [10, 0, 0, 2], idle)
        .workload("aim", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                let control = ctx.control();
                let logger = control.process_by_name("logger").ok_or("no logger")?;
                let idle = control.process_by_name("idle").ok_or("no idle")?;
                let mut moments = Vec::new();
                for _ in 0..20 {
                    ctx.providers().sleep(Duration::from_millis(13)).await;
                    let moment = control
                        .kill_at_io(logger, None, Duration::from_secs(1))
                        .await?;
                    moments.push(moment);
                    control.reboot(logger)?;
                }
                if moments.contains(&KillMoment::WaitEnded) {
                    return Err(format!("a busy logger was killed idle: {moments:?}").into());
                }
                if !moments.contains(&KillMoment::AfterWrite) {
                    return Err(format!("never struck after a write: {moments:?}").into());
                }
                // No I/O ever comes from a process without files.
                let start = ctx.providers().now();
                let moment = control
                    .kill_at_io(idle, None, Duration::from_millis(300))
                    .await?;
                if moment != KillMoment::WaitEnded
                    || ctx.providers().now() - start != Duration::from_millis(300)
                {
                    return Err(format!("idle process: {moment:?}").into());
                }
                if control.kill_at_io(idle, None, Duration::ZERO).await
                    != Err(ProcessError::AlreadyDead(idle))
                {
                    return Err("a dead process cannot be killed again".into());
                }
                Ok(())
            })
        })
        .build()
        .expect("valid");
    let r = sim.run_seed(1);
    assert!(r.outcome.is_pass(), "{:?}", r.outcome);
    assert_eq!(count(&r, "process.kill_aimed"), 20);
    assert_eq!(count(&r, "process.kill_unsynced"), 20, "{:?}", r.counters);
    // The crashes really exposed unsynced data (here, mostly a log file
    // created and never synced, lost whole).
    let crashed: u64 = [
        "disk.crash_kept",
        "disk.crash_lost",
        "disk.crash_torn",
        "disk.crash_file_lost",
    ]
    .iter()
    .map(|k| count(&r, k))
    .sum();
    assert!(crashed >= 20, "{:?}", r.counters);
}

fn attrition_sim(aim: Ratio) -> Simulation {
    let mut sim = SimulationBuilder::new()
        .process("logger", [10, 0, 0, 1], logger)
        .workload("wait", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                ctx.providers().sleep(Duration::from_secs(20)).await;
                Ok(())
            })
        })
        .background_workload("attrition", 1, move |_| {
            Attrition::new()
                .interval(Duration::from_millis(100), Duration::from_millis(500))
                .reboot_delay(Duration::ZERO, Duration::from_millis(100))
                .aim_at_io(aim)
        })
        .build()
        .expect("valid");
    sim.set_chaos(true);
    sim
}

/// Kills, and kills that found unsynced data, over 20 seeds.
fn kill_share(aim: Ratio) -> (u64, u64) {
    let sim = attrition_sim(aim);
    let (mut kills, mut unsynced) = (0, 0);
    for seed in 0..20 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        kills += count(&r, "process.kill");
        unsynced += count(&r, "process.kill_unsynced");
    }
    (kills, unsynced)
}

#[test]
fn attritions_aimed_kills_find_unsynced_data_where_random_ones_rarely_do() {
    let (kills, unsynced) = kill_share(Ratio::ZERO);
    let (aimed_kills, aimed_unsynced) = kill_share(Ratio::ONE);
    let (half_kills, half_unsynced) = kill_share(Ratio::new(1, 2));
    println!(
        "kills with unsynced data: uniform {unsynced}/{kills}, aimed {aimed_unsynced}/{aimed_kills}, half aimed (the default) {half_unsynced}/{half_kills}"
    );
    assert!(kills > 500 && aimed_kills > 500 && half_kills > 500);
    assert!(unsynced * 10 < kills, "uniform: {unsynced}/{kills}");
    assert!(
        aimed_unsynced * 10 > aimed_kills * 9,
        "aimed: {aimed_unsynced}/{aimed_kills}"
    );
    assert!(
        half_unsynced * 3 > half_kills,
        "half aimed: {half_unsynced}/{half_kills}"
    );
}

/// Writes and syncs once every 3 s.
async fn rare_writer(p: SimProviders) -> Result<(), String> {
    let file = p
        .open("log", OpenMode::OpenOrCreate)
        .await
        .map_err(|e| e.to_string())?;
    file.sync().await.map_err(|e| e.to_string())?;
    loop {
        p.sleep(Duration::from_secs(3)).await;
        let _ = file.write_at(&[1u8; 64], 0).await;
        let _ = file.sync().await;
    }
}

#[test]
fn an_aimed_kill_still_waiting_when_the_run_phase_ends_never_strikes() {
    // The first aimed kill waits for the write at 3 s; the run phase ends
    // at 2 s, and the write after it must find nothing armed.
    let mut sim = SimulationBuilder::new()
        .process("writer", [10, 0, 0, 1], rare_writer)
        .workload("wait", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                ctx.providers().sleep(Duration::from_secs(2)).await;
                Ok(())
            })
        })
        .workload("after", 1, |_| {
            FnWorkload::new(|_: SimContext| async { Ok(()) }).with_check(
                |ctx: SimContext| async move {
                    ctx.providers().sleep(Duration::from_secs(5)).await;
                    Ok(())
                },
            )
        })
        .background_workload("attrition", 1, |_| {
            Attrition::new()
                .interval(Duration::from_millis(100), Duration::from_millis(100))
                .aim_at_io(Ratio::ONE)
                .aim_wait(Duration::from_secs(10))
        })
        .build()
        .expect("valid");
    sim.set_chaos(true);
    sim.set_record_timeline(true);
    for seed in 0..5 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        assert!(
            r.sim_time >= Duration::from_secs(7),
            "the write at 6 s happened"
        );
        assert_eq!(
            count(&r, "process.kill"),
            0,
            "seed {seed}: {:?}",
            r.timeline
        );
    }
}
