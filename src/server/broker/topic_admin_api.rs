//! DeleteTopics and CreatePartitions: topics changed through the metadata
//! log, as Kafka's controller changes them (`ReplicationControlManager`).
//! Each change is proposed (applied at once on a broker alone) and the
//! request waits until this broker's image shows it, or its deadline.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::dispatcher::{Answer, Broker, Waiting};
use super::metadata::MetadataRecord;

/// DeleteTopics proposed: the response, and for each proposed deletion its
/// place in it and the topic's id.
#[derive(Debug)]
pub struct PendingDeletions {
    response: DeleteTopicsResponse,
    proposed: Vec<(usize, Uuid)>,
}

/// CreatePartitions proposed: the response, and for each proposed topic its
/// place in it, its id and the partition count asked for.
#[derive(Debug)]
pub struct PendingPartitions {
    response: CreatePartitionsResponse,
    proposed: Vec<(usize, Uuid, i32)>,
}

/// A refusal: Kafka's error and message.
type Refusal = (ResponseError, String);

fn timed_out() -> (i16, Option<StrBytes>) {
    (
        ResponseError::RequestTimedOut.code(),
        Some(StrBytes::from_static_str(
            "the metadata quorum did not commit it in time",
        )),
    )
}

/// How many times each key occurs.
fn occurrences<K: Ord>(keys: impl Iterator<Item = K>) -> BTreeMap<K, usize> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

impl Broker {
    pub(super) fn delete_topics(&mut self, request: DeleteTopicsRequest, version: i16) -> Answer {
        // v6 names each topic by name or by id; before, by name only.
        let named: Vec<(Option<StrBytes>, Uuid)> = if version >= 6 {
            request
                .topics
                .iter()
                .map(|topic| (topic.name.as_ref().map(|name| name.0.clone()), topic.topic_id))
                .collect()
        } else {
            request
                .topic_names
                .iter()
                .map(|name| (Some(name.0.clone()), Uuid::nil()))
                .collect()
        };
        let names = occurrences(named.iter().filter_map(|(name, _)| name.clone()));
        let ids = occurrences(named.iter().map(|(_, id)| *id).filter(|id| !id.is_nil()));
        let mut response = DeleteTopicsResponse::default();
        let mut proposed = Vec::new();
        for (name, id) in named {
            let mut result = DeletableTopicResult::default()
                .with_name(name.clone().map(TopicName))
                .with_topic_id(id);
            match self.deletable(name.as_ref(), id, &names, &ids) {
                Ok(topic) => {
                    let topic = self.topics.by_id(topic).map(|topic| (topic.name.clone(), topic.id));
                    if let Some((name, id)) = topic {
                        result.name = Some(TopicName(name));
                        if version >= 6 {
                            result.topic_id = id;
                        }
                        self.propose(MetadataRecord::DeleteTopic { id: id.as_u128() });
                        proposed.push((response.responses.len(), id));
                    }
                }
                Err((error, message)) => {
                    result.error_code = error.code();
                    if version >= 5 {
                        result.error_message = Some(StrBytes::from_string(message));
                    }
                }
            }
            if version < 6 {
                result.topic_id = Uuid::nil();
            }
            response.responses.push(result);
        }
        let deadline_ms = self.now_ms().saturating_add(i64::from(request.timeout_ms.max(0)));
        self.poll_deleted(PendingDeletions { response, proposed }, version, false)
            .with_deadline(deadline_ms)
    }

    /// Kafka's checks of one DeleteTopics entry: the id of the topic to
    /// delete when it passes.
    fn deletable(
        &self,
        name: Option<&StrBytes>,
        id: Uuid,
        names: &BTreeMap<StrBytes, usize>,
        ids: &BTreeMap<Uuid, usize>,
    ) -> Result<Uuid, Refusal> {
        let invalid = |message: &str| Err((ResponseError::InvalidRequest, message.to_owned()));
        match (name, id.is_nil()) {
            (Some(_), false) => invalid("You may not specify both topic name and topic id."),
            (None, true) => invalid("Neither topic name nor id were specified."),
            (Some(name), true) => {
                if names.get(name).copied().unwrap_or(0) > 1 {
                    return invalid("Duplicate topic name.");
                }
                self.topics.get(name).map(|topic| topic.id).ok_or_else(|| {
                    (
                        ResponseError::UnknownTopicOrPartition,
                        "This server does not host this topic-partition.".to_owned(),
                    )
                })
            }
            (None, false) => {
                if ids.get(&id).copied().unwrap_or(0) > 1 {
                    return invalid("Duplicate topic id.");
                }
                self.topics.by_id(id).map(|topic| topic.id).ok_or_else(|| {
                    (
                        ResponseError::UnknownTopicId,
                        "This server does not host this topic ID.".to_owned(),
                    )
                })
            }
        }
    }

    /// Proposed deletions again: each is answered once the image no longer
    /// has the topic, or at the deadline with REQUEST_TIMED_OUT.
    pub(super) fn poll_deleted(&mut self, pending: PendingDeletions, version: i16, expired: bool) -> Answer {
        let PendingDeletions { mut response, proposed } = pending;
        let mut still = Vec::new();
        for (at, id) in proposed {
            if self.topics.by_id(id).is_none() {
                continue;
            }
            if expired {
                let result = &mut response.responses[at];
                let (code, message) = timed_out();
                result.error_code = code;
                if version >= 5 {
                    result.error_message = message;
                }
            } else {
                still.push((at, id));
            }
        }
        Answer::now_or_wait(response, still.is_empty(), |response| {
            Waiting::DeleteTopics(PendingDeletions {
                response,
                proposed: still,
            })
        })
    }

    pub(super) fn create_partitions(&mut self, request: CreatePartitionsRequest) -> Answer {
        let names = occurrences(request.topics.iter().map(|topic| topic.name.0.clone()));
        let mut response = CreatePartitionsResponse::default();
        let mut proposed = Vec::new();
        for topic in &request.topics {
            let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            let outcome = if names[&topic.name.0] > 1 {
                Err((ResponseError::InvalidRequest, "Duplicate topic name.".to_owned()))
            } else {
                self.partitions_to_add(topic)
            };
            match outcome {
                Ok((id, from, replicas)) => {
                    if !request.validate_only {
                        self.propose(MetadataRecord::CreatePartitions {
                            id: id.as_u128(),
                            from,
                            replicas,
                        });
                        proposed.push((response.results.len(), id, topic.count));
                    }
                }
                Err((error, message)) => {
                    result.error_code = error.code();
                    result.error_message = Some(StrBytes::from_string(message));
                }
            }
            response.results.push(result);
        }
        let deadline_ms = self.now_ms().saturating_add(i64::from(request.timeout_ms.max(0)));
        self.poll_partitions(PendingPartitions { response, proposed }, false)
            .with_deadline(deadline_ms)
    }

    /// Kafka's checks of one CreatePartitions entry: the topic's id, its
    /// partition count and the replicas of each partition to add.
    fn partitions_to_add(&self, request: &CreatePartitionsTopic) -> Result<(Uuid, i32, Vec<Vec<i32>>), Refusal> {
        let name = &request.name.0;
        let topic = self.topics.get(name).ok_or_else(|| {
            (
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            )
        })?;
        let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        let invalid_partitions = |message: String| Err((ResponseError::InvalidPartitions, message));
        if request.count < current {
            return invalid_partitions(format!(
                "The topic {name} currently has {current} partition(s); {} would not be an increase.",
                request.count
            ));
        }
        if request.count == current {
            return invalid_partitions(format!("Topic already has {current} partition(s)."));
        }
        let max = self.config.max_partitions_per_topic;
        if request.count > max {
            return invalid_partitions(format!(
                "Number of partitions must be between 1 and {max}, not {}.",
                request.count
            ));
        }
        let adding = request.count - current;
        let factor = topic
            .partitions
            .first()
            .map_or(1, |partition| partition.assignment.replicas.len());
        let invalid_assignment = |message: String| Err((ResponseError::InvalidReplicaAssignment, message));
        let replicas = match &request.assignments {
            None => match self.place_replicas(adding, factor) {
                Some(placed) => placed,
                None => {
                    return Err((
                        ResponseError::InvalidReplicationFactor,
                        format!(
                            "Unable to replicate the partition {factor} time(s): only {} broker(s) are registered.",
                            self.view.live().count()
                        ),
                    ));
                }
            },
            Some(assignments) => {
                if i32::try_from(assignments.len()) != Ok(adding) {
                    return invalid_assignment(format!(
                        "Attempted to add {adding} additional partition(s), but only {} assignment(s) were specified.",
                        assignments.len()
                    ));
                }
                let mut replicas = Vec::with_capacity(assignments.len());
                for assignment in assignments {
                    let ids: Vec<i32> = assignment.broker_ids.iter().map(|id| id.0).collect();
                    if ids.len() != factor {
                        return invalid_assignment(format!(
                            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {factor} replica(s).",
                            ids.len()
                        ));
                    }
                    if let Some(unknown) = ids.iter().find(|id| !self.view.brokers.contains_key(id)) {
                        return invalid_assignment(format!(
                            "The manual partition assignment includes broker {unknown}, but no such broker is registered."
                        ));
                    }
                    if occurrences(ids.iter()).values().any(|&count| count > 1) {
                        return invalid_assignment(format!(
                            "The manual partition assignment includes the replica list {ids:?} with duplicate brokers."
                        ));
                    }
                    replicas.push(ids);
                }
                replicas
            }
        };
        Ok((topic.id, current, replicas))
    }

    /// Proposed partitions again: each topic is answered once the image has
    /// the count asked for, or at the deadline with REQUEST_TIMED_OUT.
    pub(super) fn poll_partitions(&mut self, pending: PendingPartitions, expired: bool) -> Answer {
        let PendingPartitions { mut response, proposed } = pending;
        let mut still = Vec::new();
        for (at, id, count) in proposed {
            let result = &mut response.results[at];
            match self.topics.by_id(id) {
                // Deleted while its partitions were being added.
                None => {
                    result.error_code = ResponseError::UnknownTopicOrPartition.code();
                    result.error_message = Some(StrBytes::from_static_str("The topic was deleted."));
                }
                Some(topic) if topic.partitions.len() >= usize::try_from(count).unwrap_or(0) => {}
                // A racing change got there first: the record was stale
                // and is dropped, so the count is not reached.
                Some(_) if expired => (result.error_code, result.error_message) = timed_out(),
                Some(_) => still.push((at, id, count)),
            }
        }
        Answer::now_or_wait(response, still.is_empty(), |response| {
            Waiting::CreatePartitions(PendingPartitions {
                response,
                proposed: still,
            })
        })
    }
}
