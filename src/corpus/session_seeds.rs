//! Written seeds of the `session` target: orderings a fuzzer would take
//! long to find. `tests/session.rs` plays each and checks that it reaches
//! what its name says.

use crate::harness::input::{
    Acks, ByteLimit, ClockStep, ConfigChange, GenerationChoice, GroupChoice, OffsetChoice, Operation, PartitionChoice,
    PartitionSet, ProduceMode, Production, SessionScript, SessionStep, SessionTimeout, TimestampChoice, VersionChoice,
};

/// Sessions a fuzzer would take long to find: a two-member group's life;
/// a partition written by idempotent, retrying and silent producers (one
/// history longer than a broker remembers), then paged through and
/// fetched with other partitions; and an admin's day: records, offsets and a group
/// deleted, a retention that expires records, partitions added, a topic
/// deleted and created again, each read back.
pub(super) fn written_sessions() -> [(&'static str, SessionScript); 3] {
    let topic_a = PartitionChoice { topic: 0, partition: 0 };
    let any = VersionChoice(u8::MAX);
    let group = GroupChoice::new(0);
    let join = |session_timeout| Operation::JoinGroup {
        group,
        session_timeout,
        version: any,
    };
    let sync = Operation::SyncGroup {
        group,
        generation: GenerationChoice::Current,
        version: any,
    };
    let heartbeat = |generation| Operation::Heartbeat {
        group,
        generation,
        version: any,
    };
    let produce = |acks, mode, codec| {
        Operation::Produce(Production {
            to: topic_a,
            acks,
            records: 2,
            codec,
            mode,
            version: VersionChoice(6), // v9: names topics, every codec
        })
    };
    let consume = |page_bytes| Operation::Consume {
        from: topic_a,
        offset: OffsetChoice::Earliest,
        page_bytes,
        version: VersionChoice(8),
    };
    let group_life = [
        (0, join(SessionTimeout::Shortest)),
        (1, join(SessionTimeout::Default)),
        (0, join(SessionTimeout::Shortest)),
        (0, sync.clone()),
        (1, sync),
        (1, heartbeat(GenerationChoice::Current)),
        (
            0,
            Operation::OffsetCommit {
                group,
                of: topic_a,
                offset: OffsetChoice::Exactly(7),
                generation: GenerationChoice::Current,
                version: any,
            },
        ),
        (
            1,
            Operation::OffsetFetch {
                group,
                of: topic_a,
                version: any,
            },
        ),
        (1, heartbeat(GenerationChoice::Previous)),
        (0, Operation::LeaveGroup { group, version: any }),
        (1, heartbeat(GenerationChoice::Current)),
        (
            2,
            Operation::AdvanceClock {
                by: ClockStep::PastSessionTimeout,
            },
        ),
        (1, join(SessionTimeout::Default)),
    ];
    let long_poll = Operation::Fetch {
        from: topic_a,
        offset: OffsetChoice::HighWatermark,
        max_bytes: ByteLimit::Default,
        partition_max_bytes: ByteLimit::Default,
        wait: true,
        version: VersionChoice(8),
    };
    let log_life = [
        (2, long_poll),
        (0, produce(Acks::All, ProduceMode::Idempotent, 0)),
        (0, produce(Acks::All, ProduceMode::Idempotent, 1)),
        (0, produce(Acks::All, ProduceMode::Retry(1), 0)),
        // A history longer than the five batches a broker remembers per
        // producer, then a retry of its oldest batch: refused, not written.
        (0, produce(Acks::All, ProduceMode::Idempotent, 2)),
        (0, Operation::Repeat { times: 5 }),
        (0, produce(Acks::All, ProduceMode::Retry(7), 0)),
        (1, produce(Acks::None, ProduceMode::Plain, 3)),
        (0, produce(Acks::Leader, ProduceMode::GappedSequence(1), 4)),
        (1, consume(ByteLimit::Small)),
        (2, consume(ByteLimit::OneByte)),
        // topic-a/0 to 3 and topic-b/0 in one fetch, under limits that bind.
        (
            2,
            Operation::FetchMany {
                partitions: PartitionSet(0b1_1111),
                offset: OffsetChoice::Earliest,
                max_bytes: ByteLimit::Medium,
                partition_max_bytes: ByteLimit::Small,
                version: any,
            },
        ),
        (
            1,
            Operation::ListOffsets {
                of: topic_a,
                timestamp: TimestampChoice::AfterStart(2),
                version: any,
            },
        ),
        (
            2,
            Operation::ListOffsets {
                of: topic_a,
                timestamp: TimestampChoice::Latest,
                version: any,
            },
        ),
    ];
    let topic_b = |partition| PartitionChoice { topic: 1, partition };
    let admin_life = [
        // What the server says it answers, which every request then meets.
        (2, Operation::ApiVersions { version: any }),
        (0, produce(Acks::All, ProduceMode::Plain, 0)),
        (0, produce(Acks::All, ProduceMode::Plain, 1)),
        (
            1,
            Operation::DeleteRecords {
                of: topic_a,
                before: OffsetChoice::Exactly(2),
                version: any,
            },
        ),
        (2, consume(ByteLimit::Default)),
        (
            0,
            Operation::OffsetCommit {
                group,
                of: topic_a,
                offset: OffsetChoice::Exactly(3),
                generation: GenerationChoice::None,
                version: any,
            },
        ),
        (1, Operation::ListGroups { version: any }),
        (
            1,
            Operation::OffsetDelete {
                group,
                of: topic_a,
                version: any,
            },
        ),
        (
            1,
            Operation::OffsetFetch {
                group,
                of: topic_a,
                version: any,
            },
        ),
        (2, Operation::DescribeGroup { group, version: any }),
        (2, Operation::DeleteGroup { group, version: any }),
        (
            0,
            Operation::AlterConfig {
                topic: topic_b(0),
                change: ConfigChange::RetentionSeconds(30),
                incremental: true,
                version: any,
            },
        ),
        (
            0,
            Operation::Produce(Production {
                to: topic_b(0),
                acks: Acks::All,
                records: 1,
                codec: 0,
                mode: ProduceMode::Plain,
                version: VersionChoice(6),
            }),
        ),
        (1, Operation::AdvanceClock { by: ClockStep::Minute }),
        (
            1,
            Operation::ListOffsets {
                of: topic_b(0),
                timestamp: TimestampChoice::Earliest,
                version: any,
            },
        ),
        (
            2,
            Operation::CreatePartitions {
                topic: topic_b(0),
                count: 2,
                version: any,
            },
        ),
        (
            0,
            Operation::Produce(Production {
                to: topic_b(2),
                acks: Acks::All,
                records: 0,
                codec: 0,
                mode: ProduceMode::Plain,
                version: VersionChoice(6),
            }),
        ),
        (
            2,
            Operation::Metadata {
                topic: Some(topic_b(0)),
                allow_auto_create: false,
                version: VersionChoice(12), // v12: topic ids
            },
        ),
        (
            0,
            Operation::DeleteTopic {
                topic: topic_b(0),
                by_id: true,
                version: VersionChoice(5), // v6: by id
            },
        ),
        (
            1,
            Operation::CreateTopic {
                topic: topic_b(0),
                partitions: 0,
                version: any,
            },
        ),
        (
            2,
            Operation::Consume {
                from: topic_b(0),
                offset: OffsetChoice::Earliest,
                page_bytes: ByteLimit::Default,
                version: VersionChoice(8),
            },
        ),
    ];
    let script = |steps: &[(usize, Operation)]| SessionScript {
        steps: steps
            .iter()
            .map(|(client, operation)| SessionStep::new(*client, operation.clone()))
            .collect(),
    };
    [
        ("written-group-life", script(&group_life)),
        ("written-log-life", script(&log_life)),
        ("written-admin-life", script(&admin_life)),
    ]
}
