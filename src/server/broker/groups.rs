//! Consumer groups with Kafka's classic protocol: join, sync, heartbeat and
//! leave, generations and member ids, rebalances when members join, leave or
//! time out, and committed offsets.
//!
//! Time is an argument, never read here, and nothing waits: a join or sync
//! that Kafka would hold back returns `Step::Wait`, and the caller polls again
//! when the group changes or the deadline passes.

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::ResponseError;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

/// Member ids are counted, not random, so a run is reproducible.
const MEMBER_ID_PREFIX: u64 = 0x6d65_6d62_6572_2d69;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// The state's name as DescribeGroups and ListGroups spell it.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub member_id: StrBytes,
    pub instance_id: Option<StrBytes>,
    pub client_id: StrBytes,
    /// Its metadata for the group's protocol (empty before one is chosen).
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A request's answer now, or the member that waits for it and the
/// deadline by which it will have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<T> {
    Done(T),
    Wait { member_id: StrBytes, deadline_ms: i64 },
}

/// What a JoinGroup asks for.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: StrBytes,
    pub member_id: StrBytes,
    pub instance_id: Option<StrBytes>,
    pub client_id: StrBytes,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: StrBytes,
    /// (name, metadata), in the member's order of preference.
    pub protocols: Vec<(StrBytes, Bytes)>,
    /// JoinGroup v4+: a member without an id gets one and must join again
    /// with it (MEMBER_ID_REQUIRED).
    pub require_known_member_id: bool,
}

/// A completed join, as the JoinGroup response carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub member_id: StrBytes,
    pub generation: i32,
    pub protocol_type: Option<StrBytes>,
    pub protocol_name: Option<StrBytes>,
    pub leader: StrBytes,
    /// Every member and its metadata for the selected protocol; only the
    /// leader receives them.
    pub members: Vec<(StrBytes, Option<StrBytes>, Bytes)>,
}

/// A refused join; `member_id` is set for MEMBER_ID_REQUIRED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRefused {
    pub error: ResponseError,
    pub member_id: StrBytes,
}

pub type JoinOutcome = Result<JoinResult, JoinRefused>;

/// What a SyncGroup asks for.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub group_id: StrBytes,
    pub generation: i32,
    pub member_id: StrBytes,
    pub protocol_type: Option<StrBytes>,
    pub protocol_name: Option<StrBytes>,
    /// The leader's assignment for each member.
    pub assignments: Vec<(StrBytes, Bytes)>,
}

/// A completed sync: the member's assignment and the group's protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub assignment: Bytes,
    pub protocol_type: Option<StrBytes>,
    pub protocol_name: Option<StrBytes>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: StrBytes,
}

#[derive(Debug, Clone)]
struct Member {
    instance_id: Option<StrBytes>,
    client_id: StrBytes,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: Vec<(StrBytes, Bytes)>,
    last_heartbeat_ms: i64,
    /// Joined the rebalance in progress and waits for its result.
    awaiting_join: bool,
    /// A sync waits for the leader's assignment.
    awaiting_sync: bool,
    /// The result of the last completed join, until it is answered.
    join_result: Option<JoinResult>,
    assignment: Bytes,
}

impl Member {
    /// Kafka keeps a member alive while it waits for a join or sync answer;
    /// otherwise it must heartbeat within its session timeout.
    fn alive_at(&self, now_ms: i64) -> bool {
        self.awaiting_join
            || self.awaiting_sync
            || now_ms
                < self
                    .last_heartbeat_ms
                    .saturating_add(i64::from(self.session_timeout_ms))
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: Option<StrBytes>,
    protocol_name: Option<StrBytes>,
    leader: Option<StrBytes>,
    members: IndexMap<StrBytes, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, and when each expires.
    pending: IndexMap<StrBytes, i64>,
    rebalance_deadline_ms: i64,
    /// A rebalance of an empty group waits this long for more members.
    initial_delay_until_ms: i64,
    offsets: IndexMap<(StrBytes, i32), CommittedOffset>,
}

impl Group {
    fn new() -> Self {
        Self {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            pending: IndexMap::new(),
            rebalance_deadline_ms: 0,
            initial_delay_until_ms: 0,
            offsets: IndexMap::new(),
        }
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn leader(&self) -> Option<&StrBytes> {
        self.leader.as_ref()
    }

    pub fn member_ids(&self) -> impl Iterator<Item = &StrBytes> {
        self.members.keys()
    }

    pub fn protocol_type(&self) -> Option<&StrBytes> {
        self.protocol_type.as_ref()
    }

    pub fn protocol_name(&self) -> Option<&StrBytes> {
        self.protocol_name.as_ref()
    }

    /// Every member, in join order.
    pub fn members(&self) -> impl Iterator<Item = MemberView> + '_ {
        self.members.iter().map(|(member_id, member)| MemberView {
            member_id: member_id.clone(),
            instance_id: member.instance_id.clone(),
            client_id: member.client_id.clone(),
            metadata: member
                .protocols
                .iter()
                .find(|(name, _)| Some(name) == self.protocol_name.as_ref())
                .map(|(_, metadata)| metadata.clone())
                .unwrap_or_default(),
            assignment: member.assignment.clone(),
        })
    }

    /// Protocols every member supports.
    fn candidate_protocols(&self, except: &str) -> Vec<&StrBytes> {
        let mut others = self.members.iter().filter(|(id, _)| id.as_str() != except);
        let Some((_, first)) = others.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<&StrBytes> = first.protocols.iter().map(|(name, _)| name).collect();
        for (_, member) in others {
            candidates.retain(|name| member.protocols.iter().any(|(own, _)| own == *name));
        }
        candidates
    }

    fn supports(&self, request: &JoinRequest) -> bool {
        if self.members.keys().all(|id| *id == request.member_id) {
            return true;
        }
        let candidates = self.candidate_protocols(&request.member_id);
        self.protocol_type.as_ref() == Some(&request.protocol_type)
            && request.protocols.iter().any(|(name, _)| candidates.contains(&name))
    }

    /// Each member votes for its most preferred candidate; the most votes
    /// win, ties going to the earlier candidate.
    fn select_protocol(&self) -> Option<StrBytes> {
        let candidates = self.candidate_protocols("");
        let mut votes = vec![0usize; candidates.len()];
        for member in self.members.values() {
            if let Some(at) = member
                .protocols
                .iter()
                .find_map(|(name, _)| candidates.iter().position(|c| *c == name))
            {
                votes[at] += 1;
            }
        }
        let best = votes.iter().copied().max()?;
        let at = votes.iter().position(|&count| count == best)?;
        Some(candidates[at].clone())
    }

    fn prepare_rebalance(&mut self, now_ms: i64, initial_delay_ms: i32) {
        self.initial_delay_until_ms = if self.state == GroupState::Empty {
            now_ms.saturating_add(i64::from(initial_delay_ms))
        } else {
            now_ms
        };
        let timeout = self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0);
        self.rebalance_deadline_ms = now_ms.saturating_add(i64::from(timeout));
        self.state = GroupState::PreparingRebalance;
        for member in self.members.values_mut() {
            member.awaiting_sync = false;
        }
    }

    /// Completes the rebalance once every member has joined (and no member
    /// id handed out is still to come back), at its deadline, or when
    /// `force`d; members that did not join are removed.
    fn maybe_complete_join(&mut self, now_ms: i64, force: bool) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join) && self.pending.is_empty();
        let ready = (all_joined && now_ms >= self.initial_delay_until_ms) || now_ms >= self.rebalance_deadline_ms;
        if !(ready || force) {
            return;
        }
        self.members.retain(|_, member| member.awaiting_join);
        self.generation = self.generation.wrapping_add(1);
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_type = None;
            self.protocol_name = None;
            self.leader = None;
            return;
        }
        self.protocol_name = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|leader| self.members.contains_key(leader))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let leader = self.leader.clone().unwrap_or_default();
        let everyone: Vec<_> = self
            .members
            .iter()
            .map(|(id, member)| (id.clone(), member.instance_id.clone(), self.metadata_of(member)))
            .collect();
        for (id, member) in &mut self.members {
            member.awaiting_join = false;
            member.last_heartbeat_ms = now_ms;
            member.assignment = Bytes::new();
            member.join_result = Some(JoinResult {
                member_id: id.clone(),
                generation: self.generation,
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol_name.clone(),
                leader: leader.clone(),
                members: if *id == leader { everyone.clone() } else { Vec::new() },
            });
        }
    }

    fn metadata_of(&self, member: &Member) -> Bytes {
        member
            .protocols
            .iter()
            .find(|(name, _)| Some(name) == self.protocol_name.as_ref())
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    /// The answer a member gets when it joins a generation that is already
    /// complete and unchanged.
    fn current_result(&self, member_id: &StrBytes) -> JoinResult {
        let leader = self.leader.clone().unwrap_or_default();
        let members = if *member_id == leader {
            self.members
                .iter()
                .map(|(id, m)| (id.clone(), m.instance_id.clone(), self.metadata_of(m)))
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            member_id: member_id.clone(),
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            members,
        }
    }

    /// Applies the passage of time: member ids never used expire, members
    /// that stopped heartbeating are removed (a rebalance), and a rebalance
    /// whose deadline passed completes.
    fn tick(&mut self, now_ms: i64, initial_delay_ms: i32) {
        self.pending.retain(|_, expires| now_ms < *expires);
        let before = self.members.len();
        self.members.retain(|_, member| member.alive_at(now_ms));
        if self.members.len() != before && self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now_ms, initial_delay_ms);
        }
        self.maybe_complete_join(now_ms, false);
    }

    fn join_step(&mut self, member_id: &StrBytes) -> Step<JoinOutcome> {
        match self.members.get_mut(member_id).and_then(|m| m.join_result.take()) {
            Some(result) => Step::Done(Ok(result)),
            None => Step::Wait {
                member_id: member_id.clone(),
                deadline_ms: self.rebalance_deadline_ms.max(self.initial_delay_until_ms),
            },
        }
    }
}

/// Every group this broker coordinates.
#[derive(Debug, Clone)]
pub struct Groups {
    settings: GroupSettings,
    groups: IndexMap<StrBytes, Group>,
    next_member: u64,
}

/// The broker settings groups follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSettings {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i32,
}

fn refuse<T>(error: ResponseError, member_id: &StrBytes) -> Step<Result<T, JoinRefused>> {
    Step::Done(Err(JoinRefused {
        error,
        member_id: member_id.clone(),
    }))
}

impl Groups {
    pub fn new(settings: GroupSettings) -> Self {
        Self {
            settings,
            groups: IndexMap::new(),
            next_member: 0,
        }
    }

    pub fn get(&self, group_id: &StrBytes) -> Option<&Group> {
        self.groups.get(group_id)
    }

    /// Every group, with time applied, in creation order.
    pub fn all(&mut self, now_ms: i64) -> impl Iterator<Item = (&StrBytes, &Group)> {
        let delay = self.settings.initial_rebalance_delay_ms;
        for group in self.groups.values_mut() {
            group.tick(now_ms, delay);
        }
        self.groups.iter()
    }

    /// The group, with time applied.
    pub fn describe(&mut self, group_id: &StrBytes, now_ms: i64) -> Option<&Group> {
        self.current(group_id, now_ms).map(|group| &*group)
    }

    /// DeleteGroups: only a group without members goes, with its offsets.
    pub fn delete(&mut self, group_id: &StrBytes, now_ms: i64) -> Result<(), ResponseError> {
        match self.current(group_id, now_ms) {
            None => Err(ResponseError::GroupIdNotFound),
            Some(group) if group.state != GroupState::Empty => Err(ResponseError::NonEmptyGroup),
            Some(_) => {
                self.groups.shift_remove(group_id);
                Ok(())
            }
        }
    }

    /// OffsetDelete of one partition: refused while a member of the group
    /// is subscribed to the topic (`subscribed` reads a member's metadata).
    pub fn delete_offset(
        &mut self,
        group_id: &StrBytes,
        topic: &StrBytes,
        partition: i32,
        now_ms: i64,
        subscribed: impl Fn(&Bytes, &StrBytes) -> bool,
    ) -> Result<(), ResponseError> {
        let group = self.current(group_id, now_ms).ok_or(ResponseError::GroupIdNotFound)?;
        if group.members().any(|member| subscribed(&member.metadata, topic)) {
            return Err(ResponseError::GroupSubscribedToTopic);
        }
        group.offsets.shift_remove(&(topic.clone(), partition));
        Ok(())
    }

    /// The group, with time applied.
    fn current(&mut self, group_id: &StrBytes, now_ms: i64) -> Option<&mut Group> {
        let group = self.groups.get_mut(group_id)?;
        group.tick(now_ms, self.settings.initial_rebalance_delay_ms);
        Some(group)
    }

    /// JoinGroup.
    pub fn join(&mut self, request: JoinRequest, now_ms: i64) -> Step<JoinOutcome> {
        let member_id = request.member_id.clone();
        if request.group_id.is_empty() {
            return refuse(ResponseError::InvalidGroupId, &member_id);
        }
        let settings = self.settings;
        let initial_delay_ms = settings.initial_rebalance_delay_ms;
        if !(settings.min_session_timeout_ms..=settings.max_session_timeout_ms).contains(&request.session_timeout_ms) {
            return refuse(ResponseError::InvalidSessionTimeout, &member_id);
        }
        if request.protocol_type.is_empty() || request.protocols.is_empty() {
            return refuse(ResponseError::InconsistentGroupProtocol, &member_id);
        }
        let counter = &mut self.next_member;
        let group = self.groups.entry(request.group_id.clone()).or_insert_with(Group::new);
        group.tick(now_ms, initial_delay_ms);
        if !group.supports(&request) {
            return refuse(ResponseError::InconsistentGroupProtocol, &member_id);
        }
        let session_expiry = now_ms.saturating_add(i64::from(request.session_timeout_ms));
        let member_id = if member_id.is_empty() {
            *counter += 1;
            let id = StrBytes::from_string(format!(
                "{}-{}",
                request.client_id.as_str(),
                Uuid::from_u64_pair(MEMBER_ID_PREFIX, *counter)
            ));
            if request.require_known_member_id {
                group.pending.insert(id.clone(), session_expiry);
                return refuse(ResponseError::MemberIdRequired, &id);
            }
            id
        } else if group.pending.shift_remove(&member_id).is_some() || group.members.contains_key(&member_id) {
            member_id
        } else {
            return refuse(ResponseError::UnknownMemberId, &member_id);
        };
        let known = group.members.contains_key(&member_id);
        let member = group.members.entry(member_id.clone()).or_insert_with(|| Member {
            instance_id: None,
            client_id: StrBytes::default(),
            session_timeout_ms: 0,
            rebalance_timeout_ms: 0,
            protocols: Vec::new(),
            last_heartbeat_ms: now_ms,
            awaiting_join: false,
            awaiting_sync: false,
            join_result: None,
            assignment: Bytes::new(),
        });
        let unchanged = known && member.protocols == request.protocols;
        member.instance_id = request.instance_id;
        member.client_id = request.client_id;
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        member.protocols = request.protocols;
        member.last_heartbeat_ms = now_ms;
        if group.protocol_type.is_none() {
            group.protocol_type = Some(request.protocol_type);
        }
        let is_leader = group.leader.as_ref() == Some(&member_id);
        match group.state {
            // A follower joining again with the same protocols learns the
            // current generation; anything else starts a rebalance.
            GroupState::CompletingRebalance if unchanged => {
                return Step::Done(Ok(group.current_result(&member_id)));
            }
            GroupState::Stable if unchanged && !is_leader => {
                return Step::Done(Ok(group.current_result(&member_id)));
            }
            GroupState::PreparingRebalance => {}
            _ => group.prepare_rebalance(now_ms, initial_delay_ms),
        }
        if let Some(member) = group.members.get_mut(&member_id) {
            member.awaiting_join = true;
            member.join_result = None;
        }
        // A member may raise the deadline with a longer rebalance timeout.
        let own_deadline = now_ms.saturating_add(i64::from(group.members[&member_id].rebalance_timeout_ms));
        group.rebalance_deadline_ms = group.rebalance_deadline_ms.max(own_deadline);
        group.maybe_complete_join(now_ms, false);
        group.join_step(&member_id)
    }

    /// A waiting join, again: its answer once the rebalance completed, or
    /// `None` to keep waiting. `force` (the wait is over) completes the
    /// rebalance now with whoever has joined.
    pub fn poll_join(
        &mut self,
        group_id: &StrBytes,
        member_id: &StrBytes,
        now_ms: i64,
        force: bool,
    ) -> Option<JoinOutcome> {
        let unknown = JoinRefused {
            error: ResponseError::UnknownMemberId,
            member_id: member_id.clone(),
        };
        let Some(group) = self.current(group_id, now_ms) else {
            return Some(Err(unknown));
        };
        group.maybe_complete_join(now_ms, force);
        if !group.members.contains_key(member_id) {
            return Some(Err(unknown));
        }
        match group.join_step(member_id) {
            Step::Done(outcome) => Some(outcome),
            // Another join of the same member took this result.
            Step::Wait { .. } if force => Some(Ok(group.current_result(member_id))),
            Step::Wait { .. } => None,
        }
    }

    /// The checks every request from a member of a generation goes through.
    fn member_of<'a>(
        &'a mut self,
        group_id: &StrBytes,
        member_id: &StrBytes,
        generation: i32,
        now_ms: i64,
    ) -> Result<&'a mut Group, ResponseError> {
        let group = self.current(group_id, now_ms).ok_or(ResponseError::UnknownMemberId)?;
        if group.state == GroupState::Empty || !group.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation != group.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(group)
    }

    pub fn sync(&mut self, request: SyncRequest, now_ms: i64) -> Step<Result<SyncResult, ResponseError>> {
        let group = match self.member_of(&request.group_id, &request.member_id, request.generation, now_ms) {
            Ok(group) => group,
            Err(error) => return Step::Done(Err(error)),
        };
        let mismatch = |asked: &Option<StrBytes>, own: &Option<StrBytes>| asked.is_some() && asked != own;
        if mismatch(&request.protocol_type, &group.protocol_type)
            || mismatch(&request.protocol_name, &group.protocol_name)
        {
            return Step::Done(Err(ResponseError::InconsistentGroupProtocol));
        }
        let member = &mut group.members[&request.member_id];
        member.last_heartbeat_ms = now_ms;
        let session_timeout = member.session_timeout_ms;
        match group.state {
            GroupState::PreparingRebalance => return Step::Done(Err(ResponseError::RebalanceInProgress)),
            GroupState::CompletingRebalance if group.leader.as_ref() == Some(&request.member_id) => {
                for (id, member) in &mut group.members {
                    member.assignment = request
                        .assignments
                        .iter()
                        .find(|(to, _)| to == id)
                        .map(|(_, assignment)| assignment.clone())
                        .unwrap_or_default();
                }
                group.state = GroupState::Stable;
            }
            GroupState::CompletingRebalance => {
                group.members[&request.member_id].awaiting_sync = true;
                return Step::Wait {
                    member_id: request.member_id,
                    deadline_ms: now_ms.saturating_add(i64::from(session_timeout)),
                };
            }
            GroupState::Stable | GroupState::Empty => {}
        }
        Step::Done(Self::sync_result(group, &request.member_id))
    }

    fn sync_result(group: &mut Group, member_id: &StrBytes) -> Result<SyncResult, ResponseError> {
        let member = &mut group.members[member_id];
        member.awaiting_sync = false;
        Ok(SyncResult {
            assignment: member.assignment.clone(),
            protocol_type: group.protocol_type.clone(),
            protocol_name: group.protocol_name.clone(),
        })
    }

    /// A waiting sync, again: the assignment once the leader synced, or
    /// `None` to keep waiting; a new rebalance, or `force` (the wait is
    /// over), answers REBALANCE_IN_PROGRESS.
    pub fn poll_sync(
        &mut self,
        group_id: &StrBytes,
        member_id: &StrBytes,
        generation: i32,
        now_ms: i64,
        force: bool,
    ) -> Option<Result<SyncResult, ResponseError>> {
        let group = match self.current(group_id, now_ms) {
            Some(group) if group.members.contains_key(member_id) => group,
            _ => return Some(Err(ResponseError::UnknownMemberId)),
        };
        match group.state {
            GroupState::Stable if group.generation == generation => Some(Self::sync_result(group, member_id)),
            GroupState::CompletingRebalance if group.generation == generation && !force => None,
            _ => {
                group.members[member_id].awaiting_sync = false;
                Some(Err(ResponseError::RebalanceInProgress))
            }
        }
    }

    pub fn heartbeat(
        &mut self,
        group_id: &StrBytes,
        member_id: &StrBytes,
        generation: i32,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        let group = self.member_of(group_id, member_id, generation, now_ms)?;
        group.members[member_id].last_heartbeat_ms = now_ms;
        match group.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// LeaveGroup: each (member id, instance id) leaves; a member given only
    /// by its instance id is found by it. `Err` when the group is unknown.
    pub fn leave(
        &mut self,
        group_id: &StrBytes,
        leaving: &[(StrBytes, Option<StrBytes>)],
        now_ms: i64,
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        let initial_delay_ms = self.settings.initial_rebalance_delay_ms;
        let group = self.current(group_id, now_ms).ok_or(ResponseError::UnknownMemberId)?;
        let mut removed = false;
        let results = leaving
            .iter()
            .map(|(member_id, instance_id)| {
                let found = if member_id.is_empty() {
                    group
                        .members
                        .iter()
                        .find(|(_, m)| instance_id.is_some() && m.instance_id == *instance_id)
                        .map(|(id, _)| id.clone())
                } else {
                    Some(member_id.clone())
                };
                let found = found.ok_or(ResponseError::UnknownMemberId)?;
                if group.pending.shift_remove(&found).is_some() {
                    return Ok(());
                }
                if planted!(LeaveKeepsTheMember) {
                    return group
                        .members
                        .get(&found)
                        .map(drop)
                        .ok_or(ResponseError::UnknownMemberId);
                }
                group
                    .members
                    .shift_remove(&found)
                    .ok_or(ResponseError::UnknownMemberId)?;
                removed = true;
                Ok(())
            })
            .collect();
        if removed && group.state != GroupState::PreparingRebalance {
            group.prepare_rebalance(now_ms, initial_delay_ms);
        }
        group.maybe_complete_join(now_ms, false);
        Ok(results)
    }

    /// Whether OffsetCommit may write for this member and generation, in
    /// Kafka's order of checks; a negative generation is a commit from
    /// outside group management, allowed while the group is empty (and
    /// creating it when it does not exist).
    pub fn check_commit(
        &mut self,
        group_id: &StrBytes,
        member_id: &StrBytes,
        generation: i32,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let Some(group) = self.current(group_id, now_ms) else {
            if generation < 0 {
                self.groups.insert(group_id.clone(), Group::new());
                return Ok(());
            }
            return Err(ResponseError::IllegalGeneration);
        };
        if generation < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        if group.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        let member = group.members.get_mut(member_id).ok_or(ResponseError::UnknownMemberId)?;
        if generation != group.generation && !planted!(CommitIgnoresGeneration) {
            return Err(ResponseError::IllegalGeneration);
        }
        member.last_heartbeat_ms = now_ms;
        Ok(())
    }

    /// Stores an offset for a group that passed `check_commit`.
    pub fn commit(&mut self, group_id: &StrBytes, topic: StrBytes, partition: i32, offset: CommittedOffset) {
        if let Some(group) = self.groups.get_mut(group_id) {
            if planted!(CommitKeepsTheFirst) {
                group.offsets.entry((topic, partition)).or_insert(offset);
            } else {
                group.offsets.insert((topic, partition), offset);
            }
        }
    }

    pub fn committed(&self, group_id: &StrBytes, topic: &StrBytes, partition: i32) -> Option<&CommittedOffset> {
        self.groups.get(group_id)?.offsets.get(&(topic.clone(), partition))
    }

    /// A deleted topic's committed offsets go, in every group (Kafka's
    /// `onPartitionsDeleted`).
    pub fn forget_topic(&mut self, topic: &StrBytes) {
        for group in self.groups.values_mut() {
            group.offsets.retain(|(name, _), _| name != topic);
        }
    }

    /// Every committed offset of a group, by topic then partition.
    pub fn all_committed(&self, group_id: &StrBytes) -> Vec<(StrBytes, i32, CommittedOffset)> {
        let mut all: Vec<_> = self
            .groups
            .get(group_id)
            .map(|group| {
                group
                    .offsets
                    .iter()
                    .map(|((topic, partition), offset)| (topic.clone(), *partition, offset.clone()))
                    .collect()
            })
            .unwrap_or_default();
        all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        all
    }
}
