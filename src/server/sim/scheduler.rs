//! The seeded scheduler: from a seed, a schedule of deliveries, time,
//! client requests and faults (crash and restart, pause and resume,
//! partition and heal, clock skew), run on a `SimCluster` with the
//! invariants checked after every step; then every fault heals, the cluster
//! settles, and convergence and durability are checked. The same seed gives
//! the same trace, byte for byte.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::cluster::SimCluster;
use super::invariants::{ClusterInvariants, Violation};
use super::reference_cluster::SimClusterConfig;
use super::workload::ProducerWorkload;

/// The topic the workload writes.
pub const SIM_TOPIC: &str = "sim";

#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    /// Steps before the faults heal.
    pub steps: usize,
    pub faults: bool,
    pub plain_producers: usize,
    pub idempotent_producers: usize,
    pub cluster: SimClusterConfig,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        Self {
            steps: 4_000,
            faults: true,
            plain_producers: 2,
            idempotent_producers: 1,
            cluster: SimClusterConfig::three_nodes(),
        }
    }
}

/// One seed's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub seed: u64,
    pub options: ScheduleOptions,
}

/// What a schedule did and found.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleOutcome {
    pub seed: u64,
    pub events: u64,
    pub faults: usize,
    /// SHA-1 of the trace: equal for equal runs.
    pub trace_sha1: String,
    pub acknowledged_acks_all: usize,
    pub acknowledged_acks_one: usize,
    /// acks=1 records lost on a leader change: allowed, counted.
    pub lost_acks_one: usize,
    #[serde(serialize_with = "as_strings")]
    pub violations: Vec<Violation>,
}

fn as_strings<S: serde::Serializer>(violations: &[Violation], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(violations.iter().map(ToString::to_string))
}

/// Runs one seed's schedule to the end.
pub fn run_schedule(schedule: &Schedule) -> ScheduleOutcome {
    let options = &schedule.options;
    let mut rng = ChaCha8Rng::seed_from_u64(schedule.seed);
    let mut outcome = ScheduleOutcome {
        seed: schedule.seed,
        events: 0,
        faults: 0,
        trace_sha1: String::new(),
        acknowledged_acks_all: 0,
        acknowledged_acks_one: 0,
        lost_acks_one: 0,
        violations: Vec::new(),
    };
    let mut cluster = match SimCluster::start(options.cluster.clone(), schedule.seed) {
        Ok(cluster) => cluster,
        Err(error) => {
            outcome.violations.push(node_failed(0, &error.to_string()));
            return outcome;
        }
    };
    let partitions = options.cluster.node.broker.default_partitions;
    let mut workload = ProducerWorkload::new(
        SIM_TOPIC,
        partitions,
        options.plain_producers,
        options.idempotent_producers,
    );
    let mut invariants = ClusterInvariants::default();
    let nodes = cluster.node_ids();
    let mut failed = None;
    for _ in 0..options.steps {
        if let Err(error) = step(
            &mut cluster,
            &mut workload,
            &mut rng,
            options.faults,
            &nodes,
            &mut outcome.faults,
        ) {
            failed = Some(error);
            break;
        }
        outcome.violations.extend(invariants.check_step(&cluster));
        if !outcome.violations.is_empty() {
            break;
        }
    }
    // Heal everything; let in-flight requests finish and the cluster settle.
    let settled = failed.map_or_else(
        || {
            cluster.heal_all()?;
            for _ in 0..400 {
                workload.step(&mut cluster, &mut rng, false);
                cluster.run_quiet(1, 50)?;
                if workload.in_flight() == 0 && ClusterInvariants::check_converged(&cluster).is_empty() {
                    break;
                }
            }
            workload.step(&mut cluster, &mut rng, false);
            Ok(())
        },
        Err,
    );
    if let Err(error) = settled {
        outcome
            .violations
            .push(node_failed(cluster.now_ms() - super::SIM_START_MS, &error.to_string()));
    } else if outcome.violations.is_empty() {
        outcome.violations.extend(invariants.check_step(&cluster));
        outcome.violations.extend(ClusterInvariants::check_converged(&cluster));
        let (durability, lost) = ClusterInvariants::check_acknowledged(&cluster, SIM_TOPIC, workload.acknowledged());
        outcome.violations.extend(durability);
        outcome.lost_acks_one = lost;
    }
    for bad in workload.bad_responses() {
        outcome.violations.push(Violation {
            invariant: "responses-decode",
            at_ms: cluster.now_ms() - super::SIM_START_MS,
            detail: bad.clone(),
        });
    }
    let acks = workload.acknowledged();
    outcome.acknowledged_acks_all = acks.iter().filter(|ack| ack.acks == -1).count();
    outcome.acknowledged_acks_one = acks.len() - outcome.acknowledged_acks_all;
    outcome.events = cluster.events();
    let mut sha = sha1_smol::Sha1::new();
    for line in cluster.trace() {
        sha.update(line.as_bytes());
        sha.update(b"\n");
    }
    outcome.trace_sha1 = sha.digest().to_string();
    outcome
}

fn node_failed(at_ms: i64, error: &str) -> Violation {
    Violation {
        invariant: "node-runs",
        at_ms,
        detail: error.to_owned(),
    }
}

/// One step of the schedule.
fn step(
    cluster: &mut SimCluster,
    workload: &mut ProducerWorkload,
    rng: &mut ChaCha8Rng,
    faults: bool,
    nodes: &[i32],
    fault_count: &mut usize,
) -> Result<(), crate::harness::target::NodeFailure> {
    let send = rng.gen_bool(0.5);
    workload.step(cluster, rng, send);
    let roll = rng.gen_range(0..1000);
    let node = nodes[rng.gen_range(0..nodes.len())];
    match roll {
        0..=649 => {
            let busy = cluster.busy_links();
            if busy.is_empty() {
                cluster.advance(rng.gen_range(1..=20))?;
            } else {
                // Any link may go first: messages race across connections.
                cluster.deliver(busy[rng.gen_range(0..busy.len())])?;
            }
        }
        650..=993 => cluster.advance(rng.gen_range(1..=60))?,
        _ if !faults => cluster.advance(10)?,
        994 => {
            *fault_count += 1;
            if cluster.is_up(node) {
                cluster.crash(node);
            } else {
                cluster.restart(node)?;
            }
        }
        995 => {
            *fault_count += 1;
            if cluster.is_paused(node) {
                cluster.resume(node);
            } else {
                cluster.pause(node);
            }
        }
        996..=997 => {
            *fault_count += 1;
            if cluster.network().has_cuts() {
                cluster.heal();
            } else {
                cluster.partition(&[node]);
            }
        }
        998 => {
            *fault_count += 1;
            cluster.skew(node, rng.gen_range(100..=5_000));
        }
        _ => {
            // Nodes do not stay down or paused for the whole schedule.
            *fault_count += 1;
            for &id in nodes {
                cluster.resume(id);
                if !cluster.is_up(id) {
                    cluster.restart(id)?;
                }
            }
        }
    }
    Ok(())
}
