//! Produce and InitProducerId: appending batches, idempotent producers.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::{Answer, Broker, DispatchError, Waiting};
use super::metadata::MetadataRecord;
use super::replica_api::advance_high_watermark;
use crate::server::wire::{Codec, DecodeErrorKind, decode_record_batches};

/// Produce v7 is the first that may carry zstd batches.
const FIRST_ZSTD_VERSION: i16 = 7;

/// Producer ids handed out by InitProducerId, and the id and epoch of each
/// transactional id.
#[derive(Debug, Clone, Default)]
pub struct ProducerIds {
    /// Ids handed out; a cluster node's block starts at its node id times
    /// `NODE_ID_BLOCK`, so that no two nodes hand out the same id.
    issued: i64,
    transactional: HashMap<StrBytes, (i64, i16)>,
}

/// The producer ids each cluster node may hand out.
const NODE_ID_BLOCK: i64 = 1 << 40;

impl ProducerIds {
    fn next(&mut self) -> i64 {
        self.issued += 1;
        self.issued
    }
}

impl Broker {
    /// The last producer id handed out: a cluster node keeps it in its
    /// write-ahead log so that a restart never hands one out again.
    pub fn issued_producer_ids(&self) -> i64 {
        self.producer_ids.issued
    }

    /// Continues handing out ids after `issued` (at least the node's block).
    pub fn resume_producer_ids(&mut self, issued: i64) {
        let block = i64::from(self.config.node_id.max(0)) * NODE_ID_BLOCK;
        self.producer_ids.issued = issued.max(block).max(self.producer_ids.issued);
    }
}

/// One partition's outcome: its base offset, or why it failed.
type PartitionOutcome = Result<(i64, i64), (ResponseError, String)>;

/// An acks=all Produce whose batches are appended and not yet replicated to
/// every in-sync replica: its response, and per waiting partition where it
/// sits in the response, which log and the offset the high watermark must
/// pass, in the leader epoch it was appended in.
#[derive(Debug)]
pub struct PendingAcks {
    response: ProduceResponse,
    waiting: Vec<AwaitedPartition>,
}

#[derive(Debug)]
struct AwaitedPartition {
    topic_at: usize,
    partition_at: usize,
    name: StrBytes,
    partition: i32,
    leader_epoch: i32,
    offset: i64,
}

impl Broker {
    pub(super) fn produce(
        &mut self,
        request: ProduceRequest,
        version: i16,
        correlation_id: i32,
    ) -> Result<Answer, DispatchError> {
        let mut response = ProduceResponse::default();
        let mut first_error = None;
        let mut waiting = Vec::new();
        for topic in request.topic_data {
            let name = self.topics.resolve(version >= 13, &topic.name, topic.topic_id);
            let mut topic_response = TopicProduceResponse::default();
            if version >= 13 {
                topic_response.topic_id = topic.topic_id;
            } else {
                topic_response.name = topic.name;
            }
            for partition in topic.partition_data {
                let outcome = match &name {
                    _ if !matches!(request.acks, -1..=1) => {
                        Err((ResponseError::InvalidRequiredAcks, "acks must be -1, 0 or 1".to_owned()))
                    }
                    None => Err((ResponseError::UnknownTopicId, "unknown topic id".to_owned())),
                    Some(name) => self.append(name, partition.index, partition.records, version, request.acks),
                };
                let mut result = PartitionProduceResponse::default().with_index(partition.index);
                match outcome {
                    Ok((base_offset, log_start_offset)) => {
                        let awaited = name.as_ref().filter(|_| request.acks == -1).and_then(|name| {
                            let log = self.topics.replica(name, partition.index)?;
                            (log.log.high_watermark() <= base_offset).then(|| AwaitedPartition {
                                topic_at: response.responses.len(),
                                partition_at: topic_response.partition_responses.len(),
                                name: name.clone(),
                                partition: partition.index,
                                leader_epoch: log.assignment.leader_epoch,
                                offset: base_offset + 1,
                            })
                        });
                        waiting.extend(awaited);
                        result.base_offset = base_offset;
                        if version >= 5 {
                            result.log_start_offset = log_start_offset;
                        }
                    }
                    Err((error, message)) => {
                        first_error.get_or_insert(error);
                        result.error_code = error.code();
                        result.base_offset = -1;
                        if version >= 8 {
                            result.error_message = Some(StrBytes::from_string(message));
                        }
                    }
                }
                topic_response.partition_responses.push(result);
            }
            response.responses.push(topic_response);
        }
        if request.acks == 0 {
            return match first_error {
                None => Ok(Answer::Nothing),
                Some(error) => Err(DispatchError::UnacknowledgedProduceFailed { correlation_id, error }),
            };
        }
        if waiting.is_empty() {
            return Ok(Answer::Now(response.into()));
        }
        let deadline_ms = self.now_ms().saturating_add(i64::from(request.timeout_ms.max(0)));
        Ok(Answer::Wait {
            waiting: Waiting::Produce(PendingAcks { response, waiting }),
            deadline_ms,
        })
    }

    /// An acks=all Produce again: answered once every partition's high
    /// watermark passed its batch, or its leadership or the ISR it needs is
    /// gone, or its time ran out.
    pub(super) fn poll_acks(&mut self, pending: PendingAcks, expired: bool) -> Answer {
        let PendingAcks { mut response, waiting } = pending;
        let node = self.leader_id();
        let min_insync = self.config.min_insync_replicas;
        let mut still = Vec::new();
        for awaited in waiting {
            let partition = self.topics.replica(&awaited.name, awaited.partition);
            let outcome = match partition {
                Some(p) if p.assignment.leader_epoch != awaited.leader_epoch || !p.assignment.is_leader(node) => {
                    Some(ResponseError::NotLeaderOrFollower)
                }
                // Kafka checks the ISR first: too few in sync is an error even
                // once the high watermark passed the batch.
                Some(p) if p.assignment.isr.len() < min_insync => Some(ResponseError::NotEnoughReplicasAfterAppend),
                Some(p) if p.log.high_watermark() >= awaited.offset => None,
                Some(_) if !expired => {
                    still.push(awaited);
                    continue;
                }
                Some(_) => Some(ResponseError::RequestTimedOut),
                None => Some(ResponseError::UnknownTopicOrPartition),
            };
            if let Some(error) = outcome {
                let result = &mut response.responses[awaited.topic_at].partition_responses[awaited.partition_at];
                result.error_code = error.code();
                result.base_offset = -1;
            }
        }
        Answer::now_or_wait(response, still.is_empty(), |response| {
            Waiting::Produce(PendingAcks {
                response,
                waiting: still,
            })
        })
    }

    /// Appends one partition's records: (base offset, log start offset).
    fn append(
        &mut self,
        name: &StrBytes,
        index: i32,
        records: Option<Bytes>,
        version: i16,
        acks: i16,
    ) -> PartitionOutcome {
        let node = self.leader_id();
        let config = &self.config;
        let min_insync = config.min_insync_replicas;
        let limits = config.batch_limits;
        let invalid = |message: &str| Err((ResponseError::InvalidRecord, message.to_owned()));
        if self.topics.get(name).is_none() {
            // Alone, the topic exists now; on a cluster once the quorum says so.
            let error = self
                .auto_create(name)
                .err()
                .unwrap_or(ResponseError::UnknownTopicOrPartition);
            if self.topics.get(name).is_none() {
                return Err((error, format!("topic {}", name.as_str())));
            }
        }
        let (max_message_bytes, compacted) = self.topics.get(name).map_or((None, false), |topic| {
            (topic.config.max_message_bytes(&self.config), topic.config.compacted())
        });
        let partition = self
            .topics
            .partition_mut(name, index)
            .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("no partition {index}")))?;
        let node = if planted!(FollowerAcceptsProduce) {
            partition.assignment.leader
        } else {
            node
        };
        if !partition.assignment.is_leader(node) {
            let leader = partition.assignment.leader;
            return Err((
                ResponseError::NotLeaderOrFollower,
                format!("the leader is broker {leader}"),
            ));
        }
        if acks == -1 && partition.assignment.isr.len() < min_insync {
            let isr = partition.assignment.isr.len();
            return Err((
                ResponseError::NotEnoughReplicas,
                format!("{isr} in-sync replicas, min.insync.replicas is {min_insync}"),
            ));
        }
        let Some(raw) = records.filter(|raw| !raw.is_empty()) else {
            return invalid("no record batch");
        };
        if let Some(max) = max_message_bytes.filter(|&max| raw.len() > max) {
            return Err((
                ResponseError::MessageTooLarge,
                format!("a {}-byte batch; max.message.bytes is {max}", raw.len()),
            ));
        }
        let batches = decode_record_batches(raw.clone(), limits).map_err(|error| {
            let code = match error.kind {
                DecodeErrorKind::UnsupportedMagic { .. } => ResponseError::InvalidRecord,
                _ => ResponseError::CorruptMessage,
            };
            (code, error.to_string())
        })?;
        let [batch] = &batches[..] else {
            return invalid("produce requests v3+ carry exactly one record batch per partition");
        };
        if batch.is_control() {
            return invalid("clients may not produce control batches");
        }
        if batch.records.is_empty() {
            return invalid("record batch has no records");
        }
        if compacted && batch.records.iter().any(|record| record.key.is_none()) {
            return invalid("Compacted topic cannot accept message without key");
        }
        let sequential = (0..)
            .zip(&batch.records)
            .all(|(delta, record)| record.offset_delta == delta);
        if !sequential || usize::try_from(batch.last_offset_delta) != Ok(batch.records.len() - 1) {
            return invalid("record offset deltas must count from 0 to the batch's last offset delta");
        }
        if batch.codec == Codec::Zstd && version < FIRST_ZSTD_VERSION {
            return Err((
                ResponseError::UnsupportedCompressionType,
                "zstd needs produce v7 or later".to_owned(),
            ));
        }
        if batch.is_transactional() {
            return Err((
                ResponseError::InvalidTxnState,
                "this broker runs no transactions".to_owned(),
            ));
        }
        if batch.producer_id >= 0 && (batch.producer_epoch < 0 || batch.base_sequence < 0) {
            return invalid("an idempotent batch needs a producer epoch and a base sequence");
        }
        let leader_epoch = partition.assignment.leader_epoch;
        let appended = partition
            .log
            .append(batch, &raw, leader_epoch)
            .map_err(|error| (error, format!("producer {} rejected", batch.producer_id)))?;
        advance_high_watermark(partition, node);
        Ok((appended.base_offset, partition.log.log_start_offset()))
    }

    /// A topic a client named that does not exist: created with the default
    /// partitions and replication when `auto.create.topics.enable` allows
    /// (at once alone, through the quorum on a cluster); the error that
    /// refuses it otherwise.
    pub(super) fn auto_create(&mut self, name: &StrBytes) -> Result<(), ResponseError> {
        let config = &self.config;
        if !config.auto_create_topics {
            return Err(ResponseError::UnknownTopicOrPartition);
        }
        let partitions = config.default_partitions;
        self.topics
            .check_new(name, partitions, config.max_partitions_per_topic)
            .map_err(|refused| refused.error)?;
        // Too few live brokers for the replication factor: not created, and
        // the client asks again (Kafka's auto-creation fails the same way).
        let replicas = self
            .place_replicas(partitions, config.default_replication_factor)
            .ok_or(ResponseError::LeaderNotAvailable)?;
        self.propose(MetadataRecord::CreateTopic {
            name: name.to_string(),
            replicas,
            request: None,
            configs: BTreeMap::new(),
        });
        Ok(())
    }

    /// A producer without a transactional id always gets a new id at epoch
    /// 0, as Kafka does; a transactional id keeps its producer id and each
    /// initialization bumps its epoch, fencing the previous incarnation.
    pub(super) fn init_producer_id(&mut self, request: InitProducerIdRequest) -> InitProducerIdResponse {
        let failed = |error: ResponseError| {
            InitProducerIdResponse::default()
                .with_error_code(error.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        };
        let Some(transactional_id) = request.transactional_id else {
            let id = self.producer_ids.next();
            return InitProducerIdResponse::default().with_producer_id(ProducerId(id));
        };
        if transactional_id.is_empty() {
            return failed(ResponseError::InvalidRequest);
        }
        if !(1..=self.config.max_transaction_timeout_ms).contains(&request.transaction_timeout_ms) {
            return failed(ResponseError::InvalidTransactionTimeout);
        }
        let current = self.producer_ids.transactional.get(&transactional_id.0).copied();
        // v3+: a producer names the id and epoch it had; a stale pair is fenced.
        if request.producer_id.0 != -1 && current != Some((request.producer_id.0, request.producer_epoch)) {
            return failed(ResponseError::ProducerFenced);
        }
        let (id, epoch) = match current {
            Some((id, epoch)) if epoch < i16::MAX - 1 => {
                (id, epoch + i16::from(!planted!(TransactionalEpochNotBumped)))
            }
            _ => (self.producer_ids.next(), 0),
        };
        self.producer_ids.transactional.insert(transactional_id.0, (id, epoch));
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch)
    }
}
