//! The reference cluster as a `ClusterUnderTest`: `ClusterNode`s on
//! simulated disks, each with its own clock. A crash keeps a node's disk as
//! the crash leaves it (the unflushed tail lost, maybe torn); a restart
//! recovers from it. The starting state can be saved once and restored for
//! every input.

use std::collections::BTreeMap;

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::disk::SimDisk;
use crate::harness::target::{ClusterUnderTest, NodeFailure, NodeId, NodeObservation, NodeOutput, ReplicaObservation};
use crate::server::broker::{BrokerConfig, Clock, Endpoint, ManualClock};
use crate::server::cluster::{ClusterNode, NodeConfig, NodeError};

/// When every simulated clock starts.
pub const SIM_START_MS: i64 = 1_700_000_000_000;

enum NodeState {
    Up(Box<ClusterNode<SimDisk>>),
    Down(SimDisk),
}

struct SimNode {
    state: NodeState,
    clock: ManualClock,
}

/// The cluster's settings: how many nodes, and each node's config from its
/// id (timings, flush policy, `min.insync.replicas`).
#[derive(Debug, Clone)]
pub struct SimClusterConfig {
    pub nodes: i32,
    pub node: NodeConfig,
}

impl SimClusterConfig {
    /// Three nodes, three replicas by default, `min.insync.replicas` 2, a
    /// follower out of the ISR after 2 s.
    pub fn three_nodes() -> Self {
        let broker = BrokerConfig {
            default_replication_factor: 3,
            min_insync_replicas: 2,
            replica_lag_time_max_ms: 2_000,
            default_partitions: 2,
            ..BrokerConfig::default()
        };
        let nodes = (1..=3)
            .map(|id| {
                let endpoint = Endpoint {
                    host: "sim".to_owned(),
                    port: 9090 + id,
                };
                (id, endpoint)
            })
            .collect();
        Self {
            nodes: 3,
            node: NodeConfig::new(broker, nodes),
        }
    }

    fn for_node(&self, id: i32) -> NodeConfig {
        let mut config = self.node.clone();
        config.broker.node_id = id;
        if let Some(endpoint) = config.nodes.get(&id) {
            config.broker.advertised_host = endpoint.host.clone();
            config.broker.advertised_port = endpoint.port;
        }
        config
    }
}

/// Disks and clocks of every node at the saved starting point.
#[derive(Clone)]
struct SavedStart {
    disks: BTreeMap<i32, SimDisk>,
    clock_ms: BTreeMap<i32, i64>,
}

pub struct ReferenceCluster {
    config: SimClusterConfig,
    nodes: BTreeMap<i32, SimNode>,
    /// Tears the unflushed tails of crashed disks.
    disk_rng: ChaCha8Rng,
    start: Option<SavedStart>,
}

fn failure(error: NodeError, node: NodeId) -> NodeFailure {
    NodeFailure {
        node,
        reason: error.to_string(),
    }
}

impl ReferenceCluster {
    /// Every node running on an empty disk.
    pub fn new(config: SimClusterConfig) -> Result<Self, NodeFailure> {
        let mut cluster = Self {
            config,
            nodes: BTreeMap::new(),
            disk_rng: ChaCha8Rng::seed_from_u64(0),
            start: None,
        };
        cluster.reset(0)?;
        Ok(cluster)
    }

    pub fn config(&self) -> &SimClusterConfig {
        &self.config
    }

    /// A running node (crashed ones are `None`).
    pub fn node(&self, id: NodeId) -> Option<&ClusterNode<SimDisk>> {
        match &self.nodes.get(&id)?.state {
            NodeState::Up(node) => Some(node),
            NodeState::Down(_) => None,
        }
    }

    /// Makes the nodes' durable state now the state `reset` returns to: a
    /// bootstrapped cluster, restored by every input instead of elected
    /// anew. What a node had not flushed is not part of it.
    pub fn save_start(&mut self) {
        let mut saved = SavedStart {
            disks: BTreeMap::new(),
            clock_ms: BTreeMap::new(),
        };
        for (&id, sim) in &self.nodes {
            let mut disk = match &sim.state {
                NodeState::Up(node) => node.disk().clone(),
                NodeState::Down(disk) => disk.clone(),
            };
            disk.drop_unflushed();
            saved.disks.insert(id, disk);
            saved.clock_ms.insert(id, sim.clock.now_ms());
        }
        self.start = Some(saved);
    }

    fn open(&self, id: NodeId, disk: SimDisk, clock: &ManualClock) -> Result<ClusterNode<SimDisk>, NodeFailure> {
        ClusterNode::open(self.config.for_node(id), disk, clock.clone()).map_err(|error| failure(error, id))
    }

    fn up(&mut self, id: NodeId) -> Option<&mut ClusterNode<SimDisk>> {
        match &mut self.nodes.get_mut(&id)?.state {
            NodeState::Up(node) => Some(node),
            NodeState::Down(_) => None,
        }
    }
}

impl ClusterUnderTest for ReferenceCluster {
    fn node_ids(&self) -> Vec<NodeId> {
        (1..=self.config.nodes).collect()
    }

    fn reset(&mut self, seed: u64) -> Result<(), NodeFailure> {
        self.disk_rng = ChaCha8Rng::seed_from_u64(seed);
        self.nodes.clear();
        for id in self.node_ids() {
            let (disk, clock) = match &self.start {
                Some(start) => (
                    start.disks.get(&id).cloned().unwrap_or_default(),
                    ManualClock::new(start.clock_ms.get(&id).copied().unwrap_or(SIM_START_MS)),
                ),
                None => (SimDisk::new(), ManualClock::new(SIM_START_MS)),
            };
            let node = self.open(id, disk, &clock)?;
            self.nodes.insert(
                id,
                SimNode {
                    state: NodeState::Up(Box::new(node)),
                    clock,
                },
            );
        }
        Ok(())
    }

    fn is_up(&self, node: NodeId) -> bool {
        self.node(node).is_some()
    }

    fn client_frame(&mut self, node: NodeId, connection: u64, frame: Bytes) -> Result<Vec<NodeOutput>, NodeFailure> {
        match self.up(node) {
            Some(up) => up.client_frame(connection, frame).map_err(|error| failure(error, node)),
            None => Ok(Vec::new()),
        }
    }

    fn client_closed(&mut self, node: NodeId, connection: u64) {
        if let Some(up) = self.up(node) {
            up.client_closed(connection);
        }
    }

    fn peer_message(&mut self, node: NodeId, from: NodeId, bytes: Bytes) -> Result<Vec<NodeOutput>, NodeFailure> {
        match self.up(node) {
            Some(up) => up.peer_message(from, &bytes).map_err(|error| failure(error, node)),
            None => Ok(Vec::new()),
        }
    }

    fn advance_clock(&mut self, node: NodeId, ms: i64) {
        if let Some(sim) = self.nodes.get(&node) {
            sim.clock.advance(ms);
        }
    }

    fn tick(&mut self, node: NodeId) -> Result<Vec<NodeOutput>, NodeFailure> {
        match self.up(node) {
            Some(up) => up.tick().map_err(|error| failure(error, node)),
            None => Ok(Vec::new()),
        }
    }

    fn crash(&mut self, node: NodeId) {
        let Some(sim) = self.nodes.get_mut(&node) else {
            return;
        };
        let state = std::mem::replace(&mut sim.state, NodeState::Down(SimDisk::new()));
        let mut disk = match state {
            NodeState::Up(up) => up.into_disk(),
            NodeState::Down(disk) => disk,
        };
        disk.crash(&mut self.disk_rng);
        sim.state = NodeState::Down(disk);
    }

    fn restart(&mut self, node: NodeId) -> Result<(), NodeFailure> {
        let Some(sim) = self.nodes.get_mut(&node) else {
            return Ok(());
        };
        let NodeState::Down(disk) = &mut sim.state else {
            return Ok(());
        };
        let disk = std::mem::take(disk);
        let clock = sim.clock.clone();
        let up = self.open(node, disk, &clock)?;
        if let Some(sim) = self.nodes.get_mut(&node) {
            sim.state = NodeState::Up(Box::new(up));
        }
        Ok(())
    }

    fn observe(&self, node: NodeId) -> Option<NodeObservation> {
        let up = self.node(node)?;
        let broker = up.broker();
        let controller = Some(up.controller().0).filter(|&leader| leader > 0);
        let replicas = broker
            .topics()
            .iter()
            .flat_map(|topic| {
                (0..)
                    .zip(&topic.partitions)
                    .map(|(index, partition)| ReplicaObservation {
                        topic: topic.name.to_string(),
                        partition: index,
                        leader: partition.assignment.leader,
                        leader_epoch: partition.assignment.leader_epoch,
                        isr: partition.assignment.isr.clone(),
                        log_end_offset: partition.log.log_end_offset(),
                        high_watermark: partition.log.high_watermark(),
                    })
            })
            .collect();
        Some(NodeObservation {
            controller,
            fenced: broker.view().fenced.iter().copied().collect(),
            replicas,
        })
    }
}
