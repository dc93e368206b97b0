//! The model of topics as admin requests change them: the ids a server
//! gives them and the partitions they have. Only what one server's answers
//! must agree on is checked: a server's metadata may lag its own admin
//! answers (Kafka's broker image does), so a deletion counts as shown once
//! the server shows the topic's successor, not once it is acknowledged.

use std::collections::{HashMap, HashSet};

use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{At, Invariant, violation};
use crate::harness::oracle::Violation;

#[derive(Debug, Clone, Default)]
pub struct TopicModel {
    /// Ids of topics whose deletion was acknowledged.
    deleted: HashSet<Uuid>,
    /// Deleted ids whose name the server has since shown with another id:
    /// never served again.
    superseded: HashSet<Uuid>,
    /// The id each name last showed.
    current: HashMap<StrBytes, Uuid>,
    /// The most partitions an answer showed for each id.
    partitions: HashMap<Uuid, i32>,
    /// Names the server showed existing (under an id not deleted), and
    /// whose deletion was not acknowledged since.
    existing: HashSet<StrBytes>,
}

/// A topic as a Metadata answer shows it without an error.
#[derive(Debug, Clone)]
pub struct ShownTopic<'a> {
    pub name: &'a StrBytes,
    /// Nil before Metadata v10.
    pub id: Uuid,
    /// Each partition's index and leader.
    pub partitions: Vec<(i32, i32)>,
}

impl TopicModel {
    /// `names` exist before the session's first request.
    pub fn existing_at_start(&mut self, names: &[&'static str]) {
        // Static: no allocation on the session target's per-input path.
        self.existing
            .extend(names.iter().map(|&name| StrBytes::from_static_str(name)));
    }

    /// The deletion of `name` (with `id`, nil if unknown) was acknowledged.
    pub fn deleted(&mut self, name: &StrBytes, id: Uuid) {
        self.existing.remove(name);
        if !id.is_nil() {
            self.deleted.insert(id);
        }
    }

    /// A frame the model cannot read may have deleted any topic.
    pub fn unknown_deletion(&mut self) {
        self.existing.clear();
    }

    /// CreateTopics created `name` with `id` (nil before v7) and, where the
    /// answer says (v5+), `answered` partitions, `asked` having been asked:
    /// a name that exists is refused, the partitions are those asked for,
    /// the id is new.
    pub fn created(
        &mut self,
        at: At,
        name: &StrBytes,
        id: Uuid,
        (asked, answered): (i32, Option<i32>),
    ) -> Result<(), Violation> {
        if self.existing.contains(name) {
            return Err(violation(
                Invariant::MetadataAgrees,
                at,
                &format!("CreateTopics of {}, which exists", name.as_str()),
                "TOPIC_ALREADY_EXISTS",
                "success",
            ));
        }
        if let Some(answered) = answered.filter(|&answered| answered != asked) {
            return Err(violation(
                Invariant::MetadataAgrees,
                at,
                &format!("the partitions CreateTopics created for {}", name.as_str()),
                asked,
                answered,
            ));
        }
        self.existing.insert(name.clone());
        if id.is_nil() {
            return Ok(());
        }
        if self.deleted.contains(&id) {
            return Err(violation(
                Invariant::TopicLifecycle,
                at,
                &format!("the id CreateTopics gave {}", name.as_str()),
                "an id no deleted topic had",
                id,
            ));
        }
        self.partitions.insert(id, asked);
        self.shown(at, name, id, None)
    }

    /// A Metadata answer listing `brokers` showed `topic`: partitions
    /// numbered 0 to n-1, once each, each led by a listed broker or by none.
    pub fn metadata(&mut self, at: At, brokers: &[i32], topic: &ShownTopic) -> Result<(), Violation> {
        let name = topic.name.as_str();
        let mut indexes: Vec<i32> = topic.partitions.iter().map(|&(index, _)| index).collect();
        indexes.sort_unstable();
        if indexes.iter().zip(0..).any(|(&index, expected)| index != expected) {
            return Err(violation(
                Invariant::MetadataAgrees,
                at,
                &format!("the partitions of {name}"),
                format!("0 to {}, once each", indexes.len() as i64 - 1),
                format!("{indexes:?}"),
            ));
        }
        let unknown = topic
            .partitions
            .iter()
            .find(|(_, leader)| *leader != -1 && !brokers.contains(leader));
        if let Some((index, leader)) = unknown {
            return Err(violation(
                Invariant::MetadataAgrees,
                at,
                &format!("the leader of {name}/{index}"),
                format!("a broker the answer lists ({brokers:?}) or none (-1)"),
                leader,
            ));
        }
        if !topic.id.is_nil() && !self.deleted.contains(&topic.id) {
            self.existing.insert(topic.name.clone());
        }
        let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        self.shown(at, topic.name, topic.id, Some(count))
    }

    /// An answer showed `name` with `id` and, where it says, `partitions`.
    fn shown(&mut self, at: At, name: &StrBytes, id: Uuid, partitions: Option<i32>) -> Result<(), Violation> {
        if id.is_nil() {
            return Ok(());
        }
        self.check_not_superseded(at, &format!("Metadata of {}", name.as_str()), id)?;
        if let Some(previous) = self.current.insert(name.clone(), id)
            && previous != id
            && self.deleted.contains(&previous)
        {
            self.superseded.insert(previous);
        }
        let Some(partitions) = partitions else {
            return Ok(());
        };
        let most = self.partitions.entry(id).or_insert(partitions);
        if partitions < *most {
            return Err(violation(
                Invariant::TopicLifecycle,
                at,
                &format!("the partitions of {} (id {id})", name.as_str()),
                format!("{} or more: partitions never vanish", *most),
                partitions,
            ));
        }
        *most = partitions;
        Ok(())
    }

    /// `what`, a request naming its topic by `id`, succeeded.
    pub fn check_not_superseded(&self, at: At, what: &str, id: Uuid) -> Result<(), Violation> {
        if self.superseded.contains(&id) {
            return Err(violation(
                Invariant::TopicLifecycle,
                at,
                what,
                format!("UNKNOWN_TOPIC_ID: topic id {id} was deleted and its name has a new id"),
                "success",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: At = At(4);

    fn detail_of(result: Result<(), Violation>) -> String {
        let violation = result.expect_err("a violation");
        assert!(violation.detail.starts_with("topic-lifecycle"), "{}", violation.detail);
        violation.detail
    }

    fn shown(name: &StrBytes, id: Uuid, partitions: i32) -> ShownTopic<'_> {
        ShownTopic {
            name,
            id,
            partitions: (0..partitions).map(|index| (index, 1)).collect(),
        }
    }

    #[test]
    fn metadata_agrees_catches_odd_partitions_unknown_leaders_and_a_second_creation() {
        let name = StrBytes::from_static_str("t");
        let id = Uuid::from_u128(1);
        let mut model = TopicModel::default();
        let metadata_violation = |result: Result<(), Violation>| {
            let violation = result.expect_err("a violation");
            assert!(violation.detail.starts_with("metadata-agrees"), "{}", violation.detail);
            violation.detail
        };
        let mut odd = shown(&name, id, 3);
        odd.partitions[2].0 = 1;
        assert!(metadata_violation(model.metadata(AT, &[1], &odd)).contains("expected 0 to 2, once each"));
        let mut led = shown(&name, id, 2);
        led.partitions[1].1 = 7;
        assert!(metadata_violation(model.metadata(AT, &[1, 2], &led)).contains("the leader of t/1"));
        led.partitions[1].1 = -1;
        model.metadata(AT, &[1, 2], &led).unwrap();
        // Shown existing: created again is refused; deleted, it may be.
        let detail = metadata_violation(model.created(AT, &name, Uuid::from_u128(2), (1, None)));
        assert!(detail.contains("expected TOPIC_ALREADY_EXISTS"), "{detail}");
        model.deleted(&name, id);
        let detail = metadata_violation(model.created(AT, &name, Uuid::from_u128(2), (4, Some(3))));
        assert!(detail.contains("expected 4, got 3"), "{detail}");
        model.created(AT, &name, Uuid::from_u128(2), (4, Some(4))).unwrap();
    }

    #[test]
    fn a_consistent_life_passes() {
        let name = StrBytes::from_static_str("t");
        let (first, second) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut model = TopicModel::default();
        model.created(AT, &name, first, (1, Some(1))).unwrap();
        model.metadata(AT, &[1], &shown(&name, first, 1)).unwrap();
        model.metadata(AT, &[1], &shown(&name, first, 3)).unwrap();
        model.deleted(&name, first);
        // Metadata may lag the deletion.
        model.metadata(AT, &[1], &shown(&name, first, 3)).unwrap();
        model.created(AT, &name, second, (1, None)).unwrap();
        model.metadata(AT, &[1], &shown(&name, second, 1)).unwrap();
        model.check_not_superseded(AT, "a fetch", second).unwrap();
    }

    #[test]
    fn topic_lifecycle_catches_a_reused_id_a_served_old_id_and_vanishing_partitions() {
        let name = StrBytes::from_static_str("t");
        let (first, second) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut model = TopicModel::default();
        model.created(AT, &name, first, (3, Some(3))).unwrap();
        assert!(detail_of(model.metadata(AT, &[1], &shown(&name, first, 2))).contains("partitions never vanish"));
        model.deleted(&name, first);
        assert!(detail_of(model.created(AT, &name, first, (1, None))).contains("no deleted topic had"));
        model.metadata(AT, &[1], &shown(&name, second, 1)).unwrap();
        assert!(detail_of(model.metadata(AT, &[1], &shown(&name, first, 3))).contains("UNKNOWN_TOPIC_ID"));
        assert!(detail_of(model.check_not_superseded(AT, "a produce", first)).contains("new id"));
    }
}
