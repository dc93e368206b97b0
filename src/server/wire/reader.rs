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
    /// Reads stop here: `data.len()`, or less inside `limited`.
    end: usize,
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
        let end = data.len();
        Self {
            data,
            pos: 0,
            end,
            base,
        }
    }

    /// Offset of the next byte, counted from the start of the outermost buffer.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    #[inline(always)]
    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    #[inline(always)]
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

    // Error construction stays out of line so the inlined read paths are small.
    #[cold]
    #[inline(never)]
    fn truncated(&self, needed: usize, what: &'static str) -> DecodeError {
        self.error(DecodeErrorKind::Truncated {
            what,
            needed,
            remaining: self.remaining(),
        })
    }

    #[cold]
    #[inline(never)]
    fn bad_length(&self, item: Item, length: i64, start: usize) -> DecodeError {
        let kind = if length < 0 {
            DecodeErrorKind::NegativeLength { item, length }
        } else {
            DecodeErrorKind::LengthExceedsRemaining {
                item,
                length,
                remaining: self.remaining(),
            }
        };
        self.error_at(start, kind)
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(self.error(DecodeErrorKind::TrailingBytes { what, count })),
        }
    }

    // The read paths below are forced inline: message readers are inlined
    // into their parents' array loops, and past that size the compiler would
    // otherwise call out for each field, which costs more than the read.
    #[inline(always)]
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.truncated(n, what));
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.data[start..self.pos])
    }

    #[inline(always)]
    fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    #[inline(always)]
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.take_array("int8")?))
    }

    #[inline(always)]
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.take_array("int16")?))
    }

    #[inline(always)]
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.take_array("uint16")?))
    }

    #[inline(always)]
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take_array("int32")?))
    }

    #[inline(always)]
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.take_array("uint32")?))
    }

    #[inline(always)]
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take_array("int64")?))
    }

    #[inline(always)]
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.take_array("float64")?))
    }

    /// Kafka reads any non-zero byte as true.
    #[inline(always)]
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    #[inline(always)]
    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        Ok(Uuid::from_bytes(self.take_array("uuid")?))
    }

    /// An unsigned LEB128 value of at most `max_bytes` bytes whose bits fit in
    /// `bits`: longer encodings, and a last byte carrying bits past the type's
    /// width, are rejected. Apache Kafka's `ByteUtils` rejects the former too
    /// but silently drops the latter's extra bits; such an encoding is never
    /// written by a correct client, so here it is an error rather than a
    /// silently different value.
    // Out of line: the one-byte fast path in front of it is what gets inlined.
    #[inline(never)]
    fn unsigned_leb128(&mut self, max_bytes: usize, bits: u32) -> Result<u64, DecodeError> {
        let start = self.offset();
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let Some(&byte) = self.data[..self.end].get(self.pos) else {
                return Err(self.error_at(
                    start,
                    DecodeErrorKind::Truncated {
                        what: "varint",
                        needed: i + 1,
                        remaining: i,
                    },
                ));
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

    /// Consumes the next byte if it is a whole varint (high bit clear), as
    /// most varints on the wire are: counts, small lengths and deltas.
    #[inline(always)]
    fn one_byte_varint(&mut self) -> Option<u8> {
        if self.pos >= self.end {
            return None;
        }
        let byte = *self.data.get(self.pos)?;
        (byte < 0x80).then(|| {
            self.pos += 1;
            byte
        })
    }

    #[inline(always)]
    pub fn unsigned_varint(&mut self) -> Result<u32, DecodeError> {
        if let Some(byte) = self.one_byte_varint() {
            return Ok(u32::from(byte));
        }
        // The width check in `unsigned_leb128` keeps the value within 32 bits.
        Ok(self.unsigned_leb128(5, 32)? as u32)
    }

    /// Zig-zag encoded signed 32-bit varint (record fields).
    #[inline(always)]
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        let raw = self.unsigned_varint()?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// Zig-zag encoded signed 64-bit varint (record fields).
    #[inline(always)]
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        let raw = match self.one_byte_varint() {
            Some(byte) => u64::from(byte),
            None => self.unsigned_leb128(10, 64)?,
        };
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Checks a wire length read at offset `start` against the bytes left; `Ok(None)` for null (-1).
    #[inline(always)]
    fn checked_length(&self, item: Item, length: i64, start: usize) -> Result<Option<usize>, DecodeError> {
        if length == -1 {
            return Ok(None);
        }
        if length < 0 || length as u64 > self.remaining() as u64 {
            return Err(self.bad_length(item, length, start));
        }
        Ok(Some(length as usize))
    }

    /// The length prefix of a string or bytes field: int16 / int32 in classic
    /// encodings, unsigned varint of length + 1 in compact ones.
    #[inline(always)]
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
    #[inline(always)]
    pub fn bytes_exact(&mut self, length: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(length, what)?;
        Ok(self.data.slice(start..self.pos))
    }

    #[inline(always)]
    pub fn nullable_bytes(&mut self, compact: bool) -> Result<Option<Bytes>, DecodeError> {
        match self.length_prefix(Item::Bytes, compact)? {
            None => Ok(None),
            Some(length) => self.bytes_exact(length, "bytes").map(Some),
        }
    }

    #[inline(always)]
    pub fn nullable_string(&mut self, compact: bool) -> Result<Option<StrBytes>, DecodeError> {
        let Some(length) = self.length_prefix(Item::String, compact)? else {
            return Ok(None);
        };
        // `length_prefix` checked the length against what remains.
        let start = self.pos;
        self.pos += length;
        match StrBytes::try_from(self.data.slice(start..self.pos)) {
            Ok(string) => Ok(Some(string)),
            Err(error) => Err(self.invalid_utf8(start, error.valid_up_to())),
        }
    }

    #[cold]
    #[inline(never)]
    fn invalid_utf8(&self, start: usize, valid_up_to: usize) -> DecodeError {
        self.error_at(self.base + start, DecodeErrorKind::InvalidUtf8 { valid_up_to })
    }

    /// Reads an array count (int32, or compact varint of count + 1) and checks
    /// that `count` elements of at least `min_element_size` bytes each can fit
    /// in what remains; `Ok(None)` for a null array.
    #[inline(always)]
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
    #[inline(always)]
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

    /// `checked_count` for counts without a null (record and header counts):
    /// every negative count is an error.
    pub fn checked_count_not_null(
        &self,
        item: Item,
        count: i32,
        min_element_size: usize,
        start: usize,
    ) -> Result<usize, DecodeError> {
        match self.checked_count(item, i64::from(count), min_element_size, start)? {
            Some(count) => Ok(count),
            None => Err(self.bad_length(item, i64::from(count), start)),
        }
    }

    /// A reader over the next `length` bytes, which this reader skips.
    pub fn sub_reader(&mut self, length: usize, what: &'static str) -> Result<BoundedReader, DecodeError> {
        let base = self.offset();
        let data = self.bytes_exact(length, what)?;
        Ok(BoundedReader::at(data, base))
    }

    /// Runs `read` over exactly the next `length` bytes: it cannot read past
    /// them, and bytes it leaves unread are an error made by `leftover` from
    /// the count it used. No buffer is cloned: this is on the per-record path.
    pub fn limited<T>(
        &mut self,
        length: usize,
        what: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
        leftover: impl FnOnce(usize) -> DecodeErrorKind,
    ) -> Result<T, DecodeError> {
        if length > self.remaining() {
            return Err(self.error(DecodeErrorKind::Truncated {
                what,
                needed: length,
                remaining: self.remaining(),
            }));
        }
        let (outer_end, start) = (self.end, self.pos);
        self.end = self.pos + length;
        let value = read(self);
        let unread = self.remaining();
        self.end = outer_end;
        let value = value?;
        if unread > 0 {
            return Err(self.error(leftover(length - unread)));
        }
        debug_assert_eq!(self.pos, start + length);
        Ok(value)
    }

    /// Reads a tagged-field section. `known` decodes a tag it recognises from
    /// a reader limited to that field's bytes and returns true; unrecognised
    /// tags are kept, raw, in `unknown` (a later duplicate replaces an earlier
    /// one, as Kafka's generated decoders do).
    #[inline(always)]
    pub fn tagged_fields(
        &mut self,
        unknown: &mut std::collections::BTreeMap<i32, Bytes>,
        known: impl FnMut(u32, &mut BoundedReader) -> Result<bool, DecodeError>,
    ) -> Result<(), DecodeError> {
        let start = self.offset();
        let count = self.unsigned_varint()?;
        // Nearly every section is empty; only the others need the loop.
        if count == 0 {
            return Ok(());
        }
        self.tagged_field_entries(start, count, unknown, known)
    }

    /// The `count` fields of a tagged section whose count started at `start`.
    #[inline(never)]
    fn tagged_field_entries(
        &mut self,
        start: usize,
        count: u32,
        unknown: &mut std::collections::BTreeMap<i32, Bytes>,
        mut known: impl FnMut(u32, &mut BoundedReader) -> Result<bool, DecodeError>,
    ) -> Result<(), DecodeError> {
        // Each tagged field takes at least two bytes: its tag and its size.
        self.checked_count(Item::TaggedField, i64::from(count), 2, start)?;
        for _ in 0..count {
            let tag_at = self.offset();
            let tag = self.unsigned_varint()?;
            // Tags are 31-bit in every implementation's types (Java's int,
            // kafka-protocol's i32 keys): a larger one cannot be kept as read.
            if i32::try_from(tag).is_err() {
                return Err(DecodeError::new(DecodeErrorKind::TagOutOfRange { tag }, tag_at));
            }
            let size = self.unsigned_varint()? as usize;
            let recognised = self.limited(
                size,
                "tagged field",
                |field| {
                    if !known(tag, field)? {
                        // Unknown: keep the raw bytes, all of them.
                        unknown.insert(tag as i32, field.bytes_exact(field.remaining(), "tagged field")?);
                    }
                    Ok(())
                },
                |used| DecodeErrorKind::TaggedFieldSizeMismatch {
                    tag,
                    declared: size,
                    used,
                },
            );
            recognised?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn reader(bytes: &[u8]) -> BoundedReader {
        BoundedReader::new(Bytes::copy_from_slice(bytes))
    }

    fn err(kind: DecodeErrorKind, offset: usize) -> DecodeError {
        DecodeError::new(kind, offset)
    }

    fn too_long(max_bytes: usize) -> DecodeErrorKind {
        DecodeErrorKind::VarintTooLong { max_bytes }
    }

    fn truncated(what: &'static str, needed: usize, remaining: usize) -> DecodeErrorKind {
        DecodeErrorKind::Truncated {
            what,
            needed,
            remaining,
        }
    }

    /// Reads each case with `read`, followed by a sentinel byte that must be
    /// left unread on success.
    fn check<T: PartialEq + std::fmt::Debug>(
        cases: &[(&[u8], Result<T, DecodeError>)],
        read: impl Fn(&mut BoundedReader) -> Result<T, DecodeError>,
    ) {
        for (bytes, expected) in cases {
            let mut r = reader(&[bytes, &[0xee][..]].concat());
            assert_eq!(&read(&mut r), expected, "{bytes:02x?}");
            if expected.is_ok() {
                assert_eq!(r.offset(), bytes.len(), "{bytes:02x?}");
            }
        }
    }

    #[test]
    fn unsigned_varints() {
        check(
            &[
                (&[0x00], Ok(0)),
                (&[0x7f], Ok(127)),
                (&[0x80, 0x01], Ok(128)),
                (&[0xac, 0x02], Ok(300)),
                (&[0xff, 0xff, 0xff, 0xff, 0x0f], Ok(u32::MAX)),
                // Non-minimal encodings are accepted, as Apache Kafka does.
                (&[0x80, 0x00], Ok(0)),
                (&[0xff, 0x80, 0x80, 0x80, 0x00], Ok(127)),
                // Bits past 32 in the fifth byte, or a sixth byte.
                (&[0xff, 0xff, 0xff, 0xff, 0x1f], Err(err(too_long(5), 0))),
                (&[0x80, 0x80, 0x80, 0x80, 0x10], Err(err(too_long(5), 0))),
                (&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], Err(err(too_long(5), 0))),
            ],
            BoundedReader::unsigned_varint,
        );
    }

    #[test]
    fn truncated_varints_name_their_first_byte() {
        for (bytes, needed) in [(&[][..], 1), (&[0x80], 2), (&[0xff, 0xff, 0xff], 4)] {
            let mut r = BoundedReader::at(Bytes::copy_from_slice(bytes), 10);
            let expected = err(truncated("varint", needed, needed - 1), 10);
            assert_eq!(r.clone().unsigned_varint(), Err(expected.clone()));
            assert_eq!(r.varlong(), Err(expected));
        }
    }

    #[test]
    fn zig_zag_varints_and_varlongs() {
        check(
            &[
                (&[0x00], Ok(0)),
                (&[0x01], Ok(-1)),
                (&[0x02], Ok(1)),
                (&[0x03], Ok(-2)),
                (&[0xfe, 0xff, 0xff, 0xff, 0x0f], Ok(i32::MAX)),
                (&[0xff, 0xff, 0xff, 0xff, 0x0f], Ok(i32::MIN)),
                (&[0xff, 0xff, 0xff, 0xff, 0x1f], Err(err(too_long(5), 0))),
            ],
            BoundedReader::varint,
        );
        let max = [&[0xfe][..], &[0xff; 8], &[0x01]].concat();
        let min = [&[0xff; 9][..], &[0x01]].concat();
        let excess = [&[0xff; 9][..], &[0x02]].concat();
        let eleven = [&[0x80; 10][..], &[0x00]].concat();
        check(
            &[
                (&[0x01], Ok(-1)),
                (&[0x02], Ok(1)),
                (&max, Ok(i64::MAX)),
                (&min, Ok(i64::MIN)),
                (&excess, Err(err(too_long(10), 0))),
                (&eleven, Err(err(too_long(10), 0))),
            ],
            BoundedReader::varlong,
        );
    }

    #[test]
    fn nullable_strings() {
        let s = |value: &str| Ok(Some(value.to_string()));
        let invalid = |valid_up_to, offset| err(DecodeErrorKind::InvalidUtf8 { valid_up_to }, offset);
        let exceeds = |length, remaining| {
            let kind = DecodeErrorKind::LengthExceedsRemaining {
                item: Item::String,
                length,
                remaining,
            };
            Err(err(kind, 0))
        };
        let negative = DecodeErrorKind::NegativeLength {
            item: Item::String,
            length: -2,
        };
        let read = |compact| move |r: &mut BoundedReader| Ok(r.nullable_string(compact)?.map(|s| s.to_string()));
        check(
            &[
                (&[0, 3, b'a', b'b', b'c'], s("abc")),
                (&[0, 0], s("")),
                (&[0xff, 0xff], Ok(None)),
                (&[0, 3, b'a', 0xff, b'b'], Err(invalid(1, 2))),
                (&[0xff, 0xfe], Err(err(negative, 0))),
                // The sentinel byte counts as remaining.
                (&[0, 5, b'a'], exceeds(5, 2)),
            ],
            read(false),
        );
        check(
            &[
                (&[4, b'a', b'b', b'c'], s("abc")),
                (&[1], s("")),
                (&[0], Ok(None)),
                (&[4, b'a', b'b', 0xc3], Err(invalid(2, 1))),
                (&[6, b'a'], exceeds(5, 2)),
            ],
            read(true),
        );
    }

    #[test]
    fn nullable_bytes() {
        let exceeds = DecodeErrorKind::LengthExceedsRemaining {
            item: Item::Bytes,
            length: 9,
            remaining: 2,
        };
        let negative = DecodeErrorKind::NegativeLength {
            item: Item::Bytes,
            length: -2,
        };
        let some = |bytes: &'static [u8]| Ok(Some(Bytes::from_static(bytes)));
        check(
            &[
                (&[0, 0, 0, 2, 1, 2], some(&[1, 2])),
                (&[0, 0, 0, 0], some(&[])),
                (&[0xff, 0xff, 0xff, 0xff], Ok(None)),
                (&[0, 0, 0, 9, 1], Err(err(exceeds.clone(), 0))),
                (&[0xff, 0xff, 0xff, 0xfe], Err(err(negative, 0))),
            ],
            |r| r.nullable_bytes(false),
        );
        check(
            &[
                (&[3, 1, 2], some(&[1, 2])),
                (&[0], Ok(None)),
                (&[10, 1], Err(err(exceeds, 0))),
            ],
            |r| r.nullable_bytes(true),
        );
    }

    #[test]
    fn array_lengths() {
        let exceeds = |count, remaining| {
            let kind = DecodeErrorKind::CountExceedsRemaining {
                item: Item::Array,
                count,
                remaining,
            };
            Err(err(kind, 0))
        };
        let negative = Err(err(
            DecodeErrorKind::NegativeLength {
                item: Item::Array,
                length: -2,
            },
            0,
        ));
        // (prefix, compact, min_element_size, expected); each prefix is
        // followed by 8 bytes.
        let cases: &[(&[u8], bool, usize, _)] = &[
            (&[0xff, 0xff, 0xff, 0xff], false, 4, Ok(None)),
            (&[0], true, 4, Ok(None)),
            (&[0, 0, 0, 2], false, 4, Ok(Some(2))),
            (&[3], true, 4, Ok(Some(2))),
            (&[0, 0, 0, 3], false, 4, exceeds(3, 8)),
            (&[4], true, 4, exceeds(3, 8)),
            // A minimum size of 0 counts as 1.
            (&[0, 0, 0, 9], false, 0, exceeds(9, 8)),
            (&[0xff, 0xff, 0xff, 0xfe], false, 1, negative),
        ];
        for (prefix, compact, min_size, expected) in cases {
            let mut r = reader(&[prefix, &[0; 8][..]].concat());
            assert_eq!(&r.array_len(*compact, *min_size), expected, "{prefix:02x?}");
        }
    }

    #[test]
    fn sub_readers_report_absolute_offsets() {
        let mut outer = BoundedReader::at(Bytes::from_static(&[1, 2, 3, 4, 5, 6, 7]), 100);
        assert_eq!(outer.i16(), Ok(0x0102));
        let mut inner = outer.sub_reader(3, "inner").unwrap();
        assert_eq!((outer.offset(), inner.offset(), inner.remaining()), (105, 102, 3));
        assert_eq!(inner.i8(), Ok(3));
        assert_eq!(inner.i32(), Err(err(truncated("int32", 4, 2), 103)));
        let nested = inner.sub_reader(2, "nested").unwrap();
        let trailing = DecodeErrorKind::TrailingBytes {
            what: "nested",
            count: 2,
        };
        assert_eq!(nested.finish("nested"), Err(err(trailing, 103)));
        assert_eq!(inner.finish("inner"), Ok(()));
        assert_eq!(
            outer.sub_reader(3, "tail").unwrap_err(),
            err(truncated("tail", 3, 2), 105)
        );
    }

    /// The unknown fields of a tagged section, and the values of tag 5.
    type Section = (BTreeMap<i32, Bytes>, Vec<i8>);

    /// Reads a tagged section in which tag 5 is known and holds one int8.
    fn tagged(bytes: &[u8]) -> (BoundedReader, Result<Section, DecodeError>) {
        let mut r = reader(bytes);
        let mut unknown = BTreeMap::new();
        let mut known = Vec::new();
        let result = r.tagged_fields(&mut unknown, |tag, field| {
            if tag != 5 {
                return Ok(false);
            }
            known.push(field.i8()?);
            Ok(true)
        });
        (r, result.map(|()| (unknown, known)))
    }

    #[test]
    fn tagged_fields_keep_unknown_tags_raw() {
        // Tag 2 (2 bytes), known tag 5 (1 byte), tag 300 (empty), then one
        // byte after the section.
        let (r, result) = tagged(&[3, 2, 2, 0xaa, 0xbb, 5, 1, 7, 0xac, 0x02, 0, 0xee]);
        let unknown = BTreeMap::from([(2, Bytes::from_static(&[0xaa, 0xbb])), (300, Bytes::new())]);
        assert_eq!(result, Ok((unknown, vec![7])));
        assert_eq!(r.offset(), 11);
        let trailing = DecodeErrorKind::TrailingBytes {
            what: "section",
            count: 1,
        };
        assert_eq!(r.finish("section"), Err(err(trailing, 11)));
    }

    #[test]
    fn tagged_field_errors() {
        let mismatch = DecodeErrorKind::TaggedFieldSizeMismatch {
            tag: 5,
            declared: 3,
            used: 1,
        };
        let count = DecodeErrorKind::CountExceedsRemaining {
            item: Item::TaggedField,
            count: 3,
            remaining: 2,
        };
        for (bytes, expected) in [
            // Known tag 5 declares 3 bytes but its reader uses 1.
            (&[1, 5, 3, 7, 8, 9][..], err(mismatch, 4)),
            // Three fields cannot fit in two bytes.
            (&[3, 0, 0], err(count, 0)),
            // A field declaring more bytes than remain.
            (&[1, 2, 4, 7], err(truncated("tagged field", 4, 1), 3)),
            // A tag of 2^32-1: past any 31-bit tag.
            (
                &[1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0][..],
                err(DecodeErrorKind::TagOutOfRange { tag: u32::MAX }, 1),
            ),
        ] {
            assert_eq!(tagged(bytes).1, Err(expected), "{bytes:02x?}");
        }
    }
}
