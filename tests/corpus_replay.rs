//! Replays every seed (`corpus/<target>/`) and every fixed crasher
//! (`corpus/regressions/<target>/`) through its target, under the same
//! allocation cap as the fuzz binaries: a bug that comes back fails here.
//! Seeds run in this process; regressions run in `kafka-fuzz replay` with a
//! time limit, so one that hangs, overflows the stack or aborts again fails
//! its test with the crash report instead of hanging or killing the run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;

use kafka_fuzz::corpus::input_files;
use kafka_fuzz::harness::alloc::{CountingAllocator, with_allocation_cap};
use kafka_fuzz::harness::targets::{TARGETS, target};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Seconds a regression input may run.
const REGRESSION_TIME_LIMIT: &str = "10";

/// Runs every input of `name`'s seed and regression directories; a panic
/// is reported with the file it came from (the harness catches only to
/// name the input).
fn replay(name: &str) -> usize {
    let run = target(name).unwrap_or_else(|| panic!("no target {name}")).run;
    let root = corpus_root();
    let regressions = root.join("regressions").join(name);
    let mut replayed = 0;
    if regressions.is_dir() {
        let output = Command::new(env!("CARGO_BIN_EXE_kafka-fuzz"))
            .args(["replay", "--target", name, "--timeout", REGRESSION_TIME_LIMIT])
            .arg(&regressions)
            .output()
            .expect("kafka-fuzz replay runs");
        assert!(
            output.status.success(),
            "{name}: a regression input crashes again ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        replayed += input_files(&[regressions]).expect("readable regressions").len();
    }
    let seeds = root.join(name);
    let dirs: Vec<PathBuf> = [seeds].into_iter().filter(|dir| dir.is_dir()).collect();
    let inputs = input_files(&dirs).expect("readable corpus directories");
    let mut failures = Vec::new();
    for input in &inputs {
        let data = std::fs::read(input).unwrap_or_else(|e| panic!("cannot read {}: {e}", input.display()));
        if catch_unwind(AssertUnwindSafe(|| with_allocation_cap(data.len(), || run(&data)))).is_err() {
            failures.push(input.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: these inputs fail:\n{}",
        failures.join("\n")
    );
    replayed + inputs.len()
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let count = replay(stringify!($name));
            assert!(count > 0, "{}: no seeds under corpus/{}", stringify!($name), stringify!($name));
        }
    )*

        #[test]
        fn every_target_is_replayed() {
            let replayed = [$(stringify!($name)),*];
            for target in TARGETS {
                assert!(replayed.contains(&target.name), "{} has no replay test", target.name);
            }
        }
    };
}

replay_tests!(
    frame_decode,
    produce,
    fetch,
    metadata,
    record_batch,
    dispatch,
    session,
    cluster,
    differential
);

#[test]
fn every_fuzz_binary_has_libfuzzer_options() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    // The fuzz crate's binaries: ours and the adapters', whatever features
    // this test was built with.
    let binaries: Vec<String> = std::fs::read_dir(root.join("fuzz_targets"))
        .unwrap()
        .filter_map(|entry| Some(entry.unwrap().path().file_stem()?.to_str()?.to_owned()))
        .collect();
    for target in TARGETS {
        assert!(
            binaries.iter().any(|b| b == target.name),
            "no fuzz binary for {}",
            target.name
        );
    }
    for binary in &binaries {
        let path = root.join("options").join(format!("{binary}.options"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.starts_with("[libfuzzer]\n"), "{}", path.display());
        for key in ["max_len", "timeout", "rss_limit_mb"] {
            let value = text
                .lines()
                .find_map(|line| line.strip_prefix(key)?.trim_start().strip_prefix('='))
                .unwrap_or_else(|| panic!("{}: no {key}", path.display()));
            value
                .trim()
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("{}: {key}: {e}", path.display()));
        }
    }
}

#[test]
fn the_committed_dictionary_is_the_generated_one() {
    let committed = std::fs::read_to_string(corpus_root().join("kafka.dict")).expect("corpus/kafka.dict");
    assert!(
        committed == kafka_fuzz::corpus::dictionary(),
        "corpus/kafka.dict is stale: run `kafka-fuzz corpus seed --out corpus`"
    );
}

#[test]
fn the_dictionary_is_in_libfuzzer_format() {
    let text = std::fs::read_to_string(corpus_root().join("kafka.dict")).expect("corpus/kafka.dict");
    let mut entries = 0;
    for (number, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: no '='", number + 1));
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "line {}",
            number + 1
        );
        assert!(
            value.len() >= 2 && value.starts_with('"') && value.ends_with('"'),
            "line {}",
            number + 1
        );
        entries += 1;
    }
    assert!(entries > 50, "{entries} entries");
}
