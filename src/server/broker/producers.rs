//! Idempotent producers as one partition sees them (Kafka's
//! `ProducerStateManager`): per producer id, its epoch and its last batches,
//! so that a retried batch is acknowledged once and a gap is refused.

use std::collections::{HashMap, VecDeque};

use kafka_protocol::ResponseError;

/// Kafka remembers this many batches per producer for duplicate detection,
/// matching the producer's `max.in.flight.requests.per.connection` limit.
const REMEMBERED_BATCHES: usize = 5;

/// The sequence numbers of one batch of one producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
    /// Records in the batch, at least one.
    pub record_count: i32,
}

impl ProducerBatch {
    /// Sequences wrap from `i32::MAX` to 0, as Kafka's do.
    fn last_sequence(&self) -> i32 {
        next_sequence(self.first_sequence, self.record_count - 1)
    }
}

fn next_sequence(sequence: i32, by: i32) -> i32 {
    let (sum, overflowed) = sequence.overflowing_add(by);
    if overflowed { sum.wrapping_sub(i32::MIN) } else { sum }
}

/// What the partition does with a producer's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// A retry of a batch already in the log: acknowledge it again.
    Duplicate {
        base_offset: i64,
    },
    Reject(ResponseError),
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    /// (first sequence, last sequence, base offset), oldest first.
    batches: VecDeque<(i32, i32, i64)>,
    /// The newest record timestamp of its last batch.
    last_timestamp: i64,
}

/// An idempotent producer as a partition remembers it (Kafka's
/// `DescribeProducers`): its last batch's epoch, sequence and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
}

/// Every idempotent producer that has written to one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Kafka's rules: an older epoch is fenced; a newer epoch must start at
    /// sequence 0; within an epoch a remembered batch is a duplicate and any
    /// other batch must follow the last sequence exactly. The first batch of
    /// a producer the partition has not seen is accepted at any sequence, as
    /// Kafka does after the producer's state has been cleaned from the log.
    pub fn check(&self, batch: &ProducerBatch) -> SequenceCheck {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return SequenceCheck::Append;
        };
        if batch.epoch < entry.epoch {
            return SequenceCheck::Reject(ResponseError::InvalidProducerEpoch);
        }
        if batch.epoch > entry.epoch {
            return if batch.first_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber)
            };
        }
        let last = batch.last_sequence();
        if let Some(&(_, _, base_offset)) = entry
            .batches
            .iter()
            .find(|(first, end, _)| *first == batch.first_sequence && *end == last)
        {
            return SequenceCheck::Duplicate { base_offset };
        }
        if planted!(OldRetryWrittenAgain)
            && entry
                .batches
                .front()
                .is_some_and(|&(first, _, _)| batch.first_sequence < first)
        {
            return SequenceCheck::Append;
        }
        match entry.batches.back() {
            Some(&(_, previous, _)) if batch.first_sequence != next_sequence(previous, 1) => {
                SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber)
            }
            _ => SequenceCheck::Append,
        }
    }

    /// Every producer remembered, by id.
    pub fn active(&self) -> Vec<ActiveProducer> {
        let mut active: Vec<ActiveProducer> = self
            .producers
            .iter()
            .filter_map(|(&producer_id, entry)| {
                let &(_, last_sequence, _) = entry.batches.back()?;
                Some(ActiveProducer {
                    producer_id,
                    epoch: entry.epoch,
                    last_sequence,
                    last_timestamp: entry.last_timestamp,
                })
            })
            .collect();
        active.sort_by_key(|producer| producer.producer_id);
        active
    }

    /// Remembers an appended batch, whose newest record is at `last_timestamp`.
    pub fn record(&mut self, batch: &ProducerBatch, base_offset: i64, last_timestamp: i64) {
        let entry = self.producers.entry(batch.producer_id).or_default();
        if entry.epoch != batch.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == REMEMBERED_BATCHES {
            entry.batches.pop_front();
        }
        entry
            .batches
            .push_back((batch.first_sequence, batch.last_sequence(), base_offset));
        entry.last_timestamp = last_timestamp;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(epoch: i16, first_sequence: i32, record_count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: 7,
            epoch,
            first_sequence,
            record_count,
        }
    }

    fn append(states: &mut ProducerStates, batch: ProducerBatch, base_offset: i64) {
        assert_eq!(states.check(&batch), SequenceCheck::Append, "{batch:?}");
        states.record(&batch, base_offset, 0);
    }

    #[test]
    fn duplicates_are_acknowledged_with_their_original_offset() {
        let mut states = ProducerStates::default();
        append(&mut states, batch(0, 0, 3), 10);
        append(&mut states, batch(0, 3, 2), 13);
        assert_eq!(
            states.check(&batch(0, 0, 3)),
            SequenceCheck::Duplicate { base_offset: 10 }
        );
        assert_eq!(
            states.check(&batch(0, 3, 2)),
            SequenceCheck::Duplicate { base_offset: 13 }
        );
        // Same first sequence, different length: not the same batch.
        let out_of_order = SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber);
        assert_eq!(states.check(&batch(0, 3, 1)), out_of_order);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut states = ProducerStates::default();
        for i in 0..6 {
            append(&mut states, batch(0, i, 1), 100 + i64::from(i));
        }
        let out_of_order = SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber);
        assert_eq!(states.check(&batch(0, 0, 1)), out_of_order);
        assert_eq!(
            states.check(&batch(0, 1, 1)),
            SequenceCheck::Duplicate { base_offset: 101 }
        );
    }

    #[test]
    fn gaps_are_out_of_order() {
        let mut states = ProducerStates::default();
        append(&mut states, batch(0, 0, 2), 0);
        let out_of_order = SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber);
        assert_eq!(states.check(&batch(0, 3, 1)), out_of_order);
        assert_eq!(states.check(&batch(0, 1, 5)), out_of_order);
        append(&mut states, batch(0, 2, 1), 2);
    }

    #[test]
    fn a_new_producer_may_start_anywhere() {
        let mut states = ProducerStates::default();
        append(&mut states, batch(0, 42, 1), 0);
        append(&mut states, batch(0, 43, 1), 1);
    }

    #[test]
    fn older_epochs_are_fenced_and_newer_ones_start_at_zero() {
        let mut states = ProducerStates::default();
        append(&mut states, batch(3, 0, 1), 0);
        let fenced = SequenceCheck::Reject(ResponseError::InvalidProducerEpoch);
        assert_eq!(states.check(&batch(2, 1, 1)), fenced);
        let out_of_order = SequenceCheck::Reject(ResponseError::OutOfOrderSequenceNumber);
        assert_eq!(states.check(&batch(4, 1, 1)), out_of_order);
        append(&mut states, batch(4, 0, 1), 1);
        assert_eq!(states.check(&batch(3, 1, 1)), fenced);
        // The old epoch's batches are forgotten: no duplicate across epochs.
        assert_eq!(
            states.check(&batch(4, 0, 1)),
            SequenceCheck::Duplicate { base_offset: 1 }
        );
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut states = ProducerStates::default();
        append(&mut states, batch(0, i32::MAX - 1, 3), 0);
        append(&mut states, batch(0, 1, 1), 3);
        assert_eq!(
            states.check(&batch(0, i32::MAX - 1, 3)),
            SequenceCheck::Duplicate { base_offset: 0 }
        );
    }
}
