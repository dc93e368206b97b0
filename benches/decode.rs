//! Our request decoder against `kafka-protocol`'s on realistic frames.
//!
//! Criterion measures each decoder; then both run side by side in this
//! process, interleaved round by round so that machine noise hits both
//! alike, and a table prints the ratio (theirs / ours: above 1.0 means ours
//! is faster).

mod common;

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use kafka_fuzz::harness::input::{encode_entries, encode_request};
use kafka_fuzz::server::wire::{BatchLimits, Codec, decode_record_batches, decode_request};
use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreatePartitionsRequest, DeleteRecordsRequest, DescribeConfigsRequest, FetchRequest,
    MetadataRequest, ProduceRequest, RequestHeader, RequestKind, TopicName,
};
use kafka_protocol::protocol::{StrBytes, decode_request_header_from_buffer};
use kafka_protocol::records::RecordBatchDecoder;

fn records(count: usize) -> Bytes {
    let entries: Vec<_> = (0..count)
        .map(|i| {
            (
                Some(Bytes::from(format!("key-{i}"))),
                Some(Bytes::from(vec![b'v'; 100])),
            )
        })
        .collect();
    encode_entries(&entries, Some((1000, 0, 0)), 1_700_000_000_000, Codec::None).unwrap()
}

fn topic() -> TopicName {
    topic_name("events")
}

fn produce(records: Bytes) -> RequestKind {
    let partition = PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(records));
    let topic = TopicProduceData::default()
        .with_name(topic())
        .with_partition_data(vec![partition]);
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![topic])
        .into()
}

fn fetch() -> RequestKind {
    let partitions = (0..8)
        .map(|p| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(1000)
                .with_partition_max_bytes(1 << 20)
        })
        .collect();
    let topic = FetchTopic::default().with_topic(topic()).with_partitions(partitions);
    FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_topics(vec![topic])
        .into()
}

fn metadata() -> RequestKind {
    let topics = TOPICS
        .iter()
        .map(|name| MetadataRequestTopic::default().with_name(Some(topic_name(name))))
        .collect();
    MetadataRequest::default().with_topics(Some(topics)).into()
}

const TOPICS: [&str; 4] = ["events", "orders", "payments", "audit"];

fn topic_name(name: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(name))
}

fn describe_configs() -> RequestKind {
    let resources = TOPICS
        .iter()
        .map(|name| {
            let keys = ["retention.ms", "max.message.bytes", "cleanup.policy"].map(StrBytes::from_static_str);
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str(name))
                .with_configuration_keys(Some(keys.to_vec()))
        })
        .collect();
    DescribeConfigsRequest::default()
        .with_resources(resources)
        .with_include_synonyms(true)
        .into()
}

fn create_partitions() -> RequestKind {
    let topics = TOPICS
        .iter()
        .map(|name| {
            let assignments = (0..4)
                .map(|p| {
                    CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(p % 3), BrokerId((p + 1) % 3)])
                })
                .collect();
            CreatePartitionsTopic::default()
                .with_name(topic_name(name))
                .with_count(12)
                .with_assignments(Some(assignments))
        })
        .collect();
    CreatePartitionsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(30_000)
        .into()
}

fn delete_records() -> RequestKind {
    let topics = TOPICS
        .iter()
        .map(|name| {
            let partitions = (0..8)
                .map(|p| {
                    DeleteRecordsPartition::default()
                        .with_partition_index(p)
                        .with_offset(1000)
                })
                .collect();
            DeleteRecordsTopic::default()
                .with_name(topic_name(name))
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(30_000)
        .into()
}

/// (name, frame without its size prefix)
fn frames() -> Vec<(String, Bytes)> {
    let cases: Vec<(&str, ApiKey, Vec<i16>, RequestKind)> = vec![
        ("Produce 1 record", ApiKey::Produce, vec![3, 9], produce(records(1))),
        (
            "Produce 100 records",
            ApiKey::Produce,
            vec![3, 9],
            produce(records(100)),
        ),
        ("Fetch 8 partitions", ApiKey::Fetch, vec![4, 12], fetch()),
        ("Metadata 4 topics", ApiKey::Metadata, vec![1, 12], metadata()),
        (
            "DescribeConfigs 4 topics",
            ApiKey::DescribeConfigs,
            vec![1, 4],
            describe_configs(),
        ),
        (
            "CreatePartitions 4 topics",
            ApiKey::CreatePartitions,
            vec![0, 3],
            create_partitions(),
        ),
        (
            "DeleteRecords 32 partitions",
            ApiKey::DeleteRecords,
            vec![0, 2],
            delete_records(),
        ),
    ];
    let mut out = Vec::new();
    for (name, key, versions, body) in cases {
        for version in versions {
            let header = RequestHeader::default()
                .with_request_api_key(key as i16)
                .with_request_api_version(version)
                .with_correlation_id(1)
                .with_client_id(Some(StrBytes::from_static_str("rdkafka")));
            let frame = encode_request(&header, &body).unwrap().slice(4..);
            out.push((format!("{name} v{version}"), frame));
        }
    }
    out
}

fn ours(frame: &Bytes) {
    black_box(decode_request(frame.clone()).unwrap());
}

fn theirs(frame: &Bytes) {
    let mut buf = frame.clone();
    let header = decode_request_header_from_buffer(&mut buf).unwrap();
    let key = ApiKey::try_from(header.request_api_key).unwrap();
    black_box(RequestKind::decode(key, &mut buf, header.request_api_version).unwrap());
}

fn ours_batch(batch: &Bytes) {
    black_box(decode_record_batches(batch.clone(), BatchLimits::default()).unwrap());
}

fn theirs_batch(batch: &Bytes) {
    black_box(RecordBatchDecoder::decode_all(&mut batch.clone()).unwrap());
}

type Decoder = fn(&Bytes);

/// Every case: name, input, our decoder, the reference decoder.
fn cases() -> Vec<(String, Bytes, Decoder, Decoder)> {
    let mut cases: Vec<(String, Bytes, Decoder, Decoder)> = frames()
        .into_iter()
        .map(|(name, frame)| (name, frame, ours as Decoder, theirs as Decoder))
        .collect();
    cases.push(("RecordBatch 100 records".into(), records(100), ours_batch, theirs_batch));
    cases
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let cases = cases();
    for (name, input, our_decoder, their_decoder) in &cases {
        let mut group = criterion.benchmark_group(name.as_str());
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function("kafka-fuzz", |b| b.iter(|| our_decoder(input)));
        group.bench_function("kafka-protocol", |b| b.iter(|| their_decoder(input)));
        group.finish();
    }
    criterion.final_summary();

    println!("\n| input | bytes | kafka-fuzz ns | kafka-protocol ns | ratio (theirs / ours) |");
    println!("|---|---:|---:|---:|---:|");
    for (name, input, our_decoder, their_decoder) in &cases {
        let (ours_ns, theirs_ns) = common::side_by_side(|| our_decoder(input), || their_decoder(input));
        println!(
            "| {name} | {} | {ours_ns:.0} | {theirs_ns:.0} | {:.2} |",
            input.len(),
            theirs_ns / ours_ns
        );
    }
}
