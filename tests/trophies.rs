//! TROPHIES.md stays true: every entry's input file holds the hex the entry
//! shows, and its reproduce command still crashes `kafka-fuzz replay` with
//! the crash text the entry gives. An entry whose upstream fix lands fails
//! here, and its status is updated. Entries of an adapter behind a feature
//! this build lacks (tansu) are checked by `scripts/test.sh`, which builds
//! with it.

use std::path::Path;
use std::process::Command;

use kafka_fuzz::harness::targets::target;

/// One entry's checkable rows.
#[derive(Debug)]
struct Trophy {
    title: String,
    hex: String,
    target: String,
    file: String,
    crash: String,
    /// Only builds with overflow checks (debug) crash this way.
    debug_only: bool,
}

/// The first `code` span of the table row named `row`.
fn row<'a>(entry: &'a str, row: &str) -> Option<&'a str> {
    let line = entry.lines().find(|line| line.starts_with(&format!("| {row} |")))?;
    line.split('`').nth(1)
}

fn trophies() -> Vec<Trophy> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("TROPHIES.md")).unwrap();
    text.split("\n## ")
        .skip(1)
        .map(|entry| {
            let title = entry.lines().next().unwrap().to_owned();
            let missing = |what: &str| panic!("TROPHIES.md, {title}: no `{what}` row with a code span");
            let command = row(entry, "reproduce").unwrap_or_else(|| missing("reproduce"));
            let words: Vec<&str> = command.split_whitespace().collect();
            let ["kafka-fuzz", "replay", "--target", target, file] = words[..] else {
                panic!("{title}: reproduce is not `kafka-fuzz replay --target T FILE`: {command}")
            };
            Trophy {
                hex: row(entry, "input").unwrap_or_else(|| missing("input")).to_owned(),
                crash: row(entry, "crash").unwrap_or_else(|| missing("crash")).to_owned(),
                target: target.to_owned(),
                file: file.to_owned(),
                debug_only: row(entry, "build").is_some_and(|build| build.starts_with("debug")),
                title,
            }
        })
        .collect()
}

#[test]
fn every_trophy_is_its_input_and_still_crashes() {
    let trophies = trophies();
    assert!(trophies.len() >= 2, "{trophies:?}");
    let mut checked = 0;
    for trophy in &trophies {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(&trophy.file);
        let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {}: {e}", trophy.title, path.display()));
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, trophy.hex, "{}: the input file is not the hex shown", trophy.title);
        if trophy.debug_only && !cfg!(debug_assertions) {
            eprintln!("{}: crashes only in debug builds, not replayed", trophy.title);
            continue;
        }
        if target(&trophy.target).is_none() {
            eprintln!(
                "{}: target {} not in this build (feature?), not replayed",
                trophy.title, trophy.target
            );
            continue;
        }
        let output = Command::new(env!("CARGO_BIN_EXE_kafka-fuzz"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "replay",
                "--quiet",
                "--timeout",
                "20",
                "--target",
                &trophy.target,
                &trophy.file,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{}: no longer crashes:\n{stderr}",
            trophy.title
        );
        assert!(
            stderr.contains(&trophy.crash),
            "{}: crashes, but not with `{}`:\n{stderr}",
            trophy.title,
            trophy.crash
        );
        checked += 1;
    }
    assert!(checked > 0, "no trophy replayed");
}
