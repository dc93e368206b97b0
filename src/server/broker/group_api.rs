//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit and
//! OffsetFetch: the wire side of `groups`.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::{Answer, Broker, Waiting};
use super::groups::{CommittedOffset, JoinOutcome, JoinRequest, Step, SyncRequest, SyncResult};

/// JoinGroup v7 made the protocol name nullable; before, "" stood for none.
const NULLABLE_PROTOCOL_VERSION: i16 = 7;

impl Broker {
    pub(super) fn join_group(&mut self, request: JoinGroupRequest, version: i16, client_id: StrBytes) -> Answer {
        let group_id = request.group_id.0.clone();
        let join = JoinRequest {
            group_id: request.group_id.0,
            member_id: request.member_id,
            instance_id: request.group_instance_id,
            client_id,
            session_timeout_ms: request.session_timeout_ms,
            // v0 has no rebalance timeout: the session timeout serves.
            rebalance_timeout_ms: if version >= 1 {
                request.rebalance_timeout_ms
            } else {
                request.session_timeout_ms
            },
            protocol_type: request.protocol_type,
            protocols: request.protocols.into_iter().map(|p| (p.name, p.metadata)).collect(),
            require_known_member_id: version >= 4,
        };
        let now = self.now_ms();
        match self.groups.join(join, now) {
            Step::Done(outcome) => Answer::Now(join_response(outcome, version).into()),
            Step::Wait { member_id, deadline_ms } => Answer::Wait {
                waiting: Waiting::Join { group_id, member_id },
                deadline_ms,
            },
        }
    }

    pub(super) fn poll_join(&mut self, group_id: StrBytes, member_id: StrBytes, version: i16, expired: bool) -> Answer {
        let now = self.now_ms();
        match self.groups.poll_join(&group_id, &member_id, now, expired) {
            Some(outcome) => Answer::Now(join_response(outcome, version).into()),
            None => Answer::Wait {
                waiting: Waiting::Join { group_id, member_id },
                deadline_ms: now,
            },
        }
    }

    pub(super) fn sync_group(&mut self, request: SyncGroupRequest, version: i16) -> Answer {
        let group_id = request.group_id.0.clone();
        let generation = request.generation_id;
        let sync = SyncRequest {
            group_id: request.group_id.0,
            generation,
            member_id: request.member_id,
            protocol_type: request.protocol_type,
            protocol_name: request.protocol_name,
            assignments: request
                .assignments
                .into_iter()
                .map(|a| (a.member_id, a.assignment))
                .collect(),
        };
        let now = self.now_ms();
        match self.groups.sync(sync, now) {
            Step::Done(outcome) => Answer::Now(sync_response(outcome, version).into()),
            Step::Wait { member_id, deadline_ms } => Answer::Wait {
                waiting: Waiting::Sync {
                    group_id,
                    member_id,
                    generation,
                },
                deadline_ms,
            },
        }
    }

    pub(super) fn poll_sync(
        &mut self,
        group_id: StrBytes,
        member_id: StrBytes,
        generation: i32,
        version: i16,
        expired: bool,
    ) -> Answer {
        let now = self.now_ms();
        match self.groups.poll_sync(&group_id, &member_id, generation, now, expired) {
            Some(outcome) => Answer::Now(sync_response(outcome, version).into()),
            None => Answer::Wait {
                waiting: Waiting::Sync {
                    group_id,
                    member_id,
                    generation,
                },
                deadline_ms: now,
            },
        }
    }

    pub(super) fn heartbeat(&mut self, request: HeartbeatRequest) -> HeartbeatResponse {
        let now = self.now_ms();
        let result = self
            .groups
            .heartbeat(&request.group_id, &request.member_id, request.generation_id, now);
        HeartbeatResponse::default().with_error_code(code(result))
    }

    pub(super) fn leave_group(&mut self, request: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let now = self.now_ms();
        let leaving: Vec<(StrBytes, Option<StrBytes>)> = if version >= 3 {
            request
                .members
                .iter()
                .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
                .collect()
        } else {
            vec![(request.member_id.clone(), None)]
        };
        let mut response = LeaveGroupResponse::default();
        match self.groups.leave(&request.group_id, &leaving, now) {
            Err(error) => response.error_code = error.code(),
            Ok(results) if version >= 3 => {
                response.members = leaving
                    .into_iter()
                    .zip(results)
                    .map(|((member_id, instance_id), result)| {
                        MemberResponse::default()
                            .with_member_id(member_id)
                            .with_group_instance_id(instance_id)
                            .with_error_code(code(result))
                    })
                    .collect();
            }
            Ok(results) => response.error_code = code(results.into_iter().next().unwrap_or(Ok(()))),
        }
        response
    }

    pub(super) fn offset_commit(&mut self, request: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
        let now = self.now_ms();
        let group_id = request.group_id.0;
        let allowed = self.groups.check_commit(
            &group_id,
            &request.member_id,
            request.generation_id_or_member_epoch,
            now,
        );
        let max_metadata = self.config.max_offset_metadata_bytes;
        let mut response = OffsetCommitResponse::default();
        for topic in request.topics {
            let mut topic_response = OffsetCommitResponseTopic::default().with_name(topic.name.clone());
            for partition in topic.partitions {
                let metadata = partition.committed_metadata.unwrap_or_default();
                let result = allowed.and_then(|()| {
                    self.topics
                        .partition(&topic.name, partition.partition_index)
                        .ok_or(ResponseError::UnknownTopicOrPartition)?;
                    if metadata.len() > max_metadata {
                        return Err(ResponseError::OffsetMetadataTooLarge);
                    }
                    Ok(())
                });
                if result.is_ok() {
                    let offset = CommittedOffset {
                        offset: partition.committed_offset,
                        leader_epoch: if version >= 6 {
                            partition.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata,
                    };
                    self.groups
                        .commit(&group_id, topic.name.0.clone(), partition.partition_index, offset);
                }
                topic_response.partitions.push(
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(code(result)),
                );
            }
            response.topics.push(topic_response);
        }
        response
    }

    pub(super) fn offset_fetch(&self, request: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        let mut response = OffsetFetchResponse::default();
        if version >= 8 {
            response.groups = request
                .groups
                .into_iter()
                .map(|group| {
                    let asked = group.topics.map(|topics| {
                        topics
                            .into_iter()
                            .map(|topic| (topic.name.0, topic.partition_indexes))
                            .collect()
                    });
                    let topics = self
                        .committed_offsets(&group.group_id, asked)
                        .into_iter()
                        .map(|(name, partitions)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(name))
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|(index, offset)| {
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(index)
                                                .with_committed_offset(offset.offset)
                                                .with_committed_leader_epoch(offset.leader_epoch)
                                                .with_metadata(Some(offset.metadata))
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                    OffsetFetchResponseGroup::default()
                        .with_group_id(group.group_id)
                        .with_topics(topics)
                })
                .collect();
            return response;
        }
        let asked = request.topics.map(|topics| {
            topics
                .into_iter()
                .map(|topic| (topic.name.0, topic.partition_indexes))
                .collect()
        });
        response.topics = self
            .committed_offsets(&request.group_id, asked)
            .into_iter()
            .map(|(name, partitions)| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(name))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|(index, offset)| {
                                let mut partition = OffsetFetchResponsePartition::default()
                                    .with_partition_index(index)
                                    .with_committed_offset(offset.offset)
                                    .with_metadata(Some(offset.metadata));
                                if version >= 5 {
                                    partition.committed_leader_epoch = offset.leader_epoch;
                                }
                                partition
                            })
                            .collect(),
                    )
            })
            .collect();
        response
    }

    /// The committed offsets of the partitions asked for (all of the
    /// group's when `None`); -1 where nothing was committed.
    fn committed_offsets(
        &self,
        group_id: &StrBytes,
        asked: Option<Vec<(StrBytes, Vec<i32>)>>,
    ) -> Vec<(StrBytes, Vec<(i32, CommittedOffset)>)> {
        let none = CommittedOffset {
            offset: -1,
            leader_epoch: -1,
            metadata: StrBytes::default(),
        };
        match asked {
            Some(topics) => topics
                .into_iter()
                .map(|(name, partitions)| {
                    let offsets = partitions
                        .into_iter()
                        .map(|index| {
                            let offset = self.groups.committed(group_id, &name, index).cloned();
                            (index, offset.unwrap_or_else(|| none.clone()))
                        })
                        .collect();
                    (name, offsets)
                })
                .collect(),
            None => {
                let mut topics: Vec<(StrBytes, Vec<(i32, CommittedOffset)>)> = Vec::new();
                for (name, index, offset) in self.groups.all_committed(group_id) {
                    match topics.last_mut() {
                        Some((last, offsets)) if *last == name => offsets.push((index, offset)),
                        _ => topics.push((name, vec![(index, offset)])),
                    }
                }
                topics
            }
        }
    }
}

fn code(result: Result<(), ResponseError>) -> i16 {
    result.err().map_or(0, |error| error.code())
}

fn join_response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    let empty_name = |name: Option<StrBytes>| match name {
        None if version < NULLABLE_PROTOCOL_VERSION => Some(StrBytes::default()),
        name => name,
    };
    let mut response = JoinGroupResponse::default();
    match outcome {
        Ok(result) => {
            response.generation_id = result.generation;
            if version >= NULLABLE_PROTOCOL_VERSION {
                response.protocol_type = result.protocol_type;
            }
            response.protocol_name = empty_name(result.protocol_name);
            response.leader = result.leader;
            response.member_id = result.member_id;
            response.members = result
                .members
                .into_iter()
                .map(|(member_id, instance_id, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(member_id)
                        .with_group_instance_id(if version >= 5 { instance_id } else { None })
                        .with_metadata(metadata)
                })
                .collect();
        }
        Err(refused) => {
            response.error_code = refused.error.code();
            response.generation_id = -1;
            response.protocol_name = empty_name(None);
            response.member_id = refused.member_id;
        }
    }
    response
}

fn sync_response(outcome: Result<SyncResult, ResponseError>, version: i16) -> SyncGroupResponse {
    let mut response = SyncGroupResponse::default();
    match outcome {
        Ok(result) => {
            response.assignment = result.assignment;
            if version >= 5 {
                response.protocol_type = result.protocol_type;
                response.protocol_name = result.protocol_name;
            }
        }
        Err(error) => response.error_code = error.code(),
    }
    response
}
