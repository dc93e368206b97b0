//! `kafka-protocol` 0.18 (the crate the harness uses as its reference) as a
//! codec under test, on bytes nobody checked first. It reserves room for an
//! array count read off the wire before reading the array (upstream PRs
//! 152, 161, 200, unreleased), so this target crashes within seconds; triage
//! labels the crash known (`kafka-protocol-array-preallocation`).

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::records::RecordBatchDecoder;

use crate::harness::input::encode_request;
use crate::harness::oracle::reference_decode;
use crate::harness::target::DecoderUnderTest;
use crate::harness::targets::{FuzzTarget, records_on, request_roundtrip_on};

pub const TARGETS: &[FuzzTarget] = &[
    FuzzTarget {
        name: "kafka_protocol_decode",
        run: kafka_protocol_decode,
        about: "third party: kafka-protocol's request decoder and encoder on raw frames (crashes on a known upstream bug)",
        explain: None,
    },
    FuzzTarget {
        name: "kafka_protocol_records",
        run: kafka_protocol_records,
        about: "third party: kafka-protocol's record batch decoder, as clients read fetched records",
        explain: None,
    },
];

/// A raw client stream, every frame through `kafka-protocol`.
pub fn kafka_protocol_decode(data: &[u8]) {
    request_roundtrip_on(&mut KafkaProtocolCodec, data);
}

/// A `record_batch` input through `kafka-protocol`'s batch decoder.
pub fn kafka_protocol_records(data: &[u8]) {
    records_on(&mut KafkaProtocolCodec, data);
}

/// `kafka-protocol`'s `RequestHeader`/`RequestKind` decoders and encoders,
/// and its `RecordBatchDecoder`.
#[derive(Debug, Default)]
pub struct KafkaProtocolCodec;

impl DecoderUnderTest for KafkaProtocolCodec {
    fn reencode_request(&mut self, frame: &[u8]) -> Result<Vec<u8>, String> {
        let header = frame.get(..4).ok_or("no api key and version")?;
        let (key, version) = (
            i16::from_be_bytes([header[0], header[1]]),
            i16::from_be_bytes([header[2], header[3]]),
        );
        let api = ApiKey::try_from(key).map_err(|()| format!("unknown api key {key}"))?;
        let range = api.valid_versions();
        if !(range.min..=range.max).contains(&version) {
            return Err(format!("{api:?} has no version {version}"));
        }
        let request = reference_decode(api, version, Bytes::copy_from_slice(frame))?;
        let encoded = encode_request(&request.header, &request.body).map_err(|e| format!("encode: {e:#}"))?;
        Ok(encoded[4..].to_vec())
    }

    fn count_records(&mut self, records: &[u8]) -> Result<usize, String> {
        let mut bytes = Bytes::copy_from_slice(records);
        let sets = RecordBatchDecoder::decode_all(&mut bytes).map_err(|e| format!("{e:#}"))?;
        if bytes.has_remaining() {
            return Err(format!("{} bytes after the batches", bytes.remaining()));
        }
        Ok(sets.iter().map(|set| set.records.len()).sum())
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::MetadataRequest;

    use super::*;
    use crate::harness::client::Client;
    use crate::harness::input::encode_entries;
    use crate::server::wire::Codec;

    #[test]
    fn a_valid_request_reencodes_to_itself() {
        let (_, frame) = Client::new("adapter").request(12, MetadataRequest::default()).unwrap();
        let frame = &frame[4..];
        assert_eq!(KafkaProtocolCodec.reencode_request(frame).unwrap(), frame);
    }

    #[test]
    fn refusals_say_why() {
        let error = KafkaProtocolCodec.reencode_request(&[0x7f, 0x7f, 0, 0]).unwrap_err();
        assert_eq!(error, "unknown api key 32639");
        let error = KafkaProtocolCodec.reencode_request(&[0, 3, 0x7f, 0]).unwrap_err();
        assert_eq!(error, "Metadata has no version 32512");
        let (_, frame) = Client::new("adapter").request(12, MetadataRequest::default()).unwrap();
        let error = KafkaProtocolCodec
            .reencode_request(&[&frame[4..], &[1][..]].concat())
            .unwrap_err();
        assert_eq!(error, "1 bytes after the body");
    }

    #[test]
    fn records_are_counted_across_batches() {
        let entries = [(None, Some(Bytes::from_static(b"v")))];
        let one = encode_entries(&entries, None, 0, Codec::Gzip).unwrap();
        let two = [&one[..], &one[..]].concat();
        assert_eq!(KafkaProtocolCodec.count_records(&two), Ok(2));
        assert!(KafkaProtocolCodec.count_records(&two[..two.len() - 1]).is_err());
    }
}
