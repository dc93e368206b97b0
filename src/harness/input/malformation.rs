//! Malformations: what a hostile or broken client does to a well-formed
//! request frame. Each is chosen by the fuzzer, with positions taken modulo
//! the frame, so every choice applies to every frame.

use arbitrary::Arbitrary;

/// One way to damage a frame (without its size prefix), or a lie in the
/// size prefix that goes before it on the stream.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Malformation {
    /// Cut the frame short.
    Truncate { at: u16 },
    /// Append bytes after a complete body.
    Extend { bytes: Vec<u8> },
    /// Overwrite whatever sits at `at` (a length or a count, when the
    /// fuzzer finds one) with a value chosen to break a bound.
    CorruptInt { at: u16, value: HostileInt },
    /// A different api key in the header.
    WrongApiKey { api_key: i16 },
    /// A different api version in the header.
    WrongVersion { api_version: i16 },
    /// XOR bytes at positions.
    FlipBytes { flips: Vec<(u16, u8)> },
    /// Replace the tail from `at` with the tail of another frame from `from`:
    /// a valid start glued to a valid end of a different request.
    Splice { at: u16, other: Vec<u8>, from: u16 },
    /// A size prefix that does not match the frame: the stream splits
    /// elsewhere, or stops.
    LieInSizePrefix { size: i32 },
}

/// Values that break bounds: the maxima and minima of each wire integer,
/// a null length where none is allowed, a count just past what remains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum HostileInt {
    I16(i16),
    I32(i32),
    I16Max,
    I32Max,
    MinusTwo16,
    MinusTwo32,
    /// An unsigned varint (compact length or count) of 0xffff_ffff.
    VarintMax,
    /// A varint longer than any Kafka type allows.
    VarintOverlong,
    /// A 4-byte count of `remaining + 1`.
    JustPastEnd,
}

impl HostileInt {
    fn bytes(self, remaining: usize) -> Vec<u8> {
        match self {
            HostileInt::I16(v) => v.to_be_bytes().to_vec(),
            HostileInt::I32(v) => v.to_be_bytes().to_vec(),
            HostileInt::I16Max => i16::MAX.to_be_bytes().to_vec(),
            HostileInt::I32Max => i32::MAX.to_be_bytes().to_vec(),
            HostileInt::MinusTwo16 => (-2i16).to_be_bytes().to_vec(),
            HostileInt::MinusTwo32 => (-2i32).to_be_bytes().to_vec(),
            HostileInt::VarintMax => vec![0xff, 0xff, 0xff, 0xff, 0x0f],
            HostileInt::VarintOverlong => vec![0xff; 11],
            HostileInt::JustPastEnd => u32::try_from(remaining + 1).unwrap_or(u32::MAX).to_be_bytes().to_vec(),
        }
    }
}

/// Where `at` falls in a frame of `len` bytes (0 for an empty frame).
fn position(at: u16, len: usize) -> usize {
    if len == 0 { 0 } else { usize::from(at) % len }
}

impl Malformation {
    /// The frame after the damage, and the size prefix to send before it
    /// (`None`: its true size).
    pub fn apply(&self, frame: &[u8]) -> (Vec<u8>, Option<i32>) {
        let mut out = frame.to_vec();
        match self {
            Malformation::Truncate { at } => out.truncate(position(*at, frame.len())),
            Malformation::Extend { bytes } => out.extend_from_slice(bytes),
            Malformation::CorruptInt { at, value } => {
                let at = position(*at, frame.len());
                let bytes = value.bytes(frame.len().saturating_sub(at + 4));
                let end = (at + bytes.len()).min(out.len());
                out.splice(at..end, bytes);
            }
            Malformation::WrongApiKey { api_key } => overwrite(&mut out, 0, &api_key.to_be_bytes()),
            Malformation::WrongVersion { api_version } => overwrite(&mut out, 2, &api_version.to_be_bytes()),
            Malformation::FlipBytes { flips } => {
                for &(at, mask) in flips {
                    let at = position(at, out.len());
                    if let Some(byte) = out.get_mut(at) {
                        *byte ^= mask;
                    }
                }
            }
            Malformation::Splice { at, other, from } => {
                out.truncate(position(*at, frame.len()));
                out.extend_from_slice(&other[position(*from, other.len()).min(other.len())..]);
            }
            Malformation::LieInSizePrefix { size } => return (out, Some(*size)),
        }
        (out, None)
    }
}

/// Writes `bytes` at `at`, as far as the frame goes.
fn overwrite(frame: &mut [u8], at: usize, bytes: &[u8]) {
    for (slot, byte) in frame.iter_mut().skip(at).zip(bytes) {
        *slot = *byte;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: &[u8] = &[0, 3, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0];

    #[test]
    fn each_malformation_changes_the_frame_as_named() {
        let apply = |m: Malformation| m.apply(FRAME);
        assert_eq!(apply(Malformation::Truncate { at: 5 }), (FRAME[..5].to_vec(), None));
        assert_eq!(apply(Malformation::Truncate { at: 12 + 3 }).0, &FRAME[..3]);
        assert_eq!(
            apply(Malformation::Extend { bytes: vec![9, 9] }).0,
            [FRAME, &[9, 9]].concat()
        );
        let corrupt = apply(Malformation::CorruptInt {
            at: 8,
            value: HostileInt::I32Max,
        });
        assert_eq!(corrupt.0, [&FRAME[..8], &[0x7f, 0xff, 0xff, 0xff]].concat());
        let past_end = apply(Malformation::CorruptInt {
            at: 4,
            value: HostileInt::JustPastEnd,
        });
        assert_eq!(&past_end.0[4..8], &[0, 0, 0, 5]);
        let varint = apply(Malformation::CorruptInt {
            at: 10,
            value: HostileInt::VarintMax,
        });
        assert_eq!(varint.0, [&FRAME[..10], &[0xff, 0xff, 0xff, 0xff, 0x0f]].concat());
        assert_eq!(&apply(Malformation::WrongApiKey { api_key: 0x102 }).0[..2], &[1, 2]);
        assert_eq!(
            &apply(Malformation::WrongVersion { api_version: -1 }).0[2..4],
            &[0xff, 0xff]
        );
        let flipped = apply(Malformation::FlipBytes {
            flips: vec![(1, 0xff), (14, 1)],
        });
        assert_eq!((flipped.0[1], flipped.0[2]), (3 ^ 0xff, 1), "position 14 wraps to 2");
        let spliced = apply(Malformation::Splice {
            at: 4,
            other: vec![1, 2, 3],
            from: 1,
        });
        assert_eq!(spliced.0, [&FRAME[..4], &[2, 3]].concat());
        assert_eq!(
            apply(Malformation::LieInSizePrefix { size: -5 }),
            (FRAME.to_vec(), Some(-5))
        );
    }

    #[test]
    fn malformations_of_an_empty_frame_do_not_panic() {
        let mut data = [7u8; 64];
        for seed in 0..64u8 {
            data.iter_mut().for_each(|b| *b = b.wrapping_mul(31).wrapping_add(seed));
            let m: Malformation = arbitrary::Unstructured::new(&data).arbitrary().unwrap();
            let _ = m.apply(&[]);
            let _ = m.apply(&[1]);
        }
    }
}
