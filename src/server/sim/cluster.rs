//! A cluster of `ClusterNode`s on one thread: the simulated network between
//! them and their clients, a simulated disk and a clock per node, and the
//! faults a driver may inject (crash and restart, pause and resume,
//! partition and heal, clock skew). Every step is recorded in a trace, so
//! two runs of the same steps can be compared byte for byte.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::disk::SimDisk;
use super::network::{Address, Link, SimNetwork};
use crate::server::broker::{BrokerConfig, Endpoint, ManualClock};
use crate::server::cluster::{ClusterNode, NodeConfig, NodeError, Output};

/// When every simulated clock starts.
pub const SIM_START_MS: i64 = 1_700_000_000_000;

enum NodeState {
    Up(Box<ClusterNode<SimDisk>>),
    Down(SimDisk),
}

struct SimNode {
    state: NodeState,
    clock: ManualClock,
    paused: bool,
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

pub struct SimCluster {
    config: SimClusterConfig,
    now_ms: i64,
    nodes: BTreeMap<i32, SimNode>,
    network: SimNetwork,
    /// Responses delivered to each client connection, and connections a
    /// node closed or lost.
    inboxes: BTreeMap<u64, Vec<Bytes>>,
    closed: BTreeSet<u64>,
    /// Which node each client connection talks to.
    connections: BTreeMap<u64, i32>,
    next_connection: u64,
    /// Tears the unflushed tails of crashed disks.
    disk_rng: ChaCha8Rng,
    trace: Vec<String>,
    events: u64,
}

impl SimCluster {
    /// Starts every node on an empty disk; `seed` decides how crashes tear.
    pub fn start(config: SimClusterConfig, seed: u64) -> Result<Self, NodeError> {
        let mut nodes = BTreeMap::new();
        for id in 1..=config.nodes {
            let clock = ManualClock::new(SIM_START_MS);
            let node = ClusterNode::open(config.for_node(id), SimDisk::new(), clock.clone())?;
            nodes.insert(
                id,
                SimNode {
                    state: NodeState::Up(Box::new(node)),
                    clock,
                    paused: false,
                },
            );
        }
        Ok(Self {
            config,
            now_ms: SIM_START_MS,
            nodes,
            network: SimNetwork::default(),
            inboxes: BTreeMap::new(),
            closed: BTreeSet::new(),
            connections: BTreeMap::new(),
            next_connection: 1,
            disk_rng: ChaCha8Rng::seed_from_u64(seed),
            trace: Vec::new(),
            events: 0,
        })
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub fn node_ids(&self) -> Vec<i32> {
        self.nodes.keys().copied().collect()
    }

    /// A running node (crashed ones are `None`).
    pub fn node(&self, id: i32) -> Option<&ClusterNode<SimDisk>> {
        match &self.nodes.get(&id)?.state {
            NodeState::Up(node) => Some(node),
            NodeState::Down(_) => None,
        }
    }

    pub fn is_paused(&self, id: i32) -> bool {
        self.nodes.get(&id).is_some_and(|node| node.paused)
    }

    pub fn network(&self) -> &SimNetwork {
        &self.network
    }

    /// Every step so far, one line each.
    pub fn trace(&self) -> &[String] {
        &self.trace
    }

    /// Messages delivered, ticks, and faults: the simulated events.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn record(&mut self, line: String) {
        tracing::trace!(at = self.now_ms - SIM_START_MS, "{line}");
        self.events += 1;
        self.trace.push(format!("{} {line}", self.now_ms - SIM_START_MS));
    }

    /// Opens a client connection to a node.
    pub fn connect(&mut self, node: i32) -> u64 {
        let connection = self.next_connection;
        self.next_connection += 1;
        self.connections.insert(connection, node);
        connection
    }

    /// A request frame (size prefix included, as a client writes it).
    pub fn client_send(&mut self, connection: u64, frame: Bytes) {
        let Some(&node) = self.connections.get(&connection) else {
            return;
        };
        if self.closed.contains(&connection) {
            return;
        }
        self.record(format!("c{connection} sends {} bytes to n{node}", frame.len()));
        self.network
            .send(Address::Client(connection), Address::Node(node), frame);
    }

    /// The responses a connection received since the last call.
    pub fn client_receive(&mut self, connection: u64) -> Vec<Bytes> {
        self.inboxes.remove(&connection).unwrap_or_default()
    }

    pub fn is_closed(&self, connection: u64) -> bool {
        self.closed.contains(&connection)
    }

    /// Links with a message waiting.
    pub fn busy_links(&self) -> Vec<Link> {
        self.network.busy()
    }

    /// Delivers the next message on a link; one for a paused node waits,
    /// one for a crashed node is lost.
    pub fn deliver(&mut self, link: Link) -> Result<(), NodeError> {
        let (from, to) = link;
        if let Address::Node(id) = to
            && self.is_paused(id)
        {
            return Ok(());
        }
        let Some(bytes) = self.network.take(link) else {
            return Ok(());
        };
        self.record(format!("deliver {from}->{to} {} bytes", bytes.len()));
        match to {
            Address::Client(connection) => {
                self.inboxes.entry(connection).or_default().push(bytes);
                Ok(())
            }
            Address::Node(id) => {
                let Some(SimNode {
                    state: NodeState::Up(node),
                    ..
                }) = self.nodes.get_mut(&id)
                else {
                    return Ok(());
                };
                let outputs = match from {
                    // The size prefix is the network's framing: the node
                    // takes the frame after it.
                    Address::Client(connection) => node.client_frame(connection, bytes.slice(4.min(bytes.len())..))?,
                    Address::Node(peer) => node.peer_message(peer, &bytes)?,
                };
                self.route(id, outputs);
                Ok(())
            }
        }
    }

    fn route(&mut self, from: i32, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Response { connection, frame } => {
                    self.network
                        .send(Address::Node(from), Address::Client(connection), frame);
                }
                Output::Close { connection, reason } => {
                    self.record(format!("n{from} closes c{connection}: {reason}"));
                    self.close(connection);
                }
                Output::Send { to, bytes } => {
                    self.network
                        .send(Address::Node(from), Address::Node(to), Bytes::from(bytes));
                }
            }
        }
    }

    fn close(&mut self, connection: u64) {
        self.closed.insert(connection);
        self.network.drop_address(Address::Client(connection));
    }

    /// Time passes: every clock moves `ms`, every running node that is not
    /// paused ticks.
    pub fn advance(&mut self, ms: i64) -> Result<(), NodeError> {
        self.now_ms += ms;
        self.record(format!("advance {ms} ms"));
        let ids = self.node_ids();
        for id in ids {
            let Some(sim) = self.nodes.get_mut(&id) else {
                continue;
            };
            sim.clock.advance(ms);
            if sim.paused {
                continue;
            }
            if let NodeState::Up(node) = &mut sim.state {
                let outputs = node.tick()?;
                self.route(id, outputs);
            }
        }
        Ok(())
    }

    /// Kills a node: its unflushed writes are lost (maybe torn), its
    /// connections and the messages to and from it are gone.
    pub fn crash(&mut self, id: i32) {
        let Some(sim) = self.nodes.get_mut(&id) else {
            return;
        };
        let state = std::mem::replace(&mut sim.state, NodeState::Down(SimDisk::new()));
        let mut disk = match state {
            NodeState::Up(node) => node.into_disk(),
            NodeState::Down(disk) => disk,
        };
        disk.crash(&mut self.disk_rng);
        sim.state = NodeState::Down(disk);
        sim.paused = false;
        self.record(format!("crash n{id}"));
        self.network.drop_address(Address::Node(id));
        let lost: Vec<u64> = self
            .connections
            .iter()
            .filter(|&(_, &node)| node == id)
            .map(|(&connection, _)| connection)
            .collect();
        for connection in lost {
            self.close(connection);
        }
    }

    /// Restarts a crashed node from its disk.
    pub fn restart(&mut self, id: i32) -> Result<(), NodeError> {
        let config = self.config.for_node(id);
        let Some(sim) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        let NodeState::Down(disk) = &mut sim.state else {
            return Ok(());
        };
        let disk = std::mem::take(disk);
        let node = ClusterNode::open(config, disk, sim.clock.clone())?;
        sim.state = NodeState::Up(Box::new(node));
        self.record(format!("restart n{id}"));
        Ok(())
    }

    pub fn is_up(&self, id: i32) -> bool {
        self.node(id).is_some()
    }

    /// A long pause (a GC, SIGSTOP): the node neither reads nor ticks.
    pub fn pause(&mut self, id: i32) {
        if let Some(sim) = self.nodes.get_mut(&id) {
            sim.paused = true;
            self.record(format!("pause n{id}"));
        }
    }

    pub fn resume(&mut self, id: i32) {
        if let Some(sim) = self.nodes.get_mut(&id) {
            sim.paused = false;
            self.record(format!("resume n{id}"));
        }
    }

    /// Cuts `side` off from the other nodes.
    pub fn partition(&mut self, side: &[i32]) {
        let nodes = self.node_ids();
        self.network.partition(side, &nodes);
        self.record(format!("partition {side:?} from the rest"));
    }

    pub fn heal(&mut self) {
        self.network.heal();
        self.record("heal".to_owned());
    }

    /// Moves one node's clock ahead of the others.
    pub fn skew(&mut self, id: i32, ms: i64) {
        if let Some(sim) = self.nodes.get_mut(&id) {
            sim.clock.advance(ms);
            self.record(format!("skew n{id} by {ms} ms"));
        }
    }

    /// Ends every fault: heals, resumes and restarts every node.
    pub fn heal_all(&mut self) -> Result<(), NodeError> {
        self.heal();
        for id in self.node_ids() {
            self.resume(id);
            if !self.is_up(id) {
                self.restart(id)?;
            }
        }
        Ok(())
    }

    /// Delivers every waiting message (and those they cause) in link order,
    /// then lets `ms` pass; repeated `rounds` times.
    pub fn run_quiet(&mut self, rounds: usize, ms: i64) -> Result<(), NodeError> {
        for _ in 0..rounds {
            for _ in 0..10_000 {
                let Some(link) = self.busy_links().into_iter().find(|&link| !self.is_blocked(link)) else {
                    break;
                };
                self.deliver(link)?;
            }
            self.advance(ms)?;
        }
        Ok(())
    }

    fn is_blocked(&self, (_, to): Link) -> bool {
        matches!(to, Address::Node(id) if self.is_paused(id))
    }
}
