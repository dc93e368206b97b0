//! `ServerUnderTest`: what a Kafka-compatible server implements to be
//! fuzzed. Only bytes cross it, so any server plugs in, whatever its
//! language of types: a request frame in, response bytes (or nothing, or a
//! closed connection) out, and a reset between inputs.

use bytes::Bytes;

use crate::server::broker::{Broker, BrokerConfig, DispatchError, ManualClock, Parked, Reply};
use crate::server::wire::BatchLimits;

/// What a server did with one request frame, as its client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// A response frame, size prefix included, as sent on the wire.
    Response(Bytes),
    /// No response (Kafka sends none for a Produce with acks=0).
    NoResponse,
    /// The server closed the connection; later frames are not sent.
    Closed { reason: String },
    /// The answer comes later (a join waiting for the rest of its group, a
    /// fetch waiting for records): `ServerUnderTest::poll` collects it.
    /// Only `handle_on` answers so; until then the connection is busy, as
    /// Kafka reads one request per connection at a time.
    Pending,
}

/// A server to fuzz: one client connection's view of it. The fuzz targets
/// are written against this trait, so a server plugs in without touching
/// them (see `targets::*_on`).
pub trait ServerUnderTest {
    /// One request frame, without its 4-byte size prefix, as read from the
    /// connection.
    fn handle(&mut self, frame: Bytes) -> Exchange;

    /// Forgets everything: the next input meets a fresh server.
    fn reset(&mut self);

    /// Resets, then brings the server to the state `frames` (requests a
    /// client sent, without size prefixes) leave it in, their answers
    /// unchecked: a target's starting state. A server that can copy its
    /// state may set it up once and restore a copy each time after.
    fn start_from(&mut self, frames: &[Bytes]) {
        reset_and_handle(self, frames);
    }

    /// One request frame on `connection`, one of the several a session's
    /// clients hold. A server that keeps no state per connection (the
    /// reference server: groups and producers are the broker's) need not
    /// tell them apart.
    fn handle_on(&mut self, connection: usize, frame: Bytes) -> Exchange {
        let _ = connection;
        self.handle(frame)
    }

    /// The answer to `connection`'s `Pending` request, once there is one.
    fn poll(&mut self, connection: usize) -> Option<Exchange> {
        let _ = connection;
        None
    }

    /// The client dropped `connection` (and any answer it waited for); its
    /// next frame opens a new one.
    fn disconnect(&mut self, connection: usize) {
        let _ = connection;
    }

    /// Moves the server's clock `ms` forward, so that session timeouts and
    /// rebalances happen; false for a server whose clock the harness does
    /// not drive (sessions then skip the step and say so).
    fn advance_clock(&mut self, ms: i64) -> bool {
        let _ = ms;
        false
    }
}

/// A Kafka implementation's codec to fuzz on its own, for code that has a
/// decoder but no server to drive (a protocol crate), or to reach a
/// server's decoder without its broker. Only bytes cross it; a refusal is
/// a reason, whatever the implementation's error type.
pub trait DecoderUnderTest {
    /// Decodes one request frame (without its size prefix), as the
    /// implementation reads requests off a connection, and encodes what it
    /// read again (without a size prefix). A Produce's record batches are
    /// read as its server would read them before storing them.
    fn reencode_request(&mut self, frame: &[u8]) -> Result<Vec<u8>, String>;

    /// Reads a Produce partition's `records` bytes (record batches) the way
    /// the implementation's storage does, inflating compressed ones: how
    /// many records they hold.
    fn count_records(&mut self, records: &[u8]) -> Result<usize, String>;
}

/// One node of a cluster under test, by its Kafka broker id.
pub type NodeId = i32;

/// What a node asks of the network after an input: a response (size prefix
/// included) or a closed connection for a client, bytes for another node.
pub use crate::server::cluster::Output as NodeOutput;

/// A node stopped working: its recovery refused its disk, or it hit an
/// error it cannot go on from. Always a finding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node {node} failed: {reason}")]
pub struct NodeFailure {
    pub node: NodeId,
    pub reason: String,
}

/// A multi-node server to fuzz on the simulated network: its nodes as
/// sans-I/O state machines. The harness owns the network, the clients and
/// the schedule (what is delivered, dropped, crashed, paused, and when);
/// only bytes cross this trait, as with `ServerUnderTest`. See
/// `examples/own_cluster.rs` for another cluster implementing it.
pub trait ClusterUnderTest {
    /// Every node, running or not, in a fixed order.
    fn node_ids(&self) -> Vec<NodeId>;

    /// Every node back to the cluster's starting state (running, on the
    /// disk a clean bootstrap left), with `seed` for what the cluster draws
    /// at random (how a crash tears the last write). A cluster that can
    /// copy its state should restore a copy: this runs once per input.
    fn reset(&mut self, seed: u64) -> Result<(), NodeFailure>;

    fn is_up(&self, node: NodeId) -> bool;

    /// A request frame (without its size prefix) a client connection sent
    /// to `node`.
    fn client_frame(&mut self, node: NodeId, connection: u64, frame: Bytes) -> Result<Vec<NodeOutput>, NodeFailure>;

    /// A client connection to `node` is gone, with whatever it waited for.
    fn client_closed(&mut self, node: NodeId, connection: u64);

    /// Bytes another node sent to `node`.
    fn peer_message(&mut self, node: NodeId, from: NodeId, bytes: Bytes) -> Result<Vec<NodeOutput>, NodeFailure>;

    /// Moves `node`'s clock `ms` forward, without letting it act (a paused
    /// node's clock, a skewed one).
    fn advance_clock(&mut self, node: NodeId, ms: i64);

    /// `node` acts on the time its clock shows: timers, elections,
    /// heartbeats, replica fetches, deadlines.
    fn tick(&mut self, node: NodeId) -> Result<Vec<NodeOutput>, NodeFailure>;

    /// Kills `node`: what it had not made durable is lost.
    fn crash(&mut self, node: NodeId);

    /// Starts a crashed `node` again from what its disk kept.
    fn restart(&mut self, node: NodeId) -> Result<(), NodeFailure>;

    /// White-box: the cluster's own check that its replicas agree (one
    /// leader per leader epoch, the same records below the high
    /// watermarks), run once every fault healed and the clients' checks
    /// passed: a diverged replica that no client reads (a follower that did
    /// not truncate) is found here. What differs, or `Ok` for a cluster that
    /// does not say.
    fn check_replicas(&self) -> Result<(), String> {
        Ok(())
    }

    /// What `node` holds, for the timeline of a replay and to steer the
    /// fuzzer toward new cluster states; `None` when the cluster does not
    /// say (the checks never depend on it).
    fn observe(&self, node: NodeId) -> Option<NodeObservation> {
        let _ = node;
        None
    }
}

/// One node's view of its cluster, as `ClusterUnderTest::observe` tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeObservation {
    /// The metadata quorum's leader as this node knows it.
    pub controller: Option<NodeId>,
    /// Brokers the node's metadata says are fenced.
    pub fenced: Vec<NodeId>,
    pub replicas: Vec<ReplicaObservation>,
}

/// One partition replica on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaObservation {
    pub topic: String,
    pub partition: i32,
    /// The leader and leader epoch the node's metadata gives.
    pub leader: NodeId,
    pub leader_epoch: i32,
    pub isr: Vec<NodeId>,
    pub log_end_offset: i64,
    pub high_watermark: i64,
}

/// Resets `server` and hands it `frames`, their answers unchecked.
fn reset_and_handle<S: ServerUnderTest + ?Sized>(server: &mut S, frames: &[Bytes]) {
    server.reset();
    for frame in frames {
        server.handle(frame.clone());
    }
}

/// How far the record batches of one `records` field may expand while
/// fuzzing: room for real zstd windows (2 MiB), small enough that a
/// decompression stays within one input's allocation cap.
pub const FUZZING_BATCH_LIMITS: BatchLimits = BatchLimits {
    max_decompressed_size: 4 * 1024 * 1024,
};

/// The suite's own broker, in-process, on a clock that only moves when told.
pub struct ReferenceServer {
    config: BrokerConfig,
    broker: Broker,
    /// The broker's clock: only sessions move it.
    clock: ManualClock,
    /// Requests of `handle_on` waiting for their answer, by connection.
    parked: Vec<(usize, Parked)>,
    /// The last starting state built by `start_from`, and its frames.
    start: Option<(Vec<Bytes>, Broker)>,
}

/// When the reference server's clock starts: a fixed instant, so every run
/// of an input gives the same bytes.
pub const REFERENCE_START_MS: i64 = 1_700_000_000_000;

impl ReferenceServer {
    pub fn new(config: BrokerConfig) -> Self {
        let clock = ManualClock::new(REFERENCE_START_MS);
        let broker = Broker::new(config.clone(), clock.clone());
        Self {
            config,
            broker,
            clock,
            parked: Vec::new(),
            start: None,
        }
    }

    /// The configuration fuzz targets run with: Kafka's defaults, with the
    /// limits a single input can drive to their maximum brought down to
    /// sizes that keep one execution fast and within the allocation cap.
    pub fn fuzzing_config() -> BrokerConfig {
        BrokerConfig {
            max_partitions_per_topic: 64,
            batch_limits: FUZZING_BATCH_LIMITS,
            ..BrokerConfig::default()
        }
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }
}

impl Default for ReferenceServer {
    fn default() -> Self {
        Self::new(Self::fuzzing_config())
    }
}

impl ReferenceServer {
    /// What the client sees of the broker's reply; a parked one is kept
    /// for `connection`.
    fn exchange(&mut self, connection: usize, reply: Result<Reply, DispatchError>) -> Exchange {
        match reply {
            Ok(Reply::Response(response)) => Exchange::Response(response),
            Ok(Reply::NoResponse) => Exchange::NoResponse,
            Ok(Reply::Parked(parked)) => {
                self.parked.push((connection, parked));
                Exchange::Pending
            }
            Err(error @ DispatchError::Unencodable(_)) => {
                // The broker built a response it cannot encode: its bug,
                // not the client's, and never a reason to close quietly.
                panic!("reference server: {error}")
            }
            Err(error) => Exchange::Closed {
                reason: error.to_string(),
            },
        }
    }
}

impl ServerUnderTest for ReferenceServer {
    fn handle(&mut self, frame: Bytes) -> Exchange {
        // One connection, nothing else can happen while a request waits:
        // the broker answers it as if its wait ran out.
        let reply = self.broker.handle(frame).map(|response| match response {
            Some(response) => Reply::Response(response),
            None => Reply::NoResponse,
        });
        self.exchange(0, reply)
    }

    fn handle_on(&mut self, connection: usize, frame: Bytes) -> Exchange {
        let reply = self.broker.receive(frame);
        self.exchange(connection, reply)
    }

    fn poll(&mut self, connection: usize) -> Option<Exchange> {
        let index = self.parked.iter().position(|(waiting, _)| *waiting == connection)?;
        let (_, parked) = self.parked.swap_remove(index);
        let reply = self.broker.resume(parked);
        match self.exchange(connection, reply) {
            Exchange::Pending => None,
            answered => Some(answered),
        }
    }

    fn disconnect(&mut self, connection: usize) {
        self.parked.retain(|(waiting, _)| *waiting != connection);
    }

    fn reset(&mut self) {
        self.parked.clear();
        self.clock = ManualClock::new(REFERENCE_START_MS);
        self.broker = Broker::new(self.config.clone(), self.clock.clone());
    }

    fn start_from(&mut self, frames: &[Bytes]) {
        // Every input of a target starts from the same frames: they are
        // handled once, and each input gets a copy of the state they left.
        match &self.start {
            Some((cached, start)) if cached.as_slice() == frames => {
                self.parked.clear();
                self.clock = ManualClock::new(REFERENCE_START_MS);
                self.broker = start.fork(self.clock.clone());
            }
            _ => {
                reset_and_handle(self, frames);
                let start = self.broker.fork(ManualClock::new(REFERENCE_START_MS));
                self.start = Some((frames.to_vec(), start));
            }
        }
    }

    fn advance_clock(&mut self, ms: i64) -> bool {
        self.clock.advance(ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::harness::targets::warm_up_frames;

    fn end_offset(server: &ReferenceServer, partition: i32) -> Option<i64> {
        let topic = StrBytes::from_static_str("topic-a");
        server
            .broker()
            .topics()
            .partition(&topic, partition)
            .map(|log| log.log_end_offset())
    }

    #[test]
    fn every_start_is_the_state_the_frames_leave_and_inputs_do_not_leak() {
        let mut server = ReferenceServer::default();
        server.start_from(warm_up_frames());
        let started = [0, 1, 2].map(|p| end_offset(&server, p));
        assert_eq!(started, [Some(5), Some(2), Some(1)]);
        // An input appends to partition 0 of the copy...
        let produce = &warm_up_frames()[1];
        assert!(matches!(server.handle(produce.clone()), Exchange::Response(_)));
        assert_eq!(end_offset(&server, 0), Some(8));
        // ...and the next input starts from the state the frames leave.
        server.start_from(warm_up_frames());
        assert_eq!([0, 1, 2].map(|p| end_offset(&server, p)), started);
        // Other frames: built anew.
        server.start_from(&warm_up_frames()[..1]);
        assert_eq!([0, 1, 2].map(|p| end_offset(&server, p)), [Some(0); 3]);
    }
}
