//! The history of a storm: every operation a client invoked, with its
//! invocation and completion times, what it asked and what it was told, and
//! every fault, as JSON lines (`history.jsonl`), as Jepsen keeps them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StormError;
use crate::harness::target::NodeId;

/// What one operation was told, beyond its outcome line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Told {
    /// A record written at `offset`.
    Acknowledged {
        topic: String,
        partition: i32,
        offset: i64,
        value: String,
        acks: i16,
        idempotent: bool,
    },
    /// A fetch served `records` offsets from `first` (none: `first` is -1).
    Fetched {
        node: NodeId,
        topic: String,
        partition: i32,
        fetch_offset: i64,
        leader_epoch: i32,
        high_watermark: i64,
        first: i64,
        records: usize,
    },
    /// A metadata answer from `node`: partitions and their leaders.
    Leaders {
        node: NodeId,
        partitions: usize,
    },
    /// An error the client retried after.
    Retry {
        reason: String,
    },
    TimedOut {
        node: NodeId,
    },
    /// An answer no Kafka client can read.
    BadResponse {
        detail: String,
    },
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum HistoryEvent {
    /// A client's operation, from invocation to completion.
    Operation {
        client: usize,
        /// The operation's kind: produce, fetch, metadata, create-topic, ...
        kind: String,
        /// What was asked.
        task: String,
        /// Milliseconds since the run began.
        invoked_ms: u64,
        completed_ms: u64,
        /// How it ended.
        outcome: String,
        told: Vec<Told>,
    },
    /// A fault storm injected, from its start to its end.
    Fault {
        kind: String,
        node: NodeId,
        /// How much: a clock's offset, a link's delay.
        detail: String,
        started_ms: u64,
        ended_ms: u64,
    },
    /// A finding, as the checker or the watchdog reported it.
    Finding { kind: String, at_ms: u64, detail: String },
}

impl HistoryEvent {
    /// When it ended, for ordering.
    pub fn completed_ms(&self) -> u64 {
        match self {
            Self::Operation { completed_ms, .. } => *completed_ms,
            Self::Fault { ended_ms, .. } => *ended_ms,
            Self::Finding { at_ms, .. } => *at_ms,
        }
    }
}

/// `history.jsonl`, written as the run goes.
pub struct HistoryWriter {
    out: BufWriter<File>,
    path: String,
}

impl HistoryWriter {
    pub fn create(path: &Path) -> Result<Self, StormError> {
        let file = File::create(path).map_err(|e| StormError::Io(format!("cannot write {}: {e}", path.display())))?;
        Ok(Self {
            out: BufWriter::new(file),
            path: path.display().to_string(),
        })
    }

    pub fn write(&mut self, event: &HistoryEvent) -> Result<(), StormError> {
        let line = serde_json::to_string(event).map_err(|e| StormError::Io(format!("{}: {e}", self.path)))?;
        writeln!(self.out, "{line}").map_err(|e| StormError::Io(format!("cannot write {}: {e}", self.path)))
    }

    pub fn finish(mut self) -> Result<(), StormError> {
        self.out
            .flush()
            .map_err(|e| StormError::Io(format!("cannot write {}: {e}", self.path)))
    }
}

/// Reads a history back (for the report and for tests).
pub fn read_history(path: &Path) -> Result<Vec<HistoryEvent>, StormError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| StormError::Io(format!("cannot read {}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str(line)
                .map_err(|e| StormError::Io(format!("{} line {}: {e}", path.display(), number + 1)))
        })
        .collect()
}
