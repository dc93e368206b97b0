//! Small pools of values, so that generated requests meet each other (the
//! same topic produced to and fetched from, the same group joined and
//! committed to), with an escape to any value so nothing is out of reach.

use arbitrary::{Result, Unstructured};
use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

/// One time in eight, any value; otherwise one from the pool.
pub fn pooled<T: Clone + for<'a> arbitrary::Arbitrary<'a>>(u: &mut Unstructured, pool: &[T]) -> Result<T> {
    if u.ratio(1, 8)? {
        u.arbitrary()
    } else {
        u.choose(pool).cloned()
    }
}

pub const NAMES: &[&str] = &[
    "topic-a",
    "topic-b",
    "group-1",
    "member-1",
    "consumer",
    "range",
    "producer-1",
    "rdkafka",
    "",
];

pub fn string(u: &mut Unstructured) -> Result<StrBytes> {
    if u.ratio(1, 8)? {
        let len = u.int_in_range(0..=64)?;
        let chars: Vec<char> = (0..len).map(|_| u.arbitrary()).collect::<Result<_>>()?;
        Ok(StrBytes::from_string(chars.into_iter().collect()))
    } else {
        Ok(StrBytes::from_static_str(u.choose(NAMES)?))
    }
}

pub fn bytes(u: &mut Unstructured) -> Result<Bytes> {
    let len = u.int_in_range(0..=64)?;
    Ok(Bytes::copy_from_slice(u.bytes(len)?))
}

pub fn uuid(u: &mut Unstructured) -> Result<Uuid> {
    pooled(
        u,
        &[
            Uuid::nil(),
            Uuid::from_u128(1),
            Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0002),
        ],
    )
}

pub fn i8(u: &mut Unstructured) -> Result<i8> {
    pooled(u, &[0, 1, -1])
}

pub fn i16(u: &mut Unstructured) -> Result<i16> {
    pooled(u, &[0, 1, -1, 2, i16::MAX])
}

pub fn u16(u: &mut Unstructured) -> Result<u16> {
    pooled(u, &[0, 1, 9092, u16::MAX])
}

/// Quota values. No NaN, so a generated request equals itself decoded; the
/// mutator still reaches every bit pattern.
pub fn f64(u: &mut Unstructured) -> Result<f64> {
    u.choose(&[0.0, 1.0, -1.0, 1024.0, 1e12, f64::MAX, f64::INFINITY])
        .copied()
}

pub fn i32(u: &mut Unstructured) -> Result<i32> {
    pooled(u, &[0, 1, -1, 2, 3, 100, 1_000, 1_048_576, i32::MAX, i32::MIN])
}

pub fn i64(u: &mut Unstructured) -> Result<i64> {
    pooled(u, &[0, 1, -1, -2, 5, 100, 1_700_000_000_000, i64::MAX, i64::MIN])
}

/// Arrays are short: long ones add time, not new paths.
pub fn array_len(u: &mut Unstructured) -> Result<usize> {
    u.int_in_range(0..=3)
}
