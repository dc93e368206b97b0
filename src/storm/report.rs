//! The storm's report: findings with the operations and stacks, the fault
//! timeline, operations per kind with latency percentiles, throughput, the
//! final read's counts and storm's own cost, as `report.json` and
//! `report.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::StormError;
use super::history::HistoryEvent;
use super::plots::{self, Point};
use super::watchdog::ProcessSample;
use crate::harness::oracle::model::FinalCount;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// violation, stall, leak, died, bad-response, final-read
    pub kind: String,
    pub at_ms: u64,
    pub detail: String,
    /// The operation (history line) it concerns, if one.
    pub operation: Option<HistoryEvent>,
    /// For a stall: each server process sampled.
    pub processes: Vec<ProcessSample>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KindStats {
    pub operations: u64,
    /// Ended with success (a record written, records read, a topic made).
    pub succeeded: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FinalCounts {
    pub acknowledged_acks_all: usize,
    pub acknowledged_acks_one: usize,
    pub lost_acks_one: usize,
    pub duplicated_plain: usize,
    pub partitions_read: usize,
    pub records_read: usize,
}

impl FinalCounts {
    pub fn new(count: &FinalCount, partitions_read: usize, records_read: usize) -> Self {
        Self {
            acknowledged_acks_all: count.acknowledged_acks_all,
            acknowledged_acks_one: count.acknowledged_acks_one,
            lost_acks_one: count.lost_acks_one,
            duplicated_plain: count.duplicated_plain,
            partitions_read,
            records_read,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    pub seed: u64,
    pub servers: String,
    pub nodes: usize,
    pub clients: u16,
    pub seconds: f64,
    pub operations: u64,
    pub operations_per_second: f64,
    pub kinds: BTreeMap<String, KindStats>,
    /// Operations completed in each second of the run.
    pub throughput: Vec<u64>,
    pub faults: Vec<HistoryEvent>,
    pub findings: Vec<Finding>,
    /// Findings past the first twenty: in the history only.
    pub findings_not_kept: usize,
    pub final_read: Option<FinalCounts>,
    /// Storm's own CPU over the run, in percent of one core, and the
    /// servers' peak resident memory.
    pub storm_cpu_percent: f64,
    pub servers_peak_rss_mb: u64,
    /// The server processes' CPU over the run (all of them; storm started
    /// them), in percent of one core.
    pub servers_cpu_percent: f64,
}

/// Latency statistics of operations, by kind.
#[derive(Debug, Default)]
pub struct Tally {
    latencies: BTreeMap<String, Vec<u64>>,
    points: Vec<Point>,
    succeeded: BTreeMap<String, u64>,
    per_second: Vec<u64>,
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) * p) / 100]
}

impl Tally {
    pub fn operation(&mut self, event: &HistoryEvent) {
        let HistoryEvent::Operation {
            kind,
            invoked_ms,
            completed_ms,
            outcome,
            ..
        } = event
        else {
            return;
        };
        let latency_ms = completed_ms.saturating_sub(*invoked_ms);
        self.latencies.entry(kind.clone()).or_default().push(latency_ms);
        self.points.push(Point {
            completed_ms: *completed_ms,
            latency_ms,
            kind: plots::kind_index(kind),
        });
        let success = outcome.starts_with("offset ")
            || outcome.contains(" records, high watermark ")
            || matches!(
                outcome.as_str(),
                "created" | "deleted" | "grown" | "done" | "sent with acks=0"
            );
        if success {
            *self.succeeded.entry(kind.clone()).or_default() += 1;
        }
        let second = usize::try_from(completed_ms / 1000).unwrap_or(usize::MAX);
        if second < 1 << 20 {
            if self.per_second.len() <= second {
                self.per_second.resize(second + 1, 0);
            }
            self.per_second[second] += 1;
        }
    }

    pub fn kinds(&self) -> BTreeMap<String, KindStats> {
        self.latencies
            .iter()
            .map(|(kind, latencies)| {
                let mut sorted = latencies.clone();
                sorted.sort_unstable();
                let stats = KindStats {
                    operations: sorted.len() as u64,
                    succeeded: self.succeeded.get(kind).copied().unwrap_or(0),
                    p50_ms: percentile(&sorted, 50),
                    p95_ms: percentile(&sorted, 95),
                    p99_ms: percentile(&sorted, 99),
                    max_ms: sorted.last().copied().unwrap_or(0),
                };
                (kind.clone(), stats)
            })
            .collect()
    }

    pub fn throughput(&self) -> Vec<u64> {
        self.per_second.clone()
    }

    /// `latency.svg` and `throughput.svg` in `out`.
    pub fn plot(&self, out: &Path, faults: &[HistoryEvent], seconds: f64) -> Result<(), StormError> {
        plots::latency(&out.join("latency.svg"), &self.points, faults, seconds)?;
        plots::throughput(&out.join("throughput.svg"), &self.per_second, faults)
    }
}

impl StormReport {
    pub fn write(&self, out: &Path) -> Result<(), StormError> {
        let json = serde_json::to_string_pretty(self).map_err(|e| StormError::Io(format!("report.json: {e}")))?;
        let write = |name: &str, text: &str| {
            let path = out.join(name);
            std::fs::write(&path, text).map_err(|e| StormError::Io(format!("cannot write {}: {e}", path.display())))
        };
        write("report.json", &json)?;
        write("report.md", &self.markdown())
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Storm report\n");
        let _ = writeln!(
            md,
            "{} against {} ({} node{}), {} clients, {:.0} s, seed {}.\n",
            if self.findings.is_empty() {
                "No finding"
            } else {
                "FINDINGS"
            },
            self.servers,
            self.nodes,
            if self.nodes == 1 { "" } else { "s" },
            self.clients,
            self.seconds,
            self.seed
        );
        let _ = writeln!(
            md,
            "{} operations, {:.0} a second; storm's own CPU {:.0} % of a core, the servers' {:.0} %; \
             the servers' peak resident memory {} MiB.\n",
            self.operations,
            self.operations_per_second,
            self.storm_cpu_percent,
            self.servers_cpu_percent,
            self.servers_peak_rss_mb
        );
        let _ = writeln!(md, "## Findings\n");
        if self.findings.is_empty() {
            let _ = writeln!(md, "None.\n");
        }
        for (index, finding) in self.findings.iter().enumerate() {
            let _ = writeln!(
                md,
                "### {}. {} at {:.1} s\n\n{}\n",
                index + 1,
                finding.kind,
                finding.at_ms as f64 / 1000.0,
                finding.detail
            );
            if let Some(operation) = &finding.operation {
                let line = serde_json::to_string(operation).unwrap_or_default();
                let _ = writeln!(md, "The operation:\n\n```json\n{line}\n```\n");
            }
            for process in &finding.processes {
                let _ = writeln!(
                    md,
                    "Node {} (pid {}): {:.1} % CPU, {} threads, {} MiB resident. Stacks:\n\n```\n{}\n```\n",
                    process.node,
                    process.pid,
                    process.cpu_percent,
                    process.threads,
                    process.rss_mb,
                    process.stacks.trim()
                );
            }
        }
        if self.findings_not_kept > 0 {
            let _ = writeln!(
                md,
                "And {} more findings, in history.jsonl (`\"event\":\"finding\"`).\n",
                self.findings_not_kept
            );
        }
        let _ = writeln!(md, "## Operations\n");
        let _ = writeln!(
            md,
            "| kind | operations | succeeded | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        for (kind, stats) in &self.kinds {
            let _ = writeln!(
                md,
                "| {kind} | {} | {} | {} | {} | {} | {} |",
                stats.operations, stats.succeeded, stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms
            );
        }
        let _ = writeln!(md, "\n## Faults\n");
        if self.faults.is_empty() {
            let _ = writeln!(md, "None.");
        } else {
            let _ = writeln!(
                md,
                "| fault | node | how much | from s | to s |\n|---|---:|---|---:|---:|"
            );
        }
        for fault in &self.faults {
            if let HistoryEvent::Fault {
                kind,
                node,
                detail,
                started_ms,
                ended_ms,
            } = fault
            {
                let _ = writeln!(
                    md,
                    "| {kind} | {node} | {detail} | {:.1} | {:.1} |",
                    *started_ms as f64 / 1000.0,
                    *ended_ms as f64 / 1000.0
                );
            }
        }
        let _ = writeln!(md, "\n## The final read\n");
        match &self.final_read {
            Some(counts) => {
                let _ = writeln!(
                    md,
                    "Once every fault healed, {} partitions read from their start: {} records. \
                     Acknowledged: {} with acks=all (every one found at its offset), {} with acks=1 \
                     ({} lost on a leader change, as Kafka allows); {} records of plain producers written \
                     twice by a retry (Kafka allows it; never an idempotent producer's).",
                    counts.partitions_read,
                    counts.records_read,
                    counts.acknowledged_acks_all,
                    counts.acknowledged_acks_one,
                    counts.lost_acks_one,
                    counts.duplicated_plain
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "Not done: the run ended on a finding that leaves the servers unusable."
                );
            }
        }
        let _ = writeln!(md, "\n## Over time\n");
        let _ = writeln!(md, "![latency of each operation](latency.svg)\n");
        let _ = writeln!(md, "![operations each second](throughput.svg)\n");
        let _ = writeln!(
            md,
            "Operations each second: {}",
            self.throughput.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
        );
        md
    }
}
