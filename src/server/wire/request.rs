//! Decoding a whole request frame: header, then body.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};

use super::error::{DecodeError, DecodeErrorKind};
use super::message::supported_api;
use super::reader::BoundedReader;
use super::schema::request_apis;
use super::value::{Version, WireValue};

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

impl RequestError {
    fn with_header(prefix: HeaderPrefix, error: DecodeError) -> Self {
        Self {
            header: Some(prefix),
            error,
        }
    }
}

/// Decodes one frame (without its size prefix) into a request; bytes after
/// the body are an error.
pub fn decode_request(frame: Bytes) -> Result<Request, RequestError> {
    decode::<false>(frame)
}

/// Decodes a frame as Apache Kafka reads it: a complete body, and whatever
/// follows it ignored (librdkafka's all-topics Metadata v9+ request carries
/// 3 such bytes, librdkafka issue 5049).
pub fn decode_request_ignoring_trailing_bytes(frame: Bytes) -> Result<Request, RequestError> {
    decode::<true>(frame)
}

/// The decoder, monomorphized per trailing-bytes rule so that neither pays
/// for the other.
fn decode<const IGNORE_TRAILING: bool>(frame: Bytes) -> Result<Request, RequestError> {
    let mut reader = BoundedReader::new(frame);
    let prefix = read_prefix(&mut reader).map_err(|error| RequestError { header: None, error })?;
    let fail = |error| RequestError::with_header(prefix, error);
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
    let version = api.version(prefix.api_version);
    let mut header = RequestHeader::default()
        .with_request_api_key(prefix.api_key)
        .with_request_api_version(prefix.api_version)
        .with_correlation_id(prefix.correlation_id);
    read_header_rest(&mut reader, version, &mut header).map_err(fail)?;
    macro_rules! read_body {
        ($($key:ident => $request:ident),* $(,)?) => {
            match api.key {
                $(ApiKey::$key => read_request::<kafka_protocol::messages::$request, IGNORE_TRAILING>(reader, version, header, prefix),)*
            }
        };
    }
    request_apis!(read_body)
}

/// Reads a body of type `T` and builds the request around it. One function
/// per API, kept out of line, so each writes its `Request` straight into the
/// caller's return slot: inlined, the compiler merges the arms into one
/// temporary that is then copied whole.
#[inline(never)]
fn read_request<T: WireValue + Into<RequestKind>, const IGNORE_TRAILING: bool>(
    mut reader: BoundedReader,
    version: Version,
    header: RequestHeader,
    prefix: HeaderPrefix,
) -> Result<Request, RequestError> {
    let fail = |error| RequestError::with_header(prefix, error);
    let body = T::read(&mut reader, version).map_err(fail)?;
    if !IGNORE_TRAILING {
        reader.finish("request body").map_err(fail)?;
    }
    Ok(Request {
        header,
        body: body.into(),
    })
}

fn read_prefix(reader: &mut BoundedReader) -> Result<HeaderPrefix, DecodeError> {
    Ok(HeaderPrefix {
        api_key: reader.i16()?,
        api_version: reader.i16()?,
        correlation_id: reader.i32()?,
    })
}

/// Every supported API has header v1, which adds the client id, or, in its
/// flexible versions, v2, which adds a tagged-field section. The client id
/// stays a classic (int16-length) string even in v2, for compatibility.
fn read_header_rest(
    reader: &mut BoundedReader,
    version: Version,
    header: &mut RequestHeader,
) -> Result<(), DecodeError> {
    header.client_id = reader.nullable_string(false)?;
    if version.flexible {
        reader.tagged_fields(&mut header.unknown_tagged_fields, |_, _| Ok(false))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::harness::input::encode_request;
    use crate::server::wire::{Item, SUPPORTED_APIS};

    /// An ApiVersions request (header v1 below v3, v2 from v3) and its frame
    /// without the size prefix.
    fn api_versions(version: i16) -> (Request, Bytes) {
        let mut header = RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("cli")));
        let mut body = ApiVersionsRequest::default();
        if version >= 3 {
            header = header.with_unknown_tagged_field(7, Bytes::from_static(b"xy"));
            body = body
                .with_client_software_name(StrBytes::from_static_str("kf"))
                .with_client_software_version(StrBytes::from_static_str("1.0"));
        }
        let request = Request {
            header,
            body: body.into(),
        };
        let frame = encode_request(&request.header, &request.body).unwrap().slice(4..);
        (request, frame)
    }

    fn prefix(api_key: i16, api_version: i16) -> HeaderPrefix {
        HeaderPrefix {
            api_key,
            api_version,
            correlation_id: 42,
        }
    }

    #[test]
    fn header_v1_and_v2_decode() {
        for api in SUPPORTED_APIS {
            for version in api.versions.min..=api.versions.max {
                let header_version = api.key.request_header_version(version);
                assert!(
                    matches!(header_version, 1 | 2),
                    "{} v{version}: header v{header_version}",
                    api.name
                );
            }
        }
        let v1: &[u8] = &[0, 18, 0, 2, 0, 0, 0, 42, 0, 3, b'c', b'l', b'i'];
        let v2: &[u8] = &[
            0, 18, 0, 3, 0, 0, 0, 42, 0, 3, b'c', b'l', b'i', // int16-length client id
            1, 7, 2, b'x', b'y', // header tagged section: tag 7 = "xy"
            3, b'k', b'f', 4, b'1', b'.', b'0', 0, // body
        ];
        for (version, expected) in [(2, v1), (3, v2)] {
            let (request, frame) = api_versions(version);
            assert_eq!(&frame[..], expected, "v{version}");
            assert_eq!(decode_request(frame), Ok(request), "v{version}");
        }
    }

    #[test]
    fn unsupported_api_keys_and_versions_keep_the_header() {
        let version = |api, version, min, max| DecodeErrorKind::UnsupportedVersion { api, version, min, max };
        let cases = [
            (9999, 0, DecodeErrorKind::UnsupportedApiKey { api_key: 9999 }, 0),
            (-1, 0, DecodeErrorKind::UnsupportedApiKey { api_key: -1 }, 0),
            (20, 7, version("DeleteTopics", 7, 1, 6), 2),
            (0, 2, version("Produce", 2, 3, 13), 2),
            (18, 5, version("ApiVersions", 5, 0, 4), 2),
            (3, -1, version("Metadata", -1, 0, 13), 2),
        ];
        for (api_key, api_version, kind, offset) in cases {
            let mut frame = Vec::new();
            frame.extend_from_slice(&i16::to_be_bytes(api_key));
            frame.extend_from_slice(&i16::to_be_bytes(api_version));
            frame.extend_from_slice(&[0, 0, 0, 42, 0xff, 0xff]);
            let expected = RequestError {
                header: Some(prefix(api_key, api_version)),
                error: DecodeError::new(kind, offset),
            };
            assert_eq!(decode_request(frame.into()), Err(expected));
        }
    }

    #[test]
    fn frames_shorter_than_the_prefix_have_no_header() {
        let full = [0, 18, 0, 3, 0, 0, 0, 42];
        for len in 0..full.len() {
            let (what, needed, start) = match len {
                0..2 => ("int16", 2, 0),
                2..4 => ("int16", 2, 2),
                _ => ("int32", 4, 4),
            };
            let remaining = len - start;
            let kind = DecodeErrorKind::Truncated {
                what,
                needed,
                remaining,
            };
            let expected = RequestError {
                header: None,
                error: DecodeError::new(kind, start),
            };
            assert_eq!(decode_request(Bytes::copy_from_slice(&full[..len])), Err(expected));
        }
    }

    #[test]
    fn trailing_bytes_after_the_body() {
        for version in [2, 3] {
            let (_, frame) = api_versions(version);
            let mut long = frame.to_vec();
            long.extend_from_slice(&[0xde, 0xad]);
            let kind = DecodeErrorKind::TrailingBytes {
                what: "request body",
                count: 2,
            };
            let expected = RequestError {
                header: Some(prefix(18, version)),
                error: DecodeError::new(kind, frame.len()),
            };
            assert_eq!(decode_request(long.clone().into()), Err(expected), "v{version}");
            let (request, _) = api_versions(version);
            assert_eq!(
                decode_request_ignoring_trailing_bytes(long.into()),
                Ok(request),
                "v{version}"
            );
        }
    }

    #[test]
    fn display_names_the_correlation_id_and_offset() {
        let error = decode_request(Bytes::from_static(&[0, 18, 0, 5, 0, 0, 0, 42])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "api key 18 version 5 (correlation id 42): unsupported version 5 of ApiVersions (supported 0..=4) at offset 2"
        );
        // Metadata v12, one topic whose count claims 2 (compact 3).
        let frame = [0, 3, 0, 12, 0, 0, 0, 7, 0xff, 0xff, 0, 3, 0];
        let error = decode_request(Bytes::copy_from_slice(&frame)).unwrap_err();
        let kind = DecodeErrorKind::CountExceedsRemaining {
            item: Item::Array,
            count: 2,
            remaining: 1,
        };
        assert_eq!(error.error, DecodeError::new(kind, 11));
        assert_eq!(
            error.to_string(),
            "api key 3 version 12 (correlation id 7): array count 2 exceeds 1 remaining bytes at offset 11"
        );
        let error = decode_request(Bytes::from_static(&[0, 3, 0])).unwrap_err();
        assert_eq!(error.to_string(), "needed 2 bytes for int16, 1 remaining at offset 2");
    }
}
