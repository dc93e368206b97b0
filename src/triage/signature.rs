//! `CrashSignature`: what makes two crashes the same bug. The kind, the
//! message with its numbers and addresses stripped (sizes and offsets vary
//! per input), and the innermost frames in code under test, after dropping
//! the standard library, panic and allocation machinery and fuzzer runtimes.
//! Function names rather than line numbers, so a signature survives an
//! unrelated edit of the file.

use serde::{Deserialize, Serialize};

use super::classify::{Crash, CrashKind, Frame};

/// Frames of code under test a signature keeps.
pub const SIGNATURE_FRAMES: usize = 3;
/// A hang's: where the deadline landed inside a loop varies from run to
/// run, so only the innermost function counts.
const TIMEOUT_FRAMES: usize = 1;
/// Longest normalized message a signature keeps.
const MESSAGE_CHARS: usize = 200;

/// Frames whose function starts with one of these are machinery: the
/// standard library, panic and unwinding, fuzzer runtimes and sanitizers,
/// and kafka-fuzz's own harness around the target (allocator, signal
/// report, engine glue).
const MACHINERY_PREFIXES: &[&str] = &[
    "std::",
    "core::",
    "alloc::",
    "__rustc::",
    "rust_begin_unwind",
    "rust_panic",
    "__rust",
    "panic_abort::",
    "panic_unwind::",
    "backtrace::",
    "libfuzzer_sys::",
    "fuzzer::",
    "LLVMFuzzer",
    "afl::",
    "honggfuzz::",
    "__sanitizer",
    "__asan",
    "__lsan",
    "__msan",
    "__ubsan",
    "__interceptor",
    "__libc",
    "__GI_",
    "__pthread",
    "kafka_fuzz::harness::alloc::",
    "kafka_fuzz::harness::fatal_signal::",
    "kafka_fuzz_targets::",
    "rust_fuzzer_test_input",
    // libFuzzer's own (C++, mangled when only line tables are present).
    "_ZN6fuzzer",
    // Unsymbolized: `<unknown>` from Rust, `unknown` once `<` is trimmed.
    "unknown>",
    "??",
];

/// Frames whose source file path contains one of these are machinery too:
/// with line tables only, inlined frames carry a bare name (`run_one`,
/// `{closure#0}`), and only their file says whose they are.
const MACHINERY_PATHS: &[&str] = &[
    "/rustc/",
    "/library/std/",
    "/library/core/",
    "/library/alloc/",
    "/libfuzzer-sys-",
    "/libfuzzer/",
    "/compiler-rt/",
    "/afl-",
    "/honggfuzz-",
    "/backtrace-",
    "/csu/",
    "/nptl/",
    "/sysdeps/",
    "src/harness/alloc.rs",
    "src/harness/fatal_signal.rs",
    "fuzz/src/lib.rs",
];

/// C runtime functions seen in stacks.
const MACHINERY_NAMES: &[&str] = &[
    "_start",
    "abort",
    "raise",
    "gsignal",
    "malloc",
    "calloc",
    "realloc",
    "free",
    "clone",
    "clone3",
    "start_thread",
    "__restore_rt",
    "pthread_kill",
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CrashSignature {
    pub kind: CrashKind,
    pub message: String,
    /// Innermost first; when the output had no stack, the panic location.
    pub frames: Vec<String>,
}

impl CrashSignature {
    pub fn of(crash: &Crash) -> Self {
        let mut frames: Vec<String> = own_frames(&crash.frames)
            .map(|frame| normalize_function(&frame.function))
            .collect();
        // A recursion shows one function many times: its cycle is the bug.
        frames.dedup();
        frames.truncate(match crash.kind {
            CrashKind::Timeout => TIMEOUT_FRAMES,
            _ => SIGNATURE_FRAMES,
        });
        if frames.is_empty()
            && let Some(location) = &crash.panic_location
        {
            frames.push(location.clone());
        }
        Self {
            kind: crash.kind,
            message: normalize_message(&crash.message),
            frames,
        }
    }

    /// One line: `kind: message | innermost > caller > ...`.
    pub fn text(&self) -> String {
        format!("{}: {} | {}", self.kind, self.message, self.frames.join(" > "))
    }

    /// A stable 16-hex-digit name (FNV-1a 64 of `text`): the file name a
    /// promoted regression gets, so the same bug is filed once.
    pub fn id(&self) -> String {
        let hash = self.text().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        format!("{hash:016x}")
    }
}

/// The frames in code under test, innermost first.
pub fn own_frames(frames: &[Frame]) -> impl Iterator<Item = &Frame> {
    frames.iter().filter(|frame| {
        !is_machinery(&normalize_function(&frame.function))
            && !frame
                .location
                .as_ref()
                .is_some_and(|location| MACHINERY_PATHS.iter().any(|path| location.contains(path)))
    })
}

fn is_machinery(function: &str) -> bool {
    // `<alloc::vec::Vec<T> as Trait>::f` and `<&dyn core::ops::Fn>::call`
    // belong to the type's crate.
    let name = function.trim_start_matches(['<', '&']);
    let name = name.strip_prefix("mut ").unwrap_or(name);
    let name = name.strip_prefix("dyn ").unwrap_or(name);
    MACHINERY_NAMES.contains(&name)
        || MACHINERY_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        // Every binary's `main` and its closures: the replay loop.
        || name == "main"
        || name.ends_with("::main")
        || name.contains("::main::")
}

/// Without what changes per build: the symbol hash
/// (`::h0123456789abcdef`) and v0 mangling's crate disambiguators
/// (`core[c1f1a4ba060b9bfa]::fmt`).
fn normalize_function(function: &str) -> String {
    let mut name = String::with_capacity(function.len());
    let mut rest = function;
    while let Some(open) = rest.find('[') {
        let close = rest[open..].find(']').map(|at| open + at);
        match close {
            Some(close) if close > open + 1 && rest[open + 1..close].bytes().all(|b| b.is_ascii_hexdigit()) => {
                name.push_str(&rest[..open]);
            }
            Some(close) => name.push_str(&rest[..=close]),
            None => break,
        }
        rest = &rest[close.map_or(rest.len(), |close| close + 1)..];
    }
    name.push_str(rest);
    match name.rsplit_once("::h") {
        Some((stem, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => stem.to_owned(),
        _ => name,
    }
}

/// Numbers become `N` and hex addresses `0xN`, whitespace runs one space.
pub fn normalize_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek() == Some(&'x') {
            chars.next();
            while chars.peek().is_some_and(char::is_ascii_hexdigit) {
                chars.next();
            }
            out.push_str("0xN");
        } else if c.is_ascii_digit() {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('N');
        } else if c.is_whitespace() {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out.trim().chars().take(MESSAGE_CHARS).collect()
}
