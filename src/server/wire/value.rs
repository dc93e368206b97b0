//! `WireValue`: how each Rust field type of a `kafka-protocol` message is read
//! from the wire. Message structs get their impls from the schema table
//! (`schema.rs`), so a field's encoding follows from its type and the version.

use bytes::Bytes;
use kafka_protocol::messages::{BrokerId, GroupId, ProducerId, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::error::{DecodeError, DecodeErrorKind, Item};
use super::reader::BoundedReader;

/// The version a message is read at, and whether that version uses the
/// flexible (compact + tagged fields) encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub version: i16,
    pub flexible: bool,
}

impl Version {
    /// Whether a field present in versions `min..=max` exists at this version.
    pub fn has(self, (min, max): (i16, i16)) -> bool {
        (min..=max).contains(&self.version)
    }
}

/// A value that can be read from a bounded reader at a message version.
pub trait WireValue: Sized {
    /// The fewest bytes one value can take on the wire, so an array count can
    /// be checked against the remaining bytes before anything is allocated.
    const MIN_SIZE: usize;

    /// Whether an array reads its elements in place (`read_into` over a
    /// default), which pays for large structs; small values are pushed.
    const READ_IN_PLACE: bool = false;

    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError>;

    /// Reads over `slot`, which holds the type's default: an array element
    /// is read where it will stay rather than built aside and copied in.
    #[inline]
    fn read_into(slot: &mut Self, reader: &mut BoundedReader, version: Version) -> Result<(), DecodeError> {
        *slot = Self::read(reader, version)?;
        Ok(())
    }
}

macro_rules! fixed_size_values {
    ($($ty:ty => $method:ident, $size:expr;)*) => {$(
        impl WireValue for $ty {
            const MIN_SIZE: usize = $size;
            #[inline]
    fn read(reader: &mut BoundedReader, _: Version) -> Result<Self, DecodeError> {
                reader.$method().map(Into::into)
            }
        }
    )*};
}

fixed_size_values! {
    bool => bool, 1;
    i8 => i8, 1;
    i16 => i16, 2;
    u16 => u16, 2;
    i32 => i32, 4;
    i64 => i64, 8;
    f64 => f64, 8;
    Uuid => uuid, 16;
    BrokerId => i32, 4;
    ProducerId => i64, 8;
}

impl WireValue for Option<StrBytes> {
    const MIN_SIZE: usize = 1;
    #[inline]
    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
        reader.nullable_string(version.flexible)
    }
}

/// Reads a value of a nullable encoding where this field forbids null.
#[inline]
fn non_null<T>(reader: &mut BoundedReader, version: Version, item: Item) -> Result<T, DecodeError>
where
    Option<T>: WireValue,
{
    let start = reader.offset();
    Option::<T>::read(reader, version)?.ok_or_else(|| DecodeError::new(DecodeErrorKind::UnexpectedNull { item }, start))
}

impl WireValue for StrBytes {
    const MIN_SIZE: usize = 1;
    #[inline]
    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
        non_null(reader, version, Item::String)
    }
}

impl WireValue for Option<Bytes> {
    const MIN_SIZE: usize = 1;
    #[inline]
    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
        reader.nullable_bytes(version.flexible)
    }
}

impl WireValue for Bytes {
    const MIN_SIZE: usize = 1;
    #[inline]
    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
        non_null(reader, version, Item::Bytes)
    }
}

/// String newtypes (`TopicName`, `GroupId`, ...) read as the string they wrap.
macro_rules! string_newtypes {
    ($($ty:ty),*) => {$(
        impl WireValue for $ty {
            const MIN_SIZE: usize = 1;
            #[inline]
    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
                StrBytes::read(reader, version).map(Self)
            }
        }
        impl WireValue for Option<$ty> {
            const MIN_SIZE: usize = 1;
            #[inline]
    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
                Ok(Option::<StrBytes>::read(reader, version)?.map(<$ty>::from))
            }
        }
    )*};
}

string_newtypes!(TopicName, GroupId, TransactionalId);

/// Writes `value` over `slot`, which holds its type's default: a default
/// owns nothing, so it is forgotten rather than dropped, since dropping an
/// empty `Bytes` in memory is a call through its vtable that the compiler
/// cannot see past (2% of decoding a string-heavy request).
#[inline(always)]
pub(super) fn replace_default<T>(slot: &mut T, value: T) {
    std::mem::forget(std::mem::replace(slot, value));
}

/// A struct of the schema table: a field of such a type may be nullable.
pub trait MessageStruct: WireValue {}

/// A nullable struct field: a marker byte, -1 for null or 1 for present,
/// then the struct. Apache Kafka reads any negative marker as null and any
/// other as present, `kafka-protocol` anything but 1 as null; the writers
/// of both emit only -1 and 1, so only those are read.
impl<T: MessageStruct> WireValue for Option<T> {
    const MIN_SIZE: usize = 1;
    #[inline]
    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
        let start = reader.offset();
        match reader.i8()? {
            -1 => Ok(None),
            1 => T::read(reader, version).map(Some),
            marker => Err(DecodeError::new(
                DecodeErrorKind::InvalidPresenceMarker { marker },
                start,
            )),
        }
    }
}

/// How many bytes of array storage one remaining input byte may reserve.
const PREALLOCATION_PER_INPUT_BYTE: usize = 16;

impl<T: WireValue + Default> WireValue for Option<Vec<T>> {
    const MIN_SIZE: usize = 1;
    #[inline]
    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
        let Some(count) = reader.array_len(version.flexible, T::MIN_SIZE)? else {
            return Ok(None);
        };
        // `count * T::MIN_SIZE <= remaining` was checked; the reservation is
        // also capped at a fixed multiple of the remaining input, so a count
        // of small wire elements cannot reserve room for huge structs.
        let cap = reader.remaining() * PREALLOCATION_PER_INPUT_BYTE / size_of::<T>().max(1) + 1;
        let mut items = Vec::with_capacity(count.min(cap));
        for _ in 0..count {
            if T::READ_IN_PLACE {
                items.push(T::default());
                let slot = items.last_mut().expect("an element was just pushed");
                T::read_into(slot, reader, version)?;
            } else {
                items.push(T::read(reader, version)?);
            }
        }
        Ok(Some(items))
    }
}

impl<T: WireValue + Default> WireValue for Vec<T> {
    const MIN_SIZE: usize = 1;
    #[inline]
    fn read(reader: &mut BoundedReader, version: Version) -> Result<Self, DecodeError> {
        non_null(reader, version, Item::Array)
    }
}
