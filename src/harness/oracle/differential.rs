//! Our decoder against `kafka-protocol`'s on the same frame: both accept
//! with the same values, or both reject.
//!
//! `kafka-protocol` 0.18 reserves `count` elements for an array count read
//! off the wire before reading any of them, so a 20-byte frame can make it
//! allocate gigabytes and abort the process (upstream PRs 152/161/200). It
//! is run here only where that cannot happen: where our decoder accepted
//! (every count was then checked against the bytes it covers, and a
//! reference that reads the same structure reads the same counts), or where
//! it rejected at some offset and no 4-byte integer and no varint from just
//! before that offset on exceeds the frame's length (the counts before it
//! were checked, and no count it could read after it is large). A reference
//! that reads a different structure may still meet a large count: that is a
//! disagreement, the bug this target looks for, and the allocation cap
//! reports it.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use super::roundtrip::same_request;
use super::{Oracle, Violation};
use crate::harness::input::encode_request;
use crate::server::wire::{DecodeErrorKind, Request, decode_request, supported_api};

/// Decodes `frame` with both decoders and compares. Frames of APIs or
/// versions the reference server does not serve are outside the comparison:
/// it rejects them by design.
pub fn differential_check(frame: &Bytes) -> Result<(), Violation> {
    let Some((api, version)) = served_api_and_version(frame) else {
        return Ok(());
    };
    let ours = decode_request(frame.clone());
    if let Err(error) = &ours {
        // kafka-protocol keeps a tag of 2^31 or more as a negative key it
        // cannot write back (its encoder emits a different frame); we
        // refuse such tags. A known difference, not a finding.
        if let DecodeErrorKind::TagOutOfRange { .. } = error.error.kind {
            return Ok(());
        }
        // Every count before the error was checked by our decoder; what the
        // reference may read from there on must be bounded.
        if !counts_are_bounded(frame, error.error.offset.saturating_sub(4)) {
            return Ok(());
        }
    }
    let theirs = reference_decode(api, version, frame.clone());
    if let (Err(_), Ok(theirs)) = (&ours, &theirs)
        && canonical_form_accepted(theirs)
    {
        return Ok(());
    }
    compare_decodings(api, version, ours.map_err(|e| e.to_string()), theirs)
}

/// Whether our decoder reads `kafka-protocol`'s canonical encoding of a
/// request back to the same request. Where it does, a frame it refused and
/// the reference accepted differed only in form, not in any value: ours is
/// stricter about encodings, by design. Apache Kafka and `kafka-protocol`
/// read a known tagged field without checking it fills its declared size,
/// so a struct can run past its field into the rest of the frame; ours
/// reads it within that size and refuses what does not fit exactly.
fn canonical_form_accepted(theirs: &Request) -> bool {
    encode_request(&theirs.header, &theirs.body)
        .ok()
        .and_then(|frame| decode_request(frame.slice(4..)).ok())
        .is_some_and(|again| again == *theirs)
}

/// The verdict on two decodings of one frame.
fn compare_decodings(
    api: ApiKey,
    version: i16,
    ours: Result<Request, String>,
    theirs: Result<Request, String>,
) -> Result<(), Violation> {
    let violation = |detail: String| Violation::new(Oracle::Differential, format!("{api:?} v{version}: {detail}"));
    match (ours, theirs) {
        (Ok(ours), Ok(theirs)) if same_request(&ours, &theirs) => Ok(()),
        (Ok(ours), Ok(theirs)) => Err(violation(format!(
            "values differ\nours:   {ours:?}\ntheirs: {theirs:?}"
        ))),
        (Ok(_), Err(theirs)) => Err(violation(format!("we accept, kafka-protocol rejects: {theirs}"))),
        (Err(ours), Ok(_)) => Err(violation(format!("kafka-protocol accepts, we reject: {ours}"))),
        (Err(_), Err(_)) => Ok(()),
    }
}

fn served_api_and_version(frame: &[u8]) -> Option<(ApiKey, i16)> {
    let bytes = frame.get(..4)?;
    let api = supported_api(i16::from_be_bytes([bytes[0], bytes[1]]))?;
    let version = i16::from_be_bytes([bytes[2], bytes[3]]);
    (api.versions.min..=api.versions.max)
        .contains(&version)
        .then_some((api.key, version))
}

/// `kafka-protocol`'s decoding of a whole frame, as strict as ours: bytes
/// after the body are an error.
pub fn reference_decode(api: ApiKey, version: i16, mut frame: Bytes) -> Result<Request, String> {
    let header =
        RequestHeader::decode(&mut frame, api.request_header_version(version)).map_err(|e| format!("header: {e:#}"))?;
    let body = RequestKind::decode(api, &mut frame, version).map_err(|e| format!("body: {e:#}"))?;
    if frame.has_remaining() {
        return Err(format!("{} bytes after the body", frame.remaining()));
    }
    Ok(Request { header, body })
}

/// No big-endian int32 and no unsigned varint starting at byte `from` of
/// `frame` or later exceeds the frame's length: whatever a decoder takes
/// for a count there, it cannot reserve more than a small multiple of the
/// frame for it.
pub fn counts_are_bounded(frame: &[u8], from: usize) -> bool {
    let limit = frame.len() as u64;
    (from..frame.len()).all(|at| {
        let rest = &frame[at..];
        let int32_ok = rest
            .get(..4)
            .is_none_or(|b| i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])) <= limit as i64);
        int32_ok && leading_varint(rest) <= limit + 1
    })
}

/// The unsigned varint (at most 5 bytes) at the start of `bytes`, as far as
/// it goes.
fn leading_varint(bytes: &[u8]) -> u64 {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::MetadataRequest;
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::harness::input::encode_request;

    fn metadata_frame(version: i16) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(version)
            .with_correlation_id(5)
            .with_client_id(Some(StrBytes::from_static_str("d")));
        encode_request(&header, &MetadataRequest::default().with_topics(Some(vec![])).into())
            .unwrap()
            .slice(4..)
    }

    #[test]
    fn agreeing_decoders_pass() {
        for version in [1, 9, 12] {
            assert_eq!(differential_check(&metadata_frame(version)), Ok(()), "v{version}");
        }
    }

    #[test]
    fn a_disagreement_is_caught() {
        let frame = metadata_frame(9);
        let ours = decode_request(frame.clone()).unwrap();
        let theirs = reference_decode(ApiKey::Metadata, 9, frame).unwrap();
        assert_eq!(
            compare_decodings(ApiKey::Metadata, 9, Ok(ours.clone()), Ok(theirs.clone())),
            Ok(())
        );
        let mut other = theirs.clone();
        other.header.correlation_id = 6;
        let oracle = |ours, theirs| compare_decodings(ApiKey::Metadata, 9, ours, theirs).unwrap_err();
        let violation = oracle(Ok(ours.clone()), Ok(other));
        assert_eq!(violation.oracle, Oracle::Differential);
        assert!(violation.detail.contains("values differ"), "{violation}");
        let violation = oracle(Ok(ours.clone()), Err("bad".into()));
        assert!(
            violation.detail.contains("we accept, kafka-protocol rejects: bad"),
            "{violation}"
        );
        let violation = oracle(Err("short".into()), Ok(ours));
        assert!(
            violation.detail.contains("kafka-protocol accepts, we reject: short"),
            "{violation}"
        );
        assert_eq!(
            compare_decodings(ApiKey::Metadata, 9, Err("a".into()), Err("b".into())),
            Ok(())
        );
    }

    #[test]
    fn a_stricter_reading_of_a_known_tagged_field_is_not_a_finding() {
        // Fetch v12 whose top-level tagged section holds cluster id (tag 0)
        // declared 1 byte long but written as a 2-byte compact string "a":
        // kafka-protocol reads past the declared size, we refuse; the value
        // is the same in canonical form, so the oracle is satisfied.
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Fetch as i16)
            .with_request_api_version(12)
            .with_correlation_id(1)
            .with_client_id(Some(StrBytes::from_static_str("d")));
        let body = kafka_protocol::messages::FetchRequest::default();
        let mut frame = encode_request(&header, &body.into()).unwrap().slice(4..).to_vec();
        assert_eq!(frame.pop(), Some(0), "an empty top-level tagged section ends the frame");
        frame.extend_from_slice(&[1, 0, 1, 2, b'a']);
        let frame = Bytes::from(frame);
        assert!(decode_request(frame.clone()).is_err());
        assert!(reference_decode(ApiKey::Fetch, 12, frame.clone()).is_ok());
        assert_eq!(differential_check(&frame), Ok(()));
    }

    #[test]
    fn the_reference_is_not_run_where_a_count_is_huge() {
        // Metadata v1 whose topic count claims 0x7fffffff: ours rejects,
        // and the reference, which would reserve 2^31 topics, is skipped.
        let frame = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 5, 0, 1, b'd', 0x7f, 0xff, 0xff, 0xff]);
        assert!(!counts_are_bounded(&frame, 7));
        assert_eq!(differential_check(&frame), Ok(()));
        assert!(counts_are_bounded(&[0, 0, 0, 4], 0));
        assert!(!counts_are_bounded(&[0, 0, 0, 9, 1], 0), "int32 9 > 5 bytes");
        assert!(counts_are_bounded(&[0, 0, 0, 9, 1], 4), "from byte 4: varint 1");
        assert!(!counts_are_bounded(&[0xff, 0x01], 0), "varint 255 > 2 bytes");
    }
}
