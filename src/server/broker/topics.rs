//! The cluster view of a single node: topics, their ids and partitions.

use std::sync::Arc;

use indexmap::IndexMap;
use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::log::PartitionLog;
use super::replicas::{Assignment, Followers};
use super::topic_config::TopicConfig;

/// Kafka's limit on a topic name's length.
const MAX_NAME_LENGTH: usize = 249;
/// Topic ids are counted, not random, so a run is reproducible; the high
/// half keeps them clear of the ids Kafka reserves (all-zero, one).
const TOPIC_ID_PREFIX: u64 = 0x6b61_666b_612d_6675;

#[derive(Debug, Clone)]
pub struct Topic {
    pub name: StrBytes,
    pub id: Uuid,
    pub partitions: Vec<Partition>,
    /// The CreateTopics request that made it, on a cluster: lets the node
    /// that proposed the topic tell its own creation from a racing one.
    pub created_by: Option<u64>,
    pub config: TopicConfig,
}

/// One partition on this broker: its replica of the log, who holds and
/// leads it (shared with the brokers forked from this one until it
/// changes: a fuzz target forks a broker per input), and (while this broker
/// leads) its followers.
#[derive(Debug, Clone)]
pub struct Partition {
    pub log: PartitionLog,
    pub assignment: Arc<Assignment>,
    pub followers: Followers,
    /// An ISR change this leader proposed and has not seen applied.
    pub alter_sent: Option<PendingAlter>,
}

/// A proposed ISR change: until it is applied, or the partition epoch it was
/// computed from is gone, it may still commit, so the leader counts its
/// joining replicas in the high watermark (Kafka's "maximal ISR") and
/// proposes it again rather than anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlter {
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
    pub sent_ms: i64,
}

/// A refused topic creation: the Kafka error and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    pub error: ResponseError,
    pub message: String,
}

impl TopicError {
    fn new(error: ResponseError, message: String) -> Self {
        Self { error, message }
    }
}

/// Every topic, in creation order (responses list them in that order).
#[derive(Debug, Clone, Default)]
pub struct Topics {
    by_name: IndexMap<StrBytes, Topic>,
    /// Topics ever created: the next id, so a re-created name gets a new one.
    created: u64,
    /// Logs keep their changes for a write-ahead log (a cluster node's).
    journaled: bool,
}

impl Topics {
    /// Topics whose logs are kept by a write-ahead log.
    pub fn journaled() -> Self {
        Self {
            journaled: true,
            ..Self::default()
        }
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Topic> {
        self.by_name.values_mut()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Topic> {
        self.by_name.values()
    }

    pub fn get(&self, name: &StrBytes) -> Option<&Topic> {
        self.by_name.get(name)
    }

    pub fn by_id(&self, id: Uuid) -> Option<&Topic> {
        self.by_name.values().find(|topic| topic.id == id)
    }

    /// The name of the topic a request means: by `id` where the request
    /// version names topics by id (Produce and Fetch from v13), else `name`;
    /// `None` for an unknown id.
    pub fn resolve(&self, by_id: bool, name: &StrBytes, id: Uuid) -> Option<StrBytes> {
        if by_id {
            self.by_id(id).map(|topic| topic.name.clone())
        } else {
            Some(name.clone())
        }
    }

    pub fn partition(&self, name: &StrBytes, index: i32) -> Option<&PartitionLog> {
        let index = usize::try_from(index).ok()?;
        self.get(name)?.partitions.get(index).map(|partition| &partition.log)
    }

    pub fn replica(&self, name: &StrBytes, index: i32) -> Option<&Partition> {
        let index = usize::try_from(index).ok()?;
        self.get(name)?.partitions.get(index)
    }

    pub fn partition_mut(&mut self, name: &StrBytes, index: i32) -> Option<&mut Partition> {
        let index = usize::try_from(index).ok()?;
        self.by_name.get_mut(name)?.partitions.get_mut(index)
    }

    /// Kafka's rules for a new topic: a legal name that collides with no
    /// other (`.` and `_` are the same in metric names), and a partition
    /// count within bounds.
    pub fn check_new(&self, name: &StrBytes, partitions: i32, max_partitions: i32) -> Result<(), TopicError> {
        check_name(name)?;
        if self.by_name.contains_key(name) {
            return Err(TopicError::new(
                ResponseError::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let metric_name = |name: &str| name.replace('.', "_");
        if let Some(other) = self
            .by_name
            .keys()
            .find(|other| metric_name(other) == metric_name(name))
        {
            return Err(TopicError::new(
                ResponseError::InvalidTopicException,
                format!("Topic '{name}' collides with existing topic: {}", &**other),
            ));
        }
        if !(1..=max_partitions).contains(&partitions) {
            return Err(TopicError::new(
                ResponseError::InvalidPartitions,
                format!("Number of partitions must be between 1 and {max_partitions}, not {partitions}."),
            ));
        }
        Ok(())
    }

    /// Creates a topic that passed `check_new`, a partition per assignment.
    /// Ids are counted over every topic ever created, so every node that
    /// applies the same metadata log gives the same ids.
    pub fn create(&mut self, name: StrBytes, assignments: Vec<Assignment>, created_by: Option<u64>) -> &Topic {
        self.created += 1;
        let id = Uuid::from_u64_pair(TOPIC_ID_PREFIX, self.created);
        let partitions = self.new_partitions(assignments);
        self.by_name.entry(name.clone()).or_insert(Topic {
            name,
            id,
            partitions,
            created_by,
            config: TopicConfig::default(),
        })
    }

    /// Removes the topic with `id`, its partitions and their logs; whether
    /// there was one.
    pub fn delete(&mut self, id: Uuid) -> bool {
        let Some(index) = self.by_name.values().position(|topic| topic.id == id) else {
            return false;
        };
        // `shift_remove` keeps the others in creation order.
        self.by_name.shift_remove_index(index);
        true
    }

    /// The topic with `id`, to change.
    pub fn by_id_mut(&mut self, id: Uuid) -> Option<&mut Topic> {
        self.by_name.values_mut().find(|topic| topic.id == id)
    }

    /// Adds a partition per assignment to the topic with `id`.
    pub fn add_partitions(&mut self, id: Uuid, assignments: Vec<Assignment>) {
        let partitions = self.new_partitions(assignments);
        if let Some(topic) = self.by_name.values_mut().find(|topic| topic.id == id) {
            topic.partitions.extend(partitions);
        }
    }

    /// Empty partitions, one per assignment.
    fn new_partitions(&self, assignments: Vec<Assignment>) -> Vec<Partition> {
        // Partitions placed alike share one assignment until one changes.
        let mut shared: Option<Arc<Assignment>> = None;
        assignments
            .into_iter()
            .map(|assignment| {
                let assignment = match shared.take() {
                    Some(last) if *last == assignment => last,
                    _ => Arc::new(assignment),
                };
                shared = Some(Arc::clone(&assignment));
                Partition {
                    log: if self.journaled {
                        PartitionLog::journaled()
                    } else {
                        PartitionLog::default()
                    },
                    assignment,
                    followers: Followers::default(),
                    alter_sent: None,
                }
            })
            .collect()
    }
}

/// Kafka's `Topic.validate`: 1 to 249 characters of `[a-zA-Z0-9._-]`, and
/// neither `.` nor `..`.
pub fn check_name(name: &str) -> Result<(), TopicError> {
    let invalid = |reason: String| TopicError::new(ResponseError::InvalidTopicException, reason);
    if name.is_empty() {
        return Err(invalid("Topic name is illegal, it can't be empty".to_owned()));
    }
    if name == "." || name == ".." {
        return Err(invalid("Topic name cannot be \".\" or \"..\"".to_owned()));
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(invalid(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-': {bad:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafkas_rules() {
        for good in ["a", "topic-a", "Topic_1.x", &"x".repeat(249)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", "a b", "topic/a", "é", &"x".repeat(250)] {
            let refused = check_name(bad).unwrap_err();
            assert_eq!(refused.error, ResponseError::InvalidTopicException, "{bad}");
        }
    }

    #[test]
    fn creation_checks_duplicates_collisions_and_partitions() {
        let mut topics = Topics::default();
        let a = topics.create(
            StrBytes::from_static_str("a.b"),
            vec![Assignment::new(vec![1]); 2],
            None,
        );
        assert_eq!(a.partitions.len(), 2);
        let refused = |name: &'static str, partitions| {
            topics
                .check_new(&StrBytes::from_static_str(name), partitions, 10)
                .unwrap_err()
                .error
        };
        assert_eq!(refused("a.b", 1), ResponseError::TopicAlreadyExists);
        assert_eq!(refused("a_b", 1), ResponseError::InvalidTopicException);
        assert_eq!(refused("c", 0), ResponseError::InvalidPartitions);
        assert_eq!(refused("c", 11), ResponseError::InvalidPartitions);
        assert_eq!(topics.check_new(&StrBytes::from_static_str("c"), 10, 10), Ok(()));
    }

    #[test]
    fn ids_are_distinct_and_stable() {
        let mut topics = Topics::default();
        let first = topics
            .create(StrBytes::from_static_str("a"), vec![Assignment::new(vec![1])], None)
            .id;
        let second = topics
            .create(StrBytes::from_static_str("b"), vec![Assignment::new(vec![1])], None)
            .id;
        assert_ne!(first, second);
        assert_eq!(topics.by_id(second).unwrap().name.as_str(), "b");
        let mut again = Topics::default();
        assert_eq!(
            again
                .create(StrBytes::from_static_str("a"), vec![Assignment::new(vec![1])], None)
                .id,
            first
        );
        assert!(topics.by_id(Uuid::nil()).is_none());
    }

    #[test]
    fn a_topic_created_again_after_deletion_starts_empty_with_a_new_id() {
        let mut topics = Topics::default();
        let name = StrBytes::from_static_str("a");
        let first = topics.create(name.clone(), vec![Assignment::new(vec![1])], None).id;
        topics.create(StrBytes::from_static_str("b"), vec![Assignment::new(vec![1])], None);
        assert!(topics.delete(first));
        assert!(!topics.delete(first));
        assert!(topics.get(&name).is_none());
        let again = topics.create(name.clone(), vec![Assignment::new(vec![1]); 2], None).id;
        assert_ne!(again, first);
        assert_eq!(topics.get(&name).unwrap().partitions.len(), 2);
        let order: Vec<_> = topics.iter().map(|topic| topic.name.to_string()).collect();
        assert_eq!(order, ["b", "a"]);
        topics.add_partitions(again, vec![Assignment::new(vec![1])]);
        assert_eq!(topics.get(&name).unwrap().partitions.len(), 3);
    }
}
