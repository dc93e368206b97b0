//! One partition's log in memory: record batches stored as the producer sent
//! them, with the base offset and leader epoch the leader assigned written
//! into each, a leader-epoch cache, and the changes a write-ahead log must
//! keep when the log is journaled (on a cluster node).

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;

pub use super::producers::ActiveProducer;
use super::producers::{ProducerBatch, ProducerStates, SequenceCheck};
use crate::server::wire::RecordBatch;

/// `ListOffsets` sentinels for the timestamp to look up.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;

/// Where the base offset and the partition leader epoch sit in a batch: both
/// before the CRC's range, so a leader may rewrite them.
const BASE_OFFSET: std::ops::Range<usize> = 0..8;
const LEADER_EPOCH: std::ops::Range<usize> = 12..16;

#[derive(Debug, Clone)]
struct StoredBatch {
    base_offset: i64,
    last_offset: i64,
    bytes: Bytes,
    /// Each record's timestamp, by offset from `base_offset`.
    timestamps: Box<[i64]>,
    /// The idempotent producer's sequences: kept so that a truncation can
    /// rebuild the producer state from the batches that remain.
    producer: Option<ProducerBatch>,
}

/// The newest of a batch's record timestamps.
fn newest(timestamps: &[i64]) -> i64 {
    timestamps.iter().copied().max().unwrap_or(-1)
}

/// Where a batch ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    /// The batch was a producer's retry and was not written again.
    pub duplicate: bool,
}

/// The requested offset is outside `[log start, log end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetOutOfRange;

/// A replicated batch that does not continue the log where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("replicated batch at offset {base_offset} does not follow the log end offset {log_end_offset}")]
pub struct NotContiguous {
    pub base_offset: i64,
    pub log_end_offset: i64,
}

/// A change a journaled log made, for the write-ahead log to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogChange {
    /// A batch as stored (offsets and leader epoch written in).
    Append(Bytes),
    /// Everything from this offset on was removed.
    Truncate(i64),
    /// The log now starts at this offset (DeleteRecords, or the leader's).
    StartAt(i64),
}

#[derive(Debug, Clone, Default)]
pub struct PartitionLog {
    batches: Vec<StoredBatch>,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    /// The largest record timestamp and the first offset that has it.
    max_timestamp: Option<(i64, i64)>,
    producers: ProducerStates,
    /// Kafka's leader-epoch cache: each epoch and the first offset written
    /// in it, ascending in both.
    epochs: Vec<(i32, i64)>,
    /// `Some` when a write-ahead log keeps this log: changes not yet taken.
    journal: Option<Vec<LogChange>>,
}

impl PartitionLog {
    /// A log whose changes are kept for a write-ahead log (`take_changes`).
    pub fn journaled() -> Self {
        Self {
            journal: Some(Vec::new()),
            ..Self::default()
        }
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// The end of what the in-sync replicas all hold: on a single replica,
    /// the log end offset; on a cluster, what the leader computed.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Sets the high watermark, never past the log end.
    pub fn set_high_watermark(&mut self, offset: i64) {
        self.high_watermark = offset.clamp(self.log_start_offset, self.log_end_offset);
    }

    /// The bytes of the batches kept: the partition's size on disk.
    pub fn size_bytes(&self) -> i64 {
        self.batches.iter().map(|batch| batch.bytes.len() as i64).sum()
    }

    /// Every idempotent producer the partition remembers, by id.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        self.producers.active()
    }

    /// The epoch of the last batch written, -1 for an empty log.
    pub fn latest_epoch(&self) -> i32 {
        self.epochs.last().map_or(-1, |&(epoch, _)| epoch)
    }

    /// Kafka's `endOffsetForEpoch`: the largest epoch at most `epoch` and the
    /// offset where it ended (the next epoch's start, or the log end); `None`
    /// when every epoch in the log is newer.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let index = self.epochs.partition_point(|&(known, _)| known <= epoch);
        let &(found, _) = self.epochs.get(index.checked_sub(1)?)?;
        let end = self.epochs.get(index).map_or(self.log_end_offset, |&(_, start)| start);
        Some((found, end))
    }

    /// Appends a decoded batch whose wire form is `raw`, as the leader in
    /// `leader_epoch`, after the producer checks of idempotent batches.
    pub fn append(&mut self, batch: &RecordBatch, raw: &Bytes, leader_epoch: i32) -> Result<Appended, ResponseError> {
        let record_count = i32::try_from(batch.records.len()).map_err(|_| ResponseError::InvalidRecord)?;
        let producer = producer_batch(batch, record_count);
        if let Some(producer) = &producer {
            match self.producers.check(producer) {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate { base_offset } => {
                    let base_offset = if planted!(DuplicateAnsweredAtLogEnd) {
                        self.log_end_offset
                    } else {
                        base_offset
                    };
                    return Ok(Appended {
                        base_offset,
                        duplicate: true,
                    });
                }
                SequenceCheck::Reject(error) => return Err(error),
            }
        }
        let base_offset = self.log_end_offset;
        let mut bytes = BytesMut::from(&raw[..]);
        bytes[BASE_OFFSET].copy_from_slice(&base_offset.to_be_bytes());
        bytes[LEADER_EPOCH].copy_from_slice(&leader_epoch.to_be_bytes());
        self.store(batch, bytes.freeze(), base_offset, leader_epoch, producer);
        Ok(Appended {
            base_offset,
            duplicate: false,
        })
    }

    /// Appends a batch a follower fetched from its leader (or a node reads
    /// back from its write-ahead log): offsets and epoch as the leader wrote
    /// them; the producer state follows, as it does on a Kafka follower.
    pub fn append_replicated(&mut self, batch: &RecordBatch, raw: Bytes) -> Result<(), NotContiguous> {
        if batch.base_offset != self.log_end_offset || batch.records.is_empty() {
            return Err(NotContiguous {
                base_offset: batch.base_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        let record_count = i32::try_from(batch.records.len()).unwrap_or(i32::MAX);
        let producer = producer_batch(batch, record_count);
        self.store(batch, raw, batch.base_offset, batch.partition_leader_epoch, producer);
        Ok(())
    }

    fn store(
        &mut self,
        batch: &RecordBatch,
        bytes: Bytes,
        base_offset: i64,
        leader_epoch: i32,
        producer: Option<ProducerBatch>,
    ) {
        let timestamps: Box<[i64]> = batch
            .records
            .iter()
            .map(|record| batch.base_timestamp.wrapping_add(record.timestamp_delta))
            .collect();
        for (offset, &timestamp) in (base_offset..).zip(timestamps.iter()) {
            if self.max_timestamp.is_none_or(|(max, _)| timestamp > max) {
                self.max_timestamp = Some((timestamp, offset));
            }
        }
        let last_offset = base_offset + timestamps.len() as i64 - 1;
        if self.latest_epoch() < leader_epoch {
            self.epochs.push((leader_epoch, base_offset));
        }
        if let Some(producer) = &producer {
            self.producers.record(producer, base_offset, newest(&timestamps));
        }
        if let Some(journal) = &mut self.journal {
            journal.push(LogChange::Append(bytes.clone()));
        }
        self.batches.push(StoredBatch {
            base_offset,
            last_offset,
            bytes,
            timestamps,
            producer,
        });
        self.log_end_offset = last_offset + 1;
    }

    /// Removes every batch from the one holding `offset` on (a follower that
    /// diverged from its leader), and rebuilds what they contributed to.
    pub fn truncate(&mut self, offset: i64) {
        let keep = self.batches.partition_point(|batch| batch.last_offset < offset);
        if keep == self.batches.len() {
            return;
        }
        self.batches.truncate(keep);
        self.log_end_offset = self
            .batches
            .last()
            .map_or(self.log_start_offset, |batch| batch.last_offset + 1);
        self.high_watermark = self.high_watermark.min(self.log_end_offset);
        let end = self.log_end_offset;
        self.epochs.retain(|&(_, start)| start < end);
        self.rebuild_producers();
        self.rebuild_max_timestamp();
        if let Some(journal) = &mut self.journal {
            journal.push(LogChange::Truncate(end));
        }
    }

    /// Moves the log start up to `offset` (DeleteRecords on a leader, a
    /// follower following its leader's): batches wholly below it go, and
    /// reads below it are out of range. Producer states stay, as Kafka's
    /// do (a retry of a deleted batch is still a duplicate). A follower
    /// whose whole log is below it starts over there empty, as Kafka's
    /// `truncateFullyAndStartAt`. Whether the start moved.
    pub fn advance_log_start(&mut self, offset: i64) -> bool {
        if offset <= self.log_start_offset {
            return false;
        }
        if offset > self.log_end_offset {
            self.batches.clear();
            self.epochs.clear();
            self.producers = ProducerStates::default();
            self.log_end_offset = offset;
        } else {
            let gone = self.batches.partition_point(|batch| batch.last_offset < offset);
            self.batches.drain(..gone);
            // Kafka's `truncateFromStart`: the epoch in force at the new
            // start now begins there.
            let before = self.epochs.partition_point(|&(_, start)| start < offset);
            if before > 0 {
                let (epoch, _) = self.epochs[before - 1];
                self.epochs.drain(..before);
                if self.epochs.first().is_none_or(|&(_, start)| start > offset) {
                    self.epochs.insert(0, (epoch, offset));
                }
            }
        }
        self.log_start_offset = offset;
        self.high_watermark = if planted!(HighWatermarkDropsToLogStart) {
            offset
        } else {
            self.high_watermark.max(offset)
        };
        self.rebuild_max_timestamp();
        if let Some(journal) = &mut self.journal {
            journal.push(LogChange::StartAt(offset));
        }
        true
    }

    /// Kafka's time-based retention: whole batches below the high watermark
    /// whose every record is older than `cutoff_ms` go. Whether any went.
    pub fn expire_before(&mut self, cutoff_ms: i64) -> bool {
        let kept = self.batches.iter().find(|batch| {
            batch.last_offset >= self.high_watermark || batch.timestamps.iter().any(|&at| at >= cutoff_ms)
        });
        let start = kept.map_or(self.high_watermark, |batch| batch.base_offset);
        self.advance_log_start(start)
    }

    /// Producer states from the batches kept, after the tail was cut (Kafka
    /// reloads them from the log then).
    fn rebuild_producers(&mut self) {
        self.producers = ProducerStates::default();
        for batch in &self.batches {
            if let Some(producer) = &batch.producer {
                self.producers
                    .record(producer, batch.base_offset, newest(&batch.timestamps));
            }
        }
    }

    /// The largest timestamp, from the batches kept.
    fn rebuild_max_timestamp(&mut self) {
        self.max_timestamp = None;
        for batch in &self.batches {
            for (offset, &timestamp) in (batch.base_offset..).zip(batch.timestamps.iter()) {
                if self.max_timestamp.is_none_or(|(max, _)| timestamp > max) {
                    self.max_timestamp = Some((timestamp, offset));
                }
            }
        }
    }

    /// The changes since the last call, oldest first (journaled logs only).
    pub fn take_changes(&mut self) -> Vec<LogChange> {
        self.journal.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes`, none
    /// starting at or past `upto` (consumers read below the high watermark,
    /// followers to the log end); with `min_one`, the first batch is returned
    /// even when it is larger, so a consumer can always make progress (KIP-74).
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool, upto: i64) -> Result<Bytes, OffsetOutOfRange> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(OffsetOutOfRange);
        }
        let offset = offset + i64::from(planted!(ReadSkipsEveryThousandth) && offset > 0 && offset % 1000 == 0);
        let first = self.batches.partition_point(|batch| {
            batch.last_offset < offset || planted!(ReadSkipsTheBatchEndingAtOffset) && batch.last_offset == offset
        });
        let mut size = 0;
        let mut end = first;
        for batch in &self.batches[first..] {
            let fits = size + batch.bytes.len() <= max_bytes;
            if batch.base_offset >= upto || !(fits || min_one && end == first) {
                break;
            }
            size += batch.bytes.len();
            end += 1;
        }
        Ok(match &self.batches[first..end] {
            [] => Bytes::new(),
            [one] => one.bytes.clone(),
            many => {
                let mut out = BytesMut::with_capacity(size);
                for batch in many {
                    out.extend_from_slice(&batch.bytes);
                }
                out.freeze()
            }
        })
    }

    /// `ListOffsets`: (offset, timestamp) for a sentinel or the first record
    /// at or after `timestamp`; (-1, -1) when there is none.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> (i64, i64) {
        const NONE: (i64, i64) = (-1, -1);
        match timestamp {
            LATEST_TIMESTAMP => (self.high_watermark, -1),
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => (self.log_start_offset, -1),
            MAX_TIMESTAMP => self
                .max_timestamp
                .filter(|&(_, offset)| offset < self.high_watermark)
                .map_or(NONE, |(max, offset)| (offset, max)),
            // Tiered-storage sentinels: this log has no remote tier.
            -6..=-5 => NONE,
            _ => self
                .batches
                .iter()
                .take_while(|batch| batch.base_offset < self.high_watermark)
                .flat_map(|batch| (batch.base_offset..).zip(batch.timestamps.iter()))
                .find(|&(_, &record_timestamp)| {
                    record_timestamp >= timestamp + i64::from(planted!(ListOffsetsAfterTimestamp))
                })
                .map_or(NONE, |(offset, &record_timestamp)| (offset, record_timestamp)),
        }
    }
}

fn producer_batch(batch: &RecordBatch, record_count: i32) -> Option<ProducerBatch> {
    (batch.producer_id >= 0).then_some(ProducerBatch {
        producer_id: batch.producer_id,
        epoch: batch.producer_epoch,
        first_sequence: batch.base_sequence,
        record_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::input::encode_entries;
    use crate::server::wire::{BatchLimits, Codec, decode_record_batches};

    /// A log of `epochs.len()` two-record batches, the i-th written by a
    /// leader in `epochs[i]`.
    fn log_of(epochs: &[i32]) -> PartitionLog {
        let mut log = PartitionLog::journaled();
        for &epoch in epochs {
            let entries = [
                (None, Some(Bytes::from_static(b"a"))),
                (None, Some(Bytes::from_static(b"b"))),
            ];
            let raw = encode_entries(&entries, None, 1_000, Codec::None).unwrap();
            let batch = decode_record_batches(raw.clone(), BatchLimits::default())
                .unwrap()
                .remove(0);
            log.append(&batch, &raw, epoch).unwrap();
        }
        log.set_high_watermark(log.log_end_offset());
        log.take_changes();
        log
    }

    #[test]
    fn the_log_start_moves_up_only_and_takes_whole_batches_below_it() {
        let mut log = log_of(&[1, 1, 2, 3]);
        assert!(log.advance_log_start(3));
        assert!(!log.advance_log_start(2), "never back");
        assert_eq!(log.log_start_offset(), 3);
        assert_eq!(log.read(2, 1 << 20, true, i64::MAX), Err(OffsetOutOfRange));
        // The batch holding offset 3 (2..=3) stays whole, as Kafka's does.
        let read = log.read(3, 1 << 20, true, i64::MAX).unwrap();
        let batches = decode_record_batches(read, BatchLimits::default()).unwrap();
        assert_eq!(batches.iter().map(|b| b.base_offset).collect::<Vec<_>>(), [2, 4, 6]);
        // Epoch 1 was in force at offset 3: it now begins there.
        assert_eq!(log.epochs, [(1, 3), (2, 4), (3, 6)]);
        assert_eq!(log.end_offset_for_epoch(1), Some((1, 4)));
        assert_eq!(log.take_changes(), [LogChange::StartAt(3)]);
        assert_eq!(log.offset_for_timestamp(EARLIEST_TIMESTAMP), (3, -1));
    }

    #[test]
    fn a_follower_behind_its_leaders_log_start_starts_over_there_empty() {
        let mut log = log_of(&[1]);
        assert!(log.advance_log_start(10));
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset(), log.high_watermark()),
            (10, 10, 10)
        );
        assert!(log.epochs.is_empty());
        assert_eq!(log.read(10, 1 << 20, true, i64::MAX), Ok(Bytes::new()));
    }
}
