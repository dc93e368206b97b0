//! From a request frame to a response frame: decode, route to the API's
//! handler, encode at the request's version.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use super::clock::Clock;
use super::config::BrokerConfig;
use super::groups::{GroupSettings, Groups};
use super::metadata::{ClusterView, Endpoint};
use super::produce_api::{PendingAcks, ProducerIds};
use super::topics::Topics;
use crate::server::wire::{
    DecodeErrorKind, EncodeError, RequestError, decode_request_ignoring_trailing_bytes, encode_response, supported_api,
};

/// What a request gets back.
#[derive(Debug)]
pub enum Reply {
    /// A size-prefixed response frame.
    Response(Bytes),
    /// Nothing: a Produce with acks=0.
    NoResponse,
    /// Kafka would answer later (a Fetch short of `min_bytes`, a join or sync
    /// waiting for the rest of the group): `Broker::resume` it when the
    /// broker changed or at its deadline.
    Parked(Parked),
}

/// A request whose answer waits.
#[derive(Debug)]
pub struct Parked {
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    deadline_ms: i64,
    pub(super) waiting: Waiting,
}

impl Parked {
    /// When the wait is over and the request is answered regardless.
    pub fn deadline_ms(&self) -> i64 {
        self.deadline_ms
    }
}

/// What a parked request waits for.
#[derive(Debug)]
pub(super) enum Waiting {
    Fetch(kafka_protocol::messages::FetchRequest),
    /// acks=all: the high watermark must pass every appended batch.
    Produce(PendingAcks),
    /// Topics proposed to the quorum, until this broker's image has them.
    CreateTopics(super::cluster_api::PendingTopics),
    /// Deletions proposed, until this broker's image has lost the topics.
    DeleteTopics(super::topic_admin_api::PendingDeletions),
    /// Partitions proposed, until this broker's image has them.
    CreatePartitions(super::topic_admin_api::PendingPartitions),
    /// Leaders proposed, until this broker's image shows them.
    ElectLeaders(super::elect_leaders_api::PendingElections),
    Join {
        group_id: StrBytes,
        member_id: StrBytes,
    },
    Sync {
        group_id: StrBytes,
        member_id: StrBytes,
        generation: i32,
    },
}

/// A handler's answer: now, never, or after a wait.
pub(super) enum Answer {
    Now(ResponseKind),
    Nothing,
    Wait { waiting: Waiting, deadline_ms: i64 },
}

impl Answer {
    /// A first wait's deadline.
    /// `response` now when nothing is left to wait for; else a wait for the
    /// rest (`waiting` holds the response; the dispatcher keeps the first
    /// deadline).
    pub(super) fn now_or_wait<R: Into<ResponseKind>>(
        response: R,
        done: bool,
        waiting: impl FnOnce(R) -> Waiting,
    ) -> Self {
        if done {
            return Answer::Now(response.into());
        }
        Answer::Wait {
            waiting: waiting(response),
            deadline_ms: i64::MAX,
        }
    }

    pub(super) fn with_deadline(self, deadline_ms: i64) -> Self {
        match self {
            Answer::Wait { waiting, .. } => Answer::Wait { waiting, deadline_ms },
            other => other,
        }
    }
}

/// Why a connection must be closed.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// A frame Kafka does not answer: unreadable, unknown api key,
    /// unsupported version (except ApiVersions), malformed body.
    #[error("cannot decode request: {0}")]
    Undecodable(#[from] RequestError),
    /// A response the broker built but could not encode: a bug in the
    /// broker, reported rather than hidden.
    #[error(transparent)]
    Unencodable(#[from] EncodeError),
    /// A Produce with acks=0 failed: Kafka closes the connection, the only
    /// way to tell a client that does not read responses.
    #[error("produce with acks=0 (correlation id {correlation_id}) failed with {error}")]
    UnacknowledgedProduceFailed { correlation_id: i32, error: ResponseError },
    /// Authentication (`sasl`) closes the connection.
    #[error(transparent)]
    Sasl(#[from] super::sasl::SaslError),
    /// A request of an API the broker reads but does not answer (see
    /// `ANSWERED_APIS`): Kafka closes a connection that sends an API its
    /// listener does not enable.
    #[error("{api} v{version} (correlation id {correlation_id}) is not an API this broker answers")]
    NotAnswered {
        api: &'static str,
        version: i16,
        correlation_id: i32,
    },
}

/// The APIs the broker answers, each with an arm in `Broker::receive`;
/// ApiVersions advertises exactly these, at every version the decoder reads.
pub const ANSWERED_APIS: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::InitProducerId,
    ApiKey::DeleteTopics,
    ApiKey::CreatePartitions,
    ApiKey::ListGroups,
    ApiKey::DescribeGroups,
    ApiKey::DeleteGroups,
    ApiKey::OffsetDelete,
    ApiKey::DeleteRecords,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DescribeCluster,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::DescribeProducers,
    ApiKey::DescribeLogDirs,
    ApiKey::ElectLeaders,
];

/// One Kafka broker, in memory: alone, or one node of a cluster whose
/// metadata a quorum keeps (see `metadata.rs`).
pub struct Broker {
    pub(super) config: BrokerConfig,
    clock: Box<dyn Clock>,
    pub(super) topics: Topics,
    pub(super) groups: Groups,
    pub(super) producer_ids: ProducerIds,
    /// Shared with the brokers forked from this one until it changes.
    pub(super) view: Arc<ClusterView>,
    /// Tags this broker's CreateTopics proposals.
    pub(super) next_request: u64,
}

impl Broker {
    /// A broker alone: every partition's only replica and leader.
    pub fn new(config: BrokerConfig, clock: impl Clock + 'static) -> Self {
        let endpoint = Endpoint {
            host: config.advertised_host.clone(),
            port: config.advertised_port,
        };
        let view = ClusterView::single(config.node_id, endpoint);
        Self::with_view(config, Arc::new(view), Topics::default(), clock)
    }

    /// One node of a cluster: its topics, leaders and ISRs come from the
    /// metadata records the quorum commits (`apply`), its logs are
    /// journaled for a write-ahead log.
    pub fn replica(config: BrokerConfig, view: ClusterView, clock: impl Clock + 'static) -> Self {
        Self::with_view(config, Arc::new(view), Topics::journaled(), clock)
    }

    fn with_view(config: BrokerConfig, view: Arc<ClusterView>, topics: Topics, clock: impl Clock + 'static) -> Self {
        let groups = Groups::new(GroupSettings {
            min_session_timeout_ms: config.min_session_timeout_ms,
            max_session_timeout_ms: config.max_session_timeout_ms,
            initial_rebalance_delay_ms: config.initial_rebalance_delay_ms,
        });
        Self {
            config,
            clock: Box::new(clock),
            topics,
            groups,
            producer_ids: ProducerIds::default(),
            view,
            next_request: 0,
        }
    }

    pub fn topics_mut(&mut self) -> &mut Topics {
        &mut self.topics
    }

    /// A broker in this one's state, on its own clock: lets a harness set a
    /// starting state up once and start every input from a copy of it.
    pub fn fork(&self, clock: impl Clock + 'static) -> Self {
        Self {
            config: self.config.clone(),
            clock: Box::new(clock),
            topics: self.topics.clone(),
            groups: self.groups.clone(),
            producer_ids: self.producer_ids.clone(),
            view: Arc::clone(&self.view),
            next_request: self.next_request,
        }
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    pub fn groups(&self) -> &Groups {
        &self.groups
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// One frame (without its size prefix) in, its response frame out, at
    /// once: a request that would wait is answered as if its wait ran out,
    /// since in-process nothing else can happen meanwhile.
    pub fn handle(&mut self, frame: Bytes) -> Result<Option<Bytes>, DispatchError> {
        let mut reply = self.receive(frame)?;
        loop {
            reply = match reply {
                Reply::Response(bytes) => return Ok(Some(bytes)),
                Reply::NoResponse => return Ok(None),
                Reply::Parked(parked) => self.resume_with(parked, true)?,
            };
        }
    }

    /// One frame in; its answer may be parked (see `Reply::Parked`).
    pub fn receive(&mut self, frame: Bytes) -> Result<Reply, DispatchError> {
        self.expire_records();
        // Bytes after a complete body are ignored, as Kafka ignores them.
        let request = match decode_request_ignoring_trailing_bytes(frame) {
            Ok(request) => request,
            Err(error) => return self.undecodable(error),
        };
        let header = request.header;
        let version = header.request_api_version;
        // The decoder yields only APIs of the schema table, so this finds it.
        let api = supported_api(header.request_api_key);
        let not_answered = || DispatchError::NotAnswered {
            api: api.map_or("?", |api| api.name),
            version,
            correlation_id: header.correlation_id,
        };
        let api = api.ok_or_else(not_answered)?.key;
        let client_id = header.client_id.clone().unwrap_or_default();
        let answer = match request.body {
            RequestKind::ApiVersions(request) => Answer::Now(self.api_versions(&request, version).into()),
            RequestKind::Metadata(request) => Answer::Now(self.metadata(request, version).into()),
            RequestKind::CreateTopics(request) => self.create_topics(request, version),
            RequestKind::DeleteTopics(request) => self.delete_topics(request, version),
            RequestKind::CreatePartitions(request) => self.create_partitions(request),
            RequestKind::ListGroups(request) => Answer::Now(self.list_groups(request, version).into()),
            RequestKind::DescribeGroups(request) => Answer::Now(self.describe_groups(request, version).into()),
            RequestKind::DeleteGroups(request) => Answer::Now(self.delete_groups(request).into()),
            RequestKind::OffsetDelete(request) => Answer::Now(self.offset_delete(request).into()),
            RequestKind::DeleteRecords(request) => Answer::Now(self.delete_records(request).into()),
            RequestKind::DescribeCluster(request) => Answer::Now(self.describe_cluster(request).into()),
            RequestKind::OffsetForLeaderEpoch(request) => Answer::Now(self.offset_for_leader_epoch(request).into()),
            RequestKind::DescribeProducers(request) => Answer::Now(self.describe_producers(request).into()),
            RequestKind::DescribeLogDirs(request) => Answer::Now(self.describe_log_dirs(request).into()),
            RequestKind::ElectLeaders(request) => self.elect_leaders(request, version),
            RequestKind::DescribeConfigs(request) => Answer::Now(self.describe_configs(request, version).into()),
            RequestKind::AlterConfigs(request) => Answer::Now(self.alter_configs(request).into()),
            RequestKind::IncrementalAlterConfigs(request) => {
                Answer::Now(self.incremental_alter_configs(request).into())
            }
            RequestKind::FindCoordinator(request) => Answer::Now(self.find_coordinator(request, version).into()),
            RequestKind::Produce(request) => self.produce(request, version, header.correlation_id)?,
            RequestKind::InitProducerId(request) => Answer::Now(self.init_producer_id(request).into()),
            RequestKind::Fetch(request) => self.fetch(request, version, false),
            RequestKind::ListOffsets(request) => Answer::Now(self.list_offsets(request, version).into()),
            RequestKind::JoinGroup(request) => self.join_group(request, version, client_id),
            RequestKind::SyncGroup(request) => self.sync_group(request, version),
            RequestKind::Heartbeat(request) => Answer::Now(self.heartbeat(request).into()),
            RequestKind::LeaveGroup(request) => Answer::Now(self.leave_group(request, version).into()),
            RequestKind::OffsetCommit(request) => Answer::Now(self.offset_commit(request, version).into()),
            RequestKind::OffsetFetch(request) => Answer::Now(self.offset_fetch(request, version).into()),
            _ => return Err(not_answered()),
        };
        self.reply(api, version, header.correlation_id, answer)
    }

    /// A parked request, again: its answer if it is ready or its deadline
    /// has passed, else parked anew.
    pub fn resume(&mut self, parked: Parked) -> Result<Reply, DispatchError> {
        let expired = self.now_ms() >= parked.deadline_ms;
        self.resume_with(parked, expired)
    }

    fn resume_with(&mut self, parked: Parked, expired: bool) -> Result<Reply, DispatchError> {
        let Parked {
            api,
            version,
            correlation_id,
            deadline_ms,
            waiting,
        } = parked;
        let answer = match waiting {
            Waiting::Fetch(request) => self.fetch(request, version, expired),
            Waiting::Produce(pending) => self.poll_acks(pending, expired),
            Waiting::CreateTopics(pending) => self.poll_created(pending, version, expired),
            Waiting::DeleteTopics(pending) => self.poll_deleted(pending, version, expired),
            Waiting::CreatePartitions(pending) => self.poll_partitions(pending, expired),
            Waiting::ElectLeaders(pending) => self.poll_elected(pending, expired),
            Waiting::Join { group_id, member_id } => self.poll_join(group_id, member_id, version, expired),
            Waiting::Sync {
                group_id,
                member_id,
                generation,
            } => self.poll_sync(group_id, member_id, generation, version, expired),
        };
        // A request parks once: its deadline does not move.
        let answer = match answer {
            Answer::Wait { waiting, .. } => Answer::Wait { waiting, deadline_ms },
            other => other,
        };
        self.reply(api, version, correlation_id, answer)
    }

    fn reply(&self, api: ApiKey, version: i16, correlation_id: i32, answer: Answer) -> Result<Reply, DispatchError> {
        Ok(match answer {
            Answer::Now(body) => Reply::Response(encode_response(api, version, correlation_id, &body)?),
            Answer::Nothing => Reply::NoResponse,
            Answer::Wait { waiting, deadline_ms } => Reply::Parked(Parked {
                api,
                version,
                correlation_id,
                deadline_ms,
                waiting,
            }),
        })
    }

    /// Kafka answers one undecodable request: ApiVersions at a version it
    /// does not support gets UNSUPPORTED_VERSION and the supported ranges,
    /// in a v0 response any client can read. Everything else closes the
    /// connection.
    fn undecodable(&self, error: RequestError) -> Result<Reply, DispatchError> {
        match (&error.header, &error.error.kind) {
            (Some(header), DecodeErrorKind::UnsupportedVersion { .. })
                if header.api_key == ApiKey::ApiVersions as i16 =>
            {
                let body = ApiVersionsResponse::default()
                    .with_error_code(ResponseError::UnsupportedVersion.code())
                    .with_api_keys(super::cluster_api::supported_versions(self.requires_sasl()));
                let frame = encode_response(ApiKey::ApiVersions, 0, header.correlation_id, &body.into())?;
                Ok(Reply::Response(frame))
            }
            _ => Err(error.into()),
        }
    }
}
