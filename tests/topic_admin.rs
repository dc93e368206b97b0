//! DeleteTopics and CreatePartitions on one broker, through the wire: the
//! errors Kafka gives, a deleted topic gone with its records and committed
//! offsets, its name created again as a new, empty topic, and added
//! partitions that take writes.

use bytes::Bytes;
use kafka_fuzz::harness::client::Client;
use kafka_fuzz::harness::input::encode_entries;
use kafka_fuzz::server::broker::{Broker, BrokerConfig, ManualClock};
use kafka_fuzz::server::wire::Codec;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, GroupId, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use uuid::Uuid;

fn name(value: &str) -> TopicName {
    TopicName(StrBytes::from_string(value.to_owned()))
}

fn code(error: ResponseError) -> i16 {
    error.code()
}

struct Harness {
    broker: Broker,
    client: Client,
}

impl Harness {
    /// A broker that creates no topic unasked, so a deleted one stays gone.
    fn new() -> Self {
        let config = BrokerConfig {
            auto_create_topics: false,
            ..BrokerConfig::default()
        };
        Self {
            broker: Broker::new(config, ManualClock::new(1_700_000_000_000)),
            client: Client::new("admin"),
        }
    }

    fn call<R: Request + Into<kafka_protocol::messages::RequestKind>>(
        &mut self,
        version: i16,
        request: R,
    ) -> R::Response {
        self.client.call(&mut self.broker, version, request).unwrap()
    }

    fn create(&mut self, topic: &str, partitions: i32) -> Uuid {
        let request = CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
        let created = self.call(7, request);
        assert_eq!(created.topics[0].error_code, 0, "{created:?}");
        created.topics[0].topic_id
    }

    /// Produces one record; the error code and offset.
    fn produce(&mut self, topic: &str, partition: i32, value: &str) -> (i16, i64) {
        let records = encode_entries(&[(None, Some(Bytes::from(value.to_owned())))], None, 0, Codec::None).unwrap();
        let request = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(name(topic))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(records)),
                    ]),
            ]);
        let partition = self.call(9, request).responses[0].partition_responses[0].clone();
        (partition.error_code, partition.base_offset)
    }

    /// The partition count Metadata gives for `topic`, or its error.
    fn partitions(&mut self, topic: &str) -> Result<usize, i16> {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name(topic)))]))
            .with_allow_auto_topic_creation(false);
        let answer = self.call(12, request).topics[0].clone();
        match answer.error_code {
            0 => Ok(answer.partitions.len()),
            error => Err(error),
        }
    }
}

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
