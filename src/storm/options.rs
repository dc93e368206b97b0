//! What `kafka-fuzz storm` is asked to do: the command line, checked before
//! anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StormError;

/// A fault storm injects into processes it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL one node, then start it again on the same port and data
    /// directory: a crash and a recovery.
    Kill,
    /// SIGSTOP one node, then SIGCONT: a long pause (a GC, a VM stall).
    Pause,
    /// Cut one node off from the others (both ways; its clients still
    /// reach it), then heal.
    Partition,
    /// Slow every link to and from one node by 50-500 ms a chunk.
    Delay,
    /// Close every open connection to and from one node, clients' too.
    Reset,
    /// Move one node's wall clock up to ten minutes ahead or back (through
    /// libfaketime), then back to the true time.
    Clock,
    /// No faults.
    None,
}

impl FaultKind {
    /// Whether it acts through the proxies (the servers must advertise
    /// them).
    pub fn needs_proxy(self) -> bool {
        matches!(self, Self::Partition | Self::Delay | Self::Reset)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Pause => "pause",
            Self::Partition => "partition",
            Self::Delay => "delay",
            Self::Reset => "reset",
            Self::Clock => "clock",
            Self::None => "none",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct StormOptions {
    /// Attach to running servers, HOST:PORT (comma-separated): storm then
    /// owns no process and injects no fault.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["launch", "nodes"])]
    pub bootstrap: Vec<SocketAddr>,
    /// Start the servers from this command (run by `sh -c`), once per node,
    /// with {node} (1..N), {port} and {peer_port} (the ports it listens
    /// on), {advertised_port} (the proxy clients reach it through: advertise
    /// it), {peers} (how this node reaches every node, itself as the others
    /// do: ID=127.0.0.1:PORT/127.0.0.1:PEER_PORT, comma-separated) and
    /// {data_dir} replaced [default: the reference cluster, `kafka-fuzz serve
    /// --node-id {node} --peers {peers} --bind 127.0.0.1:{port}/127.0.0.1:{peer_port}
    /// --data-dir {data_dir}`].
    #[arg(long)]
    pub launch: Option<String>,
    /// Nodes to start [default: 3].
    #[arg(long)]
    pub nodes: Option<u16>,
    /// Concurrent clients (threads), each with its own connections.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=2048))]
    pub clients: u16,
    /// Seconds to run the workload for.
    #[arg(long, default_value_t = 60.0)]
    pub time: f64,
    /// The seed of every client's workload and of the fault schedule
    /// [default: from the clock; the report gives it].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Faults to inject, comma-separated (with processes storm started).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kill,pause,partition,delay,reset,clock"
    )]
    pub faults: Vec<FaultKind>,
    /// Seconds between the end of one fault and the start of the next.
    #[arg(long, default_value_t = 5.0)]
    pub fault_interval: f64,
    /// Seconds without a completed operation, while some are outstanding
    /// and no fault explains it, before storm calls it a stall.
    #[arg(long, default_value_t = 10.0)]
    pub stall: f64,
    /// Resident memory of one server process, in MiB, past which a steady
    /// workload's growth is a `leak` finding.
    #[arg(long, default_value_t = 2048)]
    pub rss_limit_mb: u64,
    /// Topics the workload writes and reads (created at the start).
    #[arg(long, default_value_t = 2)]
    pub topics: u16,
    /// Partitions of each of them.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// The servers keep nothing across a kill (memory storage, as Tansu's
    /// `memory://`): after each kill, only what they answer to operations
    /// invoked once they are back is checked, and the final read expects
    /// only what was acknowledged since the last kill.
    #[arg(long)]
    pub volatile: bool,
    /// Allow --bootstrap addresses that are not loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// Where history.jsonl, report.md, report.json and the servers' logs
    /// and data go.
    #[arg(long, default_value = "storm-out")]
    pub out: PathBuf,
}

impl StormOptions {
    /// The nodes storm starts (none when it attaches).
    pub fn node_count(&self) -> u16 {
        if self.bootstrap.is_empty() {
            self.nodes.unwrap_or(3)
        } else {
            0
        }
    }

    /// The faults to inject ("none" alone, or listed once each).
    pub fn fault_kinds(&self) -> Vec<FaultKind> {
        let mut kinds: Vec<FaultKind> = self.faults.iter().copied().filter(|&k| k != FaultKind::None).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// Refuses what cannot run, before anything starts.
    pub fn check(&self) -> Result<(), StormError> {
        let bad = |what: String| Err(StormError::Options(what));
        if !(self.time.is_finite() && self.time > 0.0) {
            return bad(format!("--time {}: a positive number of seconds", self.time));
        }
        if !(self.stall.is_finite() && self.stall >= 1.0) {
            return bad(format!("--stall {}: at least one second", self.stall));
        }
        if !(self.fault_interval.is_finite() && self.fault_interval >= 0.0) {
            return bad(format!(
                "--fault-interval {}: zero or more seconds",
                self.fault_interval
            ));
        }
        if self.topics == 0 || !(1..=64).contains(&self.partitions) {
            return bad("--topics must be at least 1 and --partitions 1 to 64".to_owned());
        }
        if let Some(remote) = self.bootstrap.iter().find(|addr| !addr.ip().is_loopback())
            && !self.allow_remote
        {
            return bad(format!(
                "--bootstrap {remote} is not a loopback address: storm sends a heavy, faulty workload; \
                 pass --allow-remote if that server is yours to test"
            ));
        }
        if !self.bootstrap.is_empty() && !self.fault_kinds().is_empty() {
            return bad(format!(
                "--faults {}: with --bootstrap storm owns no process to signal; pass --faults none, \
                 or --launch so that storm starts the servers",
                self.faults.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
            ));
        }
        if self.nodes == Some(0) {
            return bad("--nodes must be at least 1".to_owned());
        }
        Ok(())
    }
}
