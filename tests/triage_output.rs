//! The triage classifier and signature on what real crashing processes
//! printed (`tests/fixtures/crash-output/`, see its README): both panic
//! formats, with and without backtraces, libFuzzer's and sanitizers'
//! reports, and kafka-fuzz's own over-allocation, timeout and
//! stack-overflow reports.

use kafka_fuzz::triage::classify::{Crash, CrashKind, classify_output};
use kafka_fuzz::triage::reproduce::RunStatus;
use kafka_fuzz::triage::signature::CrashSignature;

const SIGABRT: RunStatus = RunStatus::Signaled(6);

fn crash(fixture: &str, status: RunStatus) -> Crash {
    let path = format!("{}/tests/fixtures/crash-output/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let output = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    classify_output(&output, status).unwrap_or_else(|| panic!("{fixture}: no crash seen"))
}

fn signature(fixture: &str, status: RunStatus) -> CrashSignature {
    CrashSignature::of(&crash(fixture, status))
}

const PANIC_FRAMES: [&str; 2] = [
    "kafka_fuzz::harness::planted::planted_panic",
    "kafka_fuzz::harness::planted::planted",
];

#[test]
fn new_panic_format_with_backtrace() {
    let crash = crash("panic-new-format-backtrace.txt", RunStatus::Exited(101));
    assert_eq!(crash.kind, CrashKind::Panic);
    assert_eq!(crash.message, "planted panic on an input of 6 bytes");
    assert_eq!(crash.panic_location.as_deref(), Some("src/harness/planted.rs:34:5"));
    let signature = CrashSignature::of(&crash);
    assert_eq!(signature.message, "planted panic on an input of N bytes");
    assert_eq!(signature.frames, PANIC_FRAMES);
    assert_eq!(
        signature.text(),
        "panic: planted panic on an input of N bytes | kafka_fuzz::harness::planted::planted_panic > kafka_fuzz::harness::planted::planted"
    );
}

#[test]
fn full_backtraces_give_the_same_signature() {
    // Addresses and symbol hashes (`::h0123...`) are dropped.
    assert_eq!(
        signature("panic-new-format-backtrace-full.txt", RunStatus::Exited(101)),
        signature("panic-new-format-backtrace.txt", RunStatus::Exited(101))
    );
}

#[test]
fn old_panic_format_gives_the_same_signature_as_the_new() {
    let old = crash("panic-old-format-backtrace.txt", RunStatus::Exited(101));
    assert_eq!(old.message, "planted panic on an input of 6 bytes");
    assert_eq!(old.panic_location.as_deref(), Some("src/harness/planted.rs:34:5"));
    assert_eq!(
        CrashSignature::of(&old),
        signature("panic-new-format-backtrace.txt", RunStatus::Exited(101))
    );
}

#[test]
fn without_a_backtrace_the_panic_location_stands_in_for_frames() {
    let new = signature("panic-new-format-no-backtrace.txt", RunStatus::Exited(101));
    let old = signature("panic-old-format-no-backtrace.txt", RunStatus::Exited(101));
    assert_eq!(new, old);
    assert_eq!(new.kind, CrashKind::Panic);
    assert_eq!(new.frames, ["src/harness/planted.rs:34:5"]);
}

#[test]
fn libfuzzer_panic_report() {
    // Thread `<unnamed>` with its id, then libFuzzer's deadly signal.
    let crash = crash("panic-libfuzzer.txt", RunStatus::Exited(77));
    assert_eq!(crash.kind, CrashKind::Panic);
    assert_eq!(crash.message, "planted panic on an input of 6 bytes");
    assert_eq!(
        crash.panic_location.as_deref(),
        Some("/work/main/src/harness/planted.rs:34:5")
    );
    // Line tables only: inlined frames carry bare names; the engine's
    // frames (`run_one`, `rust_fuzzer_test_input`, libFuzzer's C++) go.
    assert_eq!(CrashSignature::of(&crash).frames, [PANIC_FRAMES[0], "planted"]);
}

#[test]
fn over_allocation_reports_under_replay_and_libfuzzer() {
    let replay = signature("over-allocation-replay.txt", SIGABRT);
    let libfuzzer = signature("over-allocation-libfuzzer.txt", SIGABRT);
    for signature in [&replay, &libfuzzer] {
        assert_eq!(signature.kind, CrashKind::OverAllocation);
        assert_eq!(
            signature.message,
            "an allocation of N bytes would hold N bytes live, over the cap of N bytes for an input of N bytes"
        );
        // The allocator and `Vec` machinery are dropped.
        assert!(
            signature.frames[0].ends_with("planted_over_allocation"),
            "{signature:?}"
        );
    }
    assert_eq!(
        replay.frames[0],
        "kafka_fuzz::harness::planted::planted_over_allocation"
    );
}

#[test]
fn timeouts_from_the_replay_report_and_from_libfuzzer() {
    let replay = crash("timeout-replay.txt", SIGABRT);
    assert_eq!(replay.kind, CrashKind::Timeout);
    assert_eq!(replay.message, "the input ran for more than 500 ms");
    // The signal handler's and backtrace's own frames are dropped; a hang
    // keeps only its innermost function (where the deadline lands varies).
    assert_eq!(
        CrashSignature::of(&replay).frames,
        ["kafka_fuzz::harness::planted::planted_hang"]
    );
    let libfuzzer = crash("timeout-libfuzzer.txt", RunStatus::Exited(70));
    assert_eq!(libfuzzer.kind, CrashKind::Timeout);
    assert!(libfuzzer.frames.is_empty());
}

#[test]
fn stack_overflows_with_and_without_frames() {
    let replay = signature("stack-overflow-replay.txt", SIGABRT);
    assert_eq!(replay.kind, CrashKind::StackOverflow);
    // A recursion's repeated frames collapse into one.
    assert_eq!(replay.frames, ["kafka_fuzz::harness::planted::planted_recursion"]);
    let native = crash("stack-overflow-rust-native.txt", SIGABRT);
    assert_eq!(native.kind, CrashKind::StackOverflow);
    assert_eq!(native.message, "thread 'main' (19801) has overflowed its stack");
    assert_eq!(
        CrashSignature::of(&native).message,
        "thread 'main' (N) has overflowed its stack"
    );
}

#[test]
fn a_bare_signal_is_an_abort_naming_the_signal() {
    // libFuzzer without a sanitizer prints nothing for a stack overflow.
    let crash = crash("segv-libfuzzer-no-sanitizer.txt", RunStatus::Signaled(11));
    assert_eq!(crash.kind, CrashKind::Abort);
    assert_eq!(crash.message, "killed by SIGSEGV");
}

#[test]
fn address_sanitizer_report() {
    let crash = crash("sanitizer-heap-buffer-overflow.txt", RunStatus::Exited(1));
    assert_eq!(crash.kind, CrashKind::Sanitizer);
    let signature = CrashSignature::of(&crash);
    assert_eq!(
        signature.message,
        "AddressSanitizer: heap-buffer-overflow on address 0xN at pc 0xN bp 0xN sp 0xN"
    );
    assert_eq!(signature.frames, ["oob::read_past_end"]);
    assert_eq!(crash.frames[0].location.as_deref(), Some("/tmp/pl/oob.rs:2:55"));
}

#[test]
fn clean_runs_are_not_crashes() {
    assert_eq!(
        classify_output("planted: f (3 bytes)\n1 inputs ran", RunStatus::Exited(0)),
        None
    );
    let failed = classify_output("Error: cannot read f", RunStatus::Exited(1)).unwrap();
    assert_eq!(failed.kind, CrashKind::Abort);
    assert_eq!(failed.message, "exited with status 1: Error: cannot read f");
}

#[test]
fn oracle_violations_are_told_from_panics() {
    let output = "thread 'main' (7) panicked at src/harness/targets.rs:120:9:\n\
                  oracle violation [correlation-id] request 5 answered as 6\n";
    let crash = classify_output(output, RunStatus::Exited(101)).unwrap();
    assert_eq!(crash.kind, CrashKind::OracleViolation);
    assert_eq!(
        crash.message,
        "oracle violation [correlation-id] request 5 answered as 6"
    );
}

#[test]
fn signature_ids_are_stable() {
    // Promoted regressions are named by this id: the hash must not change
    // between versions.
    let signature = CrashSignature {
        kind: CrashKind::Panic,
        message: "planted panic on an input of N bytes".into(),
        frames: PANIC_FRAMES.iter().map(|f| f.to_string()).collect(),
    };
    assert_eq!(signature.id(), "e83a23f91117c965");
}

#[test]
fn a_message_that_looks_like_a_frame_is_not_one() {
    let output = "thread 'main' (7) panicked at src/x.rs:1:2:\n3: bad tag\nstack backtrace:\n   0: my_crate::decode\n             at ./src/x.rs:1:2\n";
    let crash = classify_output(output, RunStatus::Exited(101)).unwrap();
    assert_eq!(crash.message, "3: bad tag");
    assert_eq!(CrashSignature::of(&crash).frames, ["my_crate::decode"]);
}

#[test]
fn a_printed_report_wins_over_the_kill_at_the_deadline() {
    // The panic was reported, then the process was too slow to exit.
    let output = "thread 'main' (7) panicked at src/x.rs:1:2:\nboom\n";
    let crash = classify_output(output, RunStatus::TimedOut).unwrap();
    assert_eq!(crash.kind, CrashKind::Panic);
    let silent = classify_output("", RunStatus::TimedOut).unwrap();
    assert_eq!(silent.kind, CrashKind::Timeout);
}
