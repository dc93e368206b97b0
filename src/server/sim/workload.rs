//! Producers as Kafka clients behave on a cluster: they ask any node for
//! metadata, send to the partition's leader, refresh metadata and retry
//! after an error or a lost connection. Idempotent producers retry the same
//! batch with the same sequence until it is acknowledged, across failovers;
//! plain ones send with acks=all or acks=1. What was acknowledged is kept
//! for the checks at the end.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, TimestampType};
use rand::Rng;

use super::cluster::SimCluster;
use crate::harness::client::Client;
use crate::harness::input::encode_record_batch;
use crate::server::wire::Codec;

const METADATA_VERSION: i16 = 9;
const PRODUCE_VERSION: i16 = 9;
const INIT_PRODUCER_ID_VERSION: i16 = 4;
/// A client's `request.timeout.ms`.
const REQUEST_TIMEOUT_MS: i64 = 8_000;

/// A record a producer was told is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    pub partition: i32,
    pub offset: i64,
    pub value: Bytes,
    pub acks: i16,
    pub at_ms: i64,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Metadata,
    InitProducerId,
    Produce,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    connection: u64,
    correlation_id: i32,
    kind: Kind,
    sent_ms: i64,
}

#[derive(Debug, Clone)]
struct Batch {
    partition: i32,
    value: Bytes,
    acks: i16,
    sequence: i32,
}

struct Producer {
    name: String,
    client: Client,
    idempotent: bool,
    producer: Option<(i64, i16)>,
    sequences: BTreeMap<i32, i32>,
    connections: BTreeMap<i32, u64>,
    leaders: BTreeMap<i32, i32>,
    in_flight: Option<InFlight>,
    batch: Option<Batch>,
    sent: u64,
}

pub struct ProducerWorkload {
    topic: StrBytes,
    producers: Vec<Producer>,
    acknowledged: Vec<Acknowledged>,
    /// Answers that were not what a Kafka client can read.
    bad_responses: Vec<String>,
}

impl ProducerWorkload {
    /// `plain` producers with acks 1 or all, `idempotent` ones with acks=all,
    /// writing to `topic` (created on first use, as auto-creation does).
    pub fn new(topic: &str, plain: usize, idempotent: usize) -> Self {
        let producers = (0..plain + idempotent)
            .map(|index| {
                let name = format!("p{index}");
                Producer {
                    client: Client::new(&name),
                    name,
                    idempotent: index >= plain,
                    producer: None,
                    sequences: BTreeMap::new(),
                    connections: BTreeMap::new(),
                    leaders: BTreeMap::new(),
                    in_flight: None,
                    batch: None,
                    sent: 0,
                }
            })
            .collect();
        Self {
            topic: StrBytes::from_string(topic.to_owned()),
            producers,
            acknowledged: Vec::new(),
            bad_responses: Vec::new(),
        }
    }

    pub fn acknowledged(&self) -> &[Acknowledged] {
        &self.acknowledged
    }

    pub fn bad_responses(&self) -> &[String] {
        &self.bad_responses
    }

    /// Requests still waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.producers.iter().filter(|p| p.in_flight.is_some()).count()
    }

    /// Every producer reads its answers; with `send`, an idle one sends its
    /// next request.
    pub fn step(&mut self, cluster: &mut SimCluster, rng: &mut impl Rng, send: bool) {
        for index in 0..self.producers.len() {
            self.receive(index, cluster);
            if send && self.producers[index].in_flight.is_none() {
                self.send_next(index, cluster, rng);
            }
        }
    }

    fn receive(&mut self, index: usize, cluster: &mut SimCluster) {
        let now = cluster.now_ms();
        let producer = &mut self.producers[index];
        let Some(in_flight) = producer.in_flight else {
            return;
        };
        let frames = cluster.client_receive(in_flight.connection);
        let Some(frame) = frames.first() else {
            if cluster.is_closed(in_flight.connection) || now - in_flight.sent_ms > REQUEST_TIMEOUT_MS {
                producer.in_flight = None;
                producer.leaders.clear();
                // Only an idempotent producer may retry a batch that may
                // have been written: a plain one would duplicate it.
                if !producer.idempotent {
                    producer.batch = None;
                }
                producer.connections.retain(|_, &mut c| c != in_flight.connection);
            }
            return;
        };
        producer.in_flight = None;
        let correlation_id = in_flight.correlation_id;
        let outcome = match in_flight.kind {
            Kind::Metadata => Client::response::<MetadataRequest>(METADATA_VERSION, correlation_id, frame).map(|r| {
                producer.leaders = r
                    .topics
                    .iter()
                    .filter(|t| t.name.as_ref().is_some_and(|n| n.0 == self.topic))
                    .flat_map(|t| &t.partitions)
                    .filter(|p| p.error_code == 0 && p.leader_id.0 >= 0)
                    .map(|p| (p.partition_index, p.leader_id.0))
                    .collect();
            }),
            Kind::InitProducerId => {
                Client::response::<InitProducerIdRequest>(INIT_PRODUCER_ID_VERSION, correlation_id, frame).map(|r| {
                    if r.error_code == 0 {
                        producer.producer = Some((r.producer_id.0, r.producer_epoch));
                    }
                })
            }
            Kind::Produce => Client::response::<ProduceRequest>(PRODUCE_VERSION, correlation_id, frame).map(|r| {
                let Some(batch) = producer.batch.clone() else {
                    return;
                };
                let result = r
                    .responses
                    .iter()
                    .flat_map(|t| &t.partition_responses)
                    .find(|p| p.index == batch.partition);
                match result {
                    Some(result) if result.error_code == 0 => {
                        self.acknowledged.push(Acknowledged {
                            partition: batch.partition,
                            offset: result.base_offset,
                            value: batch.value.clone(),
                            acks: batch.acks,
                            at_ms: now,
                        });
                        if producer.idempotent {
                            *producer.sequences.entry(batch.partition).or_default() += 1;
                        }
                        producer.batch = None;
                    }
                    Some(result) => {
                        let error = ResponseError::try_from_code(result.error_code);
                        // A fenced or out-of-order idempotent producer starts
                        // over with a new id, as the Java client does.
                        if matches!(
                            error,
                            Some(ResponseError::OutOfOrderSequenceNumber | ResponseError::InvalidProducerEpoch)
                        ) {
                            producer.producer = None;
                            producer.sequences.clear();
                            producer.batch = None;
                        }
                        if !producer.idempotent {
                            producer.batch = None;
                        }
                        producer.leaders.clear();
                    }
                    None => producer.leaders.clear(),
                }
            }),
        };
        if let Err(error) = outcome {
            let name = producer.name.clone();
            self.bad_responses.push(format!("{name}: {error}"));
        }
    }

    fn send_next(&mut self, index: usize, cluster: &mut SimCluster, rng: &mut impl Rng) {
        let topic = self.topic.clone();
        let producer = &mut self.producers[index];
        let nodes = cluster.node_ids();
        let (node, kind, frame) = if producer.leaders.is_empty() {
            let node = nodes[rng.gen_range(0..nodes.len())];
            let request = MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(TopicName(topic))),
                ]))
                .with_allow_auto_topic_creation(true);
            (node, Kind::Metadata, producer.client.request(METADATA_VERSION, request))
        } else if producer.idempotent && producer.producer.is_none() {
            let node = nodes[rng.gen_range(0..nodes.len())];
            let request = InitProducerIdRequest::default()
                .with_transaction_timeout_ms(60_000)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1);
            (
                node,
                Kind::InitProducerId,
                producer.client.request(INIT_PRODUCER_ID_VERSION, request),
            )
        } else {
            let batch = match producer.batch.clone() {
                Some(batch) => batch,
                None => {
                    let partitions: Vec<i32> = producer.leaders.keys().copied().collect();
                    let partition = partitions[rng.gen_range(0..partitions.len())];
                    producer.sent += 1;
                    let batch = Batch {
                        partition,
                        value: Bytes::from(format!("{}-{}", producer.name, producer.sent)),
                        acks: if producer.idempotent || rng.gen_bool(0.5) {
                            -1
                        } else {
                            1
                        },
                        sequence: producer.sequences.get(&partition).copied().unwrap_or(0),
                    };
                    producer.batch = Some(batch.clone());
                    batch
                }
            };
            let Some(&node) = producer.leaders.get(&batch.partition) else {
                producer.leaders.clear();
                return;
            };
            let (producer_id, epoch) = producer.producer.filter(|_| producer.idempotent).unwrap_or((-1, -1));
            let record = Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch: epoch,
                timestamp_type: TimestampType::Creation,
                offset: 0,
                sequence: if producer_id >= 0 { batch.sequence } else { -1 },
                timestamp: cluster.now_ms(),
                key: None,
                value: Some(batch.value.clone()),
                headers: Default::default(),
            };
            let Ok(records) = encode_record_batch(&[record], Codec::None) else {
                return;
            };
            let request = ProduceRequest::default()
                .with_acks(batch.acks)
                .with_timeout_ms(5_000)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(TopicName(topic))
                        .with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(batch.partition)
                                .with_records(Some(records)),
                        ]),
                ]);
            (node, Kind::Produce, producer.client.request(PRODUCE_VERSION, request))
        };
        let Ok((correlation_id, frame)) = frame else {
            return;
        };
        let connection = match producer.connections.get(&node) {
            Some(&connection) if !cluster.is_closed(connection) => connection,
            _ => {
                let connection = cluster.connect(node);
                producer.connections.insert(node, connection);
                connection
            }
        };
        cluster.client_send(connection, frame);
        producer.in_flight = Some(InFlight {
            connection,
            correlation_id,
            kind,
            sent_ms: cluster.now_ms(),
        });
    }
}
