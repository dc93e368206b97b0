//! What one broker's replicas hold, through the wire: OffsetForLeaderEpoch
//! (where an epoch ended, and the epoch checks Kafka makes),
//! DescribeProducers (each idempotent producer's last batch) and
//! DescribeLogDirs (every replica's size, or those asked for).

mod common;

use bytes::Bytes;
use common::admin_broker::{Harness, code, name};
use kafka_fuzz::harness::input::encode_entries;
use kafka_fuzz::server::wire::Codec;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{
    DescribeLogDirsRequest, DescribeProducersRequest, InitProducerIdRequest, OffsetForLeaderEpochRequest,
};

/// OffsetForLeaderEpoch v4 for partition 0 of `topic`: (error, epoch, end).
fn epoch_end(h: &mut Harness, topic: &str, current_leader_epoch: i32, leader_epoch: i32) -> (i16, i32, i64) {
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(current_leader_epoch)
                        .with_leader_epoch(leader_epoch),
                ]),
        ]);
    let answer = h.call(4, request).topics[0].partitions[0].clone();
    (answer.error_code, answer.leader_epoch, answer.end_offset)
}

#[test]
fn offset_for_leader_epoch_answers_where_an_epoch_ended() {
    let mut h = Harness::new();
    h.create("events", 1);
    // An empty log holds no epoch.
    assert_eq!(epoch_end(&mut h, "events", -1, 0), (0, -1, -1));
    for i in 0..3 {
        h.produce("events", 0, &format!("v{i}"));
    }
    // Epoch 0 is the leader's and has not ended: the log end. A later
    // epoch than any in the log answers the last one.
    assert_eq!(epoch_end(&mut h, "events", -1, 0), (0, 0, 3));
    assert_eq!(epoch_end(&mut h, "events", 0, 7), (0, 0, 3));
    // The current leader epoch is checked as Fetch checks it.
    assert_eq!(
        epoch_end(&mut h, "events", 1, 0).0,
        code(ResponseError::UnknownLeaderEpoch)
    );
    assert_eq!(
        epoch_end(&mut h, "missing", -1, 0).0,
        code(ResponseError::UnknownTopicOrPartition)
    );
}

#[test]
fn describe_producers_shows_each_producers_last_batch() {
    let mut h = Harness::new();
    h.create("events", 2);
    let producer = h.call(4, InitProducerIdRequest::default().with_transactional_id(None));
    let (id, epoch) = (producer.producer_id.0, producer.producer_epoch);
    for (sequence, timestamp) in [(0, 1_000), (2, 5_000)] {
        let entries = [
            (None, Some(Bytes::from_static(b"a"))),
            (None, Some(Bytes::from_static(b"b"))),
        ];
        let records = encode_entries(&entries, Some((id, epoch, sequence)), timestamp, Codec::None).unwrap();
        assert_eq!(h.produce_batch("events", 0, records, -1).0, 0);
    }
    h.produce("events", 1, "plain");
    let request = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(name("events"))
            .with_partition_indexes(vec![0, 1, 9]),
    ]);
    let partitions = h.call(0, request).topics[0].partitions.clone();
    assert_eq!(partitions.len(), 3);
    let [first, plain, missing] = &partitions[..] else {
        unreachable!()
    };
    assert_eq!(first.error_code, 0);
    let state = &first.active_producers[..];
    assert_eq!(state.len(), 1, "{state:?}");
    assert_eq!(
        (state[0].producer_id.0, state[0].producer_epoch, state[0].last_sequence),
        (id, i32::from(epoch), 3)
    );
    // The second batch's records: the newest at 5000 + 1000.
    assert_eq!(state[0].last_timestamp, 6_000);
    assert_eq!(
        (state[0].coordinator_epoch, state[0].current_txn_start_offset),
        (-1, -1)
    );
    assert!(plain.active_producers.is_empty() && plain.error_code == 0);
    assert_eq!(missing.error_code, code(ResponseError::UnknownTopicOrPartition));
}

#[test]
fn describe_log_dirs_sizes_every_replica_or_those_asked_for() {
    let mut h = Harness::new();
    h.create("events", 2);
    h.create("other", 1);
    h.produce("events", 1, "one record");
    let every = h.call(4, DescribeLogDirsRequest::default().with_topics(None));
    assert_eq!((every.error_code, every.results.len()), (0, 1));
    let dir = &every.results[0];
    assert_eq!((dir.total_bytes, dir.usable_bytes), (-1, -1));
    let mut sizes: Vec<(String, i32, i64)> = dir
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.partition_size))
        })
        .collect();
    sizes.sort();
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert_eq!((sizes[0].2, sizes[2].2), (0, 0), "{sizes:?}");
    assert!(sizes[1].2 > 0, "the written partition has bytes: {sizes:?}");
    // Asked for: only partitions this broker holds.
    let asked = DescribeLogDirsRequest::default().with_topics(Some(vec![
        DescribableLogDirTopic::default()
            .with_topic(name("events"))
            .with_partitions(vec![1, 5]),
        DescribableLogDirTopic::default()
            .with_topic(name("missing"))
            .with_partitions(vec![0]),
    ]));
    let answer = h.call(4, asked);
    let topics = &answer.results[0].topics;
    assert_eq!(topics.len(), 1);
    let indexes: Vec<i32> = topics[0].partitions.iter().map(|p| p.partition_index).collect();
    assert_eq!(indexes, [1]);
}
