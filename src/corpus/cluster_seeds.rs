//! Written seeds of the `cluster` target: schedules a fuzzer would take long
//! to find, each reaching one of the failures clusters ship with. Their
//! timelines are checked (in `tests/cluster_target.rs`) to reach what their
//! names say.

use crate::harness::input::{ClusterScript, ClusterStep, TopicChoice};

const A0: TopicChoice = TopicChoice { topic: 0, partition: 0 };
const A1: TopicChoice = TopicChoice { topic: 0, partition: 1 };
const NEW0: TopicChoice = TopicChoice { topic: 2, partition: 0 };

/// Node indexes: the first, second and third node.
const N1: u8 = 0;
const N2: u8 = 1;
const N3: u8 = 2;

fn deliver(count: u8) -> ClusterStep {
    ClusterStep::Deliver { count }
}

fn advance(tens_ms: u8) -> ClusterStep {
    ClusterStep::Advance { tens_ms }
}

fn produce(client: u8, target: TopicChoice) -> ClusterStep {
    ClusterStep::Produce {
        client,
        target,
        acks_all: true,
    }
}

/// The cluster runs undisturbed for `rounds` rounds of 100 ms.
fn run(rounds: u8) -> Vec<ClusterStep> {
    vec![ClusterStep::Run { rounds: rounds - 1 }]
}

/// Delivers a few messages at a time with a little time between: requests
/// and replication move on, and faults can land between them.
fn trickle(rounds: usize) -> Vec<ClusterStep> {
    (0..rounds).flat_map(|_| [deliver(3), advance(2)]).collect()
}

/// The written scripts, by seed name. Every input starts with n1 leading
/// the metadata quorum and cluster-a/0, n2 leading cluster-a/1 and
/// cluster-b/0, n3 following.
pub fn written_cluster_scripts() -> Vec<(&'static str, ClusterScript)> {
    let script = |parts: Vec<Vec<ClusterStep>>| ClusterScript { steps: parts.concat() };
    vec![
        (
            // Batches of an idempotent and a plain producer reach the leader
            // of cluster-a/0 (n1, the controller too), which crashes before
            // acknowledging them; a follower takes over, the idempotent
            // producer retries the same sequence there, and n1 comes back
            // and truncates to the new leader.
            "failover-during-produce",
            script(vec![
                vec![produce(0, A0), produce(1, A0)],
                trickle(3),
                vec![ClusterStep::Crash { node: N1 }],
                run(32),
                vec![ClusterStep::Restart { node: N1 }],
                run(32),
            ]),
        ),
        (
            // The leader n1 is cut off while writes go on; it is fenced, a
            // new leader is elected, then the partition heals.
            "partition-heal",
            script(vec![
                vec![produce(0, A0)],
                trickle(2),
                vec![ClusterStep::Partition { mask: 1 }, produce(1, A0), produce(2, A1)],
                run(32),
                run(32),
                vec![ClusterStep::Heal],
                run(32),
            ]),
        ),
        (
            // A follower crashes while records replicate to it and restarts
            // from what its disk kept; it catches up and rejoins the ISR.
            "crash-follower-during-replication",
            script(vec![
                vec![produce(0, A0), produce(1, A1)],
                trickle(2),
                vec![ClusterStep::Crash { node: N3 }, produce(2, A0)],
                run(10),
                vec![ClusterStep::Restart { node: N3 }],
                run(32),
            ]),
        ),
        (
            // A topic is created while producers auto-create and write it.
            "create-while-producing",
            script(vec![
                vec![
                    produce(0, NEW0),
                    ClusterStep::CreateTopic {
                        client: 1,
                        topic: 2,
                        partitions: 1,
                        replicas: 2,
                    },
                    produce(2, NEW0),
                ],
                trickle(4),
                run(16),
            ]),
        ),
        (
            // The leader n1 pauses (a long GC) with a produce waiting; it is
            // fenced and replaced, then resumes with a stale view of its
            // leadership.
            "pause-leader",
            script(vec![
                vec![produce(0, A0)],
                trickle(2),
                vec![ClusterStep::Pause { node: N1 }, produce(1, A0)],
                run(32),
                run(32),
                vec![ClusterStep::Resume { node: N1 }, produce(2, A0)],
                run(32),
            ]),
        ),
        (
            // The leader n1 fails over and comes back in sync; a client asks
            // for a preferred-leader election while producers write, and n1
            // leads cluster-a/0 again at a new epoch.
            "preferred-leader-back",
            script(vec![
                vec![produce(0, A0)],
                trickle(2),
                vec![ClusterStep::Crash { node: N1 }],
                run(32),
                vec![produce(1, A0), ClusterStep::Restart { node: N1 }],
                run(32),
                run(32),
                vec![ClusterStep::ElectLeader { client: 2, target: A0 }, produce(0, A0)],
                trickle(4),
                run(16),
            ]),
        ),
        (
            // A follower's clock jumps 6 s ahead: its timers fire at once.
            "skewed-clock",
            script(vec![
                vec![produce(0, A0)],
                trickle(2),
                vec![
                    ClusterStep::Skew {
                        node: N2,
                        hundreds_ms: 59,
                    },
                    produce(1, A1),
                ],
                run(16),
            ]),
        ),
    ]
}
