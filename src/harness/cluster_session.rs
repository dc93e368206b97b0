//! A cluster session: several Kafka clients and a `ClusterScript` played on
//! a cluster under test on the simulated network, every step chosen by the
//! script (deliveries, drops, time, crashes, partitions, pauses, clock
//! skew, client operations), every answer checked by the replication model.
//! Then every fault heals and the run checks liveness (every client's
//! waiting work is answered within a bound of simulated time), convergence
//! (every node gives the same leaders) and durability (the logs, read from
//! the start through the protocol, keep every acks=all record once).
//!
//! A run can write a timeline: each step, what it delivered, dropped or
//! broke, what the clients were told, and each node's leaders, ISRs and log
//! ends whenever they change.

use std::collections::BTreeMap;
use std::io::Write;

use kafka_protocol::protocol::StrBytes;

use super::cluster_client::{ClientEvent, ClientTask, ClusterClient, FETCH_MAX_BYTES, LeaderSeen, REQUEST_TIMEOUT_MS};
use super::input::{CLUSTER_CLIENTS, CLUSTER_TOPICS, ClusterScript, ClusterStep};
use super::oracle::model::{At, FinalCount, FinalLog, Invariant, ReplicationModel, violation};
use super::oracle::{Oracle, Violation};
use super::state_coverage::{ClusterStates, NodeState, NodeStatus};
use super::target::{ClusterUnderTest, NodeFailure, NodeId};
use crate::server::sim::{ReferenceCluster, SIM_START_MS, SimCluster, SimClusterConfig};

/// Simulated time a cluster gets, once every fault healed, to answer every
/// waiting request: longer than any timeout in it (a request's 8 s, an
/// election, a fenced broker's session), so only a stuck cluster needs more.
pub const LIVENESS_BOUND_MS: i64 = 30_000;
/// How long a round of the settle loop lets pass.
const ROUND_MS: i64 = 100;
/// Deliveries of one settle round at most: a cluster that keeps sending
/// without time passing is livelocked, which the bound then reports.
const ROUND_DELIVERIES: usize = 2_000;
/// Pages the final read takes of one partition at most.
const MAX_PAGES: usize = 64;

type Partition = (StrBytes, i32);

/// How much of a phase the timeline shows: nothing of the start (the
/// cluster electing as it restores its starting state), everything of the
/// script, what the clients are told during the checks at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Nothing,
    Everything,
    Answers,
}

/// What a run did, beyond violations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOutcome {
    pub steps: usize,
    pub events: u64,
    pub count: FinalCount,
}

pub struct ClusterSession<'a, C: ClusterUnderTest> {
    cluster: &'a mut SimCluster<C>,
    clients: Vec<ClusterClient>,
    /// The client of the checks at the end, apart from the script's.
    checker: ClusterClient,
    model: ReplicationModel,
    /// What the checker was told since it last looked.
    checker_events: Vec<ClientEvent>,
    states: Option<ClusterStates>,
    timeline: Option<&'a mut dyn Write>,
    /// The step being played, for violations.
    at: At,
    /// When every fault healed: a request sent after it must be answered.
    healed_at: Option<i64>,
    /// What the timeline shows now.
    shown: Shown,
    /// Trace lines already written to the timeline, and each node's last
    /// line there.
    traced: usize,
    node_lines: BTreeMap<NodeId, String>,
}

fn node_failed(at: At, failure: &NodeFailure) -> Violation {
    violation(
        Invariant::NodeRuns,
        at,
        &format!("n{}", failure.node),
        "a running node",
        &failure.reason,
    )
}

impl<'a, C: ClusterUnderTest> ClusterSession<'a, C> {
    /// A session on `cluster` as it is; with `states`, the cluster states
    /// reached are counted for the fuzzer (see `state_coverage`).
    pub fn new(cluster: &'a mut SimCluster<C>, states: bool, timeline: Option<&'a mut dyn Write>) -> Self {
        let clients = (0..CLUSTER_CLIENTS)
            .map(|index| ClusterClient::new(&format!("c{index}"), index % 2 == 0))
            .collect();
        Self {
            cluster,
            clients,
            checker: ClusterClient::new("checker", false),
            model: ReplicationModel::default(),
            checker_events: Vec::new(),
            states: states.then(ClusterStates::default),
            timeline,
            at: At(0),
            healed_at: None,
            shown: Shown::Nothing,
            traced: 0,
            node_lines: BTreeMap::new(),
        }
    }

    /// Creates the script's first two topics (three replicas, or as many as
    /// there are nodes) and waits until every node knows their leaders: the
    /// state a cluster's starting point should be saved in.
    pub fn bootstrap(mut self) -> Result<(), Violation> {
        self.converge()?;
        let replicas = i16::try_from(self.cluster.node_ids().len().min(3)).unwrap_or(1);
        for (topic, partitions) in [(CLUSTER_TOPICS[0], 2), (CLUSTER_TOPICS[1], 1)] {
            self.checker.submit(ClientTask::CreateTopic {
                topic: StrBytes::from_static_str(topic),
                partitions,
                replicas,
            });
        }
        if !self.settle(LIVENESS_BOUND_MS, |session| session.checker.is_idle())? {
            return Err(self.stuck("creating the starting topics"));
        }
        self.ready()
    }

    /// Waits until every node gives the same leaders and every leader
    /// serves its partition: a cluster that restored its starting state
    /// may still be electing.
    fn ready(&mut self) -> Result<(), Violation> {
        let start = self.cluster.now_ms();
        loop {
            let leaders = self.converge()?;
            for (topic, partition) in leaders.keys() {
                self.checker.submit(ClientTask::Fetch {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: 0,
                    max_bytes: FETCH_MAX_BYTES,
                });
            }
            self.settle(LIVENESS_BOUND_MS, |session| session.checker.is_idle())?;
            let served = self
                .last_answers()
                .iter()
                .filter(|event| matches!(event, ClientEvent::Fetched(_)))
                .count();
            if served == leaders.len() {
                return Ok(());
            }
            if self.cluster.now_ms() - start >= LIVENESS_BOUND_MS {
                return Err(violation(
                    Invariant::Liveness,
                    self.at,
                    "serving every partition from its starting state",
                    format!("{} partitions served", leaders.len()),
                    served,
                ));
            }
            self.advance(ROUND_MS)?;
        }
    }

    /// Plays `script` from the cluster's starting state, then heals every
    /// fault and checks liveness, convergence and durability.
    pub fn run(mut self, script: &ClusterScript) -> Result<ClusterOutcome, Violation> {
        self.ready()?;
        self.shown = Shown::Everything;
        self.traced = self.cluster.trace().len();
        let elapsed = self.elapsed();
        self.note(|| format!("the cluster is ready at {elapsed} ms"));
        self.observe();
        for (index, step) in script.steps.iter().enumerate() {
            self.at = At(index);
            let elapsed = self.elapsed();
            self.note(|| format!("#{index} at {elapsed} ms: {step:?}"));
            self.apply(*step)?;
            self.poll_clients()?;
            self.observe();
        }
        self.at = At(script.steps.len());
        let elapsed = self.elapsed();
        self.note(|| format!("every fault heals at {elapsed} ms; the checks begin"));
        self.write_trace();
        self.shown = Shown::Answers;
        self.cluster
            .heal_all()
            .map_err(|failure| node_failed(self.at, &failure))?;
        self.healed_at = Some(self.cluster.now_ms());
        // The clients read what they wait for and send nothing more: the
        // checks below ask the rest. A request left unanswered past its
        // timeout once no fault is left is stuck (see `poll_clients`).
        self.clients.iter_mut().for_each(ClusterClient::drain);
        if !self.settle(LIVENESS_BOUND_MS, |session| {
            session.clients.iter().all(ClusterClient::is_idle)
        })? {
            return Err(self.stuck("answering what the clients wait for"));
        }
        let leaders = self.converge()?;
        let logs = self.read_back(&leaders)?;
        let count = self.model.check_final(self.at, &logs, SIM_START_MS)?;
        self.cluster.system().check_replicas().map_err(|differ| {
            violation(
                Invariant::ReplicasAgree,
                self.at,
                "the replicas, once every fault healed",
                "the same records below their high watermarks",
                differ,
            )
        })?;
        self.note(|| {
            format!(
                "the logs hold every acks=all record ({} acks=all, {} acks=1 acknowledged, {} acks=1 lost)",
                count.acknowledged_acks_all, count.acknowledged_acks_one, count.lost_acks_one
            )
        });
        Ok(ClusterOutcome {
            steps: script.steps.len(),
            events: self.cluster.events(),
            count,
        })
    }

    fn elapsed(&self) -> i64 {
        self.cluster.now_ms() - SIM_START_MS
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if self.shown == Shown::Nothing {
            return;
        }
        if let Some(out) = self.timeline.as_mut() {
            // A timeline that cannot be written is not the cluster's fault.
            let _ = writeln!(out, "{}", line());
        }
    }

    fn client(&mut self, index: u8) -> &mut ClusterClient {
        let count = self.clients.len();
        &mut self.clients[usize::from(index) % count]
    }

    fn node(&self, index: u8) -> NodeId {
        let nodes = self.cluster.node_ids();
        nodes[usize::from(index) % nodes.len()]
    }

    fn apply(&mut self, step: ClusterStep) -> Result<(), Violation> {
        let at = self.at;
        let failed = move |failure: NodeFailure| node_failed(at, &failure);
        match step {
            ClusterStep::Deliver { count } => {
                for _ in 0..=count % 8 {
                    let Some(link) = self.cluster.oldest_deliverable() else {
                        break;
                    };
                    self.cluster.deliver(link).map_err(failed)?;
                }
            }
            ClusterStep::DeliverLink { link } => {
                let links = self.cluster.deliverable_links();
                if !links.is_empty() {
                    let link = links[usize::from(link) % links.len()];
                    self.cluster.deliver(link).map_err(failed)?;
                }
            }
            ClusterStep::DropLink { link } => {
                let links = self.cluster.busy_links();
                if !links.is_empty() {
                    self.cluster.drop_message(links[usize::from(link) % links.len()]);
                }
            }
            ClusterStep::Advance { tens_ms } => self.advance((i64::from(tens_ms) + 1) * 10)?,
            ClusterStep::Run { rounds } => {
                for _ in 0..=rounds % 32 {
                    self.deliver_all()?;
                    self.advance(ROUND_MS)?;
                }
            }
            ClusterStep::Produce {
                client,
                target,
                acks_all,
            } => {
                let client = self.client(client);
                // An idempotent producer writes with acks=all, as Kafka
                // requires.
                let acks = if acks_all || client.is_idempotent() { -1 } else { 1 };
                client.submit(ClientTask::Produce {
                    topic: StrBytes::from_static_str(target.topic()),
                    partition: target.partition(),
                    acks,
                });
            }
            ClusterStep::Fetch { client, target, offset } => {
                self.client(client).submit(ClientTask::Fetch {
                    topic: StrBytes::from_static_str(target.topic()),
                    partition: target.partition(),
                    offset: i64::from(offset % 32),
                    max_bytes: FETCH_MAX_BYTES,
                });
            }
            ClusterStep::CreateTopic {
                client,
                topic,
                partitions,
                replicas,
            } => {
                self.client(client).submit(ClientTask::CreateTopic {
                    topic: StrBytes::from_static_str(CLUSTER_TOPICS[usize::from(topic) % CLUSTER_TOPICS.len()]),
                    partitions: 1 + i32::from(partitions % 4),
                    replicas: 1 + i16::from(replicas % 3),
                });
            }
            ClusterStep::Metadata { client } => {
                self.client(client).submit(ClientTask::Metadata { node: None });
            }
            ClusterStep::ElectLeader { client, target } => {
                self.client(client).submit(ClientTask::ElectLeader {
                    topic: StrBytes::from_static_str(target.topic()),
                    partition: target.partition(),
                });
            }
            ClusterStep::Disconnect { client } => {
                let index = usize::from(client) % self.clients.len();
                self.clients[index].disconnect(self.cluster);
            }
            ClusterStep::Partition { mask } => {
                let nodes = self.cluster.node_ids();
                let side: Vec<NodeId> = (0..)
                    .zip(&nodes)
                    .filter(|&(bit, _)| bit < 8 && mask & (1 << bit) != 0)
                    .map(|(_, &node)| node)
                    .collect();
                if !side.is_empty() && side.len() < nodes.len() {
                    self.cluster.partition(&side);
                }
            }
            ClusterStep::Heal => self.cluster.heal(),
            ClusterStep::Crash { node } => self.cluster.crash(self.node(node)),
            ClusterStep::Restart { node } => self.cluster.restart(self.node(node)).map_err(failed)?,
            ClusterStep::Pause { node } => self.cluster.pause(self.node(node)),
            ClusterStep::Resume { node } => self.cluster.resume(self.node(node)),
            ClusterStep::Skew { node, hundreds_ms } => {
                self.cluster.skew(self.node(node), (i64::from(hundreds_ms) + 1) * 100);
            }
        }
        Ok(())
    }

    /// Every client reads its answers and sends what comes next; what they
    /// were told goes to the model.
    fn poll_clients(&mut self) -> Result<(), Violation> {
        let mut events = Vec::new();
        for client in &mut self.clients {
            client.poll(self.cluster, &mut events);
        }
        let mut checked = Vec::new();
        self.checker.poll(self.cluster, &mut checked);
        events.extend(checked.iter().cloned());
        self.checker_events.extend(checked);
        self.write_trace();
        for event in &events {
            self.note(|| format!("   {}", describe(event)));
            match event {
                ClientEvent::Acknowledged(ack) => self.model.acknowledged(self.at, ack)?,
                ClientEvent::Fetched(fetched) => self.model.fetched(self.at, fetched)?,
                ClientEvent::Leaders { leaders, .. } => self.model.leaders(self.at, 0, leaders)?,
                ClientEvent::BadResponse(what) => {
                    return Err(Violation::new(
                        Oracle::ResponseDecodes,
                        format!("at step #{}: {what}", self.at.0),
                    ));
                }
                ClientEvent::TimedOut { request, node, sent_ms } => {
                    if self.healed_at.is_some_and(|healed| *sent_ms >= healed) {
                        return Err(violation(
                            Invariant::Liveness,
                            self.at,
                            &format!(
                                "{request} to n{node}, sent at {} ms when no fault was left",
                                sent_ms - SIM_START_MS
                            ),
                            format!("an answer within {REQUEST_TIMEOUT_MS} ms"),
                            "none",
                        ));
                    }
                }
                ClientEvent::Retry { .. } | ClientEvent::Ended { .. } => {}
            }
        }
        Ok(())
    }

    /// The network's lines since the last call: deliveries, drops, faults.
    fn write_trace(&mut self) {
        if self.timeline.is_none() || self.shown != Shown::Everything {
            return;
        }
        let lines: Vec<String> = self.cluster.trace()[self.traced..]
            .iter()
            .filter(|line| !line.contains(" advance "))
            .map(|line| format!("   {line}"))
            .collect();
        self.traced = self.cluster.trace().len();
        for line in lines {
            self.note(|| line);
        }
    }

    /// Counts the cluster's state for the fuzzer, and shows each node's
    /// state on the timeline when it changed.
    fn observe(&mut self) {
        if self.states.is_none() && self.timeline.is_none() {
            return;
        }
        let nodes: Vec<NodeState> = self
            .cluster
            .node_ids()
            .into_iter()
            .map(|id| {
                let status = if !self.cluster.is_up(id) {
                    NodeStatus::Down
                } else if self.cluster.is_paused(id) {
                    NodeStatus::Paused
                } else {
                    NodeStatus::Up
                };
                NodeState {
                    id,
                    status,
                    skew_ms: self.cluster.skew_of(id),
                    seen: self.cluster.system().observe(id),
                }
            })
            .collect();
        if self.timeline.is_some() {
            for NodeState {
                id,
                status,
                skew_ms,
                seen,
            } in &nodes
            {
                let mut line = format!("   n{id} {status:?}");
                if *skew_ms > 0 {
                    line.push_str(&format!(" clock +{skew_ms} ms"));
                }
                if let Some(seen) = seen {
                    let controller = seen.controller.map_or("none".to_owned(), |c| format!("n{c}"));
                    line.push_str(&format!(" controller {controller}"));
                    if !seen.fenced.is_empty() {
                        line.push_str(&format!(" fenced {:?}", seen.fenced));
                    }
                    for r in &seen.replicas {
                        line.push_str(&format!(
                            " | {}/{} leader n{} epoch {} isr {:?} end {} hw {}",
                            r.topic, r.partition, r.leader, r.leader_epoch, r.isr, r.log_end_offset, r.high_watermark
                        ));
                    }
                }
                if self.node_lines.get(id) != Some(&line) {
                    self.node_lines.insert(*id, line.clone());
                    self.note(|| line);
                }
            }
        }
        if let Some(states) = self.states.as_mut() {
            states.observe(&nodes);
        }
    }

    /// Lets the cluster run, faults healed: deliveries until nothing is in
    /// flight, the clients polled in between, then a round of time, until
    /// `done` or `bound_ms` passed. Whether `done` came.
    fn settle(&mut self, bound_ms: i64, done: impl Fn(&Self) -> bool) -> Result<bool, Violation> {
        let start = self.cluster.now_ms();
        loop {
            self.deliver_all()?;
            if done(self) {
                return Ok(true);
            }
            if self.cluster.now_ms() - start >= bound_ms {
                return Ok(false);
            }
            self.advance(ROUND_MS)?;
            if self.timeline.is_some() {
                self.observe();
            }
        }
    }

    /// Delivers every message that can be, and those they cause, the
    /// clients polled in between.
    fn deliver_all(&mut self) -> Result<(), Violation> {
        for _ in 0..ROUND_DELIVERIES {
            self.poll_clients()?;
            let links = self.cluster.deliverable_links();
            if links.is_empty() {
                break;
            }
            for link in links {
                self.cluster
                    .deliver(link)
                    .map_err(|failure| node_failed(self.at, &failure))?;
            }
        }
        self.poll_clients()
    }

    fn advance(&mut self, ms: i64) -> Result<(), Violation> {
        self.cluster
            .advance(ms)
            .map_err(|failure| node_failed(self.at, &failure))
    }

    fn stuck(&self, doing: &str) -> Violation {
        let waiting: Vec<String> = self
            .clients
            .iter()
            .chain([&self.checker])
            .filter_map(|client| Some(format!("{} waits for {}", client.name(), client.waiting_for()?)))
            .collect();
        violation(
            Invariant::Liveness,
            self.at,
            &format!("{doing}, {LIVENESS_BOUND_MS} ms after every fault healed"),
            "every request answered",
            waiting.join("; "),
        )
    }

    /// Asks every node for the metadata of every topic until all give the
    /// same leaders and every partition has one, within the liveness bound.
    fn converge(&mut self) -> Result<BTreeMap<Partition, (NodeId, i32)>, Violation> {
        let start = self.cluster.now_ms();
        loop {
            let nodes = self.cluster.node_ids();
            for &node in &nodes {
                self.checker.submit(ClientTask::Metadata { node: Some(node) });
            }
            let answered = self.settle(LIVENESS_BOUND_MS, |session| session.checker.is_idle())?;
            let mut views: BTreeMap<NodeId, BTreeMap<Partition, (NodeId, i32)>> = BTreeMap::new();
            for event in &self.last_answers() {
                if let ClientEvent::Leaders { node, leaders } = event {
                    let view = views.entry(*node).or_default();
                    for LeaderSeen {
                        topic,
                        partition,
                        leader,
                        leader_epoch,
                        ..
                    } in leaders
                    {
                        view.insert((topic.clone(), *partition), (*leader, *leader_epoch));
                    }
                }
            }
            let first = views.values().next().cloned().unwrap_or_default();
            let agreed = answered
                && views.len() == nodes.len()
                && views.values().all(|view| *view == first)
                && first.values().all(|&(leader, _)| leader >= 0);
            if agreed {
                return Ok(first);
            }
            if self.cluster.now_ms() - start >= LIVENESS_BOUND_MS {
                let shown: Vec<String> = views
                    .iter()
                    .map(|(node, view)| {
                        let leaders: Vec<String> = view
                            .iter()
                            .map(|((t, p), (l, e))| format!("{t}/{p} n{l} epoch {e}"))
                            .collect();
                        format!("n{node}: {}", leaders.join(", "))
                    })
                    .collect();
                return Err(violation(
                    Invariant::MetadataConverges,
                    self.at,
                    &format!("{LIVENESS_BOUND_MS} ms after every fault healed"),
                    "every node giving the same leader for every partition",
                    if shown.is_empty() {
                        "no answer".to_owned()
                    } else {
                        shown.join("; ")
                    },
                ));
            }
            self.advance(ROUND_MS)?;
        }
    }

    /// The checker's events since the last call.
    fn last_answers(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.checker_events)
    }

    /// Every partition read from its start to its high watermark. A new
    /// leader may answer with an older high watermark until its followers
    /// catch up (Kafka allows it): a partition whose high watermark is
    /// still below a record acknowledged with acks=all is read again, until
    /// the liveness bound.
    fn read_back(
        &mut self,
        leaders: &BTreeMap<Partition, (NodeId, i32)>,
    ) -> Result<BTreeMap<Partition, FinalLog>, Violation> {
        let mut logs = BTreeMap::new();
        let start = self.cluster.now_ms();
        for (topic, partition) in leaders.keys() {
            let log = loop {
                let (log, high_watermark) = self.read_partition(topic, *partition)?;
                let behind = self.model.durable_end(topic, *partition) > high_watermark;
                if !behind || self.cluster.now_ms() - start >= LIVENESS_BOUND_MS {
                    break log;
                }
                self.advance(ROUND_MS)?;
            };
            logs.insert((topic.clone(), *partition), log);
        }
        Ok(logs)
    }

    /// One partition paged from its start to its high watermark, and the
    /// high watermark.
    fn read_partition(&mut self, topic: &StrBytes, partition: i32) -> Result<(FinalLog, i64), Violation> {
        let mut log = FinalLog::new();
        let mut offset = 0;
        let mut high_watermark = 0;
        for _ in 0..MAX_PAGES {
            self.checker.submit(ClientTask::Fetch {
                topic: topic.clone(),
                partition,
                offset,
                max_bytes: FETCH_MAX_BYTES,
            });
            if !self.settle(LIVENESS_BOUND_MS, |session| session.checker.is_idle())? {
                return Err(self.stuck("reading the logs back"));
            }
            let fetched = self.last_answers().into_iter().find_map(|event| match event {
                ClientEvent::Fetched(fetched) => Some(fetched),
                _ => None,
            });
            let Some(fetched) = fetched else {
                return Err(violation(
                    Invariant::Liveness,
                    self.at,
                    &format!("reading {topic}/{partition} from offset {offset} after every fault healed"),
                    "records",
                    "no answer with records",
                ));
            };
            high_watermark = fetched.high_watermark;
            if fetched.records.is_empty() {
                if offset < high_watermark {
                    return Err(violation(
                        Invariant::PagingComplete,
                        self.at,
                        &format!("{topic}/{partition} from offset {offset}"),
                        format!("records up to the high watermark {high_watermark}"),
                        "none",
                    ));
                }
                break;
            }
            offset = fetched.records.last().map_or(offset, |(last, _)| last + 1);
            log.extend(fetched.records);
            if offset >= high_watermark {
                break;
            }
        }
        Ok((log, high_watermark))
    }
}

/// The reference cluster (three nodes, three replicas, min.insync.replicas
/// 2) with the script's starting topics, saved as the state every input
/// starts from.
pub fn bootstrapped_reference_cluster() -> Result<SimCluster<ReferenceCluster>, Violation> {
    let mut cluster =
        SimCluster::start(SimClusterConfig::three_nodes(), 0).map_err(|failure| node_failed(At(0), &failure))?;
    ClusterSession::new(&mut cluster, false, None).bootstrap()?;
    cluster
        .system_mut()
        .save_start()
        .map_err(|failure| node_failed(At(0), &failure))?;
    Ok(cluster)
}

/// Plays the cluster script `data` spells from `cluster`'s starting state,
/// counting the states it reaches with `states`, writing a timeline if
/// given: the `cluster` target, and what `kafka-fuzz replay` shows of it.
pub fn play_cluster<'a, C: ClusterUnderTest>(
    cluster: &'a mut SimCluster<C>,
    data: &[u8],
    states: bool,
    timeline: Option<&'a mut dyn Write>,
) -> Result<ClusterOutcome, Violation> {
    let script = ClusterScript::from_bytes(data);
    cluster.keep_trace(timeline.is_some());
    cluster.reset(0).map_err(|failure| node_failed(At(0), &failure))?;
    ClusterSession::new(cluster, states, timeline).run(&script)
}

/// One event as the timeline shows it.
fn describe(event: &ClientEvent) -> String {
    match event {
        ClientEvent::Acknowledged(ack) => format!(
            "acknowledged {}/{} offset {} acks={} {:?}",
            ack.topic,
            ack.partition,
            ack.offset,
            ack.acks,
            String::from_utf8_lossy(&ack.value)
        ),
        ClientEvent::Fetched(fetched) => format!(
            "n{} served {}/{} from {}: {} records, high watermark {}",
            fetched.node,
            fetched.topic,
            fetched.partition,
            fetched.fetch_offset,
            fetched.records.len(),
            fetched.high_watermark
        ),
        ClientEvent::Leaders { node, leaders } => {
            let leaders: Vec<String> = leaders
                .iter()
                .map(|s| format!("{}/{} n{} epoch {}", s.topic, s.partition, s.leader, s.leader_epoch))
                .collect();
            format!("n{node} says leaders: {}", leaders.join(", "))
        }
        ClientEvent::Retry { task, reason } => format!("{task}: {reason}, retries"),
        ClientEvent::Ended { task, outcome } => format!("{task}: {outcome}"),
        ClientEvent::TimedOut { request, node, .. } => format!("{request} to n{node} timed out"),
        ClientEvent::BadResponse(what) => format!("bad response: {what}"),
    }
}
