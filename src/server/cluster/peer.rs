//! What cluster nodes say to each other, as bytes: Raft's messages for the
//! metadata quorum, broker heartbeats to the controller, and replica fetches
//! and their answers. Encoded with bincode under a limit of the message's
//! own length, so a hostile peer's counts cannot make a node allocate.

use bincode::Options;
use serde::{Deserialize, Serialize};

use crate::server::broker::{ReplicaFetch, ReplicaFetched};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// A Raft message (protobuf, as raft-rs encodes it).
    Raft(Vec<u8>),
    /// "I am alive": the controller fences brokers it stops hearing from.
    Heartbeat,
    Fetch(ReplicaFetch),
    Fetched(ReplicaFetched),
}

#[derive(Debug, thiserror::Error)]
#[error("undecodable message from node {from} ({len} bytes): {error}")]
pub struct PeerDecodeError {
    pub from: i32,
    pub len: usize,
    pub error: bincode::Error,
}

fn options(limit: usize) -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(limit as u64)
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

/// The one encoding of everything a node sends or writes (peer messages,
/// metadata records, write-ahead log records).
pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing owned data into a Vec cannot fail.
    options(usize::MAX).serialize(value).unwrap_or_default()
}

/// Its inverse, never reading or allocating past `bytes`.
pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, bincode::Error> {
    options(bytes.len()).deserialize(bytes)
}

impl PeerMessage {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(from: i32, bytes: &[u8]) -> Result<Self, PeerDecodeError> {
        decode(bytes).map_err(|error| PeerDecodeError {
            from,
            len: bytes.len(),
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::broker::ReplicaFetchPartition;

    #[test]
    fn messages_survive_encoding() {
        let fetch = PeerMessage::Fetch(ReplicaFetch {
            replica: 2,
            max_bytes: 1024,
            partitions: vec![ReplicaFetchPartition {
                topic: "t".to_owned(),
                partition: 0,
                leader_epoch: 3,
                fetch_offset: 10,
                last_fetched_epoch: 2,
            }],
        });
        for message in [PeerMessage::Heartbeat, PeerMessage::Raft(vec![1, 2, 3]), fetch] {
            assert_eq!(PeerMessage::decode(1, &message.encode()).unwrap(), message);
        }
    }

    #[test]
    fn hostile_bytes_are_refused_without_allocating_their_counts() {
        // Variant Raft, then a length of 2^62 bytes.
        let mut hostile = 0u32.to_le_bytes().to_vec();
        hostile.extend_from_slice(&(1u64 << 62).to_le_bytes());
        assert!(PeerMessage::decode(3, &hostile).is_err());
        let error = PeerMessage::decode(3, &[9, 9]).unwrap_err();
        assert!(error.to_string().contains("node 3"), "{error}");
        let mut trailing = PeerMessage::Heartbeat.encode();
        trailing.push(0);
        assert!(PeerMessage::decode(1, &trailing).is_err());
    }
}
