//! Fuzzing your own cluster: the adapter a Kafka-compatible cluster written
//! as sans-I/O state machines (nodes that take bytes and ticks, and hand
//! back bytes) needs to meet kafka-fuzz's `cluster` target. `YourNode`
//! stands for your broker node; kafka-fuzz's own `ClusterNode` plays its
//! part here so that the example runs.
//!
//!     cargo run --release --example own_cluster -- corpus/cluster
//!
//! plays the committed cluster scripts through the adapter: clients,
//! deliveries, crashes, partitions, pauses and clock skew on the simulated
//! network, every answer checked against the model of Kafka's replicated
//! guarantees. A fuzz binary is one line on top (see docs/cluster-fuzzing.md).

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_fuzz::harness::target::{ClusterUnderTest, NodeFailure, NodeId, NodeOutput};
use kafka_fuzz::server::broker::{BrokerConfig, Endpoint, ManualClock};
use kafka_fuzz::server::cluster::{ClusterNode, NodeConfig};
use kafka_fuzz::server::sim::{SIM_START_MS, SimDisk};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Your node, on a disk that keeps what was flushed and loses the rest
/// when it crashes.
type YourNode = ClusterNode<SimDisk>;

/// Your cluster: three nodes, each with its own clock and disk.
pub struct YourCluster {
    nodes: BTreeMap<NodeId, (Option<YourNode>, SimDisk, ManualClock)>,
    /// How a crash tears the last write: from the input, so runs replay.
    tears: ChaCha8Rng,
}

fn config(id: NodeId) -> NodeConfig {
    let broker = BrokerConfig {
        node_id: id,
        default_replication_factor: 3,
        min_insync_replicas: 2,
        ..BrokerConfig::default()
    };
    let nodes = (1..=3)
        .map(|n| {
            (
                n,
                Endpoint {
                    host: "sim".to_owned(),
                    port: 9090 + n,
                },
            )
        })
        .collect();
    NodeConfig::new(broker, nodes)
}

fn failed(node: NodeId) -> impl Fn(kafka_fuzz::server::cluster::NodeError) -> NodeFailure {
    move |error| NodeFailure {
        node,
        reason: error.to_string(),
    }
}

impl Default for YourCluster {
    fn default() -> Self {
        Self {
            nodes: BTreeMap::new(),
            tears: ChaCha8Rng::seed_from_u64(0),
        }
    }
}

impl YourCluster {
    fn up(&mut self, node: NodeId) -> Option<&mut YourNode> {
        self.nodes.get_mut(&node)?.0.as_mut()
    }
}

impl ClusterUnderTest for YourCluster {
    fn node_ids(&self) -> Vec<NodeId> {
        vec![1, 2, 3]
    }

    /// A cluster that cannot copy its state starts afresh for every input:
    /// empty disks, an election, topics auto-created as clients ask. (The
    /// reference cluster restores a saved bootstrap instead: faster.)
    fn reset(&mut self, seed: u64) -> Result<(), NodeFailure> {
        self.tears = ChaCha8Rng::seed_from_u64(seed);
        self.nodes.clear();
        for id in self.node_ids() {
            let clock = ManualClock::new(SIM_START_MS);
            let node = YourNode::open(config(id), SimDisk::new(), clock.clone()).map_err(failed(id))?;
            self.nodes.insert(id, (Some(node), SimDisk::new(), clock));
        }
        Ok(())
    }

    fn is_up(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_some_and(|(up, _, _)| up.is_some())
    }

    fn client_frame(&mut self, node: NodeId, connection: u64, frame: Bytes) -> Result<Vec<NodeOutput>, NodeFailure> {
        match self.up(node) {
            Some(up) => up.client_frame(connection, frame).map_err(failed(node)),
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
            Some(up) => up.peer_message(from, &bytes).map_err(failed(node)),
            None => Ok(Vec::new()),
        }
    }

    fn advance_clock(&mut self, node: NodeId, ms: i64) {
        if let Some((_, _, clock)) = self.nodes.get(&node) {
            clock.advance(ms);
        }
    }

    fn tick(&mut self, node: NodeId) -> Result<Vec<NodeOutput>, NodeFailure> {
        match self.up(node) {
            Some(up) => up.tick().map_err(failed(node)),
            None => Ok(Vec::new()),
        }
    }

    /// The node stops; its disk keeps what was flushed, and maybe a torn
    /// piece of what was not.
    fn crash(&mut self, node: NodeId) {
        if let Some((up, disk, _)) = self.nodes.get_mut(&node)
            && let Some(up) = up.take()
        {
            *disk = up.into_disk();
            disk.crash(&mut self.tears);
        }
    }

    fn restart(&mut self, node: NodeId) -> Result<(), NodeFailure> {
        let Some((up, disk, clock)) = self.nodes.get_mut(&node) else {
            return Ok(());
        };
        if up.is_none() {
            *up = Some(YourNode::open(config(node), std::mem::take(disk), clock.clone()).map_err(failed(node))?);
        }
        Ok(())
    }
}

// That is the whole adapter. What follows runs it.

use kafka_fuzz::corpus::input_files;
use kafka_fuzz::harness::targets::cluster_on;
use kafka_fuzz::server::sim::SimCluster;

/// Plays every script under `dir` on `YourCluster`; a broken guarantee
/// panics with the model's report, naming the input first.
fn replay(dir: &std::path::Path) -> std::io::Result<usize> {
    let mut cluster = SimCluster::new(YourCluster::default());
    let files = input_files(&[dir.to_path_buf()])?;
    for file in &files {
        eprintln!("cluster: {}", file.display());
        cluster_on(&mut cluster, &std::fs::read(file)?);
    }
    Ok(files.len())
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus/cluster".into());
    let count = replay(std::path::Path::new(&dir))?;
    println!("{count} cluster scripts through YourCluster, no violation");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_cluster_scripts_pass_through_the_adapter() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/cluster");
        assert!(
            super::replay(&dir).unwrap() > 0,
            "no cluster scripts under {}",
            dir.display()
        );
    }
}
