//! Record batches: generated records, encoded with `kafka-protocol` in any
//! codec, and the bridge from our decoded batches to `kafka-protocol`'s
//! records so the two decoders can be compared.

use arbitrary::{Result, Unstructured};
use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

use super::pools;
use crate::server::wire::{Codec, RecordBatch};

/// The records of one batch: one producer, consecutive offsets and (for an
/// idempotent producer) consecutive sequences, as a real client sends them.
pub fn arbitrary_records(u: &mut Unstructured) -> Result<Vec<Record>> {
    let count = u.int_in_range(1..=8)?;
    let idempotent: bool = u.arbitrary()?;
    let (producer_id, producer_epoch, base_sequence) = if idempotent {
        (pools::i64(u)?.max(0), pools::i16(u)?.max(0), u.int_in_range(0..=1_000)?)
    } else {
        (-1, -1, -1)
    };
    let transactional = idempotent && u.ratio(1, 4)?;
    let base_timestamp = pools::i64(u)?.clamp(0, 1 << 50);
    (0..count)
        .map(|i| {
            let header_count = u.int_in_range(0..=2)?;
            let mut headers = IndexMap::new();
            for _ in 0..header_count {
                headers.insert(pools::string(u)?, optional_bytes(u)?);
            }
            Ok(Record {
                transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch,
                // kafka-protocol 0.18's encoder never sets the log-append-time
                // attribute bit, so only create-time batches survive it.
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: if idempotent { base_sequence + i } else { -1 },
                timestamp: base_timestamp + u.int_in_range(0..=1_000)?,
                key: optional_bytes(u)?,
                value: optional_bytes(u)?,
                headers,
            })
        })
        .collect()
}

fn optional_bytes(u: &mut Unstructured) -> Result<Option<Bytes>> {
    Ok(if u.ratio(1, 8)? { None } else { Some(pools::bytes(u)?) })
}

/// An idempotent producer's part of a batch: id, epoch, first sequence.
pub type ProducerFields = (i64, i16, i32);

/// One batch of (key, value) entries as a client would send it: record `i`
/// stamped `first_timestamp + 1000 i` (create time), written by `producer`
/// or, with `None`, by a plain producer.
pub fn encode_entries(
    entries: &[(Option<Bytes>, Option<Bytes>)],
    producer: Option<ProducerFields>,
    first_timestamp: i64,
    codec: Codec,
) -> anyhow::Result<Bytes> {
    let (producer_id, producer_epoch, base_sequence) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = (0..)
        .zip(entries)
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            // kafka-protocol keeps records in one batch while offset minus
            // sequence stays the same, so plain records count up from -1.
            sequence: base_sequence.wrapping_add(i),
            timestamp: first_timestamp.wrapping_add(1000 * i64::from(i)),
            key: key.clone(),
            value: value.clone(),
            headers: IndexMap::new(),
        })
        .collect();
    encode_record_batch(&records, codec)
}

/// One magic-2 batch of `records`, compressed with `codec`.
pub fn encode_record_batch(records: &[Record], codec: Codec) -> anyhow::Result<Bytes> {
    let compression = match codec {
        Codec::None => Compression::None,
        Codec::Gzip => Compression::Gzip,
        Codec::Snappy => Compression::Snappy,
        Codec::Lz4 => Compression::Lz4,
        Codec::Zstd => Compression::Zstd,
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )?;
    Ok(buf.freeze())
}

/// The records of a decoded batch as `kafka-protocol` represents them.
/// Header keys collapse into a map there, so duplicates keep the last value.
pub fn to_protocol_records(batch: &RecordBatch) -> Vec<Record> {
    batch
        .records
        .iter()
        .map(|record| Record {
            transactional: batch.is_transactional(),
            control: batch.is_control(),
            delete_horizon: batch.has_delete_horizon(),
            partition_leader_epoch: batch.partition_leader_epoch,
            producer_id: batch.producer_id,
            producer_epoch: batch.producer_epoch,
            timestamp_type: if batch.is_log_append_time() {
                TimestampType::LogAppend
            } else {
                TimestampType::Creation
            },
            offset: batch.base_offset.wrapping_add(i64::from(record.offset_delta)),
            sequence: if batch.base_sequence == -1 {
                -1
            } else {
                batch.base_sequence.wrapping_add(record.offset_delta)
            },
            timestamp: if batch.is_log_append_time() {
                batch.max_timestamp
            } else {
                batch.base_timestamp.wrapping_add(record.timestamp_delta)
            },
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record
                .headers
                .iter()
                .map(|h| (StrBytes::clone(&h.key), h.value.clone()))
                .collect(),
        })
        .collect()
}
