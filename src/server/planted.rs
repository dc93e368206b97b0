//! Test-only bugs planted in the reference server, one at a time per
//! thread, so that every oracle is proven by a bug it catches and a change
//! that loses a detection shows (`scripts/planted-bench.sh`). Each is one
//! line of the broker or the cluster made wrong, behind `planted!(Name)`,
//! which is `false` without the `planted-bugs` feature: never in a build
//! that ships.

use std::cell::Cell;

macro_rules! planted_bugs {
    ($($bug:ident $name:literal [$($target:literal),+] $what:literal,)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum PlantedBug {
            $(#[doc = $what] $bug,)+
        }

        impl PlantedBug {
            pub const ALL: &'static [PlantedBug] = &[$(PlantedBug::$bug),+];

            /// The bug's name, as `KAFKA_FUZZ_PLANTED_BUG` gives it.
            pub fn name(self) -> &'static str {
                match self {
                    $(PlantedBug::$bug => $name,)+
                }
            }

            /// The fuzz targets that should catch it.
            pub fn targets(self) -> &'static [&'static str] {
                match self {
                    $(PlantedBug::$bug => &[$($target),+],)+
                }
            }

            /// What it breaks, in a sentence.
            pub fn what(self) -> &'static str {
                match self {
                    $(PlantedBug::$bug => $what,)+
                }
            }
        }
    };
}

planted_bugs! {
    // Replication, in the reference cluster.
    HighWatermarkIgnoresIsr "high-watermark-ignores-isr" ["cluster"]
        "The leader's high watermark follows its own log end, not the ISR's: acks=all is answered before the followers have the batch.",
    UncleanElection "unclean-election" ["cluster"]
        "A fenced leader's partitions go to any replica, in sync or not.",
    NoTruncation "no-truncation" ["cluster"]
        "A follower ignores the divergence its leader reports and appends on top of what it should have truncated.",
    AckBeforeFlush "ack-before-flush" ["cluster"]
        "Partition data is flushed only when Raft's state forces a flush, not before the answers that depend on it.",
    FollowerAcceptsProduce "follower-accepts-produce" ["cluster"]
        "A replica that does not lead a partition (a follower, a deposed leader) accepts a produce to it.",
    // One broker's semantics.
    ReadSkipsTheBatchEndingAtOffset "read-skips-the-batch-ending-at-offset" ["session"]
        "A fetch at the last offset of a batch starts at the next batch: that record is never served.",
    FetchMaxBytesPerPartition "fetch-max-bytes-per-partition" ["session"]
        "A fetch's max_bytes limits each partition, not the whole response.",
    FetchMinOneEveryPartition "fetch-min-one-every-partition" ["session"]
        "Every partition of a fetch may pass the limits by its first batch, not only the first with records.",
    LastStableOffsetPastHighWatermark "last-stable-offset-past-high-watermark" ["session"]
        "Fetch answers a last stable offset one past the high watermark.",
    HighWatermarkDropsToLogStart "high-watermark-drops-to-log-start" ["session"]
        "DeleteRecords sets the high watermark to the new log start, below records it had acknowledged.",
    DeleteRecordsOnePast "delete-records-one-past" ["session"]
        "DeleteRecords moves the log start one past the offset asked for.",
    OldRetryWrittenAgain "old-retry-written-again" ["session"]
        "A retry of a batch older than the five a producer's state remembers is written again instead of refused.",
    DuplicateAnsweredAtLogEnd "duplicate-answered-at-log-end" ["session"]
        "A retried batch already in the log is answered with the log end as its offset, not its own.",
    CommitIgnoresGeneration "commit-ignores-generation" ["session"]
        "OffsetCommit accepts a member's commit from any generation.",
    CommitKeepsTheFirst "commit-keeps-the-first" ["session"]
        "A group's second commit of a partition leaves the first in place, answering success.",
    LeaveKeepsTheMember "leave-keeps-the-member" ["session"]
        "LeaveGroup answers success and keeps the member in the group.",
    CreateTopicsOnePartitionShort "create-topics-one-partition-short" ["session"]
        "CreateTopics creates one partition fewer than asked for (at least one).",
    // The TCP server, under concurrent clients (`kafka-fuzz storm`).
    ReadSkipsEveryThousandth "read-skips-every-thousandth" ["storm"]
        "A read from an offset that is a multiple of 1000 starts one past it: that record is never served.",
    LockOrderDeadlock "lock-order-deadlock" ["storm"]
        "The TCP server takes a second lock around produces after the broker's and around fetches before it.",
    RetentionInMicroseconds "retention-in-microseconds" ["session"]
        "retention.ms is read as microseconds: records expire a thousand times too early.",
    ListOffsetsAfterTimestamp "list-offsets-after-timestamp" ["session"]
        "ListOffsets by timestamp finds the first record after it, not at or after it.",
    LongPollNeverExpires "long-poll-never-expires" ["session"]
        "A fetch that waits for records ignores its max wait: without records it is never answered.",
    TransactionalEpochNotBumped "transactional-epoch-not-bumped" ["session"]
        "InitProducerId for a transactional id it knows answers the same epoch again: the producer it replaces is not fenced.",
    ApiVersionsFetchMaxOneShort "api-versions-fetch-max-one-short" ["session"]
        "ApiVersions lists Fetch's newest version one lower than the broker answers.",
}

/// The environment variable that plants one bug in a fuzz binary's
/// reference server or cluster (built with `planted-bugs`), by its `name`.
pub const PLANTED_BUG_VARIABLE: &str = "KAFKA_FUZZ_PLANTED_BUG";

/// Plants the bug `KAFKA_FUZZ_PLANTED_BUG` names, if any.
///
/// # Panics
///
/// If it names no bug: a campaign must not run with nothing planted.
pub fn plant_from_environment() {
    let Ok(name) = std::env::var(PLANTED_BUG_VARIABLE) else {
        return;
    };
    let bug = PlantedBug::ALL
        .iter()
        .copied()
        .find(|bug| bug.name() == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = PlantedBug::ALL.iter().map(|bug| bug.name()).collect();
            panic!("{PLANTED_BUG_VARIABLE}={name}: not one of {names:?}")
        });
    plant(Some(bug));
}

thread_local! {
    static PLANTED: Cell<Option<PlantedBug>> = const { Cell::new(None) };
}

/// Plants `bug` (or none) in every broker and node this thread runs.
pub fn plant(bug: Option<PlantedBug>) {
    PLANTED.with(|planted| planted.set(bug));
}

pub fn is_planted(bug: PlantedBug) -> bool {
    PLANTED.with(|planted| planted.get() == Some(bug))
}
