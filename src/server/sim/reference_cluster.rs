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
use super::invariants::ClusterInvariants;
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

/// Every node at the saved starting point: a running one as a copy (on a
/// clock at its time then), a crashed one as its disk.
enum SavedNode {
    Up(Box<ClusterNode<SimDisk>>, i64),
    Down(SimDisk),
}

pub struct ReferenceCluster {
    config: SimClusterConfig,
    nodes: BTreeMap<i32, SimNode>,
    /// Tears the unflushed tails of crashed disks.
    disk_rng: ChaCha8Rng,
    start: Option<BTreeMap<NodeId, SavedNode>>,
}

fn failure(error: NodeError, node: NodeId) -> NodeFailure {
    NodeFailure {
        node,
        reason: error.to_string(),
    }
}

impl ReferenceCluster {
    /// Every node running on an empty disk; `seed` decides how crashes tear.
    pub fn new(config: SimClusterConfig, seed: u64) -> Result<Self, NodeFailure> {
        let mut cluster = Self {
            config,
            nodes: BTreeMap::new(),
            disk_rng: ChaCha8Rng::seed_from_u64(0),
            start: None,
        };
        cluster.reset(seed)?;
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

    /// Makes the cluster as it is now the state `reset` returns to: a
    /// bootstrapped cluster, its quorum elected, copied for every input
    /// instead of elected anew.
    pub fn save_start(&mut self) -> Result<(), NodeFailure> {
        let mut saved = BTreeMap::new();
        for (&id, sim) in &self.nodes {
            let node = match &sim.state {
                NodeState::Up(node) => {
                    let now = sim.clock.now_ms();
                    let copy = node.fork(ManualClock::new(now)).map_err(|error| failure(error, id))?;
                    SavedNode::Up(Box::new(copy), now)
                }
                NodeState::Down(disk) => SavedNode::Down(disk.clone()),
            };
            saved.insert(id, node);
        }
        self.start = Some(saved);
        Ok(())
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
            let (state, clock) = match self.start.as_ref().and_then(|start| start.get(&id)) {
                Some(SavedNode::Up(node, now)) => {
                    let clock = ManualClock::new(*now);
                    let copy = node.fork(clock.clone()).map_err(|error| failure(error, id))?;
                    (NodeState::Up(Box::new(copy)), clock)
                }
                Some(SavedNode::Down(disk)) => (NodeState::Down(disk.clone()), ManualClock::new(SIM_START_MS)),
                None => {
                    let clock = ManualClock::new(SIM_START_MS);
                    let node = self.open(id, SimDisk::new(), &clock)?;
                    (NodeState::Up(Box::new(node)), clock)
                }
            };
            self.nodes.insert(id, SimNode { state, clock });
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

    fn check_replicas(&self) -> Result<(), String> {
        let violations = ClusterInvariants::default().check_nodes(self, 0);
        if violations.is_empty() {
            return Ok(());
        }
        let shown: Vec<String> = violations.iter().map(ToString::to_string).collect();
        Err(shown.join("; "))
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
