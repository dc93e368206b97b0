//! An attack campaign: cases played against one server until a budget runs
//! out, each followed by a probe; every distinct fault saved as a session
//! file, and a report a person reads.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::AttackError;
use super::case::{AttackCase, CaseGenerator};
use super::remote::{Fault, FaultKind, RemoteServer};
use crate::triage::signature::normalize_message;

/// When a campaign stops: the first limit reached (neither: never, until
/// a fault leaves the server unusable).
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    pub time: Option<Duration>,
    pub cases: Option<u64>,
}

/// Where the campaign stands, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub cases: u64,
    pub findings: usize,
    pub elapsed: Duration,
}

/// A distinct fault and the case that shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    #[serde(flatten)]
    pub fault: Fault,
    /// The case's number: with the same `--seed` and corpus, the same case.
    pub case: u64,
    pub origin: String,
    /// The session file: `kafka-fuzz replay --addr HOST:PORT FILE`.
    pub file: PathBuf,
    /// Later cases that showed the same fault.
    pub repeats: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AttackSummary {
    pub addr: String,
    pub seed: u64,
    /// The corpus the mutated cases came from (none: generated only).
    pub corpus: Option<PathBuf>,
    pub corpus_streams: usize,
    pub cases: u64,
    pub requests: u64,
    pub answered: u64,
    pub closed_by_server: u64,
    pub abandoned_waits: u64,
    pub elapsed_secs: f64,
    pub findings: Vec<Finding>,
    /// Why the campaign stopped before its budget, if it did.
    pub stopped: Option<String>,
}

/// Plays cases of `generator` against `server` until `budget` runs out or
/// a fault leaves the server unusable, saving each distinct fault's case
/// under `out`. `progress` is called after every case.
pub fn run_attack(
    server: &RemoteServer,
    generator: &CaseGenerator,
    seed: u64,
    budget: Budget,
    out: &Path,
    mut progress: impl FnMut(Progress),
) -> Result<AttackSummary, AttackError> {
    match server.probe() {
        // Slow to take its first connection (a cold start), then serving.
        Ok(()) => {}
        Err(fault) if fault.kind == FaultKind::Hung => {}
        Err(fault) => {
            return Err(AttackError::NotServing {
                addr: server.addr,
                detail: fault.detail,
            });
        }
    }
    let started = Instant::now();
    let mut summary = AttackSummary {
        addr: server.addr.to_string(),
        seed,
        corpus: generator.corpus_root().map(Path::to_owned),
        corpus_streams: generator.corpus_len(),
        ..AttackSummary::default()
    };
    let spent = |summary: &AttackSummary| {
        budget.cases.is_some_and(|cases| summary.cases >= cases)
            || budget.time.is_some_and(|time| started.elapsed() >= time)
    };
    while !spent(&summary) {
        let index = summary.cases;
        let case = generator.case(index);
        let outcome = server.play(&case, None);
        summary.cases += 1;
        summary.requests += outcome.sent as u64;
        summary.answered += outcome.answered as u64;
        summary.closed_by_server += u64::from(outcome.closed_by_server);
        summary.abandoned_waits += u64::from(outcome.abandoned_wait);
        if let Some(fault) = outcome.fault {
            let usable = fault.kind.server_usable();
            record(&mut summary, fault, index, &case, out)?;
            if !usable {
                summary.stopped = Some(format!(
                    "case {index} left the server {}",
                    summary.findings.last().map_or("", |f| f.fault.kind.name())
                ));
                break;
            }
        }
        summary.elapsed_secs = started.elapsed().as_secs_f64();
        progress(Progress {
            cases: summary.cases,
            findings: summary.findings.len(),
            elapsed: started.elapsed(),
        });
    }
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    write_report(&summary, out)?;
    Ok(summary)
}

/// Saves a new fault's case, or counts a repeat of a known one (same kind,
/// same message once numbers are set aside).
fn record(
    summary: &mut AttackSummary,
    fault: Fault,
    case: u64,
    attack: &AttackCase,
    out: &Path,
) -> Result<(), AttackError> {
    let key = |fault: &Fault| (fault.kind, normalize_message(&fault.detail));
    if let Some(known) = summary.findings.iter_mut().find(|f| key(&f.fault) == key(&fault)) {
        known.repeats += 1;
        return Ok(());
    }
    let stream = attack.to_stream();
    let digest = sha1_smol::Sha1::from(&stream).digest().to_string();
    let file = out.join(format!("{}-{}", fault.kind.name(), &digest[..12]));
    write(&file, &stream)?;
    summary.findings.push(Finding {
        fault,
        case,
        origin: attack.origin.clone(),
        file,
        repeats: 0,
    });
    Ok(())
}

fn write(path: &Path, contents: &[u8]) -> Result<(), AttackError> {
    let io = |source| AttackError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)
}

/// The reports beside the session files: a person's and a program's.
pub const REPORT_FILES: [&str; 2] = ["report.md", "report.json"];

fn write_report(summary: &AttackSummary, out: &Path) -> Result<(), AttackError> {
    let [markdown, json] = REPORT_FILES;
    write(&out.join(markdown), summary.to_string().as_bytes())?;
    let report = serde_json::to_vec_pretty(summary).expect("an attack summary serializes");
    write(&out.join(json), &report)
}

impl AttackSummary {
    pub fn cases_per_second(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.cases as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }

    /// The command that plays this campaign's cases again.
    fn rerun_command(&self) -> String {
        let remote = self
            .addr
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|addr| !addr.ip().is_loopback());
        format!(
            "kafka-fuzz attack --addr {}{} --seed {}{}",
            self.addr,
            if remote { " --allow-remote" } else { "" },
            self.seed,
            match &self.corpus {
                Some(dir) => format!(" --corpus {}", dir.display()),
                None => " --no-corpus".into(),
            }
        )
    }

    /// One line: what ran and what it found.
    pub fn line(&self) -> String {
        format!(
            "{} cases ({:.0}/s), {} requests, {} answered, {} connections closed by the server, {} distinct faults",
            self.cases,
            self.cases_per_second(),
            self.requests,
            self.answered,
            self.closed_by_server,
            self.findings.len()
        )
    }
}

impl fmt::Display for AttackSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "# kafka-fuzz attack on {}\n", self.addr)?;
        writeln!(
            f,
            "Seed {} ({} corpus streams), {:.1} s. `{}` plays the same cases.\n",
            self.seed,
            self.corpus_streams,
            self.elapsed_secs,
            self.rerun_command(),
        )?;
        writeln!(
            f,
            "| cases | cases/s | requests | answered | closed by server | waits abandoned | faults |"
        )?;
        writeln!(f, "|---:|---:|---:|---:|---:|---:|---:|")?;
        writeln!(
            f,
            "| {} | {:.0} | {} | {} | {} | {} | {} |",
            self.cases,
            self.cases_per_second(),
            self.requests,
            self.answered,
            self.closed_by_server,
            self.abandoned_waits,
            self.findings.len()
        )?;
        if let Some(stopped) = &self.stopped {
            writeln!(f, "\nStopped early: {stopped}.")?;
        }
        if self.findings.is_empty() {
            return writeln!(f, "\nNo faults.");
        }
        writeln!(f, "\n| fault | case | repeats | from | session file | what |")?;
        writeln!(f, "|---|---:|---:|---|---|---|")?;
        for finding in &self.findings {
            writeln!(
                f,
                "| {} | {} | {} | {} | `{}` | {} |",
                finding.fault.kind.name(),
                finding.case,
                finding.repeats,
                finding.origin.replace('|', "\\|"),
                finding.file.display(),
                finding.fault.detail.replace('|', "\\|").replace('\n', " ")
            )?;
        }
        writeln!(f, "\nReplay one: `kafka-fuzz replay --addr {} FILE`.", self.addr)
    }
}
