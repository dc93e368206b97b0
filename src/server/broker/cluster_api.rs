//! ApiVersions, Metadata, CreateTopics and FindCoordinator: what the client
//! learns about the broker and its topics.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest, CreateTopicsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::Broker;
use super::topics::{Topic, TopicError, check_name};
use crate::server::wire::SUPPORTED_APIS;

/// Exactly the ranges the decoder accepts.
pub(super) fn supported_versions() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.versions.min)
                .with_max_version(api.versions.max)
        })
        .collect()
}

/// Kafka's rule for client software names and versions (ApiVersions v3+):
/// alphanumerics, with `-` and `.` inside.
fn valid_software_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        }
        _ => false,
    }
}

fn string(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

impl Broker {
    pub(super) fn api_versions(&self, request: &ApiVersionsRequest, version: i16) -> ApiVersionsResponse {
        if version >= 3
            && !(valid_software_label(&request.client_software_name)
                && valid_software_label(&request.client_software_version))
        {
            return ApiVersionsResponse::default().with_error_code(ResponseError::InvalidRequest.code());
        }
        ApiVersionsResponse::default().with_api_keys(supported_versions())
    }

    pub(super) fn metadata(&mut self, request: MetadataRequest, version: i16) -> MetadataResponse {
        let config = &self.config;
        let auto_create = config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
        let (partitions, max_partitions) = (config.default_partitions, config.max_partitions_per_topic);
        let mut broker = MetadataResponseBroker::default()
            .with_node_id(BrokerId(config.node_id))
            .with_host(string(&config.advertised_host))
            .with_port(config.advertised_port);
        broker.rack = None;
        let mut response = MetadataResponse::default().with_brokers(vec![broker]);
        if version >= 1 {
            response.controller_id = BrokerId(config.node_id);
        }
        if version >= 2 {
            response.cluster_id = Some(string(&config.cluster_id));
        }
        let node_id = config.node_id;
        // Null asks for every topic; so does an empty list at v0.
        let requested = match request.topics {
            Some(topics) if !(version == 0 && topics.is_empty()) => topics,
            _ => {
                response.topics = self
                    .topics
                    .iter()
                    .map(|t| topic_metadata(t, version, node_id))
                    .collect();
                return response;
            }
        };
        let mut seen: Vec<StrBytes> = Vec::new();
        for topic in requested {
            let entry = match topic.name {
                Some(TopicName(name)) => {
                    if seen.contains(&name) {
                        continue;
                    }
                    seen.push(name.clone());
                    match self
                        .topics
                        .get_or_create(&name, auto_create, partitions, max_partitions)
                    {
                        Ok(found) => topic_metadata(found, version, node_id),
                        Err(error) => MetadataResponseTopic::default()
                            .with_error_code(error.code())
                            .with_name(Some(TopicName(name))),
                    }
                }
                // v10+: a topic asked for by id alone.
                None => match self.topics.by_id(topic.topic_id) {
                    Some(found) => topic_metadata(found, version, node_id),
                    None => {
                        let mut unknown = MetadataResponseTopic::default()
                            .with_error_code(ResponseError::UnknownTopicId.code())
                            .with_topic_id(topic.topic_id);
                        // The name is nullable from v12 only.
                        unknown.name = (version < 12).then(|| TopicName(StrBytes::default()));
                        unknown
                    }
                },
            };
            response.topics.push(entry);
        }
        response
    }

    pub(super) fn create_topics(&mut self, request: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
        let mut response = CreateTopicsResponse::default();
        let names: Vec<&StrBytes> = request.topics.iter().map(|topic| &topic.name.0).collect();
        for topic in &request.topics {
            let name = &topic.name.0;
            let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
            let outcome = if names.iter().filter(|other| **other == name).count() > 1 {
                Err(TopicError {
                    error: ResponseError::InvalidRequest,
                    message: format!(
                        "Create topics request contains multiple entries for the topic {}",
                        name.as_str()
                    ),
                })
            } else {
                self.check_creatable(topic)
            };
            match outcome {
                Ok(partitions) => {
                    if !request.validate_only {
                        let created = self.topics.create(name.clone(), partitions);
                        if version >= 7 {
                            result.topic_id = created.id;
                        }
                    }
                    if version >= 5 {
                        result.num_partitions = partitions;
                        result.replication_factor = 1;
                    }
                }
                Err(refused) => {
                    result.error_code = refused.error.code();
                    result.error_message = Some(StrBytes::from_string(refused.message));
                }
            }
            response.topics.push(result);
        }
        response
    }

    /// Kafka's checks of one CreateTopics entry; the partition count to
    /// create when it passes.
    fn check_creatable(
        &self,
        topic: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    ) -> Result<i32, TopicError> {
        let refuse = |error, message: &str| {
            Err(TopicError {
                error,
                message: message.to_owned(),
            })
        };
        check_name(&topic.name)?;
        let node = BrokerId(self.config.node_id);
        let partitions = if topic.assignments.is_empty() {
            match topic.replication_factor {
                -1 | 1 => {}
                factor if factor <= 0 => {
                    return refuse(
                        ResponseError::InvalidReplicationFactor,
                        "Replication factor must be larger than 0, or -1 to use the default value.",
                    );
                }
                factor => {
                    return refuse(
                        ResponseError::InvalidReplicationFactor,
                        &format!(
                            "Unable to replicate the partition {factor} time(s): only 1 broker(s) are registered."
                        ),
                    );
                }
            }
            match topic.num_partitions {
                -1 => self.config.default_partitions,
                count => count,
            }
        } else {
            if topic.num_partitions != -1 || topic.replication_factor != -1 {
                return refuse(
                    ResponseError::InvalidRequest,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
                );
            }
            let consecutive = topic
                .assignments
                .iter()
                .enumerate()
                .all(|(at, assignment)| usize::try_from(assignment.partition_index) == Ok(at));
            if !consecutive || topic.assignments.iter().any(|a| a.broker_ids != [node]) {
                return refuse(
                    ResponseError::InvalidReplicaAssignment,
                    "Partitions must be numbered from 0 and assigned to this broker alone.",
                );
            }
            i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX)
        };
        self.topics
            .check_new(&topic.name, partitions, self.config.max_partitions_per_topic)?;
        Ok(partitions)
    }

    pub(super) fn find_coordinator(&self, request: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
        let config = &self.config;
        // Key types: 0 a group, 1 a transactional id.
        let error = match request.key_type {
            0 | 1 => None,
            _ => Some(ResponseError::InvalidRequest),
        };
        let (node_id, host, port) = match error {
            None => (
                BrokerId(config.node_id),
                string(&config.advertised_host),
                config.advertised_port,
            ),
            Some(_) => (BrokerId(-1), StrBytes::default(), -1),
        };
        let code = error.map_or(0, |e| e.code());
        let mut response = FindCoordinatorResponse::default();
        if version >= 4 {
            response.coordinators = request
                .coordinator_keys
                .into_iter()
                .map(|key| {
                    Coordinator::default()
                        .with_key(key)
                        .with_node_id(node_id)
                        .with_host(host.clone())
                        .with_port(port)
                        .with_error_code(code)
                })
                .collect();
        } else {
            response.error_code = code;
            response.node_id = node_id;
            response.host = host;
            response.port = port;
        }
        response
    }
}

fn topic_metadata(topic: &Topic, version: i16, node_id: i32) -> MetadataResponseTopic {
    let node = BrokerId(node_id);
    let partitions = (0..)
        .zip(&topic.partitions)
        .map(|(index, _)| {
            let mut partition = MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node]);
            if version >= 7 {
                partition.leader_epoch = 0;
            }
            partition
        })
        .collect();
    let mut response = MetadataResponseTopic::default()
        .with_name(Some(TopicName(topic.name.clone())))
        .with_partitions(partitions);
    if version >= 10 {
        response.topic_id = topic.id;
    }
    response
}
