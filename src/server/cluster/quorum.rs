//! The metadata quorum: TiKV's `raft` crate (the Raft of TiKV and Chronik
//! Stream), driven sans-I/O. It takes ticks and messages and hands back, in
//! each `Ready`, what to persist, what to send and what was committed; the
//! node persists before it sends or applies anything.

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, EntryType, HardState, Message, MessageType};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole, Storage};

/// Raft ticks without a leader's heartbeat before a follower stands for
/// election; each voter gets its own timeout (raft-rs would otherwise draw
/// it from the thread's random generator, and a run would not replay).
const ELECTION_TICKS: usize = 10;
const HEARTBEAT_TICKS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("undecodable raft message from node {from}: {error}")]
    Message { from: i32, error: protobuf::ProtobufError },
}

/// What the quorum asks of its node after an input.
#[derive(Debug, Default)]
pub struct QuorumReady {
    /// New log entries, protobuf-encoded, to make durable (in order, each
    /// replacing any entry at its index and after).
    pub entries: Vec<Vec<u8>>,
    /// The term, vote and commit index to make durable.
    pub hard_state: Option<(u64, u64, u64)>,
    /// Messages to send once the above is durable: (to, bytes).
    pub messages: Vec<(i32, Vec<u8>)>,
    /// Committed proposals, in order, to apply.
    pub committed: Vec<Vec<u8>>,
}

pub struct MetadataQuorum {
    node: RawNode<MemStorage>,
}

impl MetadataQuorum {
    /// A voter among `voters`, from what its write-ahead log kept (entries
    /// in the order they were written, the last hard state); entries up to
    /// `applied` are already in the node's image.
    pub fn new(
        id: i32,
        voters: &[i32],
        entries: &[Vec<u8>],
        hard_state: Option<(u64, u64, u64)>,
        applied: u64,
    ) -> Result<Self, QuorumError> {
        let voters: Vec<u64> = voters.iter().map(|&v| v as u64).collect();
        let storage = MemStorage::new_with_conf_state(ConfState::from((voters, Vec::new())));
        for encoded in entries {
            let entry = Entry::parse_from_bytes(encoded).map_err(|error| QuorumError::Message { from: id, error })?;
            storage.wl().append(&[entry])?;
        }
        if let Some((term, vote, commit)) = hard_state {
            storage.wl().set_hardstate(HardState {
                term,
                vote,
                commit,
                ..HardState::default()
            });
        }
        Self::on_storage(id, storage, applied)
    }

    fn on_storage(id: i32, storage: MemStorage, applied: u64) -> Result<Self, QuorumError> {
        let timeout = ELECTION_TICKS + 3 * usize::try_from(id.max(0)).unwrap_or(0);
        let config = Config {
            id: id as u64,
            election_tick: timeout,
            min_election_tick: timeout,
            max_election_tick: timeout + 1,
            heartbeat_tick: HEARTBEAT_TICKS,
            applied,
            pre_vote: true,
            check_quorum: true,
            max_inflight_msgs: 256,
            ..Config::default()
        };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let node = RawNode::new(&config, storage, &logger)?;
        Ok(Self { node })
    }

    /// A voter in this one's state, sharing nothing with it: the same log,
    /// hard state and applied index, and the same role (the leader leads
    /// again, at its term, from a fresh empty entry; a follower follows the
    /// same leader). Raft's volatile state is not copied: progress is probed
    /// anew, timers start over. What a simulation needs to start many runs
    /// from one elected quorum instead of electing it for each.
    pub fn fork(&self) -> Result<Self, QuorumError> {
        let raft = &self.node.raft;
        let id = i32::try_from(raft.id).unwrap_or(-1);
        let store = self.node.store();
        let state = store.initial_state()?;
        let storage = MemStorage::new_with_conf_state(state.conf_state);
        let (first, last) = (store.first_index()?, store.last_index()?);
        if last >= first {
            let entries = store.entries(first, last + 1, u64::MAX, raft::GetEntriesContext::empty(false))?;
            storage.wl().append(&entries)?;
        }
        storage.wl().set_hardstate(state.hard_state);
        let mut fork = Self::on_storage(id, storage, raft.raft_log.applied)?;
        match raft.state {
            StateRole::Leader => {
                // raft-rs leads only from candidacy; the term and vote are
                // the hard state's already.
                fork.node.raft.state = StateRole::Candidate;
                fork.node.raft.become_leader();
            }
            _ if raft.leader_id != 0 => fork.node.raft.become_follower(raft.term, raft.leader_id),
            _ => {}
        }
        Ok(fork)
    }

    /// The committed entries a recovering node must apply, from its storage.
    pub fn committed_on_disk(&self) -> Vec<Vec<u8>> {
        let store = self.node.store();
        let commit = store.rl().hard_state().commit;
        let first = store.first_index().unwrap_or(1);
        if commit < first {
            return Vec::new();
        }
        store
            .entries(first, commit + 1, u64::MAX, raft::GetEntriesContext::empty(false))
            .unwrap_or_default()
            .into_iter()
            .filter_map(proposal)
            .collect()
    }

    pub fn tick(&mut self) {
        self.node.tick();
    }

    pub fn step(&mut self, from: i32, bytes: &[u8]) -> Result<(), QuorumError> {
        let message = Message::parse_from_bytes(bytes).map_err(|error| QuorumError::Message { from, error })?;
        // A message claiming to be from another node is refused: only the
        // network knows who sent it. raft-rs aborts on a heartbeat that
        // commits past its log, which no leader sends; and this quorum never
        // compacts its log, so no snapshot is ever due.
        let forged = message.from != from as u64
            || message.get_msg_type() == MessageType::MsgSnapshot
            || (message.get_msg_type() == MessageType::MsgHeartbeat
                && message.commit > self.node.raft.raft_log.last_index());
        if forged {
            return Ok(());
        }
        match self.node.step(message) {
            Ok(()) | Err(raft::Error::StepPeerNotFound | raft::Error::StepLocalMsg) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Proposes a record; raft forwards it to the leader, or drops it when
    /// there is none (the proposer retries on its own timer).
    pub fn propose(&mut self, data: Vec<u8>) {
        // ProposalDropped: no leader known; the caller retries.
        let _ = self.node.propose(Vec::new(), data);
    }

    /// The leader as this voter knows it, -1 for none.
    pub fn leader(&self) -> i32 {
        match self.node.raft.leader_id {
            0 => -1,
            id => i32::try_from(id).unwrap_or(-1),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.node.raft.state == StateRole::Leader
    }

    pub fn term(&self) -> u64 {
        self.node.raft.term
    }

    /// Everything raft wants done now; the node persists `entries` and
    /// `hard_state`, then sends and applies.
    pub fn ready(&mut self) -> Result<Option<QuorumReady>, QuorumError> {
        if !self.node.has_ready() {
            return Ok(None);
        }
        let mut out = QuorumReady::default();
        let mut ready = self.node.ready();
        let store = self.node.store().clone();
        send(&mut out, ready.take_messages());
        out.committed
            .extend(ready.take_committed_entries().into_iter().filter_map(proposal));
        if !ready.entries().is_empty() {
            for entry in ready.entries() {
                out.entries.push(entry.write_to_bytes().unwrap_or_default());
            }
            store.wl().append(ready.entries())?;
        }
        if let Some(state) = ready.hs() {
            out.hard_state = Some((state.term, state.vote, state.commit));
            store.wl().set_hardstate(state.clone());
        }
        send(&mut out, ready.take_persisted_messages());
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            let mut state = store.rl().hard_state().clone();
            state.commit = commit;
            out.hard_state = Some((state.term, state.vote, state.commit));
            store.wl().set_hardstate(state);
        }
        send(&mut out, light.take_messages());
        out.committed
            .extend(light.take_committed_entries().into_iter().filter_map(proposal));
        self.node.advance_apply();
        Ok(Some(out))
    }
}

fn send(out: &mut QuorumReady, messages: Vec<Message>) {
    for message in messages {
        let to = i32::try_from(message.to).unwrap_or(-1);
        out.messages.push((to, message.write_to_bytes().unwrap_or_default()));
    }
}

/// A committed entry's proposal: the empty entries a new leader commits and
/// configuration changes carry none.
fn proposal(entry: Entry) -> Option<Vec<u8>> {
    (entry.get_entry_type() == EntryType::EntryNormal && !entry.data.is_empty()).then(|| entry.data.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(message: &Message) -> Vec<u8> {
        message.write_to_bytes().unwrap()
    }

    #[test]
    fn forged_messages_are_dropped_not_fatal() {
        let mut quorum = MetadataQuorum::new(1, &[1, 2, 3], &[], None, 0).unwrap();
        // A heartbeat committing far past the log (raft-rs aborts on it).
        let mut heartbeat = Message::default();
        heartbeat.set_msg_type(MessageType::MsgHeartbeat);
        heartbeat.from = 2;
        heartbeat.to = 1;
        heartbeat.term = 1;
        heartbeat.commit = 1_000;
        quorum.step(2, &bytes(&heartbeat)).unwrap();
        // A snapshot this quorum never sends.
        let mut snapshot = heartbeat.clone();
        snapshot.set_msg_type(MessageType::MsgSnapshot);
        quorum.step(2, &bytes(&snapshot)).unwrap();
        // A message claiming another sender than the link's.
        quorum.step(3, &bytes(&heartbeat)).unwrap();
        assert!(quorum.step(2, b"not protobuf \xff\xff").is_err());
        assert_eq!(quorum.leader(), -1, "nothing was taken as a leader's word");
    }
}
