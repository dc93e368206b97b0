//! What moves a partition's log start up: DeleteRecords, on its leader, as
//! Kafka's `ReplicaManager.deleteRecords` does, and a topic's
//! `retention.ms`, on every replica. Reads below the log start are out of
//! range; followers also move theirs to the leader's when they next fetch
//! (the leader's log start rides on every replica fetch answer).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::dispatcher::Broker;
use super::replica_api::led;

/// DeleteRecords' "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

impl Broker {
    pub(super) fn delete_records(&mut self, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
        let node = self.leader_id();
        let topics = request
            .topics
            .into_iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|wanted| {
                        let index = wanted.partition_index;
                        let result = DeleteRecordsPartitionResult::default().with_partition_index(index);
                        let led = led(self.topics.replica(&topic.name, index), node, -1).map(drop);
                        let moved = led.and_then(|()| self.move_log_start(&topic.name, index, wanted.offset));
                        match moved {
                            Ok(low_watermark) => result.with_low_watermark(low_watermark),
                            Err(error) => result.with_low_watermark(-1).with_error_code(error.code()),
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(topic.name)
                    .with_partitions(partitions)
            })
            .collect();
        DeleteRecordsResponse::default().with_topics(topics)
    }

    /// Kafka's retention check, run before each request: the batches of a
    /// topic with `retention.ms` that are older than that go.
    pub(super) fn expire_records(&mut self) {
        let now_ms = self.now_ms();
        for topic in self.topics.iter_mut() {
            let Some(retention_ms) = topic.config.retention_ms() else {
                continue;
            };
            let retention_ms = if planted!(RetentionInMicroseconds) {
                retention_ms / 1000
            } else {
                retention_ms
            };
            let cutoff_ms = now_ms.saturating_sub(retention_ms);
            for partition in &mut topic.partitions {
                partition.log.expire_before(cutoff_ms);
            }
        }
    }

    /// The leader's log of `topic`/`index` starts at `offset` (-1: its high
    /// watermark) from now on; its new log start. Only what every in-sync
    /// replica holds can go: past the high watermark is out of range.
    fn move_log_start(
        &mut self,
        topic: &kafka_protocol::protocol::StrBytes,
        index: i32,
        offset: i64,
    ) -> Result<i64, ResponseError> {
        let deletable = self.topics.get(topic).is_none_or(|topic| topic.config.deletable());
        if !deletable {
            return Err(ResponseError::PolicyViolation);
        }
        let log = &mut self
            .topics
            .partition_mut(topic, index)
            .ok_or(ResponseError::UnknownTopicOrPartition)?
            .log;
        let offset = match offset {
            HIGH_WATERMARK => log.high_watermark(),
            offset if offset < 0 || offset > log.high_watermark() => return Err(ResponseError::OffsetOutOfRange),
            offset => offset,
        };
        log.advance_log_start(offset + i64::from(planted!(DeleteRecordsOnePast)));
        Ok(log.log_start_offset())
    }
}
