//! `kafka-fuzz storm` as a user runs it: against the reference cluster with
//! kills and pauses (nothing found, every acks=all record read back), bad
//! command lines refused with what is wrong, and, with the planted-bugs
//! feature, a deadlocking server reported as a stall with both threads'
//! stacks and a server that loses records reported with the record.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kafka_fuzz::storm::clock::SkewedClock;
use kafka_fuzz::storm::history::{HistoryEvent, read_history};

fn storm(out: &Path, args: &[&str]) -> Output {
    let _ = std::fs::remove_dir_all(out);
    Command::new(env!("CARGO_BIN_EXE_kafka-fuzz"))
        .arg("storm")
        .args(["--out", &out.display().to_string()])
        .args(args)
        .output()
        .expect("kafka-fuzz runs")
}

fn out_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kafka-fuzz-storm-{}-{name}", std::process::id()))
}

fn report(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// No process storm started outlives it: none has the run's directory on
/// its command line.
fn assert_no_process_left(out: &Path) {
    let needle = out.display().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&needle) && !cmdline.contains("storm --out"))
        .collect();
    assert!(left.is_empty(), "processes left running: {left:?}");
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_reference_cluster_holds_under_every_fault() {
    let out = out_dir("reference");
    let output = storm(
        &out,
        &[
            "--clients",
            "16",
            "--time",
            "15",
            "--seed",
            "7",
            "--faults",
            "kill,pause,partition,delay,reset,clock",
            "--fault-interval",
            "1",
        ],
    );
    assert!(output.status.success(), "storm found something: {}", stderr(&output));
    let report = report(&out);
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(0));
    assert!(
        report["faults"].as_array().is_some_and(|f| !f.is_empty()),
        "no fault injected"
    );
    let read = &report["final_read"];
    assert!(read["acknowledged_acks_all"].as_u64() > Some(100), "{read}");
    assert!(read["records_read"].as_u64() >= read["acknowledged_acks_all"].as_u64());
    let history = read_history(&out.join("history.jsonl")).expect("the history reads back");
    let operations = history
        .iter()
        .filter(|e| matches!(e, HistoryEvent::Operation { .. }))
        .count();
    assert!(operations > 1000, "{operations} operations");
    assert!(
        history
            .iter()
            .any(|e| matches!(e, HistoryEvent::Fault { kind, .. } if kind == "kill" || kind == "pause"))
    );
    for kind in ["produce", "fetch", "create-topic", "delete-topic", "create-partitions"] {
        assert!(
            report["kinds"][kind]["succeeded"].as_u64() > Some(0),
            "no {kind} succeeded"
        );
    }
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        markdown.contains("No finding") && markdown.contains("(latency.svg)"),
        "{markdown}"
    );
    for plot in ["latency.svg", "throughput.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).expect(plot);
        assert!(svg.starts_with("<svg") && svg.contains("faults shaded"), "{plot}");
    }
    assert_no_process_left(&out);
    let _ = std::fs::remove_dir_all(&out);
}

/// A process started with a node's clock environment reads the wall clock
/// the fault set, and the true time again once it is set back.
#[test]
fn a_skewed_clock_moves_the_wall_clock_of_the_process() {
    let library = kafka_fuzz::storm::clock::library().expect("libfaketime (scripts/test.sh installs faketime)");
    let dir = out_dir("clock");
    std::fs::create_dir_all(&dir).unwrap();
    let clock = SkewedClock::new(library, &dir, 1).unwrap();
    let now = |clock: &SkewedClock| -> i64 {
        let output = Command::new("date")
            .arg("+%s")
            .envs(clock.environment())
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
    };
    let truth = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    assert!((now(&clock) - truth()).abs() <= 2);
    clock.set(-3600).unwrap();
    assert!((now(&clock) - (truth() - 3600)).abs() <= 2, "an hour back");
    clock.set(0).unwrap();
    assert!((now(&clock) - truth()).abs() <= 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The producers' (clients 0 to 2) first operations, as the history gives
/// them: what they write depends on the seed alone, not on answers.
fn first_tasks(out: &Path, per_client: usize) -> Vec<(usize, String)> {
    let mut tasks: Vec<(usize, String)> = Vec::new();
    for event in read_history(&out.join("history.jsonl")).unwrap() {
        if let HistoryEvent::Operation { client, task, .. } = event
            && client < 3
            && tasks.iter().filter(|(c, _)| *c == client).count() < per_client
        {
            tasks.push((client, task));
        }
    }
    tasks.sort();
    tasks
}

#[test]
fn a_replay_runs_the_same_workload_from_the_recorded_options() {
    let first = out_dir("replay-1");
    let args = [
        "--clients",
        "4",
        "--time",
        "3",
        "--faults",
        "none",
        "--seed",
        "99",
        "--nodes",
        "1",
    ];
    assert!(storm(&first, &args).status.success());
    let again = out_dir("replay-2");
    let replayed = storm(&again, &["--replay", &first.display().to_string()]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    assert_eq!(report(&again)["seed"], 99);
    assert_eq!(report(&again)["clients"], 4);
    assert_eq!(first_tasks(&first, 5), first_tasks(&again, 5));
    assert_no_process_left(&again);
    let _ = std::fs::remove_dir_all(&first);
    let _ = std::fs::remove_dir_all(&again);
}

/// The one-node reference server keeps its logs in memory: killed, it
/// comes back empty. Storm reports what it forgot; with --volatile
/// (a server meant to keep nothing across a kill, as Tansu's memory
/// storage) it checks each incarnation on its own and finds nothing.
#[test]
fn a_memory_server_loses_records_on_a_kill_unless_it_is_volatile() {
    let launch = format!(
        "'{}' serve --listen 127.0.0.1:{{port}} --advertise 127.0.0.1:{{advertised_port}}",
        env!("CARGO_BIN_EXE_kafka-fuzz")
    );
    let args = [
        "--launch",
        &launch,
        "--nodes",
        "1",
        "--faults",
        "kill",
        "--fault-interval",
        "2",
        "--clients",
        "16",
        "--time",
        "8",
        "--seed",
        "4",
    ];
    let out = out_dir("volatile");
    let lost = storm(&out, &args);
    assert_eq!(lost.status.code(), Some(2), "{}", stderr(&lost));
    let findings = report(&out)["findings"].clone();
    assert!(
        findings.as_array().unwrap().iter().all(|f| {
            let detail = f["detail"].as_str().unwrap_or_default();
            // What the server forgot: records at their offsets, a high
            // watermark gone back within its only leader epoch.
            ["committed-agree", "acknowledged-durable", "watermarks"]
                .iter()
                .any(|invariant| detail.starts_with(invariant))
        }),
        "{findings}"
    );
    let volatile = storm(&out, &[&args[..], &["--volatile"]].concat());
    assert!(volatile.status.success(), "{}", stderr(&volatile));
    assert_no_process_left(&out);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_command_lines_are_refused_with_what_is_wrong() {
    let out = out_dir("bad");
    let dies = storm(&out, &["--launch", "echo no such server >&2; exit 3", "--nodes", "1"]);
    assert_eq!(dies.status.code(), Some(1));
    let why = stderr(&dies);
    assert!(
        why.contains("exited at start") && why.contains("no such server"),
        "{why}"
    );
    assert_no_process_left(&out);

    // A server that advertises its own port, not the proxy's: network
    // faults could not reach its clients.
    let launch = format!(
        "'{}' serve --listen 127.0.0.1:{{port}}",
        env!("CARGO_BIN_EXE_kafka-fuzz")
    );
    let unproxied = storm(
        &out,
        &["--launch", &launch, "--nodes", "1", "--faults", "delay", "--time", "1"],
    );
    assert_eq!(unproxied.status.code(), Some(1));
    assert!(
        stderr(&unproxied).contains("{advertised_port}"),
        "{}",
        stderr(&unproxied)
    );
    assert_no_process_left(&out);

    let remote = storm(&out, &["--bootstrap", "10.1.2.3:9092", "--faults", "none"]);
    assert!(
        stderr(&remote).contains("not a loopback address"),
        "{}",
        stderr(&remote)
    );

    let attached = storm(&out, &["--bootstrap", "127.0.0.1:9", "--faults", "kill"]);
    assert!(stderr(&attached).contains("owns no process"), "{}", stderr(&attached));

    let unreachable = storm(&out, &["--bootstrap", "127.0.0.1:9", "--faults", "none", "--time", "1"]);
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        stderr(&unreachable).contains("accepts a connection"),
        "{}",
        stderr(&unreachable)
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[cfg(feature = "planted-bugs")]
mod planted {
    use super::*;

    /// The one-node reference server with `bug` planted, for 16 clients.
    fn storm_planted(bug: &str, out: &Path, seconds: &str) -> Output {
        let launch = format!(
            "KAFKA_FUZZ_PLANTED_BUG={bug} '{}' serve --listen 127.0.0.1:{{port}}",
            env!("CARGO_BIN_EXE_kafka-fuzz")
        );
        storm(
            out,
            &[
                "--launch",
                &launch,
                "--nodes",
                "1",
                "--faults",
                "none",
                "--clients",
                "16",
                "--time",
                seconds,
                "--stall",
                "5",
                "--seed",
                "11",
            ],
        )
    }

    #[test]
    fn a_lock_order_deadlock_is_a_stall_with_both_stacks() {
        let out = out_dir("deadlock");
        let output = storm_planted("lock-order-deadlock", &out, "60");
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let report = report(&out);
        let stall = &report["findings"][0];
        assert_eq!(stall["kind"], "stall", "{report}");
        assert!(stall["detail"].as_str().unwrap().contains("deadlock-like"), "{stall}");
        let stacks = stall["processes"][0]["stacks"].as_str().unwrap();
        assert!(
            stacks.contains("planted_produce_locks") && stacks.contains("planted_fetch_locks"),
            "{stacks}"
        );
        assert_no_process_left(&out);
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn a_record_never_served_is_reported_with_the_record() {
        let out = out_dir("skip");
        let output = storm_planted("read-skips-every-thousandth", &out, "15");
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let report = report(&out);
        let findings = report["findings"].as_array().unwrap();
        let lost = findings
            .iter()
            .filter_map(|f| f["detail"].as_str())
            .find(|detail| detail.starts_with("acknowledged-durable"))
            .unwrap_or_else(|| panic!("no acknowledged record reported lost: {findings:?}"));
        // The offset and the record: `offset 3000, acknowledged with acks=all, ... expected "c5-917"`.
        assert!(
            lost.contains("000, acknowledged with acks=all") && lost.contains("expected \"c"),
            "{lost}"
        );
        assert!(
            findings
                .iter()
                .any(|f| f["detail"].as_str().unwrap_or_default().starts_with("paging-complete")),
            "{findings:?}"
        );
        assert_no_process_left(&out);
        let _ = std::fs::remove_dir_all(&out);
    }
}
