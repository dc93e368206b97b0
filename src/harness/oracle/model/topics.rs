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
}

impl TopicModel {
    /// The deletion of the topic with `id` was acknowledged.
    pub fn deleted(&mut self, id: Uuid) {
        if !id.is_nil() {
            self.deleted.insert(id);
        }
    }

    /// CreateTopics created `name` with `id`: a new id, never a deleted
    /// topic's.
    pub fn created(&mut self, at: At, name: &StrBytes, id: Uuid) -> Result<(), Violation> {
        if self.deleted.contains(&id) {
            return Err(violation(
                Invariant::TopicLifecycle,
                at,
                &format!("the id CreateTopics gave {}", name.as_str()),
                "an id no deleted topic had",
                id,
            ));
        }
        self.shown(at, name, id, None)
    }

    /// An answer showed `name` with `id` and, where it says, `partitions`.
    pub fn shown(&mut self, at: At, name: &StrBytes, id: Uuid, partitions: Option<i32>) -> Result<(), Violation> {
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

    #[test]
    fn a_consistent_life_passes() {
        let name = StrBytes::from_static_str("t");
        let (first, second) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut model = TopicModel::default();
        model.created(AT, &name, first).unwrap();
        model.shown(AT, &name, first, Some(1)).unwrap();
        model.shown(AT, &name, first, Some(3)).unwrap();
        model.deleted(first);
        // Metadata may lag the deletion.
        model.shown(AT, &name, first, Some(3)).unwrap();
        model.created(AT, &name, second).unwrap();
        model.shown(AT, &name, second, Some(1)).unwrap();
        model.check_not_superseded(AT, "a fetch", second).unwrap();
    }

    #[test]
    fn topic_lifecycle_catches_a_reused_id_a_served_old_id_and_vanishing_partitions() {
        let name = StrBytes::from_static_str("t");
        let (first, second) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut model = TopicModel::default();
        model.created(AT, &name, first).unwrap();
        model.shown(AT, &name, first, Some(3)).unwrap();
        assert!(detail_of(model.shown(AT, &name, first, Some(2))).contains("partitions never vanish"));
        model.deleted(first);
        assert!(detail_of(model.created(AT, &name, first)).contains("no deleted topic had"));
        model.shown(AT, &name, second, Some(1)).unwrap();
        assert!(detail_of(model.shown(AT, &name, first, Some(3))).contains("UNKNOWN_TOPIC_ID"));
        assert!(detail_of(model.check_not_superseded(AT, "a produce", first)).contains("new id"));
    }
}
