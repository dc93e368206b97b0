//! `Reproducer`: runs one input in a child process, under a time and a
//! memory limit, and captures what it printed and how it ended. Either
//! `kafka-fuzz replay --target T` (the default: it reports stack overflows
//! and hangs with frames) or a target binary given by the user: a libFuzzer
//! binary (`cargo fuzz build`) or a replay binary (the fuzz crate built with
//! `--features replay`), both of which take the input file as argument.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::TriageError;

/// Output kept per run: the head (what ran) and the tail (how it died).
const OUTPUT_HEAD: usize = 64 * 1024;
const OUTPUT_TAIL: usize = 448 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Exited(i32),
    Signaled(i32),
    /// Still running at the deadline, and killed.
    TimedOut,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: RunStatus,
    /// stdout and stderr interleaved as written.
    pub output: String,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReproducerKind {
    /// `kafka-fuzz replay`, or a replay binary.
    Replay,
    /// A libFuzzer binary; `sanitized` when built with a sanitizer, whose
    /// shadow memory rules out an address-space limit.
    LibFuzzer { sanitized: bool },
}

#[derive(Debug, Clone)]
pub struct Reproducer {
    program: PathBuf,
    /// Before the input file.
    args: Vec<OsString>,
    kind: ReproducerKind,
    time_limit: Duration,
    memory_limit_mb: u64,
}

impl Reproducer {
    /// `program replay --target TARGET --timeout SECS FILE`: kafka-fuzz
    /// itself.
    pub fn replay(program: PathBuf, target: &str, time_limit: Duration, memory_limit_mb: u64) -> Self {
        let args = vec![
            "replay".into(),
            "--target".into(),
            target.into(),
            "--timeout".into(),
            format!("{}", time_limit.as_secs_f64()).into(),
            "--quiet".into(),
        ];
        Self {
            program,
            args,
            kind: ReproducerKind::Replay,
            time_limit,
            memory_limit_mb,
        }
    }

    /// A target binary; which kind it is is read off its symbols.
    pub fn binary(program: PathBuf, time_limit: Duration, memory_limit_mb: u64) -> Result<Self, TriageError> {
        let image = std::fs::read(&program).map_err(|source| TriageError::Binary {
            path: program.clone(),
            source,
        })?;
        let has = |symbol: &[u8]| image.windows(symbol.len()).any(|window| window == symbol);
        if has(b"__afl_area_ptr") || has(b"HonggfuzzMain") || has(b"HF_ITER") {
            return Err(TriageError::Binary {
                path: program,
                source: std::io::Error::other(
                    "an AFL++ or honggfuzz build reads its input from stdin: triage without --binary \
                     (kafka-fuzz replay) or with a libFuzzer or replay build of the target",
                ),
            });
        }
        let (kind, args) = if has(b"LLVMFuzzerTestOneInput") {
            let timeout = time_limit.as_secs().max(1);
            let args = vec![
                format!("-timeout={timeout}").into(),
                format!("-rss_limit_mb={memory_limit_mb}").into(),
            ];
            (
                ReproducerKind::LibFuzzer {
                    sanitized: [&b"__asan_init"[..], b"__msan_init", b"__tsan_init", b"__hwasan_init"]
                        .iter()
                        .any(|symbol| has(symbol)),
                },
                args,
            )
        } else {
            (ReproducerKind::Replay, Vec::new())
        };
        Ok(Self {
            program,
            args,
            kind,
            time_limit,
            memory_limit_mb,
        })
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn kind(&self) -> ReproducerKind {
        self.kind
    }

    /// The command line that reproduces `input`, for a person to paste.
    pub fn command_line(&self, input: &Path) -> String {
        let mut words = vec![
            "RUST_BACKTRACE=1".to_owned(),
            shell_word(&self.program.to_string_lossy()),
        ];
        words.extend(self.args.iter().map(|arg| shell_word(&arg.to_string_lossy())));
        words.push(shell_word(&input.to_string_lossy()));
        words.join(" ")
    }

    /// Runs `input` once.
    pub fn run(&self, input: &Path) -> std::io::Result<Outcome> {
        let mut command = Command::new(&self.program);
        command.args(&self.args).arg(input);
        self.run_command(command, self.deadline())
    }

    /// libFuzzer's own crash minimizer (what `cargo fuzz tmin` runs), for
    /// `budget`, writing the smallest crashing input it finds to `out`.
    pub fn libfuzzer_minimize(&self, input: &Path, out: &Path, budget: Duration) -> std::io::Result<Outcome> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .arg("-minimize_crash=1")
            .arg(format!("-max_total_time={}", budget.as_secs().max(1)))
            .arg("-runs=100000")
            .arg(format!("-exact_artifact_path={}", out.display()))
            .arg(input);
        self.run_command(command, budget + self.deadline())
    }

    /// The replay reports a timeout itself at the limit; the kill is for a
    /// process too stuck to, with room for a slow crash report to finish.
    fn deadline(&self) -> Duration {
        self.time_limit * 2 + Duration::from_secs(5)
    }

    fn run_command(&self, mut command: Command, deadline: Duration) -> std::io::Result<Outcome> {
        let (mut reader, writer) = std::io::pipe()?;
        command
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .env("RUST_BACKTRACE", "1");
        let address_space = match self.kind {
            ReproducerKind::LibFuzzer { sanitized: true } => None,
            _ => (self.memory_limit_mb > 0).then(|| self.memory_limit_mb.saturating_mul(1 << 20)),
        };
        use std::os::unix::process::CommandExt;
        // Its own process group: whatever it starts (libFuzzer's minimizer
        // runs children) is killed with it, and no one keeps the pipe open.
        command.process_group(0);
        if let Some(bytes) = address_space {
            // SAFETY: getrlimit and setrlimit are async-signal-safe and
            // touch no memory of the parent.
            unsafe {
                command.pre_exec(move || {
                    let mut limit = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    if libc::getrlimit(libc::RLIMIT_AS, &mut limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // The soft limit only, never above the inherited hard one
                    // (raising it would be refused under `ulimit -v`).
                    limit.rlim_cur = bytes.min(limit.rlim_max);
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let started = Instant::now();
        let mut child = command.spawn()?;
        let group = libc::pid_t::try_from(child.id()).unwrap_or(libc::pid_t::MAX);
        // SAFETY: signals the process group this call created, by its id.
        let kill_group = || unsafe {
            libc::killpg(group, libc::SIGKILL);
        };
        // The command holds the pipe's write ends: dropped, so the read
        // ends when the child exits.
        drop(command);
        let collector = std::thread::spawn(move || read_bounded(&mut reader));
        let status = loop {
            if let Some(status) = child.try_wait()? {
                // Leftover children of the child go too.
                kill_group();
                break status_of(status);
            }
            if started.elapsed() > deadline {
                kill_group();
                let _ = child.wait();
                break RunStatus::TimedOut;
            }
            let elapsed = started.elapsed();
            std::thread::sleep(if elapsed < Duration::from_millis(20) {
                Duration::from_micros(500)
            } else {
                Duration::from_millis(5)
            });
        };
        let output = collector.join().unwrap_or_default();
        Ok(Outcome {
            status,
            output,
            elapsed: started.elapsed(),
        })
    }
}

fn status_of(status: ExitStatus) -> RunStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => RunStatus::Exited(code),
        (None, Some(signal)) => RunStatus::Signaled(signal),
        (None, None) => RunStatus::Exited(-1),
    }
}

/// Everything the child writes, keeping the first and last bytes when it
/// writes more than fits (a looping print must not fill our memory).
fn read_bounded(reader: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut tail = std::collections::VecDeque::new();
    let mut dropped = 0usize;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut bytes = &chunk[..n];
        if head.len() < OUTPUT_HEAD {
            let take = bytes.len().min(OUTPUT_HEAD - head.len());
            head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        tail.extend(bytes);
        if tail.len() > OUTPUT_TAIL {
            let excess = tail.len() - OUTPUT_TAIL;
            tail.drain(..excess);
            dropped += excess;
        }
    }
    let mut text = String::from_utf8_lossy(&head).into_owned();
    if dropped > 0 {
        text.push_str(&format!("\n[... {dropped} bytes of output cut ...]\n"));
    }
    text.push_str(&String::from_utf8_lossy(tail.make_contiguous()));
    text
}

/// `word` quoted for a POSIX shell when it needs to be.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
