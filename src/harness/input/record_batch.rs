//! Record batches: generated records, encoded with `kafka-protocol` in any
//! codec, and the bridge from our decoded batches to `kafka-protocol`'s
//! records so the two decoders can be compared.

use std::cell::RefCell;

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

/// Whether `kafka-protocol`'s batch encoder can write `records`: it writes
/// each offset and timestamp as its distance from the smallest, computed in
/// i64 arithmetic that overflows (a panic where overflow checks are on),
/// and refuses offset distances beyond i32. A batch on the wire can carry
/// any varint deltas from any base, so a decoded one may be out of its reach.
pub fn encodable(records: &[Record]) -> bool {
    let spread = |values: &mut dyn Iterator<Item = i64>| {
        let (min, max) = values.fold((i64::MAX, i64::MIN), |(min, max), v| (min.min(v), max.max(v)));
        max.checked_sub(min)
    };
    let offsets = spread(&mut records.iter().map(|r| r.offset));
    let timestamps = spread(&mut records.iter().map(|r| r.timestamp));
    records.is_empty() || (offsets.is_some_and(|spread| spread <= i64::from(i32::MAX)) && timestamps.is_some())
}

/// One magic-2 batch of `records`, compressed with `codec`: `kafka-protocol`
/// builds it, except the gzip, lz4 and zstd payloads. Its compressors zero
/// tens to hundreds of KiB as they start, most of a fuzz execution's time;
/// here gzip is written as stored deflate blocks (a standard gzip member:
/// Huffman-coded data comes from the seeds), lz4 as a frame of
/// `lz4_flex` blocks, and zstd by this thread's reused compressor.
pub fn encode_record_batch(records: &[Record], codec: Codec) -> anyhow::Result<Bytes> {
    anyhow::ensure!(
        encodable(records),
        "kafka-protocol cannot encode records whose offsets or timestamps spread this far"
    );
    let compression = match codec {
        Codec::Snappy => Compression::Snappy,
        _ => Compression::None,
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
    match codec {
        Codec::Gzip | Codec::Lz4 | Codec::Zstd => recompress_batches(&buf, codec),
        Codec::None | Codec::Snappy => Ok(buf.freeze()),
    }
}

/// Offsets in a magic-2 batch header: the batch length field, the CRC, the
/// attributes (where the CRC's coverage starts), and the first record.
const LENGTH_AT: usize = 8;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const RECORDS_AT: usize = 61;

/// Compresses the records of each uncompressed batch in `batches` (the
/// encoder may split records into several), fixing codec bits, length and
/// CRC.
fn recompress_batches(mut batches: &[u8], codec: Codec) -> anyhow::Result<Bytes> {
    let mut out = BytesMut::with_capacity(batches.len());
    while !batches.is_empty() {
        let length = batches
            .get(LENGTH_AT..LENGTH_AT + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| anyhow::anyhow!("batch header cut short"))?;
        let end = usize::try_from(length)? + LENGTH_AT + 4;
        let batch = batches.get(..end).ok_or_else(|| anyhow::anyhow!("batch cut short"))?;
        let payload = compress(codec, &batch[RECORDS_AT..])?;
        let start = out.len();
        out.extend_from_slice(&batch[..RECORDS_AT]);
        out.extend_from_slice(&payload);
        let new_length = i32::try_from(out.len() - start - LENGTH_AT - 4)?;
        out[start + LENGTH_AT..start + LENGTH_AT + 4].copy_from_slice(&new_length.to_be_bytes());
        let attributes =
            (i16::from_be_bytes([batch[ATTRIBUTES_AT], batch[ATTRIBUTES_AT + 1]]) & !0x07) | codec.attribute_bits();
        out[start + ATTRIBUTES_AT..start + ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = crc32c::crc32c(&out[start + ATTRIBUTES_AT..]);
        out[start + CRC_AT..start + CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        batches = &batches[end..];
    }
    Ok(out.freeze())
}

thread_local! {
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// The largest block of the frames `lz4_flex` starts by default.
const LZ4_BLOCK_SIZE: usize = 64 * 1024;

/// An lz4 frame's magic and descriptor as `lz4_flex` writes them by default
/// (independent 64 KiB blocks, no checksums), header checksum included.
fn lz4_frame_header() -> &'static [u8] {
    static HEADER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    HEADER.get_or_init(|| {
        let empty = lz4_flex::frame::FrameEncoder::new(Vec::new())
            .finish()
            .expect("an empty lz4 frame");
        // Magic (4), flags, block descriptor, header checksum; then the end mark.
        empty[..7].to_vec()
    })
}

/// `data` as one gzip member, lz4 frame or zstd frame.
fn compress(codec: Codec, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    match codec {
        Codec::Gzip => {
            // RFC 1952: magic, deflate, no flags, no time, no extra flags,
            // unknown OS; then RFC 1951 stored blocks of at most 65535 bytes.
            let mut member = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
            member.reserve(data.len() + data.len() / 65535 * 5 + 13);
            let mut blocks = data.chunks(65535).peekable();
            if blocks.peek().is_none() {
                member.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
            }
            while let Some(block) = blocks.next() {
                let last = u8::from(blocks.peek().is_none());
                let len = block.len() as u16;
                member.push(last);
                member.extend_from_slice(&len.to_le_bytes());
                member.extend_from_slice(&(!len).to_le_bytes());
                member.extend_from_slice(block);
            }
            let mut crc = flate2::Crc::new();
            crc.update(data);
            member.extend_from_slice(&crc.sum().to_le_bytes());
            member.extend_from_slice(&(data.len() as u32).to_le_bytes());
            Ok(member)
        }
        Codec::Lz4 => {
            let mut frame = lz4_frame_header().to_vec();
            for block in data.chunks(LZ4_BLOCK_SIZE) {
                let compressed = lz4_flex::block::compress(block);
                let (size, bytes) = if compressed.len() < block.len() {
                    (compressed.len() as u32, &compressed[..])
                } else {
                    // Stored: the high bit of the size marks it.
                    (block.len() as u32 | 0x8000_0000, block)
                };
                frame.extend_from_slice(&size.to_le_bytes());
                frame.extend_from_slice(bytes);
            }
            frame.extend_from_slice(&0u32.to_le_bytes());
            Ok(frame)
        }
        Codec::Zstd => ZSTD.with_borrow_mut(|zstd| {
            let compressor = match zstd {
                Some(compressor) => compressor,
                None => zstd.insert(zstd::bulk::Compressor::new(3)?),
            };
            Ok(compressor.compress(data)?)
        }),
        _ => anyhow::bail!("{codec:?} is compressed by kafka-protocol"),
    }
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn compressors_write_standard_gzip_lz4_and_zstd() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for round in 0..3 {
            let gzip = compress(Codec::Gzip, &data[round..]).unwrap();
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&gzip[..]).read_to_end(&mut plain).unwrap();
            assert_eq!(plain, &data[round..], "gzip, round {round}");
            let zstd = compress(Codec::Zstd, &data[round..]).unwrap();
            assert_eq!(
                zstd::decode_all(&zstd[..]).unwrap(),
                &data[round..],
                "zstd, round {round}"
            );
        }
    }

    fn record(producer_id: i64, offset: i64, timestamp: i64) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp,
            key: None,
            value: Some(Bytes::from_static(b"value value value")),
            headers: IndexMap::new(),
        }
    }

    #[test]
    fn records_out_of_kafka_protocols_reach_are_refused_not_encoded() {
        let within = [record(1, -5, i64::MIN), record(1, i64::from(i32::MAX) - 5, -1)];
        assert!(encodable(&within));
        encode_record_batch(&within, Codec::None).unwrap();
        for beyond in [
            // Offsets apart by more than an i32, or than an i64.
            [record(1, -5, 0), record(1, i64::from(i32::MAX) - 4, 0)],
            [record(1, i64::MIN, 0), record(1, i64::MAX, 0)],
            // Timestamps apart by more than an i64.
            [record(1, 0, i64::MIN), record(1, 1, 0)],
        ] {
            assert!(!encodable(&beyond), "{beyond:?}");
            let error = encode_record_batch(&beyond, Codec::None).unwrap_err();
            assert!(error.to_string().contains("spread this far"), "{error}");
        }
        assert!(encodable(&[]));
    }

    #[test]
    fn recompressed_batches_keep_their_records_and_split() {
        // Two producers: kafka-protocol writes two batches.
        let records = [record(1, 0, 5), record(1, 1, 5), record(2, 2, 5)];
        for codec in [Codec::Gzip, Codec::Lz4, Codec::Zstd] {
            let encoded = encode_record_batch(&records, codec).unwrap();
            let batches =
                crate::server::wire::decode_record_batches(encoded, crate::server::wire::BatchLimits::default())
                    .unwrap();
            assert_eq!(batches.len(), 2, "{codec:?}");
            assert!(batches.iter().all(|b| b.codec == codec));
            let decoded: Vec<Record> = batches.iter().flat_map(to_protocol_records).collect();
            assert_eq!(decoded, records, "{codec:?}");
        }
    }
}
