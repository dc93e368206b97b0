//! The one error type of the wire decoder: what was wrong, and at which byte.

use std::fmt;

/// A decoding failure: its kind and the byte offset (from the start of the
/// frame, or of the decompressed records for bytes inside a compressed batch)
/// where the bad item starts. Read them as `error.kind` and `error.offset`.
///
/// Boxed, so that every `Result` on the decoder's hot path stays one pointer
/// wide: errors are rare, reads are not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct DecodeError(Box<ErrorAt>);

/// What `DecodeError` holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at offset {offset}")]
pub struct ErrorAt {
    pub kind: DecodeErrorKind,
    pub offset: usize,
}

impl DecodeError {
    #[cold]
    pub fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        Self(Box::new(ErrorAt { kind, offset }))
    }
}

impl std::ops::Deref for DecodeError {
    type Target = ErrorAt;

    fn deref(&self) -> &ErrorAt {
        &self.0
    }
}

/// What a length, count or string was, for messages like
/// `array count 2147483647 exceeds 19 remaining bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Array,
    String,
    Bytes,
    TaggedField,
    Records,
    RecordHeaders,
    RecordKey,
    RecordValue,
    HeaderKey,
    HeaderValue,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Item::Array => "array",
            Item::String => "string",
            Item::Bytes => "bytes",
            Item::TaggedField => "tagged field",
            Item::Records => "record",
            Item::RecordHeaders => "record header",
            Item::RecordKey => "record key",
            Item::RecordValue => "record value",
            Item::HeaderKey => "header key",
            Item::HeaderValue => "header value",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("needed {needed} bytes for {what}, {remaining} remaining")]
    Truncated {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    #[error("{item} count {count} exceeds {remaining} remaining bytes")]
    CountExceedsRemaining { item: Item, count: i64, remaining: usize },
    #[error("{item} length {length} exceeds {remaining} remaining bytes")]
    LengthExceedsRemaining { item: Item, length: i64, remaining: usize },
    #[error("{item} length {length} is negative")]
    NegativeLength { item: Item, length: i64 },
    #[error("nullable struct marker {marker}: only -1 (null) and 1 (present) are written")]
    InvalidPresenceMarker { marker: i8 },
    #[error("null {item} where the field is not nullable")]
    UnexpectedNull { item: Item },
    #[error("varint longer than {max_bytes} bytes")]
    VarintTooLong { max_bytes: usize },
    #[error("string is not valid UTF-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 { valid_up_to: usize },
    #[error("{count} trailing bytes after the {what}")]
    TrailingBytes { what: &'static str, count: usize },
    #[error("tagged field {tag} is not valid in version {version}")]
    TaggedFieldNotInVersion { tag: u32, version: i16 },
    #[error("tagged field {tag} declares {declared} bytes but its value used {used}")]
    TaggedFieldSizeMismatch { tag: u32, declared: usize, used: usize },
    #[error("tag {tag} is beyond the largest tag, 2147483647")]
    TagOutOfRange { tag: u32 },
    #[error("frame length {length} is negative")]
    NegativeFrameLength { length: i32 },
    #[error("frame length {length} exceeds the maximum of {max} bytes")]
    FrameTooLarge { length: usize, max: usize },
    #[error("unsupported api key {api_key}")]
    UnsupportedApiKey { api_key: i16 },
    #[error("unsupported version {version} of {api} (supported {min}..={max})")]
    UnsupportedVersion {
        api: &'static str,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("unsupported message format: magic {magic} (only magic 2 record batches)")]
    UnsupportedMagic { magic: i8 },
    #[error("record batch length {length} is invalid ({reason})")]
    InvalidBatchLength { length: i32, reason: &'static str },
    #[error("record batch CRC-32C mismatch: header says {expected:#010x}, computed {actual:#010x}")]
    CrcMismatch { expected: u32, actual: u32 },
    #[error("record batch declares {declared} records but holds {found}")]
    RecordCountMismatch { declared: i32, found: usize },
    #[error("record length {length} does not match its {used} encoded bytes")]
    RecordLengthMismatch { length: i32, used: usize },
    #[error("unknown compression codec {codec}")]
    UnknownCompression { codec: u8 },
    #[error("{codec} data decompresses past the limit of {limit} bytes")]
    DecompressionLimit { codec: &'static str, limit: usize },
    #[error("{count} decompressed records would exceed the decoding limit, {limit} bytes left")]
    DecodedRecordsLimit { count: usize, limit: usize },
    #[error("{codec} window of {window} bytes exceeds the decompression limit of {limit} bytes")]
    WindowTooLarge {
        codec: &'static str,
        window: u64,
        limit: usize,
    },
    #[error("{codec} data is corrupt: {reason}")]
    CorruptCompressed { codec: &'static str, reason: String },
}

impl DecodeErrorKind {
    /// Whether the bytes broke one of our decoding limits rather than the
    /// format: another implementation, with other limits, may read them.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            Self::FrameTooLarge { .. }
                | Self::DecompressionLimit { .. }
                | Self::DecodedRecordsLimit { .. }
                | Self::WindowTooLarge { .. }
        )
    }
}
