//! Session scripts: what several clients do, in which order, against one
//! server. Every choice is drawn from a small pool (topics, groups, limits)
//! so that operations meet each other, and orderings are free: a fetch may
//! come before any produce, a commit before any join, a heartbeat after a
//! leave.

use std::fmt;

use arbitrary::{Arbitrary, Result, Unstructured};
use kafka_protocol::messages::ApiKey;

use super::Malformation;

/// Clients of one session, each its own connection and state.
pub const SESSION_CLIENTS: usize = 3;

/// Steps in one session: room for a rebalance, a retry and a paging in
/// one script, and for the custom mutator to grow long histories from
/// short ones.
pub const MAX_SESSION_STEPS: usize = 64;

/// Operations one session performs at most, its steps and their repeats
/// together: a bound on an execution's time, however the steps repeat.
pub const MAX_SESSION_OPERATIONS: usize = 4 * MAX_SESSION_STEPS;

/// Topics a session acts on: two the session starts with (see
/// `targets::session_start_frames`), one it may create.
pub const SESSION_TOPICS: [&str; 3] = ["topic-a", "topic-b", "topic-new"];

pub const SESSION_GROUPS: [&str; 2] = ["group-1", "group-2"];

/// A whole session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionScript {
    pub steps: Vec<SessionStep>,
}

impl<'a> Arbitrary<'a> for SessionScript {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        // As many steps as the bytes give: a shorter input is a shorter
        // session, which is what shrinking a crasher wants.
        let mut steps = Vec::new();
        while steps.len() < MAX_SESSION_STEPS && !u.is_empty() {
            steps.push(u.arbitrary()?);
        }
        Ok(Self { steps })
    }
}

/// One operation by one client.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct SessionStep {
    pub(super) client: u8,
    pub operation: Operation,
}

impl SessionStep {
    pub fn new(client: usize, operation: Operation) -> Self {
        Self {
            client: client as u8,
            operation,
        }
    }

    /// Which client acts: `0..SESSION_CLIENTS`.
    pub fn client(&self) -> usize {
        usize::from(self.client) % SESSION_CLIENTS
    }
}

/// A partition of one of the session's topics (`SESSION_TOPICS`), or one
/// that does not exist.
#[derive(Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct PartitionChoice {
    pub topic: u8,
    pub partition: u8,
}

impl PartitionChoice {
    pub fn topic(&self) -> &'static str {
        SESSION_TOPICS[usize::from(self.topic) % SESSION_TOPICS.len()]
    }

    /// 0 to 3: topic-a has 3 partitions, topic-b 1.
    pub fn partition(&self) -> i32 {
        i32::from(self.partition % 4)
    }
}

// Transcripts show the partition, not the bytes that chose it.
impl fmt::Debug for PartitionChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic(), self.partition())
    }
}

/// A group of `SESSION_GROUPS`.
#[derive(Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct GroupChoice(pub(super) u8);

impl GroupChoice {
    /// The `index`th of `SESSION_GROUPS` (wrapping).
    pub fn new(index: u8) -> Self {
        Self(index)
    }

    pub fn name(&self) -> &'static str {
        SESSION_GROUPS[usize::from(self.0) % SESSION_GROUPS.len()]
    }
}

impl fmt::Debug for GroupChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A version of the API, wrapped into its range by the session (the
/// transcript's request line shows which).
#[derive(Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct VersionChoice(pub u8);

impl fmt::Debug for VersionChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Acks {
    None,
    Leader,
    All,
}

impl Acks {
    pub fn value(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// How a produce relates to the client's producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ProduceMode {
    /// No producer id: at-least-once.
    Plain,
    /// The client's producer id and epoch, the partition's next sequence.
    Idempotent,
    /// The client's `n`th most recent batch again, byte for byte.
    Retry(u8),
    /// An idempotent batch that skips `gap` sequence numbers (1 to 4).
    GappedSequence(u8),
}

/// A fetch or commit offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum OffsetChoice {
    /// Where this client's last fetch of the partition ended.
    Position,
    Earliest,
    /// The newest high watermark the client saw.
    HighWatermark,
    /// The high watermark plus `n` (past the end).
    PastEnd(u8),
    /// Small, negative ones included: offsets live near 0 in a session.
    Exactly(i16),
}

/// A byte limit of a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ByteLimit {
    Zero,
    OneByte,
    /// Smaller than most batches.
    Small,
    /// A few batches.
    Medium,
    Default,
    Exactly(i32),
}

impl ByteLimit {
    pub fn value(self) -> i32 {
        match self {
            ByteLimit::Zero => 0,
            ByteLimit::OneByte => 1,
            ByteLimit::Small => 40,
            ByteLimit::Medium => 300,
            ByteLimit::Default => 1 << 20,
            ByteLimit::Exactly(bytes) => bytes,
        }
    }
}

/// A ListOffsets timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum TimestampChoice {
    Latest,
    Earliest,
    MaxTimestamp,
    /// The session's start plus `n` seconds (records carry such times).
    AfterStart(u8),
    Exactly(i64),
}

/// Which generation a group request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum GenerationChoice {
    /// The newest this client was given.
    Current,
    /// One before it: stale.
    Previous,
    /// None: -1, as a consumer outside the group protocol commits.
    None,
    Exactly(i8),
}

/// A session timeout of a JoinGroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum SessionTimeout {
    /// The broker's minimum, 6 s.
    Shortest,
    Default,
    /// Below the minimum: refused.
    TooShort,
}

impl SessionTimeout {
    pub fn ms(self) -> i32 {
        match self {
            SessionTimeout::Shortest => 6_000,
            SessionTimeout::Default => 45_000,
            SessionTimeout::TooShort => 10,
        }
    }
}

/// How far the server's clock moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ClockStep {
    Millisecond,
    Second,
    /// Past the shortest session timeout: silent members expire.
    PastSessionTimeout,
    /// Past the default session timeout.
    Minute,
}

impl ClockStep {
    pub fn ms(self) -> i64 {
        match self {
            ClockStep::Millisecond => 1,
            ClockStep::Second => 1_000,
            ClockStep::PastSessionTimeout => 6_001,
            ClockStep::Minute => 60_000,
        }
    }
}

/// A produce: where, how acknowledged, how many records in which codec,
/// and how it relates to the client's producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct Production {
    pub to: PartitionChoice,
    pub acks: Acks,
    /// 1 to 8 records.
    pub records: u8,
    pub codec: u8,
    pub mode: ProduceMode,
    pub version: VersionChoice,
}

/// What a client does.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Operation {
    Produce(Production),
    Fetch {
        from: PartitionChoice,
        offset: OffsetChoice,
        max_bytes: ByteLimit,
        partition_max_bytes: ByteLimit,
        /// A long poll that waits for records (read committed).
        wait: bool,
        version: VersionChoice,
    },
    /// Fetches page after page from `offset` up to the high watermark, as a
    /// consumer does, each page limited to `page_bytes`.
    Consume {
        from: PartitionChoice,
        offset: OffsetChoice,
        page_bytes: ByteLimit,
        version: VersionChoice,
    },
    ListOffsets {
        of: PartitionChoice,
        timestamp: TimestampChoice,
        version: VersionChoice,
    },
    Metadata {
        /// `None`: every topic.
        topic: Option<PartitionChoice>,
        allow_auto_create: bool,
        version: VersionChoice,
    },
    CreateTopic {
        topic: PartitionChoice,
        /// 1 to 4 partitions.
        partitions: u8,
        version: VersionChoice,
    },
    /// A new producer id (or, transactional, the same id at a new epoch).
    InitProducerId {
        transactional: bool,
        version: VersionChoice,
    },
    JoinGroup {
        group: GroupChoice,
        session_timeout: SessionTimeout,
        version: VersionChoice,
    },
    SyncGroup {
        group: GroupChoice,
        generation: GenerationChoice,
        version: VersionChoice,
    },
    Heartbeat {
        group: GroupChoice,
        generation: GenerationChoice,
        version: VersionChoice,
    },
    LeaveGroup {
        group: GroupChoice,
        version: VersionChoice,
    },
    OffsetCommit {
        group: GroupChoice,
        of: PartitionChoice,
        offset: OffsetChoice,
        generation: GenerationChoice,
        version: VersionChoice,
    },
    OffsetFetch {
        group: GroupChoice,
        of: PartitionChoice,
        version: VersionChoice,
    },
    /// The request `request` would send, damaged.
    Malformed {
        request: Box<Operation>,
        malformation: Malformation,
    },
    /// The client's connection drops; it reconnects for its next request.
    Disconnect,
    AdvanceClock {
        by: ClockStep,
    },
    /// Deletes a topic by name, or (DeleteTopics v6+, `by_id`) by the id
    /// the client last learned for it.
    DeleteTopic {
        topic: PartitionChoice,
        by_id: bool,
        version: VersionChoice,
    },
    /// Raises a topic to `1 + count % 4` partitions (fewer is refused).
    CreatePartitions {
        topic: PartitionChoice,
        count: u8,
        version: VersionChoice,
    },
    /// Moves a partition's log start up to `before`.
    DeleteRecords {
        of: PartitionChoice,
        before: OffsetChoice,
        version: VersionChoice,
    },
    /// Changes one topic config, with IncrementalAlterConfigs (the others
    /// stay) or AlterConfigs (it replaces them all).
    AlterConfig {
        topic: PartitionChoice,
        change: ConfigChange,
        incremental: bool,
        version: VersionChoice,
    },
    DescribeGroup {
        group: GroupChoice,
        version: VersionChoice,
    },
    ListGroups {
        version: VersionChoice,
    },
    DeleteGroup {
        group: GroupChoice,
        version: VersionChoice,
    },
    /// Deletes a group's committed offset of one partition.
    OffsetDelete {
        group: GroupChoice,
        of: PartitionChoice,
        version: VersionChoice,
    },
    /// This step's client does the script's previous operation again,
    /// `repeats()` times: histories longer than a script's steps (more of
    /// one producer's batches than a broker remembers, then a retry of an
    /// old one).
    Repeat {
        times: u8,
    },
    /// One Fetch of several partitions of several topics, each from the
    /// client's `offset` for it, under limits that may bind: each partition
    /// keeps every single-partition guarantee, and the answer the limits.
    FetchMany {
        partitions: PartitionSet,
        offset: OffsetChoice,
        max_bytes: ByteLimit,
        partition_max_bytes: ByteLimit,
        version: VersionChoice,
    },
    /// Which APIs and versions the server answers: it is then held to it.
    ApiVersions {
        version: VersionChoice,
    },
}

/// Partitions of the session's topics, a bit each (`PartitionChoice`'s
/// twelve: topic `bit / 4`, partition `bit % 4`).
#[derive(Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct PartitionSet(pub u16);

impl PartitionSet {
    /// The partitions chosen, in topic then partition order; topic-a/0
    /// when none is.
    pub fn partitions(self) -> Vec<PartitionChoice> {
        let all = SESSION_TOPICS.len() * 4;
        let bits = match self.0 & ((1 << all) - 1) {
            0 => 1,
            bits => bits,
        };
        (0..all)
            .filter(|bit| bits & (1 << bit) != 0)
            .map(|bit| PartitionChoice {
                topic: (bit / 4) as u8,
                partition: (bit % 4) as u8,
            })
            .collect()
    }
}

impl fmt::Debug for PartitionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.partitions()).finish()
    }
}

/// Most repeats of one `Repeat` step.
pub const MAX_REPEATS: u8 = 16;

impl Operation {
    /// How many times a `Repeat { times }` step repeats: 1 to `MAX_REPEATS`.
    pub fn repeats(times: u8) -> usize {
        usize::from(1 + times % MAX_REPEATS)
    }
}

/// A topic config a session sets: the ones the broker honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum ConfigChange {
    /// `retention.ms`: records older than this many seconds expire.
    RetentionSeconds(u8),
    /// `retention.ms` -1: records are kept for ever.
    KeepForever,
    /// `max.message.bytes`: larger batches are refused.
    MaxMessageBytes(u16),
    /// `cleanup.policy`: `compact` (records need keys; DeleteRecords is
    /// refused) or `delete`.
    Compact(bool),
}

impl ConfigChange {
    /// The config's name and value.
    pub fn entry(self) -> (&'static str, String) {
        match self {
            ConfigChange::RetentionSeconds(seconds) => ("retention.ms", (1000 * i64::from(seconds)).to_string()),
            ConfigChange::KeepForever => ("retention.ms", "-1".to_owned()),
            ConfigChange::MaxMessageBytes(bytes) => ("max.message.bytes", bytes.to_string()),
            ConfigChange::Compact(true) => ("cleanup.policy", "compact".to_owned()),
            ConfigChange::Compact(false) => ("cleanup.policy", "delete".to_owned()),
        }
    }
}

/// Every API a session's operations send.
pub const SESSION_APIS: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::CreateTopics,
    ApiKey::InitProducerId,
    ApiKey::DeleteTopics,
    ApiKey::CreatePartitions,
    ApiKey::DeleteRecords,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::DeleteGroups,
    ApiKey::OffsetDelete,
    ApiKey::ApiVersions,
];

impl Operation {
    /// The API this operation sends, if it sends a request.
    pub fn api(&self) -> Option<ApiKey> {
        Some(match self {
            Operation::Produce(_) => ApiKey::Produce,
            Operation::Fetch { .. } | Operation::Consume { .. } | Operation::FetchMany { .. } => ApiKey::Fetch,
            Operation::ListOffsets { .. } => ApiKey::ListOffsets,
            Operation::Metadata { .. } => ApiKey::Metadata,
            Operation::CreateTopic { .. } => ApiKey::CreateTopics,
            Operation::InitProducerId { .. } => ApiKey::InitProducerId,
            Operation::JoinGroup { .. } => ApiKey::JoinGroup,
            Operation::SyncGroup { .. } => ApiKey::SyncGroup,
            Operation::Heartbeat { .. } => ApiKey::Heartbeat,
            Operation::LeaveGroup { .. } => ApiKey::LeaveGroup,
            Operation::OffsetCommit { .. } => ApiKey::OffsetCommit,
            Operation::OffsetFetch { .. } => ApiKey::OffsetFetch,
            Operation::DeleteTopic { .. } => ApiKey::DeleteTopics,
            Operation::CreatePartitions { .. } => ApiKey::CreatePartitions,
            Operation::DeleteRecords { .. } => ApiKey::DeleteRecords,
            Operation::AlterConfig { incremental: true, .. } => ApiKey::IncrementalAlterConfigs,
            Operation::AlterConfig { incremental: false, .. } => ApiKey::AlterConfigs,
            Operation::DescribeGroup { .. } => ApiKey::DescribeGroups,
            Operation::ListGroups { .. } => ApiKey::ListGroups,
            Operation::DeleteGroup { .. } => ApiKey::DeleteGroups,
            Operation::OffsetDelete { .. } => ApiKey::OffsetDelete,
            Operation::ApiVersions { .. } => ApiKey::ApiVersions,
            Operation::Malformed { request, .. } => return request.api(),
            Operation::Disconnect | Operation::AdvanceClock { .. } | Operation::Repeat { .. } => return None,
        })
    }
}

#[cfg(test)]
mod api_tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::harness::input::seeded_bytes;

    #[test]
    fn session_apis_are_exactly_what_generated_operations_send() {
        let mut sent = BTreeSet::new();
        for seed in 0..4000 {
            let data = seeded_bytes(seed, 64);
            if let Ok(operation) = Unstructured::new(&data).arbitrary::<Operation>()
                && let Some(api) = operation.api()
            {
                sent.insert(api as i16);
            }
        }
        let listed: BTreeSet<_> = SESSION_APIS.iter().map(|api| *api as i16).collect();
        assert_eq!(sent, listed);
    }
}
