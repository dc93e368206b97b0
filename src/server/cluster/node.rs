//! One node of the reference cluster as a state machine: a broker, a voter
//! of the metadata quorum and a write-ahead log. Inputs are client frames,
//! peer messages and ticks on the node's own clock; outputs are responses,
//! closed connections and peer messages. Everything an output depends on is
//! durable (as the flush policy says) before the output is returned.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::disk::Disk;
use super::peer::{PeerMessage, decode, encode};
use super::quorum::{MetadataQuorum, QuorumError};
use super::wal::{WalError, WriteAheadLog};
use crate::server::broker::{
    Broker, BrokerConfig, Clock, ClusterView, DispatchError, Endpoint, LogChange, MetadataRecord, Parked, PartitionLog,
    Reply,
};
use crate::server::wire::decode_record_batches;

/// How long a controller or leader waits before proposing again a change it
/// has not seen committed.
const RETRY_MS: i64 = 1_000;

/// Kafka's default `message.max.bytes`.
const KAFKA_MESSAGE_MAX_BYTES: usize = 1_048_588;

/// When partition data reaches the disk (Kafka's `log.flush.*`): before any
/// answer that depends on it, or every so often (then a crash loses the
/// unflushed tail, which replication must cover). Raft's state is always
/// flushed before a message that depends on it goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    Always,
    IntervalMs(i64),
}

/// A node's settings.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub broker: BrokerConfig,
    /// Every node of the cluster (all are voters), with its client address.
    pub nodes: BTreeMap<i32, Endpoint>,
    /// One Raft tick.
    pub tick_ms: i64,
    /// How often a broker tells the controller it is alive.
    pub heartbeat_ms: i64,
    /// `broker.session.timeout.ms`: the controller fences a broker it has
    /// not heard from for this long.
    pub session_timeout_ms: i64,
    /// How much a replica fetch may carry, and how long it may go unanswered.
    pub fetch_max_bytes: u32,
    pub fetch_timeout_ms: i64,
    pub flush: FlushPolicy,
    pub segment_bytes: u64,
}

impl NodeConfig {
    /// Kafka-like timings scaled down for a cluster on one machine, and
    /// Kafka's `message.max.bytes` unless `broker` sets one.
    pub fn new(mut broker: BrokerConfig, nodes: BTreeMap<i32, Endpoint>) -> Self {
        broker.max_message_bytes.get_or_insert(KAFKA_MESSAGE_MAX_BYTES);
        Self {
            broker,
            nodes,
            tick_ms: 100,
            heartbeat_ms: 250,
            session_timeout_ms: 3_000,
            fetch_max_bytes: 1024 * 1024,
            fetch_timeout_ms: 1_000,
            flush: FlushPolicy::Always,
            segment_bytes: 16 * 1024 * 1024,
        }
    }

    pub fn id(&self) -> i32 {
        self.broker.node_id
    }
}

/// What a node asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A size-prefixed response frame for a client connection.
    Response { connection: u64, frame: Bytes },
    /// Close a client connection (what Kafka does with a frame it cannot read).
    Close { connection: u64, reason: String },
    /// A message for another node.
    Send { to: i32, bytes: Vec<u8> },
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("node {node}: {error}")]
    Wal { node: i32, error: WalError },
    #[error("node {node}: {error}")]
    Quorum { node: i32, error: QuorumError },
    #[error("node {node}: write-ahead log record {index} cannot be read: {reason}")]
    Record { node: i32, index: usize, reason: String },
}

/// What the write-ahead log keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum WalRecord {
    RaftEntry(Vec<u8>),
    RaftState {
        term: u64,
        vote: u64,
        commit: u64,
    },
    // Partitions are named by topic id: a topic deleted and created again
    // under its name is another topic, whose log starts empty.
    Append {
        topic_id: u128,
        partition: i32,
        batch: Bytes,
    },
    Truncate {
        topic_id: u128,
        partition: i32,
        offset: i64,
    },
    HighWatermark {
        topic_id: u128,
        partition: i32,
        offset: i64,
    },
    LogStart {
        topic_id: u128,
        partition: i32,
        offset: i64,
    },
    ProducerIds(i64),
}

/// A client connection: Kafka answers one request at a time per
/// connection, so frames that arrive while one waits are queued.
#[derive(Default)]
struct Connection {
    parked: Option<Parked>,
    queued: VecDeque<Bytes>,
}

pub struct ClusterNode<D: Disk> {
    config: NodeConfig,
    broker: Broker,
    quorum: MetadataQuorum,
    wal: WriteAheadLog<D>,
    unflushed: bool,
    /// Something was written that must be durable before any output
    /// leaves, whatever the flush policy (Raft's state, producer ids).
    flush_before_output: bool,
    flushed_at: i64,
    raft_ticked_at: i64,
    heartbeat_at: i64,
    /// Controller: when each broker was last heard from.
    heard: BTreeMap<i32, i64>,
    /// Controller: when a fence or unfence was last proposed per broker.
    fence_proposed: BTreeMap<i32, i64>,
    was_controller: bool,
    /// When this incarnation's registration was last proposed.
    registered_at: i64,
    /// The clock's reading at the last tick: a later reading below it is
    /// the clock stepping back.
    last_tick_now: i64,
    /// Replica fetches in flight, by leader, with when they were sent.
    fetching: BTreeMap<i32, i64>,
    connections: BTreeMap<u64, Connection>,
    /// High watermarks as last written to the log.
    checkpointed: BTreeMap<(Uuid, i32), i64>,
    producer_ids_written: i64,
    outputs: Vec<Output>,
}

impl<D: Disk> ClusterNode<D> {
    /// Opens a node on its disk: a new one, or one that restarts and
    /// recovers (the write-ahead log checked and its torn tail cut, the
    /// metadata image rebuilt from the committed quorum log, the partition
    /// logs, their producer state and high watermarks replayed).
    pub fn open(config: NodeConfig, disk: D, clock: impl Clock + 'static) -> Result<Self, NodeError> {
        let node = config.id();
        let wal_error = |error| NodeError::Wal { node, error };
        let quorum_error = |error| NodeError::Quorum { node, error };
        let (wal, recovered) = WriteAheadLog::open(disk, config.segment_bytes).map_err(wal_error)?;
        if let Some(torn) = &recovered.torn_tail {
            tracing::warn!(node, file = %torn.file, offset = torn.offset, bytes = torn.bytes_cut, "cut a torn write");
        }
        let mut records = Vec::with_capacity(recovered.records.len());
        for (index, bytes) in recovered.records.iter().enumerate() {
            let record: WalRecord = decode(bytes).map_err(|error| NodeError::Record {
                node,
                index,
                reason: error.to_string(),
            })?;
            records.push(record);
        }
        let mut entries = Vec::new();
        let mut hard_state = None;
        for record in &records {
            match record {
                WalRecord::RaftEntry(entry) => entries.push(entry.clone()),
                WalRecord::RaftState { term, vote, commit } => hard_state = Some((*term, *vote, *commit)),
                _ => {}
            }
        }
        let voters: Vec<i32> = config.nodes.keys().copied().collect();
        let applied = hard_state.map_or(0, |(_, _, commit)| commit);
        let quorum = MetadataQuorum::new(node, &voters, &entries, hard_state, applied).map_err(quorum_error)?;
        let view = ClusterView::replicated(config.nodes.clone());
        let mut broker = Broker::replica(config.broker.clone(), view, clock);
        for committed in quorum.committed_on_disk() {
            apply_committed(&mut broker, &committed);
        }
        let mut checkpointed = BTreeMap::new();
        let mut producer_ids_written = 0;
        for (index, record) in records.into_iter().enumerate() {
            match record {
                WalRecord::Append {
                    topic_id,
                    partition,
                    batch,
                } => {
                    // A deleted topic's writes are gone with it.
                    let Some(name) = topic_name(&broker, topic_id) else {
                        continue;
                    };
                    // What was written replays exactly, or recovery stops:
                    // a log silently cut short could be elected.
                    let refused = |reason: String| NodeError::Record { node, index, reason };
                    let limits = broker.config().batch_limits;
                    let replica = broker.topics_mut().partition_mut(&name, partition).ok_or_else(|| {
                        refused(format!(
                            "a batch for {name}/{partition}, which the metadata does not have"
                        ))
                    })?;
                    let decoded = decode_record_batches(batch.clone(), limits)
                        .map_err(|error| refused(format!("a batch for {name}/{partition} does not decode: {error}")))?;
                    let [decoded] = &decoded[..] else {
                        return Err(refused(format!(
                            "{} batches in one record for {name}/{partition}",
                            decoded.len()
                        )));
                    };
                    replica
                        .log
                        .append_replicated(decoded, batch)
                        .map_err(|error| refused(format!("{name}/{partition}: {error}")))?;
                }
                WalRecord::Truncate {
                    topic_id,
                    partition,
                    offset,
                } => {
                    if let Some(log) = recovered_log(&mut broker, topic_id, partition, "a truncation", (node, index))? {
                        log.truncate(offset);
                    }
                }
                WalRecord::LogStart {
                    topic_id,
                    partition,
                    offset,
                } => {
                    if let Some(log) = recovered_log(&mut broker, topic_id, partition, "a log start", (node, index))? {
                        log.advance_log_start(offset);
                    }
                }
                WalRecord::HighWatermark {
                    topic_id,
                    partition,
                    offset,
                } => {
                    checkpointed.insert((Uuid::from_u128(topic_id), partition), offset);
                }
                WalRecord::ProducerIds(issued) => producer_ids_written = issued,
                WalRecord::RaftEntry(_) | WalRecord::RaftState { .. } => {}
            }
        }
        for ((id, partition), offset) in &checkpointed {
            let Some(name) = topic_name(&broker, id.as_u128()) else {
                continue;
            };
            if let Some(replica) = broker.topics_mut().partition_mut(&name, *partition) {
                replica.log.set_high_watermark(*offset);
            }
        }
        for topic in broker.topics_mut().iter_mut() {
            for partition in &mut topic.partitions {
                partition.log.take_changes();
            }
        }
        broker.resume_producer_ids(producer_ids_written);
        // A restart is a new incarnation: it must be registered before it
        // leads again (`RegisterBroker`); a first start has nothing to fence.
        if !recovered.records.is_empty() {
            broker.begin_registration(wal.next_index());
        }
        let now = broker.now_ms();
        Ok(Self {
            producer_ids_written: broker.issued_producer_ids(),
            config,
            broker,
            quorum,
            wal,
            unflushed: false,
            flush_before_output: false,
            flushed_at: now,
            raft_ticked_at: now,
            heartbeat_at: now,
            heard: BTreeMap::new(),
            fence_proposed: BTreeMap::new(),
            was_controller: false,
            registered_at: i64::MIN / 2,
            last_tick_now: now,
            fetching: BTreeMap::new(),
            connections: BTreeMap::new(),
            checkpointed,
            outputs: Vec::new(),
        })
    }

    pub fn id(&self) -> i32 {
        self.config.id()
    }

    /// This node in its state on its own clock, sharing nothing with it:
    /// its broker, its quorum voter in the same role (see
    /// `MetadataQuorum::fork`), its log on a copy of its disk. Client
    /// connections and replica fetches in flight are not copied: they
    /// belong to a network the copy does not run on. A simulation starts
    /// every run from one bootstrapped cluster this way.
    pub fn fork(&self, clock: impl Clock + 'static) -> Result<Self, NodeError>
    where
        D: Clone,
    {
        let node = self.id();
        Ok(Self {
            config: self.config.clone(),
            broker: self.broker.fork(clock),
            quorum: self.quorum.fork().map_err(|error| NodeError::Quorum { node, error })?,
            wal: self.wal.clone(),
            unflushed: self.unflushed,
            flush_before_output: self.flush_before_output,
            flushed_at: self.flushed_at,
            raft_ticked_at: self.raft_ticked_at,
            heartbeat_at: self.heartbeat_at,
            heard: self.heard.clone(),
            fence_proposed: self.fence_proposed.clone(),
            was_controller: self.was_controller,
            registered_at: self.registered_at,
            last_tick_now: self.last_tick_now,
            fetching: BTreeMap::new(),
            connections: BTreeMap::new(),
            checkpointed: self.checkpointed.clone(),
            producer_ids_written: self.producer_ids_written,
            outputs: Vec::new(),
        })
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The quorum's leader as this node knows it (-1 for none), and its term.
    pub fn controller(&self) -> (i32, u64) {
        (self.quorum.leader(), self.quorum.term())
    }

    pub fn disk(&self) -> &D {
        self.wal.disk()
    }

    /// The disk, as a crash leaves it (what was not flushed is the disk's
    /// to lose).
    pub fn into_disk(self) -> D {
        self.wal.into_disk()
    }

    /// A request frame (without its size prefix) from a client connection.
    pub fn client_frame(&mut self, connection: u64, frame: Bytes) -> Result<Vec<Output>, NodeError> {
        let state = self.connections.entry(connection).or_default();
        if state.parked.is_some() || !state.queued.is_empty() {
            state.queued.push_back(frame);
        } else {
            self.dispatch(connection, frame);
        }
        self.settle()
    }

    /// The client went away: its waiting request is dropped.
    pub fn client_closed(&mut self, connection: u64) {
        self.connections.remove(&connection);
    }

    /// A message from another node. One that cannot be read is dropped
    /// (and logged): a peer's bug must not stop this node.
    pub fn peer_message(&mut self, from: i32, bytes: &[u8]) -> Result<Vec<Output>, NodeError> {
        let node = self.id();
        match PeerMessage::decode(from, bytes) {
            Err(error) => tracing::warn!(node, %error, "dropped a peer message"),
            Ok(PeerMessage::Raft(message)) => {
                if let Err(error) = self.quorum.step(from, &message) {
                    tracing::warn!(node, %error, "dropped a raft message");
                }
            }
            Ok(PeerMessage::Heartbeat) => {
                self.heard.insert(from, self.broker.now_ms());
            }
            Ok(PeerMessage::Fetch(request)) => {
                if request.replica == from {
                    let answer = self.broker.replica_fetch(&request);
                    self.send(from, &PeerMessage::Fetched(answer));
                }
            }
            Ok(PeerMessage::Fetched(answer)) => {
                let carried = answer
                    .partitions
                    .iter()
                    .any(|p| !p.records.is_empty() || p.diverging.is_some());
                self.fetching.remove(&from);
                self.broker.apply_replica_fetched(from, answer);
                if carried {
                    self.fetch_from(from);
                }
            }
        }
        self.settle()
    }

    /// Time passed on the node's clock: Raft ticks, heartbeats, the
    /// controller's and leaders' duties, replica fetches, deadlines.
    pub fn tick(&mut self) -> Result<Vec<Output>, NodeError> {
        let now = self.broker.now_ms();
        self.rebase_timers(now);
        let tick_ms = self.config.tick_ms.max(1);
        // A clock that jumped far ahead gives a bounded number of ticks.
        self.raft_ticked_at = self.raft_ticked_at.max(now - 100 * tick_ms);
        while now - self.raft_ticked_at >= tick_ms {
            self.quorum.tick();
            self.raft_ticked_at += tick_ms;
        }
        if now - self.heartbeat_at >= self.config.heartbeat_ms {
            self.heartbeat_at = now;
            for peer in self.peers() {
                self.send(peer, &PeerMessage::Heartbeat);
            }
        }
        self.control(now);
        if let Some(incarnation) = self.broker.view().registering
            && now - self.registered_at >= RETRY_MS
        {
            self.registered_at = now;
            let id = self.id();
            self.broker.propose(MetadataRecord::RegisterBroker { id, incarnation });
        }
        for leader in self.broker.followed_leaders() {
            let stalled = self
                .fetching
                .get(&leader)
                .is_none_or(|&sent| now - sent >= self.config.fetch_timeout_ms);
            if stalled {
                self.fetch_from(leader);
            }
        }
        self.broker.check_in_sync_replicas();
        self.checkpoint_high_watermarks();
        if let FlushPolicy::IntervalMs(interval) = self.config.flush
            && now - self.flushed_at >= interval
        {
            self.unflushed = true;
            self.flush_before_output = true;
        }
        self.settle()
    }

    /// The wall clock stepped back (an NTP step, an operator): every timer
    /// moves back with it, so none waits out the step. Without this a node
    /// whose clock went ahead and came back sat without Raft ticks,
    /// heartbeats or fetches for as long as it had been ahead, and its
    /// partitions without a leader (found by `kafka-fuzz storm`'s clock
    /// faults).
    fn rebase_timers(&mut self, now: i64) {
        let back = self.last_tick_now - now;
        self.last_tick_now = now;
        if back <= 0 {
            return;
        }
        for at in [
            &mut self.raft_ticked_at,
            &mut self.heartbeat_at,
            &mut self.registered_at,
            &mut self.flushed_at,
        ] {
            *at = at.saturating_sub(back);
        }
        for at in self
            .heard
            .values_mut()
            .chain(self.fence_proposed.values_mut())
            .chain(self.fetching.values_mut())
        {
            *at = at.saturating_sub(back);
        }
    }

    fn peers(&self) -> Vec<i32> {
        let node = self.id();
        self.config.nodes.keys().copied().filter(|&id| id != node).collect()
    }

    fn send(&mut self, to: i32, message: &PeerMessage) {
        self.outputs.push(Output::Send {
            to,
            bytes: message.encode(),
        });
    }

    fn fetch_from(&mut self, leader: i32) {
        if let Some(request) = self.broker.replica_fetch_request(leader, self.config.fetch_max_bytes) {
            self.fetching.insert(leader, self.broker.now_ms());
            self.send(leader, &PeerMessage::Fetch(request));
        }
    }

    /// The active controller's duty (KRaft's broker heartbeats): fence a
    /// broker not heard from within the session timeout, unfence it when it
    /// is heard again.
    fn control(&mut self, now: i64) {
        let node = self.id();
        let controller = self.quorum.is_leader();
        if controller && !self.was_controller {
            for id in self.config.nodes.keys() {
                self.heard.insert(*id, now);
            }
        }
        self.was_controller = controller;
        if !controller {
            return;
        }
        self.heard.insert(node, now);
        let ids: Vec<i32> = self.config.nodes.keys().copied().collect();
        for id in ids {
            let alive = self
                .heard
                .get(&id)
                .is_some_and(|&at| now - at <= self.config.session_timeout_ms);
            let fenced = self.broker.view().fenced.contains(&id);
            let recently = self.fence_proposed.get(&id).is_some_and(|&at| now - at < RETRY_MS);
            if alive == fenced && !recently {
                self.fence_proposed.insert(id, now);
                let record = if alive {
                    MetadataRecord::UnfenceBroker { id }
                } else {
                    MetadataRecord::FenceBroker { id }
                };
                self.broker.propose(record);
            }
        }
    }

    fn dispatch(&mut self, connection: u64, frame: Bytes) {
        match self.broker.receive(frame) {
            Ok(reply) => self.deliver(connection, reply),
            Err(error) => self.close(connection, &error),
        }
    }

    /// Closes a connection whose request Kafka would not answer.
    fn close(&mut self, connection: u64, error: &DispatchError) {
        self.connections.remove(&connection);
        self.outputs.push(Output::Close {
            connection,
            reason: error.to_string(),
        });
    }

    fn deliver(&mut self, connection: u64, reply: Reply) {
        match reply {
            Reply::Response(frame) => self.outputs.push(Output::Response { connection, frame }),
            Reply::NoResponse => {}
            Reply::Parked(parked) => {
                if let Some(state) = self.connections.get_mut(&connection) {
                    state.parked = Some(parked);
                }
            }
        }
    }

    /// After any input: proposals to the quorum, the quorum's output
    /// persisted, sent and applied, log changes journaled, waiting requests
    /// answered where they can be, and the log flushed before any output
    /// leaves.
    fn settle(&mut self) -> Result<Vec<Output>, NodeError> {
        let node = self.id();
        loop {
            for record in self.broker.take_proposals() {
                self.quorum.propose(encode(&record));
            }
            while let Some(ready) = self.quorum.ready().map_err(|error| NodeError::Quorum { node, error })? {
                for entry in ready.entries {
                    self.write(&WalRecord::RaftEntry(entry))?;
                    self.flush_before_output = true;
                }
                if let Some((term, vote, commit)) = ready.hard_state {
                    self.write(&WalRecord::RaftState { term, vote, commit })?;
                    self.flush_before_output = true;
                }
                // Raft's state must be durable before its messages leave.
                self.flush_if(self.flush_before_output)?;
                for (to, message) in ready.messages {
                    self.send(to, &PeerMessage::Raft(message));
                }
                for committed in ready.committed {
                    apply_committed(&mut self.broker, &committed);
                }
                for record in self.broker.take_proposals() {
                    self.quorum.propose(encode(&record));
                }
            }
            self.broker.set_controller(self.quorum.leader());
            self.journal()?;
            if !self.answer_waiting() {
                break;
            }
        }
        let always = self.config.flush == FlushPolicy::Always && !planted!(AckBeforeFlush);
        self.flush_if(always || self.flush_before_output)?;
        Ok(std::mem::take(&mut self.outputs))
    }

    /// Resumes every waiting request, then the frames queued behind those
    /// answered; whether anything was dispatched anew.
    fn answer_waiting(&mut self) -> bool {
        let mut dispatched = false;
        let waiting: Vec<u64> = self.connections.keys().copied().collect();
        for connection in waiting {
            while let Some(state) = self.connections.get_mut(&connection) {
                if let Some(parked) = state.parked.take() {
                    match self.broker.resume(parked) {
                        Ok(Reply::Parked(parked)) => {
                            if let Some(state) = self.connections.get_mut(&connection) {
                                state.parked = Some(parked);
                            }
                            break;
                        }
                        Ok(reply) => self.deliver(connection, reply),
                        Err(error) => {
                            self.close(connection, &error);
                            break;
                        }
                    }
                    continue;
                }
                let Some(frame) = state.queued.pop_front() else {
                    break;
                };
                dispatched = true;
                self.dispatch(connection, frame);
            }
        }
        dispatched
    }

    fn journal(&mut self) -> Result<(), NodeError> {
        let mut records = Vec::new();
        for topic in self.broker.topics_mut().iter_mut() {
            for (index, partition) in (0..).zip(topic.partitions.iter_mut()) {
                for change in partition.log.take_changes() {
                    let topic_id = topic.id.as_u128();
                    records.push(match change {
                        LogChange::Append(batch) => WalRecord::Append {
                            topic_id,
                            partition: index,
                            batch,
                        },
                        LogChange::Truncate(offset) => WalRecord::Truncate {
                            topic_id,
                            partition: index,
                            offset,
                        },
                        LogChange::StartAt(offset) => WalRecord::LogStart {
                            topic_id,
                            partition: index,
                            offset,
                        },
                    });
                }
            }
        }
        let issued = self.broker.issued_producer_ids();
        if issued != self.producer_ids_written {
            self.producer_ids_written = issued;
            records.push(WalRecord::ProducerIds(issued));
            // An id handed out and lost in a crash would be handed out again.
            self.flush_before_output = true;
        }
        for record in &records {
            self.write(record)?;
        }
        Ok(())
    }

    /// Kafka's replication-offset checkpoint: high watermarks that moved.
    fn checkpoint_high_watermarks(&mut self) {
        let mut moved = Vec::new();
        for topic in self.broker.topics().iter() {
            for (index, partition) in (0..).zip(&topic.partitions) {
                let offset = partition.log.high_watermark();
                let key = (topic.id, index);
                if self.checkpointed.get(&key) != Some(&offset) {
                    moved.push((key, offset));
                }
            }
        }
        for ((id, partition), offset) in moved {
            let record = WalRecord::HighWatermark {
                topic_id: id.as_u128(),
                partition,
                offset,
            };
            // A checkpoint that cannot be written is retried at the next tick.
            if self.write(&record).is_ok() {
                self.checkpointed.insert((id, partition), offset);
            }
        }
        // A deleted topic's checkpoints go with it.
        let topics = self.broker.topics();
        self.checkpointed.retain(|(id, _), _| topics.by_id(*id).is_some());
    }

    fn write(&mut self, record: &WalRecord) -> Result<(), NodeError> {
        let node = self.id();
        self.wal
            .append(&encode(record))
            .map_err(|error| NodeError::Wal { node, error })?;
        self.unflushed = true;
        Ok(())
    }

    fn flush_if(&mut self, needed: bool) -> Result<(), NodeError> {
        if needed && self.unflushed {
            let node = self.id();
            self.wal.flush().map_err(|error| NodeError::Wal { node, error })?;
            self.unflushed = false;
            self.flush_before_output = false;
            self.flushed_at = self.broker.now_ms();
        }
        Ok(())
    }
}

/// The log a recovered record of `what` changes: `None` for a deleted
/// topic's, an error (naming the node and record) for a partition the
/// metadata does not have.
fn recovered_log<'a>(
    broker: &'a mut Broker,
    topic_id: u128,
    partition: i32,
    what: &str,
    (node, index): (i32, usize),
) -> Result<Option<&'a mut PartitionLog>, NodeError> {
    let Some(name) = topic_name(broker, topic_id) else {
        return Ok(None);
    };
    match broker.topics_mut().partition_mut(&name, partition) {
        Some(replica) => Ok(Some(&mut replica.log)),
        None => Err(NodeError::Record {
            node,
            index,
            reason: format!("{what} of {name}/{partition}, which the metadata does not have"),
        }),
    }
}

/// The name of the topic with this id, if the metadata has it.
fn topic_name(broker: &Broker, id: u128) -> Option<StrBytes> {
    broker
        .topics()
        .by_id(Uuid::from_u128(id))
        .map(|topic| topic.name.clone())
}

/// Applies one committed quorum entry; one that does not read as a record
/// (none of ours) is skipped and logged.
fn apply_committed(broker: &mut Broker, bytes: &[u8]) {
    match decode::<MetadataRecord>(bytes) {
        Ok(record) => {
            tracing::debug!(node = broker.config().node_id, now = broker.now_ms(), ?record, "apply");
            broker.apply(record);
        }
        Err(error) => tracing::warn!(node = broker.config().node_id, %error, "skipped a committed entry"),
    }
}
