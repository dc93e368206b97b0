//! `TriageReport`: what a triage found, as `report.json` (a stable,
//! versioned schema: fields are only ever added) and `report.md` for a
//! person: one row per distinct bug, then each bug's details.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TriageError;
use super::classify::CrashKind;

/// Bumped only when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriageReport {
    pub schema_version: u32,
    pub kafka_fuzz_version: String,
    pub target: String,
    /// The reproducer's command, without the input.
    pub reproducer: String,
    /// Artifacts looked at, skipped ones included.
    pub artifacts: usize,
    /// Distinct bugs, new ones first, then by how many artifacts show them.
    pub bugs: Vec<Bug>,
    /// Artifacts that ran cleanly.
    pub not_reproduced: Vec<String>,
    /// Artifacts that could not be run.
    pub skipped: Vec<SkippedArtifact>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BugStatus {
    New,
    /// Matches an entry of a known-issues list.
    Known,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bug {
    /// The signature's hash: the promoted regression's file name.
    pub id: String,
    pub status: BugStatus,
    /// The known issue's id, upstream link and note.
    pub known_issue: Option<KnownIssueRef>,
    pub kind: CrashKind,
    /// As printed by the smallest artifact.
    pub message: String,
    /// `kind: normalized message | frame > frame > frame`.
    pub signature: String,
    /// The innermost function in code under test.
    pub function: Option<String>,
    /// `file:line:col` of the panic, else of that function's frame.
    pub location: Option<String>,
    pub artifact_count: usize,
    pub artifacts: Vec<String>,
    /// Size of the smallest artifact, where minimizing started.
    pub original_size: usize,
    pub minimized_size: usize,
    /// The minimized input, under the report's directory.
    pub minimized_input: String,
    /// The minimized input gives the same signature.
    pub minimized_reproduces: bool,
    /// How it was minimized, and the runs spent.
    pub minimization: String,
    /// Paste this to see the crash.
    pub reproduce: String,
    /// Where `--promote` filed it, and whether it was already there.
    pub regression: Option<Regression>,
    /// The output from the failure on.
    pub backtrace_excerpt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownIssueRef {
    pub id: String,
    pub upstream: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regression {
    pub path: String,
    pub added: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedArtifact {
    pub path: String,
    pub reason: String,
}

impl TriageReport {
    pub fn new_bugs(&self) -> usize {
        self.bugs.iter().filter(|bug| bug.status == BugStatus::New).count()
    }

    /// Writes `report.json` and `report.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), TriageError> {
        let io = |what: String| move |source| TriageError::Io { what, source };
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let json = serde_json::to_string_pretty(self).expect("a report serializes");
        let json_path = dir.join("report.json");
        std::fs::write(&json_path, json + "\n").map_err(io(format!("cannot write {}", json_path.display())))?;
        let md_path = dir.join("report.md");
        std::fs::write(&md_path, self.markdown()).map_err(io(format!("cannot write {}", md_path.display())))?;
        Ok(())
    }

    /// One line of counts: for progress output and scripts.
    pub fn summary(&self) -> String {
        let known = self.bugs.len() - self.new_bugs();
        format!(
            "{} artifacts: {} distinct bugs ({} new, {known} known), {} did not reproduce, {} skipped",
            self.artifacts,
            self.bugs.len(),
            self.new_bugs(),
            self.not_reproduced.len(),
            self.skipped.len()
        )
    }

    /// The bug table alone (what `scripts/fuzz.sh` prints).
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| # | bug | status | kind | message | location | artifacts | size → minimized |\n\
             |---|-----|--------|------|---------|----------|-----------|------------------|\n",
        );
        for (n, bug) in self.bugs.iter().enumerate() {
            let status = match &bug.known_issue {
                Some(known) => format!("known: [{}]({})", known.id, known.upstream),
                None => "**new**".to_owned(),
            };
            let location = bug.location.as_deref().or(bug.function.as_deref()).unwrap_or("?");
            let _ = writeln!(
                out,
                "| {} | `{}` | {status} | {} | {} | `{}` | {} | {} → {}{} |",
                n + 1,
                bug.id,
                bug.kind,
                cell(&bug.message),
                cell(location),
                bug.artifact_count,
                bug.original_size,
                bug.minimized_size,
                if bug.minimized_reproduces {
                    ""
                } else {
                    " (does not reproduce!)"
                }
            );
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("# Triage of `{}`\n\n{}.\n\n", self.target, self.summary());
        let _ = writeln!(out, "Reproducer: `{}`\n", self.reproducer);
        if !self.bugs.is_empty() {
            out.push_str(&self.table());
        }
        for (n, bug) in self.bugs.iter().enumerate() {
            let _ = write!(
                out,
                "\n## {}. {} `{}`: {}\n\n\
                 - signature: `{}`\n\
                 - function: `{}`\n\
                 - location: `{}`\n\
                 - artifacts: {} (smallest {} bytes), minimized to {} bytes by {}: `{}`\n",
                n + 1,
                bug.kind,
                bug.id,
                bug.message,
                bug.signature,
                bug.function.as_deref().unwrap_or("?"),
                bug.location.as_deref().unwrap_or("?"),
                bug.artifact_count,
                bug.original_size,
                bug.minimized_size,
                bug.minimization,
                bug.minimized_input,
            );
            if let Some(known) = &bug.known_issue {
                let _ = writeln!(out, "- known issue [{}]({}): {}", known.id, known.upstream, known.note);
            }
            if let Some(regression) = &bug.regression {
                let verb = if regression.added { "added as" } else { "already in" };
                let _ = writeln!(out, "- regression: {verb} `{}`", regression.path);
            }
            let _ = write!(
                out,
                "\nReproduce:\n\n```sh\n{}\n```\n\n<details><summary>Output</summary>\n\n```text\n{}\n```\n\n</details>\n",
                bug.reproduce, bug.backtrace_excerpt
            );
            let shown: Vec<&str> = bug.artifacts.iter().take(10).map(String::as_str).collect();
            let more = bug.artifacts.len().saturating_sub(shown.len());
            let _ = write!(out, "\nArtifacts: {}", shown.join(", "));
            let _ = writeln!(
                out,
                "{}",
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
        if !self.not_reproduced.is_empty() {
            let _ = writeln!(out, "\n## Did not reproduce\n");
            for path in &self.not_reproduced {
                let _ = writeln!(out, "- `{path}`");
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "\n## Skipped\n");
            for skipped in &self.skipped {
                let _ = writeln!(out, "- `{}`: {}", skipped.path, skipped.reason);
            }
        }
        out
    }
}

/// Text made safe for one markdown table cell.
fn cell(text: &str) -> String {
    let one_line = text.replace('|', "\\|").replace('\n', " ");
    if one_line.chars().count() > 100 {
        one_line.chars().take(99).collect::<String>() + "…"
    } else {
        one_line
    }
}
