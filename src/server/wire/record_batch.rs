//! Record batches (magic 2): the payload of Produce requests.

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;

use super::compression::{Codec, decompress};
use super::error::{DecodeError, DecodeErrorKind, Item};
use super::reader::BoundedReader;

/// Bytes of a batch header before the records array: base offset (8), batch
/// length (4), leader epoch (4), magic (1), CRC (4), attributes (2), last
/// offset delta (4), base and max timestamp (16), producer id (8), epoch (2),
/// base sequence (4), record count (4).
pub const BATCH_OVERHEAD: usize = 61;
/// The batch length field counts the bytes after itself.
const LENGTH_FIELD_END: usize = 12;
/// The CRC covers everything from the attributes to the end of the batch.
const CRC_START: usize = 21;
/// Offset of the magic byte, the same in every message format.
const MAGIC_OFFSET: usize = 16;
/// Smallest record: length, attributes, timestamp delta, offset delta, key
/// length, value length, header count: one byte each.
const MIN_RECORD_SIZE: usize = 7;

/// How much a decoded batch may expand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Cap on what the compressed batches decoded together (one partition's
    /// `records` field) expand to: decompressed bytes plus the decoded
    /// records themselves.
    pub max_decompressed_size: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_decompressed_size: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    /// The codec of `attributes`, checked when the batch was decoded.
    pub codec: Codec,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records: Vec<Record>,
}

impl RecordBatch {
    /// Timestamps are log-append times rather than create times.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & 0x08 != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & 0x40 != 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub key: StrBytes,
    pub value: Option<Bytes>,
}

/// Decodes every batch of a Produce `records` field; offsets in errors are
/// relative to the start of `data`.
pub fn decode_record_batches(data: Bytes, limits: BatchLimits) -> Result<Vec<RecordBatch>, DecodeError> {
    let mut reader = BoundedReader::new(data);
    let mut batches = Vec::new();
    // One budget for every batch of the field: a cap per batch would let a
    // request of many small compressed batches expand without bound.
    let mut room = limits.max_decompressed_size;
    while !reader.is_empty() {
        batches.push(read_batch(&mut reader, &mut room)?);
    }
    Ok(batches)
}

/// Reads one batch: the header from `reader`, then its records from a reader
/// limited to the length the batch declares.
/// `room`: the decompressed bytes the field may still expand to; what this
/// batch decompresses to is taken from it.
fn read_batch(reader: &mut BoundedReader, room: &mut usize) -> Result<RecordBatch, DecodeError> {
    let start = reader.offset();
    let mut peek = reader.clone();
    let base_offset = peek.i64()?;
    let length_at = peek.offset();
    let batch_length = peek.i32()?;
    let partition_leader_epoch = peek.i32()?;
    let magic = peek.i8()?;
    if magic != 2 {
        return Err(DecodeError::new(
            DecodeErrorKind::UnsupportedMagic { magic },
            start + MAGIC_OFFSET,
        ));
    }
    let length_error = |reason| {
        DecodeError::new(
            DecodeErrorKind::InvalidBatchLength {
                length: batch_length,
                reason,
            },
            length_at,
        )
    };
    let total = usize::try_from(batch_length)
        .map_err(|_| length_error("negative"))?
        .checked_add(LENGTH_FIELD_END)
        .filter(|&total| total >= BATCH_OVERHEAD)
        .ok_or_else(|| length_error("shorter than a batch header"))?;
    if total > reader.remaining() {
        return Err(length_error("longer than the bytes that remain"));
    }
    let mut batch_reader = reader.sub_reader(total, "record batch")?;
    let whole = batch_reader.clone().bytes_exact(total, "record batch")?;
    batch_reader.bytes_exact(MAGIC_OFFSET + 1, "record batch header")?;
    let crc = batch_reader.u32()?;
    let actual = crc32c::crc32c(&whole[CRC_START..]);
    if crc != actual {
        return Err(DecodeError::new(
            DecodeErrorKind::CrcMismatch { expected: crc, actual },
            start + MAGIC_OFFSET + 1,
        ));
    }
    let attributes_at = batch_reader.offset();
    let attributes = batch_reader.i16()?;
    let codec = Codec::from_attributes(attributes).map_err(|kind| DecodeError::new(kind, attributes_at))?;
    let mut batch = RecordBatch {
        base_offset,
        batch_length,
        partition_leader_epoch,
        magic,
        crc,
        attributes,
        codec,
        last_offset_delta: batch_reader.i32()?,
        base_timestamp: batch_reader.i64()?,
        max_timestamp: batch_reader.i64()?,
        producer_id: batch_reader.i64()?,
        producer_epoch: batch_reader.i16()?,
        base_sequence: batch_reader.i32()?,
        records: Vec::new(),
    };
    let count_at = batch_reader.offset();
    let declared = batch_reader.i32()?;
    let payload_at = batch_reader.offset();
    let payload = batch_reader.bytes_exact(batch_reader.remaining(), "records")?;
    // Offsets inside compressed data count from the start of the
    // decompressed bytes: there is no other place to point at.
    let mut records = match codec {
        Codec::None => BoundedReader::at(payload, payload_at),
        _ => {
            let records = decompress(codec, payload, *room).map_err(|kind| DecodeError::new(kind, payload_at))?;
            *room -= records.len();
            BoundedReader::new(records)
        }
    };
    let count = records.checked_count_not_null(Item::Records, declared, MIN_RECORD_SIZE, count_at)?;
    if codec != Codec::None {
        // Decoded records take several times the bytes they came from: for
        // compressed batches that is charged to the same budget, so a small
        // frame of tiny compressed records cannot fill memory with structs.
        let decoded = count.saturating_mul(size_of::<Record>());
        *room = room
            .checked_sub(decoded)
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::DecodedRecordsLimit { count, limit: *room }, count_at))?;
    }
    batch.records.reserve_exact(count);
    for found in 0..count {
        if records.is_empty() {
            return Err(records.error(DecodeErrorKind::RecordCountMismatch { declared, found }));
        }
        batch.records.push(read_record(&mut records)?);
    }
    records.finish("declared records")?;
    Ok(batch)
}

fn read_record(reader: &mut BoundedReader) -> Result<Record, DecodeError> {
    let length_at = reader.offset();
    let length = reader.varint()?;
    let size = usize::try_from(length).map_err(|_| {
        DecodeError::new(
            DecodeErrorKind::NegativeLength {
                item: Item::Records,
                length: i64::from(length),
            },
            length_at,
        )
    })?;
    reader.limited(
        size,
        "record",
        |record| {
            Ok(Record {
                attributes: record.i8()?,
                timestamp_delta: record.varlong()?,
                offset_delta: record.varint()?,
                key: varint_bytes(record, Item::RecordKey)?,
                value: varint_bytes(record, Item::RecordValue)?,
                headers: read_headers(record)?,
            })
        },
        |used| DecodeErrorKind::RecordLengthMismatch { length, used },
    )
}

fn read_headers(reader: &mut BoundedReader) -> Result<Vec<RecordHeader>, DecodeError> {
    let start = reader.offset();
    let count = reader.varint()?;
    // A header is at least a key length and a value length.
    let count = reader.checked_count_not_null(Item::RecordHeaders, count, 2, start)?;
    let mut headers = Vec::with_capacity(count.min(reader.remaining() / size_of::<RecordHeader>() + 1));
    for _ in 0..count {
        let key_at = reader.offset();
        let key = varint_bytes(reader, Item::HeaderKey)?
            .ok_or_else(|| DecodeError::new(DecodeErrorKind::UnexpectedNull { item: Item::HeaderKey }, key_at))?;
        let key = StrBytes::from_utf8(key).map_err(|e| {
            DecodeError::new(
                DecodeErrorKind::InvalidUtf8 {
                    valid_up_to: e.valid_up_to(),
                },
                key_at,
            )
        })?;
        let value = varint_bytes(reader, Item::HeaderValue)?;
        headers.push(RecordHeader { key, value });
    }
    Ok(headers)
}

/// A zig-zag varint length (-1 for null) followed by that many bytes.
fn varint_bytes(reader: &mut BoundedReader, item: Item) -> Result<Option<Bytes>, DecodeError> {
    let start = reader.offset();
    let length = reader.varint()?;
    match length {
        -1 => Ok(None),
        length if length < 0 => Err(DecodeError::new(
            DecodeErrorKind::NegativeLength {
                item,
                length: i64::from(length),
            },
            start,
        )),
        length if length as usize > reader.remaining() => Err(DecodeError::new(
            DecodeErrorKind::LengthExceedsRemaining {
                item,
                length: i64::from(length),
                remaining: reader.remaining(),
            },
            start,
        )),
        length => reader.bytes_exact(length as usize, "record bytes").map(Some),
    }
}
