//! The model of partition logs: what acknowledged produces, fetches and
//! offset lookups must agree on.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use super::{At, Invariant, TopicPartition, show_bytes, violation};
use crate::harness::oracle::Violation;
use crate::server::wire::RecordBatch;

/// `ListOffsets` sentinels the model checks.
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;

/// A record as its producer sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProducedRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
}

/// The idempotence fields of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerSequence {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
}

/// One batch a client produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedBatch {
    pub producer: Option<ProducerSequence>,
    pub records: Vec<ProducedRecord>,
}

/// One partition of a Fetch response without a partition error.
#[derive(Debug, Clone, Copy)]
pub struct FetchedPartition<'a> {
    pub fetch_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// Fetch v5+.
    pub log_start_offset: Option<i64>,
    pub batches: &'a [RecordBatch],
    /// Its fetch's limits owe it a batch (KIP-74): no partition before it
    /// in the answer gave records. A later one may be left empty by them.
    pub owed_a_batch: bool,
}

#[derive(Debug, Clone, Default)]
struct PartitionModel {
    /// Every acknowledged record, by the offset it was acknowledged at.
    acknowledged: BTreeMap<i64, ProducedRecord>,
    /// One past the last offset of the newest acknowledged batch.
    acknowledged_end: i64,
    /// One past the last offset acknowledged with acks=all.
    durable_end: i64,
    /// The largest high watermark (or latest offset) answered so far.
    high_watermark: i64,
    /// The largest log start offset answered so far.
    log_start: i64,
    /// Records of every produce that may have been appended: a bound on
    /// the log end offset.
    possible_end: i64,
    /// Records below this offset may be gone: DeleteRecords asked for it.
    deleted_below: i64,
    /// Where each idempotent batch sits.
    idempotent: HashMap<IdempotentBatch, i64>,
    /// How often each idempotent batch was sent: a copy sent with acks=0,
    /// or whose answer was lost, may be the one a retry's answer names.
    idempotent_sent: HashMap<IdempotentBatch, u32>,
}

/// An idempotent batch: its sequence and its records. (Two batches with
/// one sequence and different records are two batches: a producer reuses
/// the sequence of a batch that failed.)
type IdempotentBatch = (ProducerSequence, Vec<ProducedRecord>);

/// Every partition a session touched.
#[derive(Debug, Clone, Default)]
pub struct LogModel {
    partitions: HashMap<TopicPartition, PartitionModel>,
    /// Frames the model could not read (malformed ones) may have written:
    /// bounds that need every write known are then not checked.
    unknown_writes: bool,
    /// The shortest `retention.ms` each topic was given: older records may
    /// expire.
    retention_ms: HashMap<kafka_protocol::protocol::StrBytes, i64>,
    /// The server's clock, where the session moves it; `None`: unknown,
    /// and any record of a topic with a retention may have expired.
    clock_ms: Option<i64>,
    /// Topic deletions so far (a damaged frame's included): an answer to a
    /// request sent before one may describe a log the model forgot.
    deletions: u32,
    /// A frame the model could not read may have deleted any topic (and a
    /// topic created again starts over at offset 0) or records: no log
    /// check holds from then on.
    unknown_deletions: bool,
}

/// What may have removed records the model knows, without it seeing each
/// removal: DeleteRecords, retention.
struct Removal {
    deleted_below: i64,
    /// `retention.ms` and the clock.
    retention: Option<(i64, Option<i64>)>,
}

impl Removal {
    fn may_remove(&self, offset: i64, record: &ProducedRecord) -> bool {
        offset < self.deleted_below
            || self.retention.is_some_and(|(retention_ms, clock_ms)| {
                clock_ms.is_none_or(|now| record.timestamp < now.saturating_sub(retention_ms))
            })
    }
}

/// Offset and record of each record of fetched batches.
fn fetched_records(batches: &[RecordBatch]) -> impl Iterator<Item = (i64, ProducedRecord, bool)> + '_ {
    batches.iter().flat_map(|batch| {
        batch.records.iter().map(move |record| {
            let record_at = ProducedRecord {
                key: record.key.clone(),
                value: record.value.clone(),
                timestamp: batch.base_timestamp.wrapping_add(record.timestamp_delta),
            };
            let offset = batch.base_offset.wrapping_add(i64::from(record.offset_delta));
            (offset, record_at, batch.is_log_append_time())
        })
    })
}

impl LogModel {
    fn partition(&mut self, tp: &TopicPartition) -> &mut PartitionModel {
        self.partitions.entry(tp.clone()).or_default()
    }

    /// A frame the model cannot read was sent.
    pub fn unknown_write(&mut self) {
        self.unknown_writes = true;
    }

    /// A frame the model cannot read may have deleted any topic, records
    /// or configs: the log checks stand down for the rest of the session.
    /// (Forgetting the logs instead would forget which batches were sent,
    /// and a retry answered where its first copy went would look new.)
    pub fn unknown_deletion(&mut self) {
        self.unknown_writes = true;
        self.unknown_deletions = true;
        self.deletions += 1;
    }

    /// Topic deletions so far: see `deletions`.
    pub fn deletions(&self) -> u32 {
        self.deletions
    }

    /// The server's clock moved by `ms` (`None`: it cannot be moved, or
    /// shows real time).
    pub fn clock_moved(&mut self, ms: Option<i64>) {
        self.clock_ms = match (self.clock_ms, ms) {
            (Some(now), Some(ms)) => Some(now.saturating_add(ms)),
            _ => None,
        };
    }

    /// The server's clock reads `now_ms` (`None`: unknown).
    pub fn clock_reads(&mut self, now_ms: Option<i64>) {
        self.clock_ms = now_ms;
    }

    /// `retention.ms` of `topic` was sent as `retention_ms` (-1: for
    /// ever): from now on its older records may expire.
    pub fn retention_set(&mut self, topic: &kafka_protocol::protocol::StrBytes, retention_ms: i64) {
        if retention_ms >= 0 {
            let shortest = self.retention_ms.entry(topic.clone()).or_insert(retention_ms);
            *shortest = (*shortest).min(retention_ms);
        }
    }

    /// `topic` was deleted: its partitions start over, empty, if it is
    /// created again.
    pub fn topic_deleted(&mut self, topic: &kafka_protocol::protocol::StrBytes) {
        self.partitions.retain(|tp, _| tp.topic != *topic);
        self.retention_ms.remove(topic);
        self.deletions += 1;
    }

    /// A DeleteRecords of `tp` below `offset` (-1: the high watermark) was
    /// sent and its answer never read: records below may be gone.
    pub fn deletion_requested(&mut self, tp: &TopicPartition, offset: i64) {
        let partition = self.partition(tp);
        let below = if offset < 0 { partition.possible_end } else { offset };
        partition.deleted_below = partition.deleted_below.max(below);
    }

    /// A DeleteRecords of `tp` below `requested` answered `low_watermark`:
    /// the new log start, at or past what was asked.
    pub fn records_deleted(
        &mut self,
        at: At,
        tp: &TopicPartition,
        requested: i64,
        low_watermark: i64,
    ) -> Result<(), Violation> {
        if self.unknown_deletions {
            return Ok(());
        }
        if low_watermark < requested {
            return Err(violation(
                Invariant::TopicLifecycle,
                at,
                &format!("the low watermark DeleteRecords answered for {tp} below offset {requested}"),
                format!(">= {requested}"),
                low_watermark,
            ));
        }
        // What was asked for went; past it, only what retention or an
        // earlier deletion removed may be gone too.
        let asked = if requested < 0 { low_watermark } else { requested };
        let partition = self.partition(tp);
        partition.deleted_below = partition.deleted_below.max(asked);
        let high_watermark = partition.high_watermark.max(low_watermark);
        self.check_log_start(
            at,
            tp,
            (Invariant::TopicLifecycle, "the low watermark DeleteRecords answered"),
            low_watermark,
            high_watermark,
        )
    }

    fn removal(&self, tp: &TopicPartition) -> Removal {
        let deleted_below = self.partitions.get(tp).map_or(0, |p| p.deleted_below.max(p.log_start));
        Removal {
            deleted_below,
            retention: self.retention_ms.get(&tp.topic).map(|&ms| (ms, self.clock_ms)),
        }
    }

    /// The highest log start the server may have now: every record below
    /// it may have been removed.
    fn possible_log_start(&self, tp: &TopicPartition) -> i64 {
        let Some(partition) = self.partitions.get(tp) else {
            return 0;
        };
        let removal = self.removal(tp);
        if removal.retention.is_none() {
            return removal.deleted_below;
        }
        // Retention removes from the front: up to the first record it keeps.
        let kept = partition
            .acknowledged
            .range(removal.deleted_below..)
            .find(|(offset, record)| !removal.may_remove(**offset, record));
        kept.map_or(partition.possible_end.max(removal.deleted_below), |(&offset, _)| offset)
    }

    /// A produce of `batch` to `tp` is about to be sent: whatever its
    /// answer, its records may be appended.
    pub fn attempted(&mut self, tp: &TopicPartition, batch: &ProducedBatch) {
        let partition = self.partition(tp);
        partition.possible_end = partition.possible_end.saturating_add(batch.records.len() as i64);
        if let Some(producer) = batch.producer {
            *partition
                .idempotent_sent
                .entry((producer, batch.records.clone()))
                .or_default() += 1;
        }
    }

    /// One past the newest acknowledged offset of `tp`: what a produce sent
    /// now must be acknowledged at or above (see `acknowledged`).
    pub fn acknowledged_end(&self, tp: &TopicPartition) -> i64 {
        self.partitions
            .get(tp)
            .map_or(0, |partition| partition.acknowledged_end)
    }

    /// A produce of `batch` to `tp` was acknowledged at `base_offset`;
    /// `floor` is `acknowledged_end` as it was when the produce was sent
    /// (an answer that waited may come after later batches' answers).
    pub fn acknowledged(
        &mut self,
        at: At,
        tp: &TopicPartition,
        batch: &ProducedBatch,
        (base_offset, floor): (i64, i64),
        acks_all: bool,
    ) -> Result<(), Violation> {
        if self.unknown_deletions {
            return Ok(());
        }
        let partition = self.partition(tp);
        let count = batch.records.len();
        let end = base_offset.saturating_add(count as i64);
        if acks_all {
            partition.durable_end = partition.durable_end.max(end);
        }
        let key = batch.producer.map(|producer| (producer, batch.records.clone()));
        if let Some(&first) = key.as_ref().and_then(|key| partition.idempotent.get(key)) {
            if first != base_offset {
                return Err(violation(
                    Invariant::IdempotentOnce,
                    at,
                    &format!("a retry of a batch of {count} on {tp}"),
                    format!("acknowledged again at offset {first}"),
                    format!("acknowledged at offset {base_offset}"),
                ));
            }
            return Ok(());
        }
        // A retry of an idempotent batch sent before, never acknowledged,
        // is answered with wherever that copy went.
        let earlier_copy = key
            .as_ref()
            .and_then(|key| partition.idempotent_sent.get(key))
            .is_some_and(|&sent| sent > 1);
        if base_offset < floor && !earlier_copy {
            return Err(violation(
                Invariant::OffsetsIncrease,
                at,
                &format!("a new batch of {count} on {tp}"),
                format!("an offset >= {floor}"),
                format!("offset {base_offset}"),
            ));
        }
        // Wherever it went, not where other acknowledged records are.
        for (offset, record) in (base_offset..).zip(&batch.records) {
            if let Some(other) = partition.acknowledged.get(&offset).filter(|other| *other != record) {
                return Err(violation(
                    Invariant::OffsetsIncrease,
                    at,
                    &format!("a batch of {count} on {tp} at offset {base_offset}"),
                    format!(
                        "offsets no other acknowledged record holds; {offset} holds key {}",
                        show_bytes(&other.key)
                    ),
                    format!("key {} there too", show_bytes(&record.key)),
                ));
            }
        }
        for (offset, record) in (base_offset..).zip(&batch.records) {
            partition.acknowledged.insert(offset, record.clone());
        }
        partition.acknowledged_end = partition.acknowledged_end.max(end);
        if let Some(key) = key {
            partition.idempotent.insert(key, base_offset);
        }
        Ok(())
    }

    /// A high watermark or latest offset was answered: it never goes back,
    /// covers what acks=all acknowledged, and stays within what was written.
    fn check_high_watermark(
        &mut self,
        at: At,
        tp: &TopicPartition,
        (invariant, what): (Invariant, &str),
        high_watermark: i64,
    ) -> Result<(), Violation> {
        let unknown_writes = self.unknown_writes;
        let partition = self.partition(tp);
        if high_watermark < partition.high_watermark {
            return Err(violation(
                invariant,
                at,
                &format!("{what} of {tp} went back"),
                format!(">= {}", partition.high_watermark),
                high_watermark,
            ));
        }
        if high_watermark < partition.durable_end {
            return Err(violation(
                invariant,
                at,
                &format!("{what} of {tp} below records acknowledged with acks=all"),
                format!(">= {}", partition.durable_end),
                high_watermark,
            ));
        }
        if !unknown_writes && high_watermark > partition.possible_end {
            return Err(violation(
                invariant,
                at,
                &format!(
                    "{what} of {tp} past the log end: only {} records were ever sent",
                    partition.possible_end
                ),
                format!("<= {}", partition.possible_end),
                high_watermark,
            ));
        }
        partition.high_watermark = high_watermark;
        Ok(())
    }

    fn check_log_start(
        &mut self,
        at: At,
        tp: &TopicPartition,
        (invariant, what): (Invariant, &str),
        log_start: i64,
        high_watermark: i64,
    ) -> Result<(), Violation> {
        let removal = self.removal(tp);
        let partition = self.partition(tp);
        if log_start < partition.log_start || log_start > high_watermark {
            return Err(violation(
                invariant,
                at,
                &format!("{what} of {tp}"),
                format!(
                    "between {} and the high watermark {high_watermark}",
                    partition.log_start
                ),
                log_start,
            ));
        }
        // Records go below the log start only by DeleteRecords or retention.
        let kept = partition.acknowledged.range(..log_start);
        if let Some((offset, _)) = kept
            .into_iter()
            .find(|(offset, record)| !removal.may_remove(**offset, record))
        {
            return Err(violation(
                Invariant::AcknowledgedFetchable,
                at,
                &format!("the acknowledged record at {tp} offset {offset}, below {what} {log_start}"),
                "it kept: no DeleteRecords or retention reaches it",
                "gone",
            ));
        }
        partition.acknowledged = partition.acknowledged.split_off(&log_start);
        partition.log_start = log_start;
        Ok(())
    }

    /// A Fetch answered `fetched` for `tp` without a partition error.
    pub fn fetched(&mut self, at: At, tp: &TopicPartition, fetched: &FetchedPartition) -> Result<(), Violation> {
        if self.unknown_deletions {
            return Ok(());
        }
        let hw = fetched.high_watermark;
        self.check_high_watermark(at, tp, (Invariant::Watermarks, "the high watermark"), hw)?;
        if fetched.last_stable_offset > hw {
            return Err(violation(
                Invariant::Watermarks,
                at,
                &format!("the last stable offset of {tp}"),
                format!("<= the high watermark {hw}"),
                fetched.last_stable_offset,
            ));
        }
        if let Some(log_start) = fetched.log_start_offset {
            self.check_log_start(at, tp, (Invariant::Watermarks, "the log start offset"), log_start, hw)?;
        }
        let partition = self.partition(tp);
        let served = fetched_records(fetched.batches).find(|(offset, ..)| *offset >= fetched.fetch_offset);
        if let Some((offset, ..)) = served.filter(|_| fetched.fetch_offset < partition.log_start) {
            return Err(violation(
                Invariant::TopicLifecycle,
                at,
                &format!(
                    "a fetch of {tp} at offset {} below its log start {}",
                    fetched.fetch_offset, partition.log_start
                ),
                "OFFSET_OUT_OF_RANGE",
                format!("a record at offset {offset}"),
            ));
        }
        let mut previous: Option<i64> = None;
        // Acknowledged offsets from here on must be among the records.
        let mut cursor = fetched.fetch_offset;
        let mut any = false;
        for (offset, record, log_append_time) in fetched_records(fetched.batches) {
            // Records before the fetch offset (the start of its batch) do
            // not move a consumer.
            any |= offset >= fetched.fetch_offset;
            if offset >= hw {
                return Err(violation(
                    Invariant::Watermarks,
                    at,
                    &format!("a record fetched from {tp}"),
                    format!("an offset below the high watermark {hw}"),
                    format!("offset {offset}"),
                ));
            }
            if let Some(previous) = previous.filter(|&previous| offset <= previous) {
                return Err(violation(
                    Invariant::AcknowledgedFetchable,
                    at,
                    &format!("records fetched from {tp} in order, once each"),
                    format!("an offset after {previous}"),
                    format!("offset {offset}"),
                ));
            }
            if offset >= cursor {
                if let Some((&missing, _)) = partition.acknowledged.range(cursor..offset).next() {
                    return Err(violation(
                        Invariant::AcknowledgedFetchable,
                        at,
                        &format!("the acknowledged record at {tp} offset {missing}"),
                        "it among the fetched records",
                        format!("the next record fetched at offset {offset}"),
                    ));
                }
                cursor = offset + 1;
            }
            previous = Some(offset);
            if let Some(produced) = partition.acknowledged.get(&offset) {
                let same = produced.key == record.key
                    && produced.value == record.value
                    && (log_append_time || produced.timestamp == record.timestamp);
                if !same {
                    return Err(violation(
                        Invariant::AcknowledgedFetchable,
                        at,
                        &format!("the record at {tp} offset {offset}"),
                        format!(
                            "key {} value {} timestamp {}",
                            show_bytes(&produced.key),
                            show_bytes(&produced.value),
                            produced.timestamp
                        ),
                        format!(
                            "key {} value {} timestamp {}",
                            show_bytes(&record.key),
                            show_bytes(&record.value),
                            record.timestamp
                        ),
                    ));
                }
            }
        }
        for batch in fetched.batches.iter().filter(|batch| batch.producer_id >= 0) {
            let producer = ProducerSequence {
                producer_id: batch.producer_id,
                epoch: batch.producer_epoch,
                first_sequence: batch.base_sequence,
            };
            let records = fetched_records(std::slice::from_ref(batch))
                .map(|(_, record, _)| record)
                .collect();
            let key = (producer, records);
            match partition.idempotent.get(&key) {
                Some(&first) if first != batch.base_offset => {
                    return Err(violation(
                        Invariant::IdempotentOnce,
                        at,
                        &format!(
                            "producer {}'s sequence {} on {tp}",
                            batch.producer_id, batch.base_sequence
                        ),
                        format!("written once, at offset {first}"),
                        format!("a second copy at offset {}", batch.base_offset),
                    ));
                }
                Some(_) => {}
                None => {
                    partition.idempotent.insert(key, batch.base_offset);
                }
            }
        }
        // KIP-74: below the high watermark a fetch (v3+) returns at least
        // one record at or after its offset, however small its limits, so
        // a consumer always moves.
        if !any && fetched.fetch_offset < hw && fetched.owed_a_batch {
            return Err(violation(
                Invariant::PagingComplete,
                at,
                &format!(
                    "a fetch of {tp} at offset {} below the high watermark {hw}",
                    fetched.fetch_offset
                ),
                "at least one record",
                "none",
            ));
        }
        Ok(())
    }

    /// A Fetch answered OFFSET_OUT_OF_RANGE for `fetch_offset`.
    pub fn out_of_range(&self, at: At, tp: &TopicPartition, fetch_offset: i64) -> Result<(), Violation> {
        if self.unknown_deletions {
            return Ok(());
        }
        let Some(partition) = self.partitions.get(tp) else {
            return Ok(());
        };
        let log_start = self.possible_log_start(tp);
        if (log_start..=partition.high_watermark).contains(&fetch_offset) {
            return Err(violation(
                Invariant::AcknowledgedFetchable,
                at,
                &format!("a fetch of {tp} at offset {fetch_offset}"),
                format!(
                    "records: the log holds offsets {log_start} to {}",
                    partition.high_watermark
                ),
                "OFFSET_OUT_OF_RANGE",
            ));
        }
        Ok(())
    }

    /// ListOffsets answered `(offset, found_timestamp)` for `timestamp`.
    pub fn listed(
        &mut self,
        at: At,
        tp: &TopicPartition,
        timestamp: i64,
        offset: i64,
        found_timestamp: i64,
    ) -> Result<(), Violation> {
        if self.unknown_deletions {
            return Ok(());
        }
        match timestamp {
            LATEST_TIMESTAMP => {
                self.check_high_watermark(at, tp, (Invariant::ListOffsets, "ListOffsets latest"), offset)
            }
            EARLIEST_TIMESTAMP => {
                let high_watermark = self.partition(tp).high_watermark.max(offset);
                self.check_log_start(
                    at,
                    tp,
                    (Invariant::ListOffsets, "ListOffsets earliest"),
                    offset,
                    high_watermark,
                )
            }
            timestamp if timestamp >= 0 => {
                let removal = self.removal(tp);
                let partition = self.partition(tp);
                // A record retention or DeleteRecords may have removed is
                // not one the lookup must find.
                let first_match = partition
                    .acknowledged
                    .iter()
                    .find(|(offset, record)| record.timestamp >= timestamp && !removal.may_remove(**offset, record));
                let wrong = |expected: String| {
                    Err(violation(
                        Invariant::ListOffsets,
                        at,
                        &format!("the first record of {tp} at or after timestamp {timestamp}"),
                        expected,
                        format!("offset {offset} (timestamp {found_timestamp})"),
                    ))
                };
                if let Some((&earlier, record)) = first_match.filter(|(o, _)| offset < 0 || **o < offset) {
                    return wrong(format!("offset {earlier} (timestamp {}) or earlier", record.timestamp));
                }
                match partition.acknowledged.get(&offset) {
                    Some(record) if record.timestamp != found_timestamp || record.timestamp < timestamp => {
                        wrong(format!(
                            "a record with timestamp >= {timestamp}; offset {offset} has {}",
                            record.timestamp
                        ))
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Pages fetched from `start` returned records at `offsets`, in order:
    /// every offset from `start` on, each once.
    pub fn paged(&self, at: At, tp: &TopicPartition, start: i64, offsets: &[i64]) -> Result<(), Violation> {
        // An unknown deletion counts as an unknown write too.
        if self.unknown_writes {
            return Ok(());
        }
        let gap = (start..).zip(offsets).find(|(expected, got)| expected != *got);
        if let Some((expected, &got)) = gap {
            return Err(violation(
                Invariant::PagingComplete,
                at,
                &format!(
                    "paging through {tp} from offset {start}: {} records, the {}th",
                    offsets.len(),
                    expected - start + 1
                ),
                format!("offset {expected}"),
                format!("offset {got}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::harness::input::encode_entries;
    use crate::harness::oracle::Oracle;
    use crate::server::wire::{BatchLimits, Codec, decode_record_batches};

    const AT: At = At(7);

    fn tp() -> TopicPartition {
        TopicPartition::new(&StrBytes::from_static_str("topic-a"), 0)
    }

    fn records(values: &[&str], first_timestamp: i64) -> Vec<ProducedRecord> {
        (0..)
            .zip(values)
            .map(|(i, value)| ProducedRecord {
                key: None,
                value: Some(Bytes::from(value.to_string())),
                timestamp: first_timestamp + 1000 * i,
            })
            .collect()
    }

    fn plain(values: &[&str]) -> ProducedBatch {
        ProducedBatch {
            producer: None,
            records: records(values, 1000),
        }
    }

    fn idempotent(values: &[&str], first_sequence: i32) -> ProducedBatch {
        ProducedBatch {
            producer: Some(ProducerSequence {
                producer_id: 9,
                epoch: 0,
                first_sequence,
            }),
            records: records(values, 1000),
        }
    }

    /// The batch a broker would return for `batch` stored at `base_offset`.
    fn stored(batch: &ProducedBatch, base_offset: i64) -> RecordBatch {
        let entries: Vec<_> = batch.records.iter().map(|r| (r.key.clone(), r.value.clone())).collect();
        let producer = batch.producer.map(|p| (p.producer_id, p.epoch, p.first_sequence));
        let bytes = encode_entries(&entries, producer, batch.records[0].timestamp, Codec::None).unwrap();
        let mut decoded = decode_record_batches(bytes, BatchLimits::default()).unwrap().remove(0);
        decoded.base_offset = base_offset;
        decoded
    }

    fn fetch<'a>(fetch_offset: i64, high_watermark: i64, batches: &'a [RecordBatch]) -> FetchedPartition<'a> {
        FetchedPartition {
            fetch_offset,
            high_watermark,
            last_stable_offset: high_watermark,
            log_start_offset: Some(0),
            batches,
            owed_a_batch: true,
        }
    }

    /// A model that acknowledged "a", "b" at 0 and "c" at 2 (acks=all).
    fn two_batches() -> (LogModel, ProducedBatch, ProducedBatch) {
        let mut model = LogModel::default();
        let (first, second) = (plain(&["a", "b"]), plain(&["c"]));
        model.attempted(&tp(), &first);
        model.attempted(&tp(), &second);
        model
            .acknowledged(AT, &tp(), &first, (0, model.acknowledged_end(&tp())), true)
            .unwrap();
        model
            .acknowledged(AT, &tp(), &second, (2, model.acknowledged_end(&tp())), true)
            .unwrap();
        (model, first, second)
    }

    fn invariant_of(result: Result<(), Violation>) -> String {
        let violation = result.expect_err("a violation");
        assert_eq!(violation.oracle, Oracle::Model);
        assert!(violation.detail.contains("at operation #7"), "{violation}");
        violation.detail
    }

    #[test]
    fn a_consistent_log_passes() {
        let (mut model, first, second) = two_batches();
        let batches = [stored(&first, 0), stored(&second, 2)];
        model.fetched(AT, &tp(), &fetch(0, 3, &batches)).unwrap();
        model.fetched(AT, &tp(), &fetch(1, 3, &batches[..1])).unwrap();
        model.listed(AT, &tp(), LATEST_TIMESTAMP, 3, -1).unwrap();
        model.listed(AT, &tp(), EARLIEST_TIMESTAMP, 0, -1).unwrap();
        model.listed(AT, &tp(), 1500, 1, 2000).unwrap();
        model.out_of_range(AT, &tp(), 4).unwrap();
        model.paged(AT, &tp(), 1, &[1, 2]).unwrap();
    }

    #[test]
    fn offsets_increase_catches_an_offset_acknowledged_twice() {
        let (mut model, ..) = two_batches();
        let detail =
            invariant_of(model.acknowledged(AT, &tp(), &plain(&["d"]), (2, model.acknowledged_end(&tp())), false));
        assert!(detail.starts_with("offsets-increase"), "{detail}");
        assert!(detail.contains("expected an offset >= 3, got offset 2"), "{detail}");
        // An idempotent batch sent once is new: the same rule.
        let batch = idempotent(&["e"], 0);
        model.attempted(&tp(), &batch);
        let detail = invariant_of(model.acknowledged(AT, &tp(), &batch, (1, model.acknowledged_end(&tp())), true));
        assert!(detail.starts_with("offsets-increase"), "{detail}");
        // Sent again after a copy that was never acknowledged (acks=0, it
        // went to 3, then "f" was acknowledged at 4): the retry is answered
        // with where that copy went...
        model.attempted(&tp(), &batch);
        model.attempted(&tp(), &plain(&["f"]));
        model.acknowledged(AT, &tp(), &plain(&["f"]), (4, 3), false).unwrap();
        model.acknowledged(AT, &tp(), &batch, (3, 5), true).unwrap();
        // ...but never over records acknowledged before.
        let other = idempotent(&["g"], 7);
        model.attempted(&tp(), &other);
        model.attempted(&tp(), &other);
        let detail = invariant_of(model.acknowledged(AT, &tp(), &other, (1, 5), true));
        assert!(
            detail.contains("offsets no other acknowledged record holds; 1 holds"),
            "{detail}"
        );
        // An answer that waited is held to what was acknowledged when its
        // request was sent, not to what was acknowledged since.
        let late = plain(&["h"]);
        model.attempted(&tp(), &late);
        model.acknowledged(AT, &tp(), &plain(&["i"]), (6, 5), true).unwrap();
        model.acknowledged(AT, &tp(), &late, (5, 5), true).unwrap();
    }

    #[test]
    fn acknowledged_fetchable_catches_a_skipped_a_changed_and_a_repeated_record() {
        let (mut model, first, second) = two_batches();
        // The fetch at 0 starts at "c": "a" and "b" were skipped.
        let detail = invariant_of(model.fetched(AT, &tp(), &fetch(0, 3, &[stored(&second, 2)])));
        assert!(detail.starts_with("acknowledged-fetchable"), "{detail}");
        assert!(detail.contains("offset 0"), "{detail}");
        // "c" comes back as "x".
        let changed = [stored(&plain(&["x"]), 2)];
        let detail = invariant_of(model.fetched(AT, &tp(), &fetch(2, 3, &changed)));
        assert!(
            detail.contains("value \"c\"") && detail.contains("value \"x\""),
            "{detail}"
        );
        // The first batch twice.
        let twice = [stored(&first, 0), stored(&first, 0)];
        let detail = invariant_of(model.fetched(AT, &tp(), &fetch(0, 3, &twice)));
        assert!(detail.contains("in order, once each"), "{detail}");
        // OFFSET_OUT_OF_RANGE inside the log.
        model
            .fetched(AT, &tp(), &fetch(0, 3, &[stored(&first, 0), stored(&second, 2)]))
            .unwrap();
        let detail = invariant_of(model.out_of_range(AT, &tp(), 1));
        assert!(detail.contains("OFFSET_OUT_OF_RANGE"), "{detail}");
    }

    #[test]
    fn watermarks_catch_a_high_watermark_that_goes_back_or_lags_or_overshoots() {
        let (mut model, first, second) = two_batches();
        let both = [stored(&first, 0), stored(&second, 2)];
        // Below what acks=all acknowledged.
        let detail = invariant_of(model.fetched(AT, &tp(), &fetch(0, 2, &both[..1])));
        assert!(
            detail.starts_with("watermarks") && detail.contains("acks=all"),
            "{detail}"
        );
        model.fetched(AT, &tp(), &fetch(0, 3, &both)).unwrap();
        // Backwards.
        let mut lagging = model.clone();
        lagging.partition(&tp()).durable_end = 0;
        let detail = invariant_of(lagging.fetched(AT, &tp(), &fetch(0, 2, &both[..1])));
        assert!(detail.contains("went back"), "{detail}");
        // Past every record ever sent.
        let detail = invariant_of(model.fetched(AT, &tp(), &fetch(0, 4, &both)));
        assert!(detail.contains("past the log end"), "{detail}");
        // A record at the high watermark, a last stable offset above it.
        let mut fetched = fetch(0, 3, &both);
        fetched.last_stable_offset = 4;
        assert!(invariant_of(model.fetched(AT, &tp(), &fetched)).contains("last stable offset"));
    }

    #[test]
    fn list_offsets_catches_a_wrong_latest_or_timestamp_lookup() {
        let (mut model, ..) = two_batches();
        let detail = invariant_of(model.listed(AT, &tp(), LATEST_TIMESTAMP, 2, -1));
        assert!(detail.starts_with("list-offsets"), "{detail}");
        // Timestamps are 1000, 2000 (offsets 0, 1) and 1000 (offset 2): the
        // first at or after 1500 is offset 1.
        let detail = invariant_of(model.listed(AT, &tp(), 1500, 2, 1000));
        assert!(detail.contains("offset 1 (timestamp 2000) or earlier"), "{detail}");
        let detail = invariant_of(model.listed(AT, &tp(), 1500, -1, -1));
        assert!(detail.contains("offset 1"), "{detail}");
        let detail = invariant_of(model.listed(AT, &tp(), 1000, 0, 5));
        assert!(detail.contains("offset 0 has 1000"), "{detail}");
    }

    #[test]
    fn idempotent_once_catches_a_retry_written_again() {
        let mut model = LogModel::default();
        let batch = idempotent(&["a", "b"], 0);
        model.attempted(&tp(), &batch);
        model.attempted(&tp(), &batch);
        model
            .acknowledged(AT, &tp(), &batch, (0, model.acknowledged_end(&tp())), true)
            .unwrap();
        // The retry acknowledged at its first offset is fine...
        model
            .acknowledged(AT, &tp(), &batch, (0, model.acknowledged_end(&tp())), true)
            .unwrap();
        // ...at a new one it is a duplicate.
        let detail = invariant_of(model.acknowledged(AT, &tp(), &batch, (2, model.acknowledged_end(&tp())), true));
        assert!(detail.starts_with("idempotent-once"), "{detail}");
        // And a fetch showing the batch twice is one too.
        let twice = [stored(&batch, 0), stored(&batch, 2)];
        let detail = invariant_of(model.fetched(AT, &tp(), &fetch(0, 4, &twice)));
        assert!(detail.contains("a second copy at offset 2"), "{detail}");
    }

    #[test]
    fn paging_complete_catches_a_gap_and_a_stalled_fetch() {
        let (mut model, ..) = two_batches();
        let detail = invariant_of(model.paged(AT, &tp(), 0, &[0, 2]));
        assert!(detail.starts_with("paging-complete"), "{detail}");
        assert!(detail.contains("expected offset 1, got offset 2"), "{detail}");
        let detail = invariant_of(model.fetched(AT, &tp(), &fetch(1, 3, &[])));
        assert!(detail.contains("at least one record"), "{detail}");
        // Only the records before the offset (its batch's start): stalled too.
        let first = plain(&["a", "b"]);
        let detail = invariant_of(model.fetched(AT, &tp(), &fetch(2, 3, &[stored(&first, 0)])));
        assert!(detail.contains("at least one record"), "{detail}");
    }

    #[test]
    fn records_go_below_the_log_start_only_by_delete_records_or_retention() {
        let (mut model, first, second) = two_batches();
        let both = [stored(&first, 0), stored(&second, 2)];
        model.fetched(AT, &tp(), &fetch(0, 3, &both)).unwrap();
        // The log start at 2 with nothing deleted: "a" and "b" are lost.
        let detail = invariant_of(model.clone().listed(AT, &tp(), EARLIEST_TIMESTAMP, 2, -1));
        assert!(
            detail.starts_with("acknowledged-fetchable") && detail.contains("offset 0, below ListOffsets earliest 2"),
            "{detail}"
        );
        // DeleteRecords below 1: answered below that, or past it over "b".
        let detail = invariant_of(model.clone().records_deleted(AT, &tp(), 1, 0));
        assert!(detail.starts_with("topic-lifecycle"), "{detail}");
        let detail = invariant_of(model.clone().records_deleted(AT, &tp(), 1, 2));
        assert!(detail.contains("offset 1, below"), "{detail}");
        model.records_deleted(AT, &tp(), 1, 1).unwrap();
        // Below the new start: out of range, never served.
        model.out_of_range(AT, &tp(), 0).unwrap();
        let mut below = fetch(0, 3, &both);
        below.log_start_offset = None;
        let detail = invariant_of(model.fetched(AT, &tp(), &below));
        assert!(
            detail.starts_with("topic-lifecycle") && detail.contains("below its log start 1"),
            "{detail}"
        );
        // A lookup need not find the deleted "a".
        model.listed(AT, &tp(), 500, 1, 2000).unwrap();
    }

    #[test]
    fn retention_removes_only_records_older_than_it() {
        // "a" at 1000 and "b" at 2000 (offsets 0, 1), "c" at 1000 (2).
        let (mut model, first, second) = two_batches();
        model
            .fetched(AT, &tp(), &fetch(0, 3, &[stored(&first, 0), stored(&second, 2)]))
            .unwrap();
        model.clock_reads(Some(3500));
        model.retention_set(&tp().topic, 2000);
        // Cut off at 1500: "a" may be gone, "b" stays, and so does all after.
        model.out_of_range(AT, &tp(), 0).unwrap();
        let detail = invariant_of(model.out_of_range(AT, &tp(), 1));
        assert!(detail.contains("the log holds offsets 1 to 3"), "{detail}");
        let detail = invariant_of(model.clone().listed(AT, &tp(), EARLIEST_TIMESTAMP, 2, -1));
        assert!(detail.contains("offset 1, below"), "{detail}");
        model.listed(AT, &tp(), EARLIEST_TIMESTAMP, 1, -1).unwrap();
        // A clock the session does not know: anything may have expired.
        model.clock_moved(None);
        model.listed(AT, &tp(), EARLIEST_TIMESTAMP, 3, -1).unwrap();
    }

    #[test]
    fn a_deleted_topic_starts_over_empty() {
        let (mut model, first, second) = two_batches();
        let both = [stored(&first, 0), stored(&second, 2)];
        model.fetched(AT, &tp(), &fetch(0, 3, &both)).unwrap();
        let deletions = model.deletions();
        model.topic_deleted(&tp().topic);
        assert_eq!(model.deletions(), deletions + 1);
        // The old records again: past the end of the new, empty log.
        let detail = invariant_of(model.fetched(AT, &tp(), &fetch(0, 3, &both)));
        assert!(detail.contains("past the log end"), "{detail}");
        model.fetched(AT, &tp(), &fetch(0, 0, &[])).unwrap();
    }
}
