//! Decompressing record data with a hard cap on the output: a decompression
//! bomb is an error, not an allocation.

use std::io::Read;

use bytes::Bytes;

use super::error::DecodeErrorKind;

/// The compression codec of a record batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
        Ok(match attributes & 0x07 {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            codec => return Err(DecodeErrorKind::UnknownCompression { codec: codec as u8 }),
        })
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
    let name = codec.name();
    match codec {
        Codec::None => Ok(data),
        Codec::Gzip => read_capped(flate2::read::MultiGzDecoder::new(&data[..]), name, limit),
        Codec::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(&data[..]), name, limit),
        Codec::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(&data[..]).map_err(|e| corrupt(name, e))?;
            read_capped(decoder, name, limit)
        }
        Codec::Snappy => snappy(&data, limit),
    }
}

fn corrupt(codec: &'static str, error: impl std::fmt::Display) -> DecodeErrorKind {
    DecodeErrorKind::CorruptCompressed {
        codec,
        reason: error.to_string(),
    }
}

/// Reads a decoder to its end, at most `limit` bytes. The buffer grows with
/// what the decoder actually produces, never with what the input claims.
fn read_capped(decoder: impl Read, codec: &'static str, limit: usize) -> Result<Bytes, DecodeErrorKind> {
    let mut out = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(codec, e))?;
    if out.len() > limit {
        return Err(DecodeErrorKind::DecompressionLimit { codec, limit });
    }
    Ok(out.into())
}

/// The xerial snappy-java framing Kafka's Java producer writes; librdkafka
/// writes plain snappy, which Kafka reads too.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic, version and compatible-version fields.
const XERIAL_HEADER_LEN: usize = 16;

fn snappy(data: &[u8], limit: usize) -> Result<Bytes, DecodeErrorKind> {
    let mut out = Vec::new();
    if data.starts_with(&XERIAL_MAGIC) {
        let mut blocks = data.get(XERIAL_HEADER_LEN..).ok_or_else(|| corrupt("snappy", "truncated xerial header"))?;
        while !blocks.is_empty() {
            let (length, rest) = blocks
                .split_first_chunk::<4>()
                .ok_or_else(|| corrupt("snappy", "truncated xerial block length"))?;
            let length = u32::from_be_bytes(*length) as usize;
            let block = rest
                .get(..length)
                .ok_or_else(|| corrupt("snappy", format!("xerial block of {length} bytes is truncated")))?;
            snappy_block(block, &mut out, limit)?;
            blocks = &rest[length..];
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
