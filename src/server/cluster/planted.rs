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
