//! The dispatcher answers every API it advertises, at every version, with a
//! response that `kafka-protocol` decodes at that version, echoing the
//! correlation id; every other API the decoder reads closes the connection.

mod common;

use arbitrary::Unstructured;
use bytes::Buf;
use kafka_fuzz::harness::input::{arbitrary_request, encode_request};
use kafka_fuzz::server::broker::{ANSWERED_APIS, Broker, BrokerConfig, DispatchError, ManualClock};
use kafka_fuzz::server::wire::SUPPORTED_APIS;
use kafka_protocol::messages::{RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, StrBytes};

const SAMPLES_PER_VERSION: u64 = 60;

#[test]
fn every_api_and_version_gets_a_decodable_response() {
    let mut broker = Broker::new(BrokerConfig::default(), ManualClock::new(1_700_000_000_000));
    let (mut answered, mut silent, mut refused) = (0, 0, 0);
    for sample in 0..SAMPLES_PER_VERSION {
        for api in SUPPORTED_APIS {
            for version in api.versions.min..=api.versions.max {
                let seed = (api.key as u64) << 32 | (version as u64) << 16 | sample;
                let data = common::seeded_bytes(seed, 4096);
                let body = arbitrary_request(&mut Unstructured::new(&data), *api, version).expect("generator");
                let correlation_id = sample as i32 * 1000 + version as i32;
                let header = RequestHeader::default()
                    .with_request_api_key(api.key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(correlation_id)
                    .with_client_id(Some(StrBytes::from_static_str("kafka-fuzz")));
                let frame = encode_request(&header, &body).expect("kafka-protocol encodes");
                let context = format!("{} v{version} seed {seed:#x}: {body:?}", api.name);
                let acks_zero = matches!(&body, RequestKind::Produce(p) if p.acks == 0);
                if !ANSWERED_APIS.contains(&api.key) {
                    match broker.handle(frame.slice(4..)) {
                        Err(DispatchError::NotAnswered {
                            api: name,
                            version: v,
                            correlation_id: c,
                        }) => assert_eq!((name, v, c), (api.name, version, correlation_id), "{context}"),
                        other => panic!("{context}\n=> {other:?}"),
                    }
                    refused += 1;
                    continue;
                }
                let response = match broker.handle(frame.slice(4..)) {
                    Ok(Some(response)) => response,
                    Ok(None) | Err(DispatchError::UnacknowledgedProduceFailed { .. }) if acks_zero => {
                        silent += 1;
                        continue;
                    }
                    other => panic!("{context}\n=> {other:?}"),
                };
                assert!(!acks_zero, "{context}: acks=0 answered");
                let mut rest = response.slice(4..);
                let decoded_header = ResponseHeader::decode(&mut rest, api.key.response_header_version(version))
                    .unwrap_or_else(|e| panic!("{context}\nheader: {e:#}"));
                assert_eq!(decoded_header.correlation_id, correlation_id, "{context}");
                ResponseKind::decode(api.key, &mut rest, version)
                    .unwrap_or_else(|e| panic!("{context}\nresponse: {e:#}"));
                assert_eq!(rest.remaining(), 0, "{context}: trailing bytes");
                answered += 1;
            }
        }
    }
    let versions: u64 = SUPPORTED_APIS
        .iter()
        .map(|api| (api.versions.max - api.versions.min + 1) as u64)
        .sum();
    assert_eq!(answered + silent + refused, versions * SAMPLES_PER_VERSION);
    assert!(answered > refused / 10, "{answered} answered, {refused} refused");
    assert!(
        silent < answered / 4,
        "{silent} produce requests with acks=0 of {answered}"
    );
}

#[test]
fn api_versions_advertises_exactly_the_answered_apis_at_the_decoder_ranges() {
    let mut broker = Broker::new(BrokerConfig::default(), ManualClock::new(0));
    let mut client = kafka_fuzz::harness::client::Client::new("test");
    let request = kafka_protocol::messages::ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kafka-fuzz"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    for version in 0..=4 {
        let response = client.call(&mut broker, version, request.clone()).unwrap();
        assert_eq!(response.error_code, 0);
        let advertised: Vec<_> = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        let supported: Vec<_> = SUPPORTED_APIS
            .iter()
            .filter(|api| ANSWERED_APIS.contains(&api.key))
            .map(|api| (api.key as i16, api.versions.min, api.versions.max))
            .collect();
        assert_eq!(advertised, supported);
    }
    // An unsupported version gets UNSUPPORTED_VERSION in a v0 response.
    let frame = bytes::Bytes::from_static(&[0, 18, 0, 9, 0, 0, 0, 5, 0, 0]);
    let response = broker.handle(frame).unwrap().unwrap();
    let response =
        kafka_fuzz::harness::client::Client::response::<kafka_protocol::messages::ApiVersionsRequest>(0, 5, &response)
            .unwrap();
    assert_eq!(response.error_code, 35);
    assert_eq!(response.api_keys.len(), ANSWERED_APIS.len());
    // Software names must match Kafka's pattern.
    let bad = request.with_client_software_name(StrBytes::from_static_str("-bad name"));
    assert_eq!(client.call(&mut broker, 3, bad).unwrap().error_code, 42);
}
