//! Triage end to end, through the `kafka-fuzz triage` command, on the
//! test-only `planted` target (four planted bugs: `!P` panics, `!A`
//! over-allocates, `!H` hangs, `!S` overflows the stack). Needs the
//! `planted-bugs` feature: `cargo test --features planted-bugs --test triage`
//! (scripts/test.sh runs it).
#![cfg(feature = "planted-bugs")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::seeded_bytes;
use kafka_fuzz::triage::classify::CrashKind;
use kafka_fuzz::triage::report::{BugStatus, TriageReport};

const ARTIFACTS_PER_BUG: usize = 13;
/// The planted patterns, the kind each gives, and the function it is in.
const PLANTED: [(&[u8; 2], CrashKind, &str); 4] = [
    (b"!P", CrashKind::Panic, "planted_panic"),
    (b"!A", CrashKind::OverAllocation, "planted_over_allocation"),
    (b"!H", CrashKind::Timeout, "planted_hang"),
    (b"!S", CrashKind::StackOverflow, "planted_recursion"),
];

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-fuzz-triage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Each pattern inside seeded noise that holds no `!`, so no artifact
/// reaches two bugs: 52 crashing artifacts, plus one clean input and the
/// bad ones (empty, over the size limit, a directory).
fn write_artifacts(dir: &Path) {
    for (bug, (pattern, _, _)) in PLANTED.iter().enumerate() {
        for n in 0..ARTIFACTS_PER_BUG {
            let seed = (bug * 100 + n) as u64;
            let mut data: Vec<u8> = seeded_bytes(seed, 10 + (seed as usize * 37) % 300)
                .into_iter()
                .map(|b| if b == b'!' { b'?' } else { b })
                .collect();
            let at = (seed as usize * 13) % data.len();
            data.splice(at..at, pattern.iter().copied());
            std::fs::write(dir.join(format!("crash-{bug}-{n:02}")), data).unwrap();
        }
    }
    std::fs::write(dir.join("clean"), b"no bug here").unwrap();
    std::fs::write(dir.join("empty"), b"").unwrap();
    std::fs::write(dir.join("huge"), vec![b'x'; 5000]).unwrap();
}

fn kafka_fuzz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-fuzz"))
        .args(args)
        .output()
        .expect("kafka-fuzz runs")
}

fn triage(artifacts: &[&Path], out: &Path, regressions: &Path, extra: &[&str]) -> (Output, TriageReport) {
    let mut args = vec![
        "triage",
        "--target",
        "planted",
        "--timeout",
        "0.5",
        "--max-input-size",
        "4096",
    ];
    let paths: Vec<String> = artifacts.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let (out_arg, regressions_arg) = (out.display().to_string(), regressions.display().to_string());
    args.extend(["--out", &out_arg, "--promote", "--regressions", &regressions_arg]);
    args.extend(extra);
    let output = kafka_fuzz(&args);
    let json = std::fs::read_to_string(out.join("report.json")).unwrap_or_else(|e| {
        panic!(
            "no report.json ({e}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (
        output,
        serde_json::from_str(&json).expect("report.json has the documented schema"),
    )
}

#[test]
fn fifty_two_artifacts_become_four_minimized_promoted_bugs() {
    let dir = scratch("e2e");
    let artifacts = dir.join("artifacts");
    std::fs::create_dir_all(artifacts.join("a-directory")).unwrap();
    write_artifacts(&artifacts);
    let missing = dir.join("no-such-artifact");
    let (out, regressions) = (dir.join("report"), dir.join("regressions"));

    let (output, report) = triage(&[&artifacts, &missing], &out, &regressions, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // New bugs found: exit status 2.
    assert_eq!(output.status.code(), Some(2), "stdout:\n{stdout}");
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.target, "planted");
    assert_eq!(report.artifacts, 4 * ARTIFACTS_PER_BUG + 4);
    assert_eq!(report.not_reproduced.len(), 1);
    assert!(report.not_reproduced[0].ends_with("clean"));
    let skipped: BTreeMap<String, String> = report
        .skipped
        .iter()
        .map(|s| {
            (
                Path::new(&s.path).file_name().unwrap().to_string_lossy().into_owned(),
                s.reason.clone(),
            )
        })
        .collect();
    assert!(skipped["empty"].starts_with("empty file"), "{skipped:?}");
    assert!(
        skipped["huge"].contains("5000 bytes, over the 4096-byte limit"),
        "{skipped:?}"
    );
    assert!(skipped["no-such-artifact"].starts_with("unreadable"), "{skipped:?}");

    assert_eq!(report.bugs.len(), 4, "{}", report.table());
    for (pattern, kind, function) in PLANTED {
        let bug = report
            .bugs
            .iter()
            .find(|bug| bug.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} bug in\n{}", report.table()));
        let name = format!("kafka_fuzz::harness::planted::{function}");
        assert_eq!(bug.function.as_deref(), Some(name.as_str()), "{bug:?}");
        let location = bug.location.as_deref().unwrap_or_default();
        assert!(location.contains("src/harness/planted.rs:"), "{kind}: {location}");
        assert_eq!(bug.status, BugStatus::New);
        assert_eq!(bug.artifact_count, ARTIFACTS_PER_BUG, "{kind}");
        assert!(bug.original_size > 2);
        // Minimized to the pattern itself, and still the same bug.
        assert!(bug.minimized_reproduces, "{kind}");
        assert_eq!(bug.minimized_size, 2, "{kind}: {}", bug.minimization);
        assert_eq!(std::fs::read(&bug.minimized_input).unwrap(), pattern);
        let regression = bug.regression.as_ref().expect("promoted");
        assert!(regression.added);
        assert_eq!(Path::new(&regression.path), regressions.join("planted").join(&bug.id));
        assert_eq!(std::fs::read(&regression.path).unwrap(), pattern);
        // The report's command reproduces it.
        assert!(bug.reproduce.contains("replay --target planted"), "{}", bug.reproduce);
        let replayed = kafka_fuzz(&["replay", "--target", "planted", "--timeout", "0.5", &regression.path]);
        assert!(
            !replayed.status.success(),
            "{kind}: the promoted input no longer crashes"
        );
    }
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(markdown.contains("| # | bug | status | kind |"));
    for bug in &report.bugs {
        assert!(markdown.contains(&bug.id) && stdout.contains(&bug.id));
    }

    // Again, unminimized: the same four bugs, already filed, none added.
    let (output, again) = triage(
        &[&artifacts],
        &dir.join("report-again"),
        &regressions,
        &["--no-minimize"],
    );
    assert_eq!(output.status.code(), Some(2));
    let ids = |report: &TriageReport| report.bugs.iter().map(|b| b.id.clone()).collect::<Vec<_>>();
    let mut before = ids(&report);
    let mut after = ids(&again);
    before.sort();
    after.sort();
    assert_eq!(before, after);
    assert!(again.bugs.iter().all(|bug| !bug.regression.as_ref().unwrap().added));
    assert_eq!(std::fs::read_dir(regressions.join("planted")).unwrap().count(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn known_issues_are_labelled_known_and_not_promoted() {
    let dir = scratch("known");
    let artifact = dir.join("crash-panic");
    std::fs::write(&artifact, b"xx!Pxx").unwrap();
    let known = dir.join("known.toml");
    std::fs::write(
        &known,
        "[[issue]]\nid = \"planted-panic\"\nkinds = [\"panic\"]\nframes = [\"planted_panic\"]\n\
         upstream = \"https://example.invalid/1\"\nnote = \"planted on purpose\"\n",
    )
    .unwrap();
    let known_arg = known.display().to_string();
    let (output, report) = triage(
        &[&artifact],
        &dir.join("report"),
        &dir.join("regressions"),
        &["--known", &known_arg],
    );
    // Nothing new: exit status 0.
    assert_eq!(output.status.code(), Some(0));
    let bug = &report.bugs[0];
    assert_eq!(bug.status, BugStatus::Known);
    assert_eq!(bug.known_issue.as_ref().unwrap().id, "planted-panic");
    assert!(bug.regression.is_none());
    assert!(!dir.join("regressions").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_invocations_fail_with_a_clear_message() {
    let dir = scratch("bad");
    let artifact = dir.join("a");
    std::fs::write(&artifact, b"!P").unwrap();
    let artifact = artifact.display().to_string();
    let stderr = |output: Output| String::from_utf8_lossy(&output.stderr).into_owned();

    let missing = kafka_fuzz(&["triage", "-t", "planted", "--binary", "/no/such/binary", &artifact]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(missing).contains("cannot use /no/such/binary as the target binary"));

    let unknown = kafka_fuzz(&["triage", "-t", "nonsense", &artifact]);
    assert_eq!(unknown.status.code(), Some(1));
    let message = stderr(unknown);
    assert!(
        message.contains("unknown target nonsense") && message.contains("produce"),
        "{message}"
    );

    let empty_dir = dir.join("empty-dir");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let nothing = kafka_fuzz(&["triage", "-t", "planted", &empty_dir.display().to_string()]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(stderr(nothing).contains("no artifacts to triage"));

    let bad_known = dir.join("bad.toml");
    std::fs::write(&bad_known, "[[issue]]\nid = 3\n").unwrap();
    let out = dir.join("out").display().to_string();
    let output = kafka_fuzz(&[
        "triage",
        "-t",
        "planted",
        "--known",
        &bad_known.display().to_string(),
        "--out",
        &out,
        &artifact,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(output).contains("bad.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
}
