//! The storm's checker: every operation's answers fed, as they complete, to
//! the same model of Kafka's replicated guarantees the `cluster` target
//! checks (`ReplicationModel`), plus what only one client's own order can
//! tell under real concurrency: its high watermarks within one leader epoch
//! never go back, and after an acks=all acknowledgement its next ones are
//! at higher offsets. The final read, once every fault healed, settles
//! what was lost and what was written twice.

use std::collections::BTreeMap;

use kafka_protocol::protocol::StrBytes;

use crate::harness::cluster_client::{Acknowledged, ClientEvent, Fetched};
use crate::harness::oracle::Violation;
use crate::harness::oracle::model::{At, FinalCount, FinalLog, Invariant, ReplicationModel, violation};
use crate::harness::target::NodeId;

type Partition = (StrBytes, i32);

#[derive(Debug, Default)]
struct ClientView {
    /// The last high watermark per partition, node and leader epoch.
    high_watermarks: BTreeMap<(Partition, NodeId, i32), i64>,
    /// The offset of the last acks=all acknowledgement per partition.
    durable_offsets: BTreeMap<Partition, i64>,
}

#[derive(Debug, Default)]
pub struct StormChecker {
    model: ReplicationModel,
    clients: BTreeMap<usize, ClientView>,
    /// Operations checked so far: a violation's "operation #N" is the Nth.
    operations: usize,
}

impl StormChecker {
    /// The events of operation `client` just completed, in its order.
    pub fn operation(&mut self, client: usize, events: &[ClientEvent]) -> Result<(), Violation> {
        let at = At(self.operations);
        self.operations += 1;
        for event in events {
            match event {
                ClientEvent::Acknowledged(ack) => {
                    self.model.acknowledged(at, ack)?;
                    self.offsets_increase(at, client, ack)?;
                }
                ClientEvent::Fetched(fetched) => {
                    self.model.fetched(at, fetched)?;
                    self.high_watermark_forward(at, client, fetched)?;
                }
                ClientEvent::Leaders { leaders, .. } => self.model.leaders(at, client, leaders)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Everything acknowledged and served so far is gone (a server that
    /// keeps nothing across a kill): checks start again.
    pub fn forget_all(&mut self) {
        self.model = ReplicationModel::default();
        self.clients.clear();
    }

    /// A topic was deleted, or a deletion was asked for.
    pub fn deleted(&mut self, topic: &StrBytes) {
        self.model.forget_topic(topic);
        for view in self.clients.values_mut() {
            view.high_watermarks.retain(|((t, _), _, _), _| t != topic);
            view.durable_offsets.retain(|(t, _), _| t != topic);
        }
    }

    /// Where a final read must reach in `partition` before it ends.
    pub fn durable_end(&self, topic: &StrBytes, partition: i32) -> i64 {
        self.model.durable_end(topic, partition)
    }

    /// The final read: every partition's log from its start to its high
    /// watermark, once every fault healed.
    pub fn check_final(&self, logs: &BTreeMap<Partition, FinalLog>, origin_ms: i64) -> Result<FinalCount, Violation> {
        self.model.check_final(At(self.operations), logs, origin_ms)
    }

    fn offsets_increase(&mut self, at: At, client: usize, ack: &Acknowledged) -> Result<(), Violation> {
        let view = self.clients.entry(client).or_default();
        let tp = (ack.topic.clone(), ack.partition);
        if let Some(&durable) = view.durable_offsets.get(&tp)
            && ack.offset <= durable
        {
            return Err(violation(
                Invariant::OffsetsIncrease,
                at,
                &format!(
                    "{}/{}: client c{client}'s acknowledgement after one at offset {durable} with acks=all",
                    ack.topic, ack.partition
                ),
                format!("an offset above {durable}"),
                ack.offset,
            ));
        }
        if ack.acks == -1 {
            view.durable_offsets.insert(tp, ack.offset);
        }
        Ok(())
    }

    fn high_watermark_forward(&mut self, at: At, client: usize, fetched: &Fetched) -> Result<(), Violation> {
        if fetched.leader_epoch < 0 {
            return Ok(());
        }
        let view = self.clients.entry(client).or_default();
        let key = (
            (fetched.topic.clone(), fetched.partition),
            fetched.node,
            fetched.leader_epoch,
        );
        let last = view.high_watermarks.entry(key).or_insert(fetched.high_watermark);
        if fetched.high_watermark < *last {
            return Err(violation(
                Invariant::Watermarks,
                at,
                &format!(
                    "{}/{}: the high watermark n{} gave client c{client} in leader epoch {}",
                    fetched.topic, fetched.partition, fetched.node, fetched.leader_epoch
                ),
                format!("{} or more", *last),
                fetched.high_watermark,
            ));
        }
        *last = fetched.high_watermark;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn ack(offset: i64, acks: i16) -> ClientEvent {
        ClientEvent::Acknowledged(Acknowledged {
            topic: StrBytes::from_static_str("t"),
            partition: 0,
            offset,
            value: Bytes::from(format!("v{offset}")),
            acks,
            idempotent: false,
            at_ms: 0,
        })
    }

    fn fetched(leader_epoch: i32, high_watermark: i64) -> ClientEvent {
        ClientEvent::Fetched(Fetched {
            node: 1,
            topic: StrBytes::from_static_str("t"),
            partition: 0,
            fetch_offset: high_watermark,
            leader_epoch,
            high_watermark,
            records: Vec::new(),
        })
    }

    fn invariant(result: Result<(), Violation>) -> String {
        let detail = result.expect_err("a violation").detail;
        detail.split(' ').next().unwrap_or_default().to_owned()
    }

    #[test]
    fn one_clients_high_watermark_in_one_epoch_never_goes_back() {
        let mut checker = StormChecker::default();
        checker.operation(1, &[fetched(3, 10)]).unwrap();
        // Another client, or another epoch, may see less.
        checker.operation(2, &[fetched(3, 8)]).unwrap();
        checker.operation(1, &[fetched(4, 8)]).unwrap();
        assert_eq!(invariant(checker.operation(1, &[fetched(3, 9)])), "watermarks");
    }

    #[test]
    fn after_an_acks_all_acknowledgement_offsets_go_up() {
        let mut checker = StormChecker::default();
        checker.operation(1, &[ack(5, 1)]).unwrap();
        // An acks=1 record may be lost on a leader change, its offset used again.
        checker.operation(1, &[ack(3, 1)]).unwrap();
        let mut checker = StormChecker::default();
        checker.operation(1, &[ack(5, -1)]).unwrap();
        checker.operation(2, &[ack(4, 1)]).unwrap();
        assert_eq!(invariant(checker.operation(1, &[ack(5, 1)])), "offsets-increase");
    }

    #[test]
    fn a_deleted_topic_is_not_expected_back() {
        let mut checker = StormChecker::default();
        checker.operation(1, &[ack(0, -1)]).unwrap();
        checker.deleted(&StrBytes::from_static_str("t"));
        let count = checker.check_final(&BTreeMap::new(), 0).unwrap();
        assert_eq!(count.acknowledged_acks_all, 0);
    }
}
