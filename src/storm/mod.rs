//! `kafka-fuzz storm`: many concurrent clients and real faults against
//! servers over TCP (started by storm, or attached to), every operation
//! recorded in a history and checked as it completes against the model of
//! Kafka's replicated guarantees, a watchdog that turns a silent server
//! into a stall with its stacks, and a report.

pub mod checker;
pub mod clock;
pub mod faults;
pub mod history;
pub mod launch;
pub mod options;
pub mod plots;
pub mod proxy;
pub mod readback;
pub mod report;
pub mod transport;
pub mod watchdog;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::protocol::StrBytes;

use crate::harness::cluster_client::{ClientEvent, ClientTask};
use crate::harness::target::NodeId;
use crate::triage::progress::StatusLine;
use checker::StormChecker;
use faults::{FaultNotice, FaultSchedule, FaultState};
use history::{HistoryEvent, HistoryWriter};
use launch::LaunchedServers;
pub use options::{FaultKind, StormOptions};
use report::{FinalCounts, Finding, StormReport, Tally};
use transport::{NodeAddresses, wall_clock_ms};
use workload::{Completed, RunState, Topics, Workload, client_thread, create_topics};

#[derive(Debug, thiserror::Error)]
pub enum StormError {
    #[error("{0}")]
    Options(String),
    #[error("launching the servers: {0}")]
    Launch(String),
    #[error("{0}")]
    Io(String),
    #[error("setting up the workload: {0}")]
    Setup(String),
}

/// Completed operations waiting for the checker at most.
const CHECKER_BACKLOG: usize = 4096;
/// Findings kept for the report; more are counted (all are in the history).
const MAX_FINDINGS: usize = 20;

/// What a run ended with.
pub struct StormOutcome {
    pub report: StormReport,
}

impl StormOutcome {
    pub fn found(&self) -> bool {
        !self.report.findings.is_empty()
    }
}

enum Message {
    Completed(Box<Completed>),
    Fault(FaultNotice),
}

/// The reference cluster's node command, run from `binary`.
pub fn reference_launch(binary: &Path) -> String {
    format!(
        "'{}' serve --node-id {{node}} --peers {{peers}} --bind 127.0.0.1:{{port}}/127.0.0.1:{{peer_port}} \
         --data-dir {{data_dir}}",
        binary.display()
    )
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Items shown in a message: comma-separated.
fn listed<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The servers a run talks to.
struct Servers {
    /// Started from the launch command, with their proxies: storm's.
    owned: Option<Arc<Mutex<LaunchedServers>>>,
    addresses: NodeAddresses,
    /// What the report calls them.
    description: String,
}

/// The servers: started from the launch command, or attached to at
/// `--bootstrap`.
fn start_or_attach(options: &StormOptions, own_binary: &Path, status: &StatusLine) -> Result<Servers, StormError> {
    if options.bootstrap.is_empty() {
        let template = options.launch.clone().unwrap_or_else(|| reference_launch(own_binary));
        let count = options.node_count();
        status.show(&format!("storm: starting {count} nodes: {template}"), true);
        let skewable = options.fault_kinds().contains(&FaultKind::Clock);
        let servers = LaunchedServers::start(&template, count, &options.out, skewable)?;
        let addresses = NodeAddresses::new(
            servers.node_ids().into_iter().zip(servers.addresses()?),
            options.allow_remote,
        );
        let description = if options.launch.is_some() {
            template
        } else {
            "the reference cluster".to_owned()
        };
        return Ok(Servers {
            owned: Some(Arc::new(Mutex::new(servers))),
            addresses,
            description,
        });
    }
    let reachable = options
        .bootstrap
        .iter()
        .any(|addr| std::net::TcpStream::connect_timeout(addr, Duration::from_secs(2)).is_ok());
    if !reachable {
        return Err(StormError::Setup(format!(
            "no --bootstrap address accepts a connection: {}",
            listed(&options.bootstrap)
        )));
    }
    let bootstrap = options
        .bootstrap
        .iter()
        .enumerate()
        .map(|(i, addr)| (NodeAddresses::bootstrap_id(i), *addr));
    Ok(Servers {
        owned: None,
        addresses: NodeAddresses::new(bootstrap, options.allow_remote),
        description: listed(&options.bootstrap),
    })
}

/// Network faults act through the proxies: refused when the servers
/// advertise other addresses, which clients would then go to directly.
fn clients_go_through(
    options: &StormOptions,
    addresses: &NodeAddresses,
    proxied: &[std::net::SocketAddr],
) -> Result<(), StormError> {
    let advertised: Vec<_> = addresses.ids().into_iter().filter_map(|id| addresses.get(id)).collect();
    let network_faults: Vec<&str> = options
        .fault_kinds()
        .into_iter()
        .filter(|kind| kind.needs_proxy())
        .map(FaultKind::name)
        .collect();
    if network_faults.is_empty() || advertised.iter().all(|address| proxied.contains(address)) {
        return Ok(());
    }
    Err(StormError::Options(format!(
        "--faults {}: the servers advertise {} to clients, not the proxies storm put in front of them \
         ({}): make the launch command advertise {{advertised_port}}, or leave these faults out",
        network_faults.join(","),
        listed(&advertised),
        listed(proxied)
    )))
}

/// Runs a storm; `own_binary` is the kafka-fuzz executable, for the
/// reference cluster's default launch command.
pub fn run(options: &StormOptions, own_binary: &Path) -> Result<StormOutcome, StormError> {
    options.check()?;
    let seed = options.seed.unwrap_or_else(|| wall_clock_ms().unsigned_abs());
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|e| StormError::Io(format!("cannot create {}: {e}", out.display())))?;
    let resolved = StormOptions {
        seed: Some(seed),
        ..options.clone()
    };
    let options_json = serde_json::to_string_pretty(&resolved).map_err(|e| StormError::Io(e.to_string()))?;
    std::fs::write(out.join("options.json"), options_json)
        .map_err(|e| StormError::Io(format!("cannot write {}: {e}", out.join("options.json").display())))?;
    let status = StatusLine::new();

    let Servers {
        owned: servers,
        addresses,
        description,
    } = start_or_attach(options, own_binary, &status)?;
    let topics = create_topics(options, &addresses, seed)?;
    if let Some(servers) = &servers {
        let proxied = servers.lock().unwrap_or_else(|p| p.into_inner()).addresses()?;
        clients_go_through(options, &addresses, &proxied)?;
    }
    let nodes = addresses.ids().len();
    status.show(
        &format!(
            "storm: {nodes} node(s), topics {} ({} partitions, {} replicas), {} clients, {} s, seed {seed}",
            listed(&topics.names),
            topics.partitions,
            topics.replicas,
            options.clients,
            options.time
        ),
        true,
    );

    let started = Instant::now();
    let origin_ms = wall_clock_ms();
    let cpu_before = watchdog::own_cpu_seconds();
    let state = Arc::new(RunState::default());
    let fault_state = Arc::new(FaultState::default());
    // Bounded: clients wait when the checker falls behind, rather than
    // their answers piling up in memory.
    let (sender, receiver) = sync_channel::<Message>(CHECKER_BACKLOG);
    let mut threads = Vec::new();
    for index in 0..usize::from(options.clients) {
        let workload = Workload::new(index, seed, topics.clone());
        let (addresses, state, sender) = (addresses.clone(), state.clone(), sender.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("storm-c{index}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    client_thread(index, workload, addresses, &state, started, |done| {
                        sender.send(Message::Completed(Box::new(done))).is_ok()
                    });
                })
                .map_err(|e| StormError::Setup(format!("cannot start client thread {index}: {e}")))?,
        );
    }
    let fault_thread = servers.clone().map(|servers| {
        let schedule = FaultSchedule {
            kinds: options.fault_kinds(),
            interval: Duration::from_secs_f64(options.fault_interval),
            seed,
        };
        let (state, fault_state, sender) = (state.clone(), fault_state.clone(), sender.clone());
        std::thread::spawn(move || {
            schedule.run(&servers, &state, &fault_state, started, |notice| {
                let _ = sender.send(Message::Fault(notice));
            })
        })
    });
    drop(sender);

    let mut run = RunLoop {
        options,
        started,
        state: &state,
        fault_state: &fault_state,
        servers: servers.as_deref(),
        checker: StormChecker::default(),
        history: HistoryWriter::create(&out.join("history.jsonl"))?,
        tally: Tally::default(),
        faults: Vec::new(),
        findings: Vec::new(),
        findings_not_kept: 0,
        deleted: BTreeSet::new(),
        peak_rss_mb: 0,
        server_cpu: BTreeMap::new(),
        server_cpu_seconds: 0.0,
        unchecked_until_ms: 0,
        topics: &topics,
        addresses: &addresses,
        status: &status,
    };
    run.until_done(&receiver)?;
    for thread in threads {
        let _ = thread.join();
    }
    if let Some(thread) = fault_thread {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => run.finding("fault", error.to_string(), None, Vec::new()),
            Err(_) => run.finding(
                "fault",
                "the fault schedule's thread panicked".to_owned(),
                None,
                Vec::new(),
            ),
        }
    }
    // What the channel still held once every thread ended.
    while let Ok(message) = receiver.try_recv() {
        run.message(message)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let storm_cpu_percent = (watchdog::own_cpu_seconds() - cpu_before) / seconds * 100.0;

    let final_counts = if state.abandon.load(Ordering::Relaxed) {
        None
    } else {
        status.show("storm: every fault healed; waiting for metadata to converge", true);
        if let Err(disagreement) = readback::metadata_converged(&addresses, &run.deleted) {
            run.finding("violation", disagreement, None, Vec::new());
        }
        status.show("storm: reading every partition from its start", true);
        match readback::final_read(&addresses, &mut run.checker, &run.deleted) {
            Ok(logs) => match run.checker.check_final(&logs, origin_ms) {
                Ok(count) => {
                    let records = logs.values().map(Vec::len).sum();
                    Some(FinalCounts::new(&count, logs.len(), records))
                }
                Err(violation) => {
                    run.finding("violation", violation.detail, None, Vec::new());
                    None
                }
            },
            Err(why) => {
                run.finding("final-read", why, None, Vec::new());
                None
            }
        }
    };
    let RunLoop {
        history,
        tally,
        faults,
        findings,
        findings_not_kept,
        peak_rss_mb,
        server_cpu_seconds,
        ..
    } = run;
    history.finish()?;
    let report = StormReport {
        seed,
        servers: description,
        nodes,
        clients: options.clients,
        seconds,
        operations: state.completed.load(Ordering::Relaxed),
        operations_per_second: state.completed.load(Ordering::Relaxed) as f64 / seconds,
        kinds: tally.kinds(),
        throughput: tally.throughput(),
        faults,
        findings,
        findings_not_kept,
        final_read: final_counts,
        storm_cpu_percent,
        servers_peak_rss_mb: peak_rss_mb,
        servers_cpu_percent: server_cpu_seconds / seconds * 100.0,
    };
    report.write(out)?;
    tally.plot(out, &report.faults, seconds)?;
    status.show(
        &format!(
            "storm: {} operations in {seconds:.0} s ({:.0}/s), {} faults, {} finding(s); report in {}",
            report.operations,
            report.operations_per_second,
            report.faults.len(),
            report.findings.len() + report.findings_not_kept,
            out.join("report.md").display()
        ),
        true,
    );
    Ok(StormOutcome { report })
}

/// The main thread's part: the checker, the history, the watchdog and the
/// progress line, until every client stopped.
struct RunLoop<'a> {
    options: &'a StormOptions,
    started: Instant,
    state: &'a RunState,
    fault_state: &'a FaultState,
    servers: Option<&'a Mutex<LaunchedServers>>,
    checker: StormChecker,
    history: HistoryWriter,
    tally: Tally,
    faults: Vec<HistoryEvent>,
    findings: Vec<Finding>,
    findings_not_kept: usize,
    deleted: BTreeSet<StrBytes>,
    peak_rss_mb: u64,
    /// CPU seconds each server process used when last looked at, and the
    /// servers' total so far (a killed process's last look counts).
    server_cpu: BTreeMap<u32, f64>,
    server_cpu_seconds: f64,
    /// With `--volatile`: operations invoked before this (the end of the
    /// last kill) may have been answered by the server that was killed.
    unchecked_until_ms: u64,
    topics: &'a Topics,
    addresses: &'a NodeAddresses,
    status: &'a StatusLine,
}

impl RunLoop<'_> {
    fn pids(&self) -> Vec<(NodeId, u32)> {
        self.servers
            .map(|servers| servers.lock().unwrap_or_else(|p| p.into_inner()).pids())
            .unwrap_or_default()
    }

    fn finding(
        &mut self,
        kind: &str,
        detail: String,
        operation: Option<HistoryEvent>,
        processes: Vec<watchdog::ProcessSample>,
    ) {
        let at_ms = elapsed_ms(self.started);
        if self.findings.len() < MAX_FINDINGS {
            let at = at_ms as f64 / 1000.0;
            self.status
                .show(&format!("storm: {kind} finding at {at:.1} s: {detail}"), true);
        }
        let _ = self.history.write(&HistoryEvent::Finding {
            kind: kind.to_owned(),
            at_ms,
            detail: detail.clone(),
        });
        if self.findings.len() >= MAX_FINDINGS {
            self.findings_not_kept += 1;
            return;
        }
        self.findings.push(Finding {
            kind: kind.to_owned(),
            at_ms,
            detail,
            operation,
            processes,
        });
    }

    fn message(&mut self, message: Message) -> Result<(), StormError> {
        match message {
            // A server that keeps nothing across a kill (--volatile) starts
            // afresh: from the kill on, everything known is forgotten, and
            // only operations invoked once it is back are checked.
            Message::Fault(FaultNotice::Starting(FaultKind::Kill)) if self.options.volatile => {
                self.checker.forget_all();
                self.unchecked_until_ms = u64::MAX;
            }
            Message::Fault(FaultNotice::Starting(_)) => {}
            Message::Fault(FaultNotice::Ended(event)) => {
                self.history.write(&event)?;
                if let HistoryEvent::Fault { kind, ended_ms, .. } = &event
                    && self.options.volatile
                    && kind == FaultKind::Kill.name()
                {
                    self.unchecked_until_ms = *ended_ms;
                    if let Err(error) = workload::ensure_topics(self.topics, self.addresses) {
                        self.finding("setup", error.to_string(), None, Vec::new());
                    }
                }
                self.faults.push(event);
            }
            Message::Completed(done) => {
                self.history.write(&done.history)?;
                self.tally.operation(&done.history);
                if let ClientTask::DeleteTopic { topic } = &done.task {
                    self.deleted.insert(topic.clone());
                    self.checker.deleted(topic);
                }
                let bad = done.events.iter().find_map(|e| match e {
                    ClientEvent::BadResponse(detail) => Some(detail.clone()),
                    _ => None,
                });
                if let Some(detail) = bad {
                    self.finding("bad-response", detail, Some(done.history.clone()), Vec::new());
                }
                let invoked_ms = match &done.history {
                    HistoryEvent::Operation { invoked_ms, .. } => *invoked_ms,
                    _ => 0,
                };
                if self.options.volatile && invoked_ms <= self.unchecked_until_ms {
                    return Ok(());
                }
                if let Err(violation) = self.checker.operation(done.client, &done.events) {
                    self.finding("violation", violation.detail, Some(done.history), Vec::new());
                }
            }
        }
        Ok(())
    }

    /// No operation completed for `--stall` seconds while some wait, and
    /// no fault is on or just ended.
    fn stalled(&self) -> bool {
        let now = elapsed_ms(self.started);
        let stall_ms = (self.options.stall * 1000.0) as u64;
        let last = self
            .state
            .last_completion_ms
            .load(Ordering::Relaxed)
            .max(self.fault_state.last_ended_ms.load(Ordering::Relaxed));
        self.state.outstanding.load(Ordering::Relaxed) > 0
            && !self.fault_state.active.load(Ordering::Relaxed)
            && now.saturating_sub(last) > stall_ms
    }

    /// Once a second: the watchdog, memory, dead nodes, the status line.
    fn watch(&mut self) {
        let pids = self.pids();
        for &(_, pid) in &pids {
            self.peak_rss_mb = self.peak_rss_mb.max(watchdog::rss_mb(pid).unwrap_or(0));
            if let Some(now) = watchdog::cpu_seconds(pid) {
                let before = self.server_cpu.insert(pid, now).unwrap_or(0.0);
                self.server_cpu_seconds += (now - before).max(0.0);
            }
        }
        if self.peak_rss_mb > self.options.rss_limit_mb && !self.findings.iter().any(|f| f.kind == "leak") {
            let detail = format!(
                "a server's resident memory reached {} MiB, past --rss-limit-mb {}",
                self.peak_rss_mb, self.options.rss_limit_mb
            );
            self.finding("leak", detail, None, Vec::new());
        }
        let exited = self
            .servers
            .map(|servers| servers.lock().unwrap_or_else(|p| p.into_inner()).exited())
            .unwrap_or_default();
        for (node, status) in exited {
            self.finding(
                "died",
                format!("node {node} exited on its own ({status})"),
                None,
                Vec::new(),
            );
            self.stop(true);
        }
        if !self.state.abandon.load(Ordering::Relaxed) && self.stalled() {
            let outstanding = self.state.outstanding.load(Ordering::Relaxed);
            let samples = watchdog::sample(&pids);
            let detail = format!(
                "no operation completed for {:.0} s while {outstanding} waited, with no fault on: {}",
                self.options.stall,
                watchdog::diagnosis(&samples)
            );
            self.finding("stall", detail, None, samples);
            self.stop(true);
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        self.status.show(
            &format!(
                "storm: {elapsed:.0}/{:.0} s, {} operations, {} outstanding, {} faults, {} findings{}",
                self.options.time,
                self.state.completed.load(Ordering::Relaxed),
                self.state.outstanding.load(Ordering::Relaxed),
                self.faults.len(),
                self.findings.len(),
                if self.fault_state.active.load(Ordering::Relaxed) {
                    ", a fault on"
                } else {
                    ""
                }
            ),
            false,
        );
    }

    fn stop(&self, abandon: bool) {
        self.state.stop.store(true, Ordering::Relaxed);
        if abandon {
            self.state.abandon.store(true, Ordering::Relaxed);
        }
    }

    fn until_done(&mut self, receiver: &Receiver<Message>) -> Result<(), StormError> {
        let mut last_watch = Instant::now();
        loop {
            match receiver.recv_timeout(Duration::from_millis(100)) {
                Ok(message) => self.message(message)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if self.started.elapsed().as_secs_f64() >= self.options.time {
                self.stop(false);
            }
            if last_watch.elapsed() >= Duration::from_secs(1) {
                last_watch = Instant::now();
                self.watch();
            }
        }
    }
}
