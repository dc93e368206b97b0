//! Cluster states as coverage: besides the code an input runs, the states
//! it brought a cluster to (nodes down or paused, a controller or none,
//! ISR sizes, under-replicated partitions, leader changes, a follower
//! truncating), so that the fuzzer keeps inputs that reach a new fault
//! state even through code it has seen. Each state is a feature hashed to
//! one of libFuzzer's extra counters (the `__libfuzzer_extra_counters`
//! section, which libFuzzer clears before each input and reads after);
//! other engines see only edges. The counters count, so libFuzzer's count
//! buckets also tell "once" from "for many steps".

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU8, Ordering};

use super::target::{NodeId, NodeObservation};

const COUNTERS: usize = 4096;

#[cfg_attr(target_os = "linux", unsafe(link_section = "__libfuzzer_extra_counters"))]
static STATE_COUNTERS: [AtomicU8; COUNTERS] = [const { AtomicU8::new(0) }; COUNTERS];

/// Counts one feature.
fn hit(feature: impl Hash) {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    feature.hash(&mut hasher);
    let index = (hasher.finish() % COUNTERS as u64) as usize;
    let counter = &STATE_COUNTERS[index];
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| count.checked_add(1));
}

/// How many counters are set: for tests, and for a summary of the states a
/// run reached.
pub fn reached() -> usize {
    STATE_COUNTERS
        .iter()
        .filter(|counter| counter.load(Ordering::Relaxed) > 0)
        .count()
}

/// Clears every counter (libFuzzer does it between inputs on its own).
pub fn clear() {
    for counter in &STATE_COUNTERS {
        counter.store(0, Ordering::Relaxed);
    }
}

/// What a node is: running, paused or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeStatus {
    Up,
    Paused,
    Down,
}

/// One node at one moment: its status, how far its clock runs ahead, and
/// what it tells of itself (if its cluster says).
#[derive(Debug, Clone)]
pub struct NodeState {
    pub id: NodeId,
    pub status: NodeStatus,
    pub skew_ms: i64,
    pub seen: Option<NodeObservation>,
}

/// A clock's lead, in buckets: none, under a heartbeat, under a session
/// timeout, more.
fn skew_bucket(skew_ms: i64) -> u8 {
    match skew_ms {
        ..=0 => 0,
        1..=500 => 1,
        501..=3_000 => 2,
        _ => 3,
    }
}

/// The state features of one moment of a cluster, remembered between steps
/// to see changes (a leader epoch moving, a log end going back).
#[derive(Debug, Default)]
pub struct ClusterStates {
    /// Per node and partition: the log end last seen.
    log_ends: std::collections::BTreeMap<(NodeId, String, i32), i64>,
    /// Per partition: the first leader epoch seen.
    first_epochs: std::collections::BTreeMap<(String, i32), i32>,
}

impl ClusterStates {
    /// Records the features of the cluster as `nodes` (status and what the
    /// node tells, if it tells) show it.
    pub fn observe(&mut self, nodes: &[NodeState]) {
        let statuses: Vec<NodeStatus> = nodes.iter().map(|node| node.status).collect();
        let skews: Vec<u8> = nodes.iter().map(|node| skew_bucket(node.skew_ms)).collect();
        hit(("nodes", &statuses, &skews));
        let controllers: Vec<Option<NodeId>> = nodes
            .iter()
            .map(|node| node.seen.as_ref().and_then(|seen| seen.controller))
            .collect();
        hit(("controllers", &statuses, &controllers));
        for NodeState { id: node, seen, .. } in nodes {
            let Some(seen) = seen else {
                continue;
            };
            hit(("fenced", node, &seen.fenced));
            for replica in &seen.replicas {
                let partition = (replica.topic.clone(), replica.partition);
                let leads = replica.leader == *node;
                let first = *self.first_epochs.entry(partition).or_insert(replica.leader_epoch);
                let epochs_moved = (replica.leader_epoch - first).clamp(0, 4);
                let behind = (replica.log_end_offset - replica.high_watermark).clamp(0, 3);
                hit(("replica", leads, replica.isr.len(), epochs_moved, behind, &statuses));
                let key = (*node, replica.topic.clone(), replica.partition);
                if let Some(last) = self.log_ends.insert(key, replica.log_end_offset)
                    && replica.log_end_offset < last
                {
                    hit(("truncated", leads, (last - replica.log_end_offset).min(4), &statuses));
                }
            }
        }
        // Nodes disagreeing on a partition's leader epoch: a lagging image.
        let mut epochs: std::collections::BTreeMap<(&str, i32), Vec<i32>> = std::collections::BTreeMap::new();
        for node in nodes {
            for replica in node.seen.iter().flat_map(|seen| &seen.replicas) {
                epochs
                    .entry((&replica.topic, replica.partition))
                    .or_default()
                    .push(replica.leader_epoch);
            }
        }
        for epochs in epochs.values() {
            let spread = epochs.iter().max().copied().unwrap_or(0) - epochs.iter().min().copied().unwrap_or(0);
            hit(("epoch-spread", spread.min(3), epochs.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::target::ReplicaObservation;

    fn node(id: NodeId, log_end_offset: i64, isr: Vec<NodeId>) -> NodeState {
        let replica = ReplicaObservation {
            topic: "t".to_owned(),
            partition: 0,
            leader: 1,
            leader_epoch: 1,
            isr,
            log_end_offset,
            high_watermark: log_end_offset,
        };
        let seen = NodeObservation {
            controller: Some(1),
            fenced: Vec::new(),
            replicas: vec![replica],
        };
        NodeState {
            id,
            status: NodeStatus::Up,
            skew_ms: 0,
            seen: Some(seen),
        }
    }

    #[test]
    fn new_states_set_new_counters_and_old_ones_do_not() {
        clear();
        let mut states = ClusterStates::default();
        states.observe(&[node(1, 5, vec![1, 2]), node(2, 5, vec![1, 2])]);
        let first = reached();
        assert!(first > 0);
        states.observe(&[node(1, 5, vec![1, 2]), node(2, 5, vec![1, 2])]);
        assert_eq!(reached(), first, "the same state again sets nothing new");
        // Node 2 truncates, and its ISR shrinks: new features.
        states.observe(&[node(1, 5, vec![1]), node(2, 3, vec![1])]);
        assert!(reached() > first);
        clear();
        assert_eq!(reached(), 0);
    }
}
