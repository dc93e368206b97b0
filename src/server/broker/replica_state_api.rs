//! What one broker's replicas hold, as consumers and admin tools ask it:
//! OffsetForLeaderEpoch (where an epoch ended: a consumer's check for a
//! truncated log, KIP-320), DescribeProducers (the idempotent producers of
//! a partition, KIP-664) and DescribeLogDirs (the size of each replica).

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{
    DescribeLogDirsRequest, DescribeLogDirsResponse, DescribeProducersRequest, DescribeProducersResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::Broker;
use super::replica_api::led;
use super::topics::Topic;

/// The one log directory of a broker that keeps its logs in memory (a
/// cluster node's write-ahead log is one file, not a directory per log).
const LOG_DIR: &str = "/kafka-fuzz/logs";
/// Kafka's `UNKNOWN_VOLUME_BYTES`: a volume whose size is not known.
const UNKNOWN_VOLUME_BYTES: i64 = -1;
/// No epoch or offset: the log holds no epoch at or below the one asked.
const UNDEFINED: (i32, i64) = (-1, -1);

impl Broker {
    pub(super) fn offset_for_leader_epoch(&self, request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
        let node = self.leader_id();
        let topics = request.topics.into_iter().map(|topic| {
            let partitions = topic.partitions.iter().map(|wanted| {
                let replica = self.topics.replica(&topic.topic, wanted.partition);
                let found = led(replica, node, wanted.current_leader_epoch).map(|partition| {
                    partition
                        .log
                        .end_offset_for_epoch(wanted.leader_epoch)
                        .unwrap_or(UNDEFINED)
                });
                let answer = EpochEndOffset::default().with_partition(wanted.partition);
                match found {
                    Ok((leader_epoch, end_offset)) => {
                        answer.with_leader_epoch(leader_epoch).with_end_offset(end_offset)
                    }
                    Err(error) => answer
                        .with_error_code(error.code())
                        .with_leader_epoch(UNDEFINED.0)
                        .with_end_offset(UNDEFINED.1),
                }
            });
            OffsetForLeaderTopicResult::default()
                .with_partitions(partitions.collect())
                .with_topic(topic.topic)
        });
        OffsetForLeaderEpochResponse::default().with_topics(topics.collect())
    }

    pub(super) fn describe_producers(&self, request: DescribeProducersRequest) -> DescribeProducersResponse {
        let node = self.leader_id();
        let topics = request.topics.into_iter().map(|topic| {
            let partitions = topic.partition_indexes.iter().map(|&index| {
                let answer = PartitionResponse::default().with_partition_index(index);
                match led(self.topics.replica(&topic.name, index), node, -1) {
                    Ok(partition) => {
                        let producers = partition.log.active_producers().into_iter().map(|producer| {
                            ProducerState::default()
                                .with_producer_id(producer.producer_id.into())
                                .with_producer_epoch(i32::from(producer.epoch))
                                .with_last_sequence(producer.last_sequence)
                                .with_last_timestamp(producer.last_timestamp)
                                // Idempotent, not transactional: no coordinator, no open transaction.
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(-1)
                        });
                        answer.with_active_producers(producers.collect())
                    }
                    Err(error) => answer.with_error_code(error.code()),
                }
            });
            TopicResponse::default()
                .with_partitions(partitions.collect())
                .with_name(topic.name)
        });
        DescribeProducersResponse::default().with_topics(topics.collect())
    }

    /// Every replica this broker holds, or those asked for that it holds:
    /// Kafka leaves out the partitions a broker has no replica of.
    pub(super) fn describe_log_dirs(&self, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
        let node = self.leader_id();
        let held = |topic: &Topic, index: usize| {
            let partition = topic.partitions.get(index)?;
            partition.assignment.replicas.contains(&node).then(|| {
                let log = &partition.log;
                DescribeLogDirsPartition::default()
                    .with_partition_index(i32::try_from(index).unwrap_or(i32::MAX))
                    .with_partition_size(log.size_bytes())
                    .with_offset_lag((log.high_watermark() - log.log_end_offset()).max(0))
            })
        };
        let described: Vec<DescribeLogDirsTopic> = match request.topics {
            None => self
                .topics
                .iter()
                .map(|topic| {
                    let partitions = (0..topic.partitions.len()).filter_map(|index| held(topic, index));
                    DescribeLogDirsTopic::default()
                        .with_name(topic.name.clone().into())
                        .with_partitions(partitions.collect())
                })
                .collect(),
            Some(wanted) => wanted
                .into_iter()
                .filter_map(|wanted| {
                    let topic = self.topics.get(&wanted.topic)?;
                    let indexes = wanted
                        .partitions
                        .iter()
                        .filter_map(|&index| usize::try_from(index).ok());
                    let partitions = indexes.filter_map(|index| held(topic, index));
                    Some(
                        DescribeLogDirsTopic::default()
                            .with_name(wanted.topic)
                            .with_partitions(partitions.collect()),
                    )
                })
                .collect(),
        };
        let topics = described.into_iter().filter(|topic| !topic.partitions.is_empty());
        let result = DescribeLogDirsResult::default()
            .with_log_dir(StrBytes::from_static_str(LOG_DIR))
            .with_topics(topics.collect())
            .with_total_bytes(UNKNOWN_VOLUME_BYTES)
            .with_usable_bytes(UNKNOWN_VOLUME_BYTES);
        DescribeLogDirsResponse::default().with_results(vec![result])
    }
}
