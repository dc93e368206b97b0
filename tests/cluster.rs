//! The reference cluster's rules, each driven through the wire on a
//! simulated network: acks=all and min.insync.replicas, ISR shrink and
//! expansion, leader epochs fencing stale clients, a diverged follower
//! truncating to its new leader, elections only from the ISR, and a node
//! recovering from its write-ahead log (a torn tail cut, a corrupt segment
//! refused with its file and offset).

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_fuzz::harness::client::Client;
use kafka_fuzz::harness::input::encode_record_batch;
use kafka_fuzz::server::broker::{Assignment, BrokerConfig, Clock, Endpoint, ManualClock, PartitionLog};
use kafka_fuzz::server::cluster::disk::Disk;
use kafka_fuzz::server::cluster::{ClusterNode, FlushPolicy, NodeConfig, Output, PeerMessage};
use kafka_fuzz::server::sim::{SimCluster, SimClusterConfig, SimDisk};
use kafka_fuzz::server::wire::Codec;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest, DeleteTopicsRequest,
    ElectLeadersRequest, FetchRequest, MetadataRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::{Record, TimestampType};
use rand::SeedableRng;

const TOPIC: &str = "rules";

struct Harness {
    cluster: SimCluster,
    client: Client,
    connections: BTreeMap<i32, u64>,
}

impl Harness {
    /// Three nodes, a quorum leader elected, and a topic of one partition on
    /// all three, led by node 1.
    fn new() -> Self {
        Self::with_replicas(&[1, 2, 3])
    }

    /// Three nodes (the metadata quorum) and a topic of one partition on
    /// `replicas`, led by the first.
    fn with_replicas(replicas: &[i32]) -> Self {
        Self::with_config(SimClusterConfig::three_nodes(), replicas)
    }

    fn with_config(config: SimClusterConfig, replicas: &[i32]) -> Self {
        let cluster = SimCluster::start(config, 1).unwrap();
        let mut harness = Self {
            cluster,
            client: Client::new("rules"),
            connections: BTreeMap::new(),
        };
        harness.settle(40);
        let assignment = CreatableReplicaAssignment::default()
            .with_partition_index(0)
            .with_broker_ids(replicas.iter().copied().map(BrokerId).collect());
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![assignment]);
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(10_000);
        let created = harness.call(1, 7, request);
        assert_eq!(created.topics[0].error_code, 0, "{created:?}");
        harness.settle(10);
        assert_eq!(harness.assignment(replicas[0]).leader, replicas[0]);
        harness
    }

    /// Delivers everything and lets `rounds` times 50 ms pass.
    fn settle(&mut self, rounds: usize) {
        self.cluster.run_quiet(rounds, 50).unwrap();
    }

    /// A request to `node`, answered (it fails the test after 20 s).
    fn call<R: Request + Into<kafka_protocol::messages::RequestKind>>(
        &mut self,
        node: i32,
        version: i16,
        body: R,
    ) -> R::Response {
        let connection = match self.connections.get(&node) {
            Some(&connection) if !self.cluster.is_closed(connection) => connection,
            _ => {
                let connection = self.cluster.connect(node);
                self.connections.insert(node, connection);
                connection
            }
        };
        let (correlation_id, frame) = self.client.request(version, body).unwrap();
        self.cluster.client_send(connection, frame);
        for _ in 0..400 {
            if let Some(frame) = self.cluster.client_receive(connection).first() {
                return Client::response::<R>(version, correlation_id, frame).unwrap();
            }
            self.cluster.run_quiet(1, 50).unwrap();
        }
        panic!("node {node} did not answer in 20 s of simulated time");
    }

    fn assignment(&self, node: i32) -> Assignment {
        let name = StrBytes::from_static_str(TOPIC);
        let replica = self
            .cluster
            .node(node)
            .unwrap()
            .broker()
            .topics()
            .replica(&name, 0)
            .unwrap();
        replica.assignment.as_ref().clone()
    }

    /// Node `node`'s replica of the test partition.
    fn log(&self, node: i32) -> &PartitionLog {
        let name = StrBytes::from_static_str(TOPIC);
        self.cluster
            .node(node)
            .unwrap()
            .broker()
            .topics()
            .partition(&name, 0)
            .unwrap()
    }

    fn log_end(&self, node: i32) -> (i64, i64) {
        let log = self.log(node);
        (log.log_end_offset(), log.high_watermark())
    }

    /// One record with `value`: the partition's error code and base offset.
    fn produce(&mut self, node: i32, acks: i16, value: &str) -> (i16, i64) {
        let response = self.call(node, 9, produce_request(acks, Bytes::copy_from_slice(value.as_bytes())));
        let partition = &response.responses[0].partition_responses[0];
        (partition.error_code, partition.base_offset)
    }

    fn fetch_error(&mut self, node: i32, leader_epoch: i32) -> i16 {
        let request = FetchRequest::default().with_max_bytes(1 << 20).with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(leader_epoch)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
        self.call(node, 12, request).responses[0].partitions[0].error_code
    }
}

fn code(error: ResponseError) -> i16 {
    error.code()
}

/// A Produce of one plain record with `value` to the test topic's partition 0.
fn produce_request(acks: i16, value: Bytes) -> ProduceRequest {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(value),
        headers: Default::default(),
    };
    let records = encode_record_batch(&[record], Codec::None).unwrap();
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(3_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

#[test]
fn acks_all_waits_for_the_isr_and_needs_min_insync_replicas() {
    // Two replicas; node 3 is a voter of the metadata quorum only, so that
    // the quorum outlives a replica.
    let mut harness = Harness::with_replicas(&[1, 2]);
    assert_eq!(harness.produce(1, -1, "a"), (0, 0));
    // Answered once every in-sync replica has it: the high watermark covers it.
    assert_eq!(harness.log_end(1), (1, 1));
    harness.settle(4);
    assert_eq!(harness.log_end(2), (1, 1));
    // The follower dies: after replica.lag.time.max.ms the ISR is the leader alone.
    harness.cluster.crash(2);
    harness.settle(80);
    assert_eq!(harness.assignment(1).isr, vec![1]);
    assert_eq!(harness.produce(1, -1, "b").0, code(ResponseError::NotEnoughReplicas));
    assert_eq!(harness.produce(1, 1, "c"), (0, 1), "acks=1 needs the leader only");
    // It comes back, catches up and rejoins the ISR; acks=all works again.
    harness.cluster.restart(2).unwrap();
    harness.settle(120);
    assert_eq!(harness.assignment(1).isr, vec![1, 2]);
    assert_eq!(harness.produce(1, -1, "d"), (0, 2));
    harness.settle(4);
    for node in [1, 2] {
        assert_eq!(harness.log_end(node), (3, 3), "node {node}");
    }
}

#[test]
fn a_batch_larger_than_a_replica_fetch_still_replicates_and_one_past_the_limit_is_refused() {
    let mut config = SimClusterConfig::three_nodes();
    config.node.fetch_max_bytes = 1_000;
    let mut harness = Harness::with_config(config, &[1, 2, 3]);
    let big = "x".repeat(5_000);
    assert_eq!(
        harness.produce(1, -1, &big),
        (0, 0),
        "the first batch of a fetch goes whatever its size"
    );
    harness.settle(4);
    assert_eq!(harness.log_end(3), (1, 1));
    let huge = "y".repeat(1_100_000);
    assert_eq!(harness.produce(1, -1, &huge).0, code(ResponseError::MessageTooLarge));
}

#[test]
fn leader_epochs_fence_stale_clients_and_followers_refuse_writes() {
    let mut harness = Harness::new();
    let epoch = harness.assignment(1).leader_epoch;
    assert_eq!(harness.fetch_error(1, epoch), 0);
    assert_eq!(
        harness.fetch_error(1, epoch + 1),
        code(ResponseError::UnknownLeaderEpoch)
    );
    assert_eq!(harness.produce(2, -1, "x").0, code(ResponseError::NotLeaderOrFollower));
    assert_eq!(harness.fetch_error(2, -1), code(ResponseError::NotLeaderOrFollower));
    // The leader dies: a follower in the ISR leads at the next epoch.
    harness.cluster.crash(1);
    harness.settle(100);
    let after = harness.assignment(2);
    assert!(after.leader == 2 || after.leader == 3, "{after:?}");
    assert!(after.leader_epoch > epoch);
    assert_eq!(
        harness.fetch_error(after.leader, epoch),
        code(ResponseError::FencedLeaderEpoch)
    );
    assert_eq!(harness.fetch_error(after.leader, after.leader_epoch), 0);
}

#[test]
fn a_diverged_leader_truncates_to_the_new_one_when_it_returns() {
    let mut harness = Harness::new();
    assert_eq!(harness.produce(1, -1, "committed"), (0, 0));
    harness.settle(4);
    // Cut off, the old leader still takes an acks=1 write no one else has.
    harness.cluster.partition(&[1]);
    assert_eq!(harness.produce(1, 1, "lost"), (0, 1));
    harness.settle(100);
    let new = harness.assignment(2);
    assert_ne!(new.leader, 1);
    assert_eq!(harness.produce(new.leader, -1, "new"), (0, 1));
    harness.cluster.heal();
    harness.settle(120);
    // Node 1 follows again: its offset 1 is the new leader's record.
    let read = |harness: &Harness, node: i32| harness.log(node).read(0, usize::MAX, true, i64::MAX).unwrap();
    assert_eq!(harness.log_end(1).0, 2);
    assert_eq!(read(&harness, 1), read(&harness, new.leader));
    assert_eq!(harness.assignment(1).isr.len(), 3);
}

/// ElectLeaders v2 of `election_type` for the test partition (or, `None`,
/// every partition) sent to `node`: the whole answer's error and each
/// partition's.
fn elect(harness: &mut Harness, node: i32, election_type: i8, partitions: Option<&[i32]>) -> (i16, Vec<i16>) {
    let topic_partitions = partitions.map(|partitions| {
        vec![
            TopicPartitions::default()
                .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(partitions.to_vec()),
        ]
    });
    let request = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_topic_partitions(topic_partitions)
        .with_timeout_ms(10_000);
    let answer = harness.call(node, 2, request);
    let results = answer.replica_election_results.iter().flat_map(|t| &t.partition_result);
    (answer.error_code, results.map(|p| p.error_code).collect())
}

#[test]
fn a_preferred_leader_election_gives_the_first_replica_its_partition_back() {
    const PREFERRED: i8 = 0;
    const UNCLEAN: i8 = 1;
    let mut harness = Harness::new();
    assert_eq!(
        elect(&mut harness, 2, PREFERRED, Some(&[0])),
        (0, vec![code(ResponseError::ElectionNotNeeded)])
    );
    assert_eq!(
        elect(&mut harness, 2, UNCLEAN, Some(&[0])),
        (0, vec![code(ResponseError::ElectionNotNeeded)])
    );
    assert_eq!(
        elect(&mut harness, 2, PREFERRED, Some(&[5])),
        (0, vec![code(ResponseError::UnknownTopicOrPartition)])
    );
    // The preferred leader fails over, and while it is away it cannot be
    // elected.
    assert_eq!(harness.produce(1, -1, "before"), (0, 0));
    harness.cluster.crash(1);
    harness.settle(100);
    let failed_over = harness.assignment(2);
    assert_ne!(failed_over.leader, 1);
    assert_eq!(
        elect(&mut harness, 2, PREFERRED, Some(&[0])),
        (0, vec![code(ResponseError::PreferredLeaderNotAvailable)])
    );
    assert_eq!(harness.produce(failed_over.leader, -1, "during"), (0, 1));
    // Back and in sync: elected, at a new epoch, and it leads with both
    // records.
    harness.cluster.restart(1).unwrap();
    harness.settle(120);
    assert!(harness.assignment(2).isr.contains(&1));
    assert_eq!(elect(&mut harness, 3, PREFERRED, None), (0, vec![0]));
    harness.settle(10);
    let elected = harness.assignment(3);
    assert_eq!(elected.leader, 1);
    assert!(elected.leader_epoch > failed_over.leader_epoch);
    assert_eq!(harness.produce(1, -1, "after"), (0, 2));
    // Nothing left to elect: every partition is answered with nothing.
    assert_eq!(elect(&mut harness, 1, PREFERRED, None), (0, vec![]));
    assert_eq!(elect(&mut harness, 1, 7, None).0, code(ResponseError::InvalidRequest));
}

#[test]
fn only_an_in_sync_replica_is_elected() {
    let mut harness = Harness::with_replicas(&[1, 2]);
    harness.cluster.crash(2);
    harness.settle(80);
    assert_eq!(harness.assignment(1).isr, vec![1]);
    assert_eq!(harness.produce(1, 1, "only on 1"), (0, 0));
    // The only in-sync replica dies as the other returns: no one may lead.
    harness.cluster.crash(1);
    harness.cluster.restart(2).unwrap();
    harness.settle(120);
    let leaderless = harness.assignment(2);
    assert_eq!((leaderless.leader, leaderless.isr.clone()), (-1, vec![1]));
    let metadata = harness.call(2, 9, MetadataRequest::default().with_topics(None));
    let partition = &metadata.topics[0].partitions[0];
    assert_eq!(partition.error_code, code(ResponseError::LeaderNotAvailable));
    // Not even an unclean election: the only in-sync replica is down.
    assert_eq!(
        elect(&mut harness, 2, 1, Some(&[0])),
        (0, vec![code(ResponseError::EligibleLeadersNotAvailable)])
    );
    // It comes back and leads, with its record; the other catches up.
    harness.cluster.restart(1).unwrap();
    harness.settle(120);
    assert_eq!(harness.assignment(2).leader, 1);
    assert_eq!(harness.log_end(1).0, 1);
    assert_eq!(harness.log_end(2), (1, 1));
}

fn lone_config(flush: FlushPolicy) -> NodeConfig {
    let nodes = BTreeMap::from([(
        1,
        Endpoint {
            host: "sim".to_owned(),
            port: 9091,
        },
    )]);
    let mut config = NodeConfig::new(BrokerConfig::default(), nodes);
    config.flush = flush;
    config.segment_bytes = 4096;
    config
}

/// A lone node (a one-voter quorum) on `disk`, after it elected itself.
fn lone_node(disk: SimDisk, clock: &ManualClock, flush: FlushPolicy) -> ClusterNode<SimDisk> {
    let mut node = ClusterNode::open(lone_config(flush), disk, clock.clone()).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..30 {
        clock.advance(100);
        node.tick().unwrap();
    }
    node
}

/// Produces `count` acks=1 records of growing size through a lone node
/// (the first auto-creates the topic), 10 ms apart.
fn write_records(node: &mut ClusterNode<SimDisk>, clock: &ManualClock, count: usize) {
    let mut client = Client::new("lone");
    for i in 0..count {
        let request = produce_request(1, Bytes::from(vec![b'v'; 100 + i]));
        let (_, frame) = client.request(9, request).unwrap();
        node.client_frame(1, frame.slice(4..)).unwrap();
        clock.advance(10);
        node.tick().unwrap();
    }
}

fn log_end_of(node: &ClusterNode<SimDisk>) -> i64 {
    let name = StrBytes::from_static_str(TOPIC);
    node.broker()
        .topics()
        .partition(&name, 0)
        .map_or(0, |log| log.log_end_offset())
}

#[test]
fn a_restart_recovers_what_was_flushed_and_cuts_a_torn_tail() {
    let mut lost = 0;
    for seed in 0..20 {
        // Flushed only every 10 s: the last writes are the disk's to lose.
        let clock = ManualClock::new(1_700_000_000_000);
        let flush = FlushPolicy::IntervalMs(10_000);
        let mut node = lone_node(SimDisk::new(), &clock, flush);
        write_records(&mut node, &clock, 5);
        clock.advance(10_000);
        node.tick().unwrap();
        let flushed = log_end_of(&node);
        assert!(flushed >= 3, "{flushed}");
        write_records(&mut node, &clock, 5);
        let before = log_end_of(&node);
        let mut disk = node.into_disk();
        let files = disk.list().unwrap();
        assert!(files.iter().any(|file| disk.unflushed_len(file).unwrap_or(0) > 0));
        disk.crash(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let restarted = ClusterNode::open(lone_config(flush), disk, clock.clone()).unwrap_or_else(|e| panic!("{e}"));
        let recovered = log_end_of(&restarted);
        assert!(
            (flushed..=before).contains(&recovered),
            "{flushed} <= {recovered} <= {before}"
        );
        lost += usize::from(recovered < before);
    }
    assert!(lost > 0, "no crash lost anything");
}

#[test]
fn a_corrupt_segment_is_refused_with_its_file_and_offset() {
    let clock = ManualClock::new(1_700_000_000_000);
    let mut node = lone_node(SimDisk::new(), &clock, FlushPolicy::Always);
    write_records(&mut node, &clock, 40);
    let mut disk = node.into_disk();
    let files = disk.list().unwrap();
    assert!(files.len() > 1, "4 KiB segments roll: {files:?}");
    disk.corrupt(&files[0], 40);
    let error = match ClusterNode::open(lone_config(FlushPolicy::Always), disk, clock) {
        Ok(_) => panic!("a corrupt segment was accepted"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains(&files[0]) && error.contains("offset"), "{error}");
}

/// The partition count of the test topic in each node's image (`None`:
/// the node does not have it).
fn partition_counts(harness: &Harness) -> Vec<Option<usize>> {
    let name = StrBytes::from_static_str(TOPIC);
    (1..=3)
        .map(|node| {
            let topics = harness.cluster.node(node).unwrap().broker().topics();
            topics.get(&name).map(|topic| topic.partitions.len())
        })
        .collect()
}

#[test]
fn added_partitions_and_a_deletion_reach_every_node_through_the_quorum() {
    let mut harness = Harness::new();
    let add = CreatePartitionsRequest::default()
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_count(3)
                .with_assignments(None),
        ])
        .with_timeout_ms(10_000);
    // Asked of a follower: it proposes, and answers once its image has them.
    let answer = harness.call(2, 3, add);
    assert_eq!(answer.results[0].error_code, 0, "{answer:?}");
    harness.settle(10);
    assert_eq!(partition_counts(&harness), [Some(3); 3]);
    // A new partition takes acks=all writes from its leader.
    let name = StrBytes::from_static_str(TOPIC);
    let leader = harness
        .cluster
        .node(1)
        .unwrap()
        .broker()
        .topics()
        .replica(&name, 2)
        .unwrap()
        .assignment
        .leader;
    let mut request = produce_request(-1, Bytes::from_static(b"new"));
    request.topic_data[0].partition_data[0].index = 2;
    let produced = harness.call(leader, 9, request);
    assert_eq!(
        produced.responses[0].partition_responses[0].error_code, 0,
        "{produced:?}"
    );

    let delete = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(StrBytes::from_static_str(TOPIC))])
        .with_timeout_ms(10_000);
    let answer = harness.call(3, 5, delete);
    assert_eq!(answer.responses[0].error_code, 0, "{answer:?}");
    harness.settle(10);
    assert_eq!(partition_counts(&harness), [None; 3]);
}

#[test]
fn a_topic_deleted_and_created_again_recovers_with_only_its_new_records() {
    let clock = ManualClock::new(1_700_000_000_000);
    let mut node = lone_node(SimDisk::new(), &clock, FlushPolicy::Always);
    // The first write auto-creates the topic; the others append.
    write_records(&mut node, &clock, 5);
    assert_eq!(log_end_of(&node), 4);
    let mut client = Client::new("admin");
    let delete = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(StrBytes::from_static_str(TOPIC))])
        .with_timeout_ms(10_000);
    let (_, frame) = client.request(5, delete).unwrap();
    node.client_frame(2, frame.slice(4..)).unwrap();
    for _ in 0..5 {
        clock.advance(100);
        node.tick().unwrap();
    }
    assert!(node.broker().topics().get(&StrBytes::from_static_str(TOPIC)).is_none());
    // Auto-created again by the next write: a new topic, two records.
    write_records(&mut node, &clock, 3);
    assert_eq!(log_end_of(&node), 2);
    let restarted = ClusterNode::open(lone_config(FlushPolicy::Always), node.into_disk(), clock.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log_end_of(&restarted), 2, "the old topic's records stayed with it");
}

/// DeleteRecords of the test partition before `offset`, asked of `node`.
fn delete_records(harness: &mut Harness, node: i32, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default()
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(offset),
                ]),
        ])
        .with_timeout_ms(10_000);
    let answer = harness.call(node, 2, request).topics[0].partitions[0].clone();
    (answer.error_code, answer.low_watermark)
}

#[test]
fn deleted_records_leave_every_replica_and_a_restart() {
    let mut harness = Harness::new();
    for i in 0..4 {
        assert_eq!(harness.produce(1, -1, &format!("v{i}")), (0, i));
    }
    assert_eq!(
        delete_records(&mut harness, 2, 2).0,
        code(ResponseError::NotLeaderOrFollower)
    );
    assert_eq!(delete_records(&mut harness, 1, 2), (0, 2));
    harness.settle(10);
    for node in 1..=3 {
        assert_eq!(harness.log(node).log_start_offset(), 2, "node {node}");
    }
    // A restarted follower keeps its log start: the write-ahead log has it.
    harness.cluster.crash(3);
    harness.cluster.restart(3).unwrap();
    harness.settle(60);
    assert_eq!(harness.log(3).log_start_offset(), 2);
    assert_eq!(harness.log_end(3).0, 4);
}

#[test]
fn a_restart_recovers_the_log_start_from_the_write_ahead_log() {
    let clock = ManualClock::new(1_700_000_000_000);
    let mut node = lone_node(SimDisk::new(), &clock, FlushPolicy::Always);
    write_records(&mut node, &clock, 5);
    let request = DeleteRecordsRequest::default().with_topics(vec![
        DeleteRecordsTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![DeleteRecordsPartition::default().with_offset(3)]),
    ]);
    let (_, frame) = Client::new("admin").request(2, request).unwrap();
    node.client_frame(2, frame.slice(4..)).unwrap();
    clock.advance(100);
    node.tick().unwrap();
    let start = |node: &ClusterNode<SimDisk>| {
        let name = StrBytes::from_static_str(TOPIC);
        node.broker().topics().partition(&name, 0).unwrap().log_start_offset()
    };
    assert_eq!(start(&node), 3);
    let restarted = ClusterNode::open(lone_config(FlushPolicy::Always), node.into_disk(), clock.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(start(&restarted), 3);
    assert_eq!(log_end_of(&restarted), 4);
}

/// A node whose wall clock went ahead and came back keeps ticking: its
/// timers move back with the clock instead of waiting out the step (found
/// by `kafka-fuzz storm`'s clock faults: the node sent no heartbeat, no
/// Raft message, for as long as its clock had been ahead).
#[test]
fn a_clock_stepping_back_does_not_stop_a_node() {
    let endpoint = |port| Endpoint {
        host: "sim".to_owned(),
        port,
    };
    let nodes = BTreeMap::from([(1, endpoint(9091)), (2, endpoint(9092))]);
    let clock = ManualClock::new(1_700_000_000_000);
    let mut node = ClusterNode::open(
        NodeConfig::new(BrokerConfig::default(), nodes),
        SimDisk::new(),
        clock.clone(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut heartbeats_within = |ms: i64| {
        let mut sent = 0;
        for _ in 0..ms / 50 {
            clock.advance(50);
            for output in node.tick().unwrap() {
                if let Output::Send { to: 2, bytes } = output
                    && matches!(PeerMessage::decode(1, &bytes), Ok(PeerMessage::Heartbeat))
                {
                    sent += 1;
                }
            }
        }
        sent
    };
    assert!(heartbeats_within(2_000) > 0, "a node sends its peer heartbeats");
    let now = clock.now_ms();
    clock.set(now + 300_000);
    heartbeats_within(50);
    clock.set(now);
    assert!(
        heartbeats_within(2_000) > 0,
        "no heartbeat for 2 s after the clock came back"
    );
}
