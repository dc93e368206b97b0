//! What a broker is configured with: its identity and Kafka's limits.

use crate::server::wire::BatchLimits;

/// The broker's settings; `Default` gives Kafka's defaults where Kafka has
/// one, and a broker at `127.0.0.1:9092`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    pub node_id: i32,
    /// The host and port Metadata and FindCoordinator send clients to.
    pub advertised_host: String,
    pub advertised_port: i32,
    pub cluster_id: String,
    /// `auto.create.topics.enable`: Metadata (when the client allows it) and
    /// Produce create unknown topics.
    pub auto_create_topics: bool,
    /// `num.partitions`: partitions of an auto-created topic, and of a
    /// created topic that asks for the default (-1).
    pub default_partitions: i32,
    /// Most partitions one topic may have: a bound on the memory a single
    /// request can make the broker reserve.
    pub max_partitions_per_topic: i32,
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an
    /// empty group waits for more members. Kafka's default is 3000; 0 here so
    /// that a single consumer starts at once.
    pub initial_rebalance_delay_ms: i32,
    /// `offset.metadata.max.bytes`.
    pub max_offset_metadata_bytes: usize,
    /// `transaction.max.timeout.ms`.
    pub max_transaction_timeout_ms: i32,
    /// Bounds on decoding the record batches of a Produce request.
    pub batch_limits: BatchLimits,
    /// `min.insync.replicas`: acks=all needs this many in-sync replicas.
    pub min_insync_replicas: usize,
    /// `default.replication.factor`, capped by the brokers there are.
    pub default_replication_factor: usize,
    /// `replica.lag.time.max.ms`: a follower that has not caught up for this
    /// long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `message.max.bytes`: the largest record batch a Produce may carry
    /// (MESSAGE_TOO_LARGE above it). None alone, where nothing else bounds a
    /// batch but the frame; a cluster node sets Kafka's default, so that a
    /// batch always fits a replica fetch and a write-ahead log record.
    pub max_message_bytes: Option<usize>,
    /// SASL/PLAIN users (name, password): when there are any, a connection
    /// must authenticate before anything but ApiVersions.
    pub sasl_users: Vec<(String, String)>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            node_id: 1,
            advertised_host: "127.0.0.1".to_owned(),
            advertised_port: 9092,
            cluster_id: "kafka-fuzz-cluster".to_owned(),
            auto_create_topics: true,
            default_partitions: 1,
            max_partitions_per_topic: 1000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 0,
            max_offset_metadata_bytes: 4096,
            max_transaction_timeout_ms: 900_000,
            batch_limits: BatchLimits::default(),
            min_insync_replicas: 1,
            default_replication_factor: 1,
            replica_lag_time_max_ms: 30_000,
            max_message_bytes: None,
            sasl_users: Vec::new(),
        }
    }
}
