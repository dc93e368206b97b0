//! The broker's rules, each through the wire: requests encoded with
//! `kafka-protocol`, answered by the in-process dispatcher, responses decoded.

use bytes::Bytes;
use kafka_fuzz::harness::client::Client;
use kafka_fuzz::harness::input::{ProducerFields, encode_entries, to_protocol_records};
use kafka_fuzz::server::broker::{Broker, BrokerConfig, DispatchError, ManualClock, Reply};
use kafka_fuzz::server::wire::{BatchLimits, Codec, DecodeErrorKind, decode_record_batches};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};

const START_MS: i64 = 1_700_000_000_000;
const TOPIC: &str = "orders";

// Error codes, as Kafka numbers them.
const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC: i16 = 17;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_REQUEST: i16 = 42;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const MEMBER_ID_REQUIRED: i16 = 79;

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

/// A broker on a manual clock, a client, and typed helpers.
struct Harness {
    broker: Broker,
    clock: ManualClock,
    client: Client,
}

fn batch(values: &[&str], producer: Option<ProducerFields>, codec: Codec) -> Bytes {
    let entries: Vec<_> = values
        .iter()
        .map(|value| (None, Some(Bytes::copy_from_slice(value.as_bytes()))))
        .collect();
    encode_entries(&entries, producer, START_MS, codec).unwrap()
}

/// (offset, value) of every record in fetched bytes.
fn records_of(bytes: &Bytes) -> Vec<(i64, String)> {
    decode_record_batches(bytes.clone(), BatchLimits::default())
        .unwrap()
        .iter()
        .flat_map(to_protocol_records)
        .map(|r| (r.offset, String::from_utf8(r.value.unwrap().to_vec()).unwrap()))
        .collect()
}

impl Harness {
    fn new() -> Self {
        Self::with(BrokerConfig::default())
    }

    fn with(config: BrokerConfig) -> Self {
        let clock = ManualClock::new(START_MS);
        Self {
            broker: Broker::new(config, clock.clone()),
            clock,
            client: Client::new("test-client"),
        }
    }

    fn call<R: Request + Into<RequestKind>>(&mut self, version: i16, request: R) -> R::Response {
        self.client.call(&mut self.broker, version, request).unwrap()
    }

    /// Sends without resolving waits: the reply as the TCP server sees it.
    fn receive<R: Request + Into<RequestKind>>(&mut self, version: i16, request: R) -> (i32, Reply) {
        let (correlation_id, frame) = self.client.request(version, request).unwrap();
        (correlation_id, self.broker.receive(frame.slice(4..)).unwrap())
    }

    fn create_topic(&mut self, name: &str, partitions: i32) {
        let request = CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
        assert_eq!(self.call(7, request).topics[0].error_code, NONE);
    }

    fn produce_to(&mut self, partition: i32, records: Bytes) -> produce_response::PartitionProduceResponse {
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(records)),
                    ]),
            ]);
        let response = self.call(9, request);
        response.responses[0].partition_responses[0].clone()
    }

    fn produce(&mut self, values: &[&str], producer: Option<ProducerFields>) -> (i16, i64) {
        let result = self.produce_to(0, batch(values, producer, Codec::None));
        (result.error_code, result.base_offset)
    }

    fn fetch_request(offset: i64, max_bytes: i32, partition_max_bytes: i32) -> FetchRequest {
        FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(max_bytes)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(s(TOPIC)))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(partition_max_bytes),
                    ]),
            ])
    }

    fn fetch(&mut self, offset: i64, max_bytes: i32, partition_max_bytes: i32) -> fetch_response::PartitionData {
        let response = self.call(12, Self::fetch_request(offset, max_bytes, partition_max_bytes));
        assert_eq!(response.error_code, NONE);
        response.responses[0].partitions[0].clone()
    }

    fn list_offset(&mut self, timestamp: i64) -> (i16, i64, i64) {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(timestamp)]),
            ]);
        let partition = self.call(7, request).topics[0].partitions[0].clone();
        (partition.error_code, partition.offset, partition.timestamp)
    }
}

#[test]
fn offsets_are_assigned_per_partition_and_watermarks_follow() {
    let mut h = Harness::new();
    h.create_topic(TOPIC, 2);
    assert_eq!(h.produce(&["a", "b"], None), (NONE, 0));
    assert_eq!(h.produce(&["c", "d", "e"], None), (NONE, 2));
    let other = h.produce_to(1, batch(&["x"], None, Codec::Gzip));
    assert_eq!((other.error_code, other.base_offset), (NONE, 0));
    assert_eq!(h.produce(&["f"], None), (NONE, 5));
    let data = h.fetch(0, 1 << 20, 1 << 20);
    assert_eq!(
        (data.high_watermark, data.last_stable_offset, data.log_start_offset),
        (6, 6, 0)
    );
    let values: Vec<_> = records_of(data.records.as_ref().unwrap());
    let expected: Vec<_> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v.to_string()))
        .collect();
    assert_eq!(values, expected);
    assert_eq!(h.list_offset(-1), (NONE, 6, -1));
    assert_eq!(h.list_offset(-2), (NONE, 0, -1));
}

#[test]
fn fetch_positions_at_the_edges_of_the_log() {
    let mut h = Harness::new();
    h.produce(&["a", "b", "c"], None);
    h.produce(&["d"], None);
    // Inside a batch: the whole batch comes back, the client skips ahead.
    let offsets: Vec<i64> = records_of(h.fetch(1, 1 << 20, 1 << 20).records.as_ref().unwrap())
        .into_iter()
        .map(|(offset, _)| offset)
        .collect();
    assert_eq!(offsets, [0, 1, 2, 3]);
    // At the log end: nothing, no error.
    let at_end = h.fetch(4, 1 << 20, 1 << 20);
    assert_eq!((at_end.error_code, at_end.records.unwrap().len()), (NONE, 0));
    for beyond in [5, -1, i64::MAX] {
        let data = h.fetch(beyond, 1 << 20, 1 << 20);
        assert_eq!(data.error_code, OFFSET_OUT_OF_RANGE, "offset {beyond}");
        assert_eq!(data.high_watermark, -1);
    }
}

#[test]
fn paging_with_any_max_bytes_returns_every_record_once_in_order() {
    let mut h = Harness::new();
    let mut expected = Vec::new();
    for b in 0..40 {
        let values: Vec<String> = (0..1 + b % 7)
            .map(|i| format!("v{b}-{i}-{}", "x".repeat(b * 3)))
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        h.produce(&refs, None);
        expected.extend(values);
    }
    for (max_bytes, partition_max_bytes) in [
        (1, 1_048_576),
        (1_048_576, 1),
        (0, 0),
        (100, 300),
        (4096, 1000),
        (i32::MAX, i32::MAX),
    ] {
        let mut position = 0;
        let mut seen = Vec::new();
        for _ in 0..1000 {
            let data = h.fetch(position, max_bytes, partition_max_bytes);
            assert_eq!(data.error_code, NONE);
            let records = records_of(data.records.as_ref().unwrap());
            // The first batch comes back even when larger than the limits.
            assert!(!records.is_empty() || position == data.high_watermark);
            for (offset, value) in records {
                if offset >= position {
                    seen.push(value);
                    position = offset + 1;
                }
            }
            if position == data.high_watermark {
                break;
            }
        }
        assert_eq!(
            seen, expected,
            "max_bytes {max_bytes}, partition_max_bytes {partition_max_bytes}"
        );
    }
}

#[test]
fn fetch_limits_apply_to_whole_batches() {
    let mut h = Harness::new();
    let first = batch(&["aaaa"], None, Codec::None).len() as i32;
    for _ in 0..5 {
        h.produce(&["aaaa"], None);
    }
    for (limit, batches) in [(first - 1, 1), (first, 1), (first * 2 + 1, 2), (first * 5, 5)] {
        let data = h.fetch(0, limit, i32::MAX);
        assert_eq!(
            records_of(data.records.as_ref().unwrap()).len(),
            batches,
            "max_bytes {limit}"
        );
        let data = h.fetch(0, i32::MAX, limit);
        assert_eq!(
            records_of(data.records.as_ref().unwrap()).len(),
            batches,
            "partition_max_bytes {limit}"
        );
    }
}

#[test]
fn idempotent_retries_are_acknowledged_once() {
    let mut h = Harness::new();
    let producer = h.call(4, InitProducerIdRequest::default().with_transactional_id(None));
    let id = producer.producer_id.0;
    assert_eq!((producer.error_code, producer.producer_epoch), (NONE, 0));
    assert_eq!(h.produce(&["a", "b"], Some((id, 0, 0))), (NONE, 0));
    assert_eq!(h.produce(&["c"], Some((id, 0, 2))), (NONE, 2));
    // A retry of either batch: its original offset, nothing appended.
    assert_eq!(h.produce(&["a", "b"], Some((id, 0, 0))), (NONE, 0));
    assert_eq!(h.produce(&["c"], Some((id, 0, 2))), (NONE, 2));
    assert_eq!(h.fetch(0, 1 << 20, 1 << 20).high_watermark, 3);
    // A gap, and a batch from before the remembered ones.
    assert_eq!(h.produce(&["e"], Some((id, 0, 4))).0, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(h.produce(&["b"], Some((id, 0, 1))).0, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(h.produce(&["d"], Some((id, 0, 3))), (NONE, 3));
    // A new epoch starts at 0; the old one is fenced from then on.
    assert_eq!(h.produce(&["x"], Some((id, 1, 5))).0, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(h.produce(&["x"], Some((id, 1, 0))), (NONE, 4));
    assert_eq!(h.produce(&["y"], Some((id, 0, 4))).0, INVALID_PRODUCER_EPOCH);
    // Another producer's sequences are its own.
    let other = h
        .call(4, InitProducerIdRequest::default().with_transactional_id(None))
        .producer_id
        .0;
    assert_ne!(other, id);
    assert_eq!(h.produce(&["z"], Some((other, 0, 0))), (NONE, 5));
    assert_eq!(h.fetch(0, 1 << 20, 1 << 20).high_watermark, 6);
}

#[test]
fn transactional_ids_keep_their_producer_id_and_bump_the_epoch() {
    let mut h = Harness::new();
    let init = |epoch: Option<(i64, i16)>| {
        let mut request = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s("tx-1"))))
            .with_transaction_timeout_ms(60_000);
        if let Some((id, epoch)) = epoch {
            request = request.with_producer_id(ProducerId(id)).with_producer_epoch(epoch);
        }
        request
    };
    let first = h.call(4, init(None));
    let second = h.call(4, init(None));
    assert_eq!(first.producer_id, second.producer_id);
    assert_eq!((first.producer_epoch, second.producer_epoch), (0, 1));
    // Naming a stale epoch is fenced (PRODUCER_FENCED).
    let stale = h.call(4, init(Some((first.producer_id.0, 0))));
    assert_eq!(stale.error_code, 90);
    let timeout = h.call(4, init(None).with_transaction_timeout_ms(0));
    assert_eq!(timeout.error_code, 50);
}

#[test]
fn produce_rejects_what_kafka_rejects() {
    let mut h = Harness::new();
    let mut two_batches = batch(&["a"], None, Codec::None).to_vec();
    two_batches.extend_from_slice(&batch(&["b"], None, Codec::None));
    let mut corrupt = batch(&["a"], None, Codec::None).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    for (records, code) in [
        (Bytes::from(two_batches), 87),
        (Bytes::from(corrupt), 2),
        (Bytes::new(), 87),
    ] {
        assert_eq!(h.produce_to(0, records).error_code, code);
    }
    assert_eq!(
        h.produce_to(7, batch(&["a"], None, Codec::None)).error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    // zstd needs produce v7.
    let request = ProduceRequest::default().with_acks(1).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default().with_records(Some(batch(
                &["z"],
                None,
                Codec::Zstd,
            )))]),
    ]);
    assert_eq!(
        h.call(6, request.clone()).responses[0].partition_responses[0].error_code,
        76
    );
    assert_eq!(
        h.call(7, request.clone()).responses[0].partition_responses[0].error_code,
        NONE
    );
    // acks=0: no response; a failure closes the connection instead.
    let (_, frame) = h.client.request(7, request.clone().with_acks(0)).unwrap();
    assert!(h.broker.handle(frame.slice(4..)).unwrap().is_none());
    let bad = request.with_acks(0).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(9)
                    .with_records(Some(batch(&["z"], None, Codec::None))),
            ]),
    ]);
    let (correlation_id, frame) = h.client.request(7, bad).unwrap();
    match h.broker.handle(frame.slice(4..)) {
        Err(DispatchError::UnacknowledgedProduceFailed { correlation_id: c, .. }) => assert_eq!(c, correlation_id),
        other => panic!("{other:?}"),
    }
    let invalid_acks = ProduceRequest::default().with_acks(2).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default().with_records(Some(batch(
                &["z"],
                None,
                Codec::None,
            )))]),
    ]);
    assert_eq!(
        h.call(7, invalid_acks).responses[0].partition_responses[0].error_code,
        21
    );
}

#[test]
fn list_offsets_by_timestamp() {
    let mut h = Harness::new();
    // Record i of a batch has timestamp START_MS + 1000 i.
    h.produce(&["a", "b", "c"], None);
    h.produce(&["d", "e"], None);
    assert_eq!(h.list_offset(START_MS), (NONE, 0, START_MS));
    assert_eq!(h.list_offset(START_MS + 1), (NONE, 1, START_MS + 1000));
    assert_eq!(h.list_offset(START_MS + 1500), (NONE, 2, START_MS + 2000));
    assert_eq!(h.list_offset(START_MS + 2001), (NONE, -1, -1));
    // Max timestamp: the first record that has it.
    assert_eq!(h.list_offset(-3), (NONE, 2, START_MS + 2000));
    let unknown = ListOffsetsRequest::default().with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(TopicName(s("nope")))
            .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)]),
    ]);
    assert_eq!(
        h.call(7, unknown).topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let twice = ListOffsetsRequest::default().with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![ListOffsetsPartition::default(), ListOffsetsPartition::default()]),
    ]);
    let response = h.call(7, twice);
    assert!(
        response.topics[0]
            .partitions
            .iter()
            .all(|p| p.error_code == INVALID_REQUEST)
    );
}

#[test]
fn fetch_waits_for_min_bytes_until_data_or_deadline() {
    let mut h = Harness::new();
    h.create_topic(TOPIC, 1);
    let request = Harness::fetch_request(0, 1 << 20, 1 << 20)
        .with_max_wait_ms(500)
        .with_min_bytes(1);
    let (correlation_id, reply) = h.receive(12, request.clone());
    let Reply::Parked(parked) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(parked.deadline_ms(), START_MS + 500);
    // Nothing changed: still waiting.
    let Reply::Parked(parked) = h.broker.resume(parked).unwrap() else {
        panic!()
    };
    h.produce(&["late"], None);
    let Reply::Response(frame) = h.broker.resume(parked).unwrap() else {
        panic!()
    };
    let response = Client::response::<FetchRequest>(12, correlation_id, &frame).unwrap();
    assert_eq!(
        records_of(response.responses[0].partitions[0].records.as_ref().unwrap()).len(),
        1
    );
    // With nothing new, the deadline answers, empty.
    let (correlation_id, reply) = h.receive(
        12,
        request.with_topics(Harness::fetch_request(1, 1 << 20, 1 << 20).topics),
    );
    let Reply::Parked(parked) = reply else { panic!() };
    h.clock.advance(500);
    let Reply::Response(frame) = h.broker.resume(parked).unwrap() else {
        panic!()
    };
    let response = Client::response::<FetchRequest>(12, correlation_id, &frame).unwrap();
    assert_eq!(response.responses[0].partitions[0].records.as_ref().unwrap().len(), 0);
}

fn join_request(member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s("group")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"m")),
        ])
}

fn heartbeat(h: &mut Harness, member_id: &StrBytes, generation: i32) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(GroupId(s("group")))
        .with_member_id(member_id.clone())
        .with_generation_id(generation);
    h.call(4, request).error_code
}

fn sync(
    h: &mut Harness,
    member_id: &StrBytes,
    generation: i32,
    assignments: &[(&StrBytes, &'static [u8])],
) -> (i16, Bytes) {
    let request = SyncGroupRequest::default()
        .with_group_id(GroupId(s("group")))
        .with_member_id(member_id.clone())
        .with_generation_id(generation)
        .with_assignments(
            assignments
                .iter()
                .map(|(id, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id((*id).clone())
                        .with_assignment(Bytes::from_static(a))
                })
                .collect(),
        );
    let response = h.call(5, request);
    (response.error_code, response.assignment)
}

/// Joins a new member through the MEMBER_ID_REQUIRED round trip (v5).
fn join_new_member(h: &mut Harness) -> StrBytes {
    let first = h.call(5, join_request(""));
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    assert!(first.member_id.starts_with("test-client-"));
    first.member_id
}

#[test]
fn a_group_forms_rebalances_and_checks_generations() {
    let mut h = Harness::new();
    let a = join_new_member(&mut h);
    let joined = h.call(5, join_request(&a));
    assert_eq!((joined.error_code, joined.generation_id, &joined.leader), (NONE, 1, &a));
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(
        sync(&mut h, &a, 1, &[(&a, b"for-a")]),
        (NONE, Bytes::from_static(b"for-a"))
    );
    assert_eq!(heartbeat(&mut h, &a, 1), NONE);
    assert_eq!(heartbeat(&mut h, &a, 0), ILLEGAL_GENERATION);
    assert_eq!(heartbeat(&mut h, &s("stranger"), 1), UNKNOWN_MEMBER_ID);

    // B joins: the group rebalances; B waits for A to rejoin.
    let b = join_new_member(&mut h);
    let (b_correlation, reply) = h.receive(5, join_request(&b));
    let Reply::Parked(b_join) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(heartbeat(&mut h, &a, 1), REBALANCE_IN_PROGRESS);
    let rejoined = h.call(5, join_request(&a));
    assert_eq!((rejoined.generation_id, rejoined.members.len()), (2, 2));
    let Reply::Response(frame) = h.broker.resume(b_join).unwrap() else {
        panic!()
    };
    let b_joined = Client::response::<JoinGroupRequest>(5, b_correlation, &frame).unwrap();
    assert_eq!(
        (b_joined.generation_id, &b_joined.leader, b_joined.members.len()),
        (2, &a, 0)
    );

    // Stale generations are refused; the follower's sync waits for the leader.
    assert_eq!(sync(&mut h, &b, 1, &[]).0, ILLEGAL_GENERATION);
    let commit_now = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("group")))
        .with_generation_id_or_member_epoch(2)
        .with_member_id(a.clone())
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partitions(vec![OffsetCommitRequestPartition::default().with_committed_offset(1)]),
        ]);
    let (b_sync_correlation, reply) = h.receive(
        5,
        SyncGroupRequest::default()
            .with_group_id(GroupId(s("group")))
            .with_member_id(b.clone())
            .with_generation_id(2),
    );
    let Reply::Parked(b_sync) = reply else {
        panic!("{reply:?}")
    };
    // Commits are refused while the group awaits its assignment.
    h.create_topic(TOPIC, 1);
    let refused = h.call(8, commit_now.clone());
    assert_eq!(refused.topics[0].partitions[0].error_code, REBALANCE_IN_PROGRESS);
    assert_eq!(
        sync(&mut h, &a, 2, &[(&a, b"a2"), (&b, b"b2")]),
        (NONE, Bytes::from_static(b"a2"))
    );
    let Reply::Response(frame) = h.broker.resume(b_sync).unwrap() else {
        panic!()
    };
    let b_synced = Client::response::<SyncGroupRequest>(5, b_sync_correlation, &frame).unwrap();
    assert_eq!(
        (b_synced.error_code, b_synced.assignment),
        (NONE, Bytes::from_static(b"b2"))
    );
    assert_eq!(h.call(8, commit_now).topics[0].partitions[0].error_code, NONE);

    // B stops heartbeating: after its session timeout it is removed and A
    // learns of the rebalance from its heartbeat.
    h.clock.advance(6_000);
    assert_eq!(heartbeat(&mut h, &a, 2), NONE);
    h.clock.advance(6_000);
    assert_eq!(heartbeat(&mut h, &a, 2), REBALANCE_IN_PROGRESS);
    assert_eq!(heartbeat(&mut h, &b, 2), UNKNOWN_MEMBER_ID);
    let alone = h.call(5, join_request(&a));
    assert_eq!((alone.generation_id, alone.members.len()), (3, 1));

    // Leaving empties the group; the next join starts a new generation.
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("group")))
        .with_member_id(a.clone());
    assert_eq!(h.call(1, leave.clone()).error_code, NONE);
    assert_eq!(h.call(1, leave).error_code, UNKNOWN_MEMBER_ID);
    assert_eq!(heartbeat(&mut h, &a, 3), UNKNOWN_MEMBER_ID);
}

#[test]
fn join_checks_session_timeouts_and_protocols() {
    let mut h = Harness::new();
    let short = join_request("").with_session_timeout_ms(10);
    assert_eq!(h.call(5, short).error_code, INVALID_SESSION_TIMEOUT);
    // v3 has no MEMBER_ID_REQUIRED: the member is in at once.
    let joined = h.call(3, join_request(""));
    assert_eq!((joined.error_code, joined.generation_id), (NONE, 1));
    let other_type = join_request("").with_protocol_type(s("connect"));
    assert_eq!(h.call(3, other_type).error_code, 23);
    // A second v3 member is in at once too, and waits for the first to
    // rejoin; its answer carries the id the group gave it.
    let (correlation_id, reply) = h.receive(3, join_request(""));
    let Reply::Parked(waiting) = reply else {
        panic!("{reply:?}")
    };
    let first = h.call(3, join_request(&joined.member_id));
    assert_eq!((first.generation_id, first.members.len()), (2, 2));
    let Reply::Response(frame) = h.broker.resume(waiting).unwrap() else {
        panic!()
    };
    let second = Client::response::<JoinGroupRequest>(3, correlation_id, &frame).unwrap();
    assert_eq!((second.error_code, second.generation_id), (NONE, 2));
    assert!(first.members.iter().any(|m| m.member_id == second.member_id));
    assert_ne!(second.member_id, joined.member_id);
    let unknown = h.call(5, join_request("who"));
    assert_eq!(unknown.error_code, UNKNOWN_MEMBER_ID);
}

#[test]
fn committed_offsets_read_back_with_generation_checks() {
    let mut h = Harness::new();
    h.create_topic(TOPIC, 2);
    let commit = |member: &str, generation: i32, partition: i32, offset: i64, metadata: &str| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("group")))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(member))
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(partition)
                            .with_committed_offset(offset)
                            .with_committed_metadata(Some(s(metadata))),
                    ]),
            ])
    };
    let code = |h: &mut Harness, request: OffsetCommitRequest| h.call(8, request).topics[0].partitions[0].error_code;
    // Outside group management (generation -1): allowed while empty.
    assert_eq!(code(&mut h, commit("", -1, 0, 42, "meta")), NONE);
    assert_eq!(code(&mut h, commit("", -1, 5, 1, "")), UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(
        code(&mut h, commit("", -1, 1, 1, &"m".repeat(5000))),
        OFFSET_METADATA_TOO_LARGE
    );
    let fetch = |h: &mut Harness, partitions: Vec<i32>| {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(s("group")))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s(TOPIC)))
                    .with_partition_indexes(partitions),
            ]));
        h.call(7, request).topics[0]
            .partitions
            .iter()
            .map(|p| (p.committed_offset, p.metadata.clone().unwrap().to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fetch(&mut h, vec![0, 1]),
        [(42, "meta".to_owned()), (-1, String::new())]
    );
    // A member of generation 1 commits; a stale or unknown one cannot.
    let member = join_new_member(&mut h);
    assert_eq!(h.call(5, join_request(&member)).generation_id, 1);
    assert_eq!(code(&mut h, commit(&member, 1, 0, 7, "")), 27, "awaiting sync");
    sync(&mut h, &member, 1, &[]);
    assert_eq!(code(&mut h, commit(&member, 1, 0, 7, "")), NONE);
    assert_eq!(code(&mut h, commit(&member, 0, 0, 8, "")), ILLEGAL_GENERATION);
    assert_eq!(code(&mut h, commit("other", 1, 0, 8, "")), UNKNOWN_MEMBER_ID);
    assert_eq!(code(&mut h, commit("", -1, 0, 8, "")), UNKNOWN_MEMBER_ID);
    assert_eq!(fetch(&mut h, vec![0]), [(7, String::new())]);
    // All of a group's offsets (null topics).
    let all = h.call(
        7,
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s("group")))
            .with_topics(None),
    );
    assert_eq!(all.topics.len(), 1);
    assert_eq!(all.topics[0].partitions[0].committed_offset, 7);
}

#[test]
fn create_topics_validates_like_kafka() {
    let mut h = Harness::new();
    let topic = |name: &str, partitions: i32, replication: i16| {
        CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(replication)
    };
    let request = CreateTopicsRequest::default().with_topics(vec![
        topic("good", 3, 1),
        topic("dup", 1, 1),
        topic("dup", 1, 1),
        topic("bad name", 1, 1),
        topic("zero", 0, 1),
        topic("many", 1_000_000, 1),
        topic("replicated", 1, 3),
        topic("defaults", -1, -1),
    ]);
    let response = h.call(7, request.clone());
    let codes: Vec<_> = response.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        [
            NONE,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_TOPIC,
            INVALID_PARTITIONS,
            INVALID_PARTITIONS,
            INVALID_REPLICATION_FACTOR,
            NONE
        ]
    );
    assert_eq!(response.topics[0].num_partitions, 3);
    assert!(response.topics[1].error_message.is_some());
    assert_ne!(response.topics[0].topic_id, uuid::Uuid::nil());
    let again = h.call(7, CreateTopicsRequest::default().with_topics(vec![topic("good", 1, 1)]));
    assert_eq!(again.topics[0].error_code, TOPIC_ALREADY_EXISTS);
    // validate_only creates nothing.
    let dry = CreateTopicsRequest::default()
        .with_topics(vec![topic("dry", 1, 1)])
        .with_validate_only(true);
    assert_eq!(h.call(7, dry.clone()).topics[0].error_code, NONE);
    assert_eq!(h.call(7, dry).topics[0].error_code, NONE);
    assert!(h.broker.topics().get(&s("dry")).is_none());
    assert_eq!(h.broker.topics().get(&s("good")).unwrap().partitions.len(), 3);
}

#[test]
fn metadata_describes_the_node_and_auto_creates_topics() {
    let config = BrokerConfig {
        advertised_host: "kafka.example".to_owned(),
        advertised_port: 19092,
        default_partitions: 3,
        ..BrokerConfig::default()
    };
    let mut h = Harness::with(config);
    let ask = |names: &[&str], allow: bool| {
        MetadataRequest::default()
            .with_topics(Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic::default().with_name(Some(TopicName(s(n)))))
                    .collect(),
            ))
            .with_allow_auto_topic_creation(allow)
    };
    let response = h.call(12, ask(&["new"], false));
    assert_eq!(response.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let response = h.call(12, ask(&["new", "new", "bad/name"], true));
    assert_eq!(
        (response.brokers[0].host.as_str(), response.brokers[0].port),
        ("kafka.example", 19092)
    );
    assert_eq!(response.controller_id, BrokerId(1));
    assert_eq!(response.topics.len(), 2, "duplicates answered once");
    let created = &response.topics[0];
    assert_eq!((created.error_code, created.partitions.len()), (NONE, 3));
    assert!(
        created
            .partitions
            .iter()
            .all(|p| p.leader_id == BrokerId(1) && p.isr_nodes == [BrokerId(1)])
    );
    assert_eq!(response.topics[1].error_code, INVALID_TOPIC);
    // Null topics: all of them; by id (v10+).
    let all = h.call(12, MetadataRequest::default().with_topics(None));
    assert_eq!(all.topics.len(), 1);
    let by_id = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_topic_id(created.topic_id)
            .with_name(None),
    ]));
    assert_eq!(
        h.call(12, by_id).topics[0].name.as_deref().map(|n| n.as_str()),
        Some("new")
    );
}

#[test]
fn the_same_frames_give_the_same_responses() {
    let run = || {
        let mut h = Harness::new();
        let mut out = Vec::new();
        let member = join_new_member(&mut h);
        let (_, frame) = h.client.request(5, join_request(&member)).unwrap();
        out.push(h.broker.handle(frame.slice(4..)).unwrap());
        h.produce(&["a", "b"], None);
        h.clock.advance(1234);
        let (_, frame) = h.client.request(12, Harness::fetch_request(0, 1000, 1000)).unwrap();
        out.push(h.broker.handle(frame.slice(4..)).unwrap());
        let (_, frame) = h
            .client
            .request(12, MetadataRequest::default().with_topics(None))
            .unwrap();
        out.push(h.broker.handle(frame.slice(4..)).unwrap());
        (member, out)
    };
    assert_eq!(run(), run());
}

#[test]
fn undecodable_frames_close_the_connection() {
    let mut h = Harness::new();
    // Metadata v12 with a topic count larger than the frame.
    let frame = Bytes::from_static(&[0, 3, 0, 12, 0, 0, 0, 7, 0xff, 0xff, 0, 0x7f, 0xff, 0xff, 0xff, 0x0f]);
    match h.broker.handle(frame) {
        Err(DispatchError::Undecodable(error)) => assert_eq!(error.header.unwrap().correlation_id, 7),
        other => panic!("{other:?}"),
    }
    // The broker carries on for the next connection.
    assert_eq!(h.produce(&["a"], None), (NONE, 0));
}

#[test]
fn bytes_after_a_complete_body_are_ignored_as_kafka_does() {
    let mut h = Harness::new();
    h.create_topic(TOPIC, 1);
    // librdkafka's all-topics Metadata v13 (librdkafka issue 5049): a 4-byte
    // slot for the topic count holding a 1-byte compact null, so 3 bytes
    // follow the body. Kafka reads the body and ignores them.
    let mut frame = vec![0, 3, 0, 13, 0, 0, 0, 3, 0, 7];
    frame.extend_from_slice(b"rdkafka");
    frame.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0]);
    let response = h.broker.handle(Bytes::from(frame.clone())).unwrap().unwrap();
    let response = Client::response::<MetadataRequest>(13, 3, &response).unwrap();
    assert_eq!(response.topics.len(), 1, "null topics: all of them");
    // The decoder itself still reports them.
    let error = kafka_fuzz::server::wire::decode_request(Bytes::from(frame)).unwrap_err();
    assert!(
        matches!(error.error.kind, DecodeErrorKind::TrailingBytes { count: 3, .. }),
        "{error}"
    );
}
