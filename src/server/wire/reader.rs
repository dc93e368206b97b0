//! `BoundedReader`: the only way the decoder reads untrusted bytes.
//!
//! Every length and count is compared with the bytes that remain before
//! anything is allocated, so a 20-byte frame can never ask for gigabytes.

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::error::{DecodeError, DecodeErrorKind, Item};

/// A cursor over a shared, immutable buffer. Byte and string values are
/// zero-copy slices of that buffer.
#[derive(Debug, Clone)]
pub struct BoundedReader {
    data: Bytes,
    pos: usize,
    /// Offset of `data[0]` in the outermost buffer, so errors inside a
    /// sub-reader still name the byte in the frame.
    base: usize,
}

impl BoundedReader {
    pub fn new(data: Bytes) -> Self {
        Self::at(data, 0)
    }

    /// A reader whose first byte sits at `base` in some enclosing buffer.
    pub fn at(data: Bytes, base: usize) -> Self {
        Self { data, pos: 0, base }
    }

    /// Offset of the next byte, counted from the start of the outermost buffer.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.offset())
    }

    /// An error at an absolute offset.
    fn error_at(&self, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, offset)
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(self.error(DecodeErrorKind::TrailingBytes { what, count })),
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(DecodeErrorKind::Truncated {
                what,
                needed: n,
                remaining: self.remaining(),
            }));
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.data[start..self.pos])
    }

    fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.take_array("int8")?))
    }

    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.take_array("int16")?))
    }

    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take_array("int32")?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.take_array("uint32")?))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take_array("int64")?))
    }

    /// Kafka reads any non-zero byte as true.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        Ok(Uuid::from_bytes(self.take_array("uuid")?))
    }

    /// An unsigned LEB128 value of at most `max_bytes` bytes whose bits fit in
    /// `bits`: longer encodings, and a last byte carrying bits past the type's
    /// width, are rejected (as Apache Kafka's `ByteUtils` does).
    fn unsigned_leb128(&mut self, max_bytes: usize, bits: u32) -> Result<u64, DecodeError> {
        let start = self.offset();
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let Some(&byte) = self.data.get(self.pos) else {
                return Err(self.error(DecodeErrorKind::Truncated {
                    what: "varint",
                    needed: i + 1,
                    remaining: i,
                }));
            };
            self.pos += 1;
            let shift = 7 * i as u32;
            let payload = u64::from(byte & 0x7f);
            if shift + 7 > bits && payload >> (bits - shift) != 0 {
                return Err(self.error_at(start, DecodeErrorKind::VarintTooLong { max_bytes }));
            }
            value |= payload << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error_at(start, DecodeErrorKind::VarintTooLong { max_bytes }))
    }

    pub fn unsigned_varint(&mut self) -> Result<u32, DecodeError> {
        // The width check in `unsigned_leb128` keeps the value within 32 bits.
        Ok(self.unsigned_leb128(5, 32)? as u32)
    }

    /// Zig-zag encoded signed 32-bit varint (record fields).
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let raw = self.unsigned_varint()?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// Zig-zag encoded signed 64-bit varint (record fields).
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let raw = self.unsigned_leb128(10, 64)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Checks a wire length read at offset `start` against the bytes left; `Ok(None)` for null (-1).
    fn checked_length(&self, item: Item, length: i64, start: usize) -> Result<Option<usize>, DecodeError> {
        if length == -1 {
            return Ok(None);
        }
        if length < 0 {
            return Err(self.error_at(start, DecodeErrorKind::NegativeLength { item, length }));
        }
        if length as u64 > self.remaining() as u64 {
            return Err(self.error_at(
                start,
                DecodeErrorKind::LengthExceedsRemaining {
                    item,
                    length,
                    remaining: self.remaining(),
                },
            ));
        }
        Ok(Some(length as usize))
    }

    /// The length prefix of a string or bytes field: int16 / int32 in classic
    /// encodings, unsigned varint of length + 1 in compact ones.
    fn length_prefix(&mut self, item: Item, compact: bool) -> Result<Option<usize>, DecodeError> {
        let start = self.offset();
        let length = match (compact, item) {
            (true, _) => i64::from(self.unsigned_varint()?) - 1,
            (false, Item::String) => i64::from(self.i16()?),
            (false, _) => i64::from(self.i32()?),
        };
        self.checked_length(item, length, start)
    }

    /// The next `length` bytes as a zero-copy slice.
    pub fn bytes_exact(&mut self, length: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(length, what)?;
        Ok(self.data.slice(start..self.pos))
    }

    pub fn nullable_bytes(&mut self, compact: bool) -> Result<Option<Bytes>, DecodeError> {
        match self.length_prefix(Item::Bytes, compact)? {
            None => Ok(None),
            Some(length) => self.bytes_exact(length, "bytes").map(Some),
        }
    }

    pub fn nullable_string(&mut self, compact: bool) -> Result<Option<StrBytes>, DecodeError> {
        let Some(length) = self.length_prefix(Item::String, compact)? else {
            return Ok(None);
        };
        let start = self.offset();
        let bytes = self.bytes_exact(length, "string")?;
        StrBytes::from_utf8(bytes).map(Some).map_err(|e| {
            self.error_at(start, DecodeErrorKind::InvalidUtf8 { valid_up_to: e.valid_up_to() })
        })
    }

    /// Reads an array count (int32, or compact varint of count + 1) and checks
    /// that `count` elements of at least `min_element_size` bytes each can fit
    /// in what remains; `Ok(None)` for a null array.
    pub fn array_len(&mut self, compact: bool, min_element_size: usize) -> Result<Option<usize>, DecodeError> {
        let start = self.offset();
        let count = if compact {
            i64::from(self.unsigned_varint()?) - 1
        } else {
            i64::from(self.i32()?)
        };
        self.checked_count(Item::Array, count, min_element_size, start)
    }

    /// Checks an element count read at offset `start`; `Ok(None)` for -1 (null).
    pub fn checked_count(
        &self,
        item: Item,
        count: i64,
        min_element_size: usize,
        start: usize,
    ) -> Result<Option<usize>, DecodeError> {
        if count == -1 {
            return Ok(None);
        }
        if count < 0 {
            return Err(self.error_at(start, DecodeErrorKind::NegativeLength { item, length: count }));
        }
        let remaining = self.remaining();
        if (count as u64).saturating_mul(min_element_size.max(1) as u64) > remaining as u64 {
            return Err(self.error_at(start, DecodeErrorKind::CountExceedsRemaining { item, count, remaining }));
        }
        Ok(Some(count as usize))
    }

    /// A reader over the next `length` bytes, which this reader skips.
    pub fn sub_reader(&mut self, length: usize, what: &'static str) -> Result<BoundedReader, DecodeError> {
        let base = self.offset();
        let data = self.bytes_exact(length, what)?;
        Ok(BoundedReader::at(data, base))
    }

    /// Reads a tagged-field section. `known` decodes a tag it recognises from
    /// a reader limited to that field's bytes and returns true; unrecognised
    /// tags are kept, raw, in `unknown` (a later duplicate replaces an earlier
    /// one, as Kafka's generated decoders do).
    pub fn tagged_fields(
        &mut self,
        unknown: &mut std::collections::BTreeMap<i32, Bytes>,
        mut known: impl FnMut(u32, &mut BoundedReader) -> Result<bool, DecodeError>,
    ) -> Result<(), DecodeError> {
        let start = self.offset();
        let count = self.unsigned_varint()?;
        // Each tagged field takes at least two bytes: its tag and its size.
        self.checked_count(Item::TaggedField, i64::from(count), 2, start)?;
        for _ in 0..count {
            let tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            let mut field = self.sub_reader(size, "tagged field")?;
            if known(tag, &mut field)? {
                if !field.is_empty() {
                    return Err(field.error(DecodeErrorKind::TaggedFieldSizeMismatch {
                        tag,
                        declared: size,
                        used: size - field.remaining(),
                    }));
                }
            } else {
                unknown.insert(tag as i32, field.data);
            }
        }
        Ok(())
    }
}
