//! What a replicated Kafka cluster must never do, checked on the nodes'
//! own state after every step of a simulation and once every fault has
//! healed (Kafka's `RaftEventSimulationTest` checks the same kind of
//! properties on its quorum): one leader per leader epoch, epochs that only
//! increase, replicas that agree below their high watermarks, metadata that
//! converges, and no record acknowledged with acks=all lost.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;

use super::SIM_START_MS;
use super::cluster::SimCluster;
use super::reference_cluster::ReferenceCluster;
use crate::harness::cluster_client::Acknowledged;
use crate::harness::target::ClusterUnderTest;
use crate::server::broker::{Assignment, NO_LEADER, PartitionLog};
use crate::server::wire::{BatchLimits, decode_record_batches};

/// A broken guarantee: which, when (simulated ms from the start), and the
/// values involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub at_ms: i64,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] at {} ms: {}", self.invariant, self.at_ms, self.detail)
    }
}

type PartitionKey = (StrBytes, i32);

/// One node's metadata image: its id, every partition's assignment, the
/// fenced brokers.
type Image = (i32, Vec<(PartitionKey, Assignment)>, BTreeSet<i32>);

/// What the checks remember between steps.
#[derive(Debug, Default)]
pub struct ClusterInvariants {
    /// The leader each node's image gave each (partition, leader epoch).
    leaders: BTreeMap<(PartitionKey, i32), i32>,
    /// The last leader epoch each node's image had per partition.
    epochs: BTreeMap<(i32, PartitionKey), i32>,
}

/// Every record of a log below `upto`: (offset, leader epoch, value).
fn records(log: &PartitionLog, upto: i64) -> Vec<(i64, i32, Option<Bytes>)> {
    let bytes = log
        .read(log.log_start_offset(), usize::MAX, true, upto)
        .unwrap_or_default();
    let limits = BatchLimits::default();
    decode_record_batches(bytes, limits)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|batch| {
            let (base, epoch) = (batch.base_offset, batch.partition_leader_epoch);
            batch
                .records
                .into_iter()
                .map(move |record| (base + i64::from(record.offset_delta), epoch, record.value))
        })
        .collect()
}

impl ClusterInvariants {
    /// The checks that hold at every moment.
    pub fn check_step(&mut self, cluster: &SimCluster) -> Vec<Violation> {
        self.check_nodes(cluster.system(), cluster.now_ms() - SIM_START_MS)
    }

    /// `check_step` on the nodes themselves, at `at_ms` from the start.
    pub fn check_nodes(&mut self, cluster: &ReferenceCluster, at_ms: i64) -> Vec<Violation> {
        let mut violations = Vec::new();
        let mut logs: BTreeMap<PartitionKey, Vec<(i32, &PartitionLog)>> = BTreeMap::new();
        for id in cluster.node_ids() {
            let Some(node) = cluster.node(id) else {
                continue;
            };
            for topic in node.broker().topics().iter() {
                for (index, partition) in (0..).zip(&topic.partitions) {
                    let key = (topic.name.clone(), index);
                    let Assignment {
                        leader, leader_epoch, ..
                    } = *partition.assignment;
                    if let Some(&other) = self.leaders.get(&(key.clone(), leader_epoch))
                        && other != leader
                    {
                        violations.push(Violation {
                            invariant: "one-leader-per-epoch",
                            at_ms,
                            detail: format!(
                                "{}/{index} epoch {leader_epoch}: node {id} says broker {leader} leads, another node said {other}",
                                topic.name
                            ),
                        });
                    }
                    self.leaders.insert((key.clone(), leader_epoch), leader);
                    let last = self.epochs.insert((id, key.clone()), leader_epoch);
                    if let Some(last) = last.filter(|&last| last > leader_epoch) {
                        violations.push(Violation {
                            invariant: "epochs-increase",
                            at_ms,
                            detail: format!(
                                "{}/{index} on node {id}: leader epoch went from {last} to {leader_epoch}",
                                topic.name
                            ),
                        });
                    }
                    logs.entry(key).or_default().push((id, &partition.log));
                }
            }
        }
        for ((name, index), replicas) in &logs {
            for (at, &(a, log_a)) in replicas.iter().enumerate() {
                for &(b, log_b) in &replicas[at + 1..] {
                    let upto = log_a.high_watermark().min(log_b.high_watermark());
                    let (left, right) = (records(log_a, upto), records(log_b, upto));
                    if left != right {
                        let differ = left
                            .iter()
                            .zip(&right)
                            .position(|(x, y)| x != y)
                            .unwrap_or(left.len().min(right.len()));
                        violations.push(Violation {
                            invariant: "replicas-agree",
                            at_ms,
                            detail: format!(
                                "{name}/{index}: nodes {a} and {b} differ below the high watermark {upto}, from record {differ} ({:?} vs {:?})",
                                left.get(differ),
                                right.get(differ)
                            ),
                        });
                    }
                }
            }
        }
        violations
    }

    /// After every fault healed and the cluster had time to settle: every
    /// node has the same metadata, every partition a leader, and every
    /// in-sync replica the leader's log up to a high watermark at its end.
    pub fn check_converged(cluster: &SimCluster) -> Vec<Violation> {
        let at_ms = cluster.now_ms() - SIM_START_MS;
        let mut violations = Vec::new();
        let converged = |detail: String| Violation {
            invariant: "metadata-converges",
            at_ms,
            detail,
        };
        let images: Vec<Image> = cluster
            .node_ids()
            .into_iter()
            .filter_map(|id| cluster.node(id).map(|node| (id, node)))
            .map(|(id, node)| {
                let broker = node.broker();
                let partitions = broker
                    .topics()
                    .iter()
                    .flat_map(|t| {
                        (0..)
                            .zip(&t.partitions)
                            .map(move |(i, p)| ((t.name.clone(), i), Assignment::clone(&p.assignment)))
                    })
                    .collect();
                (id, partitions, broker.view().fenced.clone())
            })
            .collect();
        for window in images.windows(2) {
            let [(a, image_a, fenced_a), (b, image_b, fenced_b)] = window else {
                continue;
            };
            if image_a != image_b || fenced_a != fenced_b {
                violations.push(converged(format!(
                    "nodes {a} and {b} disagree: {image_a:?} fenced {fenced_a:?} vs {image_b:?} fenced {fenced_b:?}"
                )));
            }
        }
        let Some((_, image, fenced)) = images.first() else {
            return vec![converged("no node is running".to_owned())];
        };
        if !fenced.is_empty() {
            violations.push(converged(format!("brokers {fenced:?} are still fenced")));
        }
        for ((name, index), assignment) in image {
            if assignment.leader == NO_LEADER {
                violations.push(converged(format!("{name}/{index} has no leader: {assignment:?}")));
                continue;
            }
            let Some(leader) = cluster.node(assignment.leader) else {
                continue;
            };
            let Some(leader_log) = leader.broker().topics().partition(name, *index) else {
                continue;
            };
            let end = leader_log.log_end_offset();
            for &member in &assignment.isr {
                let log = cluster
                    .node(member)
                    .and_then(|node| node.broker().topics().partition(name, *index));
                let caught_up = log.is_some_and(|log| log.log_end_offset() == end && log.high_watermark() == end);
                if !caught_up {
                    violations.push(converged(format!(
                        "{name}/{index}: in-sync replica {member} has not caught up with leader {} (log end {end}): {:?}",
                        assignment.leader,
                        log.map(|log| (log.log_end_offset(), log.high_watermark()))
                    )));
                }
            }
        }
        violations
    }

    /// Every record acknowledged with acks=all is in the leader's log at its
    /// offset, once; no offset was acknowledged for two records. Returns the
    /// violations and the count of acks=1 records lost (Kafka allows it).
    pub fn check_acknowledged(
        cluster: &SimCluster,
        topic: &str,
        acknowledged: &[Acknowledged],
    ) -> (Vec<Violation>, usize) {
        let at_ms = cluster.now_ms() - SIM_START_MS;
        let name = StrBytes::from_string(topic.to_owned());
        let mut violations = Vec::new();
        let mut lost_acks_one = 0;
        let mut logs: BTreeMap<i32, Vec<(i64, i32, Option<Bytes>)>> = BTreeMap::new();
        // acks=all records by offset: two there is a lost write.
        let mut offsets: BTreeMap<(i32, i64), &Bytes> = BTreeMap::new();
        for ack in acknowledged {
            if ack.acks == -1
                && let Some(other) = offsets.insert((ack.partition, ack.offset), &ack.value)
                && *other != ack.value
            {
                violations.push(Violation {
                    invariant: "acknowledged-once",
                    at_ms,
                    detail: format!(
                        "{topic}/{} offset {} acknowledged for {:?} and for {:?}",
                        ack.partition, ack.offset, other, ack.value
                    ),
                });
            }
            let log = logs.entry(ack.partition).or_insert_with(|| {
                cluster
                    .node_ids()
                    .into_iter()
                    .filter_map(|id| cluster.node(id))
                    .find_map(|node| {
                        let partition = node.broker().topics().replica(&name, ack.partition)?;
                        partition
                            .assignment
                            .is_leader(node.id())
                            .then(|| records(&partition.log, partition.log.high_watermark()))
                    })
                    .unwrap_or_default()
            });
            let found: Vec<i64> = log
                .iter()
                .filter(|(_, _, value)| value.as_ref() == Some(&ack.value))
                .map(|&(offset, _, _)| offset)
                .collect();
            // A plain producer's retry may write a record twice (Kafka
            // answers NOT_LEADER_OR_FOLLOWER to a produce it appended and
            // then lost the leadership of); an idempotent one's never.
            if found == [ack.offset] || (!ack.idempotent && found.contains(&ack.offset)) {
                continue;
            }
            if ack.acks == 1 && found.is_empty() {
                lost_acks_one += 1;
                continue;
            }
            violations.push(Violation {
                invariant: if found.len() > 1 { "idempotent-once" } else { "acknowledged-durable" },
                at_ms,
                detail: format!(
                    "{topic}/{} record {:?} acknowledged with acks={} at offset {} ({} ms): the log holds it at {found:?}",
                    ack.partition,
                    ack.value,
                    ack.acks,
                    ack.offset,
                    ack.at_ms - SIM_START_MS
                ),
            });
        }
        (violations, lost_acks_one)
    }
}
