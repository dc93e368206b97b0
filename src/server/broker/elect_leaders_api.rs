//! ElectLeaders: a preferred-leader election (the first replica leads again
//! once it is back in sync, as after a failover), or an "unclean" one for a
//! partition without a leader. Kafka's controller commits the change as a
//! partition record; here the broker proposes an AlterPartition naming the
//! leader, and answers once its image shows it, or at the deadline.
//!
//! One departure, on purpose: an unclean election still elects only from
//! the ISR (Kafka's may pick an out-of-sync replica and lose acknowledged
//! records), so the reference cluster never loses what it acknowledged.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::{Answer, Broker, Waiting};
use super::metadata::MetadataRecord;
use super::replicas::NO_LEADER;

/// Kafka's `ElectionType`.
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

/// ElectLeaders proposed: the response, and each proposed election.
#[derive(Debug)]
pub struct PendingElections {
    response: ElectLeadersResponse,
    proposed: Vec<ProposedElection>,
}

/// One election proposed: its result's place in the response (topic, then
/// partition), the partition, and the leader proposed.
#[derive(Debug)]
struct ProposedElection {
    at: (usize, usize),
    topic: StrBytes,
    index: i32,
    leader: i32,
}

/// An election this broker can propose, or why not.
type Election = Result<i32, (ResponseError, &'static str)>;

impl Broker {
    pub(super) fn elect_leaders(&mut self, request: ElectLeadersRequest, version: i16) -> Answer {
        let election_type = if version >= 1 { request.election_type } else { PREFERRED };
        let mut response = ElectLeadersResponse::default();
        if election_type != PREFERRED && election_type != UNCLEAN {
            response.error_code = ResponseError::InvalidRequest.code();
            return Answer::Now(response.into());
        }
        // Null: every partition, answered only where an election was needed.
        let every = request.topic_partitions.is_none();
        let asked: Vec<(TopicName, Vec<i32>)> = match request.topic_partitions {
            Some(topics) => topics.into_iter().map(|t| (t.topic, t.partitions)).collect(),
            None => self
                .topics
                .iter()
                .map(|topic| (topic.name.clone().into(), (0..).take(topic.partitions.len()).collect()))
                .collect(),
        };
        let mut proposed = Vec::new();
        for (topic, partitions) in asked {
            let mut results = Vec::new();
            for index in partitions {
                let election = self.election(&topic.0, index, election_type);
                if every && matches!(election, Err((ResponseError::ElectionNotNeeded, _))) {
                    continue;
                }
                let mut result = PartitionResult::default().with_partition_id(index);
                match election {
                    Ok(leader) => {
                        self.propose_leader(&topic.0, index, leader);
                        proposed.push(ProposedElection {
                            at: (response.replica_election_results.len(), results.len()),
                            topic: topic.0.clone(),
                            index,
                            leader,
                        });
                    }
                    Err((error, message)) => {
                        result.error_code = error.code();
                        result.error_message = Some(StrBytes::from_static_str(message));
                    }
                }
                results.push(result);
            }
            if !(every && results.is_empty()) {
                response.replica_election_results.push(
                    ReplicaElectionResult::default()
                        .with_topic(topic)
                        .with_partition_result(results),
                );
            }
        }
        let deadline_ms = self.now_ms().saturating_add(i64::from(request.timeout_ms.max(0)));
        self.poll_elected(PendingElections { response, proposed }, false)
            .with_deadline(deadline_ms)
    }

    /// The leader an election of `topic`/`index` would pick, or Kafka's
    /// reason not to hold one.
    fn election(&self, topic: &StrBytes, index: i32, election_type: i8) -> Election {
        let partition = self
            .topics
            .replica(topic, index)
            .ok_or((ResponseError::UnknownTopicOrPartition, "The partition does not exist."))?;
        let assignment = &partition.assignment;
        let live = |id: i32| self.view.brokers.contains_key(&id) && !self.view.fenced.contains(&id);
        if election_type == UNCLEAN {
            if assignment.leader != NO_LEADER {
                return Err((ResponseError::ElectionNotNeeded, "The partition has a leader."));
            }
            return match assignment.elect(live) {
                NO_LEADER => Err((
                    ResponseError::EligibleLeadersNotAvailable,
                    "No in-sync replica is alive.",
                )),
                leader => Ok(leader),
            };
        }
        let preferred = assignment.replicas.first().copied().unwrap_or(NO_LEADER);
        if assignment.leader == preferred {
            return Err((ResponseError::ElectionNotNeeded, "The preferred replica leads."));
        }
        if !assignment.isr.contains(&preferred) || !live(preferred) {
            return Err((
                ResponseError::PreferredLeaderNotAvailable,
                "The preferred replica is not in sync or not alive.",
            ));
        }
        Ok(preferred)
    }

    /// Proposes `leader` for `topic`/`index` at its current partition epoch:
    /// a change racing it first makes it stale, and it is dropped.
    fn propose_leader(&mut self, topic: &StrBytes, index: i32, leader: i32) {
        let Some(partition) = self.topics.replica(topic, index) else {
            return;
        };
        let assignment = &partition.assignment;
        let record = MetadataRecord::AlterPartition {
            topic: topic.to_string(),
            partition: index,
            partition_epoch: assignment.partition_epoch,
            isr: assignment.isr.clone(),
            leader: Some(leader),
        };
        self.propose(record);
    }

    /// Proposed elections again: each is answered once the image shows its
    /// leader, or at the deadline with REQUEST_TIMED_OUT.
    pub(super) fn poll_elected(&mut self, pending: PendingElections, expired: bool) -> Answer {
        let PendingElections { mut response, proposed } = pending;
        let mut still = Vec::new();
        for election in proposed {
            let shown = self
                .topics
                .replica(&election.topic, election.index)
                .map(|partition| partition.assignment.leader);
            let (topic_at, partition_at) = election.at;
            let result = &mut response.replica_election_results[topic_at].partition_result[partition_at];
            match shown {
                Some(shown) if shown == election.leader => {}
                None => {
                    result.error_code = ResponseError::UnknownTopicOrPartition.code();
                    result.error_message = Some(StrBytes::from_static_str("The topic was deleted."));
                }
                Some(_) if expired => {
                    result.error_code = ResponseError::RequestTimedOut.code();
                    result.error_message = Some(StrBytes::from_static_str(
                        "the metadata quorum did not commit the election in time",
                    ));
                }
                Some(_) => still.push(election),
            }
        }
        Answer::now_or_wait(response, still.is_empty(), |response| {
            Waiting::ElectLeaders(PendingElections {
                response,
                proposed: still,
            })
        })
    }
}
