//! `Crash`: what a reproducer's output says happened (the kind, the message,
//! where it was raised, the stack) from the text a crashing Rust process,
//! libFuzzer, a sanitizer or kafka-fuzz's own reports print.

use serde::{Deserialize, Serialize};

use super::reproduce::{Outcome, RunStatus};
use crate::harness::alloc::OVER_ALLOCATION_MARKER;
use crate::harness::fatal_signal::{FATAL_SIGNAL_MARKER, STACK_OVERFLOW_MARKER, TIMEOUT_MARKER};
use crate::harness::oracle::VIOLATION_MARKER;

/// How an input made the process fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashKind {
    Panic,
    /// One of kafka-fuzz's oracles saw a wrong answer.
    OracleViolation,
    /// kafka-fuzz's counting allocator stopped an allocation over the cap.
    OverAllocation,
    OutOfMemory,
    Timeout,
    StackOverflow,
    /// AddressSanitizer, LeakSanitizer, MemorySanitizer, UBSan, ...
    Sanitizer,
    /// Died by a signal or a failing exit status with no other explanation.
    Abort,
}

impl CrashKind {
    pub const ALL: [CrashKind; 8] = [
        CrashKind::Panic,
        CrashKind::OracleViolation,
        CrashKind::OverAllocation,
        CrashKind::OutOfMemory,
        CrashKind::Timeout,
        CrashKind::StackOverflow,
        CrashKind::Sanitizer,
        CrashKind::Abort,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CrashKind::Panic => "panic",
            CrashKind::OracleViolation => "oracle-violation",
            CrashKind::OverAllocation => "over-allocation",
            CrashKind::OutOfMemory => "out-of-memory",
            CrashKind::Timeout => "timeout",
            CrashKind::StackOverflow => "stack-overflow",
            CrashKind::Sanitizer => "sanitizer",
            CrashKind::Abort => "abort",
        }
    }
}

impl std::fmt::Display for CrashKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One stack frame as printed: the function, and `file:line:col` when the
/// binary has line tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub function: String,
    pub location: Option<String>,
}

/// A reproduced failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    pub kind: CrashKind,
    /// The one line that says what went wrong, as printed.
    pub message: String,
    /// Where a panic says it was raised (`src/x.rs:10:5`).
    pub panic_location: Option<String>,
    /// The first stack printed after the failure, innermost first.
    pub frames: Vec<Frame>,
    /// The output from the failure on, for the report.
    pub excerpt: String,
}

/// Lines of output kept in a crash's excerpt.
const EXCERPT_LINES: usize = 40;

/// What `outcome` shows, or `None` when the input ran cleanly.
pub fn classify(outcome: &Outcome) -> Option<Crash> {
    classify_output(&outcome.output, outcome.status)
}

/// `classify` on raw output and status: the captured-output tests use it.
pub fn classify_output(output: &str, status: RunStatus) -> Option<Crash> {
    let lines: Vec<&str> = output.lines().collect();
    let find = |needles: &[&str]| {
        lines
            .iter()
            .position(|line| needles.iter().any(|needle| line.contains(needle)))
    };
    let panic = find_panic(&lines);
    let marked = |kind: CrashKind, at: Option<usize>| at.map(|at| (at, kind, strip_prefix_markers(lines[at])));
    // Each kind of report, where it first appears. The first report printed
    // is the failure; what follows is its aftermath (a deadline passing
    // while a slow report is written, the engine's "deadly signal").
    let reports = [
        marked(
            CrashKind::Timeout,
            find(&[
                TIMEOUT_MARKER,
                "ERROR: libFuzzer: timeout",
                "ALARM: working on the last Unit",
            ]),
        ),
        marked(
            CrashKind::StackOverflow,
            find(&[STACK_OVERFLOW_MARKER, "AddressSanitizer: stack-overflow"]),
        ),
        marked(CrashKind::OverAllocation, find(&[OVER_ALLOCATION_MARKER])),
        marked(
            CrashKind::OutOfMemory,
            find(&[
                "ERROR: libFuzzer: out-of-memory",
                "out of memory: allocator is trying to allocate",
                "allocation-size-too-big",
                "requested allocation size",
            ])
            .or_else(|| {
                lines
                    .iter()
                    .position(|line| line.starts_with("memory allocation of ") && line.ends_with(" failed"))
            }),
        ),
        marked(
            CrashKind::Sanitizer,
            find(&[
                "ERROR: AddressSanitizer:",
                "ERROR: LeakSanitizer:",
                "WARNING: MemorySanitizer:",
                "WARNING: ThreadSanitizer:",
                ": runtime error: ",
            ]),
        ),
        panic.as_ref().map(|panic| {
            let kind = if panic.message.contains(VIOLATION_MARKER) {
                CrashKind::OracleViolation
            } else {
                CrashKind::Panic
            };
            (panic.line, kind, panic.message.clone())
        }),
        marked(CrashKind::Abort, find(&[FATAL_SIGNAL_MARKER])),
    ];
    // Earliest first; on the same line, the more specific kind (listed first).
    let first = reports.into_iter().flatten().min_by_key(|(at, _, _)| *at);
    let (kind, at, message) = if let Some((at, kind, message)) = first {
        (kind, at, message)
    } else if status == RunStatus::TimedOut {
        let message = "ran past the time limit and was killed (no report)".to_owned();
        (CrashKind::Timeout, lines.len(), message)
    } else if let Some(at) = find(&["ERROR: libFuzzer: deadly signal", "fatal runtime error"]) {
        (CrashKind::Abort, at, strip_prefix_markers(lines[at]))
    } else {
        match status {
            RunStatus::Exited(0) => return None,
            RunStatus::Exited(code) => (
                CrashKind::Abort,
                lines.len(),
                format!("exited with status {code}: {}", last_line(&lines)),
            ),
            RunStatus::Signaled(signal) => (
                CrashKind::Abort,
                lines.len(),
                format!("killed by {}", signal_name(signal)),
            ),
            RunStatus::TimedOut => unreachable!("handled above"),
        }
    };
    // A panic's stack follows the panic; other reports print theirs after
    // their own line. Frames are read from the `stack backtrace:` line on
    // when there is one, else from after the report's own lines, so a
    // message like `3: bad tag` is never taken for a frame.
    let stack_from = panic.as_ref().map_or(at, |panic| panic.line.min(at));
    let report_lines = match &panic {
        Some(panic) if panic.line == stack_from && !panic.quoted => 2,
        _ => 1,
    };
    let frames_from = lines
        .iter()
        .enumerate()
        .skip(stack_from)
        .find(|(_, line)| line.trim() == "stack backtrace:")
        .map_or(stack_from + report_lines, |(n, _)| n + 1);
    Some(Crash {
        kind,
        message,
        panic_location: panic.and_then(|panic| panic.location),
        frames: parse_frames(lines.get(frames_from..).unwrap_or_default()),
        excerpt: lines
            .iter()
            .skip(stack_from.min(lines.len()).saturating_sub(1))
            .take(EXCERPT_LINES)
            .copied()
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

struct PanicReport {
    line: usize,
    message: String,
    location: Option<String>,
    /// The old one-line format, message in quotes.
    quoted: bool,
}

/// Rust's panic report, in both formats:
/// - since 1.73: `thread 'main' (1234) panicked at src/x.rs:1:2:` and the
///   message on the next line (the thread id since 1.91);
/// - before: `thread 'main' panicked at 'message', src/x.rs:1:2`.
fn find_panic(lines: &[&str]) -> Option<PanicReport> {
    let (line, text) = lines
        .iter()
        .enumerate()
        .find(|(_, line)| line.starts_with("thread '") && line.contains(" panicked at "))?;
    let (_, rest) = text.split_once(" panicked at ")?;
    if let Some(quoted) = rest.strip_prefix('\'') {
        // Old format: the message is quoted, the location follows.
        let (message, location) = quoted.rsplit_once("', ").unwrap_or((quoted, ""));
        let location = (!location.is_empty()).then(|| location.trim().to_owned());
        return Some(PanicReport {
            line,
            message: message.to_owned(),
            location,
            quoted: true,
        });
    }
    let location = rest.strip_suffix(':').unwrap_or(rest).trim().to_owned();
    let message = lines.get(line + 1).map_or("", |next| next.trim()).to_owned();
    Some(PanicReport {
        line,
        message,
        location: Some(location),
        quoted: false,
    })
}

/// The report line without the tool's own prefix (`==123== ERROR: `,
/// `kafka-fuzz: `).
fn strip_prefix_markers(line: &str) -> String {
    let mut text = line.trim();
    if text.starts_with("==")
        && let Some((_, rest)) = text[2..].split_once("==")
    {
        text = rest.trim();
    }
    for prefix in ["ERROR: ", "WARNING: ", "kafka-fuzz: ", "over-allocation: ", "timeout: "] {
        text = text.strip_prefix(prefix).unwrap_or(text);
    }
    text.to_owned()
}

fn last_line<'a>(lines: &[&'a str]) -> &'a str {
    lines
        .iter()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map_or("", |line| line.trim())
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGFPE => "SIGFPE".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTRAP => "SIGTRAP".into(),
        other => format!("signal {other}"),
    }
}

/// The first stack in `lines`, in either of the two formats:
/// - Rust's (`  12: path::to::function` then `at file:line:col`, or
///   `  12:     0x55d4 - path::to::function` under `RUST_BACKTRACE=full`);
/// - sanitizers' and libFuzzer's (`#3 0x55d4 in function file:line:col`).
///
/// A stack ends where the frame numbers start over.
fn parse_frames(lines: &[&str]) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut last_index = None;
    for line in lines {
        let trimmed = line.trim();
        if let Some(at) = trimmed.strip_prefix("at ") {
            if let Some(frame) = frames.last_mut()
                && frame.location.is_none()
            {
                frame.location = Some(at.trim().to_owned());
            }
            continue;
        }
        let Some((index, frame)) = parse_rust_frame(trimmed).or_else(|| parse_sanitizer_frame(trimmed)) else {
            continue;
        };
        if last_index.is_some_and(|last| index < last) {
            break;
        }
        last_index = Some(index);
        frames.push(frame);
    }
    frames
}

fn parse_rust_frame(line: &str) -> Option<(usize, Frame)> {
    let (index, rest) = line.split_once(": ")?;
    let index = index.parse().ok()?;
    let rest = rest.trim();
    // `RUST_BACKTRACE=full`: an address, then the name.
    let function = match rest.split_once(" - ") {
        Some((address, name)) if address.starts_with("0x") => name,
        _ => rest,
    };
    Some((
        index,
        Frame {
            function: function.to_owned(),
            location: None,
        },
    ))
}

fn parse_sanitizer_frame(line: &str) -> Option<(usize, Frame)> {
    let rest = line.strip_prefix('#')?;
    let (index, rest) = rest.split_once(' ')?;
    let index = index.parse().ok()?;
    let (_address, rest) = rest.trim().split_once(' ')?;
    let rest = rest.strip_prefix("in ")?;
    let rest = rest.split_once(" (BuildId: ").map_or(rest, |(before, _)| before);
    // The location is the last word when it is a path (names may hold
    // spaces: `<T as Trait>::f`).
    let (function, location) = match rest.rsplit_once(' ') {
        Some((function, location)) if location.starts_with('/') || location.starts_with('(') => {
            let location = location.trim_start_matches('(').trim_end_matches(')');
            (function, Some(location.to_owned()))
        }
        _ => (rest, None),
    };
    Some((
        index,
        Frame {
            function: function.to_owned(),
            location,
        },
    ))
}
