//! Crash triage: from a fuzzer's artifacts to the few distinct bugs behind
//! them, each with a minimized input, a location, a report and (with
//! `promote`) a regression input. Reproduce each artifact in a child process
//! ([`reproduce`]), classify what it printed ([`classify`]), group by
//! [`signature`], minimize one per group ([`minimize`]), label known
//! upstream bugs ([`known`]), write the report ([`report`]).

pub mod classify;
pub mod known;
pub mod minimize;
pub mod progress;
mod promote;
pub mod report;
pub mod reproduce;
pub mod signature;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use classify::{Crash, CrashKind, classify};
use known::KnownIssues;
use minimize::{MinimizeBudget, delta_debug};
use progress::StatusLine;
use report::{Bug, BugStatus, KnownIssueRef, SkippedArtifact, TriageReport};
use reproduce::{Reproducer, ReproducerKind};
use signature::{CrashSignature, own_frames};

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("cannot use {} as the target binary: {source}", path.display())]
    Binary { path: PathBuf, source: std::io::Error },
    #[error("the reproducer `{program}` cannot run: {source}")]
    Reproducer { program: String, source: std::io::Error },
    #[error("known-issues file {}: {reason}", path.display())]
    KnownIssues { path: PathBuf, reason: String },
    #[error("no artifacts to triage among {0}")]
    NoArtifacts(String),
}

/// What a triage run is asked to do.
#[derive(Debug, Clone)]
pub struct TriageOptions {
    pub target: String,
    pub reproducer: Reproducer,
    /// Where `report.json`, `report.md` and `minimized/` go.
    pub out_dir: PathBuf,
    pub known: KnownIssues,
    /// None: report the smallest artifact of each bug as it is.
    pub minimize: Option<MinimizeBudget>,
    /// `corpus/regressions/<target>/` to file minimized inputs in.
    pub promote_to: Option<PathBuf>,
    /// Larger artifacts are skipped.
    pub max_input_size: u64,
    /// Reproducers run at once.
    pub jobs: usize,
}

/// One artifact, read and run.
struct Reproduced {
    path: PathBuf,
    size: usize,
    crash: Option<Crash>,
}

/// Triages every artifact named (files, or every file of directories).
pub fn triage(artifacts: &[PathBuf], options: &TriageOptions) -> Result<TriageReport, TriageError> {
    let status = StatusLine::new();
    let files = crate::corpus::input_files(artifacts).map_err(|source| TriageError::Io {
        what: "cannot list the artifacts".into(),
        source,
    })?;
    if files.is_empty() {
        let named: Vec<String> = artifacts.iter().map(|p| p.display().to_string()).collect();
        return Err(TriageError::NoArtifacts(named.join(", ")));
    }
    let mut skipped = Vec::new();
    let mut runnable = Vec::new();
    for file in files {
        match check_artifact(&file, options.max_input_size) {
            Ok(size) => runnable.push((file, size)),
            Err(reason) => skipped.push(SkippedArtifact {
                path: file.display().to_string(),
                reason,
            }),
        }
    }

    let done = AtomicUsize::new(0);
    let total = runnable.len();
    let runs = parallel_map(&runnable, options.jobs, |(path, size)| {
        let outcome = options.reproducer.run(path);
        let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
        status.show(
            &format!("triage {}: reproduced {finished}/{total}", options.target),
            false,
        );
        outcome.map(|outcome| Reproduced {
            path: path.clone(),
            size: *size,
            crash: classify(&outcome),
        })
    });
    let mut reproduced = Vec::with_capacity(runs.len());
    for run in runs {
        reproduced.push(run.map_err(|source| TriageError::Reproducer {
            program: options.reproducer.program().display().to_string(),
            source,
        })?);
    }

    let mut not_reproduced = Vec::new();
    let mut clusters: BTreeMap<CrashSignature, Vec<Reproduced>> = BTreeMap::new();
    for run in reproduced {
        match &run.crash {
            Some(crash) => clusters.entry(CrashSignature::of(crash)).or_default().push(run),
            None => not_reproduced.push(run.path.display().to_string()),
        }
    }
    status.show(
        &format!(
            "triage {}: {total} artifacts run, {} distinct crashes, {} did not reproduce",
            options.target,
            clusters.len(),
            not_reproduced.len()
        ),
        true,
    );

    let minimized_dir = options.out_dir.join("minimized");
    std::fs::create_dir_all(&minimized_dir).map_err(|source| TriageError::Io {
        what: format!("cannot create {}", minimized_dir.display()),
        source,
    })?;
    let clusters: Vec<(CrashSignature, Vec<Reproduced>)> = clusters.into_iter().collect();
    let minimized = AtomicUsize::new(0);
    let bugs = parallel_map(&clusters, options.jobs, |(signature, members)| {
        let bug = describe_bug(signature, members, options, &minimized_dir);
        let finished = minimized.fetch_add(1, Ordering::Relaxed) + 1;
        status.show(
            &format!("triage {}: minimized {finished}/{}", options.target, clusters.len()),
            false,
        );
        bug
    });
    let mut bugs = bugs.into_iter().collect::<Result<Vec<_>, _>>()?;
    bugs.sort_by(|a, b| {
        (a.status != BugStatus::New, std::cmp::Reverse(a.artifact_count), &a.id).cmp(&(
            b.status != BugStatus::New,
            std::cmp::Reverse(b.artifact_count),
            &b.id,
        ))
    });
    let report = TriageReport {
        schema_version: report::SCHEMA_VERSION,
        kafka_fuzz_version: env!("CARGO_PKG_VERSION").to_owned(),
        target: options.target.clone(),
        reproducer: options.reproducer.command_line(Path::new("FILE")),
        artifacts: total + skipped.len(),
        bugs,
        not_reproduced,
        skipped,
    };
    report.write(&options.out_dir)?;
    Ok(report)
}

/// The artifact's size, or why it cannot be run.
fn check_artifact(path: &Path, max_size: u64) -> Result<usize, String> {
    let metadata = std::fs::metadata(path).map_err(|error| format!("unreadable: {error}"))?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    if metadata.len() == 0 {
        return Err(
            "empty file: nothing to reproduce (run it with `kafka-fuzz replay` to check the empty input)".into(),
        );
    }
    if metadata.len() > max_size {
        return Err(format!(
            "{} bytes, over the {max_size}-byte limit (--max-input-size)",
            metadata.len()
        ));
    }
    std::fs::File::open(path).map_err(|error| format!("unreadable: {error}"))?;
    usize::try_from(metadata.len()).map_err(|_| "too large for this machine".into())
}

/// Minimizes the smallest member of a cluster and writes up the bug.
fn describe_bug(
    signature: &CrashSignature,
    members: &[Reproduced],
    options: &TriageOptions,
    minimized_dir: &Path,
) -> Result<Bug, TriageError> {
    let smallest = members
        .iter()
        .min_by(|a, b| (a.size, &a.path).cmp(&(b.size, &b.path)))
        .expect("a cluster has members");
    let crash = smallest.crash.as_ref().expect("clustered runs crashed");
    let io = |what: String| move |source| TriageError::Io { what, source };
    let original = std::fs::read(&smallest.path).map_err(io(format!("cannot read {}", smallest.path.display())))?;
    let id = signature.id();
    let minimized_path = minimized_dir.join(&id);
    // Named by process too: two triages may share an output directory.
    let probe = minimized_dir.join(format!(".{id}.{}.probe", std::process::id()));
    let same_signature = |data: &[u8]| -> bool {
        std::fs::write(&probe, data).is_ok()
            && options
                .reproducer
                .run(&probe)
                .ok()
                .and_then(|outcome| classify(&outcome))
                .is_some_and(|crash| &CrashSignature::of(&crash) == signature)
    };

    let (data, method, reproduces) = match options.minimize {
        None => (original.clone(), "nothing (minimizing off)".to_owned(), true),
        Some(budget) => {
            let started = std::time::Instant::now();
            let mut start = original.clone();
            let mut methods = Vec::new();
            let libfuzzer = matches!(options.reproducer.kind(), ReproducerKind::LibFuzzer { .. });
            // libFuzzer's minimizer wants a crash, not a hang.
            if libfuzzer && signature.kind != CrashKind::Timeout {
                let tmin_out = minimized_dir.join(format!(".{id}.{}.tmin", std::process::id()));
                let ran = options
                    .reproducer
                    .libfuzzer_minimize(&smallest.path, &tmin_out, budget.time / 2);
                if ran.is_ok()
                    && let Ok(candidate) = std::fs::read(&tmin_out)
                    && candidate.len() < start.len()
                    && same_signature(&candidate)
                {
                    methods.push("libFuzzer -minimize_crash".to_owned());
                    start = candidate;
                }
                let _ = std::fs::remove_file(&tmin_out);
            }
            // One budget for both minimizers.
            let budget = MinimizeBudget {
                time: budget.time.saturating_sub(started.elapsed()),
                ..budget
            };
            let result = delta_debug(&start, budget, &same_signature);
            methods.push(format!(
                "delta debugging ({} runs{})",
                result.runs,
                if result.complete { "" } else { ", budget spent" }
            ));
            // Checked once more: a flaky crash must not be filed as minimized.
            let reproduces = same_signature(&result.data);
            (result.data, methods.join(" then "), reproduces)
        }
    };
    let _ = std::fs::remove_file(&probe);
    std::fs::write(&minimized_path, &data).map_err(io(format!("cannot write {}", minimized_path.display())))?;

    let known_issue = options.known.find(signature, &crash.frames).map(|issue| KnownIssueRef {
        id: issue.id.clone(),
        upstream: issue.upstream.clone(),
        note: issue.note.clone(),
    });
    // Known upstream bugs are not filed: a regression input must pass.
    let regression = match (&options.promote_to, &known_issue, reproduces) {
        (Some(dir), None, true) => Some(promote::promote(dir, &id, &data)?),
        _ => None,
    };
    let top = own_frames(&crash.frames).next();
    let location = crash
        .panic_location
        .clone()
        .or_else(|| top.and_then(|frame| frame.location.clone()))
        .map(|location| relative_to_cwd(&location));
    let mut artifacts: Vec<String> = members.iter().map(|m| m.path.display().to_string()).collect();
    artifacts.sort();
    Ok(Bug {
        id,
        status: if known_issue.is_some() {
            BugStatus::Known
        } else {
            BugStatus::New
        },
        known_issue,
        kind: signature.kind,
        message: crash.message.clone(),
        signature: signature.text(),
        function: signature.frames.first().filter(|_| top.is_some()).cloned(),
        location,
        artifact_count: members.len(),
        artifacts,
        original_size: original.len(),
        minimized_size: data.len(),
        minimized_input: minimized_path.display().to_string(),
        minimized_reproduces: reproduces,
        minimization: method,
        reproduce: options.reproducer.command_line(&minimized_path),
        regression,
        backtrace_excerpt: crash.excerpt.clone(),
    })
}

/// `location` without the working directory's prefix.
fn relative_to_cwd(location: &str) -> String {
    let Ok(cwd) = std::env::current_dir() else {
        return location.to_owned();
    };
    let prefix = format!("{}/", cwd.display());
    location.strip_prefix(&prefix).unwrap_or(location).to_owned()
}

/// `f` over `items` on up to `jobs` threads; results in `items`' order.
fn parallel_map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.clamp(1, items.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else { break done };
                        done.push((index, f(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}
