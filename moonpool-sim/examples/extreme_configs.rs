//! Extreme but valid network configurations, run on a small echo workload,
//! printing each one's fingerprint for seeds 1..=3.
//!
//! `cargo run --release -p moonpool-sim --example extreme_configs` prints
//! the fixtures `tests/extreme_configs.rs` checks in the test (debug)
//! profile: no arithmetic may overflow or differ between the two builds.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{Listener, NetworkProvider, Ratio, TaskProvider, TimeProvider};
use moonpool_sim::network::Range;
use moonpool_sim::{
    ChaosProfile, FnWorkload, NetworkConfig, NetworkFaults, OneIn, SimContext, SimProviders,
    Simulation, SimulationBuilder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One day, the longest duration a configuration may ask for.
const DAY_MS: u64 = 86_400_000;

/// The configurations: (name, chaos, config).
pub fn configs() -> Vec<(&'static str, bool, NetworkConfig)> {
    let slowest = NetworkConfig {
        latency_base_us: DAY_MS * 1_000,
        latency_jitter_us: DAY_MS * 1_000,
        faults: NetworkFaults {
            latency_tail: Ratio::new(1, 1),
            latency_tail_ms_max: DAY_MS,
            pair_latency_ms_max: DAY_MS,
            ..NetworkFaults::NONE
        },
        ..NetworkConfig::default()
    };
    let narrowest = NetworkConfig {
        latency_base_us: 0,
        latency_jitter_us: 0,
        send_buffer_bytes_max: 1,
        backlog_max: 1,
        faults: NetworkFaults {
            short_read: Ratio::new(1, 1),
            short_write: Ratio::new(1, 1),
            ..NetworkFaults::NONE
        },
        ..NetworkConfig::default()
    };
    let every = OneIn::new(1, 1);
    let wildest_chaos = NetworkConfig {
        latency_jitter_us: DAY_MS * 1_000,
        chaos: ChaosProfile {
            family_off: Ratio::ZERO,
            latency_tail: OneIn::new(1, u64::MAX),
            latency_tail_ms_max: Range::new(DAY_MS, DAY_MS),
            pair_latency_ms_max: Range::new(0, DAY_MS),
            connect_refuse: OneIn::new(2, u64::MAX),
            connect_hang: OneIn::new(u64::MAX, u64::MAX),
            bind_fail: OneIn::new(2, 2),
            random_close: OneIn::new(1_000, u64::MAX),
            bit_flip: every,
            short_read: every,
            short_write: every,
        },
        ..NetworkConfig::default()
    };
    vec![
        ("slowest", false, slowest),
        ("narrowest", false, narrowest),
        ("wildest-chaos", true, wildest_chaos),
    ]
}

const SERVER: [u8; 4] = [10, 0, 0, 1];

/// Echoes 64 bytes on each accepted connection, then closes it.
async fn server(p: SimProviders) -> io::Result<()> {
    let listener = loop {
        match p.bind(SocketAddr::from((SERVER, 7000))).await {
            Ok(l) => break l,
            Err(_) => p.sleep(Duration::from_millis(10)).await,
        }
    };
    loop {
        let (mut s, _) = listener.accept().await?;
        p.spawn("echo", async move {
            let mut buf = [0u8; 64];
            if s.read_exact(&mut buf).await.is_ok() {
                let _ = s.write_all(&buf).await;
            }
        })
        .detach();
    }
}

/// The simulation for one configuration: three clients, each tries one
/// echo (errors are outcomes, not failures: only the fingerprint matters).
pub fn simulation(chaos: bool, config: NetworkConfig) -> Simulation {
    SimulationBuilder::new()
        .network(config)
        .chaos(chaos)
        .time_limit(Duration::from_secs(400 * 86_400))
        .process("server", SERVER, server)
        .workload("client", 3, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                let p = ctx.providers();
                let attempt = async {
                    let mut s = p.connect(SocketAddr::from((SERVER, 7000))).await?;
                    s.write_all(&[7u8; 64]).await?;
                    let mut back = [0u8; 64];
                    s.read_exact(&mut back).await?;
                    io::Result::Ok(())
                };
                let _ = p.timeout(Duration::from_secs(30 * 86_400), attempt).await;
                Ok(())
            })
        })
        .build()
        .expect("a valid configuration")
}

/// `name seed fingerprint` lines.
pub fn fingerprints() -> Vec<String> {
    let mut lines = Vec::new();
    for (name, chaos, config) in configs() {
        let sim = simulation(chaos, config);
        for seed in 1..=3 {
            let r = sim.run_seed(seed);
            lines.push(format!("{name} {seed} {:#018x}", r.fingerprint));
        }
    }
    lines
}

#[allow(dead_code)]
fn main() {
    for line in fingerprints() {
        println!("{line}");
    }
}
