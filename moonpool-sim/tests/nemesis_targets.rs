//! The nemeses strike the system under test, never themselves: over 1,000
//! chaos seeds, every clog, partition, connection kill, process kill and
//! clock skew lands on servers and foreground workload clients only (clock
//! skews on servers), never on the
//! processes of the background workloads that run the nemeses (nor on a
//! background workload that never touches the network).

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use moonpool_core::{Listener, NetworkProvider, TaskProvider, TimeProvider};
use moonpool_sim::{
    Attrition, FnWorkload, SimContext, SimProviders, Simulation, SimulationBuilder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 7000;
const SERVERS: u8 = 3;

fn server_ip(i: u8) -> IpAddr {
    IpAddr::from([10, 0, 9, i + 1])
}

/// Echoes whatever arrives on the process's own IP.
async fn echo_server(p: SimProviders) -> io::Result<()> {
    let listener = loop {
        match p.bind(SocketAddr::new(p.ip(), PORT)).await {
            Ok(l) => break l,
            Err(_) => p.sleep(Duration::from_millis(10)).await,
        }
    };
    loop {
        let (mut s, _) = listener.accept().await?;
        p.spawn("echo", async move {
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = s.read(&mut buf).await {
                if s.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        })
        .detach();
    }
}

/// A client that echoes through the servers in turn for three simulated
/// seconds, reconnecting whenever anything goes wrong.
async fn client(ctx: SimContext) -> moonpool_sim::WorkloadResult {
    let p = ctx.providers();
    let end = p.now() + Duration::from_secs(3);
    let mut i = 0u8;
    while p.now() < end {
        i = i.wrapping_add(1);
        let addr = SocketAddr::new(server_ip(i % SERVERS), PORT);
        let round = async {
            let mut s = p.connect(addr).await?;
            for _ in 0..5 {
                s.write_all(&[i; 16]).await?;
                let mut back = [0u8; 16];
                s.read_exact(&mut back).await?;
                p.sleep(Duration::from_millis(20)).await;
            }
            io::Result::Ok(())
        };
        let _ = p.timeout(Duration::from_millis(500), round).await;
        p.sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn sim() -> Simulation {
    let mut builder = SimulationBuilder::new().chaos(true).max_down(1);
    for i in 0..SERVERS {
        builder = builder.process(format!("server-{i}"), server_ip(i), echo_server);
    }
    builder
        .workload("client", 2, |_| FnWorkload::new(client))
        .background_workload("attrition", 1, |_| {
            Attrition::new()
                .max_down(1)
                .interval(Duration::from_millis(200), Duration::from_millis(800))
                .reboot_delay(Duration::ZERO, Duration::from_millis(300))
        })
        .background_workload("idle", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                ctx.wait_run_phase_done().await;
                Ok(())
            })
        })
        .network_nemeses()
        .clock_nemesis()
        .build()
        .expect("valid")
}

/// Whether a partition's timeline detail (`partition N: [a, b] <-/-> [c]`)
/// has a process of the system under test on each side: a server, or a
/// client of the foreground workload (the first declared: `10.254.0.*`).
fn separates_the_system(detail: &str) -> bool {
    let Some((_, sides)) = detail.split_once(": ") else {
        return false;
    };
    let arrow = if sides.contains("<-/->") {
        "<-/->"
    } else {
        "-/->"
    };
    let Some((a, b)) = sides.split_once(arrow) else {
        return false;
    };
    let system = |side: &str| {
        side.trim_matches(|c: char| c == '[' || c == ']' || c == ' ')
            .split(", ")
            .filter_map(|ip| ip.parse::<IpAddr>().ok())
            .any(|ip| match ip {
                IpAddr::V4(v4) => {
                    let o = v4.octets();
                    o[..3] == [10, 0, 9] || o[..3] == [10, 254, 0]
                }
                IpAddr::V6(_) => false,
            })
    };
    system(a) && system(b)
}

#[test]
fn nemeses_hit_only_the_system_over_a_thousand_seeds() {
    let mut sim = sim();
    // The timeline names each partition's two sides.
    sim.set_record_timeline(true);
    let mut partitions = 0u64;
    let mut one_sided = 0u64;
    let mut total: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut on_system: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in 0..1_000 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        for (k, n) in &r.counters {
            *total.entry(k).or_insert(0) += n;
        }
        for (k, n) in &r.faults_on_system {
            *on_system.entry(k).or_insert(0) += n;
        }
        for e in r.timeline.iter().filter(|e| e.kind == "net.partition") {
            partitions += 1;
            if !separates_the_system(&e.detail) {
                one_sided += 1;
            }
        }
    }
    println!(
        "net.partition: {one_sided} of {partitions} left the system under test whole on one side"
    );
    assert!(partitions > 0);
    assert_eq!(
        one_sided, 0,
        "partitions that cut no system process from another"
    );
    let mut astray = Vec::new();
    for kind in [
        "net.clog",
        "net.partition",
        "net.connection_kill",
        "process.kill",
        "clock.skew",
        "clock.rate",
    ] {
        let t = total.get(kind).copied().unwrap_or(0);
        let s = on_system.get(kind).copied().unwrap_or(0);
        println!("{kind}: {t} in all, {s} on the system under test");
        assert!(t > 0, "no {kind} in 1,000 seeds");
        if s != t {
            astray.push(format!("{} of {t} {kind}", t - s));
        }
    }
    assert!(
        astray.is_empty(),
        "faults hit processes outside the system: {}",
        astray.join(", ")
    );
}
