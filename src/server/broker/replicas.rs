//! Who holds a partition and who leads it (the metadata Kafka keeps per
//! partition), and what its leader knows of its followers: their log end
//! offsets, from which the high watermark and the in-sync replicas follow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// No leader: every in-sync replica is fenced (elections are clean only).
pub const NO_LEADER: i32 = -1;

/// A partition's replicas, leader and in-sync replicas, with the epochs that
/// order their changes: the leader epoch moves with every new leader, the
/// partition epoch with every change at all (Kafka's AlterPartition checks it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub replicas: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

impl Assignment {
    /// All replicas in sync, the first one leading, at epoch 0.
    pub fn new(replicas: Vec<i32>) -> Self {
        Self {
            leader: replicas.first().copied().unwrap_or(NO_LEADER),
            isr: replicas.clone(),
            replicas,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }

    pub fn is_leader(&self, node: i32) -> bool {
        self.leader == node
    }

    /// Kafka's clean election: the first replica, in assignment order, that
    /// is in sync and may lead.
    pub fn elect(&self, eligible: impl Fn(i32) -> bool) -> i32 {
        self.replicas
            .iter()
            .copied()
            .find(|&replica| self.isr.contains(&replica) && eligible(replica))
            .unwrap_or(NO_LEADER)
    }
}

/// A follower's log end before its first fetch in the leader's epoch.
const UNKNOWN_LOG_END: i64 = -1;

/// A follower as its leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follower {
    /// The offset the follower last fetched from: everything below it is on
    /// the follower.
    pub log_end_offset: i64,
    /// When the follower was last caught up (Kafka's `lastCaughtUpTimeMs`).
    pub caught_up_ms: i64,
    /// The leader's log end and the time at the follower's previous fetch.
    last_fetch: (i64, i64),
}

/// The leader's view of its followers, by broker id; emptied whenever the
/// leadership changes.
#[derive(Debug, Clone, Default)]
pub struct Followers {
    by_id: BTreeMap<i32, Follower>,
    /// The leader's log end when it was elected: a replica joins the ISR
    /// only once it holds that much (KAFKA-7128), else it could be elected
    /// without records acknowledged before this leadership.
    epoch_start: i64,
}

impl Followers {
    pub fn get(&self, id: i32) -> Option<&Follower> {
        self.by_id.get(&id)
    }

    pub fn clear(&mut self) {
        self.by_id.clear();
    }

    /// A follower fetched from `fetch_offset` while the leader's log ended
    /// at `leader_end`. Kafka's rule: it is caught up now if it reached the
    /// leader's end, and was caught up at its previous fetch if it reached
    /// what the leader's end was then (so that a follower of a leader that
    /// keeps appending is not taken for lagging).
    pub fn fetched(&mut self, id: i32, fetch_offset: i64, leader_end: i64, now_ms: i64) {
        let follower = self.by_id.entry(id).or_insert(Follower {
            log_end_offset: fetch_offset,
            caught_up_ms: now_ms,
            last_fetch: (leader_end, now_ms),
        });
        follower.log_end_offset = fetch_offset;
        let (previous_end, previous_ms) = follower.last_fetch;
        if fetch_offset >= leader_end {
            follower.caught_up_ms = now_ms;
        } else if fetch_offset >= previous_end {
            follower.caught_up_ms = follower.caught_up_ms.max(previous_ms);
        }
        follower.last_fetch = (leader_end, now_ms);
    }

    /// Starts tracking the followers of a new leadership whose log ended at
    /// `epoch_start`, as caught up now, so that none is dropped from the ISR
    /// before it could fetch, with their log ends unknown until they fetch
    /// in this epoch: none may join the ISR, or hold the high watermark up,
    /// on what it had before.
    pub fn reset(&mut self, followers: impl IntoIterator<Item = i32>, now_ms: i64, epoch_start: i64) {
        self.epoch_start = epoch_start;
        self.by_id = followers
            .into_iter()
            .map(|id| {
                let follower = Follower {
                    log_end_offset: UNKNOWN_LOG_END,
                    caught_up_ms: now_ms,
                    last_fetch: (i64::MAX, now_ms),
                };
                (id, follower)
            })
            .collect();
    }

    /// Kafka's high watermark: the smallest log end offset in the ISR (the
    /// leader's own included); a follower not heard from holds nothing yet.
    pub fn high_watermark(&self, leader: i32, leader_end: i64, isr: &[i32]) -> i64 {
        isr.iter()
            .filter(|&&id| id != leader)
            .map(|id| self.by_id.get(id).map_or(0, |follower| follower.log_end_offset.max(0)))
            .fold(leader_end, i64::min)
    }

    /// Followers in the ISR that have not caught up within `max_lag_ms`
    /// (`replica.lag.time.max.ms`).
    pub fn lagging(&self, leader: i32, isr: &[i32], now_ms: i64, max_lag_ms: i64) -> Vec<i32> {
        isr.iter()
            .copied()
            .filter(|&id| id != leader)
            .filter(|id| {
                self.by_id
                    .get(id)
                    .is_none_or(|follower| now_ms.saturating_sub(follower.caught_up_ms) > max_lag_ms)
            })
            .collect()
    }

    /// Replicas outside the ISR that have caught up to the high watermark
    /// and to where this leadership began, and may join it (`eligible`: not
    /// fenced).
    pub fn caught_up(&self, assignment: &Assignment, high_watermark: i64, eligible: impl Fn(i32) -> bool) -> Vec<i32> {
        assignment
            .replicas
            .iter()
            .copied()
            .filter(|&id| !assignment.isr.contains(&id) && eligible(id))
            .filter(|id| {
                self.by_id.get(id).is_some_and(|follower| {
                    follower.log_end_offset != UNKNOWN_LOG_END
                        && follower.log_end_offset >= high_watermark.max(self.epoch_start)
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_high_watermark_is_the_lowest_log_end_in_the_isr() {
        let mut followers = Followers::default();
        followers.fetched(2, 7, 10, 0);
        followers.fetched(3, 4, 10, 0);
        assert_eq!(followers.high_watermark(1, 10, &[1, 2, 3]), 4);
        assert_eq!(followers.high_watermark(1, 10, &[1, 2]), 7);
        assert_eq!(followers.high_watermark(1, 10, &[1]), 10);
        // A follower in the ISR not heard from yet holds nothing.
        assert_eq!(followers.high_watermark(1, 10, &[1, 4]), 0);
    }

    #[test]
    fn a_follower_lags_once_it_has_not_caught_up_for_the_limit() {
        let mut followers = Followers::default();
        followers.fetched(2, 10, 10, 1_000);
        followers.fetched(2, 10, 10, 1_500);
        followers.fetched(3, 5, 10, 1_000);
        followers.fetched(3, 5, 10, 1_500);
        // 3 never reached the end, then or before: caught up when first seen (1000).
        assert_eq!(followers.lagging(1, &[1, 2, 3], 1_800, 500), vec![3]);
        assert_eq!(followers.lagging(1, &[1, 2, 3], 2_100, 500), vec![2, 3]);
        assert!(followers.lagging(1, &[1, 2, 3], 1_400, 500).is_empty());
    }

    #[test]
    fn a_new_leaders_followers_must_fetch_before_they_count() {
        let mut assignment = Assignment::new(vec![1, 2, 3]);
        assignment.isr = vec![1, 2];
        let mut followers = Followers::default();
        followers.reset([2, 3], 1_000, 0);
        assert!(
            followers.caught_up(&assignment, 0, |_| true).is_empty(),
            "3 never fetched"
        );
        assert_eq!(followers.high_watermark(1, 10, &[1, 2]), 0);
        assert!(
            followers.lagging(1, &[1, 2], 1_400, 500).is_empty(),
            "caught up as of the election"
        );
        followers.fetched(3, 0, 10, 1_100);
        assert_eq!(followers.caught_up(&assignment, 0, |_| true), vec![3]);
    }

    #[test]
    fn a_follower_of_a_busy_leader_is_caught_up_when_it_reaches_the_previous_end() {
        let mut followers = Followers::default();
        followers.fetched(2, 0, 10, 1_000);
        // Fetched 10 (the end at its last fetch) while the leader moved on to 15.
        followers.fetched(2, 10, 15, 1_400);
        assert_eq!(followers.get(2).unwrap().caught_up_ms, 1_000);
        followers.fetched(2, 15, 20, 1_800);
        assert_eq!(followers.get(2).unwrap().caught_up_ms, 1_400);
        assert!(followers.lagging(1, &[1, 2], 1_800, 500).is_empty());
        // Falls behind what the leader had at its previous fetch: lagging.
        followers.fetched(2, 16, 25, 2_200);
        assert_eq!(followers.lagging(1, &[1, 2], 2_200, 500), vec![2]);
    }

    #[test]
    fn a_replica_rejoins_only_with_what_the_leader_had_when_elected() {
        let mut assignment = Assignment::new(vec![1, 2, 3]);
        assignment.isr = vec![1, 2];
        let mut followers = Followers::default();
        // Elected with records up to 10; the high watermark it knows is 7.
        followers.reset([2, 3], 0, 10);
        followers.fetched(3, 7, 10, 100);
        assert!(followers.caught_up(&assignment, 7, |_| true).is_empty());
        followers.fetched(3, 10, 10, 200);
        assert_eq!(followers.caught_up(&assignment, 7, |_| true), vec![3]);
    }

    #[test]
    fn fenced_replicas_do_not_rejoin() {
        let mut assignment = Assignment::new(vec![1, 2, 3]);
        assignment.isr = vec![1];
        let mut followers = Followers::default();
        followers.fetched(2, 5, 5, 0);
        followers.fetched(3, 5, 5, 0);
        assert_eq!(followers.caught_up(&assignment, 5, |id| id != 3), vec![2]);
    }

    #[test]
    fn replicas_out_of_sync_rejoin_at_the_high_watermark() {
        let mut assignment = Assignment::new(vec![1, 2, 3]);
        assignment.isr = vec![1, 2];
        let mut followers = Followers::default();
        followers.fetched(3, 4, 10, 0);
        assert!(followers.caught_up(&assignment, 5, |_| true).is_empty());
        followers.fetched(3, 5, 10, 0);
        assert_eq!(followers.caught_up(&assignment, 5, |_| true), vec![3]);
    }

    #[test]
    fn elections_pick_the_first_eligible_in_sync_replica() {
        let mut assignment = Assignment::new(vec![3, 1, 2]);
        assert_eq!(assignment.elect(|_| true), 3);
        assignment.isr = vec![1, 2];
        assert_eq!(assignment.elect(|_| true), 1);
        assert_eq!(assignment.elect(|id| id != 1), 2);
        assert_eq!(assignment.elect(|_| false), NO_LEADER);
    }
}
