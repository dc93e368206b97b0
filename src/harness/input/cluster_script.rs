//! Cluster scripts: what several clients ask of a cluster, interleaved with
//! what the network, the disks and the clocks do, every step chosen by the
//! fuzzer. A step is one byte naming it and a fixed number of argument
//! bytes (missing ones read as zero), so any bytes are a script, every
//! script has bytes (`to_bytes`), and removing a step's bytes removes the
//! step: what minimizing a crasher wants.

use std::fmt;

/// Clients of one cluster script. Even ones are idempotent producers.
pub const CLUSTER_CLIENTS: usize = 3;

/// Steps in one script: room for a failover in the middle of a produce and
/// a heal, few enough to keep an execution fast.
pub const MAX_CLUSTER_STEPS: usize = 64;

/// Topics a script acts on: two the cluster starts with, one it may create
/// (or a producer auto-creates).
pub const CLUSTER_TOPICS: [&str; 3] = ["cluster-a", "cluster-b", "cluster-new"];

/// A whole script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterScript {
    pub steps: Vec<ClusterStep>,
}

/// A partition of one of `CLUSTER_TOPICS` (partition 0 to 3: some do not
/// exist).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TopicChoice {
    pub topic: u8,
    pub partition: u8,
}

impl TopicChoice {
    pub fn topic(&self) -> &'static str {
        CLUSTER_TOPICS[usize::from(self.topic) % CLUSTER_TOPICS.len()]
    }

    pub fn partition(&self) -> i32 {
        i32::from(self.partition % 4)
    }
}

impl fmt::Debug for TopicChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic(), self.partition())
    }
}

/// One step: a client's operation, a delivery, time, or a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterStep {
    /// Deliver the next `count` % 8 + 1 messages in the order they were
    /// sent.
    Deliver {
        count: u8,
    },
    /// Deliver the next message of the `link`th busy link: one connection's
    /// message before another's.
    DeliverLink {
        link: u8,
    },
    /// Lose the next message of the `link`th busy link (a client's link
    /// closes its connection).
    DropLink {
        link: u8,
    },
    /// Every clock moves `tens_ms` × 10 ms; running nodes act on it.
    Advance {
        tens_ms: u8,
    },
    /// The cluster runs undisturbed for `rounds` % 32 + 1 rounds: every
    /// message that can be is delivered, then 100 ms pass.
    Run {
        rounds: u8,
    },
    /// A client produces one record with acks=all (or acks=1).
    Produce {
        client: u8,
        target: TopicChoice,
        acks_all: bool,
    },
    /// A client reads a partition from an offset.
    Fetch {
        client: u8,
        target: TopicChoice,
        offset: u8,
    },
    /// A client creates a topic with 1 to 4 partitions and 1 to 3 replicas.
    CreateTopic {
        client: u8,
        topic: u8,
        partitions: u8,
        replicas: u8,
    },
    /// A client refreshes its metadata.
    Metadata {
        client: u8,
    },
    /// A client drops its connections.
    Disconnect {
        client: u8,
    },
    /// The nodes in `mask` (bit i: the ith node) are cut off from the rest.
    Partition {
        mask: u8,
    },
    Heal,
    Crash {
        node: u8,
    },
    Restart {
        node: u8,
    },
    Pause {
        node: u8,
    },
    Resume {
        node: u8,
    },
    /// One node's clock jumps `hundreds_ms` × 100 ms ahead.
    Skew {
        node: u8,
        hundreds_ms: u8,
    },
    /// A client asks for a preferred-leader election of a partition: its
    /// first replica leads again, if it is in sync.
    ElectLeader {
        client: u8,
        target: TopicChoice,
    },
}

/// The step kinds, by the byte that names them (modulo their count).
const KINDS: u8 = 18;

impl ClusterStep {
    /// How many argument bytes follow the byte naming a kind of step.
    fn arguments(kind: u8) -> usize {
        match kind {
            4..=6 => 4,
            10 => 0,
            15 => 2,
            17 => 3,
            _ => 1,
        }
    }

    fn read(kind: u8, a: &[u8]) -> Self {
        let arg = |i: usize| a.get(i).copied().unwrap_or(0);
        let target = TopicChoice {
            topic: arg(1),
            partition: arg(2),
        };
        match kind {
            0 => Self::Deliver { count: arg(0) },
            1 => Self::DeliverLink { link: arg(0) },
            2 => Self::DropLink { link: arg(0) },
            3 => Self::Advance { tens_ms: arg(0) },
            4 => Self::Produce {
                client: arg(0),
                target,
                acks_all: arg(3) & 1 == 0,
            },
            5 => Self::Fetch {
                client: arg(0),
                target,
                offset: arg(3),
            },
            6 => Self::CreateTopic {
                client: arg(0),
                topic: arg(1),
                partitions: arg(2),
                replicas: arg(3),
            },
            7 => Self::Metadata { client: arg(0) },
            8 => Self::Disconnect { client: arg(0) },
            9 => Self::Partition { mask: arg(0) },
            10 => Self::Heal,
            11 => Self::Crash { node: arg(0) },
            12 => Self::Restart { node: arg(0) },
            13 => Self::Pause { node: arg(0) },
            14 => Self::Resume { node: arg(0) },
            15 => Self::Skew {
                node: arg(0),
                hundreds_ms: arg(1),
            },
            17 => Self::ElectLeader { client: arg(0), target },
            _ => Self::Run { rounds: arg(0) },
        }
    }

    /// The bytes this step is read from.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        let (kind, args): (u8, Vec<u8>) = match *self {
            Self::Deliver { count } => (0, vec![count]),
            Self::DeliverLink { link } => (1, vec![link]),
            Self::DropLink { link } => (2, vec![link]),
            Self::Advance { tens_ms } => (3, vec![tens_ms]),
            Self::Produce {
                client,
                target,
                acks_all,
            } => (4, vec![client, target.topic, target.partition, u8::from(!acks_all)]),
            Self::Fetch { client, target, offset } => (5, vec![client, target.topic, target.partition, offset]),
            Self::CreateTopic {
                client,
                topic,
                partitions,
                replicas,
            } => (6, vec![client, topic, partitions, replicas]),
            Self::Metadata { client } => (7, vec![client]),
            Self::Disconnect { client } => (8, vec![client]),
            Self::Partition { mask } => (9, vec![mask]),
            Self::Heal => (10, vec![]),
            Self::Crash { node } => (11, vec![node]),
            Self::Restart { node } => (12, vec![node]),
            Self::Pause { node } => (13, vec![node]),
            Self::Resume { node } => (14, vec![node]),
            Self::Skew { node, hundreds_ms } => (15, vec![node, hundreds_ms]),
            Self::Run { rounds } => (16, vec![rounds]),
            Self::ElectLeader { client, target } => (17, vec![client, target.topic, target.partition]),
        };
        out.push(kind);
        out.extend_from_slice(&args);
    }
}

impl ClusterScript {
    /// The script `data` spells: as many steps as its bytes give.
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut steps = Vec::new();
        let mut rest = data;
        while let Some((&first, tail)) = rest.split_first() {
            if steps.len() == MAX_CLUSTER_STEPS {
                break;
            }
            let kind = first % KINDS;
            let (args, tail) = tail.split_at(ClusterStep::arguments(kind).min(tail.len()));
            steps.push(ClusterStep::read(kind, args));
            rest = tail;
        }
        Self { steps }
    }

    /// The bytes `from_bytes` reads as this script.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for step in &self.steps {
            step.write_bytes(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn any_bytes_are_a_script_and_scripts_write_back_to_themselves() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2_000 {
            let length = rng.gen_range(0..200);
            let data: Vec<u8> = (0..length).map(|_| rng.r#gen()).collect();
            let script = ClusterScript::from_bytes(&data);
            assert!(script.steps.len() <= MAX_CLUSTER_STEPS);
            assert_eq!(ClusterScript::from_bytes(&script.to_bytes()), script);
        }
    }

    #[test]
    fn every_kind_of_step_is_read() {
        let kinds: std::collections::BTreeSet<u8> = (0..KINDS)
            .map(|kind| {
                let mut bytes = Vec::new();
                ClusterStep::read(kind, &[1, 2, 3, 4]).write_bytes(&mut bytes);
                bytes[0]
            })
            .collect();
        assert_eq!(kinds.len(), usize::from(KINDS));
    }
}
