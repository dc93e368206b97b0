//! ListGroups, DescribeGroups, DeleteGroups and OffsetDelete: what an admin
//! client sees of `groups` and removes from them, as Kafka's group
//! coordinator answers.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetDeleteRequest, OffsetDeleteResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::Broker;
use crate::server::wire::{BoundedReader, Version, WireValue};

/// Kafka's value for "authorized operations not asked for".
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;
/// The classic protocol's group type (ListGroups v5).
const CLASSIC: &str = "classic";
/// Where Kafka names a member's host; the reference broker keeps none.
const CLIENT_HOST: &str = "/127.0.0.1";

/// The topics a consumer's subscription names: the ConsumerProtocol
/// subscription's version, then its topics (every version starts so). A
/// member's metadata is the client's bytes: what does not read is no
/// subscription.
fn subscribed_topics(metadata: &Bytes) -> Vec<StrBytes> {
    let mut reader = BoundedReader::new(metadata.clone());
    let classic = Version {
        version: 0,
        flexible: false,
    };
    match reader.i16() {
        Ok(_) => Vec::<StrBytes>::read(&mut reader, classic).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn name(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

impl Broker {
    pub(super) fn list_groups(&mut self, request: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let now_ms = self.now_ms();
        let states = &request.states_filter;
        // Every group here is a classic one.
        let types_match = version < 5
            || request.types_filter.is_empty()
            || request
                .types_filter
                .iter()
                .any(|kind| kind.eq_ignore_ascii_case(CLASSIC));
        let groups = self
            .groups
            .all(now_ms)
            .filter(|(_, group)| {
                types_match
                    && (version < 4
                        || states.is_empty()
                        || states
                            .iter()
                            .any(|state| state.eq_ignore_ascii_case(group.state().name())))
            })
            .map(|(group_id, group)| {
                ListedGroup::default()
                    .with_group_id(group_id.clone().into())
                    .with_protocol_type(group.protocol_type().cloned().unwrap_or_default())
                    .with_group_state(name(group.state().name()))
                    .with_group_type(name(CLASSIC))
            })
            .collect();
        ListGroupsResponse::default().with_groups(groups)
    }

    pub(super) fn describe_groups(&mut self, request: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
        let now_ms = self.now_ms();
        let groups = request
            .groups
            .into_iter()
            .map(|group_id| {
                let described = DescribedGroup::default()
                    .with_group_id(group_id.clone())
                    .with_authorized_operations(OPERATIONS_NOT_REQUESTED);
                if group_id.is_empty() {
                    return described.with_error_code(ResponseError::InvalidGroupId.code());
                }
                match self.groups.describe(&group_id, now_ms) {
                    Some(group) => described
                        .with_group_state(name(group.state().name()))
                        .with_protocol_type(group.protocol_type().cloned().unwrap_or_default())
                        .with_protocol_data(group.protocol_name().cloned().unwrap_or_default())
                        .with_members(
                            group
                                .members()
                                .map(|member| {
                                    DescribedGroupMember::default()
                                        .with_member_id(member.member_id)
                                        .with_group_instance_id(member.instance_id)
                                        .with_client_id(member.client_id)
                                        .with_client_host(name(CLIENT_HOST))
                                        .with_member_metadata(member.metadata)
                                        .with_member_assignment(member.assignment)
                                })
                                .collect(),
                        ),
                    // KIP-1043: v6 says so; before, a "Dead" group.
                    None if version >= 6 => described
                        .with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(name(&format!("Group {} not found.", group_id.as_str()))))
                        .with_group_state(name("Dead")),
                    None => described.with_group_state(name("Dead")),
                }
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }

    pub(super) fn delete_groups(&mut self, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
        let now_ms = self.now_ms();
        let results = request
            .groups_names
            .into_iter()
            .map(|group_id| {
                let outcome = if group_id.is_empty() {
                    Err(ResponseError::InvalidGroupId)
                } else {
                    self.groups.delete(&group_id, now_ms)
                };
                DeletableGroupResult::default()
                    .with_group_id(group_id)
                    .with_error_code(outcome.err().map_or(0, |error| error.code()))
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    }

    pub(super) fn offset_delete(&mut self, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
        let now_ms = self.now_ms();
        let group_id = request.group_id.0;
        let refused = |error: ResponseError| OffsetDeleteResponse::default().with_error_code(error.code());
        if group_id.is_empty() {
            return refused(ResponseError::InvalidGroupId);
        }
        if self.groups.describe(&group_id, now_ms).is_none() {
            return refused(ResponseError::GroupIdNotFound);
        }
        let consumer = self
            .groups
            .get(&group_id)
            .is_some_and(|group| group.protocol_type().is_some_and(|kind| kind.as_str() == "consumer"));
        let subscribed = |metadata: &Bytes, topic: &StrBytes| consumer && subscribed_topics(metadata).contains(topic);
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for partition in topic.partitions {
                let index = partition.partition_index;
                let outcome = if self.topics.partition(&topic.name, index).is_none() {
                    Err(ResponseError::UnknownTopicOrPartition)
                } else {
                    self.groups
                        .delete_offset(&group_id, &topic.name, index, now_ms, subscribed)
                };
                partitions.push(
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(outcome.err().map_or(0, |error| error.code())),
                );
            }
            topics.push(
                OffsetDeleteResponseTopic::default()
                    .with_name(topic.name)
                    .with_partitions(partitions),
            );
        }
        OffsetDeleteResponse::default().with_topics(topics)
    }
}
