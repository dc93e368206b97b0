//! The in-process dispatcher and the broker state behind it: a single node
//! with topics, partition logs and watermarks, idempotent producers and
//! consumer groups, answering every API the wire decoder knows, at every
//! version, with Kafka's semantics where real clients depend on them.
//!
//! No sockets and no threads: `Broker::handle` takes one frame and returns
//! the response bytes. Time comes from an injected `Clock`, so the same
//! frames give the same responses.

mod clock;
mod cluster_api;
mod config;
mod config_api;
mod delete_records_api;
mod dispatcher;
mod elect_leaders_api;
mod fetch_api;
mod group_admin_api;
mod group_api;
mod groups;
mod log;
mod metadata;
mod produce_api;
mod producers;
mod replica_api;
mod replica_state_api;
mod replicas;
mod sasl;
mod topic_admin_api;
mod topic_config;
mod topics;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::BrokerConfig;
pub use dispatcher::{ANSWERED_APIS, Broker, DispatchError, Parked, Reply};
pub use groups::{CommittedOffset, Group, GroupState, Groups};
pub use log::{Appended, LogChange, NotContiguous, OffsetOutOfRange, PartitionLog};
pub use metadata::{ClusterView, Endpoint, MetadataRecord};
pub use producers::{ProducerBatch, ProducerStates, SequenceCheck};
pub use replica_api::{FetchedPartition, ReplicaFetch, ReplicaFetchPartition, ReplicaFetched};
pub use replicas::{Assignment, Follower, Followers, NO_LEADER};
pub use sasl::{SASL_APIS, SaslError, SaslState};
pub use topics::{Partition, PendingAlter, Topic, TopicError, Topics, check_name};
