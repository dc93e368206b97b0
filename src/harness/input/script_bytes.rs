//! The way back from a session script to fuzzer bytes: the bytes that
//! `arbitrary` reads as exactly that script. Hand-written sessions become
//! seeds and regression inputs this way, in the format the target reads.
//!
//! It mirrors what `#[derive(Arbitrary)]` reads (arbitrary 1.x): integers
//! little-endian; `bool` one byte (its low bit); an enum a `u32` whose
//! share of the 2^32 range picks the variant, then its fields in order;
//! `Option` a `bool` then the value; a `Vec` a `true` before each element
//! and a `false` after the last. `tests` reads random bytes as scripts and
//! checks that writing them back reads as the same script.

use super::malformation::{HostileInt, Malformation};
use super::session::{
    Acks, ByteLimit, ClockStep, ConfigChange, GenerationChoice, GroupChoice, OffsetChoice, Operation, PartitionChoice,
    ProduceMode, Production, SessionScript, SessionStep, SessionTimeout, TimestampChoice, VersionChoice,
};

/// A value that can be written as the bytes `arbitrary` reads it from.
pub trait ArbitraryBytes {
    fn write_bytes(&self, out: &mut Vec<u8>);
}

macro_rules! integers {
    ($($ty:ty),*) => {$(
        impl ArbitraryBytes for $ty {
            fn write_bytes(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}

integers!(u8, i8, u16, i16, i32, u32, i64);

impl ArbitraryBytes for bool {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl<T: ArbitraryBytes> ArbitraryBytes for Option<T> {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        self.is_some().write_bytes(out);
        if let Some(value) = self {
            value.write_bytes(out);
        }
    }
}

impl<T: ArbitraryBytes> ArbitraryBytes for Box<T> {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        (**self).write_bytes(out);
    }
}

impl<T: ArbitraryBytes> ArbitraryBytes for Vec<T> {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        for element in self {
            true.write_bytes(out);
            element.write_bytes(out);
        }
        false.write_bytes(out);
    }
}

impl<A: ArbitraryBytes, B: ArbitraryBytes> ArbitraryBytes for (A, B) {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        self.0.write_bytes(out);
        self.1.write_bytes(out);
    }
}

/// Writes the tag of variant `index` of `count` (the smallest `u32` whose
/// `(tag * count) >> 32` is `index`), returning `out` for the fields.
fn variant(out: &mut Vec<u8>, index: u64, count: u64) -> &mut Vec<u8> {
    let tag = u32::try_from((index << 32).div_ceil(count)).expect("a variant index below its count");
    tag.write_bytes(out);
    out
}

/// Writes each field in order.
macro_rules! fields {
    ($out:expr) => {{
        $out;
    }};
    ($out:expr $(, $field:expr)+) => {{
        let out: &mut Vec<u8> = $out;
        $($field.write_bytes(out);)*
    }};
}

/// Fieldless enums: the tag of the variant's position.
macro_rules! unit_enums {
    ($($ty:ident [$($variant:ident),*]),* $(,)?) => {$(
        impl ArbitraryBytes for $ty {
            fn write_bytes(&self, out: &mut Vec<u8>) {
                let all = [$($ty::$variant),*];
                let index = all.iter().position(|v| v == self).expect("every variant listed");
                variant(out, index as u64, all.len() as u64);
            }
        }
    )*};
}

unit_enums!(
    Acks[None, Leader, All],
    SessionTimeout[Shortest, Default, TooShort],
    ClockStep[Millisecond, Second, PastSessionTimeout, Minute],
);

impl ArbitraryBytes for SessionScript {
    /// The steps one after another: the script reads steps until the bytes
    /// run out (or it holds `MAX_SESSION_STEPS`).
    fn write_bytes(&self, out: &mut Vec<u8>) {
        for step in &self.steps {
            step.write_bytes(out);
        }
    }
}

impl ArbitraryBytes for SessionStep {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        fields!(out, self.client, self.operation);
    }
}

impl ArbitraryBytes for PartitionChoice {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        fields!(out, self.topic, self.partition);
    }
}

impl ArbitraryBytes for GroupChoice {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        self.0.write_bytes(out);
    }
}

impl ArbitraryBytes for VersionChoice {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        self.0.write_bytes(out);
    }
}

impl ArbitraryBytes for Production {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        fields!(
            out,
            self.to,
            self.acks,
            self.records,
            self.codec,
            self.mode,
            self.version
        );
    }
}

impl ArbitraryBytes for ProduceMode {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        match self {
            ProduceMode::Plain => fields!(variant(out, 0, 4)),
            ProduceMode::Idempotent => fields!(variant(out, 1, 4)),
            ProduceMode::Retry(back) => fields!(variant(out, 2, 4), back),
            ProduceMode::GappedSequence(gap) => fields!(variant(out, 3, 4), gap),
        }
    }
}

impl ArbitraryBytes for OffsetChoice {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        match self {
            OffsetChoice::Position => fields!(variant(out, 0, 5)),
            OffsetChoice::Earliest => fields!(variant(out, 1, 5)),
            OffsetChoice::HighWatermark => fields!(variant(out, 2, 5)),
            OffsetChoice::PastEnd(by) => fields!(variant(out, 3, 5), by),
            OffsetChoice::Exactly(offset) => fields!(variant(out, 4, 5), offset),
        }
    }
}

impl ArbitraryBytes for ByteLimit {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        match self {
            ByteLimit::Zero => fields!(variant(out, 0, 6)),
            ByteLimit::OneByte => fields!(variant(out, 1, 6)),
            ByteLimit::Small => fields!(variant(out, 2, 6)),
            ByteLimit::Medium => fields!(variant(out, 3, 6)),
            ByteLimit::Default => fields!(variant(out, 4, 6)),
            ByteLimit::Exactly(bytes) => fields!(variant(out, 5, 6), bytes),
        }
    }
}

impl ArbitraryBytes for TimestampChoice {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        match self {
            TimestampChoice::Latest => fields!(variant(out, 0, 5)),
            TimestampChoice::Earliest => fields!(variant(out, 1, 5)),
            TimestampChoice::MaxTimestamp => fields!(variant(out, 2, 5)),
            TimestampChoice::AfterStart(seconds) => fields!(variant(out, 3, 5), seconds),
            TimestampChoice::Exactly(timestamp) => fields!(variant(out, 4, 5), timestamp),
        }
    }
}

impl ArbitraryBytes for GenerationChoice {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        match self {
            GenerationChoice::Current => fields!(variant(out, 0, 4)),
            GenerationChoice::Previous => fields!(variant(out, 1, 4)),
            GenerationChoice::None => fields!(variant(out, 2, 4)),
            GenerationChoice::Exactly(generation) => fields!(variant(out, 3, 4), generation),
        }
    }
}

impl ArbitraryBytes for Operation {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        const COUNT: u64 = 27;
        match self {
            Operation::Produce(production) => fields!(variant(out, 0, COUNT), production),
            Operation::Fetch {
                from,
                offset,
                max_bytes,
                partition_max_bytes,
                wait,
                version,
            } => fields!(
                variant(out, 1, COUNT),
                from,
                offset,
                max_bytes,
                partition_max_bytes,
                wait,
                version
            ),
            Operation::Consume {
                from,
                offset,
                page_bytes,
                version,
            } => fields!(variant(out, 2, COUNT), from, offset, page_bytes, version),
            Operation::ListOffsets { of, timestamp, version } => {
                fields!(variant(out, 3, COUNT), of, timestamp, version)
            }
            Operation::Metadata {
                topic,
                allow_auto_create,
                version,
            } => fields!(variant(out, 4, COUNT), topic, allow_auto_create, version),
            Operation::CreateTopic {
                topic,
                partitions,
                version,
            } => fields!(variant(out, 5, COUNT), topic, partitions, version),
            Operation::InitProducerId { transactional, version } => {
                fields!(variant(out, 6, COUNT), transactional, version)
            }
            Operation::JoinGroup {
                group,
                session_timeout,
                version,
            } => fields!(variant(out, 7, COUNT), group, session_timeout, version),
            Operation::SyncGroup {
                group,
                generation,
                version,
            } => fields!(variant(out, 8, COUNT), group, generation, version),
            Operation::Heartbeat {
                group,
                generation,
                version,
            } => fields!(variant(out, 9, COUNT), group, generation, version),
            Operation::LeaveGroup { group, version } => fields!(variant(out, 10, COUNT), group, version),
            Operation::OffsetCommit {
                group,
                of,
                offset,
                generation,
                version,
            } => fields!(variant(out, 11, COUNT), group, of, offset, generation, version),
            Operation::OffsetFetch { group, of, version } => fields!(variant(out, 12, COUNT), group, of, version),
            Operation::Malformed { request, malformation } => fields!(variant(out, 13, COUNT), request, malformation),
            Operation::Disconnect => fields!(variant(out, 14, COUNT)),
            Operation::AdvanceClock { by } => fields!(variant(out, 15, COUNT), by),
            Operation::DeleteTopic { topic, by_id, version } => fields!(variant(out, 16, COUNT), topic, by_id, version),
            Operation::CreatePartitions { topic, count, version } => {
                fields!(variant(out, 17, COUNT), topic, count, version)
            }
            Operation::DeleteRecords { of, before, version } => fields!(variant(out, 18, COUNT), of, before, version),
            Operation::AlterConfig {
                topic,
                change,
                incremental,
                version,
            } => fields!(variant(out, 19, COUNT), topic, change, incremental, version),
            Operation::DescribeGroup { group, version } => fields!(variant(out, 20, COUNT), group, version),
            Operation::ListGroups { version } => fields!(variant(out, 21, COUNT), version),
            Operation::DeleteGroup { group, version } => fields!(variant(out, 22, COUNT), group, version),
            Operation::OffsetDelete { group, of, version } => fields!(variant(out, 23, COUNT), group, of, version),
            Operation::Repeat { times } => fields!(variant(out, 24, COUNT), times),
            Operation::FetchMany {
                partitions,
                offset,
                max_bytes,
                partition_max_bytes,
                version,
            } => fields!(
                variant(out, 25, COUNT),
                partitions.0,
                offset,
                max_bytes,
                partition_max_bytes,
                version
            ),
            Operation::ApiVersions { version } => fields!(variant(out, 26, COUNT), version),
        }
    }
}

impl ArbitraryBytes for ConfigChange {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        match self {
            ConfigChange::RetentionSeconds(seconds) => fields!(variant(out, 0, 4), seconds),
            ConfigChange::KeepForever => fields!(variant(out, 1, 4)),
            ConfigChange::MaxMessageBytes(bytes) => fields!(variant(out, 2, 4), bytes),
            ConfigChange::Compact(compact) => fields!(variant(out, 3, 4), compact),
        }
    }
}

impl ArbitraryBytes for Malformation {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        const COUNT: u64 = 8;
        match self {
            Malformation::Truncate { at } => fields!(variant(out, 0, COUNT), at),
            Malformation::Extend { bytes } => fields!(variant(out, 1, COUNT), bytes),
            Malformation::CorruptInt { at, value } => fields!(variant(out, 2, COUNT), at, value),
            Malformation::WrongApiKey { api_key } => fields!(variant(out, 3, COUNT), api_key),
            Malformation::WrongVersion { api_version } => fields!(variant(out, 4, COUNT), api_version),
            Malformation::FlipBytes { flips } => fields!(variant(out, 5, COUNT), flips),
            Malformation::Splice { at, other, from } => fields!(variant(out, 6, COUNT), at, other, from),
            Malformation::LieInSizePrefix { size } => fields!(variant(out, 7, COUNT), size),
        }
    }
}

impl ArbitraryBytes for HostileInt {
    fn write_bytes(&self, out: &mut Vec<u8>) {
        const COUNT: u64 = 9;
        match self {
            HostileInt::I16(value) => fields!(variant(out, 0, COUNT), value),
            HostileInt::I32(value) => fields!(variant(out, 1, COUNT), value),
            HostileInt::I16Max => fields!(variant(out, 2, COUNT)),
            HostileInt::I32Max => fields!(variant(out, 3, COUNT)),
            HostileInt::MinusTwo16 => fields!(variant(out, 4, COUNT)),
            HostileInt::MinusTwo32 => fields!(variant(out, 5, COUNT)),
            HostileInt::VarintMax => fields!(variant(out, 6, COUNT)),
            HostileInt::VarintOverlong => fields!(variant(out, 7, COUNT)),
            HostileInt::JustPastEnd => fields!(variant(out, 8, COUNT)),
        }
    }
}

#[cfg(test)]
mod tests {
    use arbitrary::Unstructured;

    use super::*;
    use crate::harness::input::seeded_bytes;

    #[test]
    fn written_scripts_read_back_the_same() {
        let mut steps = 0;
        for seed in 0..2000u64 {
            let data = seeded_bytes(0xb17e_0000 + seed, 16 + (seed as usize * 7) % 700);
            let script: SessionScript = Unstructured::new(&data).arbitrary().unwrap();
            let mut bytes = Vec::new();
            script.write_bytes(&mut bytes);
            let again: SessionScript = Unstructured::new(&bytes).arbitrary().unwrap();
            assert_eq!(again, script, "seed {seed}");
            steps += script.steps.len();
        }
        assert!(steps > 10_000, "{steps} steps: the scripts should be long");
    }

    #[test]
    fn variant_tags_pick_their_variant() {
        for count in 1..=20u64 {
            for index in 0..count {
                let mut out = Vec::new();
                variant(&mut out, index, count);
                let tag = u32::from_le_bytes(out.try_into().unwrap());
                assert_eq!((u64::from(tag) * count) >> 32, index);
            }
        }
    }
}
