//! Fetch and ListOffsets: reading the logs.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::{Answer, Broker, Waiting};
use super::log::PartitionLog;
use super::replica_api::led;

/// READ_COMMITTED: with no transactions, the same records, plus an (empty)
/// list of aborted transactions.
const READ_COMMITTED: i8 = 1;

impl Broker {
    /// Fetch. Without `expired`, a fetch that finds fewer than `min_bytes`
    /// waits (up to `max_wait_ms`) for more; errors answer at once.
    pub(super) fn fetch(&mut self, request: FetchRequest, version: i16, expired: bool) -> Answer {
        let node = self.leader_id();
        let mut response = FetchResponse::default();
        if version >= 7 {
            // Fetch sessions are declined (the broker never hands out a
            // session id), so only session-less and new-session requests
            // are valid, as with a Kafka broker whose session cache is full.
            let session_error = match (request.session_id, request.session_epoch) {
                (0, -1 | 0) => None,
                (0, _) => Some(ResponseError::InvalidFetchSessionEpoch),
                _ => Some(ResponseError::FetchSessionIdNotFound),
            };
            if let Some(error) = session_error {
                response.error_code = error.code();
                return Answer::Now(response.into());
            }
        }
        let mut remaining = usize::try_from(request.max_bytes).unwrap_or(0);
        let mut min_one = true;
        let mut total = 0usize;
        let mut any_error = false;
        for topic in &request.topics {
            let name = self.topics.resolve(version >= 13, &topic.topic, topic.topic_id);
            let mut topic_response = FetchableTopicResponse::default();
            if version >= 13 {
                topic_response.topic_id = topic.topic_id;
            } else {
                topic_response.topic = topic.topic.clone();
            }
            for partition in &topic.partitions {
                let limit = usize::try_from(partition.partition_max_bytes)
                    .unwrap_or(0)
                    .min(remaining);
                let read = (|| -> Result<(&PartitionLog, Bytes), ResponseError> {
                    let name = name.as_ref().ok_or(ResponseError::UnknownTopicId)?;
                    let epoch = if version >= 9 {
                        partition.current_leader_epoch
                    } else {
                        -1
                    };
                    let log = &led(self.topics.replica(name, partition.partition), node, epoch)?.log;
                    let records = log
                        .read(partition.fetch_offset, limit, min_one, log.high_watermark())
                        .map_err(|_| ResponseError::OffsetOutOfRange)?;
                    Ok((log, records))
                })();
                let mut data = PartitionData::default().with_partition_index(partition.partition);
                match read {
                    Ok((log, records)) => {
                        if !records.is_empty() {
                            min_one = planted!(FetchMinOneEveryPartition);
                            if !planted!(FetchMaxBytesPerPartition) {
                                remaining = remaining.saturating_sub(records.len());
                            }
                            total += records.len();
                        }
                        fill_partition(&mut data, log, records, version, request.isolation_level);
                    }
                    Err(error) => {
                        any_error = true;
                        data.error_code = error.code();
                        data.high_watermark = -1;
                        data.last_stable_offset = -1;
                        if version >= 5 {
                            data.log_start_offset = -1;
                        }
                        data.records = Some(Bytes::new());
                    }
                }
                topic_response.partitions.push(data);
            }
            response.responses.push(topic_response);
        }
        let enough = total >= usize::try_from(request.min_bytes).unwrap_or(0);
        if expired || enough || any_error || request.max_wait_ms <= 0 {
            return Answer::Now(response.into());
        }
        let deadline_ms = if planted!(LongPollNeverExpires) {
            i64::MAX
        } else {
            self.now_ms().saturating_add(i64::from(request.max_wait_ms))
        };
        Answer::Wait {
            waiting: Waiting::Fetch(request),
            deadline_ms,
        }
    }

    pub(super) fn list_offsets(&self, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
        let node = self.leader_id();
        let mut counts: HashMap<(&StrBytes, i32), usize> = HashMap::new();
        for topic in &request.topics {
            for partition in &topic.partitions {
                *counts.entry((&topic.name.0, partition.partition_index)).or_default() += 1;
            }
        }
        let mut response = ListOffsetsResponse::default();
        for topic in &request.topics {
            let mut topic_response = ListOffsetsTopicResponse::default().with_name(topic.name.clone());
            for partition in &topic.partitions {
                let found = (|| -> Result<(i64, i64, i32), ResponseError> {
                    if counts[&(&topic.name.0, partition.partition_index)] > 1 {
                        return Err(ResponseError::InvalidRequest);
                    }
                    let epoch = if version >= 4 {
                        partition.current_leader_epoch
                    } else {
                        -1
                    };
                    let replica = led(self.topics.replica(&topic.name, partition.partition_index), node, epoch)?;
                    let (offset, timestamp) = replica.log.offset_for_timestamp(partition.timestamp);
                    Ok((offset, timestamp, replica.assignment.leader_epoch))
                })();
                let mut result = ListOffsetsPartitionResponse::default()
                    .with_partition_index(partition.partition_index)
                    .with_timestamp(-1)
                    .with_offset(-1);
                match found {
                    Ok((offset, timestamp, leader_epoch)) => {
                        result.offset = offset;
                        result.timestamp = timestamp;
                        if version >= 4 {
                            result.leader_epoch = if offset >= 0 { leader_epoch } else { -1 };
                        }
                    }
                    Err(error) => result.error_code = error.code(),
                }
                topic_response.partitions.push(result);
            }
            response.topics.push(topic_response);
        }
        response
    }
}

fn fill_partition(data: &mut PartitionData, log: &PartitionLog, records: Bytes, version: i16, isolation_level: i8) {
    data.high_watermark = log.high_watermark();
    data.last_stable_offset = log.high_watermark() + i64::from(planted!(LastStableOffsetPastHighWatermark));
    if version >= 5 {
        data.log_start_offset = log.log_start_offset();
    }
    if isolation_level == READ_COMMITTED {
        data.aborted_transactions = Some(Vec::new());
    }
    data.records = Some(records);
}
