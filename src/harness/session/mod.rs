//! A session: several clients, each with its own connection and state
//! (producer id, epoch and sequences; member id and generation; fetch
//! positions), playing a `SessionScript` against one server, every answer
//! checked by the response oracles and by the model of what Kafka
//! guarantees (`oracle::model`).
//!
//! A run can write a transcript, one line per request and per answer, so a
//! developer sees the ordering that broke a guarantee.

mod admin;

use std::collections::{HashMap, VecDeque};
use std::io::Write;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, FetchRequest, HeartbeatRequest, InitProducerIdRequest, JoinGroupRequest,
    LeaveGroupRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest, ProduceRequest,
    RequestKind, ResponseKind, SyncGroupRequest,
};
use kafka_protocol::protocol::{Message, StrBytes};
use uuid::Uuid;

use super::client::Client;
use super::input::{
    Acks, ByteLimit, GenerationChoice, MAX_SESSION_STEPS, OffsetChoice, Operation, PartitionChoice, ProduceMode,
    Production, SESSION_CLIENTS, SessionScript, SessionTimeout, TimestampChoice, VersionChoice, encode_entries,
};
use super::oracle::model::{
    At, FetchedPartition, Invariant, Model, ProducedBatch, ProducedRecord, ProducerSequence, TopicPartition, violation,
};
use super::oracle::{Oracle, Violation, kafka_error_name, read_exchange};
use super::target::{Exchange, FUZZING_BATCH_LIMITS, REFERENCE_START_MS, ServerUnderTest};
use crate::server::wire::{Codec, RecordBatch, decode_record_batches};
use admin::AdminPurpose;

/// Pages one Consume fetches at most: a partition holds at most a batch per
/// step, so this pages any of a session's partitions one batch at a time.
const MAX_PAGES: usize = MAX_SESSION_STEPS;

/// How far the clock moves at a session's end, so that every pending
/// answer (a join, a sync, a waiting fetch) arrives and is checked.
const DRAIN_MS: i64 = 30 * 60 * 1000;

/// Batches a client remembers for retries.
const REMEMBERED_BATCHES: usize = 8;

/// The group protocol every member offers.
const PROTOCOL_TYPE: &str = "consumer";
const PROTOCOL_NAME: &str = "range";

/// A batch a client sent, kept for a retry.
#[derive(Debug, Clone)]
struct SentBatch {
    tp: TopicPartition,
    records: Bytes,
    batch: ProducedBatch,
}

/// A client's place in one group.
#[derive(Debug, Clone, Default)]
struct Membership {
    member_id: StrBytes,
    generation: i32,
    leader: bool,
    /// Every member of the generation, when this client leads it.
    members: Vec<StrBytes>,
    /// MEMBER_ID_REQUIRED handed out `member_id`: join again with it.
    rejoin: bool,
    /// The group forgot the member (it left, or was answered
    /// UNKNOWN_MEMBER_ID): its next join comes without an id, as a Kafka
    /// consumer's does, while other requests keep the old one.
    forgotten: bool,
}

/// One client: its connection and what it remembers.
#[derive(Debug)]
struct SessionClient {
    client: Client,
    transactional_id: StrBytes,
    producer: Option<(i64, i16)>,
    /// `producer` came with the transactional id.
    transactional: bool,
    next_sequence: HashMap<TopicPartition, i32>,
    sent: VecDeque<SentBatch>,
    positions: HashMap<TopicPartition, i64>,
    high_watermarks: HashMap<TopicPartition, i64>,
    memberships: HashMap<StrBytes, Membership>,
    records_produced: usize,
    /// A request the server will answer later: until then the connection
    /// is busy.
    in_flight: Option<InFlight>,
}

/// A sent request whose answer is pending.
#[derive(Debug)]
struct InFlight {
    planned: Planned,
    correlation_id: i32,
    request: Bytes,
    /// The model's topic deletions when it was sent.
    deletions: u32,
}

impl SessionClient {
    fn new(index: usize) -> Self {
        Self {
            client: Client::new(&format!("session-{index}")),
            transactional_id: StrBytes::from_string(format!("transactional-{index}")),
            producer: None,
            transactional: false,
            next_sequence: HashMap::new(),
            sent: VecDeque::new(),
            positions: HashMap::new(),
            high_watermarks: HashMap::new(),
            memberships: HashMap::new(),
            records_produced: 0,
            in_flight: None,
        }
    }

    fn offset(&self, tp: &TopicPartition, choice: OffsetChoice) -> i64 {
        let high_watermark = self.high_watermarks.get(tp).copied().unwrap_or(0);
        match choice {
            OffsetChoice::Position => self.positions.get(tp).copied().unwrap_or(0),
            OffsetChoice::Earliest => 0,
            OffsetChoice::HighWatermark => high_watermark,
            OffsetChoice::PastEnd(by) => high_watermark + 1 + i64::from(by),
            OffsetChoice::Exactly(offset) => i64::from(offset),
        }
    }

    /// A new batch of this client's producer (`next_sequence` set) was
    /// written, or refused. After a refusal the client starts over with a
    /// new producer id, as a Kafka producer bumps its epoch: reusing the
    /// refused batch's sequences for other records could meet a copy of it
    /// that a retry wrote.
    fn produced(&mut self, tp: &TopicPartition, next_sequence: Option<i32>, written: bool) {
        match (next_sequence, written) {
            (Some(next), true) => {
                self.next_sequence.insert(tp.clone(), next);
            }
            (Some(_), false) => {
                self.producer = None;
                self.next_sequence.clear();
            }
            (None, _) => {}
        }
    }

    /// A group answered `error_code` to this client's member: forgotten on
    /// UNKNOWN_MEMBER_ID.
    fn forgotten(&mut self, group: &StrBytes, error_code: i16) {
        if error_code == ResponseError::UnknownMemberId.code()
            && let Some(membership) = self.memberships.get_mut(group)
        {
            membership.forgotten = true;
        }
    }

    fn membership(&self, group: &StrBytes) -> Membership {
        self.memberships.get(group).cloned().unwrap_or_default()
    }

    fn generation(&self, group: &StrBytes, choice: GenerationChoice) -> i32 {
        let current = self.membership(group).generation;
        match choice {
            GenerationChoice::Current => current,
            GenerationChoice::Previous => current.wrapping_sub(1),
            GenerationChoice::None => -1,
            GenerationChoice::Exactly(generation) => i32::from(generation),
        }
    }
}

/// What a request was sent for: how to read its answer.
#[derive(Debug)]
enum Purpose {
    Produce {
        tp: TopicPartition,
        batch: ProducedBatch,
        acks_all: bool,
        /// For a new batch of the client's producer: the partition's next
        /// sequence once it is written.
        next_sequence: Option<i32>,
        /// The model's acknowledged end of the partition when sent.
        floor: i64,
    },
    Fetch {
        tp: TopicPartition,
        offset: i64,
    },
    ListOffsets {
        tp: TopicPartition,
        timestamp: i64,
    },
    Metadata,
    CreateTopic,
    InitProducerId {
        transactional: bool,
    },
    Join {
        group: StrBytes,
    },
    Sync {
        group: StrBytes,
        member: StrBytes,
        generation: i32,
        assignments: Option<HashMap<StrBytes, Bytes>>,
    },
    Heartbeat {
        group: StrBytes,
        member: StrBytes,
        generation: i32,
    },
    Leave {
        group: StrBytes,
        member: StrBytes,
    },
    Commit {
        group: StrBytes,
        member: StrBytes,
        generation: i32,
        tp: TopicPartition,
        offset: i64,
    },
    OffsetFetch {
        group: StrBytes,
        tp: TopicPartition,
    },
    /// A damaged frame: only the response oracles judge its answer.
    Malformed,
    Admin(AdminPurpose),
}

impl Purpose {
    /// It reads a partition's log: an answer that comes after a topic
    /// deletion may describe a log the model forgot.
    fn reads_a_log(&self) -> bool {
        matches!(
            self,
            Purpose::Produce { .. } | Purpose::Fetch { .. } | Purpose::ListOffsets { .. }
        )
    }
}

/// A request answered with a response of another kind.
fn answered_otherwise(purpose: &impl std::fmt::Debug, response: &ResponseKind) -> Violation {
    Violation::new(
        Oracle::ResponseDecodes,
        format!("{purpose:?} answered with {response:?}"),
    )
}

/// A request ready to send: its body at its version, and its purpose.
#[derive(Debug)]
struct Planned {
    api: ApiKey,
    version: i16,
    body: RequestKind,
    purpose: Purpose,
}

/// What a Fetch answered for one partition, for the client and the pager.
#[derive(Debug, Default)]
struct FetchOutcome {
    high_watermark: i64,
    offsets: Vec<i64>,
}

/// One run of a script.
pub struct Session<'a, S: ServerUnderTest + ?Sized> {
    server: &'a mut S,
    clients: Vec<SessionClient>,
    model: Model,
    /// Topic ids learned from Metadata and CreateTopics answers, for the
    /// versions that name topics by id.
    topic_ids: HashMap<StrBytes, Uuid>,
    transcript: Option<&'a mut dyn Write>,
    step: usize,
}

/// A version of `M` from the fuzzer's choice, wrapped into `M`'s range.
fn version_of<M: Message>(choice: VersionChoice) -> i16 {
    let range = M::VERSIONS;
    let span = (range.max - range.min + 1) as u8;
    range.min + i16::from(choice.0 % span)
}

fn name(value: &'static str) -> StrBytes {
    StrBytes::from_static_str(value)
}

pub(crate) fn error_name(code: i16) -> String {
    kafka_error_name(code).unwrap_or_else(|| format!("error {code}"))
}

impl<'a, S: ServerUnderTest + ?Sized> Session<'a, S> {
    /// A session against `server`, which the caller has brought to the
    /// session's starting state; `transcript` receives a line per request
    /// and answer.
    pub fn new(server: &'a mut S, transcript: Option<&'a mut dyn Write>) -> Self {
        let mut model = Model::default();
        // A clock the session moves starts where the reference's does; one
        // it cannot move shows a time the model does not know.
        model
            .log
            .clock_reads(server.advance_clock(0).then_some(REFERENCE_START_MS));
        Self {
            server,
            clients: (0..SESSION_CLIENTS).map(SessionClient::new).collect(),
            model,
            topic_ids: HashMap::new(),
            transcript,
            step: 0,
        }
    }

    /// Plays every step, stopping at the first broken guarantee.
    pub fn run(&mut self, script: &SessionScript) -> Result<(), Violation> {
        for (index, step) in script.steps.iter().enumerate() {
            self.step = index;
            let client = step.client();
            self.note(|| format!("#{index} client {client}: {:?}", step.operation));
            let busy = self.clients[client]
                .in_flight
                .as_ref()
                .map(|in_flight| in_flight.planned.api);
            match (busy, &step.operation) {
                (Some(api), operation)
                    if !matches!(operation, Operation::Disconnect | Operation::AdvanceClock { .. }) =>
                {
                    self.note(|| format!("   (skipped: the connection waits for its {api:?} answer)"));
                }
                (_, operation) => self.perform(client, operation)?,
            }
            self.collect()?;
        }
        if self.clients.iter().any(|client| client.in_flight.is_some()) && self.server.advance_clock(DRAIN_MS) {
            self.model.log.clock_moved(Some(DRAIN_MS));
            let end = script.steps.len();
            self.step = end;
            self.note(|| format!("#{end} the clock moves {DRAIN_MS} ms: every wait runs out"));
            self.collect()?;
        }
        Ok(())
    }

    /// Reads the answers that arrived for pending requests.
    fn collect(&mut self) -> Result<(), Violation> {
        for client in 0..self.clients.len() {
            if self.clients[client].in_flight.is_none() {
                continue;
            }
            let Some(exchange) = self.server.poll(client) else {
                continue;
            };
            let in_flight = self.clients[client].in_flight.take().expect("a request in flight");
            self.note(|| {
                let planned = &in_flight.planned;
                format!(
                    "   client {client}'s {:?} v{} (correlation id {}) is answered",
                    planned.api, planned.version, in_flight.correlation_id
                )
            });
            self.answer(client, in_flight, exchange)?;
        }
        Ok(())
    }

    fn at(&self) -> At {
        At(self.step)
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(out) = self.transcript.as_mut() {
            // A transcript that cannot be written is not the server's fault.
            let _ = writeln!(out, "{}", line());
        }
    }

    fn perform(&mut self, client: usize, operation: &Operation) -> Result<(), Violation> {
        match operation {
            Operation::Disconnect => {
                self.server.disconnect(client);
                if let Some(in_flight) = self.clients[client].in_flight.take() {
                    self.abandoned(client, in_flight.planned.purpose);
                }
                Ok(())
            }
            Operation::AdvanceClock { by } => {
                let moved = self.server.advance_clock(by.ms());
                self.model.log.clock_moved(moved.then_some(by.ms()));
                if !moved {
                    self.note(|| "   (this server's clock cannot be moved: skipped)".to_owned());
                }
                Ok(())
            }
            Operation::Consume {
                from,
                offset,
                page_bytes,
                version,
            } => self.consume(client, *from, *offset, *page_bytes, *version),
            Operation::Malformed { request, malformation } => {
                let Some(mut planned) = self.plan(client, request) else {
                    return Ok(());
                };
                let Some((correlation_id, frame)) = self.encode(client, &planned) else {
                    return Ok(());
                };
                let (damaged, _) = malformation.apply(&frame[4..]);
                if damaged == frame[4..] {
                    // Nothing changed (a size prefix is not a frame's): an
                    // ordinary request, checked as one.
                    self.note(|| "   (the damage leaves the frame as it was)".to_owned());
                    return self
                        .exchange(client, planned, correlation_id, frame.slice(4..))
                        .map(drop);
                }
                self.damaged_request(&damaged);
                // A damaged produce may still be written: its sequences are
                // spent either way (a gap at worst: refused, then a new id).
                if let Purpose::Produce { tp, next_sequence, .. } = &planned.purpose {
                    self.clients[client].produced(tp, *next_sequence, true);
                }
                planned.purpose = Purpose::Malformed;
                self.exchange(client, planned, correlation_id, damaged.into()).map(drop)
            }
            Operation::Produce(Production {
                mode: ProduceMode::Idempotent | ProduceMode::GappedSequence(_),
                ..
            }) if self.clients[client].producer.is_none() => {
                // An idempotent producer starts with InitProducerId.
                self.perform(
                    client,
                    &Operation::InitProducerId {
                        transactional: false,
                        version: VersionChoice(u8::MAX),
                    },
                )?;
                // A connection sends on only once its request is answered.
                if self.clients[client].in_flight.is_some() {
                    return Ok(());
                }
                self.send_planned(client, operation)
            }
            Operation::JoinGroup { group, .. } => {
                let group = name(group.name());
                if let Some(membership) = self.clients[client].memberships.get_mut(&group) {
                    membership.rejoin = false;
                }
                self.send_planned(client, operation)?;
                // MEMBER_ID_REQUIRED (v4+) hands out an id to join with.
                if self.clients[client].membership(&group).rejoin && self.clients[client].in_flight.is_none() {
                    self.send_planned(client, operation)?;
                }
                Ok(())
            }
            _ => self.send_planned(client, operation),
        }
    }

    fn send_planned(&mut self, client: usize, operation: &Operation) -> Result<(), Violation> {
        match self.plan(client, operation) {
            Some(planned) => self.send(client, planned).map(drop),
            None => Ok(()),
        }
    }

    /// A damaged frame is about to be sent: what it asks for is unknown, so
    /// the model stops relying on knowing every request of the kind its
    /// header now names (the server reads the kind from there).
    fn damaged_request(&mut self, damaged: &[u8]) {
        let Some(key) = damaged.get(..2) else {
            return;
        };
        match ApiKey::try_from(i16::from_be_bytes([key[0], key[1]])) {
            Ok(ApiKey::Produce) => self.model.log.unknown_write(),
            Ok(
                ApiKey::JoinGroup
                | ApiKey::SyncGroup
                | ApiKey::LeaveGroup
                | ApiKey::OffsetCommit
                | ApiKey::DeleteGroups
                | ApiKey::OffsetDelete,
            ) => self.model.groups.unknown_request(),
            // Any topic, records or retention may be gone.
            Ok(
                ApiKey::DeleteTopics | ApiKey::DeleteRecords | ApiKey::AlterConfigs | ApiKey::IncrementalAlterConfigs,
            ) => {
                self.model.log.unknown_deletion();
                self.model.groups.unknown_request();
            }
            _ => {}
        }
    }

    /// A request whose answer the client gave up waiting for: the server
    /// may have carried it out, or not.
    fn abandoned(&mut self, client: usize, purpose: Purpose) {
        match purpose {
            Purpose::Produce { tp, next_sequence, .. } => self.clients[client].produced(&tp, next_sequence, false),
            Purpose::Commit { group, tp, .. } => self.model.groups.commit_unknown(&group, &tp),
            Purpose::Join { group } => self.model.groups.join_unknown(&group),
            Purpose::Admin(purpose) => self.admin_abandoned(purpose),
            _ => {}
        }
    }

    /// Pages through a partition as a consumer does, then checks that the
    /// pages held every offset from the start.
    fn consume(
        &mut self,
        client: usize,
        from: PartitionChoice,
        offset: OffsetChoice,
        page_bytes: ByteLimit,
        version: VersionChoice,
    ) -> Result<(), Violation> {
        let tp = TopicPartition::new(&name(from.topic()), from.partition());
        let start = self.clients[client].offset(&tp, offset);
        let mut position = start;
        let mut offsets = Vec::new();
        for _ in 0..MAX_PAGES {
            let planned = self.plan_fetch(&tp, position, page_bytes.value(), page_bytes.value(), version);
            let Some(page) = self.send(client, planned)? else {
                break;
            };
            offsets.extend(page.offsets.iter().filter(|&&offset| offset >= position));
            position = offsets.last().map_or(position, |last| last + 1);
            if page.offsets.is_empty() || position >= page.high_watermark {
                break;
            }
        }
        self.note(|| format!("   paged {} records from {start} to {position}", offsets.len()));
        self.model.log.paged(self.at(), &tp, start, &offsets)
    }

    /// The request `operation` sends, if it sends one.
    fn plan(&mut self, client: usize, operation: &Operation) -> Option<Planned> {
        if let Operation::JoinGroup { group, .. }
        | Operation::SyncGroup { group, .. }
        | Operation::Heartbeat { group, .. }
        | Operation::LeaveGroup { group, .. }
        | Operation::OffsetCommit { group, .. } = operation
        {
            // The server may create the group for it, whatever it answers.
            self.model.groups.named(&name(group.name()));
        }
        let planned = match *operation {
            Operation::Produce(production) => self.plan_produce(client, production),
            Operation::Fetch {
                from,
                offset,
                max_bytes,
                partition_max_bytes,
                wait,
                version,
            } => {
                let tp = TopicPartition::new(&name(from.topic()), from.partition());
                let offset = self.clients[client].offset(&tp, offset);
                let mut planned = self.plan_fetch(&tp, offset, max_bytes.value(), partition_max_bytes.value(), version);
                if let (true, RequestKind::Fetch(fetch)) = (wait, &mut planned.body) {
                    // A long poll: answered when records arrive or at the
                    // deadline, read committed as a transactional consumer.
                    fetch.max_wait_ms = 500;
                    fetch.isolation_level = 1;
                }
                planned
            }
            Operation::ListOffsets { of, timestamp, version } => {
                let tp = TopicPartition::new(&name(of.topic()), of.partition());
                let timestamp = match timestamp {
                    TimestampChoice::Latest => -1,
                    TimestampChoice::Earliest => -2,
                    TimestampChoice::MaxTimestamp => -3,
                    TimestampChoice::AfterStart(seconds) => REFERENCE_START_MS + 1000 * i64::from(seconds),
                    TimestampChoice::Exactly(timestamp) => timestamp,
                };
                let version = version_of::<ListOffsetsRequest>(version);
                let partition = ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_timestamp(timestamp);
                let body = ListOffsetsRequest::default()
                    .with_replica_id((-1).into())
                    .with_topics(vec![
                        ListOffsetsTopic::default()
                            .with_name(tp.topic.clone().into())
                            .with_partitions(vec![partition]),
                    ]);
                Planned {
                    api: ApiKey::ListOffsets,
                    version,
                    body: body.into(),
                    purpose: Purpose::ListOffsets { tp, timestamp },
                }
            }
            Operation::Metadata {
                topic,
                allow_auto_create,
                version,
            } => {
                let version = version_of::<MetadataRequest>(version);
                let topics = match topic {
                    Some(topic) => Some(vec![
                        MetadataRequestTopic::default().with_name(Some(name(topic.topic()).into())),
                    ]),
                    // v0 asks for every topic with an empty list, later
                    // versions with null.
                    None if version == 0 => Some(Vec::new()),
                    None => None,
                };
                let body = MetadataRequest::default()
                    .with_topics(topics)
                    .with_allow_auto_topic_creation(allow_auto_create || version < 4);
                Planned {
                    api: ApiKey::Metadata,
                    version,
                    body: body.into(),
                    purpose: Purpose::Metadata,
                }
            }
            Operation::CreateTopic {
                topic,
                partitions,
                version,
            } => {
                let created = CreatableTopic::default()
                    .with_name(name(topic.topic()).into())
                    .with_num_partitions(1 + i32::from(partitions % 4))
                    .with_replication_factor(1);
                Planned {
                    api: ApiKey::CreateTopics,
                    version: version_of::<CreateTopicsRequest>(version),
                    body: CreateTopicsRequest::default()
                        .with_topics(vec![created])
                        .with_timeout_ms(1000)
                        .into(),
                    purpose: Purpose::CreateTopic,
                }
            }
            Operation::InitProducerId { transactional, version } => {
                let version = version_of::<InitProducerIdRequest>(version);
                let mut body = InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000);
                if transactional {
                    body.transactional_id = Some(self.clients[client].transactional_id.clone().into());
                    let state = &self.clients[client];
                    if version >= 3 && state.transactional {
                        // Names the id and epoch it had, so a re-init bumps
                        // the epoch rather than being fenced.
                        if let Some((id, epoch)) = state.producer {
                            body.producer_id = id.into();
                            body.producer_epoch = epoch;
                        }
                    }
                }
                Planned {
                    api: ApiKey::InitProducerId,
                    version,
                    body: body.into(),
                    purpose: Purpose::InitProducerId { transactional },
                }
            }
            Operation::JoinGroup {
                group,
                session_timeout,
                version,
            } => self.plan_join(client, &name(group.name()), session_timeout, version),
            Operation::SyncGroup {
                group,
                generation,
                version,
            } => {
                let group = name(group.name());
                let membership = self.clients[client].membership(&group);
                let generation = self.clients[client].generation(&group, generation);
                let version = version_of::<SyncGroupRequest>(version);
                // A leader assigns for the generation it leads, not another.
                let leads = membership.leader && membership.generation == generation;
                let assignments: Option<HashMap<StrBytes, Bytes>> = leads.then(|| {
                    let members = membership.members.iter();
                    members
                        .map(|member| {
                            let assignment = format!("{}@{generation}", member.as_str());
                            (member.clone(), Bytes::from(assignment))
                        })
                        .collect()
                });
                let mut body = SyncGroupRequest::default()
                    .with_group_id(group.clone().into())
                    .with_generation_id(generation)
                    .with_member_id(membership.member_id.clone());
                if let Some(assignments) = &assignments {
                    let mut sorted: Vec<_> = assignments.iter().collect();
                    sorted.sort();
                    body.assignments = sorted
                        .into_iter()
                        .map(|(member, assignment)| {
                            SyncGroupRequestAssignment::default()
                                .with_member_id(member.clone())
                                .with_assignment(assignment.clone())
                        })
                        .collect();
                }
                if version >= 5 {
                    body.protocol_type = Some(name(PROTOCOL_TYPE));
                    body.protocol_name = Some(name(PROTOCOL_NAME));
                }
                Planned {
                    api: ApiKey::SyncGroup,
                    version,
                    body: body.into(),
                    purpose: Purpose::Sync {
                        group,
                        member: membership.member_id,
                        generation,
                        assignments,
                    },
                }
            }
            Operation::Heartbeat {
                group,
                generation,
                version,
            } => {
                let group = name(group.name());
                let member = self.clients[client].membership(&group).member_id;
                let generation = self.clients[client].generation(&group, generation);
                Planned {
                    api: ApiKey::Heartbeat,
                    version: version_of::<HeartbeatRequest>(version),
                    body: HeartbeatRequest::default()
                        .with_group_id(group.clone().into())
                        .with_generation_id(generation)
                        .with_member_id(member.clone())
                        .into(),
                    purpose: Purpose::Heartbeat {
                        group,
                        member,
                        generation,
                    },
                }
            }
            Operation::LeaveGroup { group, version } => {
                let group = name(group.name());
                let member = self.clients[client].membership(&group).member_id;
                let version = version_of::<LeaveGroupRequest>(version);
                let mut body = LeaveGroupRequest::default().with_group_id(group.clone().into());
                if version >= 3 {
                    body.members = vec![MemberIdentity::default().with_member_id(member.clone())];
                } else {
                    body.member_id = member.clone();
                }
                Planned {
                    api: ApiKey::LeaveGroup,
                    version,
                    body: body.into(),
                    purpose: Purpose::Leave { group, member },
                }
            }
            Operation::OffsetCommit {
                group,
                of,
                offset,
                generation,
                version,
            } => {
                let group = name(group.name());
                let tp = TopicPartition::new(&name(of.topic()), of.partition());
                let offset = self.clients[client].offset(&tp, offset);
                let generation = self.clients[client].generation(&group, generation);
                let member = if generation < 0 {
                    StrBytes::default()
                } else {
                    self.clients[client].membership(&group).member_id
                };
                let partition = OffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(offset)
                    .with_committed_metadata(Some(StrBytes::default()));
                let body = OffsetCommitRequest::default()
                    .with_group_id(group.clone().into())
                    .with_generation_id_or_member_epoch(generation)
                    .with_member_id(member.clone())
                    .with_topics(vec![
                        OffsetCommitRequestTopic::default()
                            .with_name(tp.topic.clone().into())
                            .with_partitions(vec![partition]),
                    ]);
                Planned {
                    api: ApiKey::OffsetCommit,
                    version: version_of::<OffsetCommitRequest>(version),
                    body: body.into(),
                    purpose: Purpose::Commit {
                        group,
                        member,
                        generation,
                        tp,
                        offset,
                    },
                }
            }
            Operation::OffsetFetch { group, of, version } => {
                let group = name(group.name());
                let tp = TopicPartition::new(&name(of.topic()), of.partition());
                let version = version_of::<OffsetFetchRequest>(version);
                let mut body = OffsetFetchRequest::default();
                if version >= 8 {
                    let topics = OffsetFetchRequestTopics::default()
                        .with_name(tp.topic.clone().into())
                        .with_partition_indexes(vec![tp.partition]);
                    body.groups = vec![
                        OffsetFetchRequestGroup::default()
                            .with_group_id(group.clone().into())
                            .with_topics(Some(vec![topics])),
                    ];
                } else {
                    body.group_id = group.clone().into();
                    body.topics = Some(vec![
                        OffsetFetchRequestTopic::default()
                            .with_name(tp.topic.clone().into())
                            .with_partition_indexes(vec![tp.partition]),
                    ]);
                }
                Planned {
                    api: ApiKey::OffsetFetch,
                    version,
                    body: body.into(),
                    purpose: Purpose::OffsetFetch { group, tp },
                }
            }
            Operation::DeleteTopic { topic, by_id, version } => self.plan_delete_topic(topic, by_id, version),
            Operation::CreatePartitions { topic, count, version } => {
                Self::plan_create_partitions(topic, count, version)
            }
            Operation::DeleteRecords { of, before, version } => self.plan_delete_records(client, of, before, version),
            Operation::AlterConfig {
                topic,
                change,
                incremental,
                version,
            } => self.plan_alter_config(topic, change, incremental, version),
            Operation::DescribeGroup { group, version } => Self::plan_describe_group(group, version),
            Operation::ListGroups { version } => Self::plan_list_groups(version),
            Operation::DeleteGroup { group, version } => Self::plan_delete_group(group, version),
            Operation::OffsetDelete { group, of, version } => Self::plan_offset_delete(group, of, version),
            Operation::Consume { .. }
            | Operation::Malformed { .. }
            | Operation::Disconnect
            | Operation::AdvanceClock { .. } => {
                return None;
            }
        };
        Some(planned)
    }

    fn plan_produce(&mut self, client: usize, production: Production) -> Planned {
        let Production {
            to,
            acks,
            records,
            codec,
            mode,
            version,
        } = production;
        let version = version_of::<ProduceRequest>(version);
        let state = &mut self.clients[client];
        let retried = match mode {
            ProduceMode::Retry(back) if !state.sent.is_empty() => {
                let back = usize::from(back) % state.sent.len();
                state.sent.iter().rev().nth(back).cloned()
            }
            _ => None,
        };
        let (sent, next_sequence) = match retried {
            Some(sent) => (sent, None),
            None => {
                let tp = TopicPartition::new(&name(to.topic()), to.partition());
                let count = 1 + usize::from(records % 8);
                let next = state.next_sequence.get(&tp).copied().unwrap_or(0);
                let first_sequence = match mode {
                    ProduceMode::GappedSequence(gap) => next.wrapping_add(1 + i32::from(gap % 4)),
                    _ => next,
                };
                let producer = match (mode, state.producer) {
                    (ProduceMode::Plain, _) | (_, None) => None,
                    (_, Some((id, epoch))) => Some((id, epoch, first_sequence)),
                };
                let advance = producer.map(|_| first_sequence.wrapping_add(count as i32));
                let first = state.records_produced;
                state.records_produced += count;
                let entries: Vec<_> = (first..first + count)
                    .map(|i| {
                        let key = Bytes::from(format!("c{client}-{i}"));
                        let value = Bytes::from(format!("value-{i}-{}", "x".repeat(i % 16)));
                        (Some(key), Some(value))
                    })
                    .collect();
                let first_timestamp = REFERENCE_START_MS + 1000 * self.step as i64;
                let codec = Codec::ALL[usize::from(codec) % Codec::ALL.len()];
                let bytes = encode_entries(&entries, producer, first_timestamp, codec)
                    .expect("a session's batches are small and well-formed");
                let batch = ProducedBatch {
                    producer: producer.map(|(producer_id, epoch, first_sequence)| ProducerSequence {
                        producer_id,
                        epoch,
                        first_sequence,
                    }),
                    records: (0..)
                        .zip(entries)
                        .map(|(i, (key, value))| ProducedRecord {
                            key,
                            value,
                            timestamp: first_timestamp + 1000 * i,
                        })
                        .collect(),
                };
                let sent = SentBatch {
                    tp,
                    records: bytes,
                    batch,
                };
                if state.sent.len() == REMEMBERED_BATCHES {
                    state.sent.pop_front();
                }
                state.sent.push_back(sent.clone());
                (sent, advance)
            }
        };
        let mut topic = TopicProduceData::default().with_partition_data(vec![
            PartitionProduceData::default()
                .with_index(sent.tp.partition)
                .with_records(Some(sent.records.clone())),
        ]);
        if version >= 13 {
            topic.topic_id = self.topic_ids.get(&sent.tp.topic).copied().unwrap_or_default();
        } else {
            topic.name = sent.tp.topic.clone().into();
        }
        self.model.log.attempted(&sent.tp, &sent.batch);
        Planned {
            api: ApiKey::Produce,
            version,
            body: ProduceRequest::default()
                .with_acks(acks.value())
                .with_timeout_ms(1000)
                .with_topic_data(vec![topic])
                .into(),
            purpose: Purpose::Produce {
                floor: self.model.log.acknowledged_end(&sent.tp),
                tp: sent.tp,
                batch: sent.batch,
                acks_all: acks == Acks::All,
                next_sequence,
            },
        }
    }

    fn plan_fetch(
        &self,
        tp: &TopicPartition,
        offset: i64,
        max_bytes: i32,
        partition_max_bytes: i32,
        version: VersionChoice,
    ) -> Planned {
        let version = version_of::<FetchRequest>(version);
        let mut topic = FetchTopic::default().with_partitions(vec![
            FetchPartition::default()
                .with_partition(tp.partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(partition_max_bytes),
        ]);
        if version >= 13 {
            topic.topic_id = self.topic_ids.get(&tp.topic).copied().unwrap_or_default();
        } else {
            topic.topic = tp.topic.clone().into();
        }
        let body = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            .with_topics(vec![topic]);
        Planned {
            api: ApiKey::Fetch,
            version,
            body: body.into(),
            purpose: Purpose::Fetch { tp: tp.clone(), offset },
        }
    }

    fn plan_join(&self, client: usize, group: &StrBytes, timeout: SessionTimeout, version: VersionChoice) -> Planned {
        let version = version_of::<JoinGroupRequest>(version);
        let membership = self.clients[client].membership(group);
        let member = if membership.forgotten {
            StrBytes::default()
        } else {
            membership.member_id
        };
        let protocol = JoinGroupRequestProtocol::default()
            .with_name(name(PROTOCOL_NAME))
            .with_metadata(Bytes::from_static(b"topic-a,topic-b"));
        let mut body = JoinGroupRequest::default()
            .with_group_id(group.clone().into())
            .with_session_timeout_ms(timeout.ms())
            .with_member_id(member)
            .with_protocol_type(name(PROTOCOL_TYPE))
            .with_protocols(vec![protocol]);
        if version >= 1 {
            body.rebalance_timeout_ms = timeout.ms();
        }
        Planned {
            api: ApiKey::JoinGroup,
            version,
            body: body.into(),
            purpose: Purpose::Join { group: group.clone() },
        }
    }

    /// The request's frame, size prefix included, and its correlation id;
    /// `None` (noted) when `kafka-protocol` cannot encode it.
    fn encode(&mut self, client: usize, planned: &Planned) -> Option<(i32, Bytes)> {
        match self.clients[client]
            .client
            .request_kind(planned.api as i16, planned.version, &planned.body)
        {
            Ok(encoded) => Some(encoded),
            Err(error) => {
                self.note(|| format!("   not sent: {error}"));
                None
            }
        }
    }

    /// Sends a planned request, checks its answer with the response oracles
    /// and the model, and updates the client.
    fn send(&mut self, client: usize, planned: Planned) -> Result<Option<FetchOutcome>, Violation> {
        let Some((correlation_id, frame)) = self.encode(client, &planned) else {
            return Ok(None);
        };
        self.note(|| {
            format!(
                "   {:?} v{} (correlation id {correlation_id})",
                planned.api, planned.version
            )
        });
        self.exchange(client, planned, correlation_id, frame.slice(4..))
    }

    /// Sends a request frame (without its size prefix), then checks and
    /// reads the answer, or keeps the request in flight until it comes.
    fn exchange(
        &mut self,
        client: usize,
        planned: Planned,
        correlation_id: i32,
        request: Bytes,
    ) -> Result<Option<FetchOutcome>, Violation> {
        let exchange = self.server.handle_on(client, request.clone());
        let in_flight = InFlight {
            planned,
            correlation_id,
            request,
            deletions: self.model.log.deletions(),
        };
        if let Exchange::Pending = exchange {
            self.note(|| "   -> pending".to_owned());
            self.clients[client].in_flight = Some(in_flight);
            return Ok(None);
        }
        self.answer(client, in_flight, exchange)
    }

    /// Checks what the server did with a request, and reads its answer.
    fn answer(
        &mut self,
        client: usize,
        in_flight: InFlight,
        exchange: Exchange,
    ) -> Result<Option<FetchOutcome>, Violation> {
        let InFlight {
            planned,
            request,
            deletions,
            ..
        } = in_flight;
        let response = read_exchange(&request, &exchange)?;
        if deletions != self.model.log.deletions() && planned.purpose.reads_a_log() {
            self.note(|| "   (a topic was deleted while it waited: the model does not read this answer)".to_owned());
            if let Purpose::Produce { tp, next_sequence, .. } = &planned.purpose {
                self.clients[client].produced(tp, *next_sequence, false);
            }
            return Ok(None);
        }
        if let Purpose::Malformed = planned.purpose {
            self.note(|| format!("   -> {}", describe_exchange(&exchange)));
            return Ok(None);
        }
        let Exchange::Response(answer) = exchange else {
            self.note(|| format!("   -> {}", describe_exchange(&exchange)));
            if let Purpose::Produce { tp, next_sequence, .. } = &planned.purpose {
                // acks=0: silence is success, a closed connection failure.
                let written = matches!(exchange, Exchange::NoResponse);
                self.clients[client].produced(tp, *next_sequence, written);
            }
            return Ok(None);
        };
        let Some(response) = response else {
            self.note(|| format!("   -> a {}-byte response kafka-protocol cannot read", answer.len()));
            return Ok(None);
        };
        self.read(client, planned, response)
    }

    /// Reads an answer: what the client learns, what the model checks.
    fn read(
        &mut self,
        client: usize,
        planned: Planned,
        response: ResponseKind,
    ) -> Result<Option<FetchOutcome>, Violation> {
        let at = self.at();
        let version = planned.version;
        match (planned.purpose, response) {
            (
                Purpose::Produce {
                    tp,
                    batch,
                    acks_all,
                    next_sequence,
                    floor,
                },
                ResponseKind::Produce(response),
            ) => {
                let Some(partition) = response.responses.iter().flat_map(|t| &t.partition_responses).next() else {
                    self.note(|| "   -> no partition answered".to_owned());
                    return Ok(None);
                };
                self.note(|| {
                    format!(
                        "   -> {tp}: {} base offset {}",
                        error_name(partition.error_code),
                        partition.base_offset
                    )
                });
                let written = partition.error_code == 0;
                if written && version >= 13 {
                    self.check_topic_id(&format!("a Produce to {tp} by its id"), &tp.topic)?;
                }
                if written {
                    self.model
                        .log
                        .acknowledged(at, &tp, &batch, (partition.base_offset, floor), acks_all)?;
                }
                self.clients[client].produced(&tp, next_sequence, written);
                Ok(None)
            }
            (Purpose::Fetch { tp, offset }, ResponseKind::Fetch(response)) => {
                let partition = response
                    .responses
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition_index == tp.partition);
                let Some(partition) = partition.filter(|_| response.error_code == 0) else {
                    self.note(|| format!("   -> {}", error_name(response.error_code)));
                    return Ok(None);
                };
                if partition.error_code == ResponseError::OffsetOutOfRange.code() {
                    self.note(|| format!("   -> {tp} at {offset}: OffsetOutOfRange"));
                    self.model.log.out_of_range(at, &tp, offset)?;
                    return Ok(None);
                }
                if partition.error_code != 0 {
                    self.note(|| format!("   -> {tp}: {}", error_name(partition.error_code)));
                    return Ok(None);
                }
                if version >= 13 {
                    self.check_topic_id(&format!("a Fetch of {tp} by its id"), &tp.topic)?;
                }
                let records = whole_batches(partition.records.clone().unwrap_or_default());
                let batches = decode_record_batches(records, FUZZING_BATCH_LIMITS).map_err(|error| {
                    violation(
                        Invariant::AcknowledgedFetchable,
                        at,
                        &format!("records fetched from {tp} at offset {offset}"),
                        "record batches that decode",
                        error,
                    )
                })?;
                let fetched = FetchedPartition {
                    fetch_offset: offset,
                    high_watermark: partition.high_watermark,
                    last_stable_offset: partition.last_stable_offset,
                    log_start_offset: (version >= 5).then_some(partition.log_start_offset),
                    batches: &batches,
                };
                let offsets: Vec<i64> = batches
                    .iter()
                    .flat_map(|b| b.records.iter().map(move |r| b.base_offset + i64::from(r.offset_delta)))
                    .collect();
                self.note(|| {
                    let described: Vec<String> = batches.iter().map(describe_batch).collect();
                    format!(
                        "   -> {tp} at {offset}: high watermark {}, {} records{}{}",
                        partition.high_watermark,
                        offsets.len(),
                        if described.is_empty() { "" } else { ": " },
                        described.join(", ")
                    )
                });
                self.model.log.fetched(at, &tp, &fetched)?;
                let state = &mut self.clients[client];
                if let Some(last) = offsets.last() {
                    state.positions.insert(tp.clone(), last + 1);
                }
                state.high_watermarks.insert(tp, partition.high_watermark);
                Ok(Some(FetchOutcome {
                    high_watermark: partition.high_watermark,
                    offsets,
                }))
            }
            (Purpose::ListOffsets { tp, timestamp }, ResponseKind::ListOffsets(response)) => {
                for partition in response.topics.iter().flat_map(|t| &t.partitions) {
                    self.note(|| {
                        format!(
                            "   -> {tp} timestamp {timestamp}: {} offset {} (timestamp {})",
                            error_name(partition.error_code),
                            partition.offset,
                            partition.timestamp
                        )
                    });
                    if partition.error_code == 0 {
                        self.model
                            .log
                            .listed(at, &tp, timestamp, partition.offset, partition.timestamp)?;
                        if timestamp == -1 {
                            self.clients[client]
                                .high_watermarks
                                .insert(tp.clone(), partition.offset);
                        }
                    }
                }
                Ok(None)
            }
            (Purpose::Metadata, ResponseKind::Metadata(response)) => {
                // Topic ids are answered from v10; before, the field is nil.
                let named = response
                    .topics
                    .iter()
                    .filter(|t| t.error_code == 0 && !t.topic_id.is_nil());
                for topic in named {
                    if let Some(name) = &topic.name {
                        self.topic_ids.insert(name.0.clone(), topic.topic_id);
                        let partitions = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
                        self.model.topics.shown(at, &name.0, topic.topic_id, Some(partitions))?;
                    }
                }
                self.note(|| {
                    let topics: Vec<String> = response
                        .topics
                        .iter()
                        .map(|t| {
                            let name = t.name.as_ref().map_or("(no name)", |name| name.0.as_str());
                            let error = error_name(t.error_code);
                            format!("{name} {error} {} partitions", t.partitions.len())
                        })
                        .collect();
                    format!("   -> {} topics: {}", topics.len(), topics.join(", "))
                });
                Ok(None)
            }
            (Purpose::CreateTopic, ResponseKind::CreateTopics(response)) => {
                for topic in &response.topics {
                    self.note(|| format!("   -> {}: {}", topic.name.as_str(), error_name(topic.error_code)));
                    if topic.error_code == 0 && !topic.topic_id.is_nil() {
                        self.topic_ids.insert(topic.name.0.clone(), topic.topic_id);
                        self.model.topics.created(at, &topic.name.0, topic.topic_id)?;
                    }
                }
                Ok(None)
            }
            (Purpose::InitProducerId { transactional }, ResponseKind::InitProducerId(response)) => {
                self.note(|| {
                    format!(
                        "   -> {} producer {} epoch {}",
                        error_name(response.error_code),
                        response.producer_id.0,
                        response.producer_epoch
                    )
                });
                if response.error_code == 0 {
                    let state = &mut self.clients[client];
                    state.producer = Some((response.producer_id.0, response.producer_epoch));
                    state.transactional = transactional;
                    state.next_sequence.clear();
                }
                Ok(None)
            }
            (Purpose::Join { group }, ResponseKind::JoinGroup(response)) => {
                self.note(|| {
                    format!(
                        "   -> {} member {} generation {} leader {} ({} members listed)",
                        error_name(response.error_code),
                        response.member_id.as_str(),
                        response.generation_id,
                        response.leader.as_str(),
                        response.members.len()
                    )
                });
                let state = &mut self.clients[client];
                let membership = state.memberships.entry(group.clone()).or_default();
                membership.rejoin = response.error_code == ResponseError::MemberIdRequired.code();
                if membership.rejoin {
                    membership.member_id = response.member_id;
                    membership.forgotten = false;
                } else if response.error_code == 0 {
                    *membership = Membership {
                        member_id: response.member_id.clone(),
                        generation: response.generation_id,
                        leader: response.leader == response.member_id,
                        members: response.members.iter().map(|m| m.member_id.clone()).collect(),
                        rejoin: false,
                        forgotten: false,
                    };
                    self.model
                        .groups
                        .joined(at, &group, &response.member_id, response.generation_id)?;
                }
                self.clients[client].forgotten(&group, response.error_code);
                Ok(None)
            }
            (
                Purpose::Sync {
                    group,
                    member,
                    generation,
                    assignments,
                },
                ResponseKind::SyncGroup(response),
            ) => {
                self.note(|| {
                    format!(
                        "   -> {} assignment {:?}",
                        error_name(response.error_code),
                        String::from_utf8_lossy(&response.assignment)
                    )
                });
                self.clients[client].forgotten(&group, response.error_code);
                if response.error_code == 0 {
                    self.model
                        .groups
                        .synced(at, &group, &member, generation, &response.assignment)?;
                    if let Some(assignments) = assignments {
                        self.model.groups.assigned(&group, generation, assignments);
                    }
                }
                Ok(None)
            }
            (
                Purpose::Heartbeat {
                    group,
                    member,
                    generation,
                },
                ResponseKind::Heartbeat(response),
            ) => {
                self.note(|| format!("   -> {}", error_name(response.error_code)));
                self.clients[client].forgotten(&group, response.error_code);
                if response.error_code == 0 {
                    self.model.groups.heartbeat(at, &group, &member, generation)?;
                }
                Ok(None)
            }
            (Purpose::Leave { group, member }, ResponseKind::LeaveGroup(response)) => {
                let member_error = response.members.first().map_or(0, |m| m.error_code);
                self.note(|| {
                    format!(
                        "   -> {} / {}",
                        error_name(response.error_code),
                        error_name(member_error)
                    )
                });
                if response.error_code == 0 && member_error == 0 {
                    self.model.groups.left(&group, &member);
                    self.clients[client].forgotten(&group, ResponseError::UnknownMemberId.code());
                }
                Ok(None)
            }
            (
                Purpose::Commit {
                    group,
                    member,
                    generation,
                    tp,
                    offset,
                },
                ResponseKind::OffsetCommit(response),
            ) => {
                for partition in response.topics.iter().flat_map(|t| &t.partitions) {
                    self.note(|| format!("   -> {tp} offset {offset}: {}", error_name(partition.error_code)));
                    if partition.error_code == 0 {
                        self.model
                            .groups
                            .committed(at, &group, (&member, generation), &tp, offset)?;
                    }
                }
                Ok(None)
            }
            (Purpose::OffsetFetch { group, tp }, ResponseKind::OffsetFetch(response)) => {
                let partitions: Vec<(i64, i16)> = if version >= 8 {
                    let groups = response.groups.iter().filter(|g| g.error_code == 0);
                    groups
                        .flat_map(|g| &g.topics)
                        .flat_map(|t| &t.partitions)
                        .map(|p| (p.committed_offset, p.error_code))
                        .collect()
                } else if response.error_code == 0 {
                    let topics = response.topics.iter();
                    topics
                        .flat_map(|t| &t.partitions)
                        .map(|p| (p.committed_offset, p.error_code))
                        .collect()
                } else {
                    Vec::new()
                };
                for (offset, error_code) in partitions {
                    self.note(|| format!("   -> {tp}: {} committed offset {offset}", error_name(error_code)));
                    if error_code == 0 {
                        self.model.groups.offset_read(at, &group, &tp, offset)?;
                    }
                }
                Ok(None)
            }
            (Purpose::Admin(purpose), response) => self.read_admin(purpose, response).map(|()| None),
            (purpose, response) => Err(answered_otherwise(&purpose, &response)),
        }
    }

    /// A request that named `topic` by the id this session knows for it
    /// succeeded: an id the server has shown deleted is never served.
    fn check_topic_id(&self, what: &str, topic: &StrBytes) -> Result<(), Violation> {
        match self.topic_ids.get(topic) {
            Some(&id) => self.model.topics.check_not_superseded(self.at(), what, id),
            None => Ok(()),
        }
    }
}

/// The whole batches of a fetched records field: Kafka cuts the field at
/// its byte limit, so the last batch may be partial, and clients drop it.
/// Anything else (a length that cannot be, a batch that does not decode) is
/// left for the decoder to report.
pub(crate) fn whole_batches(records: Bytes) -> Bytes {
    /// Base offset and batch length: the length counts what follows them.
    const LENGTH_END: usize = 12;
    let mut end = 0;
    while let Some(header) = records.get(end..end + LENGTH_END) {
        let length = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        let Ok(length) = usize::try_from(length) else {
            return records;
        };
        let next = end + LENGTH_END + length;
        if next > records.len() {
            break;
        }
        end = next;
    }
    records.slice(..end)
}

/// A fetched batch as the transcript shows it: its offsets, its first
/// record's key, and its producer.
fn describe_batch(batch: &RecordBatch) -> String {
    let last = batch.base_offset + i64::from(batch.last_offset_delta);
    let key = batch.records.first().and_then(|record| record.key.as_ref());
    let mut described = format!("[{}..={last}", batch.base_offset);
    if let Some(key) = key {
        described.push_str(&format!(" {}", String::from_utf8_lossy(key)));
    }
    if batch.producer_id >= 0 {
        described.push_str(&format!(
            " producer {} epoch {} sequence {}",
            batch.producer_id, batch.producer_epoch, batch.base_sequence
        ));
    }
    described.push(']');
    described
}

fn describe_exchange(exchange: &Exchange) -> String {
    match exchange {
        Exchange::Response(frame) => format!("a {}-byte response", frame.len()),
        Exchange::NoResponse => "no response".to_owned(),
        Exchange::Closed { reason } => format!("connection closed: {reason}"),
        Exchange::Pending => "pending".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::input::encode_entries;

    fn batch(records: usize) -> Bytes {
        let entries = vec![(None, Some(Bytes::from_static(b"value"))); records];
        encode_entries(&entries, None, 0, Codec::None).unwrap()
    }

    #[test]
    fn a_partial_last_batch_is_dropped_and_nothing_else() {
        let two = [batch(1), batch(2)].concat();
        let first = batch(1).len();
        for cut in [0, 5, 12, first, first + 11, first + 12, two.len() - 1] {
            let records = Bytes::copy_from_slice(&two[..cut]);
            let kept = if cut >= first { first } else { 0 };
            assert_eq!(whole_batches(records).len(), kept, "cut at {cut}");
        }
        assert_eq!(whole_batches(Bytes::from(two.clone())).len(), two.len());
        // A length that cannot be is the decoder's to report.
        let mut bad = two.clone();
        bad[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(whole_batches(Bytes::from(bad)).len(), two.len());
    }
}
