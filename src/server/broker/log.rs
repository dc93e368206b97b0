//! One partition's log in memory: record batches stored as the producer sent
//! them, with the base offset the broker assigned written into each.

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;

use super::producers::{ProducerBatch, ProducerStates, SequenceCheck};
use crate::server::wire::RecordBatch;

/// `ListOffsets` sentinels for the timestamp to look up.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;

#[derive(Debug, Clone)]
struct StoredBatch {
    base_offset: i64,
    last_offset: i64,
    bytes: Bytes,
    /// Each record's timestamp, by offset from `base_offset`.
    timestamps: Box<[i64]>,
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

#[derive(Debug, Clone, Default)]
pub struct PartitionLog {
    batches: Vec<StoredBatch>,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    /// The largest record timestamp and the first offset that has it.
    max_timestamp: Option<(i64, i64)>,
    producers: ProducerStates,
}

impl PartitionLog {
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// A single replica is the whole ISR, so a batch is committed as soon as
    /// it is appended: the high watermark follows the log end offset.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Appends a decoded batch whose wire form is `raw`, after the producer
    /// checks of idempotent batches.
    pub fn append(&mut self, batch: &RecordBatch, raw: &Bytes) -> Result<Appended, ResponseError> {
        let record_count = i32::try_from(batch.records.len()).map_err(|_| ResponseError::InvalidRecord)?;
        let producer = (batch.producer_id >= 0).then_some(ProducerBatch {
            producer_id: batch.producer_id,
            epoch: batch.producer_epoch,
            first_sequence: batch.base_sequence,
            record_count,
        });
        if let Some(producer) = &producer {
            match self.producers.check(producer) {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate { base_offset } => {
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
        // Base offset and partition leader epoch sit before the CRC's range,
        // so rewriting them keeps the batch valid.
        bytes[0..8].copy_from_slice(&base_offset.to_be_bytes());
        bytes[12..16].copy_from_slice(&0i32.to_be_bytes());
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
        let last_offset = base_offset + i64::from(record_count) - 1;
        self.batches.push(StoredBatch {
            base_offset,
            last_offset,
            bytes: bytes.freeze(),
            timestamps,
        });
        self.log_end_offset = last_offset + 1;
        self.high_watermark = self.log_end_offset;
        if let Some(producer) = &producer {
            self.producers.record(producer, base_offset);
        }
        Ok(Appended {
            base_offset,
            duplicate: false,
        })
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes`; with
    /// `min_one`, the first batch is returned even when it is larger, so a
    /// consumer can always make progress (KIP-74).
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<Bytes, OffsetOutOfRange> {
        if offset < self.log_start_offset || offset > self.log_end_offset {
            return Err(OffsetOutOfRange);
        }
        let first = self.batches.partition_point(|batch| batch.last_offset < offset);
        let mut size = 0;
        let mut end = first;
        for batch in &self.batches[first..] {
            let fits = size + batch.bytes.len() <= max_bytes;
            if !(fits || min_one && end == first) {
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
            MAX_TIMESTAMP => self.max_timestamp.map_or(NONE, |(max, offset)| (offset, max)),
            // Tiered-storage sentinels: this log has no remote tier.
            -6..=-5 => NONE,
            _ => self
                .batches
                .iter()
                .flat_map(|batch| (batch.base_offset..).zip(batch.timestamps.iter()))
                .find(|&(_, &record_timestamp)| record_timestamp >= timestamp)
                .map_or(NONE, |(offset, &record_timestamp)| (offset, record_timestamp)),
        }
    }
}
