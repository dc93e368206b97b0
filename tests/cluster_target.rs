//! The `cluster` target: scripts of client operations and faults on the
//! reference cluster, checked by the replication model.

use kafka_fuzz::harness::cluster_session::{bootstrapped_reference_cluster, play_cluster};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn random_scripts_keep_every_guarantee() {
    let mut cluster = bootstrapped_reference_cluster().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let started = std::time::Instant::now();
    let runs = 200;
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

#[test]
fn timing() {
    let mut cluster = bootstrapped_reference_cluster().unwrap();
    let started = std::time::Instant::now();
    for _ in 0..100 {
        play_cluster(&mut cluster, &[], true, None).unwrap();
    }
    eprintln!("empty: {:?} per run", started.elapsed() / 100);
}
