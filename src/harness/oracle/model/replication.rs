//! The model extended to replication: what clients of a cluster were told
//! must hold across every crash, partition, pause and leader change.
//! Kafka's own allowances are kept: a record acknowledged with acks=1 may
//! be lost when its leader changes (counted, not flagged), and a new leader
//! may answer with an older high watermark for a while. Everything here is
//! what a client sees; nothing reads a node's state.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;

use super::{At, Invariant, show_bytes, violation};
use crate::harness::cluster_client::{Acknowledged, Fetched, LeaderSeen};
use crate::harness::oracle::Violation;
use crate::harness::target::NodeId;

type Partition = (StrBytes, i32);

/// What the model remembers of a run's answers.
#[derive(Debug, Default)]
pub struct ReplicationModel {
    /// Records acknowledged with acks=all, by partition and offset.
    durable: BTreeMap<Partition, BTreeMap<i64, Bytes>>,
    /// Every acknowledgement, in the order it came.
    acknowledged: Vec<Acknowledged>,
    /// What a fetch served below its high watermark, by partition and
    /// offset, with the node that served it first.
    committed: BTreeMap<Partition, BTreeMap<i64, (Option<Bytes>, NodeId)>>,
    /// The last leader epoch each node's metadata gave each partition, as
    /// each observer saw it (one client of concurrent ones: only its own
    /// answers come in an order that means something).
    epochs: BTreeMap<(usize, NodeId, Partition), i32>,
    /// The leader of each partition's leader epoch, and the node that said.
    leaders: BTreeMap<(Partition, i32), (NodeId, NodeId)>,
}

/// A partition's log as read at the end, every offset from the start to the
/// high watermark.
pub type FinalLog = Vec<(i64, Option<Bytes>)>;

/// What the final read found beyond violations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinalCount {
    pub acknowledged_acks_all: usize,
    pub acknowledged_acks_one: usize,
    /// acks=1 records lost on a leader change: Kafka allows it.
    pub lost_acks_one: usize,
    /// Records of plain producers written twice by a retry: Kafka allows it.
    pub duplicated_plain: usize,
}

fn key(topic: &StrBytes, partition: i32) -> Partition {
    (topic.clone(), partition)
}

/// A fetch below the high watermark serves the records from its offset on,
/// each offset once, none skipped (the "4353 of 5000 consumed" class): the
/// logs hold no gaps (no compaction, no transactions), and KIP-74 answers
/// at least one batch whatever the limits.
fn paging_complete(at: At, fetched: &Fetched) -> Result<(), Violation> {
    let from = fetched.fetch_offset;
    let served = fetched
        .records
        .iter()
        .map(|&(offset, _)| offset)
        .filter(|&offset| offset >= from);
    let problem = match served.zip(from..).find(|(offset, expected)| offset != expected) {
        Some((offset, expected)) => Some((format!("offset {expected} next"), format!("offset {offset}"))),
        None if from < fetched.high_watermark && !fetched.records.iter().any(|&(offset, _)| offset >= from) => {
            Some(("at least one record".to_owned(), "none".to_owned()))
        }
        None => None,
    };
    match problem {
        None => Ok(()),
        Some((expected, actual)) => Err(violation(
            Invariant::PagingComplete,
            at,
            &format!(
                "{}/{}: n{} answered a fetch from {from}, high watermark {}",
                fetched.topic, fetched.partition, fetched.node, fetched.high_watermark
            ),
            expected,
            actual,
        )),
    }
}

impl ReplicationModel {
    pub fn acknowledged(&mut self, at: At, ack: &Acknowledged) -> Result<(), Violation> {
        let tp = key(&ack.topic, ack.partition);
        let value = Some(ack.value.clone());
        if let Some((served, node)) = self.committed.get(&tp).and_then(|log| log.get(&ack.offset))
            && *served != value
        {
            return Err(violation(
                Invariant::CommittedAgree,
                at,
                &format!(
                    "{}/{} offset {} acknowledged for a new record, below a high watermark n{node} served",
                    ack.topic, ack.partition, ack.offset
                ),
                show_bytes(served),
                show_bytes(&value),
            ));
        }
        if ack.acks == -1
            && let Some(other) = self
                .durable
                .entry(tp)
                .or_default()
                .insert(ack.offset, ack.value.clone())
            && other != ack.value
        {
            return Err(violation(
                Invariant::AcknowledgedDurable,
                at,
                &format!(
                    "{}/{} offset {} acknowledged with acks=all twice",
                    ack.topic, ack.partition, ack.offset
                ),
                show_bytes(&Some(other)),
                show_bytes(&value),
            ));
        }
        self.acknowledged.push(ack.clone());
        Ok(())
    }

    /// A topic was deleted (or may have been): nothing of it is expected
    /// any more.
    pub fn forget_topic(&mut self, topic: &StrBytes) {
        self.durable.retain(|(t, _), _| t != topic);
        self.committed.retain(|(t, _), _| t != topic);
        self.acknowledged.retain(|ack| ack.topic != *topic);
    }

    /// One past the last offset of `partition` acknowledged with acks=all:
    /// a high watermark below it has yet to catch up.
    pub fn durable_end(&self, topic: &StrBytes, partition: i32) -> i64 {
        self.durable
            .get(&key(topic, partition))
            .and_then(|log| log.keys().next_back())
            .map_or(0, |last| last + 1)
    }

    /// A fetch served records: each below the high watermark, each the one
    /// every earlier answer served at its offset, and none of the acks=all
    /// records in its range missing.
    pub fn fetched(&mut self, at: At, fetched: &Fetched) -> Result<(), Violation> {
        let tp = key(&fetched.topic, fetched.partition);
        let name = format!("{}/{}", fetched.topic, fetched.partition);
        let node = fetched.node;
        let committed = self.committed.entry(tp.clone()).or_default();
        for (offset, value) in &fetched.records {
            if *offset >= fetched.high_watermark {
                return Err(violation(
                    Invariant::Watermarks,
                    at,
                    &format!("{name}: n{node} served offset {offset} to a consumer"),
                    format!("offsets below the high watermark {}", fetched.high_watermark),
                    offset,
                ));
            }
            match committed.get(offset) {
                Some((earlier, by)) if earlier != value => {
                    return Err(violation(
                        Invariant::CommittedAgree,
                        at,
                        &format!("{name} offset {offset}: n{node} serves another record than n{by} served"),
                        show_bytes(earlier),
                        show_bytes(value),
                    ));
                }
                Some(_) => {}
                None => {
                    committed.insert(*offset, (value.clone(), node));
                }
            }
        }
        // The acks=all records first, so that a finding names the record.
        let last = fetched
            .records
            .last()
            .map_or(fetched.fetch_offset - 1, |&(last, _)| last);
        let served: BTreeMap<i64, &Option<Bytes>> = fetched.records.iter().map(|(o, v)| (*o, v)).collect();
        let in_range = self
            .durable
            .get(&tp)
            .filter(|_| last >= fetched.fetch_offset)
            .into_iter()
            .flat_map(|log| log.range(fetched.fetch_offset..=last));
        for (offset, value) in in_range {
            let got = served.get(offset).copied().cloned().flatten();
            if got.as_ref() != Some(value) {
                return Err(violation(
                    Invariant::AcknowledgedDurable,
                    at,
                    &format!("{name} offset {offset}, acknowledged with acks=all, read from n{node}"),
                    show_bytes(&Some(value.clone())),
                    show_bytes(&got),
                ));
            }
        }
        paging_complete(at, fetched)
    }

    /// Metadata answers `observer` got: one node's leader epochs never go
    /// back, and one leader epoch has one leader whichever node tells it.
    pub fn leaders(&mut self, at: At, observer: usize, seen: &[LeaderSeen]) -> Result<(), Violation> {
        for leader in seen.iter().filter(|leader| leader.leader >= 0) {
            let tp = key(&leader.topic, leader.partition);
            let name = format!("{}/{}", leader.topic, leader.partition);
            if let Some(last) = self
                .epochs
                .insert((observer, leader.node, tp.clone()), leader.leader_epoch)
                && last > leader.leader_epoch
            {
                return Err(violation(
                    Invariant::LeaderEpochsIncrease,
                    at,
                    &format!("{name}: the leader epoch n{} gives", leader.node),
                    format!("{last} or more"),
                    leader.leader_epoch,
                ));
            }
            let said = (leader.leader, leader.node);
            if let Some(&(other, by)) = self.leaders.get(&(tp.clone(), leader.leader_epoch))
                && other != leader.leader
            {
                return Err(violation(
                    Invariant::OneLeaderPerEpoch,
                    at,
                    &format!(
                        "{name} leader epoch {}: n{} names its leader, n{by} named it before",
                        leader.leader_epoch, leader.node
                    ),
                    format!("n{other}"),
                    format!("n{}", leader.leader),
                ));
            }
            self.leaders.insert((tp, leader.leader_epoch), said);
        }
        Ok(())
    }

    /// The logs as read once every fault healed: every record acknowledged
    /// with acks=all at its offset, no record written twice, and the acks=1
    /// records lost counted.
    /// `origin_ms`: the clock's reading when the run began, so that times in
    /// messages count from it.
    pub fn check_final(
        &self,
        at: At,
        logs: &BTreeMap<Partition, FinalLog>,
        origin_ms: i64,
    ) -> Result<FinalCount, Violation> {
        let mut count = FinalCount::default();
        for (tp, log) in logs {
            let mut offsets: BTreeMap<&Bytes, i64> = BTreeMap::new();
            for (offset, value) in log {
                let Some(value) = value else {
                    continue;
                };
                let Some(first) = offsets.insert(value, *offset) else {
                    continue;
                };
                // A plain producer's retry may write a record twice (Kafka
                // answers NOT_LEADER_OR_FOLLOWER to a produce it appended
                // and then lost the leadership of): counted. An idempotent
                // one's never.
                if !self.acknowledged.iter().any(|ack| ack.value == value && ack.idempotent) {
                    count.duplicated_plain += 1;
                    continue;
                }
                return Err(violation(
                    Invariant::IdempotentOnce,
                    at,
                    &format!("{}/{}: a record of an idempotent producer", tp.0, tp.1),
                    format!("at offset {first} only"),
                    format!("at {first} and {offset}"),
                ));
            }
        }
        let by_offset: BTreeMap<&Partition, BTreeMap<i64, &Option<Bytes>>> = logs
            .iter()
            .map(|(tp, log)| (tp, log.iter().map(|(offset, value)| (*offset, value)).collect()))
            .collect();
        for ack in &self.acknowledged {
            let found = by_offset
                .get(&key(&ack.topic, ack.partition))
                .and_then(|log| log.get(&ack.offset))
                .and_then(|value| (*value).clone());
            let kept = found.as_ref() == Some(&ack.value);
            if ack.acks == -1 {
                count.acknowledged_acks_all += 1;
            } else {
                count.acknowledged_acks_one += 1;
            }
            match (kept, ack.acks) {
                (true, _) => {}
                (false, 1) => count.lost_acks_one += 1,
                (false, _) => {
                    return Err(violation(
                        Invariant::AcknowledgedDurable,
                        at,
                        &format!(
                            "{}/{} offset {}, acknowledged with acks=all at {} ms, read after every fault healed",
                            ack.topic,
                            ack.partition,
                            ack.offset,
                            ack.at_ms - origin_ms
                        ),
                        show_bytes(&Some(ack.value.clone())),
                        show_bytes(&found),
                    ));
                }
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(offset: i64, value: &'static str, acks: i16) -> Acknowledged {
        Acknowledged {
            topic: StrBytes::from_static_str("t"),
            partition: 0,
            offset,
            value: Bytes::from_static(value.as_bytes()),
            acks,
            idempotent: false,
            at_ms: crate::server::sim::SIM_START_MS,
        }
    }

    fn fetched(node: NodeId, high_watermark: i64, records: &[(i64, &'static str)]) -> Fetched {
        Fetched {
            node,
            topic: StrBytes::from_static_str("t"),
            partition: 0,
            fetch_offset: records.first().map_or(0, |r| r.0),
            leader_epoch: -1,
            high_watermark,
            records: records
                .iter()
                .map(|&(o, v)| (o, Some(Bytes::from_static(v.as_bytes()))))
                .collect(),
        }
    }

    fn invariant(result: Result<impl std::fmt::Debug, Violation>) -> String {
        let detail = result.expect_err("a violation").detail;
        detail.split(' ').next().unwrap_or_default().to_owned()
    }

    #[test]
    fn two_leaders_serving_different_records_below_the_high_watermark_is_a_violation() {
        let mut model = ReplicationModel::default();
        model.fetched(At(0), &fetched(1, 2, &[(0, "a"), (1, "b")])).unwrap();
        model.fetched(At(1), &fetched(2, 3, &[(1, "b"), (2, "c")])).unwrap();
        let diverged = model.fetched(At(2), &fetched(3, 3, &[(1, "x")]));
        assert_eq!(invariant(diverged), "committed-agree");
        let past = model.fetched(At(3), &fetched(3, 1, &[(1, "b")]));
        assert_eq!(invariant(past), "watermarks");
    }

    #[test]
    fn a_fetch_below_the_high_watermark_serves_every_offset_from_its_own() {
        let mut model = ReplicationModel::default();
        model.fetched(At(0), &fetched(1, 5, &[(0, "a"), (1, "b")])).unwrap();
        let mut skipped = fetched(1, 5, &[(3, "d")]);
        skipped.fetch_offset = 2;
        assert_eq!(invariant(model.fetched(At(1), &skipped)), "paging-complete");
        let mut empty = fetched(1, 5, &[]);
        empty.fetch_offset = 2;
        assert_eq!(invariant(model.fetched(At(2), &empty)), "paging-complete");
        empty.fetch_offset = 5;
        model
            .fetched(At(3), &empty)
            .expect("nothing to serve at the high watermark");
        let mut batch_before = fetched(1, 5, &[(1, "b"), (2, "c")]);
        batch_before.fetch_offset = 2;
        model
            .fetched(At(4), &batch_before)
            .expect("a batch may begin before the fetch offset");
    }

    #[test]
    fn acks_all_must_survive_and_acks_one_losses_are_counted() {
        let mut model = ReplicationModel::default();
        model.acknowledged(At(0), &ack(0, "kept", -1)).unwrap();
        model.acknowledged(At(1), &ack(1, "lost", 1)).unwrap();
        let skipped = model.fetched(At(2), &fetched(2, 5, &[(0, "other")]));
        assert_eq!(invariant(skipped), "acknowledged-durable");
        let log = |records: &[(i64, &'static str)]| {
            let tp = key(&StrBytes::from_static_str("t"), 0);
            let log = records
                .iter()
                .map(|&(o, v)| (o, Some(Bytes::from_static(v.as_bytes()))))
                .collect();
            BTreeMap::from([(tp, log)])
        };
        let count = model.check_final(At(3), &log(&[(0, "kept"), (1, "new")]), 0).unwrap();
        assert_eq!((count.acknowledged_acks_all, count.lost_acks_one), (1, 1));
        assert_eq!(
            invariant(model.check_final(At(3), &log(&[(0, "new")]), 0)),
            "acknowledged-durable"
        );
        let twice = model.check_final(At(3), &log(&[(0, "kept"), (1, "kept")]), 0).unwrap();
        assert_eq!(twice.duplicated_plain, 1, "a plain producer's retry may duplicate");
        let mut idempotent = ack(2, "once", -1);
        idempotent.idempotent = true;
        model.acknowledged(At(4), &idempotent).unwrap();
        let twice = model.check_final(At(5), &log(&[(0, "kept"), (2, "once"), (3, "once")]), 0);
        assert_eq!(invariant(twice), "idempotent-once");
    }

    #[test]
    fn leader_epochs_go_forward_with_one_leader_each() {
        let mut model = ReplicationModel::default();
        let seen = |node, leader, leader_epoch| LeaderSeen {
            node,
            topic: StrBytes::from_static_str("t"),
            partition: 0,
            leader,
            leader_epoch,
        };
        model.leaders(At(0), 0, &[seen(1, 1, 3), seen(2, 1, 2)]).unwrap();
        assert_eq!(
            invariant(model.leaders(At(1), 0, &[seen(1, 1, 2)])),
            "leader-epochs-increase"
        );
        assert_eq!(
            invariant(model.leaders(At(2), 0, &[seen(3, 2, 3)])),
            "one-leader-per-epoch"
        );
    }
}
