//! The admin APIs on one broker, through the wire. DeleteTopics and
//! CreatePartitions: the errors Kafka gives, a deleted topic gone with its
//! records and committed offsets, its name created again as a new, empty
//! topic, added partitions that take writes. ListGroups, DescribeGroups,
//! DeleteGroups and OffsetDelete: a group as its members made it, deleted
//! only when empty, offsets deleted only where no member subscribes.
//! DeleteRecords: the log start moves, reads below it are out of range.
//! Topic configs: described with their sources, altered whole or by
//! operation, and honoured (`retention.ms`, `max.message.bytes`,
//! `cleanup.policy`). SASL/PLAIN: a known user with the right password, and
//! nothing else before.

mod common;

use bytes::Bytes;
use kafka_fuzz::harness::client::Client;
use kafka_fuzz::harness::input::encode_entries;
use kafka_fuzz::server::broker::{Broker, BrokerConfig, ManualClock, Reply, SaslState};
use kafka_fuzz::server::wire::Codec;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiVersionsRequest, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, FetchRequest, GroupId, IncrementalAlterConfigsRequest, JoinGroupRequest, LeaveGroupRequest,
    ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, SaslAuthenticateRequest, SaslHandshakeRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};
use uuid::Uuid;

use common::admin_broker::{Harness, code, name};

#[test]
fn delete_topics_refuses_what_kafka_refuses() {
    let mut h = Harness::new();
    h.create("a", 1);
    let by_names = DeleteTopicsRequest::default()
        .with_topic_names(vec![name("missing"), name("dup"), name("dup")])
        .with_timeout_ms(1000);
    let codes: Vec<_> = h.call(5, by_names).responses.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [
            code(ResponseError::UnknownTopicOrPartition),
            code(ResponseError::InvalidRequest),
            code(ResponseError::InvalidRequest)
        ]
    );
    let a = h.broker.topics().get(&StrBytes::from_static_str("a")).unwrap().id;
    let state =
        |topic: Option<&str>, id: Uuid| DeleteTopicState::default().with_name(topic.map(name)).with_topic_id(id);
    let v6 = DeleteTopicsRequest::default().with_topics(vec![
        state(Some("a"), a),
        state(None, Uuid::nil()),
        state(None, Uuid::from_u128(7)),
    ]);
    let answer = h.call(6, v6);
    let codes: Vec<_> = answer.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [
            code(ResponseError::InvalidRequest),
            code(ResponseError::InvalidRequest),
            code(ResponseError::UnknownTopicId)
        ]
    );
    assert!(answer.responses.iter().all(|r| r.error_message.is_some()));
    assert_eq!(h.partitions("a"), Ok(1), "nothing was deleted");
}

#[test]
fn a_deleted_topic_is_gone_and_its_name_comes_back_empty_with_a_new_id() {
    let mut h = Harness::new();
    let first = h.create("orders", 2);
    assert_eq!(h.produce("orders", 1, "old"), (0, 0));
    assert_eq!(h.produce("orders", 1, "old"), (0, 1));
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name("orders"))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(2),
                ]),
        ]);
    assert_eq!(h.call(7, commit).topics[0].partitions[0].error_code, 0);
    // v6 by id: the answer names the topic.
    let delete = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_topic_id(first)])
        .with_timeout_ms(1000);
    let answer = h.call(6, delete.clone());
    assert_eq!(answer.responses[0].error_code, 0);
    assert_eq!(answer.responses[0].name, Some(name("orders")));
    assert_eq!(answer.responses[0].topic_id, first);
    assert_eq!(
        h.partitions("orders"),
        Err(code(ResponseError::UnknownTopicOrPartition))
    );
    assert_eq!(
        h.produce("orders", 1, "late").0,
        code(ResponseError::UnknownTopicOrPartition)
    );
    assert_eq!(
        h.call(6, delete).responses[0].error_code,
        code(ResponseError::UnknownTopicId)
    );
    // Its committed offsets went with it.
    let fetch = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_topics(None);
    assert!(h.call(7, fetch).topics.is_empty());
    // The name again: a new id, and an empty log.
    let second = h.create("orders", 2);
    assert_ne!(second, first);
    assert_eq!(h.produce("orders", 1, "new"), (0, 0));
}

#[test]
fn create_partitions_adds_partitions_that_take_writes() {
    let mut h = Harness::new();
    h.create("events", 1);
    assert_eq!(h.produce("events", 0, "x"), (0, 0));
    // No assignments (null): the broker places the replicas.
    let topic = |topic: &str, count: i32| {
        CreatePartitionsTopic::default()
            .with_name(name(topic))
            .with_count(count)
            .with_assignments(None)
    };
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![topic("events", 3), topic("missing", 2)])
        .with_timeout_ms(1000);
    let answer = h.call(3, request);
    let codes: Vec<_> = answer.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, code(ResponseError::UnknownTopicOrPartition)], "{answer:?}");
    assert_eq!(h.partitions("events"), Ok(3));
    assert_eq!(h.produce("events", 2, "y"), (0, 0));
    assert_eq!(h.produce("events", 0, "z"), (0, 1), "the old partition keeps its log");
    let assignment = |ids: &[i32]| {
        CreatePartitionsAssignment::default().with_broker_ids(ids.iter().copied().map(BrokerId).collect())
    };
    let refused = [
        topic("events", 3),
        topic("events", 2),
        topic("events", 1_000_000),
        topic("events", 5).with_assignments(Some(vec![assignment(&[1])])),
        topic("events", 4).with_assignments(Some(vec![assignment(&[1, 1])])),
        topic("events", 4).with_assignments(Some(vec![assignment(&[9])])),
    ];
    let expected = [
        ResponseError::InvalidPartitions,
        ResponseError::InvalidPartitions,
        ResponseError::InvalidPartitions,
        ResponseError::InvalidReplicaAssignment,
        ResponseError::InvalidReplicaAssignment,
        ResponseError::InvalidReplicaAssignment,
    ];
    for (topic, error) in refused.into_iter().zip(expected) {
        let answer = h.call(3, CreatePartitionsRequest::default().with_topics(vec![topic.clone()]));
        assert_eq!(answer.results[0].error_code, code(error), "{topic:?}");
        assert!(answer.results[0].error_message.is_some());
    }
    let duplicated = CreatePartitionsRequest::default().with_topics(vec![topic("events", 4), topic("events", 5)]);
    let codes: Vec<_> = h.call(3, duplicated).results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [code(ResponseError::InvalidRequest); 2]);
    // validate_only changes nothing; a manual assignment is honoured.
    let dry = CreatePartitionsRequest::default()
        .with_topics(vec![topic("events", 4)])
        .with_validate_only(true);
    assert_eq!(h.call(3, dry).results[0].error_code, 0);
    assert_eq!(h.partitions("events"), Ok(3));
    let manual = CreatePartitionsRequest::default()
        .with_topics(vec![topic("events", 4).with_assignments(Some(vec![assignment(&[1])]))]);
    assert_eq!(h.call(3, manual).results[0].error_code, 0);
    assert_eq!(h.partitions("events"), Ok(4));
}

fn group(id: &str) -> GroupId {
    GroupId(StrBytes::from_string(id.to_owned()))
}

/// A consumer's subscription (ConsumerProtocol v0) to `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut bytes = vec![0, 0];
    bytes.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for topic in topics {
        bytes.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        bytes.extend_from_slice(topic.as_bytes());
    }
    bytes.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(bytes)
}

impl Harness {
    /// One member joins (v3: an id at once) and syncs, subscribed to
    /// `topics`; its member id.
    fn form_group(&mut self, id: &str, topics: &[&str]) -> StrBytes {
        let join = JoinGroupRequest::default()
            .with_group_id(group(id))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(subscription(topics)),
            ]);
        let joined = self.call(3, join);
        assert_eq!(joined.error_code, 0, "{joined:?}");
        let sync = SyncGroupRequest::default()
            .with_group_id(group(id))
            .with_generation_id(joined.generation_id)
            .with_member_id(joined.member_id.clone())
            .with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(joined.member_id.clone())
                    .with_assignment(Bytes::from_static(b"assigned")),
            ]);
        assert_eq!(self.call(3, sync).error_code, 0);
        joined.member_id
    }

    fn commit(&mut self, id: &str, topic: &str, offset: i64) {
        let commit = OffsetCommitRequest::default()
            .with_group_id(group(id))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(offset),
                    ]),
            ]);
        assert_eq!(self.call(7, commit).topics[0].partitions[0].error_code, 0);
    }

    /// The group's committed topics.
    fn committed(&mut self, id: &str) -> Vec<String> {
        let fetch = OffsetFetchRequest::default().with_group_id(group(id)).with_topics(None);
        self.call(7, fetch)
            .topics
            .iter()
            .map(|topic| topic.name.to_string())
            .collect()
    }
}

#[test]
fn groups_are_listed_and_described_as_their_members_made_them() {
    let mut h = Harness::new();
    let member = h.form_group("readers", &["events"]);
    let listed = h.call(4, ListGroupsRequest::default());
    assert_eq!(listed.groups.len(), 1);
    assert_eq!(listed.groups[0].group_id, group("readers"));
    assert_eq!(listed.groups[0].protocol_type.as_str(), "consumer");
    assert_eq!(listed.groups[0].group_state.as_str(), "Stable");
    let filtered = ListGroupsRequest::default().with_states_filter(vec![StrBytes::from_static_str("Empty")]);
    assert!(h.call(4, filtered).groups.is_empty());
    let types = ListGroupsRequest::default().with_types_filter(vec![StrBytes::from_static_str("classic")]);
    assert_eq!(h.call(5, types).groups.len(), 1);

    let describe = DescribeGroupsRequest::default().with_groups(vec![group("readers"), group("nobody")]);
    let described = h.call(5, describe.clone());
    let readers = &described.groups[0];
    assert_eq!((readers.error_code, readers.group_state.as_str()), (0, "Stable"));
    assert_eq!(readers.protocol_data.as_str(), "range");
    assert_eq!(readers.members.len(), 1);
    assert_eq!(readers.members[0].member_id, member);
    assert_eq!(readers.members[0].client_id.as_str(), "admin");
    assert_eq!(readers.members[0].member_metadata, subscription(&["events"]));
    assert_eq!(&readers.members[0].member_assignment[..], b"assigned");
    assert_eq!(
        (described.groups[1].error_code, described.groups[1].group_state.as_str()),
        (0, "Dead")
    );
    assert_eq!(
        h.call(6, describe).groups[1].error_code,
        code(ResponseError::GroupIdNotFound)
    );
}

#[test]
fn a_group_is_deleted_only_when_empty_and_its_offsets_go_with_it() {
    let mut h = Harness::new();
    h.create("events", 1);
    // Committed before any member joins (generation -1, as an admin).
    h.commit("readers", "events", 5);
    let member = h.form_group("readers", &["events"]);
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![group("readers"), group("nobody"), group("")]);
    let codes: Vec<_> = h.call(2, delete.clone()).results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [
            code(ResponseError::NonEmptyGroup),
            code(ResponseError::GroupIdNotFound),
            code(ResponseError::InvalidGroupId)
        ]
    );
    let leave = LeaveGroupRequest::default()
        .with_group_id(group("readers"))
        .with_member_id(member);
    assert_eq!(h.call(0, leave).error_code, 0);
    assert_eq!(h.call(2, delete).results[0].error_code, 0);
    assert!(h.committed("readers").is_empty());
    assert!(h.call(4, ListGroupsRequest::default()).groups.is_empty());
}

#[test]
fn offsets_are_deleted_only_where_no_member_subscribes() {
    let mut h = Harness::new();
    h.create("events", 1);
    h.create("audit", 1);
    h.commit("readers", "events", 5);
    h.commit("readers", "audit", 7);
    h.form_group("readers", &["events"]);
    let partitions = |topic: &str, indexes: &[i32]| {
        OffsetDeleteRequestTopic::default()
            .with_name(name(topic))
            .with_partitions(
                indexes
                    .iter()
                    .map(|&index| OffsetDeleteRequestPartition::default().with_partition_index(index))
                    .collect(),
            )
    };
    let request = OffsetDeleteRequest::default()
        .with_group_id(group("readers"))
        .with_topics(vec![partitions("events", &[0]), partitions("audit", &[0, 3])]);
    let answer = h.call(0, request);
    assert_eq!(answer.error_code, 0);
    let codes: Vec<Vec<i16>> = answer
        .topics
        .iter()
        .map(|topic| topic.partitions.iter().map(|p| p.error_code).collect())
        .collect();
    assert_eq!(
        codes,
        [
            vec![code(ResponseError::GroupSubscribedToTopic)],
            vec![0, code(ResponseError::UnknownTopicOrPartition)]
        ]
    );
    assert_eq!(h.committed("readers"), ["events"]);
    let unknown = OffsetDeleteRequest::default().with_group_id(group("nobody"));
    assert_eq!(h.call(0, unknown).error_code, code(ResponseError::GroupIdNotFound));
}

impl Harness {
    /// DeleteRecords of `topic`/0 before `offset`: the error code and low
    /// watermark.
    fn delete_records(&mut self, topic: &str, partition: i32, offset: i64) -> (i16, i64) {
        let request = DeleteRecordsRequest::default()
            .with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![
                        DeleteRecordsPartition::default()
                            .with_partition_index(partition)
                            .with_offset(offset),
                    ]),
            ])
            .with_timeout_ms(1000);
        let answer = self.call(2, request).topics[0].partitions[0].clone();
        (answer.error_code, answer.low_watermark)
    }

    /// A fetch of `topic`/0 from `offset`: the error code and the offsets of
    /// the records returned.
    fn fetch_from(&mut self, topic: &str, offset: i64) -> (i16, Vec<i64>) {
        let request = FetchRequest::default().with_max_bytes(1 << 20).with_topics(vec![
            FetchTopic::default().with_topic(name(topic)).with_partitions(vec![
                FetchPartition::default()
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20),
            ]),
        ]);
        let partition = self.call(12, request).responses[0].partitions[0].clone();
        let batches = kafka_fuzz::server::wire::decode_record_batches(
            partition.records.unwrap_or_default(),
            kafka_fuzz::server::wire::BatchLimits::default(),
        )
        .unwrap();
        let offsets = batches
            .iter()
            .flat_map(|batch| {
                batch
                    .records
                    .iter()
                    .map(|r| batch.base_offset + i64::from(r.offset_delta))
            })
            .collect();
        (partition.error_code, offsets)
    }

    fn earliest(&mut self, topic: &str) -> i64 {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-2)]),
            ]);
        self.call(7, request).topics[0].partitions[0].offset
    }
}

#[test]
fn delete_records_moves_the_log_start_and_reads_below_it_are_out_of_range() {
    let mut h = Harness::new();
    h.create("events", 1);
    for i in 0..5 {
        assert_eq!(h.produce("events", 0, &format!("v{i}")), (0, i));
    }
    assert_eq!(h.delete_records("events", 0, 3), (0, 3));
    assert_eq!(h.earliest("events"), 3);
    assert_eq!(h.fetch_from("events", 0).0, code(ResponseError::OffsetOutOfRange));
    assert_eq!(h.fetch_from("events", 3), (0, vec![3, 4]));
    // Never back, never past the high watermark; -1 is the high watermark.
    assert_eq!(h.delete_records("events", 0, 1), (0, 3));
    assert_eq!(
        h.delete_records("events", 0, 6).0,
        code(ResponseError::OffsetOutOfRange)
    );
    assert_eq!(
        h.delete_records("events", 0, -7).0,
        code(ResponseError::OffsetOutOfRange)
    );
    assert_eq!(h.delete_records("events", 0, -1), (0, 5));
    assert_eq!(h.fetch_from("events", 5), (0, vec![]));
    assert_eq!(h.produce("events", 0, "after"), (0, 5), "offsets go on");
    assert_eq!(
        h.delete_records("events", 1, 0).0,
        code(ResponseError::UnknownTopicOrPartition)
    );
    assert_eq!(
        h.delete_records("missing", 0, 0).0,
        code(ResponseError::UnknownTopicOrPartition)
    );
}

const TOPIC_RESOURCE: i8 = 2;

impl Harness {
    /// Produces one record with `key` at `timestamp`: the error code.
    fn produce_record(&mut self, topic: &str, key: Option<&str>, value: &[u8], timestamp: i64) -> i16 {
        let entries = [(
            key.map(|key| Bytes::from(key.to_owned())),
            Some(Bytes::copy_from_slice(value)),
        )];
        let records = encode_entries(&entries, None, timestamp, Codec::None).unwrap();
        self.produce_batch(topic, 0, records, 1).0
    }

    /// The topic's configs as DescribeConfigs v3 gives them: (name, value,
    /// source), or the error.
    fn configs(&mut self, topic: &str, keys: Option<&[&str]>) -> Result<Vec<(String, String, i8)>, i16> {
        let resource = DescribeConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configuration_keys(
                keys.map(|keys| keys.iter().map(|k| StrBytes::from_string((*k).to_owned())).collect()),
            );
        let result = self
            .call(3, DescribeConfigsRequest::default().with_resources(vec![resource]))
            .results[0]
            .clone();
        if result.error_code != 0 {
            return Err(result.error_code);
        }
        Ok(result
            .configs
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.value.clone().unwrap_or_default().to_string(),
                    c.config_source,
                )
            })
            .collect())
    }

    fn alter(&mut self, topic: &str, configs: &[(&str, &str)]) -> i16 {
        let resource = AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configs(
                configs
                    .iter()
                    .map(|(key, value)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_string((*key).to_owned()))
                            .with_value(Some(StrBytes::from_string((*value).to_owned())))
                    })
                    .collect(),
            );
        self.call(2, AlterConfigsRequest::default().with_resources(vec![resource]))
            .responses[0]
            .error_code
    }

    fn alter_incrementally(&mut self, topic: &str, operations: &[(&str, i8, &str)]) -> i16 {
        let resource = incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(StrBytes::from_string(topic.to_owned()))
            .with_configs(
                operations
                    .iter()
                    .map(|(key, operation, value)| {
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(StrBytes::from_string((*key).to_owned()))
                            .with_config_operation(*operation)
                            .with_value(Some(StrBytes::from_string((*value).to_owned())))
                    })
                    .collect(),
            );
        self.call(
            1,
            IncrementalAlterConfigsRequest::default().with_resources(vec![resource]),
        )
        .responses[0]
            .error_code
    }
}

#[test]
fn topic_configs_are_described_altered_and_honoured() {
    let mut h = Harness::new();
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name("compacted"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("cleanup.policy"))
                    .with_value(Some(StrBytes::from_static_str("compact"))),
            ]),
        CreatableTopic::default()
            .with_name(name("refused"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_static_str("soon"))),
            ]),
    ]);
    let codes: Vec<_> = h.call(7, request).topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [0, code(ResponseError::InvalidConfig)]);
    assert_eq!(
        h.partitions("refused"),
        Err(code(ResponseError::UnknownTopicOrPartition))
    );
    // cleanup.policy=compact: every record needs a key; nothing is deleted by offset.
    assert_eq!(
        h.produce_record("compacted", None, b"v", 0),
        code(ResponseError::InvalidRecord)
    );
    assert_eq!(h.produce_record("compacted", Some("k"), b"v", 0), 0);
    assert_eq!(
        h.delete_records("compacted", 0, 1).0,
        code(ResponseError::PolicyViolation)
    );
    let described = h
        .configs("compacted", Some(&["cleanup.policy", "retention.ms"]))
        .unwrap();
    assert_eq!(
        described,
        [
            ("cleanup.policy".to_owned(), "compact".to_owned(), 1),
            ("retention.ms".to_owned(), "-1".to_owned(), 5)
        ]
    );
    assert_eq!(
        h.configs("missing", None),
        Err(code(ResponseError::UnknownTopicOrPartition))
    );

    // AlterConfigs replaces the overrides: max.message.bytes, and compact no more.
    h.create("events", 1);
    assert_eq!(h.alter("events", &[("max.message.bytes", "100")]), 0);
    assert_eq!(
        h.produce_record("events", None, &[b'x'; 200], 0),
        code(ResponseError::MessageTooLarge)
    );
    assert_eq!(h.produce_record("events", None, b"small", 0), 0);
    assert_eq!(
        h.alter("events", &[("max.message.bytes", "-5")]),
        code(ResponseError::InvalidConfig)
    );
    assert_eq!(
        h.alter("events", &[("no.such.config", "1")]),
        code(ResponseError::InvalidConfig)
    );
    assert_eq!(h.alter("missing", &[]), code(ResponseError::UnknownTopicOrPartition));

    // IncrementalAlterConfigs: retention.ms set, and records older than it go.
    let now = 1_700_000_000_000;
    assert_eq!(h.produce_record("events", None, b"old", now - 10_000), 0);
    assert_eq!(h.produce_record("events", None, b"new", now), 0);
    assert_eq!(h.alter_incrementally("events", &[("retention.ms", 0, "5000")]), 0);
    assert_eq!(h.earliest("events"), 2, "the two records older than 5 s went");
    h.clock.advance(6_000);
    assert_eq!(h.earliest("events"), 3);
    // APPEND works on lists only; DELETE goes back to the default.
    assert_eq!(
        h.alter_incrementally("events", &[("retention.ms", 2, "1")]),
        code(ResponseError::InvalidConfig)
    );
    assert_eq!(h.alter_incrementally("events", &[("cleanup.policy", 2, "compact")]), 0);
    let policy = h.configs("events", Some(&["cleanup.policy"])).unwrap();
    assert_eq!(policy[0].1, "compact", "appended to an unset list");
    assert_eq!(h.alter_incrementally("events", &[("cleanup.policy", 1, "")]), 0);
    assert_eq!(h.configs("events", Some(&["cleanup.policy"])).unwrap()[0].2, 5);
}

#[test]
fn describe_cluster_lists_the_broker_and_refuses_controller_endpoints() {
    let mut h = Harness::new();
    let answer = h.call(1, DescribeClusterRequest::default().with_endpoint_type(1));
    assert_eq!(answer.error_code, 0);
    assert_eq!(answer.cluster_id.as_str(), "kafka-fuzz-cluster");
    assert_eq!(answer.controller_id, BrokerId(1));
    let brokers: Vec<_> = answer
        .brokers
        .iter()
        .map(|b| (b.broker_id.0, b.host.to_string(), b.port))
        .collect();
    assert_eq!(brokers, [(1, "127.0.0.1".to_owned(), 9092)]);
    let controllers = h.call(1, DescribeClusterRequest::default().with_endpoint_type(2));
    assert_eq!(controllers.error_code, code(ResponseError::UnsupportedEndpointType));
}

/// A raw request frame (no size prefix) of `request` at `version`.
fn frame_of<R: Request + Into<kafka_protocol::messages::RequestKind>>(
    client: &mut Client,
    version: i16,
    request: R,
) -> (i32, Bytes) {
    let (correlation_id, frame) = client.request(version, request).unwrap();
    (correlation_id, frame.slice(4..))
}

#[test]
fn sasl_plain_admits_a_known_user_and_refuses_anything_else_first() {
    let config = BrokerConfig {
        sasl_users: vec![("alice".to_owned(), "secret".to_owned())],
        ..BrokerConfig::default()
    };
    let mut broker = Broker::new(config, ManualClock::new(0));
    let mut client = Client::new("sasl");
    let answer =
        |broker: &mut Broker, state: &mut SaslState, frame: Bytes| match broker.receive_authenticated(state, frame) {
            Ok(Reply::Response(bytes)) => Ok(bytes),
            Ok(other) => panic!("{other:?}"),
            Err(error) => Err(error.to_string()),
        };
    // Before authentication: ApiVersions lists the SASL APIs; Metadata closes.
    let mut state = SaslState::default();
    let (id, frame) = frame_of(&mut client, 2, ApiVersionsRequest::default());
    let versions =
        Client::response::<ApiVersionsRequest>(2, id, &answer(&mut broker, &mut state, frame).unwrap()).unwrap();
    assert!(versions.api_keys.iter().any(|api| api.api_key == 17));
    let (_, metadata) = frame_of(&mut client, 12, MetadataRequest::default());
    assert!(
        answer(&mut broker, &mut state, metadata.clone())
            .unwrap_err()
            .contains("before SASL authentication")
    );
    // Handshake v1 for PLAIN, then a wrong password, then nothing more.
    let handshake =
        |mechanism: &'static str| SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let (id, frame) = frame_of(&mut client, 1, handshake("SCRAM-SHA-256"));
    let refused =
        Client::response::<SaslHandshakeRequest>(1, id, &answer(&mut broker, &mut state, frame).unwrap()).unwrap();
    assert_eq!(refused.error_code, code(ResponseError::UnsupportedSaslMechanism));
    let (id, frame) = frame_of(&mut client, 1, handshake("PLAIN"));
    let accepted =
        Client::response::<SaslHandshakeRequest>(1, id, &answer(&mut broker, &mut state, frame).unwrap()).unwrap();
    assert_eq!((accepted.error_code, accepted.mechanisms[0].as_str()), (0, "PLAIN"));
    let authenticate =
        |token: &'static [u8]| SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(token));
    let (id, frame) = frame_of(&mut client, 2, authenticate(b"\0alice\0wrong"));
    let failed =
        Client::response::<SaslAuthenticateRequest>(2, id, &answer(&mut broker, &mut state, frame).unwrap()).unwrap();
    assert_eq!(failed.error_code, code(ResponseError::SaslAuthenticationFailed));
    assert!(answer(&mut broker, &mut state, metadata.clone()).is_err());
    // A new connection with the right password may do anything.
    let mut state = SaslState::default();
    let (_, frame) = frame_of(&mut client, 1, handshake("PLAIN"));
    answer(&mut broker, &mut state, frame).unwrap();
    let (id, frame) = frame_of(&mut client, 2, authenticate(b"\0alice\0secret"));
    let ok =
        Client::response::<SaslAuthenticateRequest>(2, id, &answer(&mut broker, &mut state, frame).unwrap()).unwrap();
    assert_eq!(ok.error_code, 0);
    assert!(answer(&mut broker, &mut state, metadata).is_ok());
    // Handshake v0: the token comes bare, and an empty frame says yes.
    let mut state = SaslState::default();
    let (_, frame) = frame_of(&mut client, 0, handshake("PLAIN"));
    answer(&mut broker, &mut state, frame).unwrap();
    let empty = answer(&mut broker, &mut state, Bytes::from_static(b"\0alice\0secret")).unwrap();
    assert_eq!(&empty[..], &[0, 0, 0, 0]);
    assert_eq!(state, SaslState::Authenticated);
}
