//! A Kafka client of a cluster, behaving as real clients do: it
//! asks any node for metadata, sends to the partition's leader with the
//! leader epoch it knows, and on NOT_LEADER_OR_FOLLOWER, a fenced epoch, a
//! lost connection or a timeout refreshes its metadata and retries. An
//! idempotent producer retries the same batch with the same sequence across
//! failovers until it is acknowledged, and starts over with a new producer
//! id when it gives a batch up; a plain one retries only what an error says
//! was not written. What it was told comes out as `ClientEvent`s: the
//! model's input and the timeline's lines. It does no I/O itself: a
//! `ClientTransport` carries its frames, the simulated network in the
//! `cluster` target, TCP connections in `storm`.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, ElectLeadersRequest, FetchRequest,
    InitProducerIdRequest, MetadataRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, TimestampType};

use super::client::{Client, ClientError};
use super::input::encode_record_batch;
use super::session::{error_name, whole_batches};
use super::target::{ClusterUnderTest, NodeId};
use crate::server::sim::{SIM_START_MS, SimCluster};
use crate::server::wire::{BatchLimits, Codec, decode_record_batches};

const METADATA_VERSION: i16 = 9;
const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;
const CREATE_TOPICS_VERSION: i16 = 5;
const DELETE_TOPICS_VERSION: i16 = 4;
const CREATE_PARTITIONS_VERSION: i16 = 3;
const ELECT_LEADERS_VERSION: i16 = 2;
/// ElectLeaders' `election_type` of a preferred-leader election.
const PREFERRED_ELECTION: i8 = 0;
const INIT_PRODUCER_ID_VERSION: i16 = 4;
/// A client's `request.timeout.ms`.
pub const REQUEST_TIMEOUT_MS: i64 = 8_000;
/// How long a client keeps retrying a task before it gives it up (its
/// `delivery.timeout.ms`): longer than an election and a broker's
/// re-registration, shorter than the liveness bound.
const DELIVERY_TIMEOUT_MS: i64 = 20_000;
/// A client's `retry.backoff.ms`.
const RETRY_BACKOFF_MS: i64 = 100;
/// How much one fetch may carry.
pub const FETCH_MAX_BYTES: i32 = 64 * 1024;

/// What carries a `ClusterClient`'s frames: connections to nodes by id,
/// and the time.
pub trait ClientTransport {
    /// Milliseconds since the epoch (the simulation's, or the wall clock's).
    fn now_ms(&self) -> i64;
    /// The nodes a client may ask first (before any metadata answer).
    fn node_ids(&self) -> Vec<NodeId>;
    /// Opens a connection to `node`.
    fn connect(&mut self, node: NodeId) -> u64;
    fn connection_node(&self, connection: u64) -> Option<NodeId>;
    /// A request frame, size prefix included.
    fn client_send(&mut self, connection: u64, frame: Bytes);
    /// The answers a connection received (a transport over real sockets
    /// may wait a little for one).
    fn client_receive(&mut self, connection: u64) -> Vec<Bytes>;
    fn is_closed(&self, connection: u64) -> bool;
    /// The client drops a connection (and whatever it waited for).
    fn disconnect(&mut self, connection: u64);
    /// The brokers a metadata answer listed. A transport that connects by
    /// address learns them here.
    fn brokers_seen(&mut self, brokers: &[MetadataResponseBroker]);
}

impl<C: ClusterUnderTest> ClientTransport for SimCluster<C> {
    fn now_ms(&self) -> i64 {
        SimCluster::now_ms(self)
    }
    fn node_ids(&self) -> Vec<NodeId> {
        SimCluster::node_ids(self)
    }
    fn connect(&mut self, node: NodeId) -> u64 {
        SimCluster::connect(self, node)
    }
    fn connection_node(&self, connection: u64) -> Option<NodeId> {
        SimCluster::connection_node(self, connection)
    }
    fn client_send(&mut self, connection: u64, frame: Bytes) {
        SimCluster::client_send(self, connection, frame);
    }
    fn client_receive(&mut self, connection: u64) -> Vec<Bytes> {
        SimCluster::client_receive(self, connection)
    }
    fn is_closed(&self, connection: u64) -> bool {
        SimCluster::is_closed(self, connection)
    }
    fn disconnect(&mut self, connection: u64) {
        SimCluster::disconnect(self, connection);
    }
    /// Simulated connections go to a node by id.
    fn brokers_seen(&mut self, _brokers: &[MetadataResponseBroker]) {}
}

/// What a client is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTask {
    /// One record; acks -1 (all), 1, or 0 (no answer: done once sent).
    Produce {
        topic: StrBytes,
        partition: i32,
        acks: i16,
    },
    /// One fetch from `offset`, at most `max_bytes` (the whole response's
    /// and the partition's limit).
    Fetch {
        topic: StrBytes,
        partition: i32,
        offset: i64,
        max_bytes: i32,
    },
    CreateTopic {
        topic: StrBytes,
        partitions: i32,
        replicas: i16,
    },
    DeleteTopic {
        topic: StrBytes,
    },
    /// Grows a topic to `count` partitions.
    CreatePartitions {
        topic: StrBytes,
        count: i32,
    },
    /// Metadata of every topic, from one node or any.
    Metadata {
        node: Option<NodeId>,
    },
    /// A preferred-leader election of one partition.
    ElectLeader {
        topic: StrBytes,
        partition: i32,
    },
}

impl std::fmt::Display for ClientTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Produce { topic, partition, acks } => write!(f, "produce to {topic}/{partition} acks={acks}"),
            Self::Fetch {
                topic,
                partition,
                offset,
                max_bytes,
            } => write!(f, "fetch {topic}/{partition} from {offset} (max {max_bytes} bytes)"),
            Self::CreateTopic {
                topic,
                partitions,
                replicas,
            } => write!(f, "create {topic} ({partitions} partitions, {replicas} replicas)"),
            Self::ElectLeader { topic, partition } => write!(f, "elect the preferred leader of {topic}/{partition}"),
            Self::DeleteTopic { topic } => write!(f, "delete {topic}"),
            Self::CreatePartitions { topic, count } => write!(f, "grow {topic} to {count} partitions"),
            Self::Metadata { node: None } => f.write_str("refresh metadata"),
            Self::Metadata { node: Some(node) } => write!(f, "ask n{node} for metadata"),
        }
    }
}

/// A record a producer was told is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    pub topic: StrBytes,
    pub partition: i32,
    pub offset: i64,
    pub value: Bytes,
    pub acks: i16,
    /// Written by an idempotent producer: never twice, whatever retried.
    pub idempotent: bool,
    pub at_ms: i64,
}

/// A fetched partition: every record with its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub node: NodeId,
    pub topic: StrBytes,
    pub partition: i32,
    pub fetch_offset: i64,
    /// The leader epoch the client fetched with (-1: none known).
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub records: Vec<(i64, Option<Bytes>)>,
}

/// A partition's leader as one node's metadata answer gave it (-1: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderSeen {
    pub node: NodeId,
    pub topic: StrBytes,
    pub partition: i32,
    pub leader: NodeId,
    pub leader_epoch: i32,
}

/// What a client was told, or gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    Acknowledged(Acknowledged),
    Fetched(Fetched),
    /// A metadata answer from `node`.
    Leaders {
        node: NodeId,
        leaders: Vec<LeaderSeen>,
    },
    /// An error answer the client retries after.
    Retry {
        task: String,
        reason: String,
    },
    /// The task ended without success (or with an error that ends it).
    Ended {
        task: String,
        outcome: String,
    },
    /// A request went unanswered for the request timeout.
    TimedOut {
        request: String,
        node: NodeId,
        sent_ms: i64,
    },
    /// An answer no Kafka client can read.
    BadResponse(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Metadata,
    InitProducerId,
    Task,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    connection: u64,
    correlation_id: i32,
    request: Request,
    sent_ms: i64,
    /// The leader epoch a produce or fetch was sent with.
    leader_epoch: i32,
}

#[derive(Debug, Clone)]
struct Pending {
    task: ClientTask,
    attempts: u32,
    /// When its first request went out.
    started_ms: Option<i64>,
    /// A produce's record, fixed at its first attempt.
    value: Option<Bytes>,
    /// An idempotent produce's producer and sequence: a retry keeps them.
    sequence: Option<((i64, i16), i32)>,
}

pub struct ClusterClient {
    name: String,
    client: Client,
    idempotent: bool,
    producer: Option<(i64, i16)>,
    sequences: BTreeMap<(StrBytes, i32), i32>,
    connections: BTreeMap<NodeId, u64>,
    /// Leader and leader epoch per partition, from the last metadata answer.
    leaders: BTreeMap<(StrBytes, i32), (NodeId, i32)>,
    /// Partition counts of the topics the last metadata answer knew.
    partition_counts: BTreeMap<StrBytes, i32>,
    metadata_stale: bool,
    in_flight: Option<InFlight>,
    /// After a failed attempt, the client waits `retry.backoff.ms`.
    retry_at_ms: i64,
    /// The cluster's time at the last poll.
    now_ms: i64,
    tasks: VecDeque<Pending>,
    /// Reads what it waits for, then sends nothing more (`drain`).
    draining: bool,
    /// Requests sent, to vary which node a metadata request goes to.
    requests: u64,
    produced: u64,
}

/// Tasks a client holds at most; more are refused as a full buffer is.
const MAX_QUEUED: usize = 8;

impl ClusterClient {
    pub fn new(name: &str, idempotent: bool) -> Self {
        Self {
            name: name.to_owned(),
            client: Client::new(name),
            idempotent,
            producer: None,
            sequences: BTreeMap::new(),
            connections: BTreeMap::new(),
            leaders: BTreeMap::new(),
            partition_counts: BTreeMap::new(),
            metadata_stale: true,
            in_flight: None,
            retry_at_ms: 0,
            now_ms: 0,
            tasks: VecDeque::new(),
            draining: false,
            requests: 0,
            produced: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }

    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && (self.tasks.is_empty() || self.draining)
    }

    /// Whether a request waits for its answer (else the client waits for
    /// its retry backoff, or for work).
    pub fn has_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// What it works on or waits for, for a liveness finding.
    pub fn waiting_for(&self) -> Option<String> {
        let pending = self.tasks.front()?;
        let (task, attempts) = (&pending.task, pending.attempts);
        Some(match &self.in_flight {
            Some(in_flight) => format!(
                "{task} (attempt {attempts}, its {:?} request on c{} sent at {} ms)",
                in_flight.request,
                in_flight.connection,
                in_flight.sent_ms - SIM_START_MS
            ),
            None => format!("{task} (attempt {attempts})"),
        })
    }

    /// Stops taking work: the request in flight, if any, is still read,
    /// and nothing more is sent.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    /// Queues a task; false if the client already holds as many as it may.
    pub fn submit(&mut self, task: ClientTask) -> bool {
        if self.tasks.len() >= MAX_QUEUED {
            return false;
        }
        self.tasks.push_back(Pending {
            task,
            attempts: 0,
            started_ms: None,
            value: None,
            sequence: None,
        });
        true
    }

    /// Drops every connection (and the answer it waited for).
    pub fn disconnect(&mut self, net: &mut impl ClientTransport) {
        for (_, connection) in std::mem::take(&mut self.connections) {
            net.disconnect(connection);
        }
    }

    /// Reads the answer it waits for, if it came; then, when nothing is in
    /// flight, sends the next request its first task needs.
    pub fn poll(&mut self, net: &mut impl ClientTransport, events: &mut Vec<ClientEvent>) {
        self.now_ms = net.now_ms();
        self.receive(net, events);
        if self.in_flight.is_none() && net.now_ms() >= self.retry_at_ms {
            self.send_next(net, events);
        }
    }

    fn receive(&mut self, net: &mut impl ClientTransport, events: &mut Vec<ClientEvent>) {
        let Some(in_flight) = self.in_flight else {
            return;
        };
        let now = net.now_ms();
        let frames = net.client_receive(in_flight.connection);
        let Some(frame) = frames.first() else {
            let timed_out = now - in_flight.sent_ms > REQUEST_TIMEOUT_MS;
            if net.is_closed(in_flight.connection) || timed_out {
                self.in_flight = None;
                if timed_out {
                    net.disconnect(in_flight.connection);
                }
                self.connections.retain(|_, &mut c| c != in_flight.connection);
                if timed_out {
                    events.push(ClientEvent::TimedOut {
                        request: format!(
                            "{}'s {:?} request on c{}",
                            self.name, in_flight.request, in_flight.connection
                        ),
                        node: net.connection_node(in_flight.connection).unwrap_or(-1),
                        sent_ms: in_flight.sent_ms,
                    });
                }
                let reason = if timed_out {
                    "request timed out"
                } else {
                    "connection lost"
                };
                self.failed(in_flight.request, reason, true, events);
            }
            return;
        };
        self.in_flight = None;
        let node = net.connection_node(in_flight.connection).unwrap_or(-1);
        let answered = match in_flight.request {
            Request::Metadata => self.metadata_answer(net, node, in_flight.correlation_id, frame, events),
            Request::InitProducerId => self.producer_id_answer(in_flight.correlation_id, frame, events),
            Request::Task => self.task_answer(node, &in_flight, frame, now, events),
        };
        if let Err(error) = answered {
            events.push(ClientEvent::BadResponse(format!("{} from n{node}: {error}", self.name)));
            self.finish(events, "unreadable answer".to_owned());
        }
    }

    /// A metadata change (CreateTopics, ElectLeaders) answered `code`: on
    /// success the client's metadata is stale; a controller that moved or
    /// did not commit in time is asked again, as Kafka's admin client does.
    fn metadata_changed(&mut self, code: i16, done: &str, events: &mut Vec<ClientEvent>) {
        match ResponseError::try_from_code(code) {
            Some(ResponseError::NotController | ResponseError::RequestTimedOut) => {
                self.failed(Request::Task, &error_name(code), false, events);
            }
            _ if code == 0 => {
                self.metadata_stale = true;
                self.finish(events, done.to_owned());
            }
            _ => self.finish(events, error_name(code)),
        }
    }

    /// The first task is over: it goes, with what came of it.
    fn finish(&mut self, events: &mut Vec<ClientEvent>, outcome: String) {
        if let Some(done) = self.tasks.pop_front() {
            events.push(ClientEvent::Ended {
                task: format!("{} {}", self.name, done.task),
                outcome,
            });
        }
    }

    /// A request failed; the task retries (after a metadata refresh) unless
    /// it ran out of attempts or retrying could write a record twice.
    fn failed(&mut self, request: Request, reason: &str, ambiguous: bool, events: &mut Vec<ClientEvent>) {
        self.metadata_stale = true;
        self.retry_at_ms = self.now_ms + RETRY_BACKOFF_MS;
        let Some(task) = self.tasks.front() else {
            return;
        };
        let produce = matches!(task.task, ClientTask::Produce { .. });
        let may_duplicate = produce && request == Request::Task && ambiguous && !self.idempotent;
        let expired = task
            .started_ms
            .is_some_and(|started| self.now_ms - started >= DELIVERY_TIMEOUT_MS);
        if may_duplicate || expired {
            let outcome = if may_duplicate {
                format!("{reason}: not retried, it may be written")
            } else {
                format!("{reason}: gave up after {} attempts", task.attempts)
            };
            if produce && self.idempotent {
                // Its sequence may or may not be written: a new producer id
                // keeps the next batch from being taken for it.
                self.producer = None;
                self.sequences.clear();
            }
            self.finish(events, outcome);
        } else {
            let reason = match request {
                Request::Task => reason.to_owned(),
                Request::Metadata => format!("its metadata request: {reason}"),
                Request::InitProducerId => format!("its InitProducerId request: {reason}"),
            };
            events.push(ClientEvent::Retry {
                task: format!("{} {}", self.name, task.task),
                reason,
            });
        }
    }

    fn metadata_answer(
        &mut self,
        net: &mut impl ClientTransport,
        node: NodeId,
        correlation_id: i32,
        frame: &Bytes,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), ClientError> {
        let answer = Client::response::<MetadataRequest>(METADATA_VERSION, correlation_id, frame)?;
        net.brokers_seen(&answer.brokers);
        let mut seen = Vec::new();
        for topic in &answer.topics {
            let Some(name) = topic.name.as_ref().map(|n| n.0.clone()) else {
                continue;
            };
            if topic.error_code != 0 {
                continue;
            }
            self.partition_counts
                .insert(name.clone(), i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX));
            self.leaders.retain(|(t, _), _| *t != name);
            for partition in &topic.partitions {
                let leader = if partition.error_code == 0 {
                    partition.leader_id.0
                } else {
                    -1
                };
                if leader >= 0 {
                    self.leaders.insert(
                        (name.clone(), partition.partition_index),
                        (leader, partition.leader_epoch),
                    );
                }
                seen.push(LeaderSeen {
                    node,
                    topic: name.clone(),
                    partition: partition.partition_index,
                    leader,
                    leader_epoch: partition.leader_epoch,
                });
            }
        }
        self.metadata_stale = false;
        events.push(ClientEvent::Leaders { node, leaders: seen });
        let wanted = match self.tasks.front().map(|t| &t.task) {
            Some(ClientTask::Metadata { .. }) => {
                self.finish(events, "done".to_owned());
                return Ok(());
            }
            Some(ClientTask::Produce { topic, partition, .. }) => Some((topic.clone(), *partition, false)),
            Some(ClientTask::Fetch { topic, partition, .. }) => Some((topic.clone(), *partition, true)),
            _ => None,
        };
        if let Some((topic, partition, _)) = &wanted
            && self.partition_counts.get(topic).is_some_and(|count| partition >= count)
        {
            self.finish(events, format!("{topic} has no partition {partition}"));
        } else if let Some((topic, partition, reads)) = wanted
            && !self.leaders.contains_key(&(topic.clone(), partition))
        {
            let unknown = answer.topics.iter().any(|t| {
                t.name.as_ref().is_some_and(|n| n.0 == topic)
                    && t.error_code == ResponseError::UnknownTopicOrPartition.code()
            });
            if reads && unknown {
                self.finish(events, format!("{topic} does not exist"));
            } else {
                // No leader yet (an election, a topic being created): wait
                // and ask again.
                self.failed(
                    Request::Metadata,
                    &format!("no leader for {topic}/{partition}"),
                    false,
                    events,
                );
            }
        }
        Ok(())
    }

    fn producer_id_answer(
        &mut self,
        correlation_id: i32,
        frame: &Bytes,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), ClientError> {
        let answer = Client::response::<InitProducerIdRequest>(INIT_PRODUCER_ID_VERSION, correlation_id, frame)?;
        if answer.error_code == 0 {
            self.producer = Some((answer.producer_id.0, answer.producer_epoch));
            self.sequences.clear();
        } else {
            self.failed(Request::InitProducerId, &error_name(answer.error_code), false, events);
        }
        Ok(())
    }

    fn task_answer(
        &mut self,
        node: NodeId,
        in_flight: &InFlight,
        frame: &Bytes,
        now: i64,
        events: &mut Vec<ClientEvent>,
    ) -> Result<(), ClientError> {
        let Some(pending) = self.tasks.front().cloned() else {
            return Ok(());
        };
        let correlation_id = in_flight.correlation_id;
        match &pending.task {
            ClientTask::Produce { topic, partition, acks } => {
                let answer = Client::response::<ProduceRequest>(PRODUCE_VERSION, correlation_id, frame)?;
                let result = answer
                    .responses
                    .iter()
                    .filter(|t| t.name.0 == *topic)
                    .flat_map(|t| &t.partition_responses)
                    .find(|p| p.index == *partition)
                    .ok_or_else(|| ClientError::BadResponse(format!("no answer for {topic}/{partition}")))?;
                let error = ResponseError::try_from_code(result.error_code);
                match error {
                    None if result.error_code == 0 => {
                        let value = pending.value.clone().unwrap_or_default();
                        events.push(ClientEvent::Acknowledged(Acknowledged {
                            topic: topic.clone(),
                            partition: *partition,
                            offset: result.base_offset,
                            value,
                            acks: *acks,
                            idempotent: self.idempotent,
                            at_ms: now,
                        }));
                        if self.idempotent {
                            *self.sequences.entry((topic.clone(), *partition)).or_default() += 1;
                        }
                        self.finish(events, format!("offset {}", result.base_offset));
                    }
                    Some(
                        ResponseError::OutOfOrderSequenceNumber
                        | ResponseError::InvalidProducerEpoch
                        | ResponseError::UnknownProducerId
                        | ResponseError::DuplicateSequenceNumber,
                    ) => {
                        // As the Java client: the producer starts over.
                        self.producer = None;
                        self.sequences.clear();
                        self.finish(events, error_name(result.error_code));
                    }
                    Some(
                        ResponseError::NotLeaderOrFollower
                        | ResponseError::UnknownTopicOrPartition
                        | ResponseError::LeaderNotAvailable
                        | ResponseError::NotEnoughReplicas
                        | ResponseError::FencedLeaderEpoch
                        | ResponseError::UnknownLeaderEpoch,
                    ) => self.failed(Request::Task, &error_name(result.error_code), false, events),
                    Some(ResponseError::NotEnoughReplicasAfterAppend | ResponseError::RequestTimedOut) => {
                        self.failed(Request::Task, &error_name(result.error_code), true, events);
                    }
                    _ => self.finish(events, error_name(result.error_code)),
                }
            }
            ClientTask::Fetch {
                topic,
                partition,
                offset,
                ..
            } => {
                let answer = Client::response::<FetchRequest>(FETCH_VERSION, correlation_id, frame)?;
                let result = answer
                    .responses
                    .iter()
                    .filter(|t| t.topic.0 == *topic)
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition_index == *partition)
                    .ok_or_else(|| ClientError::BadResponse(format!("no answer for {topic}/{partition}")))?;
                match ResponseError::try_from_code(result.error_code) {
                    None if result.error_code == 0 => {
                        let records = whole_batches(result.records.clone().unwrap_or_default());
                        let batches = decode_record_batches(records, BatchLimits::default()).map_err(|error| {
                            ClientError::BadResponse(format!("records of {topic}/{partition}: {error}"))
                        })?;
                        let records: Vec<(i64, Option<Bytes>)> = batches
                            .into_iter()
                            .flat_map(|batch| {
                                let base = batch.base_offset;
                                batch
                                    .records
                                    .into_iter()
                                    // Values copied: a slice would keep the whole
                                    // answer (up to a fetch's max_bytes) alive.
                                    .map(move |record| {
                                        let value = record.value.as_deref().map(Bytes::copy_from_slice);
                                        (base + i64::from(record.offset_delta), value)
                                    })
                            })
                            .collect();
                        let outcome = format!("{} records, high watermark {}", records.len(), result.high_watermark);
                        events.push(ClientEvent::Fetched(Fetched {
                            node,
                            topic: topic.clone(),
                            partition: *partition,
                            fetch_offset: *offset,
                            leader_epoch: in_flight.leader_epoch,
                            high_watermark: result.high_watermark,
                            records,
                        }));
                        self.finish(events, outcome);
                    }
                    Some(
                        ResponseError::NotLeaderOrFollower
                        | ResponseError::LeaderNotAvailable
                        | ResponseError::FencedLeaderEpoch
                        | ResponseError::UnknownLeaderEpoch,
                    ) => self.failed(Request::Task, &error_name(result.error_code), false, events),
                    _ => self.finish(events, error_name(result.error_code)),
                }
            }
            ClientTask::CreateTopic { topic, .. } => {
                let answer = Client::response::<CreateTopicsRequest>(CREATE_TOPICS_VERSION, correlation_id, frame)?;
                let code = answer
                    .topics
                    .iter()
                    .find(|t| t.name.0 == *topic)
                    .map(|t| t.error_code)
                    .ok_or_else(|| ClientError::BadResponse(format!("no answer for topic {topic}")))?;
                self.metadata_changed(code, "created", events);
            }
            ClientTask::ElectLeader { topic, partition } => {
                let answer = Client::response::<ElectLeadersRequest>(ELECT_LEADERS_VERSION, correlation_id, frame)?;
                let code = answer
                    .replica_election_results
                    .iter()
                    .filter(|t| t.topic.0 == *topic)
                    .flat_map(|t| &t.partition_result)
                    .find(|p| p.partition_id == *partition)
                    .map_or(answer.error_code, |p| p.error_code);
                self.metadata_changed(code, "elected", events);
            }
            ClientTask::DeleteTopic { topic } => {
                let answer = Client::response::<DeleteTopicsRequest>(DELETE_TOPICS_VERSION, correlation_id, frame)?;
                let code = answer
                    .responses
                    .iter()
                    .find(|t| t.name.as_ref().is_some_and(|name| name.0 == *topic))
                    .map(|t| t.error_code)
                    .ok_or_else(|| ClientError::BadResponse(format!("no answer for topic {topic}")))?;
                self.metadata_changed(code, "deleted", events);
            }
            ClientTask::CreatePartitions { topic, .. } => {
                let answer =
                    Client::response::<CreatePartitionsRequest>(CREATE_PARTITIONS_VERSION, correlation_id, frame)?;
                let code = answer
                    .results
                    .iter()
                    .find(|t| t.name.0 == *topic)
                    .map(|t| t.error_code)
                    .ok_or_else(|| ClientError::BadResponse(format!("no answer for topic {topic}")))?;
                self.metadata_changed(code, "grown", events);
            }
            ClientTask::Metadata { .. } => {}
        }
        Ok(())
    }

    fn send_next(&mut self, net: &mut impl ClientTransport, events: &mut Vec<ClientEvent>) {
        if self.draining {
            return;
        }
        let Some(pending) = self.tasks.front_mut() else {
            return;
        };
        let nodes = net.node_ids();
        let Some(&any_node) = nodes.get((self.requests as usize) % nodes.len().max(1)) else {
            self.finish(events, "no node to ask".to_owned());
            return;
        };
        let task = pending.task.clone();
        pending.started_ms.get_or_insert(self.now_ms);
        let needs_leader = match &task {
            ClientTask::Produce { topic, partition, .. } | ClientTask::Fetch { topic, partition, .. } => {
                Some((topic.clone(), *partition))
            }
            _ => None,
        };
        let leader = needs_leader
            .as_ref()
            .and_then(|key| self.leaders.get(key).copied())
            .filter(|_| !self.metadata_stale);
        let node = match task {
            ClientTask::Metadata { node: Some(node) } => node,
            _ => any_node,
        };
        let (node, request, frame, leader_epoch) =
            if matches!(task, ClientTask::Metadata { .. }) || (needs_leader.is_some() && leader.is_none()) {
                let topics = needs_leader
                    .as_ref()
                    .map(|(topic, _)| vec![MetadataRequestTopic::default().with_name(Some(TopicName(topic.clone())))]);
                let auto_create = matches!(task, ClientTask::Produce { .. });
                let body = MetadataRequest::default()
                    .with_topics(topics)
                    .with_allow_auto_topic_creation(auto_create);
                pending.attempts += 1;
                (node, Request::Metadata, self.client.request(METADATA_VERSION, body), -1)
            } else if matches!(task, ClientTask::Produce { .. }) && self.idempotent && self.producer.is_none() {
                let body = InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id((-1).into())
                    .with_producer_epoch(-1);
                pending.attempts += 1;
                (
                    any_node,
                    Request::InitProducerId,
                    self.client.request(INIT_PRODUCER_ID_VERSION, body),
                    -1,
                )
            } else {
                pending.attempts += 1;
                let (leader, leader_epoch) = leader.unwrap_or((any_node, -1));
                let frame = match &task {
                    ClientTask::Produce { topic, partition, acks } => {
                        if pending.value.is_none() {
                            self.produced += 1;
                            pending.value = Some(Bytes::from(format!("{}-{}", self.name, self.produced)));
                        }
                        let (producer_id, epoch, sequence) = match self.producer.filter(|_| self.idempotent) {
                            Some(producer) => {
                                let sequence = match pending.sequence {
                                    Some((assigned, sequence)) if assigned == producer => sequence,
                                    _ => {
                                        let next = self.sequences.get(&(topic.clone(), *partition)).copied();
                                        let sequence = next.unwrap_or(0);
                                        pending.sequence = Some((producer, sequence));
                                        sequence
                                    }
                                };
                                (producer.0, producer.1, sequence)
                            }
                            None => (-1, -1, -1),
                        };
                        let record = Record {
                            transactional: false,
                            control: false,
                            delete_horizon: false,
                            partition_leader_epoch: -1,
                            producer_id,
                            producer_epoch: epoch,
                            timestamp_type: TimestampType::Creation,
                            offset: 0,
                            sequence,
                            timestamp: net.now_ms(),
                            key: None,
                            value: pending.value.clone(),
                            headers: Default::default(),
                        };
                        let Ok(records) = encode_record_batch(&[record], Codec::None) else {
                            return;
                        };
                        let body = ProduceRequest::default()
                            .with_acks(*acks)
                            .with_timeout_ms(5_000)
                            .with_topic_data(vec![
                                TopicProduceData::default()
                                    .with_name(TopicName(topic.clone()))
                                    .with_partition_data(vec![
                                        PartitionProduceData::default()
                                            .with_index(*partition)
                                            .with_records(Some(records)),
                                    ]),
                            ]);
                        self.client.request(PRODUCE_VERSION, body)
                    }
                    ClientTask::Fetch {
                        topic,
                        partition,
                        offset,
                        max_bytes,
                    } => {
                        let body = FetchRequest::default()
                            .with_max_wait_ms(0)
                            .with_min_bytes(1)
                            .with_max_bytes(*max_bytes)
                            .with_topics(vec![
                                FetchTopic::default()
                                    .with_topic(TopicName(topic.clone()))
                                    .with_partitions(vec![
                                        FetchPartition::default()
                                            .with_partition(*partition)
                                            .with_current_leader_epoch(leader_epoch)
                                            .with_fetch_offset(*offset)
                                            .with_partition_max_bytes(*max_bytes),
                                    ]),
                            ]);
                        self.client.request(FETCH_VERSION, body)
                    }
                    ClientTask::CreateTopic {
                        topic,
                        partitions,
                        replicas,
                    } => {
                        let created = CreatableTopic::default()
                            .with_name(TopicName(topic.clone()))
                            .with_num_partitions(*partitions)
                            .with_replication_factor(*replicas);
                        let body = CreateTopicsRequest::default()
                            .with_topics(vec![created])
                            .with_timeout_ms(5_000);
                        self.client.request(CREATE_TOPICS_VERSION, body)
                    }
                    ClientTask::ElectLeader { topic, partition } => {
                        let body = ElectLeadersRequest::default()
                            .with_election_type(PREFERRED_ELECTION)
                            .with_topic_partitions(Some(vec![
                                TopicPartitions::default()
                                    .with_topic(TopicName(topic.clone()))
                                    .with_partitions(vec![*partition]),
                            ]))
                            .with_timeout_ms(5_000);
                        self.client.request(ELECT_LEADERS_VERSION, body)
                    }
                    ClientTask::DeleteTopic { topic } => {
                        let body = DeleteTopicsRequest::default()
                            .with_topic_names(vec![TopicName(topic.clone())])
                            .with_timeout_ms(5_000);
                        self.client.request(DELETE_TOPICS_VERSION, body)
                    }
                    ClientTask::CreatePartitions { topic, count } => {
                        // No assignments (null): the controller places them.
                        let grown = CreatePartitionsTopic::default()
                            .with_name(TopicName(topic.clone()))
                            .with_count(*count)
                            .with_assignments(None);
                        let body = CreatePartitionsRequest::default()
                            .with_topics(vec![grown])
                            .with_timeout_ms(5_000);
                        self.client.request(CREATE_PARTITIONS_VERSION, body)
                    }
                    ClientTask::Metadata { .. } => return,
                };
                let node = if needs_leader.is_some() { leader } else { any_node };
                (node, Request::Task, frame, leader_epoch)
            };
        self.requests += 1;
        let Ok((correlation_id, frame)) = frame else {
            self.finish(events, "the client cannot encode its request".to_owned());
            return;
        };
        let connection = match self.connections.get(&node) {
            Some(&connection) if !net.is_closed(connection) => connection,
            _ => {
                let connection = net.connect(node);
                self.connections.insert(node, connection);
                connection
            }
        };
        net.client_send(connection, frame);
        if request == Request::Task && matches!(task, ClientTask::Produce { acks: 0, .. }) {
            // acks=0: the broker answers nothing; the record may or may not
            // be written, and no one was told.
            self.finish(events, "sent with acks=0".to_owned());
            return;
        }
        self.in_flight = Some(InFlight {
            connection,
            correlation_id,
            request,
            sent_ms: net.now_ms(),
            leader_epoch,
        });
    }
}
