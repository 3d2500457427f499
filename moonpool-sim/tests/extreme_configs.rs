//! Extreme but valid network configurations give, in the test (debug)
//! profile with overflow checks, the fingerprints a release build prints
//! for them: no arithmetic in the engine or the network overflows or
//! differs between builds. The fixtures were printed by
//! `cargo run --release -p moonpool-sim --example extreme_configs`.

#[path = "../examples/extreme_configs.rs"]
mod extreme;

use moonpool_sim::{ConfigError, NetworkConfig, NetworkConfigError, SimulationBuilder};

const RELEASE_FINGERPRINTS: &str = "\
slowest 1 0x5e0b3a012d53077c
slowest 2 0xe618846ab2d7fae8
slowest 3 0xcb1fb7f183664d40
narrowest 1 0xd5e9839378c616c1
narrowest 2 0xd8d805d1d4623bee
narrowest 3 0x416da403a951feac
wildest-chaos 1 0xbb3251b1366bdc69
wildest-chaos 2 0x774cd9ad57546c79
wildest-chaos 3 0x14fa142937a0f1d3";

#[test]
fn extreme_valid_configs_give_the_release_builds_fingerprints() {
    assert_eq!(extreme::fingerprints().join("\n"), RELEASE_FINGERPRINTS);
}

fn refused(config: NetworkConfig) -> NetworkConfigError {
    match SimulationBuilder::new()
        .network(config)
        .workload("w", 1, |_| {
            moonpool_sim::FnWorkload::new(|_ctx: moonpool_sim::SimContext| async { Ok(()) })
        })
        .build()
    {
        Err(ConfigError::Network(e)) => e,
        other => panic!("expected a network config error, got {:?}", other.err()),
    }
}

#[test]
fn unusable_network_configs_are_refused_by_build() {
    let base = NetworkConfig::default;
    assert_eq!(
        refused(NetworkConfig {
            send_buffer_bytes_max: 0,
            ..base()
        }),
        NetworkConfigError::ZeroBuffer
    );
    assert_eq!(
        refused(NetworkConfig {
            latency_jitter_us: u64::MAX,
            ..base()
        }),
        NetworkConfigError::TooLong {
            name: "latency_jitter_us",
            value: u64::MAX / 1_000
        }
    );
    let mut inverted = base();
    inverted.chaos.pair_latency_ms_max = moonpool_sim::network::Range::new(5, 1);
    assert_eq!(
        refused(inverted),
        NetworkConfigError::InvertedRange("chaos.pair_latency_ms_max")
    );
    let mut zero = base();
    zero.chaos.bit_flip = moonpool_sim::OneIn::new(0, 10);
    assert_eq!(
        refused(zero),
        NetworkConfigError::ZeroOneIn("chaos.bit_flip")
    );
    let mut huge_tail = base();
    huge_tail.faults.latency_tail_ms_max = u64::MAX;
    assert!(matches!(
        refused(huge_tail),
        NetworkConfigError::TooLong {
            name: "faults.latency_tail_ms_max",
            ..
        }
    ));
}

#[test]
fn process_and_workload_names_the_simulator_cannot_use_are_refused() {
    let with_process = |name: &'static str| {
        SimulationBuilder::new()
            .process(
                name,
                [10, 0, 0, 1],
                |_p: moonpool_sim::SimProviders| async {},
            )
            .workload("w", 1, |_| {
                moonpool_sim::FnWorkload::new(|_ctx: moonpool_sim::SimContext| async { Ok(()) })
            })
            .build()
            .err()
    };
    for name in ["simulator", "a/b", ""] {
        assert!(
            matches!(with_process(name), Some(ConfigError::InvalidName { name: n, .. }) if n == name),
            "process name {name:?} was accepted"
        );
    }
    let workload = SimulationBuilder::new()
        .workload("w/x", 1, |_| {
            moonpool_sim::FnWorkload::new(|_ctx: moonpool_sim::SimContext| async { Ok(()) })
        })
        .build()
        .err();
    assert!(
        matches!(workload, Some(ConfigError::InvalidName { .. })),
        "{workload:?}"
    );
    assert!(with_process("server-1").is_none());
}
