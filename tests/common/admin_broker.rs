//! One broker and one client on it, through the wire: what the admin
//! tests start from.

use bytes::Bytes;
use kafka_fuzz::harness::client::Client;
use kafka_fuzz::harness::input::encode_entries;
use kafka_fuzz::server::broker::{Broker, BrokerConfig, ManualClock};
use kafka_fuzz::server::wire::Codec;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::{Request, StrBytes};
use uuid::Uuid;

pub fn name(value: &str) -> TopicName {
    TopicName(StrBytes::from_string(value.to_owned()))
}

pub fn code(error: ResponseError) -> i16 {
    error.code()
}

pub struct Harness {
    pub broker: Broker,
    pub client: Client,
    pub clock: ManualClock,
}

impl Harness {
    /// A broker that creates no topic unasked, so a deleted one stays gone.
    pub fn new() -> Self {
        let config = BrokerConfig {
            auto_create_topics: false,
            ..BrokerConfig::default()
        };
        let clock = ManualClock::new(1_700_000_000_000);
        Self {
            broker: Broker::new(config, clock.clone()),
            client: Client::new("admin"),
            clock,
        }
    }

    pub fn call<R: Request + Into<kafka_protocol::messages::RequestKind>>(
        &mut self,
        version: i16,
        request: R,
    ) -> R::Response {
        self.client.call(&mut self.broker, version, request).unwrap()
    }

    pub fn create(&mut self, topic: &str, partitions: i32) -> Uuid {
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
    pub fn produce(&mut self, topic: &str, partition: i32, value: &str) -> (i16, i64) {
        let records = encode_entries(&[(None, Some(Bytes::from(value.to_owned())))], None, 0, Codec::None).unwrap();
        self.produce_batch(topic, partition, records, 1)
    }

    /// Produces a batch with `acks`; the error code and offset.
    pub fn produce_batch(&mut self, topic: &str, partition: i32, records: Bytes, acks: i16) -> (i16, i64) {
        let request = ProduceRequest::default()
            .with_acks(acks)
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
    pub fn partitions(&mut self, topic: &str) -> Result<usize, i16> {
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
