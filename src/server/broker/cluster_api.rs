//! ApiVersions, Metadata, CreateTopics and FindCoordinator: what the client
//! learns about the broker and its topics.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest, CreateTopicsResponse,
    DescribeClusterRequest, DescribeClusterResponse, FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::{ANSWERED_APIS, Answer, Broker, Waiting};
use super::metadata::MetadataRecord;
use super::replicas::NO_LEADER;
use super::sasl::SASL_APIS;
use super::topic_config::{self, ConfigRefusal};
use super::topics::{Topic, TopicError, check_name};
use crate::server::wire::SUPPORTED_APIS;

/// The APIs the broker answers (the SASL ones too where it authenticates),
/// at exactly the versions the decoder reads.
pub(super) fn supported_versions(sasl: bool) -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .filter(|api| ANSWERED_APIS.contains(&api.key) || (sasl && SASL_APIS.contains(&api.key)))
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.versions.min)
                .with_max_version(
                    api.versions.max
                        - i16::from(
                            planted!(ApiVersionsFetchMaxOneShort) && api.key == kafka_protocol::messages::ApiKey::Fetch,
                        ),
                )
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

/// A CreateTopics entry's configs, each checked as Kafka checks it.
fn checked_configs(
    topic: &kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> Result<BTreeMap<String, String>, TopicError> {
    let mut configs = BTreeMap::new();
    for config in &topic.configs {
        let refused = |(error, message): ConfigRefusal| TopicError { error, message };
        let Some(value) = &config.value else {
            return Err(refused((
                ResponseError::InvalidConfig,
                format!("Null value not supported for topic configs: {}", config.name.as_str()),
            )));
        };
        topic_config::check(&config.name, value).map_err(refused)?;
        configs.insert(config.name.to_string(), value.to_string());
    }
    Ok(configs)
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
        ApiVersionsResponse::default().with_api_keys(supported_versions(self.requires_sasl()))
    }

    /// DescribeCluster: the brokers clients may reach (fenced ones too from
    /// v2 when asked) and the controller. Controller endpoints (v1's
    /// endpoint type 2) are KRaft's controller listener, which this broker
    /// does not serve.
    pub(super) fn describe_cluster(&self, request: DescribeClusterRequest) -> DescribeClusterResponse {
        const BROKERS: i8 = 1;
        let response = DescribeClusterResponse::default()
            .with_endpoint_type(request.endpoint_type)
            .with_cluster_id(string(&self.config.cluster_id))
            .with_controller_id(BrokerId(self.view.controller))
            .with_cluster_authorized_operations(i32::MIN);
        if request.endpoint_type != BROKERS {
            return response
                .with_error_code(ResponseError::UnsupportedEndpointType.code())
                .with_error_message(Some(string("This broker serves the broker endpoints only.")));
        }
        let brokers = self
            .view
            .brokers
            .iter()
            .filter(|(id, _)| request.include_fenced_brokers || !self.view.fenced.contains(id))
            .map(|(&id, endpoint)| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(id))
                    .with_host(string(&endpoint.host))
                    .with_port(endpoint.port)
                    .with_rack(None)
                    .with_is_fenced(self.view.fenced.contains(&id))
            })
            .collect();
        response.with_brokers(brokers)
    }

    pub(super) fn metadata(&mut self, request: MetadataRequest, version: i16) -> MetadataResponse {
        let config = &self.config;
        let auto_create = config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
        let brokers = self
            .view
            .live()
            .map(|id| {
                let endpoint = &self.view.brokers[&id];
                let mut broker = MetadataResponseBroker::default()
                    .with_node_id(BrokerId(id))
                    .with_host(string(&endpoint.host))
                    .with_port(endpoint.port);
                broker.rack = None;
                broker
            })
            .collect();
        let mut response = MetadataResponse::default().with_brokers(brokers);
        if version >= 1 {
            response.controller_id = BrokerId(self.view.controller);
        }
        if version >= 2 {
            response.cluster_id = Some(string(&config.cluster_id));
        }
        // Null asks for every topic; so does an empty list at v0.
        let requested = match request.topics {
            Some(topics) if !(version == 0 && topics.is_empty()) => topics,
            _ => {
                response.topics = self.topics.iter().map(|t| topic_metadata(t, version)).collect();
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
                    let created = match self.topics.get(&name) {
                        Some(_) => Ok(()),
                        None if auto_create => self.auto_create(&name),
                        None => Err(ResponseError::UnknownTopicOrPartition),
                    };
                    match (created, self.topics.get(&name)) {
                        (Ok(()), Some(found)) => topic_metadata(found, version),
                        // Proposed to the quorum: Kafka's answer while a topic is created.
                        (Ok(()), None) => MetadataResponseTopic::default()
                            .with_error_code(ResponseError::LeaderNotAvailable.code())
                            .with_name(Some(TopicName(name))),
                        (Err(error), _) => MetadataResponseTopic::default()
                            .with_error_code(error.code())
                            .with_name(Some(TopicName(name))),
                    }
                }
                // v10+: a topic asked for by id alone.
                None => match self.topics.by_id(topic.topic_id) {
                    Some(found) => topic_metadata(found, version),
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

    /// CreateTopics: alone, topics exist when it answers; on a cluster the
    /// answer waits until this broker's image has what the quorum committed.
    pub(super) fn create_topics(&mut self, request: CreateTopicsRequest, version: i16) -> Answer {
        let mut response = CreateTopicsResponse::default();
        let mut proposed = Vec::new();
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
                self.check_creatable(topic).and_then(|(replicas, factor)| {
                    let configs = checked_configs(topic)?;
                    Ok((replicas, factor, configs))
                })
            };
            match outcome {
                Ok((replicas, factor, configs)) => {
                    if version >= 5 {
                        result.num_partitions = i32::try_from(replicas.len()).unwrap_or(i32::MAX);
                        result.replication_factor = factor;
                    }
                    if !request.validate_only {
                        self.next_request += 1;
                        let tag = (u64::try_from(self.config.node_id).unwrap_or(0) << 40) | self.next_request;
                        self.propose(MetadataRecord::CreateTopic {
                            name: name.to_string(),
                            replicas,
                            request: Some(tag),
                            configs,
                        });
                        proposed.push((response.topics.len(), name.clone(), tag));
                    }
                }
                Err(refused) => {
                    result.error_code = refused.error.code();
                    result.error_message = Some(StrBytes::from_string(refused.message));
                }
            }
            response.topics.push(result);
        }
        let deadline_ms = self.now_ms().saturating_add(i64::from(request.timeout_ms.max(0)));
        self.poll_created(PendingTopics { response, proposed }, version, false)
            .with_deadline(deadline_ms)
    }

    /// Proposed topics again: each is answered once the image has it (ours,
    /// or another's that won the race: TOPIC_ALREADY_EXISTS), or at the
    /// deadline with REQUEST_TIMED_OUT.
    pub(super) fn poll_created(&mut self, pending: PendingTopics, version: i16, expired: bool) -> Answer {
        let PendingTopics { mut response, proposed } = pending;
        let mut still = Vec::new();
        for (at, name, tag) in proposed {
            let result = &mut response.topics[at];
            match self.topics.get(&name) {
                Some(topic) if topic.created_by == Some(tag) => {
                    if version >= 7 {
                        result.topic_id = topic.id;
                    }
                }
                Some(_) => {
                    result.error_code = ResponseError::TopicAlreadyExists.code();
                    result.error_message = Some(StrBytes::from_string(format!("Topic '{name}' already exists.")));
                }
                None if expired => {
                    result.error_code = ResponseError::RequestTimedOut.code();
                    result.error_message = Some(StrBytes::from_static_str(
                        "the metadata quorum did not commit it in time",
                    ));
                }
                None => still.push((at, name, tag)),
            }
        }
        Answer::now_or_wait(response, still.is_empty(), |response| {
            Waiting::CreateTopics(PendingTopics {
                response,
                proposed: still,
            })
        })
    }

    /// Replicas for `partitions` new partitions, `factor` each, spread so
    /// that leaders rotate over the live brokers; `None` when fewer than
    /// `factor` brokers are live (Kafka refuses the topic then).
    pub(super) fn place_replicas(&self, partitions: i32, factor: usize) -> Option<Vec<Vec<i32>>> {
        let live: Vec<i32> = self.view.live().collect();
        if factor == 0 || factor > live.len() {
            return None;
        }
        let offset = self.topics.iter().count();
        let placed = (0..usize::try_from(partitions).unwrap_or(0))
            .map(|partition| {
                (0..factor)
                    .map(|k| live[(offset + partition + k) % live.len()])
                    .collect()
            })
            .collect();
        Some(placed)
    }

    /// Kafka's checks of one CreateTopics entry; the replicas of each
    /// partition to create, and the replication factor, when it passes.
    fn check_creatable(
        &self,
        topic: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    ) -> Result<(Vec<Vec<i32>>, i16), TopicError> {
        let refuse = |error, message: &str| {
            Err(TopicError {
                error,
                message: message.to_owned(),
            })
        };
        check_name(&topic.name)?;
        let live: Vec<i32> = self.view.live().collect();
        let (partitions, replicas) = if topic.assignments.is_empty() {
            let factor = match topic.replication_factor {
                -1 => self.config.default_replication_factor,
                factor if factor <= 0 => {
                    return refuse(
                        ResponseError::InvalidReplicationFactor,
                        "Replication factor must be larger than 0, or -1 to use the default value.",
                    );
                }
                factor => factor as usize,
            };
            if factor > live.len() {
                return refuse(
                    ResponseError::InvalidReplicationFactor,
                    &format!(
                        "Unable to replicate the partition {factor} time(s): only {} broker(s) are registered.",
                        live.len()
                    ),
                );
            }
            let partitions = match topic.num_partitions {
                -1 => self.config.default_partitions,
                count => count,
            };
            // The count is checked before anything is placed for it.
            self.topics
                .check_new(&topic.name, partitions, self.config.max_partitions_per_topic)?;
            let placed = self
                .place_replicas(
                    partitions - i32::from(planted!(CreateTopicsOnePartitionShort) && partitions > 1),
                    factor,
                )
                .unwrap_or_default();
            (partitions, placed)
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
            let factor = topic.assignments.first().map_or(0, |a| a.broker_ids.len());
            let valid = |ids: &[BrokerId]| {
                ids.len() == factor
                    && ids.iter().all(|id| live.contains(&id.0))
                    && ids.iter().enumerate().all(|(at, id)| !ids[..at].contains(id))
            };
            if !consecutive || factor == 0 || !topic.assignments.iter().all(|a| valid(&a.broker_ids)) {
                return refuse(
                    ResponseError::InvalidReplicaAssignment,
                    "Partitions must be numbered from 0, each with the same number of distinct live brokers.",
                );
            }
            let replicas = topic
                .assignments
                .iter()
                .map(|a| a.broker_ids.iter().map(|id| id.0).collect())
                .collect();
            (i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX), replicas)
        };
        self.topics
            .check_new(&topic.name, partitions, self.config.max_partitions_per_topic)?;
        let factor = replicas.first().map_or(0, Vec::len);
        Ok((replicas, i16::try_from(factor).unwrap_or(i16::MAX)))
    }

    pub(super) fn find_coordinator(&self, request: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
        // Key types: 0 a group, 1 a transactional id.
        let error = match request.key_type {
            0 | 1 => None,
            _ => Some(ResponseError::InvalidRequest),
        };
        // The coordinator of every group: the first live broker (alone,
        // this one). Group state is not replicated: when that broker is
        // fenced, groups move to the next and start afresh.
        let coordinator = self.view.live().next().map(|id| (id, &self.view.brokers[&id]));
        let (node_id, host, port) = match (error, coordinator) {
            (None, Some((id, endpoint))) => (BrokerId(id), string(&endpoint.host), endpoint.port),
            (None, None) => (BrokerId(-1), StrBytes::default(), -1),
            (Some(_), _) => (BrokerId(-1), StrBytes::default(), -1),
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

fn topic_metadata(topic: &Topic, version: i16) -> MetadataResponseTopic {
    let ids = |ids: &[i32]| ids.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let partitions = (0..)
        .zip(&topic.partitions)
        .map(|(index, replica)| {
            let assignment = &replica.assignment;
            let mut partition = MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(BrokerId(assignment.leader))
                .with_replica_nodes(ids(&assignment.replicas))
                .with_isr_nodes(ids(&assignment.isr));
            if assignment.leader == NO_LEADER {
                partition.error_code = ResponseError::LeaderNotAvailable.code();
            }
            if version >= 7 {
                partition.leader_epoch = assignment.leader_epoch;
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

/// CreateTopics proposed to the quorum: the response, and for each proposed
/// topic its place in it, its name and the tag of its record.
#[derive(Debug)]
pub struct PendingTopics {
    response: CreateTopicsResponse,
    proposed: Vec<(usize, StrBytes, u64)>,
}
