//! Several brokers as one Kafka cluster: a Raft metadata quorum co-located
//! with the brokers (KRaft's combined mode), partitions replicated as Kafka
//! replicates them, and every node's state in a write-ahead log on a disk
//! trait. Each node is a sans-I/O state machine (`ClusterNode`): client
//! frames, peer messages and ticks in; responses and peer messages out. The
//! simulation (`server::sim`) and the TCP server (`server::net`) drive it.

pub mod disk;
mod node;
pub mod peer;
mod quorum;
pub mod wal;

pub use node::{ClusterNode, FlushPolicy, NodeConfig, NodeError, Output};
pub use peer::PeerMessage;
pub use quorum::QuorumError;
