//! Encoding responses through `kafka-protocol`, size prefix included.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use super::frame::size_prefixed;

/// A response that `kafka-protocol` refused to encode (a field set that does
/// not exist at the version, a string too long for its length prefix...).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {api:?} response v{version}: {source}")]
pub struct EncodeError {
    pub api: ApiKey,
    pub version: i16,
    #[source]
    pub source: anyhow::Error,
}

/// Encodes a response frame: the 4-byte size, the response header (v1 for
/// flexible versions, v0 otherwise, and always v0 for ApiVersions so that a
/// client can read it before it knows what the broker supports), the body.
pub fn encode_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes, EncodeError> {
    size_prefixed(|buf| {
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(buf, api.response_header_version(version))?;
        body.encode(buf, version)
    })
    .map_err(|source| EncodeError { api, version, source })
}
