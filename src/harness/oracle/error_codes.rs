//! Oracle: every error code in a response is one Apache Kafka's broker
//! returns for that API. A code outside the API's set (REBALANCE_IN_PROGRESS
//! in a Produce response, an undefined 9999) means the server took a wrong
//! error path or wrote garbage into the field; clients act on these codes, so
//! a wrong one steers them wrong (retry, refresh metadata, rejoin, give up).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ResponseKind};

/// One error code of a response and the field it sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCodeAt {
    /// The field's place, e.g. `responses[].partition_responses[].error_code`.
    pub path: &'static str,
    pub code: i16,
}

/// An error code Kafka never returns for the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{api:?} response: error code {code}{} at {path} is not one Kafka returns for {api:?}",
    code_name(*.code)
)]
pub struct IllegalErrorCode {
    pub api: ApiKey,
    pub path: &'static str,
    pub code: i16,
}

/// Every error code field of a response of the APIs the broker answers, in
/// wire order, including those that are 0 and those the response's version
/// lacks (they hold 0 then). Other APIs yield nothing.
pub fn response_error_codes(response: &ResponseKind) -> Vec<ErrorCodeAt> {
    let mut found = Vec::new();
    let mut at = |path, code| found.push(ErrorCodeAt { path, code });
    match response {
        ResponseKind::ApiVersions(r) => at("error_code", r.error_code),
        ResponseKind::Metadata(r) => {
            for topic in &r.topics {
                at("topics[].error_code", topic.error_code);
                for partition in &topic.partitions {
                    at("topics[].partitions[].error_code", partition.error_code);
                }
            }
            at("error_code", r.error_code);
        }
        ResponseKind::Produce(r) => {
            for topic in &r.responses {
                for partition in &topic.partition_responses {
                    at("responses[].partition_responses[].error_code", partition.error_code);
                }
            }
        }
        ResponseKind::Fetch(r) => {
            at("error_code", r.error_code);
            for topic in &r.responses {
                for partition in &topic.partitions {
                    at("responses[].partitions[].error_code", partition.error_code);
                }
            }
        }
        ResponseKind::ListOffsets(r) => {
            for topic in &r.topics {
                for partition in &topic.partitions {
                    at("topics[].partitions[].error_code", partition.error_code);
                }
            }
        }
        ResponseKind::CreateTopics(r) => {
            for topic in &r.topics {
                at("topics[].error_code", topic.error_code);
                at("topics[].topic_config_error_code", topic.topic_config_error_code);
            }
        }
        ResponseKind::FindCoordinator(r) => {
            at("error_code", r.error_code);
            for coordinator in &r.coordinators {
                at("coordinators[].error_code", coordinator.error_code);
            }
        }
        ResponseKind::JoinGroup(r) => at("error_code", r.error_code),
        ResponseKind::SyncGroup(r) => at("error_code", r.error_code),
        ResponseKind::Heartbeat(r) => at("error_code", r.error_code),
        ResponseKind::LeaveGroup(r) => {
            at("error_code", r.error_code);
            for member in &r.members {
                at("members[].error_code", member.error_code);
            }
        }
        ResponseKind::OffsetCommit(r) => {
            for topic in &r.topics {
                for partition in &topic.partitions {
                    at("topics[].partitions[].error_code", partition.error_code);
                }
            }
        }
        ResponseKind::OffsetFetch(r) => {
            // v1-7 answer one group at the top level, v8+ several under groups[].
            for topic in &r.topics {
                for partition in &topic.partitions {
                    at("topics[].partitions[].error_code", partition.error_code);
                }
            }
            at("error_code", r.error_code);
            for group in &r.groups {
                for topic in &group.topics {
                    for partition in &topic.partitions {
                        at("groups[].topics[].partitions[].error_code", partition.error_code);
                    }
                }
                at("groups[].error_code", group.error_code);
            }
        }
        ResponseKind::InitProducerId(r) => at("error_code", r.error_code),
        ResponseKind::DeleteTopics(r) => {
            for topic in &r.responses {
                at("responses[].error_code", topic.error_code);
            }
        }
        ResponseKind::CreatePartitions(r) => {
            for topic in &r.results {
                at("results[].error_code", topic.error_code);
            }
        }
        ResponseKind::ListGroups(r) => at("error_code", r.error_code),
        ResponseKind::DescribeCluster(r) => at("error_code", r.error_code),
        ResponseKind::DescribeConfigs(r) => {
            for result in &r.results {
                at("results[].error_code", result.error_code);
            }
        }
        ResponseKind::AlterConfigs(r) => {
            for response in &r.responses {
                at("responses[].error_code", response.error_code);
            }
        }
        ResponseKind::IncrementalAlterConfigs(r) => {
            for response in &r.responses {
                at("responses[].error_code", response.error_code);
            }
        }
        ResponseKind::DeleteRecords(r) => {
            for topic in &r.topics {
                for partition in &topic.partitions {
                    at("topics[].partitions[].error_code", partition.error_code);
                }
            }
        }
        ResponseKind::DescribeGroups(r) => {
            for group in &r.groups {
                at("groups[].error_code", group.error_code);
            }
        }
        ResponseKind::DeleteGroups(r) => {
            for group in &r.results {
                at("results[].error_code", group.error_code);
            }
        }
        ResponseKind::OffsetForLeaderEpoch(r) => {
            for topic in &r.topics {
                for partition in &topic.partitions {
                    at("topics[].partitions[].error_code", partition.error_code);
                }
            }
        }
        ResponseKind::DescribeProducers(r) => {
            for topic in &r.topics {
                for partition in &topic.partitions {
                    at("topics[].partitions[].error_code", partition.error_code);
                }
            }
        }
        ResponseKind::ElectLeaders(r) => {
            at("error_code", r.error_code);
            for topic in &r.replica_election_results {
                for partition in &topic.partition_result {
                    at(
                        "replica_election_results[].partition_result[].error_code",
                        partition.error_code,
                    );
                }
            }
        }
        ResponseKind::DescribeLogDirs(r) => {
            at("error_code", r.error_code);
            for result in &r.results {
                at("results[].error_code", result.error_code);
            }
        }
        ResponseKind::OffsetDelete(r) => {
            at("error_code", r.error_code);
            for topic in &r.topics {
                for partition in &topic.partitions {
                    at("topics[].partitions[].error_code", partition.error_code);
                }
            }
        }
        _ => {}
    }
    found
}

/// The codes legal for every API, then the API's own: success; the catch-all
/// Kafka maps unexpected exceptions to; and the two a broker sends for a
/// request it parsed but refuses as a whole (`KafkaApis.handleError` copies
/// the error into every error field through `getErrorResponse`).
macro_rules! codes {
    ($($error:ident),* $(,)?) => {{
        const CODES: &[i16] = &[
            0,
            ResponseError::UnknownServerError.code(),
            ResponseError::InvalidRequest.code(),
            ResponseError::UnsupportedVersion.code(),
            $(ResponseError::$error.code()),*
        ];
        CODES
    }};
}

/// The error codes Apache Kafka's broker returns for `api`, in any field of
/// its response; `None` for an API the suite has no table for. Generous on
/// purpose, since a false alarm costs a triage: a code is in when some Kafka
/// from 0.11 to 4.1 has, or plausibly has, a path to it for the API; what is
/// left out makes no sense there.
pub fn legal_error_codes(api: ApiKey) -> Option<&'static [i16]> {
    let codes = match api {
        // KafkaApis.handleApiVersionsRequest: a version the broker lacks
        // (UNSUPPORTED_VERSION), a bad client software name or version in v3+
        // (INVALID_REQUEST).
        ApiKey::ApiVersions => codes![],
        // KafkaApis.handleTopicMetadataRequest and the metadata cache: unknown,
        // unauthorized or invalid topics and topic ids; auto-creation reports
        // any creation error (Errors.forException) and LEADER_NOT_AVAILABLE
        // while it runs; partitions with no live leader, replica or listener;
        // REBOOTSTRAP_REQUIRED at the top level (v13, KIP-1102). Brokers before
        // 2.x answered COORDINATOR_NOT_AVAILABLE for __consumer_offsets when
        // too few brokers were alive to create it.
        ApiKey::Metadata => codes![
            UnknownTopicOrPartition,
            LeaderNotAvailable,
            ReplicaNotAvailable,
            InvalidTopicException,
            TopicAuthorizationFailed,
            InvalidPartitions,
            InvalidReplicationFactor,
            InvalidConfig,
            PolicyViolation,
            CoordinatorNotAvailable,
            ListenerNotFound,
            UnknownTopicId,
            RebootstrapRequired,
        ],
        // ProduceResponse.java "Possible error code" list, plus
        // ReplicaManager.appendRecords: acks=-1 timeouts, idempotence checks
        // (ProducerStateManager), transaction verification (KIP-890, whose
        // coordinator errors it maps to NOT_ENOUGH_REPLICAS), offline log dirs;
        // KafkaApis.handleProduceRequest: zstd before v7, topic ids (v13).
        ApiKey::Produce => codes![
            CorruptMessage,
            UnknownTopicOrPartition,
            NotLeaderOrFollower,
            RequestTimedOut,
            MessageTooLarge,
            InvalidTopicException,
            RecordListTooLarge,
            NotEnoughReplicas,
            NotEnoughReplicasAfterAppend,
            InvalidRequiredAcks,
            TopicAuthorizationFailed,
            ClusterAuthorizationFailed,
            InvalidTimestamp,
            UnsupportedForMessageFormat,
            OutOfOrderSequenceNumber,
            DuplicateSequenceNumber,
            InvalidProducerEpoch,
            InvalidTxnState,
            InvalidProducerIdMapping,
            ConcurrentTransactions,
            TransactionalIdAuthorizationFailed,
            KafkaStorageError,
            UnknownProducerId,
            UnsupportedCompressionType,
            InvalidRecord,
            ProducerFenced,
            UnknownTopicId,
            TransactionAbortable,
        ],
        // FetchResponse.java "Possible error codes" (partitions), the fetch
        // session cache (top level: FETCH_SESSION_ID_NOT_FOUND,
        // INVALID_FETCH_SESSION_EPOCH, FETCH_SESSION_TOPIC_ID_ERROR) and
        // KafkaApis.handleFetchRequest (a follower fetch without ClusterAction).
        ApiKey::Fetch => codes![
            OffsetOutOfRange,
            CorruptMessage,
            UnknownTopicOrPartition,
            NotLeaderOrFollower,
            ReplicaNotAvailable,
            TopicAuthorizationFailed,
            ClusterAuthorizationFailed,
            KafkaStorageError,
            FetchSessionIdNotFound,
            InvalidFetchSessionEpoch,
            FencedLeaderEpoch,
            UnknownLeaderEpoch,
            UnsupportedCompressionType,
            UnknownTopicId,
            InconsistentTopicId,
            FetchSessionTopicIdError,
        ],
        // ListOffsetsResponse.java "Possible error codes", plus
        // KafkaApis.handleListOffsetRequest (a partition named twice is
        // INVALID_REQUEST) and a tiered-storage lookup outliving timeout_ms
        // (v10, KIP-1075).
        ApiKey::ListOffsets => codes![
            UnknownTopicOrPartition,
            LeaderNotAvailable,
            NotLeaderOrFollower,
            RequestTimedOut,
            ReplicaNotAvailable,
            TopicAuthorizationFailed,
            UnsupportedForMessageFormat,
            KafkaStorageError,
            FencedLeaderEpoch,
            UnknownLeaderEpoch,
            OffsetNotAvailable,
        ],
        // CreateTopicsResponse.json; KafkaApis/ControllerApis.createTopics and
        // ReplicationControlManager: validation, ACLs (topic_config_error_code
        // is TOPIC_AUTHORIZATION_FAILED without DescribeConfigs), create-policy,
        // the mutation quota (KIP-599), request timeouts, and a broker that
        // forwards to a controller that moved (NOT_CONTROLLER).
        ApiKey::CreateTopics => codes![
            RequestTimedOut,
            InvalidTopicException,
            TopicAuthorizationFailed,
            ClusterAuthorizationFailed,
            TopicAlreadyExists,
            InvalidPartitions,
            InvalidReplicationFactor,
            InvalidReplicaAssignment,
            InvalidConfig,
            NotController,
            PolicyViolation,
            ThrottlingQuotaExceeded,
        ],
        // KafkaApis.handleFindCoordinatorRequest: no live leader for the key's
        // partition of __consumer_offsets / __transaction_state, the ACL of the
        // key type (ClusterAction for share coordinator keys), INVALID_REQUEST
        // for an unknown key type or an empty transactional id.
        ApiKey::FindCoordinator => codes![
            CoordinatorNotAvailable,
            GroupAuthorizationFailed,
            ClusterAuthorizationFailed,
            TransactionalIdAuthorizationFailed,
        ],
        // The group APIs: GroupCoordinator (classic, to 3.x) and
        // GroupCoordinatorService / GroupMetadataManager (KIP-848, 4.x), which
        // map log-append errors to COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR
        // and report a group of another type as GROUP_ID_NOT_FOUND;
        // validateGroupStatus gives INVALID_GROUP_ID and the coordinator errors.
        ApiKey::JoinGroup => codes![
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            InconsistentGroupProtocol,
            InvalidGroupId,
            UnknownMemberId,
            InvalidSessionTimeout,
            RebalanceInProgress,
            GroupAuthorizationFailed,
            GroupIdNotFound,
            MemberIdRequired,
            GroupMaxSizeReached,
            FencedInstanceId,
            UnreleasedInstanceId,
        ],
        // v5+ also checks protocol type and name (INCONSISTENT_GROUP_PROTOCOL).
        ApiKey::SyncGroup => codes![
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            IllegalGeneration,
            InconsistentGroupProtocol,
            InvalidGroupId,
            UnknownMemberId,
            RebalanceInProgress,
            GroupAuthorizationFailed,
            GroupIdNotFound,
            FencedInstanceId,
        ],
        ApiKey::Heartbeat => codes![
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            IllegalGeneration,
            InvalidGroupId,
            UnknownMemberId,
            RebalanceInProgress,
            GroupAuthorizationFailed,
            GroupIdNotFound,
            FencedInstanceId,
        ],
        // Leaving never waits on a rebalance or a generation: no
        // REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION.
        ApiKey::LeaveGroup => codes![
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            InvalidGroupId,
            UnknownMemberId,
            GroupAuthorizationFailed,
            GroupIdNotFound,
            FencedInstanceId,
        ],
        // Plus GroupMetadataManager.storeOffsets: oversized metadata or batch,
        // append timeouts passed through; KIP-848 member epochs (v9+), topic
        // ids (v10).
        ApiKey::OffsetCommit => codes![
            UnknownTopicOrPartition,
            RequestTimedOut,
            OffsetMetadataTooLarge,
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            IllegalGeneration,
            InvalidGroupId,
            UnknownMemberId,
            RebalanceInProgress,
            InvalidCommitOffsetSize,
            TopicAuthorizationFailed,
            GroupAuthorizationFailed,
            GroupIdNotFound,
            FencedInstanceId,
            StaleMemberEpoch,
            UnknownTopicId,
        ],
        // Plus pending transactional offsets (UNSTABLE_OFFSET_COMMIT, v7+),
        // member id and epoch checks (v9+), topic ids (v10).
        ApiKey::OffsetFetch => codes![
            UnknownTopicOrPartition,
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            IllegalGeneration,
            InvalidGroupId,
            UnknownMemberId,
            TopicAuthorizationFailed,
            GroupAuthorizationFailed,
            GroupIdNotFound,
            UnstableOffsetCommit,
            StaleMemberEpoch,
            UnknownTopicId,
        ],
        // TransactionCoordinator.handleInitProducerId and the producer id
        // manager: coordinator state, ACLs (IdempotentWrite before 2.8), the
        // timeout bound, epoch and id checks of v3+, 2PC state (v6, KIP-939).
        ApiKey::InitProducerId => codes![
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            ClusterAuthorizationFailed,
            InvalidProducerEpoch,
            InvalidTxnState,
            InvalidProducerIdMapping,
            InvalidTransactionTimeout,
            ConcurrentTransactions,
            TransactionalIdAuthorizationFailed,
            ProducerFenced,
        ],
        // ControllerApis.deleteTopics and ReplicationControlManager: names
        // and ids unknown, duplicated, both or neither given; deletion
        // disabled; ACLs; the controller's state and the request's timeout.
        ApiKey::DeleteTopics => codes![
            UnknownTopicOrPartition,
            UnknownTopicId,
            TopicDeletionDisabled,
            TopicAuthorizationFailed,
            InvalidTopicException,
            NotController,
            RequestTimedOut,
            ThrottlingQuotaExceeded,
        ],
        // ReplicationControlManager.createPartitions: unknown topics, counts
        // that do not grow or exceed the limits, manual assignments of the
        // wrong size or to unknown, fenced or repeated brokers, too few
        // brokers, policy, ACLs, the controller's state and the timeout.
        ApiKey::CreatePartitions => codes![
            UnknownTopicOrPartition,
            InvalidPartitions,
            InvalidReplicaAssignment,
            InvalidReplicationFactor,
            PolicyViolation,
            TopicAuthorizationFailed,
            ClusterAuthorizationFailed,
            InvalidTopicException,
            NotController,
            RequestTimedOut,
            ThrottlingQuotaExceeded,
            ResourceNotFound,
        ],
        // GroupCoordinator.handleListGroups: the coordinator loading or not
        // available, ACLs (ClusterAuthorizationFailed before 2.x).
        ApiKey::ListGroups => codes![
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            ClusterAuthorizationFailed,
        ],
        // GroupCoordinator.handleDescribeGroup: a group not coordinated
        // here or loading, an invalid id, ACLs; GROUP_ID_NOT_FOUND (v6).
        ApiKey::DescribeGroups => codes![
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            InvalidGroupId,
            GroupAuthorizationFailed,
            GroupIdNotFound,
        ],
        // GroupCoordinator.handleDeleteGroups: not found, not empty, an
        // invalid id, ACLs, the coordinator's state.
        ApiKey::DeleteGroups => codes![
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            InvalidGroupId,
            GroupAuthorizationFailed,
            GroupIdNotFound,
            NonEmptyGroup,
        ],
        // GroupCoordinator.handleDeleteOffsets: group-level as DeleteGroups
        // (a non-consumer group with members is NON_EMPTY_GROUP); per
        // partition, unknown partitions, a subscribed topic, topic ACLs.
        ApiKey::OffsetDelete => codes![
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            InvalidGroupId,
            GroupAuthorizationFailed,
            GroupIdNotFound,
            NonEmptyGroup,
            UnknownTopicOrPartition,
            GroupSubscribedToTopic,
            TopicAuthorizationFailed,
        ],
        // ReplicaManager.deleteRecords: unknown partitions, not the leader,
        // an offset past the high watermark, compacted topics (policy),
        // the replicas not catching up in time, topic ACLs, storage.
        ApiKey::DeleteRecords => codes![
            UnknownTopicOrPartition,
            NotLeaderOrFollower,
            OffsetOutOfRange,
            PolicyViolation,
            RequestTimedOut,
            TopicAuthorizationFailed,
            KafkaStorageError,
            NotEnoughReplicas,
        ],
        // ReplicaManager.lastOffsetForLeaderEpoch: unknown partitions, not
        // the leader, a current leader epoch older or newer than the
        // leader's, topic ACLs (and the cluster's for a replica), storage.
        ApiKey::OffsetForLeaderEpoch => codes![
            UnknownTopicOrPartition,
            NotLeaderOrFollower,
            FencedLeaderEpoch,
            UnknownLeaderEpoch,
            TopicAuthorizationFailed,
            ClusterAuthorizationFailed,
            KafkaStorageError,
        ],
        // KafkaApis.handleDescribeProducersRequest: unknown partitions, not
        // the leader, invalid names, topic ACLs, storage.
        ApiKey::DescribeProducers => codes![
            UnknownTopicOrPartition,
            NotLeaderOrFollower,
            InvalidTopicException,
            TopicAuthorizationFailed,
            KafkaStorageError,
        ],
        // ReplicationControlManager.electLeaders: the cluster ACL, unknown
        // partitions, a preferred leader already leading or out of sync,
        // no live replica for an unclean election, the controller's state
        // and the timeout.
        ApiKey::ElectLeaders => codes![
            ClusterAuthorizationFailed,
            UnknownTopicOrPartition,
            InvalidTopicException,
            ElectionNotNeeded,
            PreferredLeaderNotAvailable,
            EligibleLeadersNotAvailable,
            NotController,
            RequestTimedOut,
        ],
        // KafkaApis.handleDescribeLogDirsRequest: the cluster ACL (v3+ top
        // level), an offline log directory.
        ApiKey::DescribeLogDirs => codes![ClusterAuthorizationFailed, KafkaStorageError],
        // KafkaApis.handleDescribeCluster: ACLs, an endpoint type the
        // listener does not serve or does not match (v1+).
        ApiKey::DescribeCluster => codes![
            ClusterAuthorizationFailed,
            UnsupportedEndpointType,
            MismatchedEndpointType,
        ],
        // ConfigHelper.describeConfigs: unknown topics and brokers, invalid
        // names, resource types and requests, ACLs.
        ApiKey::DescribeConfigs => codes![
            UnknownTopicOrPartition,
            InvalidTopicException,
            InvalidConfig,
            TopicAuthorizationFailed,
            ClusterAuthorizationFailed,
            ResourceNotFound,
            UnknownTopicId,
        ],
        // ControllerConfigurationValidator and ConfigAdminManager: unknown
        // topics, names and values Kafka refuses, policies, ACLs, the
        // controller's state and the timeout; IncrementalAlterConfigs also
        // refuses operations that do not fit the config's type.
        ApiKey::AlterConfigs | ApiKey::IncrementalAlterConfigs => codes![
            UnknownTopicOrPartition,
            InvalidTopicException,
            InvalidConfig,
            PolicyViolation,
            TopicAuthorizationFailed,
            ClusterAuthorizationFailed,
            ResourceNotFound,
            NotController,
            RequestTimedOut,
            ThrottlingQuotaExceeded,
        ],
        _ => return None,
    };
    Some(codes)
}

/// Whether Kafka returns `code` for `api`; true for an API without a table,
/// since the oracle knows nothing against it.
pub fn is_legal_error_code(api: ApiKey, code: i16) -> bool {
    legal_error_codes(api).is_none_or(|legal| legal.contains(&code))
}

/// Checks every error code of `response` against `api`, the API of the
/// request it answers; the error names the first one Kafka never returns.
pub fn check_error_codes(api: ApiKey, response: &ResponseKind) -> Result<(), IllegalErrorCode> {
    match response_error_codes(response)
        .into_iter()
        .find(|found| !is_legal_error_code(api, found.code))
    {
        Some(ErrorCodeAt { path, code }) => Err(IllegalErrorCode { api, path, code }),
        None => Ok(()),
    }
}

/// ` (NAME)` with Kafka's name of `code`, or nothing for a code Kafka does
/// not define.
fn code_name(code: i16) -> String {
    kafka_error_name(code).map_or_else(String::new, |name| format!(" ({name})"))
}

/// Kafka's name of an error code as `Errors.java` spells it
/// (`UNKNOWN_TOPIC_OR_PARTITION`; kafka-protocol spells them in CamelCase),
/// `NONE` for 0, or `None` for a code Kafka does not define.
pub fn kafka_error_name(code: i16) -> Option<String> {
    if code == 0 {
        return Some("NONE".to_owned());
    }
    match ResponseError::try_from_code(code) {
        None | Some(ResponseError::Unknown(_)) => None,
        Some(known) => {
            let mut name = String::new();
            for (at, letter) in known.to_string().char_indices() {
                if letter.is_ascii_uppercase() && at > 0 {
                    name.push('_');
                }
                name.push(letter.to_ascii_uppercase());
            }
            Some(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
    use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
    use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
    use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
    use kafka_protocol::messages::describe_groups_response::DescribedGroup;
    use kafka_protocol::messages::describe_log_dirs_response::DescribeLogDirsResult;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::find_coordinator_response::Coordinator;
    use kafka_protocol::messages::leave_group_response::MemberResponse;
    use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
    use kafka_protocol::messages::metadata_response::{MetadataResponsePartition, MetadataResponseTopic};
    use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
    use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
    use kafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };
    use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
    use kafka_protocol::messages::{
        AlterConfigsResponse, ApiVersionsResponse, CreatePartitionsResponse, CreateTopicsResponse,
        DeleteGroupsResponse, DeleteRecordsResponse, DeleteTopicsResponse, DescribeAclsResponse,
        DescribeClusterResponse, DescribeConfigsResponse, DescribeGroupsResponse, DescribeLogDirsResponse,
        DescribeProducersResponse, ElectLeadersResponse, FetchResponse, FindCoordinatorResponse, HeartbeatResponse,
        IncrementalAlterConfigsResponse, InitProducerIdResponse, JoinGroupResponse, LeaveGroupResponse,
        ListGroupsResponse, ListOffsetsResponse, MetadataResponse, OffsetCommitResponse, OffsetDeleteResponse,
        OffsetFetchResponse, OffsetForLeaderEpochResponse, ProduceResponse, SyncGroupResponse,
    };

    use super::*;

    use crate::server::broker::ANSWERED_APIS as APIS;

    /// The (path, code) pairs of a response.
    type Found = Vec<(&'static str, i16)>;

    fn paths(response: impl Into<ResponseKind>) -> Found {
        response_error_codes(&response.into())
            .into_iter()
            .map(|found| (found.path, found.code))
            .collect()
    }

    /// A Fetch response of 2 topics with 2 partitions each, the last
    /// partition's error code `last`.
    fn fetch_2x2(last: i16) -> FetchResponse {
        let topic = |codes: [i16; 2]| {
            FetchableTopicResponse::default().with_partitions(Vec::from(
                codes.map(|code| PartitionData::default().with_error_code(code)),
            ))
        };
        FetchResponse::default().with_responses(vec![
            topic([0, ResponseError::OffsetOutOfRange.code()]),
            topic([ResponseError::NotLeaderOrFollower.code(), last]),
        ])
    }

    #[test]
    fn every_api_has_a_table_with_success_and_the_catch_all() {
        // Every answered API has a table.
        for &api in APIS {
            let legal = legal_error_codes(api).unwrap_or_else(|| panic!("no table for {api:?}"));
            assert!(legal.contains(&0), "{api:?}");
            assert!(legal.contains(&ResponseError::UnknownServerError.code()), "{api:?}");
        }
        assert_eq!(legal_error_codes(ApiKey::DescribeAcls), None);
        assert!(is_legal_error_code(ApiKey::DescribeAcls, 9999));
    }

    #[test]
    fn codes_that_make_no_sense_for_the_api_are_illegal() {
        let illegal = [
            (ApiKey::Produce, ResponseError::RebalanceInProgress),
            (ApiKey::Metadata, ResponseError::OffsetOutOfRange),
            (ApiKey::Fetch, ResponseError::NotController),
            (ApiKey::Heartbeat, ResponseError::TopicAlreadyExists),
            (ApiKey::LeaveGroup, ResponseError::IllegalGeneration),
            (ApiKey::ApiVersions, ResponseError::UnknownTopicOrPartition),
        ];
        for (api, error) in illegal {
            assert!(!is_legal_error_code(api, error.code()), "{api:?} {error}");
        }
        for &api in APIS {
            assert!(!is_legal_error_code(api, 9999), "{api:?}");
        }
    }

    #[test]
    fn counts_every_code_of_two_topics_by_two_partitions() {
        let found = paths(fetch_2x2(0));
        assert_eq!(found.len(), 5);
        assert_eq!(found[0], ("error_code", 0));
        let partitions = found
            .iter()
            .filter(|(path, _)| *path == "responses[].partitions[].error_code")
            .count();
        assert_eq!(partitions, 4);

        let topic = MetadataResponseTopic::default().with_partitions(vec![MetadataResponsePartition::default(); 2]);
        assert_eq!(
            paths(MetadataResponse::default().with_topics(vec![topic; 2])).len(),
            1 + 2 + 2 * 2
        );
    }

    #[test]
    fn finds_every_error_code_field_of_every_api() {
        // Each case sets codes its API returns, distinct where there are several.
        let cases: Vec<(ApiKey, ResponseKind, Found)> = vec![
            (
                ApiKey::ApiVersions,
                ApiVersionsResponse::default().with_error_code(35).into(),
                vec![("error_code", 35)],
            ),
            (
                ApiKey::Metadata,
                MetadataResponse::default()
                    .with_error_code(129)
                    .with_topics(vec![
                        MetadataResponseTopic::default()
                            .with_error_code(3)
                            .with_partitions(vec![MetadataResponsePartition::default().with_error_code(5)]),
                    ])
                    .into(),
                vec![
                    ("topics[].error_code", 3),
                    ("topics[].partitions[].error_code", 5),
                    ("error_code", 129),
                ],
            ),
            (
                ApiKey::Produce,
                ProduceResponse::default()
                    .with_responses(vec![TopicProduceResponse::default().with_partition_responses(vec![
                        PartitionProduceResponse::default().with_error_code(6),
                    ])])
                    .into(),
                vec![("responses[].partition_responses[].error_code", 6)],
            ),
            (
                ApiKey::Fetch,
                fetch_2x2(74).with_error_code(70).into(),
                vec![
                    ("error_code", 70),
                    ("responses[].partitions[].error_code", 0),
                    ("responses[].partitions[].error_code", 1),
                    ("responses[].partitions[].error_code", 6),
                    ("responses[].partitions[].error_code", 74),
                ],
            ),
            (
                ApiKey::ListOffsets,
                ListOffsetsResponse::default()
                    .with_topics(vec![ListOffsetsTopicResponse::default().with_partitions(vec![
                        ListOffsetsPartitionResponse::default().with_error_code(78),
                    ])])
                    .into(),
                vec![("topics[].partitions[].error_code", 78)],
            ),
            (
                ApiKey::CreateTopics,
                CreateTopicsResponse::default()
                    .with_topics(vec![
                        CreatableTopicResult::default()
                            .with_error_code(36)
                            .with_topic_config_error_code(29),
                    ])
                    .into(),
                vec![("topics[].error_code", 36), ("topics[].topic_config_error_code", 29)],
            ),
            (
                ApiKey::FindCoordinator,
                FindCoordinatorResponse::default()
                    .with_error_code(15)
                    .with_coordinators(vec![Coordinator::default().with_error_code(30)])
                    .into(),
                vec![("error_code", 15), ("coordinators[].error_code", 30)],
            ),
            (
                ApiKey::JoinGroup,
                JoinGroupResponse::default().with_error_code(79).into(),
                vec![("error_code", 79)],
            ),
            (
                ApiKey::SyncGroup,
                SyncGroupResponse::default().with_error_code(27).into(),
                vec![("error_code", 27)],
            ),
            (
                ApiKey::Heartbeat,
                HeartbeatResponse::default().with_error_code(22).into(),
                vec![("error_code", 22)],
            ),
            (
                ApiKey::LeaveGroup,
                LeaveGroupResponse::default()
                    .with_error_code(16)
                    .with_members(vec![MemberResponse::default().with_error_code(25)])
                    .into(),
                vec![("error_code", 16), ("members[].error_code", 25)],
            ),
            (
                ApiKey::OffsetCommit,
                OffsetCommitResponse::default()
                    .with_topics(vec![OffsetCommitResponseTopic::default().with_partitions(vec![
                        OffsetCommitResponsePartition::default().with_error_code(12),
                    ])])
                    .into(),
                vec![("topics[].partitions[].error_code", 12)],
            ),
            (
                ApiKey::OffsetFetch,
                OffsetFetchResponse::default()
                    .with_error_code(14)
                    .with_topics(vec![OffsetFetchResponseTopic::default().with_partitions(vec![
                        OffsetFetchResponsePartition::default().with_error_code(3),
                    ])])
                    .with_groups(vec![
                        OffsetFetchResponseGroup::default()
                            .with_error_code(30)
                            .with_topics(vec![OffsetFetchResponseTopics::default().with_partitions(vec![
                                OffsetFetchResponsePartitions::default().with_error_code(88),
                            ])]),
                    ])
                    .into(),
                vec![
                    ("topics[].partitions[].error_code", 3),
                    ("error_code", 14),
                    ("groups[].topics[].partitions[].error_code", 88),
                    ("groups[].error_code", 30),
                ],
            ),
            (
                ApiKey::InitProducerId,
                InitProducerIdResponse::default().with_error_code(51).into(),
                vec![("error_code", 51)],
            ),
            (
                ApiKey::DeleteTopics,
                DeleteTopicsResponse::default()
                    .with_responses(vec![
                        DeletableTopicResult::default().with_error_code(3),
                        DeletableTopicResult::default().with_error_code(100),
                    ])
                    .into(),
                vec![("responses[].error_code", 3), ("responses[].error_code", 100)],
            ),
            (
                ApiKey::CreatePartitions,
                CreatePartitionsResponse::default()
                    .with_results(vec![CreatePartitionsTopicResult::default().with_error_code(37)])
                    .into(),
                vec![("results[].error_code", 37)],
            ),
            (
                ApiKey::ListGroups,
                ListGroupsResponse::default().with_error_code(14).into(),
                vec![("error_code", 14)],
            ),
            (
                ApiKey::DescribeGroups,
                DescribeGroupsResponse::default()
                    .with_groups(vec![DescribedGroup::default().with_error_code(69)])
                    .into(),
                vec![("groups[].error_code", 69)],
            ),
            (
                ApiKey::DeleteGroups,
                DeleteGroupsResponse::default()
                    .with_results(vec![DeletableGroupResult::default().with_error_code(68)])
                    .into(),
                vec![("results[].error_code", 68)],
            ),
            (
                ApiKey::OffsetDelete,
                OffsetDeleteResponse::default()
                    .with_error_code(0)
                    .with_topics(vec![OffsetDeleteResponseTopic::default().with_partitions(vec![
                        OffsetDeleteResponsePartition::default().with_error_code(86),
                    ])])
                    .into(),
                vec![("error_code", 0), ("topics[].partitions[].error_code", 86)],
            ),
            (
                ApiKey::DeleteRecords,
                DeleteRecordsResponse::default()
                    .with_topics(vec![DeleteRecordsTopicResult::default().with_partitions(vec![
                        DeleteRecordsPartitionResult::default().with_error_code(1),
                    ])])
                    .into(),
                vec![("topics[].partitions[].error_code", 1)],
            ),
            (
                ApiKey::DescribeConfigs,
                DescribeConfigsResponse::default()
                    .with_results(vec![DescribeConfigsResult::default().with_error_code(3)])
                    .into(),
                vec![("results[].error_code", 3)],
            ),
            (
                ApiKey::AlterConfigs,
                AlterConfigsResponse::default()
                    .with_responses(vec![
                        kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse::default()
                            .with_error_code(40),
                    ])
                    .into(),
                vec![("responses[].error_code", 40)],
            ),
            (
                ApiKey::IncrementalAlterConfigs,
                IncrementalAlterConfigsResponse::default()
                    .with_responses(vec![
                        kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                            .with_error_code(44),
                    ])
                    .into(),
                vec![("responses[].error_code", 44)],
            ),
            (
                ApiKey::DescribeCluster,
                DescribeClusterResponse::default().with_error_code(115).into(),
                vec![("error_code", 115)],
            ),
            (
                ApiKey::OffsetForLeaderEpoch,
                OffsetForLeaderEpochResponse::default()
                    .with_topics(vec![OffsetForLeaderTopicResult::default().with_partitions(vec![
                        EpochEndOffset::default().with_error_code(74),
                    ])])
                    .into(),
                vec![("topics[].partitions[].error_code", 74)],
            ),
            (
                ApiKey::DescribeProducers,
                DescribeProducersResponse::default()
                    .with_topics(vec![
                        kafka_protocol::messages::describe_producers_response::TopicResponse::default().with_partitions(
                            vec![
                                kafka_protocol::messages::describe_producers_response::PartitionResponse::default()
                                    .with_error_code(6),
                            ],
                        ),
                    ])
                    .into(),
                vec![("topics[].partitions[].error_code", 6)],
            ),
            (
                ApiKey::ElectLeaders,
                ElectLeadersResponse::default()
                    .with_error_code(0)
                    .with_replica_election_results(vec![
                        kafka_protocol::messages::elect_leaders_response::ReplicaElectionResult::default()
                            .with_partition_result(vec![
                                kafka_protocol::messages::elect_leaders_response::PartitionResult::default()
                                    .with_error_code(84),
                            ]),
                    ])
                    .into(),
                vec![
                    ("error_code", 0),
                    ("replica_election_results[].partition_result[].error_code", 84),
                ],
            ),
            (
                ApiKey::DescribeLogDirs,
                DescribeLogDirsResponse::default()
                    .with_error_code(31)
                    .with_results(vec![DescribeLogDirsResult::default().with_error_code(56)])
                    .into(),
                vec![("error_code", 31), ("results[].error_code", 56)],
            ),
        ];
        let mut covered: Vec<_> = cases.iter().map(|(api, ..)| *api as i16).collect();
        let mut answered: Vec<_> = APIS.iter().map(|api| *api as i16).collect();
        covered.sort_unstable();
        answered.sort_unstable();
        assert_eq!(covered, answered, "one case per answered API");
        for (api, response, expected) in cases {
            assert_eq!(paths(response.clone()), expected, "{api:?}");
            assert_eq!(check_error_codes(api, &response), Ok(()), "{api:?}");
        }
        assert_eq!(paths(DescribeAclsResponse::default()), vec![]);
    }

    #[test]
    fn an_illegal_code_deep_in_fetch_partitions_is_caught_at_its_path() {
        let illegal = ResponseError::IllegalGeneration.code();
        let error = check_error_codes(ApiKey::Fetch, &fetch_2x2(illegal).into()).unwrap_err();
        assert_eq!(
            error,
            IllegalErrorCode {
                api: ApiKey::Fetch,
                path: "responses[].partitions[].error_code",
                code: illegal,
            }
        );
    }

    #[test]
    fn an_unknown_code_in_metadata_topics_is_caught_without_a_name() {
        let response = MetadataResponse::default().with_topics(vec![
            MetadataResponseTopic::default(),
            MetadataResponseTopic::default().with_error_code(9999),
        ]);
        let error = check_error_codes(ApiKey::Metadata, &response.into()).unwrap_err();
        assert_eq!((error.path, error.code), ("topics[].error_code", 9999));
        assert_eq!(
            error.to_string(),
            "Metadata response: error code 9999 at topics[].error_code is not one Kafka returns for Metadata"
        );
    }

    #[test]
    fn rebalance_in_progress_in_produce_is_caught_and_named() {
        let response =
            ProduceResponse::default().with_responses(vec![TopicProduceResponse::default().with_partition_responses(
                vec![
                    PartitionProduceResponse::default(),
                    PartitionProduceResponse::default().with_error_code(ResponseError::RebalanceInProgress.code()),
                ],
            )]);
        let error = check_error_codes(ApiKey::Produce, &response.into()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Produce response: error code 27 (REBALANCE_IN_PROGRESS) at \
             responses[].partition_responses[].error_code is not one Kafka returns for Produce"
        );
    }

    #[test]
    fn legal_responses_pass() {
        let produce =
            ProduceResponse::default().with_responses(vec![TopicProduceResponse::default().with_partition_responses(
                vec![
                    PartitionProduceResponse::default().with_error_code(ResponseError::NotLeaderOrFollower.code()),
                    PartitionProduceResponse::default().with_error_code(ResponseError::OutOfOrderSequenceNumber.code()),
                ],
            )]);
        assert_eq!(check_error_codes(ApiKey::Produce, &produce.into()), Ok(()));
        let fetch = fetch_2x2(ResponseError::FencedLeaderEpoch.code())
            .with_error_code(ResponseError::FetchSessionIdNotFound.code());
        assert_eq!(check_error_codes(ApiKey::Fetch, &fetch.into()), Ok(()));
        // Nothing is known against an API without a table.
        assert_eq!(check_error_codes(ApiKey::DescribeAcls, &fetch_2x2(9999).into()), Ok(()));
    }

    #[test]
    fn names_are_kafkas() {
        assert_eq!(
            code_name(ResponseError::InvalidTopicException.code()),
            " (INVALID_TOPIC_EXCEPTION)"
        );
        assert_eq!(code_name(-1), " (UNKNOWN_SERVER_ERROR)");
        assert_eq!(code_name(9999), "");
    }
}
