//! The field table of every request message the reference server decodes:
//! for each `kafka-protocol` struct, its fields in wire order and the versions
//! each exists in (Apache Kafka's message schemas, `*Request.json`). Fields
//! without a range exist in every version of their message; `tagged N` fields
//! live in the tagged-field section of flexible versions.
//!
//! One table, several expansions: `request_schemas!(callback)` hands the whole
//! table to a macro, which the decoder uses to read each struct and the
//! harness uses to generate each struct at a version.

/// Hands the table to `$callback!`.
macro_rules! request_schemas {
    ($callback:ident) => {
        $callback! {
            api_versions_request::ApiVersionsRequest {
                client_software_name [3, MAX],
                client_software_version [3, MAX]
            }
            produce_request::PartitionProduceData {
                index,
                records
            }
            produce_request::ProduceRequest {
                transactional_id,
                acks,
                timeout_ms,
                topic_data
            }
            produce_request::TopicProduceData {
                name [0, 12],
                topic_id [13, MAX],
                partition_data
            }
            fetch_request::FetchPartition {
                partition,
                current_leader_epoch [9, MAX],
                fetch_offset,
                last_fetched_epoch [12, MAX],
                log_start_offset [5, MAX],
                partition_max_bytes;
                tagged 0 => replica_directory_id [17, MAX],
                tagged 1 => high_watermark [18, MAX]
            }
            fetch_request::FetchRequest {
                replica_id [0, 14],
                max_wait_ms,
                min_bytes,
                max_bytes,
                isolation_level,
                session_id [7, MAX],
                session_epoch [7, MAX],
                topics,
                forgotten_topics_data [7, MAX],
                rack_id [11, MAX];
                tagged 0 => cluster_id,
                tagged 1 => replica_state [15, MAX]
            }
            fetch_request::FetchTopic {
                topic [0, 12],
                topic_id [13, MAX],
                partitions
            }
            fetch_request::ForgottenTopic {
                topic [7, 12],
                topic_id [13, MAX],
                partitions [7, MAX]
            }
            fetch_request::ReplicaState {
                replica_id [15, MAX],
                replica_epoch [15, MAX]
            }
            metadata_request::MetadataRequest {
                topics,
                allow_auto_topic_creation [4, MAX],
                include_cluster_authorized_operations [8, 10],
                include_topic_authorized_operations [8, MAX]
            }
            metadata_request::MetadataRequestTopic {
                topic_id [10, MAX],
                name
            }
            list_offsets_request::ListOffsetsPartition {
                partition_index,
                current_leader_epoch [4, MAX],
                timestamp
            }
            list_offsets_request::ListOffsetsRequest {
                replica_id,
                isolation_level [2, MAX],
                topics,
                timeout_ms [10, MAX]
            }
            list_offsets_request::ListOffsetsTopic {
                name,
                partitions
            }
            create_topics_request::CreatableReplicaAssignment {
                partition_index,
                broker_ids
            }
            create_topics_request::CreatableTopic {
                name,
                num_partitions,
                replication_factor,
                assignments,
                configs
            }
            create_topics_request::CreatableTopicConfig {
                name,
                value
            }
            create_topics_request::CreateTopicsRequest {
                topics,
                timeout_ms,
                validate_only
            }
            find_coordinator_request::FindCoordinatorRequest {
                key [0, 3],
                key_type [1, MAX],
                coordinator_keys [4, MAX]
            }
            join_group_request::JoinGroupRequest {
                group_id,
                session_timeout_ms,
                rebalance_timeout_ms [1, MAX],
                member_id,
                group_instance_id [5, MAX],
                protocol_type,
                protocols,
                reason [8, MAX]
            }
            join_group_request::JoinGroupRequestProtocol {
                name,
                metadata
            }
            sync_group_request::SyncGroupRequest {
                group_id,
                generation_id,
                member_id,
                group_instance_id [3, MAX],
                protocol_type [5, MAX],
                protocol_name [5, MAX],
                assignments
            }
            sync_group_request::SyncGroupRequestAssignment {
                member_id,
                assignment
            }
            heartbeat_request::HeartbeatRequest {
                group_id,
                generation_id,
                member_id,
                group_instance_id [3, MAX]
            }
            leave_group_request::LeaveGroupRequest {
                group_id,
                member_id [0, 2],
                members [3, MAX]
            }
            leave_group_request::MemberIdentity {
                member_id [3, MAX],
                group_instance_id [3, MAX],
                reason [5, MAX]
            }
            offset_commit_request::OffsetCommitRequest {
                group_id,
                generation_id_or_member_epoch,
                member_id,
                group_instance_id [7, MAX],
                retention_time_ms [0, 4],
                topics
            }
            offset_commit_request::OffsetCommitRequestPartition {
                partition_index,
                committed_offset,
                committed_leader_epoch [6, MAX],
                committed_metadata
            }
            offset_commit_request::OffsetCommitRequestTopic {
                name,
                partitions
            }
            offset_fetch_request::OffsetFetchRequest {
                group_id [0, 7],
                topics [0, 7],
                groups [8, MAX],
                require_stable [7, MAX]
            }
            offset_fetch_request::OffsetFetchRequestGroup {
                group_id [8, MAX],
                member_id [9, MAX],
                member_epoch [9, MAX],
                topics [8, MAX]
            }
            offset_fetch_request::OffsetFetchRequestTopic {
                name [0, 7],
                partition_indexes [0, 7]
            }
            offset_fetch_request::OffsetFetchRequestTopics {
                name [8, MAX],
                partition_indexes [8, MAX]
            }
            init_producer_id_request::InitProducerIdRequest {
                transactional_id,
                transaction_timeout_ms,
                producer_id [3, MAX],
                producer_epoch [3, MAX]
            }
        }
    };
}
pub(crate) use request_schemas;

/// Hands the list of supported APIs, `ApiKey` variant => request struct, to
/// `$callback!`.
macro_rules! request_apis {
    ($callback:ident) => {
        $callback! {
            Produce => ProduceRequest,
            Fetch => FetchRequest,
            ListOffsets => ListOffsetsRequest,
            Metadata => MetadataRequest,
            OffsetCommit => OffsetCommitRequest,
            OffsetFetch => OffsetFetchRequest,
            FindCoordinator => FindCoordinatorRequest,
            JoinGroup => JoinGroupRequest,
            Heartbeat => HeartbeatRequest,
            LeaveGroup => LeaveGroupRequest,
            SyncGroup => SyncGroupRequest,
            ApiVersions => ApiVersionsRequest,
            CreateTopics => CreateTopicsRequest,
            InitProducerId => InitProducerIdRequest,
        }
    };
}
pub(crate) use request_apis;

/// The `(min, max)` versions of a table entry's optional `[min, max]`.
macro_rules! field_versions {
    () => {
        (0, i16::MAX)
    };
    ($min:literal, MAX) => {
        ($min, i16::MAX)
    };
    ($min:literal, $max:literal) => {
        ($min, $max)
    };
}
pub(crate) use field_versions;
