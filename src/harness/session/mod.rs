//! A session: several clients, each with its own connection and state
//! (producer id, epoch and sequences; member id and generation; fetch
//! positions), playing a `SessionScript` against one server, every answer
//! checked by the response oracles and by the model of what Kafka
//! guarantees (`oracle::model`).
//!
//! A run can write a transcript, one line per request and per answer, so a
//! developer sees the ordering that broke a guarantee.

mod admin;
mod answers;
mod fetch;
mod requests;

pub(crate) use answers::whole_batches;

use std::collections::{HashMap, VecDeque};
use std::io::Write;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
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
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, FetchRequest, FetchResponse, HeartbeatRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListOffsetsRequest, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest, ProduceRequest, RequestKind, ResponseKind, SyncGroupRequest,
};
use kafka_protocol::protocol::{Message, StrBytes};
use uuid::Uuid;

use super::client::Client;
use super::input::{
    Acks, ByteLimit, GenerationChoice, MAX_SESSION_OPERATIONS, OffsetChoice, Operation, PartitionChoice, ProduceMode,
    Production, SESSION_CLIENTS, SESSION_TOPICS, SessionScript, SessionTimeout, TimestampChoice, VersionChoice,
    encode_entries,
};
use super::oracle::model::{
    At, FetchedPartition, Invariant, Model, ProducedBatch, ProducedRecord, ProducerSequence, ShownTopic,
    TopicPartition, violation,
};
use super::oracle::{Oracle, Violation, kafka_error_name, read_exchange};
use super::target::{Exchange, FUZZING_BATCH_LIMITS, REFERENCE_START_MS, ServerUnderTest};
use crate::server::wire::{Codec, RecordBatch, decode_record_batches};
use admin::AdminPurpose;
use answers::describe_batch;
use fetch::FetchPurpose;

/// Pages one Consume fetches at most: a partition holds at most a batch per
/// operation, so this pages any of a session's partitions one batch at a
/// time.
const MAX_PAGES: usize = MAX_SESSION_OPERATIONS;

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
    Fetch(FetchPurpose),
    ListOffsets {
        tp: TopicPartition,
        timestamp: i64,
    },
    Metadata,
    ApiVersions,
    CreateTopic {
        partitions: i32,
    },
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
            Purpose::Produce { .. } | Purpose::Fetch(_) | Purpose::ListOffsets { .. }
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
        // The first two topics exist from the start (`SESSION_TOPICS`).
        model.topics.existing_at_start(&SESSION_TOPICS[..2]);
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
        let mut performed = 0;
        // What a `Repeat` step repeats: the last operation that is not one.
        let mut previous: Option<&Operation> = None;
        for (index, step) in script.steps.iter().enumerate() {
            self.step = index;
            let client = step.client();
            self.note(|| format!("#{index} client {client}: {:?}", step.operation));
            let (operation, times) = match (&step.operation, previous) {
                (Operation::Repeat { times }, Some(previous)) => (previous, Operation::repeats(*times)),
                (Operation::Repeat { .. }, None) => {
                    self.note(|| "   (nothing before it to repeat)".to_owned());
                    continue;
                }
                (operation, _) => {
                    previous = Some(operation);
                    (operation, 1)
                }
            };
            for time in 1..=times {
                if performed == MAX_SESSION_OPERATIONS {
                    self.note(|| format!("   (the session's {MAX_SESSION_OPERATIONS} operations are spent)"));
                    break;
                }
                performed += 1;
                if times > 1 {
                    self.note(|| format!("   {operation:?}, {time} of {times}"));
                }
                self.play_step(client, operation)?;
            }
        }
        if self.clients.iter().any(|client| client.in_flight.is_some()) && self.server.advance_clock(DRAIN_MS) {
            self.model.log.clock_moved(Some(DRAIN_MS));
            let end = script.steps.len();
            self.step = end;
            self.note(|| format!("#{end} the clock moves {DRAIN_MS} ms: every wait runs out"));
            self.collect()?;
            self.check_answered()?;
        }
        Ok(())
    }

    /// One operation by `client`, unless its connection still waits for an
    /// answer; then the answers that arrived.
    fn play_step(&mut self, client: usize, operation: &Operation) -> Result<(), Violation> {
        let busy = self.clients[client]
            .in_flight
            .as_ref()
            .map(|in_flight| in_flight.planned.api);
        match busy {
            Some(api) if !matches!(operation, Operation::Disconnect | Operation::AdvanceClock { .. }) => {
                self.note(|| format!("   (skipped: the connection waits for its {api:?} answer)"));
            }
            _ => self.perform(client, operation)?,
        }
        self.collect()
    }

    /// After the drain every deadline (max wait, rebalance and session
    /// timeouts) lies in the past: a request still waiting is never
    /// answered, a deadlock or a lost wake-up. Not a damaged one: what it
    /// asks is unknown (a corrupted max_wait_ms may ask for hours, a
    /// corrupted api key make any request a long poll).
    fn check_answered(&self) -> Result<(), Violation> {
        let waiting = self.clients.iter().enumerate().find_map(|(client, state)| {
            let in_flight = state.in_flight.as_ref()?;
            (!matches!(in_flight.planned.purpose, Purpose::Malformed)).then_some((client, in_flight))
        });
        match waiting {
            Some((client, in_flight)) => Err(violation(
                Invariant::Liveness,
                self.at(),
                &format!(
                    "client {client}'s {:?} v{} (correlation id {}) after the clock moved {DRAIN_MS} ms past every deadline",
                    in_flight.planned.api, in_flight.planned.version, in_flight.correlation_id
                ),
                "an answer",
                "none",
            )),
            None => Ok(()),
        }
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
            ) => self.model.unknown_deletion(),
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
            let planned = self.plan_fetch(
                &[(tp.clone(), position)],
                page_bytes.value(),
                page_bytes.value(),
                version,
            );
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
        let refused = matches!(exchange, Exchange::Closed { .. });
        // Kafka closes the connection of an acks=0 produce that fails for
        // any reason: such a close says nothing of its version.
        if !(refused && planned.api == ApiKey::Produce) {
            self.model
                .versions
                .answered(self.at(), planned.api, planned.version, refused)?;
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
}

fn describe_exchange(exchange: &Exchange) -> String {
    match exchange {
        Exchange::Response(frame) => format!("a {}-byte response", frame.len()),
        Exchange::NoResponse => "no response".to_owned(),
        Exchange::Closed { reason } => format!("connection closed: {reason}"),
        Exchange::Pending => "pending".to_owned(),
    }
}
