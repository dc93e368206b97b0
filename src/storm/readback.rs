//! The end of a storm, once every fault healed: every node must come to
//! give the same leaders (metadata converges), then every partition is
//! read from its start to its high watermark, each fetch checked like the
//! clients', for the model's final count.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_protocol::protocol::StrBytes;

use super::checker::StormChecker;
use super::transport::{NodeAddresses, TcpTransport};
use super::workload::{RunState, until_done};
use crate::harness::cluster_client::{ClientEvent, ClientTask, ClusterClient, LeaderSeen};
use crate::harness::oracle::model::FinalLog;
use crate::harness::target::NodeId;

/// How long the final read waits for the logs to cover every acks=all
/// acknowledgement (a new leader's high watermark may lag), and metadata
/// for every node to agree.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The client index of storm's own final read.
const STORM_CLIENT: usize = usize::MAX;

/// Each node's leaders: (topic, partition) to (leader, leader epoch).
type Leaders = BTreeMap<(StrBytes, i32), (NodeId, i32)>;

fn leaders_of(events: &[ClientEvent], deleted: &BTreeSet<StrBytes>) -> Leaders {
    events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Leaders { leaders, .. } => Some(leaders),
            _ => None,
        })
        .flatten()
        .filter(|seen: &&LeaderSeen| !deleted.contains(&seen.topic))
        .map(|seen| ((seen.topic.clone(), seen.partition), (seen.leader, seen.leader_epoch)))
        .collect()
}

/// What keeps the nodes' views from converging: a node that gives another
/// leader or epoch than the first node, a partition without a leader.
fn disagreement(views: &BTreeMap<NodeId, Leaders>) -> Option<String> {
    let first = views.values().next().cloned().unwrap_or_default();
    let mut problems: Vec<String> = views
        .iter()
        .filter(|(_, view)| **view != first)
        .map(|(node, view)| {
            let differs = view
                .iter()
                .find(|(tp, seen)| first.get(*tp) != Some(*seen))
                .map(|((topic, partition), (leader, epoch))| {
                    format!("{topic}/{partition} leader n{leader} epoch {epoch}")
                })
                .unwrap_or_else(|| "fewer partitions".to_owned());
            format!("n{node} gives {differs}")
        })
        .collect();
    problems.extend(
        first
            .iter()
            .filter(|(_, (leader, _))| *leader < 0)
            .map(|((topic, partition), _)| format!("no leader for {topic}/{partition}")),
    );
    (!problems.is_empty()).then(|| format!("the nodes disagree: {}", problems.join("; ")))
}

/// Asks every node for metadata until all give the same leader and leader
/// epoch for every partition of the workload's topics, each with a leader;
/// the disagreement if they do not within the timeout.
pub fn metadata_converged(addresses: &NodeAddresses, deleted: &BTreeSet<StrBytes>) -> Result<(), String> {
    let state = RunState::default();
    let mut client = ClusterClient::new("storm-metadata", false);
    let mut net = TcpTransport::new(addresses.clone());
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let mut views: BTreeMap<NodeId, Leaders> = BTreeMap::new();
        for node in addresses.ids() {
            let ask = ClientTask::Metadata { node: Some(node) };
            let events = until_done(&mut client, &mut net, &ask, &state, deadline, |_, outcome| {
                outcome == "done"
            })?;
            views.insert(node, leaders_of(&events, deleted));
        }
        let Some(disagreement) = disagreement(&views) else {
            return Ok(());
        };
        if Instant::now() > deadline {
            return Err(format!(
                "metadata-converges: {} s after every fault healed, {disagreement}",
                SETTLE_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Reads every partition of the topics not deleted, from its start to its
/// high watermark, each fetch checked like the clients'.
pub fn final_read(
    addresses: &NodeAddresses,
    checker: &mut StormChecker,
    deleted: &BTreeSet<StrBytes>,
) -> Result<BTreeMap<(StrBytes, i32), FinalLog>, String> {
    let state = RunState::default();
    let mut client = ClusterClient::new("storm-final", false);
    let mut net = TcpTransport::new(addresses.clone());
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let events = until_done(
        &mut client,
        &mut net,
        &ClientTask::Metadata { node: None },
        &state,
        deadline,
        |_, outcome| outcome == "done",
    )?;
    let partitions: BTreeSet<(StrBytes, i32)> = events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Leaders { leaders, .. } => Some(leaders),
            _ => None,
        })
        .flatten()
        .map(|seen| (seen.topic.clone(), seen.partition))
        .filter(|(topic, _)| !deleted.contains(topic))
        .collect();
    let mut logs = BTreeMap::new();
    for (topic, partition) in partitions {
        let durable_end = checker.durable_end(&topic, partition);
        let mut log: FinalLog = Vec::new();
        let mut offset = 0;
        loop {
            let fetch = ClientTask::Fetch {
                topic: topic.clone(),
                partition,
                offset,
                max_bytes: 1 << 20,
            };
            let events = until_done(&mut client, &mut net, &fetch, &state, deadline, |events, _| {
                events.iter().any(|e| matches!(e, ClientEvent::Fetched(_)))
            })?;
            checker
                .operation(STORM_CLIENT, &events)
                .map_err(|violation| violation.detail)?;
            let Some(fetched) = events.iter().find_map(|e| match e {
                ClientEvent::Fetched(fetched) => Some(fetched),
                _ => None,
            }) else {
                continue;
            };
            let before = log.len();
            log.extend(fetched.records.iter().filter(|(o, _)| *o >= offset).cloned());
            offset = log.last().map_or(offset, |(last, _)| last + 1);
            if log.len() == before && offset >= fetched.high_watermark {
                if fetched.high_watermark >= durable_end || Instant::now() > deadline {
                    break;
                }
                // A new leader's high watermark may lag what acks=all was told.
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        logs.insert((topic, partition), log);
    }
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(entries: &[(i32, NodeId, i32)]) -> Leaders {
        entries
            .iter()
            .map(|&(partition, leader, epoch)| ((StrBytes::from_static_str("t"), partition), (leader, epoch)))
            .collect()
    }

    #[test]
    fn nodes_converge_when_they_give_the_same_leaders_all_present() {
        let agreed = BTreeMap::from([(1, view(&[(0, 2, 5), (1, 1, 3)])), (2, view(&[(0, 2, 5), (1, 1, 3)]))]);
        assert_eq!(disagreement(&agreed), None);
        let stale = BTreeMap::from([(1, view(&[(0, 2, 5)])), (2, view(&[(0, 3, 4)]))]);
        assert_eq!(
            disagreement(&stale).as_deref(),
            Some("the nodes disagree: n2 gives t/0 leader n3 epoch 4")
        );
        let leaderless = BTreeMap::from([(1, view(&[(0, -1, 5)]))]);
        assert_eq!(
            disagreement(&leaderless).as_deref(),
            Some("the nodes disagree: no leader for t/0")
        );
    }
}
