//! The model oracle: a small executable account of what Kafka guarantees a
//! client about logs, idempotent producers and consumer groups, fed what a
//! session's clients sent and were answered, and checked after every answer.
//!
//! The model never predicts a server's exact answer (which error, which
//! offset): a server may refuse, wait or rebalance where Kafka would too.
//! It checks what every answer must be consistent with: what earlier
//! answers acknowledged, and what cannot go backwards.

mod api_versions;
mod groups;
mod log;
mod producer_ids;
mod replication;
mod topics;

use std::fmt;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;

pub use api_versions::VersionsModel;
pub use groups::GroupModel;
pub use log::{FetchedPartition, LogModel, ProducedBatch, ProducedRecord, ProducerSequence};
pub use producer_ids::ProducerIdModel;
pub use replication::{FinalCount, FinalLog, ReplicationModel};
pub use topics::{ShownTopic, TopicModel};

use super::{Oracle, Violation};

/// A guarantee of the model: each violation names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// Acknowledged offsets strictly increase per partition: a new batch is
    /// never acknowledged at or below one acknowledged before.
    OffsetsIncrease,
    /// Every acknowledged record is fetchable at its offset, exactly once,
    /// in order, with the key, value and timestamp it was produced with.
    AcknowledgedFetchable,
    /// log start <= last stable offset <= high watermark <= log end offset;
    /// the high watermark never decreases and covers every batch acknowledged
    /// with acks=all; no fetched record lies at or past it.
    Watermarks,
    /// ListOffsets agrees with the log: latest is the high watermark,
    /// earliest the log start, a timestamp finds the first record at or
    /// after it.
    ListOffsets,
    /// An idempotent producer's retry is acknowledged at its first offset
    /// and never written twice.
    IdempotentOnce,
    /// Paging through a partition from any offset with any max_bytes returns
    /// every offset up to the high watermark, each once.
    PagingComplete,
    /// A group's generation only increases.
    GenerationsIncrease,
    /// Sync, heartbeat and commit succeed only for a member of the current
    /// generation, and an assignment is the one the current leader made.
    CurrentGeneration,
    /// A committed offset reads back until it is committed again.
    CommittedReadBack,
    /// Replicated: a record acknowledged with acks=all is served at its
    /// offset by every later leader, across every fault.
    AcknowledgedDurable,
    /// Replicated: below the high watermark, no two answers (of any
    /// leaders) serve different records at one offset.
    CommittedAgree,
    /// Replicated: the leader epoch one node gives a partition never goes
    /// back.
    LeaderEpochsIncrease,
    /// Replicated: a leader epoch has one leader, whichever node tells it.
    OneLeaderPerEpoch,
    /// Once every fault healed, every node gives the same leaders, and
    /// every partition has one.
    MetadataConverges,
    /// White-box, where the cluster says (`ClusterUnderTest::check_replicas`):
    /// once every fault healed, its replicas hold the same records below
    /// their high watermarks.
    ReplicasAgree,
    /// A node never fails: its recovery accepts what it wrote, and no
    /// input stops it.
    NodeRuns,
    /// Once every fault healed, every waiting request is answered within a
    /// bound of simulated time: no deadlock, no livelock.
    Liveness,
    /// A topic's partitions never vanish while it lives; a deleted topic's
    /// id is never given to another topic nor served once the server has
    /// shown its successor; DeleteRecords answers a low watermark at or
    /// past the offset asked for, and nothing below it is served again.
    TopicLifecycle,
    /// ListGroups lists only groups that requests created and that were
    /// not deleted since; DescribeGroups lists only members that joined
    /// and did not leave.
    GroupsListed,
    /// A Metadata answer numbers a topic's partitions 0 to n-1, each led by
    /// a broker it lists (or by none); CreateTopics refuses a name that
    /// exists, and creates the partitions asked for.
    MetadataAgrees,
    /// A Fetch answer keeps its byte limits (KIP-74: only the first batch
    /// of the first partition with records may pass them), and leaves a
    /// partition with records empty only where the limits explain it.
    FetchLimits,
    /// InitProducerId never hands out a producer id twice, except to the
    /// same transactional id, whose epoch then moves forward.
    ProducerIds,
    /// What ApiVersions lists is what the server answers: a listed API at
    /// a listed version is answered, another refused.
    VersionsListed,
}

impl Invariant {
    /// The invariant's name in violation messages, stable for triage.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::OffsetsIncrease => "offsets-increase",
            Invariant::AcknowledgedFetchable => "acknowledged-fetchable",
            Invariant::Watermarks => "watermarks",
            Invariant::ListOffsets => "list-offsets",
            Invariant::IdempotentOnce => "idempotent-once",
            Invariant::PagingComplete => "paging-complete",
            Invariant::GenerationsIncrease => "generations-increase",
            Invariant::CurrentGeneration => "current-generation",
            Invariant::CommittedReadBack => "committed-read-back",
            Invariant::AcknowledgedDurable => "acknowledged-durable",
            Invariant::CommittedAgree => "committed-agree",
            Invariant::LeaderEpochsIncrease => "leader-epochs-increase",
            Invariant::OneLeaderPerEpoch => "one-leader-per-epoch",
            Invariant::MetadataConverges => "metadata-converges",
            Invariant::ReplicasAgree => "replicas-agree",
            Invariant::NodeRuns => "node-runs",
            Invariant::Liveness => "liveness",
            Invariant::TopicLifecycle => "topic-lifecycle",
            Invariant::GroupsListed => "groups-listed",
            Invariant::MetadataAgrees => "metadata-agrees",
            Invariant::FetchLimits => "fetch-limits",
            Invariant::ProducerIds => "producer-ids",
            Invariant::VersionsListed => "versions-listed",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A partition as the model keys it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: StrBytes,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: &StrBytes, partition: i32) -> Self {
        Self {
            topic: topic.clone(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic.as_str(), self.partition)
    }
}

/// Where in a session an answer came: the operation's index, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At(pub usize);

/// A model violation: the invariant, the operation, expected and actual.
pub fn violation(
    invariant: Invariant,
    at: At,
    what: &str,
    expected: impl fmt::Display,
    actual: impl fmt::Display,
) -> Violation {
    Violation::new(
        Oracle::Model,
        format!(
            "{invariant} at operation #{}: {what}: expected {expected}, got {actual}",
            at.0
        ),
    )
}

/// Bytes in violation messages: short, readable.
pub(crate) fn show_bytes(bytes: &Option<Bytes>) -> String {
    match bytes {
        None => "null".to_owned(),
        Some(bytes) => format!("{:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(32)])),
    }
}

/// The whole model of one session: every partition's log and every group.
#[derive(Debug, Default)]
pub struct Model {
    pub log: LogModel,
    pub groups: GroupModel,
    pub topics: TopicModel,
    pub producer_ids: ProducerIdModel,
    pub versions: VersionsModel,
}

impl Model {
    /// A frame the model cannot read may have deleted any topic, records,
    /// group or offsets, or changed a retention.
    pub fn unknown_deletion(&mut self) {
        self.log.unknown_deletion();
        self.groups.unknown_request();
        self.topics.unknown_deletion();
    }
}
