//! Property tests: whatever `kafka-protocol` encodes, our decoder reads back
//! to an equal value, for every API, every version, every codec.

mod common;

use arbitrary::Unstructured;
use kafka_fuzz::harness::input::{
    arbitrary_records, arbitrary_request, encode_record_batch, encode_request, to_protocol_records,
};
use kafka_fuzz::server::wire::{BatchLimits, Codec, SUPPORTED_APIS, decode_record_batches, decode_request};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::StrBytes;

const SAMPLES_PER_VERSION: u64 = 300;

#[test]
fn every_request_of_every_version_round_trips() {
    let mut checked = 0;
    for api in SUPPORTED_APIS {
        for version in api.versions.min..=api.versions.max {
            for sample in 0..SAMPLES_PER_VERSION {
                let seed = (api.key as u64) << 32 | (version as u64) << 16 | sample;
                let data = common::seeded_bytes(seed, 4096);
                let mut u = Unstructured::new(&data);
                let body = arbitrary_request(&mut u, *api, version).expect("generator");
                let header = RequestHeader::default()
                    .with_request_api_key(api.key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(sample as i32)
                    .with_client_id((sample % 3 != 0).then(|| StrBytes::from_static_str("kafka-fuzz")));
                let frame = encode_request(&header, &body).unwrap_or_else(|e| {
                    panic!(
                        "{} v{version} seed {seed:#x}: kafka-protocol cannot encode: {e:#}\n{body:?}",
                        api.name
                    )
                });
                let decoded = decode_request(frame.slice(4..))
                    .unwrap_or_else(|e| panic!("{} v{version} seed {seed:#x}: {e}\n{body:?}", api.name));
                assert_eq!(decoded.header, header, "{} v{version} seed {seed:#x}", api.name);
                assert_eq!(decoded.body, body, "{} v{version} seed {seed:#x}", api.name);
                checked += 1;
            }
        }
    }
    let versions: i64 = SUPPORTED_APIS
        .iter()
        .map(|api| i64::from(api.versions.max - api.versions.min + 1))
        .sum();
    assert_eq!(checked, versions * SAMPLES_PER_VERSION as i64);
}

#[test]
fn the_decoder_reads_every_api_kafka_protocol_knows() {
    let known: Vec<_> = (i16::MIN..=i16::MAX)
        .filter_map(|key| ApiKey::try_from(key).ok())
        .collect();
    let read: Vec<_> = SUPPORTED_APIS.iter().map(|api| api.key).collect();
    assert_eq!(read, known);
    assert_eq!(read.len(), 87);
    // Every version whose message kafka-protocol can encode (its
    // `ApiKey::valid_versions` names OffsetCommit v10, which its message
    // struct cannot write).
    for api in SUPPORTED_APIS {
        let valid = api.key.valid_versions();
        assert!(
            valid.min <= api.versions.min && api.versions.max <= valid.max,
            "{}",
            api.name
        );
    }
}

#[test]
fn record_batches_of_every_codec_round_trip() {
    for codec in Codec::ALL {
        for sample in 0..200u64 {
            let data = common::seeded_bytes(sample << 8 | codec as u64, 4096);
            let records = arbitrary_records(&mut Unstructured::new(&data)).expect("generator");
            let encoded = encode_record_batch(&records, codec).expect("kafka-protocol encodes");
            let batches = decode_record_batches(encoded, BatchLimits::default())
                .unwrap_or_else(|e| panic!("{codec:?} sample {sample}: {e}"));
            // kafka-protocol may split the records over several batches.
            assert!(batches.iter().all(|batch| batch.codec == codec));
            let decoded: Vec<_> = batches.iter().flat_map(to_protocol_records).collect();
            assert_eq!(decoded, records, "{codec:?} sample {sample}");
        }
    }
}
