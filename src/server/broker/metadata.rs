//! The cluster as one broker sees it (brokers, who is fenced, the active
//! controller), and the metadata records that change it. On a single node
//! records apply at once; on a cluster they are proposed to the metadata
//! quorum and every node applies them in the order the quorum committed
//! them, so every node's image ends the same (Kafka's KRaft image).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::dispatcher::Broker;
use super::replica_api::advance_high_watermark;
use super::replicas::{Assignment, NO_LEADER};
use super::topic_config::TopicConfig;

/// Where clients reach a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: i32,
}

/// A change to the cluster's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// A topic with one replica list per partition; `request` tags the
    /// CreateTopics that asked for it (none for an auto-creation).
    CreateTopic {
        name: String,
        replicas: Vec<Vec<i32>>,
        request: Option<u64>,
        /// The topic's config overrides, checked by the proposer.
        configs: BTreeMap<String, String>,
    },
    /// Kafka's ConfigRecords for a topic: its overrides from now on.
    AlterTopicConfig {
        id: u128,
        overrides: BTreeMap<String, String>,
    },
    /// Kafka's AlterPartition (and, with `leader`, a preferred-leader
    /// election): applied only while the partition epoch is still the one
    /// the change was computed from, so a stale change is dropped.
    AlterPartition {
        topic: String,
        partition: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
        leader: Option<i32>,
    },
    /// The controller lost the broker's heartbeats: it leaves every ISR it
    /// can, and its leaderships go to another in-sync replica.
    FenceBroker { id: i32 },
    /// The broker is back: it leads what has no leader and it is in sync for.
    UnfenceBroker { id: i32 },
    /// Kafka's RemoveTopicRecord: the topic with this id is gone with its
    /// partitions and committed offsets; its name created again is a new
    /// topic. (Ids are `u128`s: records are serialized.)
    DeleteTopic { id: u128 },
    /// Kafka's PartitionRecords for partitions added to a topic: applied
    /// only while the topic still has `from` partitions, so a stale or
    /// racing request adds nothing.
    CreatePartitions {
        id: u128,
        from: i32,
        replicas: Vec<Vec<i32>>,
    },
    /// A broker restarted (KRaft's broker registration): its previous
    /// incarnation is fenced, so every leadership it had moves on to a new
    /// epoch and nothing that incarnation proposed can still apply.
    RegisterBroker { id: i32, incarnation: u64 },
}

/// The brokers and how the metadata changes.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub brokers: BTreeMap<i32, Endpoint>,
    pub fenced: BTreeSet<i32>,
    /// The active controller (the quorum's leader) as last seen; -1 unknown.
    pub controller: i32,
    /// Records go through a quorum (`take_proposals`) rather than applying
    /// at once.
    pub replicated: bool,
    proposals: Vec<MetadataRecord>,
    /// This broker restarted and the quorum has not yet applied its
    /// registration: until then it leads nothing.
    pub registering: Option<u64>,
    /// Each broker's registered incarnation.
    pub incarnations: BTreeMap<i32, u64>,
}

impl ClusterView {
    /// One broker alone, its own controller.
    pub fn single(id: i32, endpoint: Endpoint) -> Self {
        Self {
            brokers: BTreeMap::from([(id, endpoint)]),
            fenced: BTreeSet::new(),
            controller: id,
            replicated: false,
            proposals: Vec::new(),
            registering: None,
            incarnations: BTreeMap::new(),
        }
    }

    /// A member of a cluster whose metadata a quorum keeps.
    pub fn replicated(brokers: BTreeMap<i32, Endpoint>) -> Self {
        Self {
            brokers,
            fenced: BTreeSet::new(),
            controller: NO_LEADER,
            replicated: true,
            proposals: Vec::new(),
            registering: None,
            incarnations: BTreeMap::new(),
        }
    }

    /// Brokers that may lead and be assigned replicas.
    pub fn live(&self) -> impl Iterator<Item = i32> + '_ {
        self.brokers.keys().copied().filter(|id| !self.fenced.contains(id))
    }
}

impl Broker {
    pub fn view(&self) -> &ClusterView {
        &self.view
    }

    /// Records waiting for the quorum, oldest first.
    pub fn take_proposals(&mut self) -> Vec<MetadataRecord> {
        if self.view.proposals.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut Arc::make_mut(&mut self.view).proposals)
    }

    pub fn set_controller(&mut self, controller: i32) {
        if self.view.controller != controller {
            Arc::make_mut(&mut self.view).controller = controller;
        }
    }

    /// The id this broker leads partitions as: its own, except between a
    /// restart and the quorum applying its registration (a leadership of
    /// the previous incarnation must not go on: what it proposed may still
    /// commit).
    pub(super) fn leader_id(&self) -> i32 {
        match self.view.registering {
            Some(_) => NO_LEADER - 1,
            None => self.config.node_id,
        }
    }

    /// This broker restarted as `incarnation`: it leads nothing until the
    /// quorum applies its registration (`RegisterBroker`).
    pub fn begin_registration(&mut self, incarnation: u64) {
        Arc::make_mut(&mut self.view).registering = Some(incarnation);
    }

    /// A metadata change: applied now on a single broker, proposed on a
    /// cluster.
    pub fn propose(&mut self, record: MetadataRecord) {
        if self.view.replicated {
            Arc::make_mut(&mut self.view).proposals.push(record);
        } else {
            self.apply(record);
        }
    }

    /// Applies one committed record to this broker's image.
    pub fn apply(&mut self, record: MetadataRecord) {
        let now_ms = self.now_ms();
        match record {
            MetadataRecord::CreateTopic {
                name,
                replicas,
                request,
                configs,
            } => {
                let name = StrBytes::from_string(name);
                let max = self.config.max_partitions_per_topic;
                let count = i32::try_from(replicas.len()).unwrap_or(i32::MAX);
                // Alone, the proposer checked it against this very state a
                // moment ago; a quorum's record may have lost a race.
                let valid = !self.view.replicated
                    || (self.topics.check_new(&name, count, max).is_ok() && replicas.iter().all(|r| !r.is_empty()));
                if valid {
                    // A partition with followers starts tracking them.
                    let followed = replicas.iter().any(|replicas| replicas.len() > 1);
                    let assignments = replicas.into_iter().map(Assignment::new).collect();
                    let id = self.topics.create(name.clone(), assignments, request).id;
                    if let Some(topic) = self.topics.by_id_mut(id) {
                        topic.config = TopicConfig::new(configs);
                    }
                    if followed {
                        self.leadership_changed(&name, None, now_ms);
                    }
                }
            }
            MetadataRecord::AlterPartition {
                topic,
                partition,
                partition_epoch,
                isr,
                leader,
            } => {
                let name = StrBytes::from_string(topic);
                let me = self.leader_id();
                let fenced = &self.view.fenced;
                let Some(replica) = self.topics.partition_mut(&name, partition) else {
                    return;
                };
                let current = Arc::make_mut(&mut replica.assignment);
                let leader = leader.unwrap_or(current.leader);
                // KIP-841: a fenced broker may not join the ISR.
                let joining_fenced = isr.iter().any(|id| !current.isr.contains(id) && fenced.contains(id));
                let valid = current.partition_epoch == partition_epoch
                    && !isr.is_empty()
                    && isr.iter().all(|id| current.replicas.contains(id))
                    && isr.contains(&leader)
                    && !fenced.contains(&leader)
                    && !joining_fenced;
                if !valid {
                    // The controller's refusal: a leader that proposed it for
                    // this epoch stops waiting for it.
                    if current.partition_epoch == partition_epoch {
                        replica.alter_sent = None;
                    }
                    return;
                }
                let moved = leader != current.leader;
                current.isr = isr;
                current.partition_epoch += 1;
                if moved {
                    current.leader = leader;
                    current.leader_epoch += 1;
                }
                replica.alter_sent = None;
                // A smaller ISR may let the high watermark move at once.
                advance_high_watermark(replica, me);
                if moved {
                    self.leadership_changed(&name, Some(partition), now_ms);
                }
            }
            MetadataRecord::AlterTopicConfig { id, overrides } => {
                if let Some(topic) = self.topics.by_id_mut(Uuid::from_u128(id)) {
                    topic.config = TopicConfig::new(overrides);
                }
            }
            MetadataRecord::DeleteTopic { id } => {
                let id = Uuid::from_u128(id);
                if let Some(name) = self.topics.by_id(id).map(|topic| topic.name.clone())
                    && self.topics.delete(id)
                {
                    self.groups.forget_topic(&name);
                }
            }
            MetadataRecord::CreatePartitions { id, from, replicas } => {
                let id = Uuid::from_u128(id);
                let Some(topic) = self.topics.by_id(id) else {
                    return;
                };
                let name = topic.name.clone();
                let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
                let total = i32::try_from(replicas.len()).map_or(i32::MAX, |added| added.saturating_add(count));
                if count != from || replicas.iter().any(Vec::is_empty) || total > self.config.max_partitions_per_topic {
                    return;
                }
                self.topics
                    .add_partitions(id, replicas.into_iter().map(Assignment::new).collect());
                for index in count..total {
                    self.leadership_changed(&name, Some(index), now_ms);
                }
            }
            MetadataRecord::RegisterBroker { id, incarnation } => {
                // A registration proposed again commits again: only its
                // first copy fences the previous incarnation.
                if self.view.incarnations.get(&id) == Some(&incarnation) {
                    return;
                }
                let view = Arc::make_mut(&mut self.view);
                view.incarnations.insert(id, incarnation);
                if id == self.config.node_id && view.registering == Some(incarnation) {
                    view.registering = None;
                }
                self.apply(MetadataRecord::FenceBroker { id });
            }
            MetadataRecord::FenceBroker { id } => {
                if Arc::make_mut(&mut self.view).fenced.insert(id) {
                    self.reassign(now_ms, |assignment, fenced| {
                        if assignment.isr.len() > 1 {
                            assignment.isr.retain(|&member| member != id);
                        }
                        if assignment.leader == id {
                            assignment.leader = assignment.elect(|replica| !fenced.contains(&replica));
                            if planted!(UncleanElection) {
                                let unclean = assignment.replicas.iter().rev().find(|r| !fenced.contains(r));
                                if let Some(&unclean) = unclean {
                                    assignment.leader = unclean;
                                    assignment.isr = vec![unclean];
                                }
                            }
                        }
                    });
                }
            }
            MetadataRecord::UnfenceBroker { id } => {
                if Arc::make_mut(&mut self.view).fenced.remove(&id) {
                    self.reassign(now_ms, |assignment, fenced| {
                        if assignment.leader == NO_LEADER {
                            assignment.leader = assignment.elect(|replica| !fenced.contains(&replica));
                        }
                    });
                }
            }
        }
    }

    /// Applies `change` to every partition; a partition it changed moves to
    /// its next partition epoch (and leader epoch, if its leader moved).
    fn reassign(&mut self, now_ms: i64, change: impl Fn(&mut Assignment, &BTreeSet<i32>)) {
        let fenced = self.view.fenced.clone();
        let me = self.leader_id();
        let mut moved = Vec::new();
        for topic in self.topics.iter_mut() {
            for (index, replica) in (0..).zip(topic.partitions.iter_mut()) {
                let before = Arc::clone(&replica.assignment);
                let assignment = Arc::make_mut(&mut replica.assignment);
                change(assignment, &fenced);
                if *assignment == *before {
                    // Unchanged: keep sharing it with the brokers forked from this one.
                    replica.assignment = before;
                    continue;
                }
                assignment.partition_epoch += 1;
                if assignment.leader != before.leader {
                    assignment.leader_epoch += 1;
                    moved.push((topic.name.clone(), index));
                }
                advance_high_watermark(replica, me);
            }
        }
        for (name, index) in moved {
            self.leadership_changed(&name, Some(index), now_ms);
        }
    }

    /// A partition got a new leader: if it is this broker, it starts
    /// tracking its followers afresh, as a new Kafka leader does.
    fn leadership_changed(&mut self, name: &StrBytes, partition: Option<i32>, now_ms: i64) {
        let node = self.config.node_id;
        let Some(topic) = self.topics.get(name) else {
            return;
        };
        let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        let indexes = partition.map_or(0..count, |index| index..index + 1);
        for index in indexes {
            let Some(replica) = self.topics.partition_mut(name, index) else {
                continue;
            };
            let assignment = &replica.assignment;
            let followers: Vec<i32> = assignment.replicas.iter().copied().filter(|&id| id != node).collect();
            if assignment.is_leader(node) {
                let epoch_start = replica.log.log_end_offset();
                replica.followers.reset(followers, now_ms, epoch_start);
            } else {
                replica.followers.clear();
            }
            replica.alter_sent = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::broker::{BrokerConfig, ManualClock};

    fn cluster_broker(node: i32) -> Broker {
        let brokers = (1..=3)
            .map(|id| {
                let endpoint = Endpoint {
                    host: "127.0.0.1".to_owned(),
                    port: 9090 + id,
                };
                (id, endpoint)
            })
            .collect();
        let config = BrokerConfig {
            node_id: node,
            ..BrokerConfig::default()
        };
        Broker::replica(config, ClusterView::replicated(brokers), ManualClock::new(0))
    }

    fn create(broker: &mut Broker) {
        broker.apply(MetadataRecord::CreateTopic {
            name: "t".to_owned(),
            replicas: vec![vec![1, 2, 3]],
            request: None,
            configs: BTreeMap::new(),
        });
    }

    fn assignment(broker: &Broker) -> Assignment {
        let name = StrBytes::from_static_str("t");
        broker.topics().replica(&name, 0).unwrap().assignment.as_ref().clone()
    }

    #[test]
    fn fencing_the_leader_elects_an_in_sync_replica_at_the_next_epoch() {
        let mut broker = cluster_broker(2);
        create(&mut broker);
        broker.apply(MetadataRecord::FenceBroker { id: 1 });
        let after = assignment(&broker);
        assert_eq!(
            (after.leader, after.leader_epoch, after.isr.clone()),
            (2, 1, vec![2, 3])
        );
        // The last in-sync replica stays in the ISR, leaderless: no unclean election.
        broker.apply(MetadataRecord::FenceBroker { id: 2 });
        broker.apply(MetadataRecord::FenceBroker { id: 3 });
        let after = assignment(&broker);
        assert_eq!((after.leader, after.isr.clone()), (NO_LEADER, vec![3]));
        broker.apply(MetadataRecord::UnfenceBroker { id: 1 });
        assert_eq!(assignment(&broker).leader, NO_LEADER, "1 is out of sync");
        broker.apply(MetadataRecord::UnfenceBroker { id: 3 });
        let after = assignment(&broker);
        assert_eq!((after.leader, after.leader_epoch), (3, 4));
    }

    #[test]
    fn a_stale_alter_partition_is_dropped() {
        let mut broker = cluster_broker(1);
        create(&mut broker);
        let alter = |epoch: i32, isr: Vec<i32>| MetadataRecord::AlterPartition {
            topic: "t".to_owned(),
            partition: 0,
            partition_epoch: epoch,
            isr,
            leader: None,
        };
        broker.apply(alter(0, vec![1, 2]));
        assert_eq!(assignment(&broker).isr, vec![1, 2]);
        broker.apply(alter(0, vec![1]));
        assert_eq!(assignment(&broker).isr, vec![1, 2], "computed from epoch 0, now 1");
        // An ISR without the leader is refused.
        broker.apply(alter(1, vec![2]));
        assert_eq!(assignment(&broker).partition_epoch, 1);
    }

    #[test]
    fn a_topic_is_created_once_with_the_same_id_everywhere() {
        let mut one = cluster_broker(1);
        let mut two = cluster_broker(2);
        for broker in [&mut one, &mut two] {
            create(broker);
            create(broker);
        }
        let name = StrBytes::from_static_str("t");
        assert_eq!(one.topics().iter().count(), 1);
        assert_eq!(one.topics().get(&name).unwrap().id, two.topics().get(&name).unwrap().id);
    }
}
