//! The seeded scheduler's workload: producers as Kafka clients behave on a
//! cluster (`ClusterClient`), each given a new record to write whenever it
//! is idle, to a random partition, idempotent ones with acks=all, plain
//! ones with acks=all or acks=1. What was acknowledged is kept for the
//! checks at the end.

use kafka_protocol::protocol::StrBytes;
use rand::Rng;

use super::cluster::SimCluster;
use crate::harness::cluster_client::{Acknowledged, ClientEvent, ClientTask, ClusterClient};

pub struct ProducerWorkload {
    topic: StrBytes,
    partitions: i32,
    producers: Vec<ClusterClient>,
    acknowledged: Vec<Acknowledged>,
    /// Answers that were not what a Kafka client can read.
    bad_responses: Vec<String>,
}

impl ProducerWorkload {
    /// `plain` producers and `idempotent` ones writing to the `partitions`
    /// of `topic` (created on first use, as auto-creation does).
    pub fn new(topic: &str, partitions: i32, plain: usize, idempotent: usize) -> Self {
        let producers = (0..plain + idempotent)
            .map(|index| ClusterClient::new(&format!("p{index}"), index >= plain))
            .collect();
        Self {
            topic: StrBytes::from_string(topic.to_owned()),
            partitions: partitions.max(1),
            producers,
            acknowledged: Vec::new(),
            bad_responses: Vec::new(),
        }
    }

    pub fn acknowledged(&self) -> &[Acknowledged] {
        &self.acknowledged
    }

    pub fn bad_responses(&self) -> &[String] {
        &self.bad_responses
    }

    /// Producers still working on a record.
    pub fn in_flight(&self) -> usize {
        self.producers.iter().filter(|p| !p.is_idle()).count()
    }

    /// Every producer reads its answers and sends what comes next; with
    /// `send`, an idle one is given a new record.
    pub fn step(&mut self, cluster: &mut SimCluster, rng: &mut impl Rng, send: bool) {
        let mut events = Vec::new();
        for producer in &mut self.producers {
            if send && producer.is_idle() {
                let acks = if producer.is_idempotent() || rng.gen_bool(0.5) {
                    -1
                } else {
                    1
                };
                producer.submit(ClientTask::Produce {
                    topic: self.topic.clone(),
                    partition: rng.gen_range(0..self.partitions),
                    acks,
                });
            }
            producer.poll(cluster, &mut events);
        }
        for event in events {
            match event {
                ClientEvent::Acknowledged(ack) => self.acknowledged.push(ack),
                ClientEvent::BadResponse(what) => self.bad_responses.push(what),
                _ => {}
            }
        }
    }
}
