//! A cluster under test on one thread: the simulated network between its
//! nodes and their clients, a clock per node, and the faults a driver may
//! inject (crash and restart, pause and resume, partition and heal, clock
//! skew). Every step is recorded in a trace, so two runs of the same steps
//! can be compared byte for byte.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::network::{Address, Link, SimNetwork};
use super::reference_cluster::{ReferenceCluster, SIM_START_MS, SimClusterConfig};
use crate::harness::target::{ClusterUnderTest, NodeFailure, NodeId, NodeOutput};
use crate::server::cluster::ClusterNode;
use crate::server::sim::SimDisk;

pub struct SimCluster<C: ClusterUnderTest = ReferenceCluster> {
    system: C,
    now_ms: i64,
    paused: BTreeSet<NodeId>,
    /// How far each node's clock was moved ahead of the others.
    skews: BTreeMap<NodeId, i64>,
    network: SimNetwork,
    /// Responses delivered to each client connection, and connections a
    /// node closed or lost.
    inboxes: BTreeMap<u64, Vec<Bytes>>,
    closed: BTreeSet<u64>,
    /// Which node each client connection talks to.
    connections: BTreeMap<u64, NodeId>,
    next_connection: u64,
    /// Every step, one line each, when kept (`keep_trace`).
    trace: Option<Vec<String>>,
    events: u64,
}

impl SimCluster<ReferenceCluster> {
    /// The reference cluster, every node on an empty disk; `seed` decides
    /// how crashes tear.
    pub fn start(config: SimClusterConfig, seed: u64) -> Result<Self, NodeFailure> {
        Ok(Self::new(ReferenceCluster::new(config, seed)?))
    }

    /// A running node of the reference cluster (crashed ones are `None`).
    pub fn node(&self, id: NodeId) -> Option<&ClusterNode<SimDisk>> {
        self.system.node(id)
    }
}

impl<C: ClusterUnderTest> SimCluster<C> {
    /// `system` as it is, on an empty network.
    pub fn new(system: C) -> Self {
        Self {
            system,
            now_ms: SIM_START_MS,
            paused: BTreeSet::new(),
            skews: BTreeMap::new(),
            network: SimNetwork::default(),
            inboxes: BTreeMap::new(),
            closed: BTreeSet::new(),
            connections: BTreeMap::new(),
            next_connection: 1,
            trace: Some(Vec::new()),
            events: 0,
        }
    }

    /// Back to the cluster's starting state on an empty network, with a
    /// fresh trace: the next input's run.
    pub fn reset(&mut self, seed: u64) -> Result<(), NodeFailure> {
        self.system.reset(seed)?;
        self.now_ms = SIM_START_MS;
        self.paused.clear();
        self.skews.clear();
        self.network = SimNetwork::default();
        self.inboxes.clear();
        self.closed.clear();
        self.connections.clear();
        self.next_connection = 1;
        if let Some(trace) = self.trace.as_mut() {
            trace.clear();
        }
        self.events = 0;
        Ok(())
    }

    pub fn system(&self) -> &C {
        &self.system
    }

    pub fn system_mut(&mut self) -> &mut C {
        &mut self.system
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.system.node_ids()
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.system.is_up(id)
    }

    pub fn is_paused(&self, id: NodeId) -> bool {
        self.paused.contains(&id)
    }

    /// How far `id`'s clock was moved ahead of the others.
    pub fn skew_of(&self, id: NodeId) -> i64 {
        self.skews.get(&id).copied().unwrap_or(0)
    }

    pub fn network(&self) -> &SimNetwork {
        &self.network
    }

    /// Every step so far, one line each (none when not kept).
    pub fn trace(&self) -> &[String] {
        self.trace.as_deref().unwrap_or_default()
    }

    /// Whether to keep the trace: a fuzz target that shows no timeline
    /// saves the formatting of every event.
    pub fn keep_trace(&mut self, keep: bool) {
        if keep != self.trace.is_some() {
            self.trace = keep.then(Vec::new);
        }
    }

    /// Messages delivered, ticks, and faults: the simulated events.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn record(&mut self, line: impl FnOnce() -> String) {
        self.events += 1;
        if let Some(trace) = self.trace.as_mut() {
            trace.push(format!("{} {}", self.now_ms - SIM_START_MS, line()));
        }
    }

    /// Opens a client connection to a node.
    pub fn connect(&mut self, node: NodeId) -> u64 {
        let connection = self.next_connection;
        self.next_connection += 1;
        self.connections.insert(connection, node);
        connection
    }

    /// The node a client connection talks to.
    pub fn connection_node(&self, connection: u64) -> Option<NodeId> {
        self.connections.get(&connection).copied()
    }

    /// A request frame (size prefix included, as a client writes it).
    pub fn client_send(&mut self, connection: u64, frame: Bytes) {
        let Some(&node) = self.connections.get(&connection) else {
            return;
        };
        if self.closed.contains(&connection) {
            return;
        }
        if !self.system.is_up(node) {
            // Nothing listens on a crashed node's port: refused.
            self.record(|| format!("c{connection} refused by n{node}, which is down"));
            self.close(connection);
            return;
        }
        self.record(|| format!("c{connection} sends {} bytes to n{node}", frame.len()));
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

    /// The client drops its connection (and whatever it waited for).
    pub fn disconnect(&mut self, connection: u64) {
        let Some(&node) = self.connections.get(&connection) else {
            return;
        };
        if self.closed.contains(&connection) {
            return;
        }
        self.record(|| format!("c{connection} disconnects from n{node}"));
        self.close(connection);
        self.system.client_closed(node, connection);
    }

    /// Links with a message waiting.
    pub fn busy_links(&self) -> Vec<Link> {
        self.network.busy()
    }

    /// Links whose next message can be delivered now (not to a paused
    /// node), in link order.
    pub fn deliverable_links(&self) -> Vec<Link> {
        self.network
            .busy()
            .into_iter()
            .filter(|&link| !self.is_blocked(link))
            .collect()
    }

    /// The link whose next message was sent first, of those that can be
    /// delivered now (not to a paused node).
    pub fn oldest_deliverable(&self) -> Option<Link> {
        self.network.oldest(|link| !self.is_blocked(link))
    }

    /// Delivers the next message on a link; one for a paused node waits,
    /// one for a crashed node is lost.
    pub fn deliver(&mut self, link: Link) -> Result<(), NodeFailure> {
        let (from, to) = link;
        if self.is_blocked(link) {
            return Ok(());
        }
        let Some(bytes) = self.network.take(link) else {
            return Ok(());
        };
        self.record(|| format!("deliver {from}->{to} {} bytes", bytes.len()));
        match to {
            Address::Client(connection) => {
                self.inboxes.entry(connection).or_default().push(bytes);
                Ok(())
            }
            Address::Node(id) => {
                let outputs = match from {
                    // The size prefix is the network's framing: the node
                    // takes the frame after it.
                    Address::Client(connection) => {
                        self.system
                            .client_frame(id, connection, bytes.slice(4.min(bytes.len())..))?
                    }
                    Address::Node(peer) => self.system.peer_message(id, peer, bytes)?,
                };
                self.route(id, outputs);
                Ok(())
            }
        }
    }

    /// Loses the next message on a link, as a dropped packet on a broken
    /// connection would (a client connection closes with it).
    pub fn drop_message(&mut self, link: Link) {
        if self.network.take(link).is_none() {
            return;
        }
        self.record(|| format!("drop {}->{}", link.0, link.1));
        for end in [link.0, link.1] {
            if let Address::Client(connection) = end {
                self.disconnect(connection);
            }
        }
    }

    fn route(&mut self, from: NodeId, outputs: Vec<NodeOutput>) {
        for output in outputs {
            match output {
                NodeOutput::Response { connection, frame } => {
                    self.network
                        .send(Address::Node(from), Address::Client(connection), frame);
                }
                NodeOutput::Close { connection, reason } => {
                    self.record(|| format!("n{from} closes c{connection}: {reason}"));
                    self.close(connection);
                }
                NodeOutput::Send { to, bytes } => {
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
    pub fn advance(&mut self, ms: i64) -> Result<(), NodeFailure> {
        self.now_ms += ms;
        self.record(|| format!("advance {ms} ms"));
        for id in self.node_ids() {
            self.system.advance_clock(id, ms);
            if self.is_paused(id) || !self.system.is_up(id) {
                continue;
            }
            let outputs = self.system.tick(id)?;
            self.route(id, outputs);
        }
        Ok(())
    }

    /// Kills a node: its unflushed writes are lost (maybe torn), its
    /// connections and the messages to and from it are gone.
    pub fn crash(&mut self, id: NodeId) {
        if !self.node_ids().contains(&id) {
            return;
        }
        self.system.crash(id);
        self.paused.remove(&id);
        self.record(|| format!("crash n{id}"));
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
    pub fn restart(&mut self, id: NodeId) -> Result<(), NodeFailure> {
        if !self.node_ids().contains(&id) || self.system.is_up(id) {
            return Ok(());
        }
        self.system.restart(id)?;
        self.record(|| format!("restart n{id}"));
        Ok(())
    }

    /// A long pause (a GC, SIGSTOP): the node neither reads nor ticks.
    pub fn pause(&mut self, id: NodeId) {
        if self.node_ids().contains(&id) {
            self.paused.insert(id);
            self.record(|| format!("pause n{id}"));
        }
    }

    pub fn resume(&mut self, id: NodeId) {
        if self.paused.remove(&id) {
            self.record(|| format!("resume n{id}"));
        }
    }

    /// Cuts `side` off from the other nodes.
    pub fn partition(&mut self, side: &[NodeId]) {
        let nodes = self.node_ids();
        self.network.partition(side, &nodes);
        self.record(|| format!("partition {side:?} from the rest"));
    }

    pub fn heal(&mut self) {
        self.network.heal();
        self.record(|| "heal".to_owned());
    }

    /// Moves one node's clock ahead of the others.
    pub fn skew(&mut self, id: NodeId, ms: i64) {
        if self.node_ids().contains(&id) {
            self.system.advance_clock(id, ms);
            *self.skews.entry(id).or_default() += ms;
            self.record(|| format!("skew n{id} by {ms} ms"));
        }
    }

    /// Ends every fault: heals, resumes and restarts every node.
    pub fn heal_all(&mut self) -> Result<(), NodeFailure> {
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
    pub fn run_quiet(&mut self, rounds: usize, ms: i64) -> Result<(), NodeFailure> {
        for _ in 0..rounds {
            for _ in 0..10_000 {
                let Some(&link) = self.deliverable_links().first() else {
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
