//! Encoding responses through `kafka-protocol`, size prefix included.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use super::frame::size_prefixed;

/// A response that `kafka-protocol` refused to encode (a field set that does
/// not exist at the version, a string too long for its length prefix...).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {api:?} response v{version}: {source:#}")]
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

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
    use kafka_protocol::messages::{ApiVersionsResponse, BrokerId, MetadataResponse};
    use kafka_protocol::protocol::StrBytes;

    use super::*;

    #[test]
    fn header_version_and_size_prefix() {
        let api_versions: ResponseKind = ApiVersionsResponse::default()
            .with_error_code(35)
            .with_api_keys(vec![ApiVersion::default().with_api_key(18).with_max_version(4)])
            .into();
        let broker = MetadataResponseBroker::default()
            .with_node_id(BrokerId(1))
            .with_host(StrBytes::from_static_str("localhost"))
            .with_port(9092)
            .with_rack(Some(StrBytes::from_static_str("r1")));
        let metadata = MetadataResponse::default()
            .with_brokers(vec![broker])
            .with_controller_id(BrokerId(1));
        let metadata_v12 = metadata
            .clone()
            .with_throttle_time_ms(5)
            .with_cluster_id(Some(StrBytes::from_static_str("kf")));
        // (api, version, body, whether the header has a tagged section)
        let mut cases: Vec<(ApiKey, i16, ResponseKind, bool)> = (0..=4)
            .map(|version| (ApiKey::ApiVersions, version, api_versions.clone(), false))
            .collect();
        cases.push((ApiKey::Metadata, 1, metadata.into(), false));
        cases.push((ApiKey::Metadata, 12, metadata_v12.into(), true));
        for (api, version, body, tagged) in cases {
            let frame = encode_response(api, version, 0x0102_0304, &body).unwrap();
            let size = u32::from_be_bytes(frame[..4].try_into().unwrap());
            assert_eq!(size as usize, frame.len() - 4, "{api:?} v{version}");
            assert_eq!(frame[4..8], [1, 2, 3, 4], "{api:?} v{version}");
            let body_at = if tagged {
                assert_eq!(frame[8], 0, "{api:?} v{version}: empty tagged section");
                9
            } else {
                8
            };
            let mut rest = frame.slice(body_at..);
            let decoded = ResponseKind::decode(api, &mut rest, version).unwrap();
            assert_eq!(decoded, body, "{api:?} v{version}");
            assert!(rest.is_empty(), "{api:?} v{version}: {} bytes left", rest.len());
        }
    }

    #[test]
    fn encode_errors_name_the_api_and_version() {
        // Cluster authorized operations exist only in Metadata v8-10.
        let body = MetadataResponse::default().with_cluster_authorized_operations(0).into();
        let error = encode_response(ApiKey::Metadata, 1, 7, &body).unwrap_err();
        assert_eq!((error.api, error.version), (ApiKey::Metadata, 1));
        assert_eq!(
            error.to_string(),
            "cannot encode Metadata response v1: Failed to encode \
             kafka_protocol::messages::metadata_response::MetadataResponse v1 body: \
             A field is set that is not available on the selected protocol version"
        );
        assert_eq!(
            error.source.root_cause().to_string(),
            "A field is set that is not available on the selected protocol version"
        );
    }
}
