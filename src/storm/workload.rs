//! What each storm client does: a seeded role and its next operation, and
//! the thread that plays them one after another through a `ClusterClient`
//! (the same Kafka client behaviour the `cluster` target simulates: leaders
//! followed, retries on NOT_LEADER_OR_FOLLOWER and fenced epochs, idempotent
//! sequences kept across failovers) over real TCP connections.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::protocol::StrBytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::history::{HistoryEvent, Told};
use super::transport::{NodeAddresses, TcpTransport};
use super::{StormError, StormOptions};
use crate::harness::cluster_client::{ClientEvent, ClientTask, ClusterClient};

/// Between two acks=0 produces of one client: they complete when written,
/// and unpaced one client would make most of a run's operations (a real
/// producer is held back by its buffer and batching).
const ACKS_ZERO_PACE: Duration = Duration::from_millis(1);
/// Partitions an admin client may grow a workload topic to, past its start.
const MAX_GROWTH: i32 = 3;

/// What a client does, by its index: most produce (idempotent or plain,
/// acks all, 1 or 0), some page partitions with small and large limits,
/// one in sixteen administers topics while the others write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Producer { acks: i16, idempotent: bool },
    Reader { max_bytes: i32 },
    Admin,
}

impl Role {
    pub fn of(index: usize) -> Self {
        match index % 16 {
            0 | 5 | 10 => Self::Producer {
                acks: -1,
                idempotent: true,
            },
            1 | 6 | 11 => Self::Producer {
                acks: -1,
                idempotent: false,
            },
            2 | 7 => Self::Producer {
                acks: 1,
                idempotent: false,
            },
            12 => Self::Producer {
                acks: 0,
                idempotent: false,
            },
            3 | 8 | 13 => Self::Reader { max_bytes: 256 },
            4 | 9 | 14 => Self::Reader { max_bytes: 1 << 20 },
            _ => Self::Admin,
        }
    }

    pub fn name(self) -> String {
        match self {
            Self::Producer { acks, idempotent } => {
                format!(
                    "{} producer, acks={acks}",
                    if idempotent { "idempotent" } else { "plain" }
                )
            }
            Self::Reader { max_bytes } => format!("reader, {max_bytes} bytes a fetch"),
            Self::Admin => "admin".to_owned(),
        }
    }
}

/// The topics every client knows: the workload's.
#[derive(Debug, Clone)]
pub struct Topics {
    pub names: Vec<StrBytes>,
    pub partitions: i32,
    pub replicas: i16,
}

/// One client's seeded choices.
pub struct Workload {
    index: usize,
    role: Role,
    rng: ChaCha8Rng,
    topics: Topics,
    /// A reader's next offset per partition, and the one it pages now.
    positions: BTreeMap<(StrBytes, i32), i64>,
    reading: Option<(StrBytes, i32)>,
    /// An admin's scratch topics created so far, and the one alive.
    scratch: u32,
    scratch_alive: Option<StrBytes>,
}

impl Workload {
    pub fn new(index: usize, seed: u64, topics: Topics) -> Self {
        let stream = (index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            index,
            role: Role::of(index),
            rng: ChaCha8Rng::seed_from_u64(seed ^ stream),
            topics,
            positions: BTreeMap::new(),
            reading: None,
            scratch: 0,
            scratch_alive: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    fn any_partition(&mut self) -> (StrBytes, i32) {
        let topic = self.topics.names[self.rng.gen_range(0..self.topics.names.len())].clone();
        // Now and then a partition an admin may have added, or not yet.
        let top = self.topics.partitions + if self.rng.gen_ratio(1, 10) { MAX_GROWTH } else { 0 };
        (topic, self.rng.gen_range(0..top))
    }

    pub fn next_task(&mut self) -> ClientTask {
        match self.role {
            Role::Producer { acks, .. } => {
                let (topic, partition) = self.any_partition();
                ClientTask::Produce { topic, partition, acks }
            }
            Role::Reader { max_bytes } => {
                let (topic, partition) = match self.reading.clone() {
                    Some(reading) => reading,
                    None => {
                        let picked = self.any_partition();
                        // Now and then from the start again, as a new consumer.
                        if self.rng.gen_ratio(1, 4) {
                            self.positions.remove(&picked);
                        }
                        self.reading = Some(picked.clone());
                        picked
                    }
                };
                let offset = self.positions.get(&(topic.clone(), partition)).copied().unwrap_or(0);
                ClientTask::Fetch {
                    topic,
                    partition,
                    offset,
                    max_bytes,
                }
            }
            Role::Admin => self.admin_task(),
        }
    }

    /// Create a scratch topic, write to it, delete it; grow a workload
    /// topic; ask for metadata.
    fn admin_task(&mut self) -> ClientTask {
        if let Some(topic) = self.scratch_alive.clone() {
            if self.rng.gen_ratio(1, 3) {
                self.scratch_alive = None;
                return ClientTask::DeleteTopic { topic };
            }
            return ClientTask::Produce {
                topic,
                partition: 0,
                acks: -1,
            };
        }
        match self.rng.gen_range(0..4) {
            0 | 1 => {
                self.scratch += 1;
                let topic = StrBytes::from_string(format!("storm-scratch-c{}-{}", self.index, self.scratch));
                self.scratch_alive = Some(topic.clone());
                ClientTask::CreateTopic {
                    topic,
                    partitions: 1,
                    replicas: self.topics.replicas,
                }
            }
            2 => {
                let topic = self.topics.names[self.rng.gen_range(0..self.topics.names.len())].clone();
                let count = self.topics.partitions + self.rng.gen_range(1..=MAX_GROWTH);
                ClientTask::CreatePartitions { topic, count }
            }
            _ => ClientTask::Metadata { node: None },
        }
    }

    /// What an operation's answers mean for the next: a reader moves on.
    pub fn observe(&mut self, events: &[ClientEvent]) {
        for event in events {
            match event {
                ClientEvent::Fetched(fetched) => {
                    let key = (fetched.topic.clone(), fetched.partition);
                    let next = fetched
                        .records
                        .last()
                        .map_or(fetched.fetch_offset, |&(last, _)| (last + 1).max(fetched.fetch_offset));
                    self.positions.insert(key, next);
                    if next >= fetched.high_watermark {
                        self.reading = None;
                    }
                }
                ClientEvent::Ended { outcome, .. } if outcome.contains("OFFSET_OUT_OF_RANGE") => {
                    if let Some(reading) = self.reading.take() {
                        self.positions.remove(&reading);
                    }
                }
                ClientEvent::Ended { outcome, .. } if self.reading.is_some() && !outcome.contains("records") => {
                    self.reading = None;
                }
                _ => {}
            }
        }
    }
}

/// What every client thread shares with the run.
#[derive(Debug, Default)]
pub struct RunState {
    /// Take no new operation.
    pub stop: AtomicBool,
    /// Abandon the operation under way too (a stalled server).
    pub abandon: AtomicBool,
    /// Operations invoked and not completed.
    pub outstanding: AtomicI64,
    /// When the last operation completed, in ms since the run began.
    pub last_completion_ms: AtomicU64,
    pub completed: AtomicU64,
}

/// A completed operation: its history line, and the client's events for
/// the checker.
pub struct Completed {
    pub client: usize,
    pub task: ClientTask,
    pub history: HistoryEvent,
    pub events: Vec<ClientEvent>,
}

fn kind_of(task: &ClientTask) -> &'static str {
    match task {
        ClientTask::Produce { .. } => "produce",
        ClientTask::Fetch { .. } => "fetch",
        ClientTask::CreateTopic { .. } => "create-topic",
        ClientTask::DeleteTopic { .. } => "delete-topic",
        ClientTask::CreatePartitions { .. } => "create-partitions",
        ClientTask::Metadata { .. } => "metadata",
        ClientTask::ElectLeader { .. } => "elect-leader",
    }
}

fn told(event: &ClientEvent) -> Option<Told> {
    Some(match event {
        ClientEvent::Acknowledged(ack) => Told::Acknowledged {
            topic: ack.topic.to_string(),
            partition: ack.partition,
            offset: ack.offset,
            value: String::from_utf8_lossy(&ack.value).into_owned(),
            acks: ack.acks,
            idempotent: ack.idempotent,
        },
        ClientEvent::Fetched(fetched) => Told::Fetched {
            node: fetched.node,
            topic: fetched.topic.to_string(),
            partition: fetched.partition,
            fetch_offset: fetched.fetch_offset,
            leader_epoch: fetched.leader_epoch,
            high_watermark: fetched.high_watermark,
            first: fetched.records.first().map_or(-1, |r| r.0),
            records: fetched.records.len(),
        },
        ClientEvent::Leaders { node, leaders } => Told::Leaders {
            node: *node,
            partitions: leaders.len(),
        },
        ClientEvent::Retry { reason, .. } => Told::Retry { reason: reason.clone() },
        ClientEvent::TimedOut { node, .. } => Told::TimedOut { node: *node },
        ClientEvent::BadResponse(detail) => Told::BadResponse { detail: detail.clone() },
        ClientEvent::Ended { .. } => return None,
    })
}

/// Runs one operation to its end (or until the run abandons it).
pub fn play(
    client: &mut ClusterClient,
    net: &mut TcpTransport,
    task: &ClientTask,
    state: &RunState,
) -> (Vec<ClientEvent>, Option<String>) {
    let mut events = Vec::new();
    if !client.submit(task.clone()) {
        return (events, Some("refused: the client's queue is full".to_owned()));
    }
    loop {
        let mut new = Vec::new();
        client.poll(net, &mut new);
        let ended = new.iter().find_map(|event| match event {
            ClientEvent::Ended { outcome, .. } => Some(outcome.clone()),
            _ => None,
        });
        events.extend(new);
        if ended.is_some() {
            return (events, ended);
        }
        if state.abandon.load(Ordering::Relaxed) {
            client.drain();
            client.disconnect(net);
            return (events, Some("abandoned: the run stopped".to_owned()));
        }
        if !client.has_in_flight() {
            // Waiting out a retry backoff.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// One client thread: operations until the run stops.
pub fn client_thread(
    index: usize,
    mut workload: Workload,
    addresses: NodeAddresses,
    state: &RunState,
    started: Instant,
    mut deliver: impl FnMut(Completed) -> bool,
) {
    let idempotent = matches!(workload.role(), Role::Producer { idempotent: true, .. });
    let mut client = ClusterClient::new(&format!("c{index}"), idempotent);
    let mut net = TcpTransport::new(addresses);
    let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    while !state.stop.load(Ordering::Relaxed) {
        let task = workload.next_task();
        let invoked_ms = elapsed_ms();
        state.outstanding.fetch_add(1, Ordering::Relaxed);
        let (events, outcome) = play(&mut client, &mut net, &task, state);
        let completed_ms = elapsed_ms();
        state.outstanding.fetch_sub(1, Ordering::Relaxed);
        state.last_completion_ms.fetch_max(completed_ms, Ordering::Relaxed);
        state.completed.fetch_add(1, Ordering::Relaxed);
        workload.observe(&events);
        if matches!(task, ClientTask::Produce { acks: 0, .. }) {
            std::thread::sleep(ACKS_ZERO_PACE);
        }
        let history = HistoryEvent::Operation {
            client: index,
            kind: kind_of(&task).to_owned(),
            task: task.to_string(),
            invoked_ms,
            completed_ms,
            outcome: outcome.unwrap_or_else(|| "no outcome".to_owned()),
            told: events.iter().filter_map(told).collect(),
        };
        let done = Completed {
            client: index,
            task,
            history,
            events,
        };
        if !deliver(done) {
            break;
        }
    }
}

/// Plays one task as storm's own client, retrying it until `deadline`
/// unless `done` says the answers are enough.
pub fn until_done(
    client: &mut ClusterClient,
    net: &mut TcpTransport,
    task: &ClientTask,
    state: &RunState,
    deadline: Instant,
    mut done: impl FnMut(&[ClientEvent], &str) -> bool,
) -> Result<Vec<ClientEvent>, String> {
    loop {
        let (events, outcome) = play(client, net, task, state);
        let outcome = outcome.unwrap_or_default();
        if done(&events, &outcome) {
            return Ok(events);
        }
        if Instant::now() > deadline {
            return Err(format!("{task}: {outcome}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Creates the workload's topics; the replication factor is the number of
/// brokers, up to three.
pub fn create_topics(options: &StormOptions, addresses: &NodeAddresses, seed: u64) -> Result<Topics, StormError> {
    let state = RunState::default();
    let mut client = ClusterClient::new("storm", false);
    let mut net = TcpTransport::new(addresses.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    let metadata = ClientTask::Metadata { node: None };
    until_done(&mut client, &mut net, &metadata, &state, deadline, |_, outcome| {
        outcome == "done"
    })
    .map_err(StormError::Setup)?;
    addresses.forget_bootstrap();
    let brokers = addresses.ids().len();
    let replicas = i16::try_from(brokers.clamp(1, 3)).unwrap_or(3);
    let topics = Topics {
        names: (0..options.topics)
            .map(|i| StrBytes::from_string(format!("storm-{seed:x}-{i}")))
            .collect(),
        partitions: options.partitions,
        replicas,
    };
    ensure_topics(&topics, addresses)?;
    Ok(topics)
}

/// Creates the workload's topics where they do not exist (again, after a
/// server that keeps nothing was killed).
pub fn ensure_topics(topics: &Topics, addresses: &NodeAddresses) -> Result<(), StormError> {
    let state = RunState::default();
    let mut client = ClusterClient::new("storm", false);
    let mut net = TcpTransport::new(addresses.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    for topic in &topics.names {
        let create = ClientTask::CreateTopic {
            topic: topic.clone(),
            partitions: topics.partitions,
            replicas: topics.replicas,
        };
        until_done(&mut client, &mut net, &create, &state, deadline, |_, outcome| {
            outcome == "created" || outcome == "TOPIC_ALREADY_EXISTS"
        })
        .map_err(StormError::Setup)?;
    }
    Ok(())
}
