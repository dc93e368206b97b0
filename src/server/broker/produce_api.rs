//! Produce and InitProducerId: appending batches, idempotent producers.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::{Answer, Broker, DispatchError};
use crate::server::wire::{Codec, DecodeErrorKind, decode_record_batches};

/// Produce v7 is the first that may carry zstd batches.
const FIRST_ZSTD_VERSION: i16 = 7;

/// Producer ids handed out by InitProducerId, and the id and epoch of each
/// transactional id.
#[derive(Debug, Clone, Default)]
pub struct ProducerIds {
    issued: i64,
    transactional: HashMap<StrBytes, (i64, i16)>,
}

impl ProducerIds {
    fn next(&mut self) -> i64 {
        self.issued += 1;
        self.issued
    }
}

/// One partition's outcome: its base offset, or why it failed.
type PartitionOutcome = Result<(i64, i64), (ResponseError, String)>;

impl Broker {
    pub(super) fn produce(
        &mut self,
        request: ProduceRequest,
        version: i16,
        correlation_id: i32,
    ) -> Result<Answer, DispatchError> {
        let mut response = ProduceResponse::default();
        let mut first_error = None;
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
                    Some(name) => self.append(name, partition.index, partition.records, version),
                };
                let mut result = PartitionProduceResponse::default().with_index(partition.index);
                match outcome {
                    Ok((base_offset, log_start_offset)) => {
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
        Ok(Answer::Now(response.into()))
    }

    /// Appends one partition's records: (base offset, log start offset).
    fn append(&mut self, name: &StrBytes, index: i32, records: Option<Bytes>, version: i16) -> PartitionOutcome {
        let config = &self.config;
        let (auto_create, partitions, max) = (
            config.auto_create_topics,
            config.default_partitions,
            config.max_partitions_per_topic,
        );
        let limits = config.batch_limits;
        let invalid = |message: &str| Err((ResponseError::InvalidRecord, message.to_owned()));
        self.topics
            .get_or_create(name, auto_create, partitions, max)
            .map_err(|error| (error, format!("topic {}", name.as_str())))?;
        let log = self
            .topics
            .partition_mut(name, index)
            .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("no partition {index}")))?;
        let Some(raw) = records.filter(|raw| !raw.is_empty()) else {
            return invalid("no record batch");
        };
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
        let appended = log
            .append(batch, &raw)
            .map_err(|error| (error, format!("producer {} rejected", batch.producer_id)))?;
        Ok((appended.base_offset, log.log_start_offset()))
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
            Some((id, epoch)) if epoch < i16::MAX - 1 => (id, epoch + 1),
            _ => (self.producer_ids.next(), 0),
        };
        self.producer_ids.transactional.insert(transactional_id.0, (id, epoch));
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch)
    }
}
