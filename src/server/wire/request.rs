//! Decoding a whole request frame: header, then body.

use bytes::Bytes;
use kafka_protocol::messages::{RequestHeader, RequestKind};

use super::error::{DecodeError, DecodeErrorKind};
use super::message::{read_body, supported_api};
use super::reader::BoundedReader;
use super::value::Version;

/// A decoded request frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// The first 8 bytes of every request header version: enough to answer, or
/// to log, a request whose remainder cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// A frame that could not be decoded; `header` is set when its first 8 bytes
/// were readable, so the caller can still answer with the correlation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{error}", describe(header))]
pub struct RequestError {
    pub header: Option<HeaderPrefix>,
    pub error: DecodeError,
}

fn describe(header: &Option<HeaderPrefix>) -> String {
    match header {
        Some(h) => format!(
            "api key {} version {} (correlation id {}): ",
            h.api_key, h.api_version, h.correlation_id
        ),
        None => String::new(),
    }
}

/// Decodes one frame (without its size prefix) into a request.
pub fn decode_request(frame: Bytes) -> Result<Request, RequestError> {
    let mut reader = BoundedReader::new(frame);
    let prefix = read_prefix(&mut reader).map_err(|error| RequestError { header: None, error })?;
    let fail = |error| RequestError {
        header: Some(prefix),
        error,
    };
    let api = supported_api(prefix.api_key).ok_or_else(|| {
        fail(DecodeError::new(
            DecodeErrorKind::UnsupportedApiKey {
                api_key: prefix.api_key,
            },
            0,
        ))
    })?;
    if !(api.versions.min..=api.versions.max).contains(&prefix.api_version) {
        return Err(fail(DecodeError::new(
            DecodeErrorKind::UnsupportedVersion {
                api: api.name,
                version: prefix.api_version,
                min: api.versions.min,
                max: api.versions.max,
            },
            2,
        )));
    }
    let header_version = api.key.request_header_version(prefix.api_version);
    let mut header = RequestHeader::default()
        .with_request_api_key(prefix.api_key)
        .with_request_api_version(prefix.api_version)
        .with_correlation_id(prefix.correlation_id);
    read_header_rest(&mut reader, header_version, &mut header).map_err(fail)?;
    let version = Version {
        version: prefix.api_version,
        flexible: api.is_flexible(prefix.api_version),
    };
    let body = read_body(api.key, &mut reader, version).map_err(fail)?;
    reader.finish("request body").map_err(fail)?;
    Ok(Request { header, body })
}

fn read_prefix(reader: &mut BoundedReader) -> Result<HeaderPrefix, DecodeError> {
    Ok(HeaderPrefix {
        api_key: reader.i16()?,
        api_version: reader.i16()?,
        correlation_id: reader.i32()?,
    })
}

/// Header v1 adds the client id, v2 a tagged-field section. The client id
/// stays a classic (int16-length) string even in v2, for compatibility.
fn read_header_rest(reader: &mut BoundedReader, header_version: i16, header: &mut RequestHeader) -> Result<(), DecodeError> {
    if header_version >= 1 {
        header.client_id = reader.nullable_string(false)?;
    }
    if header_version >= 2 {
        reader.tagged_fields(&mut header.unknown_tagged_fields, |_, _| Ok(false))?;
    }
    Ok(())
}
