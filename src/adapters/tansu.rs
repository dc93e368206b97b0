//! Tansu (an Apache-Kafka-compatible broker) through `tansu-sans-io` 0.6,
//! its protocol crate: request frames as its broker reads and writes them,
//! and Produce record batches inflated as its storage engines do before
//! storing them (`inflated::Batch::try_from(deflated::Batch)`: the Postgres,
//! Limbo and Slate engines of `tansu-storage` 0.6).

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest};
use kafka_protocol::protocol::StrBytes;
use tansu_sans_io::Frame;
use tansu_sans_io::record::inflated;

use crate::harness::client::Client;
use crate::harness::input::join_frames;
use crate::harness::target::DecoderUnderTest;
use crate::harness::targets::{FuzzTarget, differential_on, records_on, request_roundtrip_on};

pub const TARGETS: &[FuzzTarget] = &[
    FuzzTarget {
        name: "tansu_request",
        run: tansu_request,
        about: "third party: Tansu's request decoder and encoder on raw frames, Produce batches inflated",
        explain: None,
    },
    FuzzTarget {
        name: "tansu_records",
        run: tansu_records,
        about: "third party: record batches read and inflated as Tansu's storage engines do",
        explain: None,
    },
    FuzzTarget {
        name: "tansu_differential",
        run: tansu_differential,
        about: "third party: requests kafka-fuzz's decoder accepts must be accepted by Tansu and read the same",
        explain: None,
    },
];

pub fn tansu_request(data: &[u8]) {
    request_roundtrip_on(&mut TansuCodec, data);
}

pub fn tansu_records(data: &[u8]) {
    records_on(&mut TansuCodec, data);
}

pub fn tansu_differential(data: &[u8]) {
    differential_on(&mut TansuCodec, data);
}

/// `tansu_sans_io::Frame` for requests, `deflated`/`inflated` batches for
/// records.
#[derive(Debug, Default)]
pub struct TansuCodec;

impl DecoderUnderTest for TansuCodec {
    fn reencode_request(&mut self, frame: &[u8]) -> Result<Vec<u8>, String> {
        let decoded = decode(&join_frames([frame]))?;
        // A batch it cannot inflate is that partition's error code, not a
        // refused request: only how inflating fails matters here.
        let _ = inflate_produced(&decoded);
        let encoded = Frame::request(decoded.header, decoded.body).map_err(|e| e.to_string())?;
        Ok(encoded[4..].to_vec())
    }

    fn count_records(&mut self, records: &[u8]) -> Result<usize, String> {
        // The batches reach storage the one way Tansu's broker has: in a
        // Produce request, split into batches by its decoder.
        let partition = PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(Bytes::copy_from_slice(records)));
        let topic = TopicProduceData::default()
            .with_name(StrBytes::from_static_str("topic-a").into())
            .with_partition_data(vec![partition]);
        let produce = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![topic]);
        let (_, frame) = Client::new("kafka-fuzz")
            .request(PRODUCE_VERSION, produce)
            .map_err(|e| e.to_string())?;
        inflate_produced(&decode(&frame)?)
    }
}

/// The Produce version the records are sent in: the one Tansu's own
/// clients and librdkafka send.
const PRODUCE_VERSION: i16 = 9;

/// A request frame, size prefix included (Tansu reads it as part of the
/// frame).
fn decode(prefixed: &[u8]) -> Result<Frame, String> {
    Frame::request_from_bytes(prefixed).map_err(|e| e.to_string())
}

/// Inflates a Produce's record batches as storage does; how many records.
fn inflate_produced(frame: &Frame) -> Result<usize, String> {
    if frame.api_key().map_err(|e| e.to_string())? != ApiKey::Produce as i16 {
        return Ok(0);
    }
    let produce = tansu_sans_io::ProduceRequest::try_from(frame.body.clone()).map_err(|e| e.to_string())?;
    let batches = produce
        .topic_data
        .into_iter()
        .flatten()
        .flat_map(|topic| topic.partition_data.into_iter().flatten())
        .filter_map(|partition| partition.records)
        .flat_map(|records| records.batches);
    let mut count = 0;
    for batch in batches {
        count += inflated::Batch::try_from(batch)
            .map_err(|e| e.to_string())?
            .records
            .len();
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::MetadataRequest;

    use super::*;
    use crate::harness::input::encode_entries;
    use crate::server::wire::Codec;

    #[test]
    fn a_valid_request_reencodes_to_itself() {
        let (_, frame) = Client::new("adapter").request(12, MetadataRequest::default()).unwrap();
        let frame = &frame[4..];
        assert_eq!(TansuCodec.reencode_request(frame).unwrap(), frame);
    }

    #[test]
    fn an_unknown_api_is_refused() {
        assert!(
            TansuCodec
                .reencode_request(&[0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0])
                .is_err()
        );
    }

    #[test]
    fn records_are_inflated_and_counted_for_every_codec() {
        let entries = [
            (None, Some(Bytes::from_static(b"one"))),
            (Some(Bytes::from_static(b"key")), Some(Bytes::from_static(b"two"))),
        ];
        for codec in [Codec::None, Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let one = encode_entries(&entries, None, 0, codec).unwrap();
            let two = [&one[..], &one[..]].concat();
            assert_eq!(TansuCodec.count_records(&two), Ok(4), "{codec:?}");
            assert!(TansuCodec.count_records(&two[..two.len() - 1]).is_err(), "{codec:?}");
        }
    }
}
