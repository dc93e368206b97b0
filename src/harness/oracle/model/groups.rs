//! The model of consumer groups: generations, who may act in them, the
//! assignments their leaders made, and committed offsets.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;

use super::{At, Invariant, TopicPartition, show_bytes, violation};
use crate::harness::oracle::Violation;

#[derive(Debug, Clone, Default)]
struct GroupRecord {
    /// The newest generation any join answered.
    generation: Option<i32>,
    /// Members that left and have not joined again.
    left: HashSet<StrBytes>,
    /// The assignments the leader of a generation made.
    assignments: Option<(i32, HashMap<StrBytes, Bytes>)>,
    /// A join was sent whose answer was never read: a generation the model
    /// did not see may exist.
    unseen_join: bool,
}

/// Every group a session touched, and the offsets committed to them.
#[derive(Debug, Clone, Default)]
pub struct GroupModel {
    groups: HashMap<StrBytes, GroupRecord>,
    committed: HashMap<(StrBytes, TopicPartition), i64>,
    /// Commits whose answer was never read: the offset is the old one or
    /// the new one until the next commit.
    uncertain: HashSet<(StrBytes, TopicPartition)>,
    /// Frames the model could not read (malformed ones) may have synced or
    /// committed: what needs every such request known is then not checked.
    unknown_requests: bool,
    /// Groups a request may have created, and that were not deleted since.
    may_exist: HashSet<StrBytes>,
}

impl GroupModel {
    fn group(&mut self, group: &StrBytes) -> &mut GroupRecord {
        self.groups.entry(group.clone()).or_default()
    }

    /// A frame the model cannot read was sent.
    pub fn unknown_request(&mut self) {
        self.unknown_requests = true;
    }

    /// A request that may create `group_id` (a join, a commit) is sent.
    pub fn named(&mut self, group_id: &StrBytes) {
        self.may_exist.insert(group_id.clone());
    }

    /// DeleteGroups deleted `group_id`: its generations start over, and
    /// its committed offsets are gone.
    pub fn group_deleted(&mut self, group_id: &StrBytes) {
        self.groups.remove(group_id);
        self.may_exist.remove(group_id);
        for ((group, tp), offset) in self.committed.iter_mut() {
            if group == group_id {
                *offset = -1;
                self.uncertain.remove(&(group.clone(), tp.clone()));
            }
        }
    }

    /// OffsetDelete deleted the offset of `tp` committed to `group_id`.
    pub fn offset_deleted(&mut self, group_id: &StrBytes, tp: &TopicPartition) {
        let key = (group_id.clone(), tp.clone());
        self.uncertain.remove(&key);
        self.committed.insert(key, -1);
    }

    /// `topic` was deleted: Kafka drops the offsets committed for it, once
    /// its coordinator sees the deletion.
    pub fn topic_deleted(&mut self, topic: &StrBytes) {
        let keys = self.committed.keys().filter(|(_, tp)| tp.topic == *topic);
        self.uncertain.extend(keys.cloned());
    }

    /// ListGroups listed `listed`.
    pub fn listed(&self, at: At, listed: &[StrBytes]) -> Result<(), Violation> {
        let unknown = listed.iter().find(|group| !self.may_exist.contains(*group));
        match unknown.filter(|_| !self.unknown_requests) {
            Some(group) => Err(violation(
                Invariant::GroupsListed,
                at,
                &format!("group {} in ListGroups", group.as_str()),
                "only groups that requests created and that were not deleted",
                "listed",
            )),
            None => Ok(()),
        }
    }

    /// DescribeGroups described `group_id` in `state` with `members`.
    pub fn described(&self, at: At, group_id: &StrBytes, state: &str, members: &[StrBytes]) -> Result<(), Violation> {
        if self.unknown_requests {
            return Ok(());
        }
        if !self.may_exist.contains(group_id) && state != "Dead" {
            return Err(violation(
                Invariant::GroupsListed,
                at,
                &format!("the state of group {}", group_id.as_str()),
                "Dead: no request created it, or it was deleted",
                state,
            ));
        }
        let group = self.groups.get(group_id);
        let left = members
            .iter()
            .find(|member| group.is_some_and(|group| group.left.contains(*member)));
        match left {
            Some(member) => Err(violation(
                Invariant::GroupsListed,
                at,
                &format!("the members of group {}", group_id.as_str()),
                format!("not {}: it left", member.as_str()),
                "listed",
            )),
            None => Ok(()),
        }
    }

    /// A JoinGroup answered `member` with `generation`.
    pub fn joined(&mut self, at: At, group_id: &StrBytes, member: &StrBytes, generation: i32) -> Result<(), Violation> {
        let group = self.group(group_id);
        if let Some(newest) = group.generation.filter(|&newest| generation < newest) {
            return Err(violation(
                Invariant::GenerationsIncrease,
                at,
                &format!("group {} joined by {}", group_id.as_str(), member.as_str()),
                format!("generation >= {newest}"),
                format!("generation {generation}"),
            ));
        }
        group.generation = Some(generation);
        group.left.remove(member);
        Ok(())
    }

    /// `what` succeeded for `member` in `generation`: it must be a member
    /// that has not left, in the newest generation.
    fn check_member(
        &mut self,
        at: At,
        what: &str,
        group_id: &StrBytes,
        member: &StrBytes,
        generation: i32,
    ) -> Result<(), Violation> {
        // After a damaged frame, a join the model never saw may have been.
        let unknown_requests = self.unknown_requests;
        let group = self.group(group_id);
        let unknown_joins = unknown_requests || group.unseen_join;
        let who = format!("{what} by {} in group {}", member.as_str(), group_id.as_str());
        if group.left.contains(member) {
            return Err(violation(
                Invariant::CurrentGeneration,
                at,
                &who,
                "UNKNOWN_MEMBER_ID: the member left",
                "success",
            ));
        }
        match group.generation {
            Some(newest) if generation < newest => Err(violation(
                Invariant::CurrentGeneration,
                at,
                &format!("{who} with generation {generation}"),
                format!("ILLEGAL_GENERATION: generation {newest} is current"),
                "success",
            )),
            // Every join's answer is read before its client acts again, so
            // a newer generation, or a group no join entered, was never
            // handed out (unless a damaged frame joined).
            Some(newest) if generation > newest && !unknown_joins => Err(violation(
                Invariant::CurrentGeneration,
                at,
                &format!("{who} with generation {generation}"),
                format!("ILLEGAL_GENERATION: generation {newest} is the newest handed out"),
                "success",
            )),
            None if !unknown_joins => Err(violation(
                Invariant::CurrentGeneration,
                at,
                &format!("{who} with generation {generation}"),
                "UNKNOWN_MEMBER_ID: no member ever joined the group",
                "success",
            )),
            _ => Ok(()),
        }
    }

    /// A SyncGroup gave `member` `assignment` in `generation`.
    pub fn synced(
        &mut self,
        at: At,
        group_id: &StrBytes,
        member: &StrBytes,
        generation: i32,
        assignment: &Bytes,
    ) -> Result<(), Violation> {
        self.check_member(at, "SyncGroup", group_id, member, generation)?;
        let trusted = !self.unknown_requests;
        let group = self.group(group_id);
        if let Some((made_in, assignments)) = group.assignments.as_ref().filter(|_| trusted) {
            let expected = assignments.get(member).cloned().unwrap_or_default();
            if *made_in == generation && expected != *assignment {
                return Err(violation(
                    Invariant::CurrentGeneration,
                    at,
                    &format!(
                        "the assignment of {} in group {} generation {generation}",
                        member.as_str(),
                        group_id.as_str()
                    ),
                    format!("the leader's {}", show_bytes(&Some(expected))),
                    show_bytes(&Some(assignment.clone())),
                ));
            }
        }
        Ok(())
    }

    /// The leader of `generation` synced with `assignments`, and was
    /// answered with success.
    pub fn assigned(&mut self, group_id: &StrBytes, generation: i32, assignments: HashMap<StrBytes, Bytes>) {
        self.group(group_id).assignments = Some((generation, assignments));
    }

    /// A Heartbeat succeeded.
    pub fn heartbeat(
        &mut self,
        at: At,
        group_id: &StrBytes,
        member: &StrBytes,
        generation: i32,
    ) -> Result<(), Violation> {
        self.check_member(at, "Heartbeat", group_id, member, generation)
    }

    /// `member` left `group_id`.
    pub fn left(&mut self, group_id: &StrBytes, member: &StrBytes) {
        self.group(group_id).left.insert(member.clone());
    }

    /// An OffsetCommit of `offset` for `tp` succeeded. A negative generation
    /// is a commit from outside the group protocol (a simple consumer).
    pub fn committed(
        &mut self,
        at: At,
        group_id: &StrBytes,
        (member, generation): (&StrBytes, i32),
        tp: &TopicPartition,
        offset: i64,
    ) -> Result<(), Violation> {
        if generation >= 0 {
            self.check_member(at, "OffsetCommit", group_id, member, generation)?;
        }
        let key = (group_id.clone(), tp.clone());
        self.uncertain.remove(&key);
        self.committed.insert(key, offset);
        Ok(())
    }

    /// A JoinGroup was sent and its answer never read.
    pub fn join_unknown(&mut self, group_id: &StrBytes) {
        self.group(group_id).unseen_join = true;
    }

    /// An OffsetCommit for `tp` was sent and its answer never read.
    pub fn commit_unknown(&mut self, group_id: &StrBytes, tp: &TopicPartition) {
        self.uncertain.insert((group_id.clone(), tp.clone()));
    }

    /// An OffsetFetch answered `offset` for `tp` of `group_id`.
    pub fn offset_read(&self, at: At, group_id: &StrBytes, tp: &TopicPartition, offset: i64) -> Result<(), Violation> {
        let key = (group_id.clone(), tp.clone());
        if self.unknown_requests || self.uncertain.contains(&key) {
            return Ok(());
        }
        match self.committed.get(&key) {
            Some(&committed) if committed != offset => Err(violation(
                Invariant::CommittedReadBack,
                at,
                &format!("the committed offset of group {} for {tp}", group_id.as_str()),
                committed,
                offset,
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::oracle::Oracle;

    const AT: At = At(3);

    fn s(value: &'static str) -> StrBytes {
        StrBytes::from_static_str(value)
    }

    fn tp() -> TopicPartition {
        TopicPartition::new(&s("topic-a"), 1)
    }

    fn detail_of(result: Result<(), Violation>) -> String {
        let violation = result.expect_err("a violation");
        assert_eq!(violation.oracle, Oracle::Model);
        assert!(violation.detail.contains("at operation #3"), "{violation}");
        violation.detail
    }

    /// group-1 at generation 2 with members m1 (leader) and m2.
    fn stable_group() -> GroupModel {
        let mut model = GroupModel::default();
        let group = s("group-1");
        model.joined(AT, &group, &s("m1"), 2).unwrap();
        model.joined(AT, &group, &s("m2"), 2).unwrap();
        let assignments = [
            (s("m1"), Bytes::from_static(b"p0")),
            (s("m2"), Bytes::from_static(b"p1")),
        ];
        model
            .synced(AT, &group, &s("m1"), 2, &Bytes::from_static(b"p0"))
            .unwrap();
        model.assigned(&group, 2, assignments.into_iter().collect());
        model
    }

    #[test]
    fn a_consistent_group_passes() {
        let mut model = stable_group();
        let group = s("group-1");
        model
            .synced(AT, &group, &s("m2"), 2, &Bytes::from_static(b"p1"))
            .unwrap();
        model.heartbeat(AT, &group, &s("m2"), 2).unwrap();
        model.committed(AT, &group, (&s("m1"), 2), &tp(), 5).unwrap();
        model.offset_read(AT, &group, &tp(), 5).unwrap();
        // A commit from outside the group protocol, then a rebalance.
        model.committed(AT, &group, (&s(""), -1), &tp(), 6).unwrap();
        model.joined(AT, &group, &s("m1"), 3).unwrap();
        model.offset_read(AT, &group, &tp(), 6).unwrap();
    }

    #[test]
    fn generations_increase_catches_a_generation_going_back() {
        let mut model = stable_group();
        let detail = detail_of(model.joined(AT, &s("group-1"), &s("m3"), 1));
        assert!(detail.starts_with("generations-increase"), "{detail}");
        assert!(
            detail.contains("expected generation >= 2, got generation 1"),
            "{detail}"
        );
    }

    #[test]
    fn current_generation_catches_stale_members_and_foreign_assignments() {
        let mut model = stable_group();
        let group = s("group-1");
        model.joined(AT, &group, &s("m1"), 3).unwrap();
        // Generation 2 is stale now: no sync, heartbeat or commit with it.
        let detail = detail_of(model.synced(AT, &group, &s("m2"), 2, &Bytes::new()));
        assert!(
            detail.starts_with("current-generation") && detail.contains("ILLEGAL_GENERATION"),
            "{detail}"
        );
        detail_of(model.heartbeat(AT, &group, &s("m2"), 2));
        detail_of(model.committed(AT, &group, (&s("m2"), 2), &tp(), 1));
        // A member that left is not a member.
        model.left(&group, &s("m1"));
        let detail = detail_of(model.heartbeat(AT, &group, &s("m1"), 3));
        assert!(detail.contains("the member left"), "{detail}");
        // A generation never handed out, and a group nobody joined.
        let mut model = stable_group();
        let detail = detail_of(model.heartbeat(AT, &group, &s("m2"), 3));
        assert!(detail.contains("generation 2 is the newest handed out"), "{detail}");
        let detail = detail_of(model.heartbeat(AT, &s("group-2"), &s("m2"), 0));
        assert!(detail.contains("no member ever joined"), "{detail}");
        // Unless a join's answer went unread: then it may exist.
        model.join_unknown(&group);
        model.heartbeat(AT, &group, &s("m2"), 3).unwrap();
        // An assignment the leader did not make.
        let mut model = stable_group();
        let detail = detail_of(model.synced(AT, &group, &s("m2"), 2, &Bytes::from_static(b"p0")));
        assert!(detail.contains("the leader's \"p1\""), "{detail}");
    }

    #[test]
    fn committed_read_back_catches_a_lost_commit() {
        let mut model = stable_group();
        model.committed(AT, &s("group-1"), (&s("m1"), 2), &tp(), 5).unwrap();
        let detail = detail_of(model.offset_read(AT, &s("group-1"), &tp(), -1));
        assert!(detail.starts_with("committed-read-back"), "{detail}");
        assert!(detail.contains("expected 5, got -1"), "{detail}");
        // A commit whose answer went unread may or may not have been made.
        model.commit_unknown(&s("group-1"), &tp());
        model.offset_read(AT, &s("group-1"), &tp(), 9).unwrap();
    }

    #[test]
    fn groups_listed_catches_a_group_no_request_made_a_deleted_one_and_a_member_that_left() {
        let mut model = stable_group();
        let group = s("group-1");
        // Joins named it, so it may be listed and described.
        model.named(&group);
        model.listed(AT, std::slice::from_ref(&group)).unwrap();
        model.described(AT, &group, "Stable", &[s("m1"), s("m2")]).unwrap();
        let detail = detail_of(model.listed(AT, &[s("group-2")]));
        assert!(detail.starts_with("groups-listed"), "{detail}");
        model.left(&group, &s("m2"));
        let detail = detail_of(model.described(AT, &group, "Stable", &[s("m1"), s("m2")]));
        assert!(detail.contains("not m2: it left"), "{detail}");
        // Deleted: no longer listed, described Dead, its generations anew.
        model.group_deleted(&group);
        assert!(detail_of(model.listed(AT, std::slice::from_ref(&group))).starts_with("groups-listed"));
        let detail = detail_of(model.described(AT, &group, "Empty", &[]));
        assert!(detail.contains("expected Dead"), "{detail}");
        model.described(AT, &group, "Dead", &[]).unwrap();
        model.joined(AT, &group, &s("m3"), 1).unwrap();
    }

    #[test]
    fn committed_read_back_catches_a_deleted_offset_that_reads_back() {
        let mut model = stable_group();
        let group = s("group-1");
        model.committed(AT, &group, (&s("m1"), 2), &tp(), 5).unwrap();
        model.offset_deleted(&group, &tp());
        let detail = detail_of(model.offset_read(AT, &group, &tp(), 5));
        assert!(
            detail.starts_with("committed-read-back") && detail.contains("expected -1"),
            "{detail}"
        );
        model.committed(AT, &group, (&s(""), -1), &tp(), 6).unwrap();
        model.group_deleted(&group);
        assert!(detail_of(model.offset_read(AT, &group, &tp(), 6)).contains("expected -1"));
        model.offset_read(AT, &group, &tp(), -1).unwrap();
        // A deleted topic's offsets go when the coordinator sees it: either.
        model.committed(AT, &group, (&s(""), -1), &tp(), 7).unwrap();
        model.topic_deleted(&tp().topic);
        model.offset_read(AT, &group, &tp(), 7).unwrap();
        model.offset_read(AT, &group, &tp(), -1).unwrap();
    }
}
