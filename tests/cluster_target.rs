//! The `cluster` target: scripts of client operations and faults on the
//! reference cluster, checked by the replication model.

use kafka_fuzz::harness::cluster_session::{bootstrapped_reference_cluster, play_cluster};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn random_scripts_keep_every_guarantee() {
    // KAFKA_FUZZ_CLUSTER_RUNS runs more: a quick campaign without an engine.
    let mut cluster = bootstrapped_reference_cluster().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let started = std::time::Instant::now();
    let runs: usize = std::env::var("KAFKA_FUZZ_CLUSTER_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut acks = 0;
    for run in 0..runs {
        let length = rng.gen_range(0..200);
        let data: Vec<u8> = (0..length).map(|_| rng.r#gen()).collect();
        match play_cluster(&mut cluster, &data, true, None) {
            Ok(outcome) => acks += outcome.count.acknowledged_acks_all,
            Err(violation) => {
                let mut timeline = Vec::new();
                let _ = play_cluster(&mut cluster, &data, false, Some(&mut timeline));
                panic!(
                    "run {run}: {violation}\ninput {data:?}\n{}",
                    String::from_utf8_lossy(&timeline)
                );
            }
        }
    }
    eprintln!("{runs} runs in {:?}, {acks} acks=all", started.elapsed());
}

/// The highest leader epoch the timeline shows for `partition`, and the
/// leaders it names with it.
fn leader_epochs(timeline: &str, partition: &str) -> Vec<(String, i32)> {
    let needle = format!("{partition} leader ");
    timeline
        .match_indices(&needle)
        .filter_map(|(at, _)| {
            let mut words = timeline[at + needle.len()..].split_whitespace();
            let leader = words.next()?.to_owned();
            (words.next()? == "epoch").then_some(())?;
            Some((leader, words.next()?.parse().ok()?))
        })
        .collect()
}

#[test]
fn written_seeds_reach_what_they_are_named_for() {
    let mut cluster = bootstrapped_reference_cluster().unwrap();
    for (name, script) in kafka_fuzz::corpus::cluster_seeds::written_cluster_scripts() {
        let mut timeline = Vec::new();
        let outcome = play_cluster(&mut cluster, &script.to_bytes(), false, Some(&mut timeline))
            .unwrap_or_else(|violation| panic!("{name}: {violation}"));
        let timeline = String::from_utf8(timeline).unwrap();
        assert!(outcome.count.acknowledged_acks_all > 0, "{name}: nothing acknowledged");
        let epochs = leader_epochs(&timeline, "cluster-a/0");
        let start = epochs
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("{name}: no leaders shown"));
        let failed_over = epochs
            .iter()
            .any(|(leader, epoch)| *leader != start.0 && *epoch > start.1);
        let expect = |what: &str| assert!(timeline.contains(what), "{name}: no {what:?} in\n{timeline}");
        match name {
            "failover-during-produce" => {
                expect("crash n1");
                expect("restart n1");
                assert!(failed_over, "{name}: the leader did not change: {epochs:?}");
            }
            "partition-heal" => {
                expect("partition [1] from the rest");
                expect(" heal");
                assert!(failed_over, "{name}: the leader did not change: {epochs:?}");
            }
            "pause-leader" => {
                expect("pause n1");
                expect("resume n1");
                assert!(failed_over, "{name}: the leader did not change: {epochs:?}");
            }
            "crash-follower-during-replication" => {
                expect("crash n3");
                expect("restart n3");
            }
            "preferred-leader-back" => {
                expect("restart n1");
                expect("c2 elect the preferred leader of cluster-a/0: elected");
                assert!(failed_over, "{name}: the leader did not change: {epochs:?}");
                // n1 leads again, after the epoch the failover gave another.
                let (last_leader, last_epoch) = epochs.last().cloned().unwrap();
                assert_eq!(last_leader, start.0, "{name}: {epochs:?}");
                assert!(last_epoch >= start.1 + 2, "{name}: {epochs:?}");
            }
            "create-while-producing" => expect("acknowledged cluster-new/0"),
            "skewed-clock" => expect("skew n2 by 6000 ms"),
            other => panic!("no check for the written seed {other}"),
        }
    }
}

#[test]
fn the_same_input_gives_the_same_timeline() {
    let mut cluster = bootstrapped_reference_cluster().unwrap();
    let data = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpus/cluster/failover-during-produce"
    ))
    .unwrap();
    let mut runs = [Vec::new(), Vec::new()];
    for timeline in &mut runs {
        play_cluster(&mut cluster, &data, false, Some(timeline)).unwrap();
    }
    assert!(!runs[0].is_empty());
    assert_eq!(runs[0], runs[1]);
}

/// The inputs libFuzzer first found for each planted replication bug
/// (`scripts/first-crash.sh --keep`): each breaks a guarantee with its bug
/// planted, and none without. Proves the model and the checks at the end
/// catch what they are for.
#[cfg(feature = "planted-bugs")]
mod planted {
    use kafka_fuzz::harness::cluster_session::{bootstrapped_reference_cluster, play_cluster};
    use kafka_fuzz::server::planted::{PlantedBug, plant};

    #[test]
    fn each_planted_bug_is_caught_by_the_input_found_for_it() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/planted-cluster");
        for &bug in PlantedBug::ALL.iter().filter(|bug| bug.targets().contains(&"cluster")) {
            let dir = fixtures.join(bug.name());
            let inputs = kafka_fuzz::corpus::input_files(std::slice::from_ref(&dir)).unwrap_or_default();
            assert!(!inputs.is_empty(), "no input under {}", dir.display());
            for input in inputs {
                let data = std::fs::read(&input).unwrap();
                plant(None);
                let mut clean = bootstrapped_reference_cluster().unwrap();
                if let Err(violation) = play_cluster(&mut clean, &data, false, None) {
                    panic!(
                        "{} breaks a guarantee with no bug planted: {violation}",
                        input.display()
                    );
                }
                // As the fuzz binary ran: the bug planted from the start.
                plant(Some(bug));
                let caught =
                    bootstrapped_reference_cluster().and_then(|mut buggy| play_cluster(&mut buggy, &data, false, None));
                plant(None);
                assert!(caught.is_err(), "{}: {} not caught", input.display(), bug.name());
            }
        }
    }
}
