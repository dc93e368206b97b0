//! Throughput of the in-process dispatcher: Produce of 100-record batches
//! into a partition, and Fetch of the same batches back.
//!
//! Criterion measures each; then the dispatcher and, as the reference, our
//! decoder alone on the same frames run side by side in this process,
//! interleaved round by round, and a table prints throughput and the ratio
//! (dispatch / decode: what the broker costs beyond parsing the request and
//! its record batches).

mod common;

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use kafka_fuzz::harness::client::Client;
use kafka_fuzz::harness::input::encode_entries;
use kafka_fuzz::server::broker::{Broker, BrokerConfig, ManualClock};
use kafka_fuzz::server::wire::{BatchLimits, Codec, decode_record_batches, decode_request};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchRequest, ProduceRequest, RequestKind, TopicName};
use kafka_protocol::protocol::StrBytes;

const RECORDS_PER_BATCH: usize = 100;
/// Batches in the log that Fetch reads.
const BATCHES: usize = 1000;
/// A produce broker starts afresh after this many batches, so memory stays flat.
const PRODUCES_PER_BROKER: usize = 20_000;

fn batch(codec: Codec) -> Bytes {
    let entries: Vec<_> = (0..RECORDS_PER_BATCH)
        .map(|i| {
            let value = format!("{{\"order\":{i},\"amount\":{},\"currency\":\"EUR\"}}", i * 7);
            (Some(Bytes::from(format!("key-{i}"))), Some(Bytes::from(value)))
        })
        .collect();
    encode_entries(&entries, None, 1_700_000_000_000, codec).unwrap()
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("events"))
}

fn produce_frame(client: &mut Client, codec: Codec) -> Bytes {
    let partition = PartitionProduceData::default()
        .with_index(0)
        .with_records(Some(batch(codec)));
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(vec![partition]),
        ]);
    client.request(9, request).unwrap().1.slice(4..)
}

fn fetch_frame(client: &mut Client, offset: i64) -> Bytes {
    // A partition limit of one byte returns exactly one whole batch.
    let partition = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(1);
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(50 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic())
                .with_partitions(vec![partition]),
        ]);
    client.request(12, request).unwrap().1.slice(4..)
}

fn new_broker() -> Broker {
    Broker::new(BrokerConfig::default(), ManualClock::new(1_700_000_000_000))
}

/// Produces into fresh brokers, one after another.
struct Producing {
    broker: Broker,
    produced: usize,
    frame: Bytes,
}

impl Producing {
    fn new(frame: Bytes) -> Self {
        Self {
            broker: new_broker(),
            produced: 0,
            frame,
        }
    }

    fn step(&mut self) {
        if self.produced == PRODUCES_PER_BROKER {
            self.broker = new_broker();
            self.produced = 0;
        }
        self.produced += 1;
        black_box(self.broker.handle(self.frame.clone()).unwrap());
    }
}

/// Fetches every batch of a full log in turn.
struct Fetching {
    broker: Broker,
    frames: Vec<Bytes>,
    next: usize,
}

impl Fetching {
    fn new(client: &mut Client) -> Self {
        let mut producing = Producing::new(produce_frame(client, Codec::None));
        for _ in 0..BATCHES {
            producing.step();
        }
        let frames = (0..BATCHES)
            .map(|b| fetch_frame(client, (b * RECORDS_PER_BATCH) as i64))
            .collect();
        Self {
            broker: producing.broker,
            frames,
            next: 0,
        }
    }

    fn step(&mut self) {
        self.next = (self.next + 1) % self.frames.len();
        black_box(self.broker.handle(self.frames[self.next].clone()).unwrap());
    }
}

/// The reference: the parsing any broker must do, request and record
/// batches, with nothing stored or answered.
fn decode_fully(frame: &Bytes) {
    let request = decode_request(frame.clone()).unwrap();
    if let RequestKind::Produce(produce) = &request.body {
        for partition in produce.topic_data.iter().flat_map(|t| &t.partition_data) {
            let records = partition.records.clone().unwrap_or_default();
            black_box(decode_record_batches(records, BatchLimits::default()).unwrap());
        }
    }
    black_box(request);
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let mut client = Client::new("bench");
    let batch_bytes = batch(Codec::None).len();
    let produce_plain = produce_frame(&mut client, Codec::None);
    let produce_lz4 = produce_frame(&mut client, Codec::Lz4);

    let mut group = criterion.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(RECORDS_PER_BATCH as u64));
    for (name, frame) in [
        ("Produce 100 records", &produce_plain),
        ("Produce 100 records lz4", &produce_lz4),
    ] {
        let mut producing = Producing::new(frame.clone());
        group.bench_function(name, |b| b.iter(|| producing.step()));
    }
    let mut fetching = Fetching::new(&mut client);
    group.bench_function("Fetch 100 records", |b| b.iter(|| fetching.step()));
    group.finish();
    criterion.final_summary();

    println!("\n| request | dispatch µs | decode only µs | dispatch / decode | records/s | MB/s |");
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, (dispatch_ns, decode_ns): (f64, f64)| {
        println!(
            "| {name} | {:.2} | {:.2} | {:.1} | {:.0} | {:.0} |",
            dispatch_ns / 1000.0,
            decode_ns / 1000.0,
            dispatch_ns / decode_ns,
            RECORDS_PER_BATCH as f64 / dispatch_ns * 1e9,
            batch_bytes as f64 / dispatch_ns * 1e3,
        );
    };
    for (name, frame) in [
        ("Produce 100 records v9", &produce_plain),
        ("Produce 100 records lz4 v9", &produce_lz4),
    ] {
        let mut producing = Producing::new(frame.clone());
        row(name, common::side_by_side(|| producing.step(), || decode_fully(frame)));
    }
    let mut fetching = Fetching::new(&mut client);
    let frames = fetching.frames.clone();
    let mut next = 0;
    let decoding = || {
        next = (next + 1) % frames.len();
        decode_fully(&frames[next]);
    };
    row(
        "Fetch 100 records v12",
        common::side_by_side(|| fetching.step(), decoding),
    );
}
