//! The admin operations of a session: topics deleted and grown, records
//! deleted, configs changed, groups listed, described and deleted. Each
//! is planned as a client would send it and its answer taught to the model
//! (`oracle::model`: the log forgets what was deleted, the topic model
//! checks ids and partition counts, the group model what is listed).

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, CreatePartitionsRequest, DeleteGroupsRequest, DeleteRecordsRequest,
    DeleteTopicsRequest, DescribeGroupsRequest, IncrementalAlterConfigsRequest, ListGroupsRequest, OffsetDeleteRequest,
    ResponseKind, alter_configs_request, incremental_alter_configs_request,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{Planned, Purpose, ServerUnderTest, Session, error_name, name, version_of};
use crate::harness::input::{ConfigChange, GroupChoice, OffsetChoice, PartitionChoice, VersionChoice};
use crate::harness::oracle::Violation;
use crate::harness::oracle::model::TopicPartition;

/// `resource_type` of a topic in the config APIs.
const TOPIC_RESOURCE: i8 = 2;
/// IncrementalAlterConfigs' SET operation.
const SET: i8 = 0;
/// Admin deadlines: a broker alone answers at once.
const TIMEOUT_MS: i32 = 1000;

/// What an admin request was sent for.
#[derive(Debug)]
pub(super) enum AdminPurpose {
    DeleteTopic { topic: StrBytes, id: Uuid },
    CreatePartitions { topic: StrBytes, count: i32 },
    DeleteRecords { tp: TopicPartition, offset: i64 },
    AlterConfig { topic: StrBytes, config: &'static str },
    DescribeGroup { group: StrBytes },
    ListGroups,
    DeleteGroup { group: StrBytes },
    OffsetDelete { group: StrBytes, tp: TopicPartition },
}

impl<S: ServerUnderTest + ?Sized> Session<'_, S> {
    pub(super) fn plan_delete_topic(&self, topic: PartitionChoice, by_id: bool, version: VersionChoice) -> Planned {
        let version = version_of::<DeleteTopicsRequest>(version);
        let topic = name(topic.topic());
        // The id this client knows, stale if the topic was deleted since.
        let id = self.topic_ids.get(&topic).copied().unwrap_or_default();
        let mut body = DeleteTopicsRequest::default().with_timeout_ms(TIMEOUT_MS);
        if version >= 6 {
            let state = DeleteTopicState::default();
            body.topics = vec![if by_id && !id.is_nil() {
                state.with_topic_id(id)
            } else {
                state.with_name(Some(topic.clone().into()))
            }];
        } else {
            body.topic_names = vec![topic.clone().into()];
        }
        admin(
            ApiKey::DeleteTopics,
            version,
            body.into(),
            AdminPurpose::DeleteTopic { topic, id },
        )
    }

    pub(super) fn plan_create_partitions(topic: PartitionChoice, count: u8, version: VersionChoice) -> Planned {
        let topic = name(topic.topic());
        let count = 1 + i32::from(count % 4);
        let body = CreatePartitionsRequest::default()
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic.clone().into())
                    .with_count(count)
                    // Null: the broker places them.
                    .with_assignments(None),
            ])
            .with_timeout_ms(TIMEOUT_MS);
        let version = version_of::<CreatePartitionsRequest>(version);
        admin(
            ApiKey::CreatePartitions,
            version,
            body.into(),
            AdminPurpose::CreatePartitions { topic, count },
        )
    }

    pub(super) fn plan_delete_records(
        &self,
        client: usize,
        of: PartitionChoice,
        before: OffsetChoice,
        version: VersionChoice,
    ) -> Planned {
        let tp = TopicPartition::new(&name(of.topic()), of.partition());
        let offset = self.clients[client].offset(&tp, before);
        let body = DeleteRecordsRequest::default()
            .with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(tp.topic.clone().into())
                    .with_partitions(vec![
                        DeleteRecordsPartition::default()
                            .with_partition_index(tp.partition)
                            .with_offset(offset),
                    ]),
            ])
            .with_timeout_ms(TIMEOUT_MS);
        let version = version_of::<DeleteRecordsRequest>(version);
        admin(
            ApiKey::DeleteRecords,
            version,
            body.into(),
            AdminPurpose::DeleteRecords { tp, offset },
        )
    }

    /// Sets one config of `topic`. A retention is the model's to know before
    /// the answer: from the moment the server reads it, records may expire.
    pub(super) fn plan_alter_config(
        &mut self,
        topic: PartitionChoice,
        change: ConfigChange,
        incremental: bool,
        version: VersionChoice,
    ) -> Planned {
        let topic = name(topic.topic());
        let (config, value) = change.entry();
        if config == "retention.ms" {
            let retention_ms = value.parse().expect("a retention the session wrote");
            self.model.log.retention_set(&topic, retention_ms);
        }
        let purpose = AdminPurpose::AlterConfig {
            topic: topic.clone(),
            config,
        };
        let value = Some(StrBytes::from_string(value));
        if incremental {
            let body = IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(topic)
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(name(config))
                            .with_config_operation(SET)
                            .with_value(value),
                    ]),
            ]);
            let version = version_of::<IncrementalAlterConfigsRequest>(version);
            admin(ApiKey::IncrementalAlterConfigs, version, body.into(), purpose)
        } else {
            let body = AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(topic)
                    .with_configs(vec![
                        alter_configs_request::AlterableConfig::default()
                            .with_name(name(config))
                            .with_value(value),
                    ]),
            ]);
            admin(
                ApiKey::AlterConfigs,
                version_of::<AlterConfigsRequest>(version),
                body.into(),
                purpose,
            )
        }
    }

    pub(super) fn plan_describe_group(group: GroupChoice, version: VersionChoice) -> Planned {
        let group = name(group.name());
        let body = DescribeGroupsRequest::default().with_groups(vec![group.clone().into()]);
        let version = version_of::<DescribeGroupsRequest>(version);
        admin(
            ApiKey::DescribeGroups,
            version,
            body.into(),
            AdminPurpose::DescribeGroup { group },
        )
    }

    pub(super) fn plan_list_groups(version: VersionChoice) -> Planned {
        let version = version_of::<ListGroupsRequest>(version);
        admin(
            ApiKey::ListGroups,
            version,
            ListGroupsRequest::default().into(),
            AdminPurpose::ListGroups,
        )
    }

    pub(super) fn plan_delete_group(group: GroupChoice, version: VersionChoice) -> Planned {
        let group = name(group.name());
        let body = DeleteGroupsRequest::default().with_groups_names(vec![group.clone().into()]);
        let version = version_of::<DeleteGroupsRequest>(version);
        admin(
            ApiKey::DeleteGroups,
            version,
            body.into(),
            AdminPurpose::DeleteGroup { group },
        )
    }

    pub(super) fn plan_offset_delete(group: GroupChoice, of: PartitionChoice, version: VersionChoice) -> Planned {
        let group = name(group.name());
        let tp = TopicPartition::new(&name(of.topic()), of.partition());
        let body = OffsetDeleteRequest::default()
            .with_group_id(group.clone().into())
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(tp.topic.clone().into())
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(tp.partition),
                    ]),
            ]);
        let version = version_of::<OffsetDeleteRequest>(version);
        admin(
            ApiKey::OffsetDelete,
            version,
            body.into(),
            AdminPurpose::OffsetDelete { group, tp },
        )
    }

    /// An admin request whose answer never came: the server may have
    /// carried it out.
    pub(super) fn admin_abandoned(&mut self, purpose: AdminPurpose) {
        match purpose {
            AdminPurpose::DeleteRecords { tp, offset } => self.model.log.deletion_requested(&tp, offset),
            AdminPurpose::DeleteTopic { .. } => self.model.unknown_deletion(),
            AdminPurpose::DeleteGroup { .. } | AdminPurpose::OffsetDelete { .. } => self.model.groups.unknown_request(),
            // A retention was taken into account when the change was sent.
            AdminPurpose::AlterConfig { .. }
            | AdminPurpose::CreatePartitions { .. }
            | AdminPurpose::DescribeGroup { .. }
            | AdminPurpose::ListGroups => {}
        }
    }

    /// Reads an admin answer: what the model learns and checks.
    pub(super) fn read_admin(&mut self, purpose: AdminPurpose, response: ResponseKind) -> Result<(), Violation> {
        let at = self.at();
        match (purpose, response) {
            (AdminPurpose::DeleteTopic { topic, id }, ResponseKind::DeleteTopics(response)) => {
                for result in &response.responses {
                    self.note(|| format!("   -> delete {}: {}", topic.as_str(), error_name(result.error_code)));
                    if result.error_code == 0 {
                        self.topic_deleted(&topic, if result.topic_id.is_nil() { id } else { result.topic_id });
                    }
                }
            }
            (AdminPurpose::CreatePartitions { topic, count }, ResponseKind::CreatePartitions(response)) => {
                for result in &response.results {
                    self.note(|| {
                        format!(
                            "   -> {} to {count} partitions: {}",
                            topic.as_str(),
                            error_name(result.error_code)
                        )
                    });
                }
            }
            (AdminPurpose::DeleteRecords { tp, offset }, ResponseKind::DeleteRecords(response)) => {
                for partition in response.topics.iter().flat_map(|t| &t.partitions) {
                    self.note(|| {
                        format!(
                            "   -> {tp} below {offset}: {} low watermark {}",
                            error_name(partition.error_code),
                            partition.low_watermark
                        )
                    });
                    if partition.error_code == 0 {
                        self.model
                            .log
                            .records_deleted(at, &tp, offset, partition.low_watermark)?;
                    }
                }
            }
            (AdminPurpose::AlterConfig { topic, config }, ResponseKind::AlterConfigs(response)) => {
                for result in &response.responses {
                    self.note(|| format!("   -> {} {config}: {}", topic.as_str(), error_name(result.error_code)));
                }
            }
            (AdminPurpose::AlterConfig { topic, config }, ResponseKind::IncrementalAlterConfigs(response)) => {
                for result in &response.responses {
                    self.note(|| format!("   -> {} {config}: {}", topic.as_str(), error_name(result.error_code)));
                }
            }
            (AdminPurpose::DescribeGroup { group }, ResponseKind::DescribeGroups(response)) => {
                for described in &response.groups {
                    let members: Vec<StrBytes> = described.members.iter().map(|m| m.member_id.clone()).collect();
                    self.note(|| {
                        format!(
                            "   -> {} {}: {} with {} members",
                            group.as_str(),
                            error_name(described.error_code),
                            described.group_state.as_str(),
                            members.len()
                        )
                    });
                    if described.error_code == 0 {
                        self.model
                            .groups
                            .described(at, &group, described.group_state.as_str(), &members)?;
                    }
                }
            }
            (AdminPurpose::ListGroups, ResponseKind::ListGroups(response)) => {
                let listed: Vec<StrBytes> = response.groups.iter().map(|g| g.group_id.0.clone()).collect();
                self.note(|| {
                    let names: Vec<&str> = listed.iter().map(StrBytes::as_str).collect();
                    format!("   -> {}: [{}]", error_name(response.error_code), names.join(", "))
                });
                if response.error_code == 0 {
                    self.model.groups.listed(at, &listed)?;
                }
            }
            (AdminPurpose::DeleteGroup { group }, ResponseKind::DeleteGroups(response)) => {
                for result in &response.results {
                    self.note(|| format!("   -> delete {}: {}", group.as_str(), error_name(result.error_code)));
                    if result.error_code == 0 {
                        self.model.groups.group_deleted(&group);
                    }
                }
            }
            (AdminPurpose::OffsetDelete { group, tp }, ResponseKind::OffsetDelete(response)) => {
                let partition_error = response
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .map(|p| p.error_code)
                    .next();
                self.note(|| {
                    format!(
                        "   -> {} {tp}: {} / {}",
                        group.as_str(),
                        error_name(response.error_code),
                        partition_error.map_or_else(|| "no partition".to_owned(), error_name)
                    )
                });
                if response.error_code == 0 && partition_error == Some(0) {
                    self.model.groups.offset_deleted(&group, &tp);
                }
            }
            (purpose, response) => return Err(super::answered_otherwise(&purpose, &response)),
        }
        Ok(())
    }

    /// `topic` (with `id`) was deleted: the model forgets its log and its
    /// committed offsets; clients forget where they were in it.
    fn topic_deleted(&mut self, topic: &StrBytes, id: Uuid) {
        self.model.log.topic_deleted(topic);
        self.model.groups.topic_deleted(topic);
        self.model.topics.deleted(topic, id);
        for client in &mut self.clients {
            client.positions.retain(|tp, _| tp.topic != *topic);
            client.high_watermarks.retain(|tp, _| tp.topic != *topic);
        }
    }
}

fn admin(api: ApiKey, version: i16, body: kafka_protocol::messages::RequestKind, purpose: AdminPurpose) -> Planned {
    Planned {
        api,
        version,
        body,
        purpose: Purpose::Admin(purpose),
    }
}
