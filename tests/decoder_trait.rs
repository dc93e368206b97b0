//! Another implementation's codec plugs into the decoder targets through
//! `DecoderUnderTest`: a faithful one passes the seeds, and each kind of
//! flaw is caught by the target meant for it, with the oracle named.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use kafka_fuzz::corpus::generated_seeds;
use kafka_fuzz::harness::client::Client;
use kafka_fuzz::harness::input::{GENERATED, encode_entries, encode_request, seeded_bytes};
use kafka_fuzz::harness::target::{DecoderUnderTest, FUZZING_BATCH_LIMITS};
use kafka_fuzz::harness::targets::{differential_on, records_on, request_roundtrip_on};
use kafka_fuzz::server::wire::{Codec as BatchCodec, DecodeErrorKind, decode_record_batches, decode_request};
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::protocol::StrBytes;

#[derive(Clone, Copy, PartialEq)]
enum Flaw {
    None,
    /// Writes back one byte more each time.
    GrowsOnEachEncoding,
    /// Forgets the client id: stable, but not what the client sent.
    DropsClientId,
    /// Refuses every Produce.
    RefusesProduce,
    /// Loses the last record of every read.
    LosesARecord,
    /// Reads batches whose CRC-32C does not match (as no records).
    IgnoresCrc,
}

/// Our own decoder and `kafka-protocol`'s encoder, with a flaw.
struct Codec(Flaw);

impl DecoderUnderTest for Codec {
    fn reencode_request(&mut self, frame: &[u8]) -> Result<Vec<u8>, String> {
        let mut request = decode_request(Bytes::copy_from_slice(frame)).map_err(|e| e.to_string())?;
        match self.0 {
            Flaw::DropsClientId => request.header.client_id = None,
            Flaw::RefusesProduce if request.header.request_api_key == 0 => return Err("no Produce here".into()),
            _ => {}
        }
        let mut encoded = encode_request(&request.header, &request.body).map_err(|e| e.to_string())?[4..].to_vec();
        if self.0 == Flaw::GrowsOnEachEncoding {
            encoded.push(0);
        }
        Ok(encoded)
    }

    fn count_records(&mut self, records: &[u8]) -> Result<usize, String> {
        let batches = match decode_record_batches(Bytes::copy_from_slice(records), FUZZING_BATCH_LIMITS) {
            Ok(batches) => batches,
            Err(error) if self.0 == Flaw::IgnoresCrc && matches!(error.kind, DecodeErrorKind::CrcMismatch { .. }) => {
                return Ok(0);
            }
            Err(error) => return Err(error.to_string()),
        };
        let count: usize = batches.iter().map(|batch| batch.records.len()).sum();
        Ok(match self.0 {
            Flaw::LosesARecord => count.saturating_sub(1),
            _ => count,
        })
    }
}

type Target = fn(&mut Codec, &[u8]);

/// Each decoder target, and the corpus whose inputs it reads.
const TARGETS: [(&str, &str, Target); 3] = [
    ("request_roundtrip_on", "frame_decode", |c, d| {
        request_roundtrip_on(c, d)
    }),
    ("records_on", "record_batch", |c, d| records_on(c, d)),
    ("differential_on", "differential", |c, d| differential_on(c, d)),
];

/// The first input a target fails on with `flaw`, as (target, message):
/// the generated seeds, and for `record_batch` generated batches too (its
/// seeds are raw batches, whose records the target does not know).
fn first_failure(flaw: Flaw) -> Option<(&'static str, String)> {
    let seeds = generated_seeds();
    for (name, corpus, run) in TARGETS {
        let mut inputs: Vec<Vec<u8>> = seeds
            .iter()
            .filter(|seed| seed.target == corpus)
            .map(|seed| seed.data.clone())
            .collect();
        if corpus == "record_batch" {
            inputs.extend((0..50).map(|seed| [&[GENERATED][..], &seeded_bytes(seed, 1024)].concat()));
        }
        for input in &inputs {
            let mut codec = Codec(flaw);
            if let Some(message) = panic_message(|| run(&mut codec, input)) {
                return Some((name, message));
            }
        }
    }
    None
}

/// What `f` panicked with, if it did. The test catches the target's panic
/// only to report it.
fn panic_message(f: impl FnOnce()) -> Option<String> {
    catch_unwind(AssertUnwindSafe(f)).err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "non-string panic".into())
    })
}

/// One record batch of one record; `corrupt` flips a bit of its value, so
/// that its CRC-32C no longer matches.
fn one_record_batch(corrupt: bool) -> Vec<u8> {
    let entries = [(None, Some(Bytes::from_static(b"value")))];
    let mut batch = encode_entries(&entries, None, 0, BatchCodec::None).unwrap().to_vec();
    if corrupt {
        *batch.last_mut().unwrap() ^= 1;
    }
    batch
}

/// A client stream of one Produce v9 carrying `records`.
fn produce_stream(records: Vec<u8>) -> Bytes {
    let partition = PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(records.into()));
    let topic = TopicProduceData::default()
        .with_name(StrBytes::from_static_str("topic-a").into())
        .with_partition_data(vec![partition]);
    let produce = ProduceRequest::default().with_acks(1).with_topic_data(vec![topic]);
    Client::new("test").request(9, produce).unwrap().1
}

#[test]
fn a_faithful_codec_passes_every_seed() {
    assert_eq!(first_failure(Flaw::None), None);
}

#[test]
fn an_encoding_that_grows_is_caught_by_the_roundtrip() {
    let (target, message) = first_failure(Flaw::GrowsOnEachEncoding).expect("caught");
    assert_eq!(target, "request_roundtrip_on");
    assert!(message.starts_with("oracle violation [request-roundtrip]"), "{message}");
    assert!(message.contains("its own encoding"), "{message}");
}

#[test]
fn a_stable_loss_is_caught_by_the_differential() {
    let (target, message) = first_failure(Flaw::DropsClientId).expect("caught");
    assert_eq!(
        target, "differential_on",
        "a fixed point passes the roundtrip: {message}"
    );
    assert!(message.starts_with("oracle violation [differential]"), "{message}");
    assert!(message.contains("read differently"), "{message}");
}

#[test]
fn refusing_valid_requests_is_caught_by_the_differential() {
    let (target, message) = first_failure(Flaw::RefusesProduce).expect("caught");
    assert_eq!(target, "differential_on");
    assert!(
        message.contains("Produce v") && message.contains("no Produce here"),
        "{message}"
    );
}

#[test]
fn a_lost_record_is_caught_by_the_records_target() {
    let (target, message) = first_failure(Flaw::LosesARecord).expect("caught");
    assert_eq!(target, "records_on");
    assert!(message.starts_with("oracle violation [batch-roundtrip]"), "{message}");
    assert!(message.contains("is read as"), "{message}");
}

#[test]
fn accepting_a_batch_whose_crc_does_not_match_is_caught_by_the_records_target() {
    // Even mode byte: the batch's raw bytes.
    let input = [&[0][..], &one_record_batch(true)].concat();
    let message = panic_message(|| records_on(&mut Codec(Flaw::IgnoresCrc), &input)).expect("caught");
    assert!(message.starts_with("oracle violation [batch-integrity]"), "{message}");
    assert!(message.contains("CRC-32C mismatch"), "{message}");
    assert_eq!(panic_message(|| records_on(&mut Codec(Flaw::None), &input)), None);
    let intact = [&[0][..], &one_record_batch(false)].concat();
    assert_eq!(
        panic_message(|| records_on(&mut Codec(Flaw::IgnoresCrc), &intact)),
        None
    );
}

#[test]
fn refusing_a_produce_whose_batch_is_corrupt_agrees_with_kafka() {
    let corrupt = produce_stream(one_record_batch(true));
    assert_eq!(
        panic_message(|| differential_on(&mut Codec(Flaw::RefusesProduce), &corrupt)),
        None,
        "Kafka refuses that batch too (CORRUPT_MESSAGE)"
    );
    let intact = produce_stream(one_record_batch(false));
    let message = panic_message(|| differential_on(&mut Codec(Flaw::RefusesProduce), &intact)).expect("caught");
    assert!(
        message.contains("a request our decoder accepts is refused"),
        "{message}"
    );
}

#[test]
fn refusing_a_produce_whose_batch_is_only_past_our_limits_is_caught() {
    // Well-formed, but inflates past the fuzzing decompression limit: our
    // refusal is a limit of ours, not corruption Kafka would refuse.
    let value = Bytes::from(vec![0; FUZZING_BATCH_LIMITS.max_decompressed_size + 1]);
    let large = encode_entries(&[(None, Some(value))], None, 0, BatchCodec::Zstd).unwrap();
    let error = decode_record_batches(large.clone(), FUZZING_BATCH_LIMITS).unwrap_err();
    assert!(error.kind.is_limit(), "{error}");
    let stream = produce_stream(large.to_vec());
    let message = panic_message(|| differential_on(&mut Codec(Flaw::RefusesProduce), &stream)).expect("caught");
    assert!(
        message.contains("a request our decoder accepts is refused"),
        "{message}"
    );
}
