//! Test-only bugs planted in the reference cluster, one at a time per
//! thread, so the simulation's invariants are proven by what they catch.
//! Behind the `planted-bugs` feature: never in a build that ships.

use std::cell::Cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantedClusterBug {
    /// The leader's high watermark follows its own log end, not the ISR's:
    /// acks=all is answered before the followers have the batch.
    HighWatermarkIgnoresIsr,
    /// A fenced leader's partitions go to any replica, in sync or not.
    UncleanElection,
    /// A follower ignores the divergence its leader reports and appends on
    /// top of what it should have truncated.
    NoTruncation,
    /// Partition data is flushed only when Raft's state forces a flush, not
    /// before the answers that depend on it (`--flush always` ignored).
    AckBeforeFlush,
    /// A replica that does not lead a partition (a follower, a deposed
    /// leader) accepts a produce to it instead of NOT_LEADER_OR_FOLLOWER.
    FollowerAcceptsProduce,
}

impl PlantedClusterBug {
    pub const ALL: [PlantedClusterBug; 5] = [
        Self::HighWatermarkIgnoresIsr,
        Self::UncleanElection,
        Self::NoTruncation,
        Self::AckBeforeFlush,
        Self::FollowerAcceptsProduce,
    ];

    /// The bug's name, as `KAFKA_FUZZ_PLANTED_CLUSTER_BUG` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Self::HighWatermarkIgnoresIsr => "high-watermark-ignores-isr",
            Self::UncleanElection => "unclean-election",
            Self::NoTruncation => "no-truncation",
            Self::AckBeforeFlush => "ack-before-flush",
            Self::FollowerAcceptsProduce => "follower-accepts-produce",
        }
    }
}

/// The environment variable that plants one bug in a fuzz binary's
/// reference cluster (built with `planted-bugs`), by its `name`.
pub const PLANTED_CLUSTER_BUG_VARIABLE: &str = "KAFKA_FUZZ_PLANTED_CLUSTER_BUG";

/// Plants the bug `KAFKA_FUZZ_PLANTED_CLUSTER_BUG` names, if any.
///
/// # Panics
///
/// If it names no bug: a campaign must not run with nothing planted.
pub fn plant_from_environment() {
    let Ok(name) = std::env::var(PLANTED_CLUSTER_BUG_VARIABLE) else {
        return;
    };
    let bug = PlantedClusterBug::ALL
        .into_iter()
        .find(|bug| bug.name() == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = PlantedClusterBug::ALL.iter().map(|bug| bug.name()).collect();
            panic!("{PLANTED_CLUSTER_BUG_VARIABLE}={name}: not one of {names:?}")
        });
    plant(Some(bug));
}

thread_local! {
    static PLANTED: Cell<Option<PlantedClusterBug>> = const { Cell::new(None) };
}

/// Plants `bug` (or none) in every cluster node this thread runs.
pub fn plant(bug: Option<PlantedClusterBug>) {
    PLANTED.with(|planted| planted.set(bug));
}

pub fn is_planted(bug: PlantedClusterBug) -> bool {
    PLANTED.with(|planted| planted.get() == Some(bug))
}
