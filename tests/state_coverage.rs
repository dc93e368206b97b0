//! The `cluster` target's fault-state feedback: the cluster states an input
//! reaches (nodes down or paused, ISR sizes, leader changes, truncation)
//! set libFuzzer's extra counters, so a schedule that reaches a new state
//! is kept even through code already covered. One test in its own process:
//! the counters are global.

use kafka_fuzz::corpus::cluster_seeds::written_cluster_scripts;
use kafka_fuzz::harness::cluster_session::{bootstrapped_reference_cluster, play_cluster};
use kafka_fuzz::harness::state_coverage;

#[test]
fn fault_schedules_reach_states_a_quiet_run_does_not() {
    let mut cluster = bootstrapped_reference_cluster().unwrap();
    let reached = |cluster: &mut _, data: &[u8]| {
        state_coverage::clear();
        play_cluster(cluster, data, true, None).unwrap();
        state_coverage::reached()
    };
    let quiet = reached(&mut cluster, &[]);
    assert!(quiet > 0, "even a quiet run reaches a state");
    assert_eq!(reached(&mut cluster, &[]), quiet, "the same run, the same states");
    // Every written seed that injects a fault (all but the create race).
    for (name, script) in written_cluster_scripts() {
        if name == "create-while-producing" {
            continue;
        }
        let faulty = reached(&mut cluster, &script.to_bytes());
        assert!(faulty > quiet, "{name}: {faulty} states, a quiet run {quiet}");
    }
    // Without feedback asked for, nothing is counted.
    state_coverage::clear();
    play_cluster(&mut cluster, &written_cluster_scripts()[0].1.to_bytes(), false, None).unwrap();
    assert_eq!(state_coverage::reached(), 0);
}
