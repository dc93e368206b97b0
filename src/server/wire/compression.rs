//! Decompressing record data with a hard cap on the output: a decompression
//! bomb is an error, not an allocation.

use std::io::Read;

use bytes::Bytes;

use super::error::DecodeErrorKind;

/// The compression codec of a record batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Codec {
    pub const ALL: [Codec; 5] = [Codec::None, Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd];

    pub fn from_attributes(attributes: i16) -> Result<Self, DecodeErrorKind> {
        let bits = attributes & 0x07;
        Self::ALL
            .into_iter()
            .find(|codec| codec.attribute_bits() == bits)
            .ok_or(DecodeErrorKind::UnknownCompression { codec: bits as u8 })
    }

    /// The codec's value in a batch's attributes (bits 0-2).
    pub fn attribute_bits(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
}

/// Decompresses `data`, failing as soon as the output would exceed `limit`.
pub fn decompress(codec: Codec, data: Bytes, limit: usize) -> Result<Bytes, DecodeErrorKind> {
    match codec {
        Codec::None => Ok(data),
        Codec::Gzip => gzip(&data, limit),
        Codec::Lz4 => lz4(&data, limit),
        Codec::Zstd => zstd(&data, limit),
        Codec::Snappy => snappy(&data, limit),
    }
}

fn corrupt(codec: &'static str, error: impl std::fmt::Display) -> DecodeErrorKind {
    DecodeErrorKind::CorruptCompressed {
        codec,
        reason: error.to_string(),
    }
}

/// Reads a decoder to its end, appending at most `limit` bytes in all to
/// `out`. The buffer grows with what the decoder actually produces, never
/// with what the input claims.
fn read_capped(
    decoder: impl Read,
    codec: &'static str,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), DecodeErrorKind> {
    let room = limit.saturating_sub(out.len()) as u64;
    decoder.take(room + 1).read_to_end(out).map_err(|e| corrupt(codec, e))?;
    if out.len() > limit {
        return Err(DecodeErrorKind::DecompressionLimit { codec, limit });
    }
    Ok(())
}

fn gzip(data: &[u8], limit: usize) -> Result<Bytes, DecodeErrorKind> {
    let mut out = Vec::new();
    read_capped(flate2::read::MultiGzDecoder::new(data), "gzip", &mut out, limit)?;
    Ok(out.into())
}

const ZSTD_MAGIC: u32 = 0xfd2f_b528;

/// Every zstd frame in `data`. A decoder reserves a frame's whole declared
/// window up front, so a window larger than the limit is refused before
/// decoding: no back-reference in output of at most `limit` bytes needs more.
fn zstd(mut data: &[u8], limit: usize) -> Result<Bytes, DecodeErrorKind> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let window = zstd_window_size(data)?;
        if window > limit as u64 {
            return Err(DecodeErrorKind::WindowTooLarge {
                codec: "zstd",
                window,
                limit,
            });
        }
        let decoder = ruzstd::decoding::StreamingDecoder::new(&mut data).map_err(|e| corrupt("zstd", e))?;
        read_capped(decoder, "zstd", &mut out, limit)?;
    }
    Ok(out.into())
}

/// The window size a zstd frame header declares (RFC 8878, 3.1.1.1).
fn zstd_window_size(frame: &[u8]) -> Result<u64, DecodeErrorKind> {
    let truncated = || corrupt("zstd", "truncated frame header");
    let magic = frame.first_chunk::<4>().ok_or_else(truncated)?;
    if u32::from_le_bytes(*magic) != ZSTD_MAGIC {
        return Err(corrupt("zstd", "not a zstd frame (bad magic number)"));
    }
    let descriptor = *frame.get(4).ok_or_else(truncated)?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let window_descriptor = *frame.get(5).ok_or_else(truncated)?;
        let log = 10 + u32::from(window_descriptor >> 3);
        let base = 1u64 << log;
        return Ok(base + (base / 8) * u64::from(window_descriptor & 0x07));
    }
    // A single-segment frame's window is its content size.
    let dictionary_id_size = [0, 1, 2, 4][usize::from(descriptor & 0x03)];
    let content_size_size = [1, 2, 4, 8][usize::from(descriptor >> 6)];
    let start = 5 + dictionary_id_size;
    let field = frame.get(start..start + content_size_size).ok_or_else(truncated)?;
    let mut le = [0u8; 8];
    le[..field.len()].copy_from_slice(field);
    let size = u64::from_le_bytes(le);
    Ok(if content_size_size == 2 { size + 256 } else { size })
}

const LZ4_MAGIC: u32 = 0x184d_2204;

/// The LZ4 frame format Kafka uses for magic 2 batches. Blocks are
/// decompressed straight into the output, each into at most the room the
/// limit leaves. Checksums are not verified: the batch CRC-32C already
/// covers these bytes.
fn lz4(mut data: &[u8], limit: usize) -> Result<Bytes, DecodeErrorKind> {
    let mut out = Vec::new();
    while !data.is_empty() {
        data = lz4_frame(data, &mut out, limit)?;
    }
    Ok(out.into())
}

/// Decodes one frame into `out`, returning the bytes after it.
fn lz4_frame<'a>(data: &'a [u8], out: &mut Vec<u8>, limit: usize) -> Result<&'a [u8], DecodeErrorKind> {
    let mut input = Cursor { data, what: "lz4" };
    if u32::from_le_bytes(input.array::<4>()?) != LZ4_MAGIC {
        return Err(corrupt("lz4", "not an lz4 frame (bad magic number)"));
    }
    let [flags, block_descriptor] = input.array::<2>()?;
    if flags >> 6 != 1 {
        return Err(corrupt("lz4", format!("unsupported frame version {}", flags >> 6)));
    }
    let block_checksums = flags & 0x10 != 0;
    let content_checksum = flags & 0x04 != 0;
    let max_block = match (block_descriptor >> 4) & 0x07 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        other => return Err(corrupt("lz4", format!("invalid block maximum size code {other}"))),
    };
    let mut header_extra = 1; // header checksum
    if flags & 0x08 != 0 {
        header_extra += 8; // content size
    }
    if flags & 0x01 != 0 {
        header_extra += 4; // dictionary id
    }
    input.take(header_extra)?;
    let frame_start = out.len();
    loop {
        let word = u32::from_le_bytes(input.array::<4>()?);
        if word == 0 {
            break;
        }
        let stored = word & 0x8000_0000 != 0;
        let block = input.take((word & 0x7fff_ffff) as usize)?;
        if block_checksums {
            input.take(4)?;
        }
        // LZ4 expands one input byte to at most 255 output bytes, so a small
        // block never needs the frame's whole block size.
        let room = max_block
            .min(limit - out.len())
            .min(block.len().saturating_mul(255).saturating_add(64));
        let start = out.len();
        if stored {
            if block.len() > room {
                return Err(lz4_overflow(block.len(), max_block, limit));
            }
            out.extend_from_slice(block);
            continue;
        }
        out.resize(start + room, 0);
        // Blocks may refer back into earlier blocks of the same frame.
        let (previous, rest) = out.split_at_mut(start);
        let written =
            lz4_flex::block::decompress_into_with_dict(block, rest, &previous[frame_start..]).map_err(|e| match e {
                lz4_flex::block::DecompressError::OutputTooSmall { expected, .. } => {
                    lz4_overflow(expected, max_block, limit)
                }
                other => corrupt("lz4", other),
            })?;
        out.truncate(start + written);
    }
    if content_checksum {
        input.take(4)?;
    }
    Ok(input.data)
}

/// A block too big for the room left: past the frame's own block size it is
/// corrupt, otherwise it is past the limit.
fn lz4_overflow(size: usize, max_block: usize, limit: usize) -> DecodeErrorKind {
    if size > max_block {
        corrupt(
            "lz4",
            format!("block of {size} bytes exceeds the frame's {max_block}-byte block size"),
        )
    } else {
        DecodeErrorKind::DecompressionLimit { codec: "lz4", limit }
    }
}

/// A slice being consumed from the front by the frame parsers.
struct Cursor<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeErrorKind> {
        if n > self.data.len() {
            return Err(corrupt(
                self.what,
                format!("truncated: needed {n} bytes, {} remaining", self.data.len()),
            ));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeErrorKind> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// The xerial snappy-java framing Kafka's Java producer writes; librdkafka
/// writes plain snappy, which Kafka reads too.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic, version and compatible-version fields.
const XERIAL_HEADER_LEN: usize = 16;

fn snappy(data: &[u8], limit: usize) -> Result<Bytes, DecodeErrorKind> {
    let mut out = Vec::new();
    if data.starts_with(&XERIAL_MAGIC) {
        let mut input = Cursor { data, what: "snappy" };
        input.take(XERIAL_HEADER_LEN)?;
        while !input.data.is_empty() {
            let length = u32::from_be_bytes(input.array::<4>()?) as usize;
            snappy_block(input.take(length)?, &mut out, limit)?;
        }
    } else {
        snappy_block(data, &mut out, limit)?;
    }
    Ok(out.into())
}

/// Appends one raw snappy block to `out`, checking the length it claims
/// against the limit before reserving room for it.
fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), DecodeErrorKind> {
    let length = snap::raw::decompress_len(block).map_err(|e| corrupt("snappy", e))?;
    if out.len().saturating_add(length) > limit {
        return Err(DecodeErrorKind::DecompressionLimit { codec: "snappy", limit });
    }
    let start = out.len();
    out.resize(start + length, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| corrupt("snappy", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

    use super::*;

    /// `len` bytes of a 1000-byte pseudo-random pattern, repeated: it
    /// compresses well, and later blocks can refer back into earlier ones.
    fn pattern(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        let unit: Vec<u8> = (0..1000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        unit.iter().copied().cycle().take(len).collect()
    }

    /// Bytes that do not compress.
    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 56) as u8
            })
            .collect()
    }

    fn gzip_member(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn lz4_frame(data: &[u8], info: FrameInfo) -> Vec<u8> {
        let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// 64 KiB blocks that may refer back into earlier ones.
    fn linked() -> FrameInfo {
        FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(BlockMode::Linked)
    }

    /// A streamed zstd frame: no content size, a 1 KiB window.
    fn zstd_frame(data: &[u8]) -> Vec<u8> {
        let mut encoder = zstd::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(10).unwrap();
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// snappy-java's framing: the header, then each block behind its length.
    fn xerial(blocks: &[&[u8]]) -> Vec<u8> {
        let mut out = [&XERIAL_MAGIC[..], &[0, 0, 0, 1, 0, 0, 0, 1]].concat();
        for block in blocks {
            let raw = snap::raw::Encoder::new().compress_vec(block).unwrap();
            out.extend_from_slice(&(raw.len() as u32).to_be_bytes());
            out.extend_from_slice(&raw);
        }
        out
    }

    fn decode(codec: Codec, data: Vec<u8>, limit: usize) -> Result<Vec<u8>, DecodeErrorKind> {
        decompress(codec, data.into(), limit).map(|out| out.to_vec())
    }

    #[test]
    fn snappy_xerial_and_raw() {
        let (a, b) = (pattern(3000), noise(500));
        let ab = [&a[..], &b[..]].concat();
        assert_eq!(decode(Codec::Snappy, xerial(&[&a, &b]), ab.len()), Ok(ab));
        assert_eq!(decode(Codec::Snappy, xerial(&[]), 0), Ok(vec![]));
        let raw = snap::raw::Encoder::new().compress_vec(&a).unwrap();
        assert_eq!(decode(Codec::Snappy, raw, a.len()), Ok(a));
    }

    #[test]
    fn truncated_xerial_is_corrupt() {
        let whole = xerial(&[b"first block", b"second"]);
        let last = snap::raw::Encoder::new().compress_vec(b"second").unwrap().len();
        for (len, reason) in [
            (12, "truncated: needed 16 bytes, 12 remaining".to_string()),
            (18, "truncated: needed 4 bytes, 2 remaining".to_string()),
            (
                whole.len() - 1,
                format!("truncated: needed {last} bytes, {} remaining", last - 1),
            ),
        ] {
            let expected = DecodeErrorKind::CorruptCompressed {
                codec: "snappy",
                reason,
            };
            assert_eq!(
                decode(Codec::Snappy, whole[..len].to_vec(), 1 << 20),
                Err(expected),
                "cut at {len}"
            );
        }
    }

    #[test]
    fn gzip_lz4_and_zstd_round_trip() {
        for data in [vec![], b"x".to_vec(), pattern(5000), noise(5000), pattern(200_000)] {
            // At least the 1 KiB window the streamed zstd frames declare; a
            // single-segment frame's window is its content size.
            let limit = data.len().max(1 << 10);
            let single_segment = zstd::bulk::compress(&data, 3).unwrap();
            for (codec, compressed) in [
                (Codec::Gzip, gzip_member(&data)),
                (Codec::Lz4, lz4_frame(&data, FrameInfo::new())),
                (Codec::Lz4, lz4_frame(&data, linked())),
                (Codec::Zstd, zstd_frame(&data)),
                (Codec::Zstd, single_segment),
            ] {
                assert_eq!(
                    decode(codec, compressed, limit).as_ref(),
                    Ok(&data),
                    "{codec:?} {}",
                    data.len()
                );
            }
        }
    }

    #[test]
    fn lz4_frames_of_several_blocks() {
        let data = pattern(200_000);
        let independent = lz4_frame(&data, FrameInfo::new().block_size(BlockSize::Max64KB));
        let linked_frame = lz4_frame(&data, linked());
        // Linked blocks refer back into earlier ones, so they are smaller.
        assert!(linked_frame.len() < independent.len() / 2);
        let checked = linked()
            .block_checksums(true)
            .content_checksum(true)
            .content_size(Some(data.len() as u64));
        for frame in [independent, linked_frame, lz4_frame(&data, checked)] {
            assert_eq!(decode(Codec::Lz4, frame, data.len()).as_ref(), Ok(&data));
        }
    }

    #[test]
    fn concatenated_frames_and_members() {
        let (a, b) = (pattern(3000), noise(700));
        let ab = [&a[..], &b[..]].concat();
        let concat = |f: fn(&[u8]) -> Vec<u8>| [f(&a), f(&b)].concat();
        let lz4 = |data: &[u8]| lz4_frame(data, linked());
        let single_segment = |data: &[u8]| zstd::bulk::compress(data, 3).unwrap();
        for (codec, data) in [
            (Codec::Gzip, concat(gzip_member)),
            (Codec::Zstd, concat(zstd_frame)),
            (Codec::Zstd, concat(single_segment)),
            (Codec::Lz4, concat(lz4)),
        ] {
            assert_eq!(decode(codec, data, ab.len()).as_ref(), Ok(&ab), "{codec:?}");
        }
    }

    #[test]
    fn output_exactly_at_the_limit() {
        for data in [pattern(150_000), noise(150_000)] {
            let (a, b) = data.split_at(data.len() / 2);
            for (codec, compressed) in [
                (Codec::Gzip, gzip_member(&data)),
                // The limit holds across xerial blocks and lz4 blocks.
                (Codec::Snappy, xerial(&[a, b])),
                (Codec::Lz4, lz4_frame(&data, linked())),
                (Codec::Zstd, zstd_frame(&data)),
            ] {
                let at_limit = decode(codec, compressed.clone(), data.len());
                assert_eq!(at_limit.as_ref(), Ok(&data), "{codec:?}");
                let limit = data.len() - 1;
                let expected = DecodeErrorKind::DecompressionLimit {
                    codec: codec.name(),
                    limit,
                };
                assert_eq!(decode(codec, compressed, limit), Err(expected), "{codec:?}");
            }
        }
    }

    #[test]
    fn codec_from_attributes() {
        for (bits, codec) in (0..).zip(Codec::ALL) {
            // Timestamp type, transactional and control bits do not matter.
            for attributes in [bits, bits | 0x38] {
                assert_eq!(Codec::from_attributes(attributes), Ok(codec), "{attributes:#x}");
            }
        }
        for codec in 5..=7u8 {
            let expected = Err(DecodeErrorKind::UnknownCompression { codec });
            assert_eq!(Codec::from_attributes(i16::from(codec)), expected);
        }
    }
}
