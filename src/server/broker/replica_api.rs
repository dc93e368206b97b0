//! Partition replication as Kafka does it: followers fetch from the leader
//! (replica id, leader epoch, fetch offset, the epoch of their last batch);
//! the leader answers with its batches and high watermark, or with the epoch
//! and offset where the follower's log diverged from its own (KIP-320), and
//! tracks each follower's log end to move the high watermark and to shrink
//! and expand the ISR through the controller.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};

use super::dispatcher::Broker;
use super::metadata::MetadataRecord;
use super::topics::{Partition, PendingAlter};
use crate::server::wire::decode_record_batches;

/// How long a proposed ISR change may stay unapplied before it is proposed
/// again (the proposal may have been lost with a controller).
const ALTER_RETRY_MS: i64 = 1_000;

/// A follower's fetch, for every partition it follows on one leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaFetch {
    pub replica: i32,
    pub max_bytes: u32,
    pub partitions: Vec<ReplicaFetchPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaFetchPartition {
    pub topic: String,
    pub partition: i32,
    /// The leader epoch the follower believes in.
    pub leader_epoch: i32,
    /// The follower's log end offset.
    pub fetch_offset: i64,
    /// The epoch of the follower's last batch, -1 for none.
    pub last_fetched_epoch: i32,
}

/// The leader's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaFetched {
    pub partitions: Vec<FetchedPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedPartition {
    pub topic: String,
    pub partition: i32,
    pub leader_epoch: i32,
    /// A Kafka error code; 0 for none.
    pub error: i16,
    pub high_watermark: i64,
    /// The leader's log start: a follower's moves up to it (DeleteRecords).
    pub log_start_offset: i64,
    /// Where the follower must truncate to first: (epoch, end offset).
    pub diverging: Option<(i32, i64)>,
    pub records: Bytes,
}

/// Kafka's check of the leader epoch a request believes in against the
/// partition's: -1 skips it, an older one is fenced, a newer one unknown.
pub(super) fn check_leader_epoch(requested: i32, current: i32) -> Result<(), ResponseError> {
    match requested {
        -1 => Ok(()),
        same if same == current => Ok(()),
        newer if newer > current => Err(ResponseError::UnknownLeaderEpoch),
        _ => Err(ResponseError::FencedLeaderEpoch),
    }
}

/// A partition this broker must lead for a client request, with the epoch
/// check of the request's `leader_epoch`.
pub(super) fn led(partition: Option<&Partition>, node: i32, leader_epoch: i32) -> Result<&Partition, ResponseError> {
    let partition = partition.ok_or(ResponseError::UnknownTopicOrPartition)?;
    check_leader_epoch(leader_epoch, partition.assignment.leader_epoch)?;
    if !partition.assignment.is_leader(node) {
        return Err(ResponseError::NotLeaderOrFollower);
    }
    Ok(partition)
}

impl Broker {
    /// The leader's side of a replica fetch.
    pub fn replica_fetch(&mut self, request: &ReplicaFetch) -> ReplicaFetched {
        let node = self.leader_id();
        let now_ms = self.now_ms();
        let mut remaining = request.max_bytes as usize;
        let mut partitions = Vec::with_capacity(request.partitions.len());
        for wanted in &request.partitions {
            let name = StrBytes::from_string(wanted.topic.clone());
            let mut answer = FetchedPartition {
                topic: wanted.topic.clone(),
                partition: wanted.partition,
                leader_epoch: -1,
                error: 0,
                high_watermark: -1,
                log_start_offset: -1,
                diverging: None,
                records: Bytes::new(),
            };
            let found = led(self.topics.replica(&name, wanted.partition), node, wanted.leader_epoch)
                .map(|partition| partition.assignment.replicas.contains(&request.replica));
            match found {
                Ok(true) => {}
                Ok(false) => answer.error = ResponseError::NotLeaderOrFollower.code(),
                Err(error) => answer.error = error.code(),
            }
            let Some(partition) = self
                .topics
                .partition_mut(&name, wanted.partition)
                .filter(|_| answer.error == 0)
            else {
                partitions.push(answer);
                continue;
            };
            answer.leader_epoch = partition.assignment.leader_epoch;
            let log = &partition.log;
            answer.log_start_offset = log.log_start_offset();
            let diverged = (wanted.last_fetched_epoch >= 0)
                .then(|| {
                    log.end_offset_for_epoch(wanted.last_fetched_epoch)
                        .unwrap_or((-1, log.log_start_offset()))
                })
                .filter(|&(epoch, end)| epoch != wanted.last_fetched_epoch || end < wanted.fetch_offset);
            if let Some(diverging) = diverged {
                answer.diverging = Some(diverging);
            } else {
                // The first batch of the answer goes whatever its size, so a
                // batch larger than the fetch still replicates (KIP-74).
                let first = partitions.iter().all(|p: &FetchedPartition| p.records.is_empty());
                match log.read(wanted.fetch_offset, remaining, first, i64::MAX) {
                    Ok(records) => {
                        remaining = remaining.saturating_sub(records.len());
                        answer.records = records;
                        let end = log.log_end_offset();
                        tracing::trace!(
                            node,
                            replica = request.replica,
                            topic = wanted.topic,
                            partition = wanted.partition,
                            fetch_offset = wanted.fetch_offset,
                            end,
                            "fetched"
                        );
                        partition
                            .followers
                            .fetched(request.replica, wanted.fetch_offset, end, now_ms);
                    }
                    Err(_) => answer.error = ResponseError::OffsetOutOfRange.code(),
                }
            }
            advance_high_watermark(partition, node);
            answer.high_watermark = partition.log.high_watermark();
            partitions.push(answer);
        }
        ReplicaFetched { partitions }
    }

    /// What this broker, as a follower, asks `leader` for: every partition
    /// it holds a replica of that `leader` leads.
    pub fn replica_fetch_request(&self, leader: i32, max_bytes: u32) -> Option<ReplicaFetch> {
        let node = self.config.node_id;
        let partitions: Vec<ReplicaFetchPartition> = self
            .topics
            .iter()
            .flat_map(|topic| {
                (0..)
                    .zip(&topic.partitions)
                    .map(move |(index, partition)| (topic, index, partition))
            })
            .filter(|(_, _, partition)| {
                let assignment = &partition.assignment;
                assignment.leader == leader && leader != node && assignment.replicas.contains(&node)
            })
            .map(|(topic, index, partition)| ReplicaFetchPartition {
                topic: topic.name.to_string(),
                partition: index,
                leader_epoch: partition.assignment.leader_epoch,
                fetch_offset: partition.log.log_end_offset(),
                last_fetched_epoch: partition.log.latest_epoch(),
            })
            .collect();
        (!partitions.is_empty()).then_some(ReplicaFetch {
            replica: node,
            max_bytes,
            partitions,
        })
    }

    /// The leaders this broker follows some partition on.
    pub fn followed_leaders(&self) -> Vec<i32> {
        let node = self.config.node_id;
        let mut leaders: Vec<i32> = self
            .topics
            .iter()
            .flat_map(|topic| &topic.partitions)
            .map(|partition| &partition.assignment)
            .filter(|assignment| assignment.leader >= 0 && assignment.leader != node)
            .filter(|assignment| assignment.replicas.contains(&node))
            .map(|assignment| assignment.leader)
            .collect();
        leaders.sort_unstable();
        leaders.dedup();
        leaders
    }

    /// The follower's side: truncate where the leader says the logs
    /// diverged, append what it sent, follow its high watermark. An answer
    /// from an epoch this broker no longer follows is ignored.
    pub fn apply_replica_fetched(&mut self, leader: i32, fetched: ReplicaFetched) {
        let node = self.config.node_id;
        let limits = self.config.batch_limits;
        for answer in fetched.partitions {
            let name = StrBytes::from_string(answer.topic);
            let Some(partition) = self.topics.partition_mut(&name, answer.partition) else {
                continue;
            };
            let assignment = &partition.assignment;
            let current = assignment.leader == leader
                && assignment.leader != node
                && assignment.leader_epoch == answer.leader_epoch;
            if !current {
                continue;
            }
            let log = &mut partition.log;
            // Before the error: a fetch below the leader's log start is out
            // of range, and the follower starts over at the leader's start.
            log.advance_log_start(answer.log_start_offset);
            if answer.error != 0 {
                continue;
            }
            let diverging = answer.diverging.filter(|_| !planted!(NoTruncation));
            if let Some((epoch, end)) = diverging {
                let own_end = log
                    .end_offset_for_epoch(epoch)
                    .map_or(log.log_start_offset(), |(_, end)| end);
                tracing::debug!(node, leader, epoch, end, own_end, "truncate");
                log.truncate(end.min(own_end));
                continue;
            }
            // Batches that do not decode or do not continue the log are the
            // leader's fault or a stale answer: the next fetch starts over
            // from this log's end.
            if let Ok(batches) = decode_record_batches(answer.records.clone(), limits) {
                let mut at = 0usize;
                for batch in batches {
                    let size = 12 + usize::try_from(batch.batch_length).unwrap_or(0);
                    let raw = answer.records.slice(at..(at + size).min(answer.records.len()));
                    at += size;
                    if log.append_replicated(&batch, raw).is_err() {
                        break;
                    }
                }
            }
            let high_watermark = answer.high_watermark.min(log.log_end_offset());
            if high_watermark > log.high_watermark() {
                log.set_high_watermark(high_watermark);
            }
        }
    }

    /// The leader's periodic duty (Kafka's `maybeShrinkIsr`, and the ISR
    /// expansion a fetch triggers): propose dropping followers that stopped
    /// keeping up, and adding those that caught up; one change at a time.
    pub fn check_in_sync_replicas(&mut self) {
        let node = self.leader_id();
        let now_ms = self.now_ms();
        let max_lag_ms = self.config.replica_lag_time_max_ms;
        let fenced = &self.view.fenced;
        let mut changes = Vec::new();
        for topic in self.topics.iter_mut() {
            for (index, partition) in (0..).zip(topic.partitions.iter_mut()) {
                let assignment = &partition.assignment;
                if !assignment.is_leader(node) || assignment.replicas.len() < 2 {
                    continue;
                }
                let alter = |isr: Vec<i32>| MetadataRecord::AlterPartition {
                    topic: topic.name.to_string(),
                    partition: index,
                    partition_epoch: assignment.partition_epoch,
                    isr,
                    leader: None,
                };
                if let Some(pending) = &mut partition.alter_sent
                    && pending.partition_epoch == assignment.partition_epoch
                {
                    // It may have been lost with a controller: send it again.
                    if now_ms - pending.sent_ms >= ALTER_RETRY_MS {
                        pending.sent_ms = now_ms;
                        changes.push(alter(pending.isr.clone()));
                    }
                    continue;
                }
                let lagging = partition.followers.lagging(node, &assignment.isr, now_ms, max_lag_ms);
                let high_watermark = partition.log.high_watermark();
                let joining = partition
                    .followers
                    .caught_up(assignment, high_watermark, |id| !fenced.contains(&id));
                if lagging.is_empty() && joining.is_empty() {
                    partition.alter_sent = None;
                    continue;
                }
                let mut isr: Vec<i32> = assignment
                    .isr
                    .iter()
                    .copied()
                    .filter(|id| !lagging.contains(id))
                    .chain(joining)
                    .collect();
                isr.sort_unstable();
                changes.push(alter(isr.clone()));
                partition.alter_sent = Some(PendingAlter {
                    partition_epoch: assignment.partition_epoch,
                    isr,
                    sent_ms: now_ms,
                });
            }
        }
        for change in changes {
            self.propose(change);
        }
    }
}

/// Moves a leader's high watermark to the lowest log end in its ISR; it
/// never goes back (a new leader keeps the one it had until its followers
/// catch up, as Kafka's does).
pub(super) fn advance_high_watermark(partition: &mut Partition, node: i32) {
    let assignment = &partition.assignment;
    if !assignment.is_leader(node) {
        return;
    }
    let end = partition.log.log_end_offset();
    if planted!(HighWatermarkIgnoresIsr) {
        partition.log.set_high_watermark(end);
        return;
    }
    let followers = &partition.followers;
    let mut candidate = followers.high_watermark(node, end, &assignment.isr);
    // A pending expansion's replicas count too: it may commit at any time.
    if let Some(pending) = partition
        .alter_sent
        .as_ref()
        .filter(|pending| pending.partition_epoch == assignment.partition_epoch)
    {
        candidate = candidate.min(followers.high_watermark(node, end, &pending.isr));
    }
    if candidate > partition.log.high_watermark() {
        partition.log.set_high_watermark(candidate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_epochs_are_checked_as_kafka_does() {
        assert_eq!(check_leader_epoch(-1, 3), Ok(()));
        assert_eq!(check_leader_epoch(3, 3), Ok(()));
        assert_eq!(check_leader_epoch(4, 3), Err(ResponseError::UnknownLeaderEpoch));
        assert_eq!(check_leader_epoch(2, 3), Err(ResponseError::FencedLeaderEpoch));
    }
}
