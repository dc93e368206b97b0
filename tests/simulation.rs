//! The reference cluster in simulation: seeded schedules of deliveries,
//! client requests and faults (crashes with torn writes, restarts,
//! partitions, pauses, clock skew), every step checked by the cluster
//! invariants; the same seed gives the same trace; and each invariant
//! catches a bug planted for it.

use std::time::Instant;

use kafka_fuzz::server::sim::{Schedule, ScheduleOptions, run_schedule};

/// Schedules per run of this test: 1000 optimized (`scripts/test.sh` runs
/// it so), 100 in a debug build, ten times slower; `KAFKA_FUZZ_SIM_SCHEDULES`
/// overrides.
fn schedule_count() -> u64 {
    let default = if cfg!(debug_assertions) { 100 } else { 1_000 };
    std::env::var("KAFKA_FUZZ_SIM_SCHEDULES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(default)
}

fn schedule(seed: u64) -> Schedule {
    Schedule {
        seed,
        options: ScheduleOptions::default(),
    }
}

#[test]
fn seeded_schedules_with_faults_keep_every_guarantee() {
    let count = schedule_count();
    let start = Instant::now();
    let (mut events, mut faults, mut acks_all, mut acks_one, mut lost_one) = (0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    for seed in 0..count {
        let outcome = run_schedule(&schedule(seed));
        events += outcome.events;
        faults += outcome.faults;
        acks_all += outcome.acknowledged_acks_all;
        acks_one += outcome.acknowledged_acks_one;
        lost_one += outcome.lost_acks_one;
        if !outcome.violations.is_empty() {
            failures.push(format!("seed {seed}: {}", outcome.violations[0]));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "{count} schedules in {seconds:.1} s ({:.0} schedules/s, {:.0} simulated events/s): {events} events, {faults} faults, {acks_all} records acknowledged with acks=all, {acks_one} with acks=1 ({lost_one} of those lost on a leader change, as Kafka allows)",
        count as f64 / seconds,
        events as f64 / seconds
    );
    assert!(
        failures.is_empty(),
        "{} of {count} schedules broke a guarantee:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        acks_all > 3 * count as usize,
        "the workload barely wrote: {acks_all} acks=all records"
    );
    assert!(
        faults > 10 * count as usize,
        "the schedules barely injected faults: {faults}"
    );
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let first = run_schedule(&schedule(7));
    let again = run_schedule(&schedule(7));
    assert_eq!(first.trace_sha1, again.trace_sha1);
    assert_eq!(first.events, again.events);
    assert!(first.events > 1_000, "{first:?}");
    let other = run_schedule(&schedule(8));
    assert_ne!(first.trace_sha1, other.trace_sha1, "another seed, another schedule");
}

#[cfg(feature = "planted-bugs")]
mod planted {
    use kafka_fuzz::server::planted::{PlantedBug, plant};

    use super::*;

    /// The first invariant broken over up to `seeds` schedules with `bug`.
    fn first_violation(bug: PlantedBug, seeds: u64) -> Option<(u64, String)> {
        plant(Some(bug));
        let found = (0..seeds).find_map(|seed| {
            let outcome = run_schedule(&schedule(seed));
            outcome.violations.first().map(|v| (seed, v.to_string()))
        });
        plant(None);
        found
    }

    /// `bug` is caught within `seeds` schedules, by one of `invariants`.
    fn caught(bug: PlantedBug, seeds: u64, invariants: &[&str]) {
        let (seed, violation) = first_violation(bug, seeds).unwrap_or_else(|| panic!("{bug:?} not caught"));
        eprintln!("{bug:?}: seed {seed}: {violation}");
        assert!(
            invariants
                .iter()
                .any(|invariant| violation.contains(&format!("[{invariant}]"))),
            "{violation}"
        );
    }

    #[test]
    fn a_high_watermark_past_the_isr_loses_acknowledged_records() {
        caught(
            PlantedBug::HighWatermarkIgnoresIsr,
            200,
            &["acknowledged-durable", "replicas-agree"],
        );
    }

    #[test]
    fn an_unclean_election_is_caught() {
        caught(
            PlantedBug::UncleanElection,
            200,
            &["acknowledged-durable", "replicas-agree"],
        );
    }

    #[test]
    fn a_follower_that_does_not_truncate_is_caught() {
        caught(PlantedBug::NoTruncation, 300, &["replicas-agree", "metadata-converges"]);
    }
}
