//! The `session` target end to end: scripts of several clients against the
//! reference server run clean and read as a transcript; a server that loses
//! acknowledged data or answers a stale generation is caught by the model,
//! with the invariant and the operation named.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_fuzz::harness::input::{
    Acks, ArbitraryBytes, ByteLimit, ClockStep, ConfigChange, GenerationChoice, GroupChoice, HostileInt, Malformation,
    OffsetChoice, Operation, PartitionChoice, PartitionSet, ProduceMode, Production, SessionScript, SessionStep,
    SessionTimeout, TimestampChoice, VersionChoice, seeded_bytes,
};
use kafka_fuzz::harness::oracle::{Oracle, Violation};
use kafka_fuzz::harness::session::Session;
use kafka_fuzz::harness::target::{Exchange, ReferenceServer, ServerUnderTest};
use kafka_fuzz::harness::targets::{play_session, session_start_frames};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest, CreateTopicsResponse,
    DeleteGroupsRequest, DeleteGroupsResponse, DeleteRecordsRequest, DeleteRecordsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, FetchRequest, FetchResponse, InitProducerIdRequest, InitProducerIdResponse, MetadataRequest,
    MetadataResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable};

/// 255, wrapped into each API's version range (the transcript says which).
const ANY_VERSION: VersionChoice = VersionChoice(u8::MAX);

fn topic_a(partition: u8) -> PartitionChoice {
    PartitionChoice { topic: 0, partition }
}

fn produce(records: u8, mode: ProduceMode) -> Operation {
    produce_to(topic_a(0), records, mode)
}

fn produce_to(to: PartitionChoice, records: u8, mode: ProduceMode) -> Operation {
    Operation::Produce(Production {
        to,
        acks: Acks::All,
        records: records - 1,
        codec: 0,
        mode,
        version: VersionChoice(6), // v9: names topics, every codec
    })
}

fn consume(page_bytes: ByteLimit) -> Operation {
    Operation::Consume {
        from: topic_a(0),
        offset: OffsetChoice::Earliest,
        page_bytes,
        version: VersionChoice(8), // v12: names topics
    }
}

fn group() -> GroupChoice {
    GroupChoice::new(0)
}

/// One fetch of topic-a/0 from offset 0, everything it may return.
fn fetch_earliest(version: VersionChoice) -> Operation {
    Operation::Fetch {
        from: topic_a(0),
        offset: OffsetChoice::Earliest,
        max_bytes: ByteLimit::Default,
        partition_max_bytes: ByteLimit::Default,
        wait: false,
        version,
    }
}

fn join(session_timeout: SessionTimeout) -> Operation {
    Operation::JoinGroup {
        group: group(),
        session_timeout,
        version: ANY_VERSION,
    }
}

fn sync(generation: GenerationChoice) -> Operation {
    Operation::SyncGroup {
        group: group(),
        generation,
        version: ANY_VERSION,
    }
}

fn heartbeat(generation: GenerationChoice) -> Operation {
    Operation::Heartbeat {
        group: group(),
        generation,
        version: ANY_VERSION,
    }
}

fn commit(offset: i16, generation: GenerationChoice) -> Operation {
    Operation::OffsetCommit {
        group: group(),
        of: topic_a(0),
        offset: OffsetChoice::Exactly(offset),
        generation,
        version: ANY_VERSION,
    }
}

fn script(steps: &[(usize, Operation)]) -> SessionScript {
    SessionScript {
        steps: steps
            .iter()
            .map(|(client, op)| SessionStep::new(*client, op.clone()))
            .collect(),
    }
}

/// Plays `script` against `server` from the session's start, with a
/// transcript.
fn play(server: &mut impl ServerUnderTest, script: &SessionScript) -> (Result<(), Violation>, String) {
    server.start_from(session_start_frames());
    let mut transcript = Vec::new();
    let result = Session::new(server, Some(&mut transcript)).run(script);
    (result, String::from_utf8(transcript).unwrap())
}

/// Producing, retrying, paging, offsets and a group's life, by three
/// clients, in an order a careful client would not use.
fn story() -> SessionScript {
    script(&[
        // Fetch and commit before anything exists.
        (0, consume(ByteLimit::Default)),
        (1, commit(3, GenerationChoice::None)),
        // A long poll, answered by the next produce.
        (2, long_poll()),
        (0, produce(3, ProduceMode::Idempotent)),
        (0, produce(2, ProduceMode::Idempotent)),
        // The first batch again: acknowledged at its offset, not written.
        (0, produce(1, ProduceMode::Retry(1))),
        (2, produce(4, ProduceMode::Plain)),
        (0, produce(1, ProduceMode::GappedSequence(2))),
        // Pages smaller than one batch, then one byte at a time.
        (1, consume(ByteLimit::Small)),
        (2, consume(ByteLimit::OneByte)),
        (
            1,
            Operation::ListOffsets {
                of: topic_a(0),
                timestamp: TimestampChoice::AfterStart(4),
                version: ANY_VERSION,
            },
        ),
        (1, join(SessionTimeout::Shortest)),
        (2, join(SessionTimeout::Default)),
        (1, join(SessionTimeout::Shortest)),
        (1, sync(GenerationChoice::Current)),
        (2, sync(GenerationChoice::Current)),
        (2, heartbeat(GenerationChoice::Previous)),
        (1, commit(5, GenerationChoice::Current)),
        (
            2,
            Operation::OffsetFetch {
                group: group(),
                of: topic_a(0),
                version: ANY_VERSION,
            },
        ),
        (
            1,
            Operation::LeaveGroup {
                group: group(),
                version: ANY_VERSION,
            },
        ),
        (1, heartbeat(GenerationChoice::Current)),
        (2, Operation::AdvanceClock { by: ClockStep::Minute }),
        (2, heartbeat(GenerationChoice::Current)),
        (0, Operation::Disconnect),
        (0, consume(ByteLimit::Medium)),
    ])
}

#[test]
fn a_story_of_three_clients_runs_clean_and_reads_as_a_transcript() {
    let (result, transcript) = play(&mut ReferenceServer::default(), &story());
    assert_eq!(result, Ok(()), "{transcript}");
    for expected in [
        // Nothing to page at first.
        "paged 0 records from 0 to 0",
        // The retry of the first batch is acknowledged where it went.
        "topic-a/0: NONE base offset 0",
        "topic-a/0: NONE base offset 3",
        "topic-a/0: NONE base offset 5",
        // The gapped batch is refused.
        "OUT_OF_ORDER_SEQUENCE_NUMBER",
        // 9 records, however small the pages.
        "paged 9 records from 0 to 9",
        "-> topic-a/0 timestamp 1700000004000: NONE offset 1",
        // The second member's stale heartbeat, and the leaver's.
        "ILLEGAL_GENERATION",
        "UNKNOWN_MEMBER_ID",
        "topic-a/0: NONE committed offset 5",
        // The long poll.
        "-> pending\n#3 client 0: Produce",
        "client 2's Fetch v12 (correlation id 1) is answered\n   -> topic-a/0 at 0: high watermark 3, 3 records",
        // A rebalance of two members: the first joiner waits for the second.
        "generation 2 leader session-1-6d656d62-6572-2d69-0000-000000000001 (2 members listed)",
        "client 2's JoinGroup v5 (correlation id 7) is answered",
        "assignment \"session-2-6d656d62-6572-2d69-0000-000000000002@2\"",
        "#24 client 0: Consume",
    ] {
        assert!(transcript.contains(expected), "no {expected:?} in:\n{transcript}");
    }
}

/// The reference broker behind a fault.
struct Faulty {
    inner: ReferenceServer,
    fault: Fault,
}

#[derive(Clone, Copy)]
enum Fault {
    /// Moving the clock restarts the broker with empty logs, as a server
    /// that acknowledged writes it had not made durable.
    LosesDataOnRestart,
    /// Heartbeats are always accepted, whatever the generation.
    AcceptsEveryHeartbeat,
    /// DeleteRecords answers the offset asked for as the new log start,
    /// and deletes nothing.
    DeleteRecordsKeepsRecords,
    /// DeleteTopics answers success and deletes nothing.
    DeleteTopicsKeepsTheLog,
    /// DeleteGroups answers success and deletes nothing.
    DeleteGroupsKeepsTheGroup,
    /// Metadata names a leader that is no broker it lists.
    MetadataNamesAnUnknownLeader,
    /// CreateTopics answers success for a topic that exists.
    CreatesAnExistingTopic,
    /// A request that waits (a long poll, a join) is never answered: a
    /// lost wake-up.
    NeverAnswersAWait,
    /// A Fetch of several partitions answers the last one with records
    /// empty, as a broker that spends one partition's budget twice.
    FetchDropsTheLastPartition,
    /// A Fetch ignores its byte limits and answers everything.
    FetchIgnoresItsLimits,
    /// InitProducerId always answers producer id 7.
    ReusesAProducerId,
    /// ApiVersions leaves out Fetch, which is still answered.
    ApiVersionsLeavesOutFetch,
}

/// A request frame (no size prefix) read with kafka-protocol.
fn read_request<M: Decodable>(frame: &Bytes) -> (RequestHeader, M) {
    let mut buf = frame.clone();
    let api = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).unwrap();
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let header = RequestHeader::decode(&mut buf, api.request_header_version(version)).unwrap();
    (header, M::decode(&mut buf, version).unwrap())
}

fn api_of(header: &RequestHeader) -> ApiKey {
    ApiKey::try_from(header.request_api_key).unwrap()
}

fn write_request<M: Encodable>(header: &RequestHeader, body: &M) -> Bytes {
    let mut frame = BytesMut::new();
    let version = header.request_api_version;
    header
        .encode(&mut frame, api_of(header).request_header_version(version))
        .unwrap();
    body.encode(&mut frame, version).unwrap();
    frame.freeze()
}

/// The response to `header`'s request, size prefix included.
fn write_response<M: Encodable>(header: &RequestHeader, body: &M) -> Bytes {
    let mut frame = BytesMut::new();
    let version = header.request_api_version;
    ResponseHeader::default()
        .with_correlation_id(header.correlation_id)
        .encode(&mut frame, api_of(header).response_header_version(version))
        .unwrap();
    body.encode(&mut frame, version).unwrap();
    [&(frame.len() as u32).to_be_bytes()[..], &frame].concat().into()
}

fn read_response<M: Decodable>(header: &RequestHeader, frame: &Bytes) -> M {
    let mut buf = frame.slice(4..);
    let version = header.request_api_version;
    ResponseHeader::decode(&mut buf, api_of(header).response_header_version(version)).unwrap();
    M::decode(&mut buf, version).unwrap()
}

impl Faulty {
    /// The fault's own answer to `frame`, where it has one.
    fn faulty_answer(&mut self, frame: &Bytes) -> Option<Exchange> {
        let api = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).ok()?;
        match (self.fault, api) {
            (Fault::DeleteRecordsKeepsRecords, ApiKey::DeleteRecords) => {
                let (header, mut request) = read_request::<DeleteRecordsRequest>(frame);
                let asked: Vec<i64> = request
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .map(|p| p.offset)
                    .collect();
                for partition in request.topics.iter_mut().flat_map(|t| &mut t.partitions) {
                    partition.offset = 0;
                }
                let Exchange::Response(answer) = self.inner.handle(write_request(&header, &request)) else {
                    panic!("DeleteRecords is answered");
                };
                let mut response = read_response::<DeleteRecordsResponse>(&header, &answer);
                let partitions = response.topics.iter_mut().flat_map(|t| &mut t.partitions);
                for (partition, asked) in partitions.zip(asked) {
                    partition.low_watermark = asked;
                }
                Some(Exchange::Response(write_response(&header, &response)))
            }
            (Fault::DeleteTopicsKeepsTheLog, ApiKey::DeleteTopics) => {
                let (header, request) = read_request::<DeleteTopicsRequest>(frame);
                let names = request.topic_names.iter().map(|name| Some(name.clone()));
                let results = names
                    .chain(request.topics.iter().map(|topic| topic.name.clone()))
                    .map(|name| DeletableTopicResult::default().with_name(name))
                    .collect();
                let response = DeleteTopicsResponse::default().with_responses(results);
                Some(Exchange::Response(write_response(&header, &response)))
            }
            (Fault::DeleteGroupsKeepsTheGroup, ApiKey::DeleteGroups) => {
                let (header, request) = read_request::<DeleteGroupsRequest>(frame);
                let results = request
                    .groups_names
                    .iter()
                    .map(|group| DeletableGroupResult::default().with_group_id(group.clone()))
                    .collect();
                let response = DeleteGroupsResponse::default().with_results(results);
                Some(Exchange::Response(write_response(&header, &response)))
            }
            (Fault::MetadataNamesAnUnknownLeader, ApiKey::Metadata) => {
                let (header, _) = read_request::<MetadataRequest>(frame);
                let Exchange::Response(answer) = self.inner.handle(frame.clone()) else {
                    panic!("Metadata is answered");
                };
                let mut response = read_response::<MetadataResponse>(&header, &answer);
                for partition in response.topics.iter_mut().flat_map(|t| &mut t.partitions) {
                    partition.leader_id = BrokerId(99);
                }
                Some(Exchange::Response(write_response(&header, &response)))
            }
            (Fault::FetchDropsTheLastPartition, ApiKey::Fetch) => {
                let (header, _) = read_request::<FetchRequest>(frame);
                let Exchange::Response(answer) = self.inner.handle(frame.clone()) else {
                    panic!("a Fetch that does not wait is answered");
                };
                let mut response = read_response::<FetchResponse>(&header, &answer);
                let with_records = response
                    .responses
                    .iter_mut()
                    .flat_map(|t| &mut t.partitions)
                    .filter(|p| p.records.as_ref().is_some_and(|r| !r.is_empty()));
                if let Some(last) = with_records.skip(1).last() {
                    last.records = Some(Bytes::new());
                }
                Some(Exchange::Response(write_response(&header, &response)))
            }
            (Fault::FetchIgnoresItsLimits, ApiKey::Fetch) => {
                let (header, mut request) = read_request::<FetchRequest>(frame);
                request.max_bytes = i32::MAX;
                for partition in request.topics.iter_mut().flat_map(|t| &mut t.partitions) {
                    partition.partition_max_bytes = i32::MAX;
                }
                Some(self.inner.handle(write_request(&header, &request)))
            }
            (Fault::ReusesAProducerId, ApiKey::InitProducerId) => {
                let (header, _) = read_request::<InitProducerIdRequest>(frame);
                let Exchange::Response(answer) = self.inner.handle(frame.clone()) else {
                    panic!("InitProducerId is answered");
                };
                let mut response = read_response::<InitProducerIdResponse>(&header, &answer);
                response.producer_id = 7.into();
                Some(Exchange::Response(write_response(&header, &response)))
            }
            (Fault::ApiVersionsLeavesOutFetch, ApiKey::ApiVersions) => {
                let (header, _) = read_request::<ApiVersionsRequest>(frame);
                let Exchange::Response(answer) = self.inner.handle(frame.clone()) else {
                    panic!("ApiVersions is answered");
                };
                let mut response = read_response::<ApiVersionsResponse>(&header, &answer);
                response.api_keys.retain(|api| api.api_key != ApiKey::Fetch as i16);
                Some(Exchange::Response(write_response(&header, &response)))
            }
            (Fault::CreatesAnExistingTopic, ApiKey::CreateTopics) => {
                let (header, request) = read_request::<CreateTopicsRequest>(frame);
                let results = request
                    .topics
                    .iter()
                    .map(|topic| {
                        CreatableTopicResult::default()
                            .with_name(topic.name.clone())
                            .with_num_partitions(topic.num_partitions)
                    })
                    .collect();
                let response = CreateTopicsResponse::default().with_topics(results);
                Some(Exchange::Response(write_response(&header, &response)))
            }
            _ => None,
        }
    }
}

impl ServerUnderTest for Faulty {
    fn handle(&mut self, frame: Bytes) -> Exchange {
        self.handle_on(0, frame)
    }

    fn handle_on(&mut self, connection: usize, frame: Bytes) -> Exchange {
        if let Some(answer) = self.faulty_answer(&frame) {
            return answer;
        }
        let heartbeat = i16::from_be_bytes([frame[0], frame[1]]) == 12;
        let exchange = self.inner.handle_on(connection, frame.clone());
        match (self.fault, exchange) {
            (Fault::AcceptsEveryHeartbeat, Exchange::Response(response)) if heartbeat => {
                // The error code follows the header and throttle time.
                let mut response = response.to_vec();
                let at = response.len() - 2 - usize::from(frame[3] >= 4);
                response[at..at + 2].copy_from_slice(&0i16.to_be_bytes());
                Exchange::Response(response.into())
            }
            (_, exchange) => exchange,
        }
    }

    fn poll(&mut self, connection: usize) -> Option<Exchange> {
        match self.fault {
            Fault::NeverAnswersAWait => None,
            _ => self.inner.poll(connection),
        }
    }

    fn disconnect(&mut self, connection: usize) {
        self.inner.disconnect(connection);
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    fn advance_clock(&mut self, ms: i64) -> bool {
        if let Fault::LosesDataOnRestart = self.fault {
            self.inner.start_from(session_start_frames());
        }
        self.inner.advance_clock(ms)
    }
}

fn violation_on(fault: Fault, script: &SessionScript) -> (Violation, String) {
    let mut server = Faulty {
        inner: ReferenceServer::default(),
        fault,
    };
    let (result, transcript) = play(&mut server, script);
    (result.expect_err("the fault is caught"), transcript)
}

#[test]
fn a_server_that_loses_acknowledged_records_is_caught() {
    let script = script(&[
        (0, produce(3, ProduceMode::Plain)),
        (1, Operation::AdvanceClock { by: ClockStep::Second }),
        (1, consume(ByteLimit::Default)),
    ]);
    let (violation, transcript) = violation_on(Fault::LosesDataOnRestart, &script);
    assert_eq!(violation.oracle, Oracle::Model, "{violation}");
    assert!(
        violation.detail.starts_with("watermarks at operation #2"),
        "{violation}\n{transcript}"
    );
    assert!(violation.detail.contains("acks=all"), "{violation}");
}

#[test]
fn a_server_that_keeps_deleted_records_is_caught() {
    let script = script(&[
        (0, produce(3, ProduceMode::Plain)),
        (
            1,
            Operation::DeleteRecords {
                of: topic_a(0),
                before: OffsetChoice::Exactly(2),
                version: ANY_VERSION,
            },
        ),
        // v4: no log start in the answer to give the fault away.
        (2, fetch_earliest(VersionChoice(0))),
    ]);
    let (violation, transcript) = violation_on(Fault::DeleteRecordsKeepsRecords, &script);
    assert!(
        violation
            .detail
            .starts_with("topic-lifecycle at operation #2: a fetch of topic-a/0 at offset 0 below its log start 2"),
        "{violation}\n{transcript}"
    );
}

#[test]
fn a_server_that_keeps_a_deleted_topics_log_is_caught() {
    let script = script(&[
        (0, produce(3, ProduceMode::Plain)),
        (
            1,
            Operation::DeleteTopic {
                topic: topic_a(0),
                by_id: false,
                version: ANY_VERSION,
            },
        ),
        (2, fetch_earliest(VersionChoice(8))),
    ]);
    let (violation, transcript) = violation_on(Fault::DeleteTopicsKeepsTheLog, &script);
    assert!(
        violation
            .detail
            .starts_with("watermarks at operation #2: the high watermark of topic-a/0 past the log end"),
        "{violation}\n{transcript}"
    );
}

#[test]
fn a_server_that_keeps_a_deleted_group_is_caught() {
    let group = group();
    let script = script(&[
        (
            0,
            Operation::OffsetCommit {
                group,
                of: topic_a(0),
                offset: OffsetChoice::Exactly(1),
                generation: GenerationChoice::None,
                version: ANY_VERSION,
            },
        ),
        (
            1,
            Operation::DeleteGroup {
                group,
                version: ANY_VERSION,
            },
        ),
        (2, Operation::ListGroups { version: ANY_VERSION }),
    ]);
    let (violation, transcript) = violation_on(Fault::DeleteGroupsKeepsTheGroup, &script);
    assert!(
        violation
            .detail
            .starts_with("groups-listed at operation #2: group group-1 in ListGroups"),
        "{violation}\n{transcript}"
    );
}

#[test]
fn a_server_whose_metadata_names_an_unknown_leader_is_caught() {
    let script = script(&[(
        0,
        Operation::Metadata {
            topic: Some(topic_a(0)),
            allow_auto_create: false,
            version: ANY_VERSION,
        },
    )]);
    let (violation, transcript) = violation_on(Fault::MetadataNamesAnUnknownLeader, &script);
    assert!(
        violation
            .detail
            .starts_with("metadata-agrees at operation #0: the leader of topic-a/0"),
        "{violation}\n{transcript}"
    );
}

#[test]
fn a_server_that_creates_an_existing_topic_again_is_caught() {
    let script = script(&[(
        1,
        Operation::CreateTopic {
            topic: topic_a(0),
            partitions: 0,
            version: ANY_VERSION,
        },
    )]);
    let (violation, transcript) = violation_on(Fault::CreatesAnExistingTopic, &script);
    assert!(
        violation.detail.starts_with(
            "metadata-agrees at operation #0: CreateTopics of topic-a, which exists: expected TOPIC_ALREADY_EXISTS"
        ),
        "{violation}\n{transcript}"
    );
}

/// Plays a written seed of `corpus/session/`, which must run clean, and
/// returns its transcript.
fn play_written_seed(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/session").join(name);
    let data = std::fs::read(&path).unwrap();
    let mut transcript = Vec::new();
    let result = play_session(&mut ReferenceServer::default(), &data, Some(&mut transcript));
    let transcript = String::from_utf8(transcript).unwrap();
    assert_eq!(result, Ok(()), "{transcript}");
    transcript
}

#[test]
fn a_producers_long_history_runs_clean_and_reads_as_a_transcript() {
    let transcript = play_written_seed("written-log-life");
    for expected in [
        // The long poll waits for the first batch.
        "-> pending",
        "Repeat { times: 5 }",
        ", 6 of 6",
        // Its oldest batch again, after seven newer ones: refused.
        "OUT_OF_ORDER_SEQUENCE_NUMBER",
        "FetchMany { partitions: {topic-a/0, topic-a/1, topic-a/2, topic-a/3, topic-b/0}",
        "-> topic-a/3: UNKNOWN_TOPIC_OR_PARTITION",
    ] {
        assert!(transcript.contains(expected), "no {expected:?} in:\n{transcript}");
    }
}

#[test]
fn an_admins_day_runs_clean_and_reads_as_a_transcript() {
    let transcript = play_written_seed("written-admin-life");
    for expected in [
        "-> NONE 29 APIs listed",
        "-> topic-a/0 below 2: NONE low watermark 2",
        "-> topic-a/0 at 0: OffsetOutOfRange",
        "-> NONE: [group-1]",
        "-> topic-a/0: NONE committed offset -1",
        "-> delete group-1: NONE",
        // Thirty seconds of retention, a minute later: both records gone.
        "-> topic-b/0 timestamp -2: NONE offset 2",
        "-> topic-b to 3 partitions: NONE",
        "-> topic-b/2: NONE base offset 0",
        "-> 1 topics: topic-b NONE 3 partitions",
        "DeleteTopics v6",
        "-> delete topic-b: NONE",
        // Created again: empty.
        "-> topic-b/0 at 0: high watermark 0, 0 records",
    ] {
        assert!(transcript.contains(expected), "no {expected:?} in:\n{transcript}");
    }
}

#[test]
fn a_server_that_accepts_a_stale_generation_is_caught() {
    let script = script(&[
        (1, join(SessionTimeout::Shortest)),
        (2, join(SessionTimeout::Shortest)),
        (1, join(SessionTimeout::Shortest)),
        (2, heartbeat(GenerationChoice::Previous)),
    ]);
    let (violation, transcript) = violation_on(Fault::AcceptsEveryHeartbeat, &script);
    assert!(
        violation.detail.starts_with("current-generation at operation #3"),
        "{violation}\n{transcript}"
    );
}

#[test]
fn generated_scripts_run_clean_and_every_request_encodes() {
    let mut server = ReferenceServer::default();
    for seed in 0..300u64 {
        let data = seeded_bytes(0x5e55_0000 + seed, 64 + (seed as usize * 13) % 2048);
        let mut transcript = Vec::new();
        let result = play_session(&mut server, &data, Some(&mut transcript));
        let transcript = String::from_utf8(transcript).unwrap();
        assert_eq!(result, Ok(()), "seed {seed}:\n{transcript}");
        assert!(!transcript.contains("not sent"), "seed {seed}:\n{transcript}");
    }
}

// Bugs the first `session` campaigns found in the session itself, each
// the script that shows it. (Their crash files were sessions of more steps
// than a script holds now; these scripts are the orderings that made them
// fail.) Each is also a regression input, corpus/regressions/session/NAME,
// which must read as the script: `KAFKA_FUZZ_BLESS=1 cargo test --test
// session` writes the files anew after a change to the script format.

fn produce_as(acks: Acks, codec: u8, mode: ProduceMode, version: VersionChoice) -> Operation {
    Operation::Produce(Production {
        to: topic_a(0),
        acks,
        records: 1,
        codec,
        mode,
        version,
    })
}

const ZSTD: u8 = 4;
const PRODUCE_V6: VersionChoice = VersionChoice(3);
const PRODUCE_V9: VersionChoice = VersionChoice(6);

fn long_poll() -> Operation {
    Operation::Fetch {
        from: topic_a(0),
        offset: OffsetChoice::Earliest,
        max_bytes: ByteLimit::Default,
        partition_max_bytes: ByteLimit::Default,
        wait: true,
        version: VersionChoice(8), // v12: names topics
    }
}

fn join_version(version: u8) -> Operation {
    Operation::JoinGroup {
        group: group(),
        session_timeout: SessionTimeout::Shortest,
        version: VersionChoice(version),
    }
}

fn regression_runs_clean(name: &str, steps: &[(usize, Operation)], expected: &[&str]) {
    let script = script(steps);
    let mut bytes = Vec::new();
    script.write_bytes(&mut bytes);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/regressions/session")
        .join(name);
    if std::env::var_os("KAFKA_FUZZ_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(committed == bytes, "{} does not read as its script", path.display());
    let (result, transcript) = play(&mut ReferenceServer::default(), &script);
    assert_eq!(result, Ok(()), "{transcript}");
    for expected in expected {
        assert!(transcript.contains(expected), "no {expected:?} in:\n{transcript}");
    }
}

#[test]
fn a_join_that_waits_is_not_sent_again() {
    // Client 1's rejoin after MEMBER_ID_REQUIRED waits for client 0; after a
    // disconnect, its next join (v0, no member id needed) waits too and must
    // not be followed by another: one connection, one request at a time.
    regression_runs_clean(
        "second-join-sent-while-the-first-waits",
        &[
            (0, join_version(5)),
            (1, join_version(5)),
            (1, Operation::Disconnect),
            (1, join_version(0)),
            (2, produce(1, ProduceMode::Plain)),
        ],
        &[
            "JoinGroup v0 (correlation id 3)\n   -> pending\n#4",
            "client 1's JoinGroup v0 (correlation id 3) is answered",
        ],
    );
}

#[test]
fn a_damaged_request_the_server_parks_keeps_its_connection_busy() {
    // A byte after the body: still a long poll, which the server parks.
    let damaged = Operation::Malformed {
        request: Box::new(long_poll()),
        malformation: Malformation::Extend { bytes: vec![0] },
    };
    regression_runs_clean(
        "damaged-long-poll-parked",
        &[(1, damaged), (1, long_poll()), (0, produce(2, ProduceMode::Plain))],
        &[
            "(skipped: the connection waits for its Fetch answer)",
            "client 1's Fetch v12 (correlation id 1) is answered",
        ],
    );
}

#[test]
fn a_damaged_request_may_wait_past_the_drain() {
    // The api key corrupted to 1: the DeleteTopics frame now reads as a
    // Fetch whose max wait is whatever bytes stand there, hours past the
    // final drain. Its deadline is unknown, so liveness does not judge it.
    let damaged = Operation::Malformed {
        request: Box::new(Operation::DeleteTopic {
            topic: PartitionChoice { topic: 1, partition: 3 },
            by_id: true,
            version: VersionChoice(59),
        }),
        malformation: Malformation::CorruptInt {
            at: 0,
            value: HostileInt::I16(1),
        },
    };
    regression_runs_clean(
        "damaged-request-waits-past-the-drain",
        &[(1, damaged)],
        &["-> pending", "the clock moves 1800000 ms"],
    );
}

#[test]
fn a_retry_is_answered_where_an_unacknowledged_copy_went() {
    // The first copy goes with acks=0 (a new producer may start at any
    // sequence); the retry, acks=all, is a duplicate of it at offset 0.
    regression_runs_clean(
        "retry-answered-where-an-unacknowledged-copy-went",
        &[
            (0, produce_as(Acks::None, 0, ProduceMode::GappedSequence(0), PRODUCE_V9)),
            (0, produce_as(Acks::All, 0, ProduceMode::Retry(0), PRODUCE_V9)),
            (1, consume(ByteLimit::Default)),
        ],
        &["topic-a/0: NONE base offset 0", "paged 2 records from 0 to 2"],
    );
}

#[test]
fn a_retry_of_a_batch_retention_removed_is_still_a_duplicate() {
    // Found by the first session campaign with admin operations: with
    // retention.ms 0 and the clock a minute on, both batches expire; Kafka
    // keeps the producer's state, so the retry of the first is answered
    // where it went, not written again (the broker rebuilt producer
    // states from the batches left, and forgot the producer).
    let retention = Operation::AlterConfig {
        topic: topic_a(0),
        change: ConfigChange::RetentionSeconds(0),
        incremental: true,
        version: ANY_VERSION,
    };
    regression_runs_clean(
        "retention-forgets-the-producer",
        &[
            (2, retention),
            (2, Operation::AdvanceClock { by: ClockStep::Minute }),
            (0, produce_as(Acks::All, 0, ProduceMode::Idempotent, PRODUCE_V9)),
            (0, produce_as(Acks::All, 0, ProduceMode::Idempotent, PRODUCE_V9)),
            (0, produce_as(Acks::All, 0, ProduceMode::Retry(1), PRODUCE_V9)),
            (1, fetch_earliest(VersionChoice(8))),
        ],
        &["#4 client 0: Produce", "topic-a/0: NONE base offset 0\n#5"],
    );
}

#[test]
fn a_damaged_deletion_does_not_make_the_model_forget_what_was_sent() {
    // Found by the session campaign with admin operations: a damaged
    // DeleteTopics may have deleted anything, and the model forgot every
    // log, with which batches were sent: the retry of one sent with acks=0
    // was answered where that copy went and looked like a new batch
    // written below others.
    let damaged = Operation::Malformed {
        request: Box::new(Operation::DeleteTopic {
            topic: PartitionChoice { topic: 2, partition: 0 },
            by_id: false,
            version: ANY_VERSION,
        }),
        malformation: Malformation::Truncate { at: 20 },
    };
    regression_runs_clean(
        "damaged-deletion-forgets-sent-batches",
        &[
            (0, produce_as(Acks::None, 0, ProduceMode::Idempotent, PRODUCE_V9)),
            (2, damaged),
            (1, produce_as(Acks::All, 0, ProduceMode::Plain, PRODUCE_V9)),
            (0, produce_as(Acks::All, 0, ProduceMode::Retry(0), PRODUCE_V9)),
        ],
        &[
            "topic-a/0: NONE base offset 2",
            "#3 client 0: Produce",
            "topic-a/0: NONE base offset 0",
        ],
    );
}

#[test]
fn a_refused_batch_does_not_lend_its_sequence_to_other_records() {
    // zstd before Produce v7 is refused; a retry at v9 with acks=0 writes it;
    // the producer's next batch must not reuse its sequence.
    regression_runs_clean(
        "refused-batch-sequence-reused",
        &[
            (0, produce_as(Acks::All, ZSTD, ProduceMode::Idempotent, PRODUCE_V6)),
            (0, produce_as(Acks::None, ZSTD, ProduceMode::Retry(0), PRODUCE_V9)),
            (0, produce_as(Acks::All, 0, ProduceMode::Idempotent, PRODUCE_V9)),
            (1, consume(ByteLimit::Default)),
        ],
        &[
            "UNSUPPORTED_COMPRESSION_TYPE",
            "topic-a/0: NONE base offset 2",
            "paged 4 records from 0 to 4",
        ],
    );
}

#[test]
fn a_damaged_produce_spends_its_sequences() {
    // A byte after a complete body is ignored, as Kafka ignores it: the
    // damaged produce is written, and the next batch must follow it.
    let damaged = Operation::Malformed {
        request: Box::new(produce_as(Acks::All, 0, ProduceMode::Idempotent, PRODUCE_V9)),
        malformation: Malformation::Extend { bytes: vec![0] },
    };
    let init = Operation::InitProducerId {
        transactional: false,
        version: ANY_VERSION,
    };
    regression_runs_clean(
        "damaged-produce-sequence-reused",
        &[
            (0, init),
            (0, damaged),
            (0, produce_as(Acks::All, 0, ProduceMode::Idempotent, PRODUCE_V9)),
            (1, consume(ByteLimit::Default)),
        ],
        &["topic-a/0: NONE base offset 2", "paged 4 records from 0 to 4"],
    );
}

#[test]
fn a_server_that_never_answers_a_long_poll_is_caught() {
    let long_poll = Operation::Fetch {
        from: topic_a(0),
        offset: OffsetChoice::HighWatermark,
        max_bytes: ByteLimit::Default,
        partition_max_bytes: ByteLimit::Default,
        wait: true,
        version: VersionChoice(8), // v12: names topics
    };
    let script = script(&[(0, long_poll)]);
    // The reference answers the long poll once its max wait runs out.
    let (result, transcript) = play(&mut ReferenceServer::default(), &script);
    assert!(result.is_ok(), "{result:?}\n{transcript}");
    assert!(transcript.contains("-> pending"), "{transcript}");
    let (violation, transcript) = violation_on(Fault::NeverAnswersAWait, &script);
    assert!(
        violation
            .detail
            .starts_with("liveness at operation #1: client 0's Fetch v12 (correlation id"),
        "{violation}\n{transcript}"
    );
}

#[test]
fn a_repeat_step_builds_a_producer_history_longer_than_the_broker_remembers() {
    let script = script(&[
        (0, produce(1, ProduceMode::Idempotent)),
        (0, Operation::Repeat { times: 6 }),
        // The first of its eight batches: past the five Kafka remembers.
        (0, produce(1, ProduceMode::Retry(7))),
        (1, consume(ByteLimit::Default)),
    ]);
    let (result, transcript) = play(&mut ReferenceServer::default(), &script);
    assert!(result.is_ok(), "{result:?}\n{transcript}");
    assert_eq!(transcript.matches("Produce v9").count(), 9, "{transcript}");
    assert!(transcript.contains("Produce(Production"), "{transcript}");
    assert!(transcript.contains(", 7 of 7"), "{transcript}");
    assert!(transcript.contains("OUT_OF_ORDER_SEQUENCE_NUMBER"), "{transcript}");
    assert!(transcript.contains("paged 8 records from 0 to 8"), "{transcript}");
}

/// topic-a/0 (bit 0), topic-a/1 (bit 1) and topic-b/0 (bit 4).
const THREE_PARTITIONS: PartitionSet = PartitionSet(0b1_0011);

fn fetch_many(limit: ByteLimit, version: VersionChoice) -> Operation {
    Operation::FetchMany {
        partitions: THREE_PARTITIONS,
        offset: OffsetChoice::Earliest,
        max_bytes: limit,
        partition_max_bytes: limit,
        version,
    }
}

/// Three partitions written, then fetched together at both versions that
/// name topics, with room and with limits that bind.
fn three_partitions_fetched() -> SessionScript {
    let topic_b = PartitionChoice { topic: 1, partition: 0 };
    script(&[
        (0, produce_to(topic_a(0), 3, ProduceMode::Plain)),
        (0, produce_to(topic_a(1), 2, ProduceMode::Plain)),
        (1, produce_to(topic_b, 4, ProduceMode::Plain)),
        (2, fetch_many(ByteLimit::Default, VersionChoice(8))),
        (2, fetch_many(ByteLimit::Small, VersionChoice(8))),
        (2, fetch_many(ByteLimit::Medium, VersionChoice(3))),
    ])
}

#[test]
fn a_fetch_of_several_partitions_runs_clean_and_reads_as_a_transcript() {
    let (result, transcript) = play(&mut ReferenceServer::default(), &three_partitions_fetched());
    assert!(result.is_ok(), "{result:?}\n{transcript}");
    for expected in [
        "FetchMany { partitions: {topic-a/0, topic-a/1, topic-b/0}",
        "-> topic-a/0 at 0: high watermark 3, 3 records",
        "-> topic-a/1 at 0: high watermark 2, 2 records",
        "-> topic-b/0 at 0: high watermark 4, 4 records",
        // 40 bytes: the first partition's first batch only (KIP-74).
        "-> topic-a/1 at 0: high watermark 2, 0 records",
    ] {
        assert!(transcript.contains(expected), "no {expected:?} in:\n{transcript}");
    }
}

#[test]
fn a_server_that_drops_one_partitions_records_from_a_fetch_is_caught() {
    let (violation, transcript) = violation_on(Fault::FetchDropsTheLastPartition, &three_partitions_fetched());
    assert!(
        violation
            .detail
            .starts_with("fetch-limits at operation #3: topic-b/0 at 0, below its high watermark, with 1048"),
        "{violation}\n{transcript}"
    );
}

#[test]
fn a_server_that_ignores_a_fetchs_byte_limits_is_caught() {
    let (violation, transcript) = violation_on(Fault::FetchIgnoresItsLimits, &three_partitions_fetched());
    assert!(
        violation.detail.starts_with(
            "fetch-limits at operation #4: the records of topic-a/1 at 0 (max_bytes 40, partition_max_bytes 40): expected at most 0 bytes"
        ),
        "{violation}\n{transcript}"
    );
}

/// The inputs libFuzzer first found for each planted broker bug
/// (`scripts/planted-bench.sh --keep tests/fixtures`): each breaks a
/// guarantee with its bug planted and none without, so the oracles keep
/// catching what they are for.
#[cfg(feature = "planted-bugs")]
mod planted {
    use kafka_fuzz::server::planted::{PlantedBug, plant};

    use super::*;

    #[test]
    fn each_planted_broker_bug_is_caught_by_the_input_found_for_it() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/planted-session");
        let bugs = PlantedBug::ALL.iter().filter(|bug| bug.targets().contains(&"session"));
        for &bug in bugs {
            let input = fixtures.join(bug.name()).join("first-crash");
            let data = std::fs::read(&input).unwrap_or_else(|error| panic!("{}: {error}", input.display()));
            plant(None);
            let clean = play_session(&mut ReferenceServer::default(), &data, None);
            assert_eq!(
                clean,
                Ok(()),
                "{} breaks a guarantee with no bug planted",
                input.display()
            );
            // As the fuzz binary runs: the bug planted before the server starts.
            plant(Some(bug));
            let caught = play_session(&mut ReferenceServer::default(), &data, None);
            plant(None);
            assert!(caught.is_err(), "{}: {} not caught", input.display(), bug.name());
        }
    }
}

#[test]
fn a_server_that_hands_out_a_producer_id_twice_is_caught() {
    let init = |transactional| Operation::InitProducerId {
        transactional,
        version: ANY_VERSION,
    };
    let script = script(&[(0, init(false)), (1, init(false)), (2, init(true)), (2, init(true))]);
    let (result, transcript) = play(&mut ReferenceServer::default(), &script);
    assert!(result.is_ok(), "{result:?}\n{transcript}");
    let (violation, transcript) = violation_on(Fault::ReusesAProducerId, &script);
    assert!(
        violation.detail.starts_with(
            "producer-ids at operation #1: InitProducerId for a producer without a transactional id: expected a producer id never handed out before, got producer 7"
        ),
        "{violation}\n{transcript}"
    );
}

#[test]
fn a_server_that_answers_what_api_versions_leaves_out_is_caught() {
    let script = script(&[
        (0, Operation::ApiVersions { version: ANY_VERSION }),
        (1, fetch_earliest(VersionChoice(8))),
    ]);
    let (result, transcript) = play(&mut ReferenceServer::default(), &script);
    assert!(result.is_ok(), "{result:?}\n{transcript}");
    assert!(transcript.contains("-> NONE"), "{transcript}");
    let (violation, transcript) = violation_on(Fault::ApiVersionsLeavesOutFetch, &script);
    assert!(
        violation
            .detail
            .starts_with("versions-listed at operation #1: Fetch v12, not listed by ApiVersions: expected a refusal"),
        "{violation}\n{transcript}"
    );
}
