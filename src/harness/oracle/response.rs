//! What every answer to a request must satisfy, whatever the server: a
//! well-formed frame, the request's correlation id, a body `kafka-protocol`
//! decodes at the request's version, error codes Kafka uses for the API, and
//! an answer to everything but a Produce with acks=0.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Message};

use super::error_codes::check_error_codes;
use super::{Oracle, Violation};
use crate::harness::protocol_states;
use crate::harness::target::Exchange;
use crate::server::wire::{HeaderPrefix, decode_request_ignoring_trailing_bytes};

/// Checks what a server did with `request` (a frame without its size
/// prefix). Frames too short to carry a header, and api keys or versions
/// `kafka-protocol` does not know, are checked only as far as they can be.
pub fn check_exchange(request: &Bytes, exchange: &Exchange) -> Result<(), Violation> {
    read_exchange(request, exchange).map(drop)
}

/// `check_exchange`, returning the response it decoded, if there was one
/// it could decode: a caller that reads the answer decodes it once.
pub fn read_exchange(request: &Bytes, exchange: &Exchange) -> Result<Option<ResponseKind>, Violation> {
    let Some(prefix) = header_prefix(request) else {
        return Ok(None);
    };
    let api = ApiKey::try_from(prefix.api_key).ok();
    let what = || label(&prefix);
    match exchange {
        Exchange::Closed { .. } | Exchange::Pending => Ok(None),
        Exchange::NoResponse => match api {
            Some(ApiKey::Produce) if !acks_required(request) => Ok(None),
            _ => Err(Violation::new(
                Oracle::Answered,
                format!("{} got neither a response nor a closed connection", what()),
            )),
        },
        Exchange::Response(frame) => {
            let body = response_body(frame)
                .map_err(|detail| Violation::new(Oracle::ResponseFrame, format!("response to {}: {detail}", what())))?;
            if body.len() < 4 {
                return Err(Violation::new(
                    Oracle::ResponseFrame,
                    format!("response to {}: {} bytes, no correlation id", what(), body.len()),
                ));
            }
            let echoed = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            if echoed != prefix.correlation_id {
                return Err(Violation::new(
                    Oracle::CorrelationId,
                    format!("response to {} carries correlation id {echoed}", what()),
                ));
            }
            match api {
                Some(api) => read_body(api, prefix.api_version, body, &what),
                None => Ok(None),
            }
        }
    }
}

/// How reports name the request `frame` (without its size prefix): API,
/// version and correlation id.
pub fn request_label(frame: &[u8]) -> String {
    match header_prefix(frame) {
        Some(prefix) => label(&prefix),
        None => format!("a {}-byte frame, too short for a request header", frame.len()),
    }
}

fn label(prefix: &HeaderPrefix) -> String {
    match ApiKey::try_from(prefix.api_key) {
        Ok(api) => format!(
            "{api:?} v{} (correlation id {})",
            prefix.api_version, prefix.correlation_id
        ),
        Err(_) => format!(
            "api key {} v{} (correlation id {})",
            prefix.api_key, prefix.api_version, prefix.correlation_id
        ),
    }
}

/// Api key, version and correlation id: the first 8 bytes of every request
/// header version.
fn header_prefix(frame: &[u8]) -> Option<HeaderPrefix> {
    let bytes = frame.get(..8)?;
    Some(HeaderPrefix {
        api_key: i16::from_be_bytes([bytes[0], bytes[1]]),
        api_version: i16::from_be_bytes([bytes[2], bytes[3]]),
        correlation_id: i32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
    })
}

/// A Produce expects an answer unless it decodes with acks=0. One that does
/// not decode may have had acks=0 in its unreadable part, so it is given
/// the benefit of the doubt. Decoded with our bounded decoder: the frame is
/// hostile.
fn acks_required(request: &Bytes) -> bool {
    match decode_request_ignoring_trailing_bytes(request.clone()) {
        Ok(decoded) => !matches!(decoded.body, RequestKind::Produce(produce) if produce.acks == 0),
        Err(_) => false,
    }
}

/// The bytes after a response frame's size prefix, if the prefix is true.
fn response_body(frame: &Bytes) -> Result<Bytes, String> {
    let Some(prefix) = frame.get(..4) else {
        return Err(format!("{} bytes, no size prefix", frame.len()));
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if usize::try_from(size).ok() != Some(frame.len() - 4) {
        return Err(format!("size prefix {size}, {} bytes follow", frame.len() - 4));
    }
    Ok(frame.slice(4..))
}

/// `what` names the request in a violation: built only for one, since every
/// response passes here.
fn read_body(
    api: ApiKey,
    version: i16,
    mut body: Bytes,
    what: &dyn Fn() -> String,
) -> Result<Option<ResponseKind>, Violation> {
    let range = api.valid_versions();
    let version = if (range.min..=range.max).contains(&version) {
        version
    } else if api == ApiKey::ApiVersions {
        // Kafka answers an ApiVersions it cannot read at v0, which every
        // client can read, with the versions it supports.
        ApiVersionsRequest::VERSIONS.min
    } else {
        // Beyond what kafka-protocol knows: nothing to decode it with.
        return Ok(None);
    };
    let decodes = |detail: String| Violation::new(Oracle::ResponseDecodes, format!("response to {}: {detail}", what()));
    ResponseHeader::decode(&mut body, api.response_header_version(version))
        .map_err(|e| decodes(format!("header: {e:#}")))?;
    let response =
        ResponseKind::decode(api, &mut body, version).map_err(|e| decodes(format!("body at v{version}: {e:#}")))?;
    if body.has_remaining() {
        return Err(decodes(format!(
            "{} bytes after the body at v{version}",
            body.remaining()
        )));
    }
    check_error_codes(api, &response).map_err(|illegal| Violation::new(Oracle::ErrorCode, illegal.to_string()))?;
    protocol_states::observe(api, version, &response);
    Ok(Some(response))
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;
    use kafka_protocol::messages::{
        MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader,
        produce_response::{PartitionProduceResponse, TopicProduceResponse},
    };
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::harness::input::encode_request;
    use crate::server::wire::encode_response;

    fn request(api: ApiKey, version: i16, body: RequestKind) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        encode_request(&header, &body).unwrap().slice(4..)
    }

    fn metadata_request() -> Bytes {
        request(ApiKey::Metadata, 9, MetadataRequest::default().into())
    }

    fn produce_request(acks: i16) -> Bytes {
        request(ApiKey::Produce, 9, ProduceRequest::default().with_acks(acks).into())
    }

    fn metadata_response(correlation_id: i32) -> Bytes {
        encode_response(ApiKey::Metadata, 9, correlation_id, &MetadataResponse::default().into()).unwrap()
    }

    fn oracle_of(result: Result<(), Violation>) -> Oracle {
        result.expect_err("a violation").oracle
    }

    #[test]
    fn a_good_response_passes() {
        let exchange = Exchange::Response(metadata_response(42));
        assert_eq!(check_exchange(&metadata_request(), &exchange), Ok(()));
        assert_eq!(
            check_exchange(&metadata_request(), &Exchange::Closed { reason: "bye".into() }),
            Ok(())
        );
        assert_eq!(check_exchange(&produce_request(0), &Exchange::NoResponse), Ok(()));
    }

    #[test]
    fn a_wrong_correlation_id_is_caught() {
        let exchange = Exchange::Response(metadata_response(43));
        let violation = check_exchange(&metadata_request(), &exchange).unwrap_err();
        assert_eq!(violation.oracle, Oracle::CorrelationId);
        assert!(violation.to_string().contains("correlation id 43"), "{violation}");
    }

    #[test]
    fn a_lying_size_prefix_is_caught() {
        let mut frame = metadata_response(42).to_vec();
        frame[3] = frame[3].wrapping_add(1);
        let exchange = Exchange::Response(frame.into());
        assert_eq!(
            oracle_of(check_exchange(&metadata_request(), &exchange)),
            Oracle::ResponseFrame
        );
        let exchange = Exchange::Response(Bytes::from_static(&[0, 0]));
        assert_eq!(
            oracle_of(check_exchange(&metadata_request(), &exchange)),
            Oracle::ResponseFrame
        );
    }

    #[test]
    fn a_response_at_another_version_is_caught() {
        // A v0 Metadata response (no throttle time) answering v9.
        let v0 = encode_response(ApiKey::Metadata, 0, 42, &MetadataResponse::default().into()).unwrap();
        let violation = check_exchange(&metadata_request(), &Exchange::Response(v0)).unwrap_err();
        assert_eq!(violation.oracle, Oracle::ResponseDecodes, "{violation}");
        let mut long = metadata_response(42).to_vec();
        long.push(0);
        let size = (long.len() - 4) as i32;
        long[..4].copy_from_slice(&size.to_be_bytes());
        let violation = check_exchange(&metadata_request(), &Exchange::Response(long.into())).unwrap_err();
        assert!(violation.detail.contains("1 bytes after the body"), "{violation}");
    }

    #[test]
    fn an_illegal_error_code_is_caught() {
        let partition = PartitionProduceResponse::default().with_error_code(ResponseError::RebalanceInProgress.code());
        let body = ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default().with_partition_responses(vec![partition]),
        ]);
        let frame = encode_response(ApiKey::Produce, 9, 42, &body.into()).unwrap();
        let violation = check_exchange(&produce_request(1), &Exchange::Response(frame)).unwrap_err();
        assert_eq!(violation.oracle, Oracle::ErrorCode, "{violation}");
    }

    #[test]
    fn silence_is_only_for_acks_zero() {
        assert_eq!(
            oracle_of(check_exchange(&produce_request(1), &Exchange::NoResponse)),
            Oracle::Answered
        );
        assert_eq!(
            oracle_of(check_exchange(&metadata_request(), &Exchange::NoResponse)),
            Oracle::Answered
        );
    }

    #[test]
    fn unsupported_api_versions_is_read_at_v0() {
        let request = request(
            ApiKey::ApiVersions,
            3,
            kafka_protocol::messages::ApiVersionsRequest::default().into(),
        );
        let mut frame = request.to_vec();
        frame[3] = 99; // ApiVersions v99
        let body = kafka_protocol::messages::ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code());
        let answer = encode_response(ApiKey::ApiVersions, 0, 42, &body.into()).unwrap();
        assert_eq!(check_exchange(&frame.into(), &Exchange::Response(answer)), Ok(()));
    }
}
