//! The watchdog: a run where no operation completes for `--stall` seconds
//! while some are outstanding, and no fault explains it, is a stall. Storm
//! then samples each server process's CPU (a deadlock sits near 0 %, a
//! livelock near 100 %) and dumps every thread's stack with gdb, or eu-stack
//! where gdb is missing. Resident memory is sampled through the run.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use procfs::process::Process;
use serde::Serialize;

use crate::harness::target::NodeId;

/// How long a stack dump may take.
const DUMP_TIMEOUT: Duration = Duration::from_secs(30);

/// A server process seen by the watchdog.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessSample {
    pub node: NodeId,
    pub pid: u32,
    /// CPU use over the sample, in percent of one core.
    pub cpu_percent: f64,
    pub threads: i64,
    pub rss_mb: u64,
    /// Every thread's stack, as the debugger printed it.
    pub stacks: String,
}

/// CPU seconds a process used so far (user and system).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = Process::new(i32::try_from(pid).ok()?).ok()?.stat().ok()?;
    let ticks = procfs::ticks_per_second() as f64;
    Some((stat.utime + stat.stime) as f64 / ticks)
}

/// Resident memory of a process, in MiB.
pub fn rss_mb(pid: u32) -> Option<u64> {
    let stat = Process::new(i32::try_from(pid).ok()?).ok()?.stat().ok()?;
    Some(stat.rss * procfs::page_size() / (1 << 20))
}

/// CPU seconds storm itself used so far.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

fn threads(pid: u32) -> i64 {
    i32::try_from(pid)
        .ok()
        .and_then(|pid| Process::new(pid).ok())
        .and_then(|process| process.stat().ok())
        .map_or(0, |stat| stat.num_threads)
}

/// Runs a command with a deadline; its stdout, or why there is none.
fn output_within(command: &mut Command, timeout: Duration) -> Result<String, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer in {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if text.trim().is_empty() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    Ok(text)
}

/// Every thread's stack of `pid`: gdb's backtraces, or eu-stack's.
pub fn stacks(pid: u32) -> String {
    let pid_arg = pid.to_string();
    let gdb = output_within(
        Command::new("gdb").args([
            "-batch",
            "-nx",
            "-p",
            &pid_arg,
            "-ex",
            "set pagination off",
            "-ex",
            "thread apply all bt",
        ]),
        DUMP_TIMEOUT,
    );
    let why_not_gdb = match gdb {
        Ok(text) if text.contains("Thread ") => return text,
        Ok(text) => text,
        Err(why) => why,
    };
    match output_within(Command::new("eu-stack").args(["-p", &pid_arg]), DUMP_TIMEOUT) {
        Ok(text) => text,
        Err(why) => format!("no stacks: gdb: {why_not_gdb}; eu-stack: {why}"),
    }
}

/// Samples each process: CPU over one second, threads, memory, stacks.
pub fn sample(processes: &[(NodeId, u32)]) -> Vec<ProcessSample> {
    let before: Vec<Option<f64>> = processes.iter().map(|&(_, pid)| cpu_seconds(pid)).collect();
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let seconds = window.elapsed().as_secs_f64();
    processes
        .iter()
        .zip(before)
        .map(|(&(node, pid), before)| {
            let cpu_percent = match (before, cpu_seconds(pid)) {
                (Some(before), Some(after)) => (after - before) / seconds * 100.0,
                _ => 0.0,
            };
            ProcessSample {
                node,
                pid,
                cpu_percent,
                threads: threads(pid),
                rss_mb: rss_mb(pid).unwrap_or(0),
                stacks: stacks(pid),
            }
        })
        .collect()
}

/// What a stall looks like from the CPU: a deadlock or a livelock.
pub fn diagnosis(samples: &[ProcessSample]) -> &'static str {
    let busiest = samples.iter().map(|s| s.cpu_percent).fold(0.0, f64::max);
    if busiest < 5.0 {
        "deadlock-like: the servers sit idle while requests wait"
    } else if busiest > 80.0 {
        "livelock-like: a server spins while requests wait"
    } else {
        "the servers work but answer nothing"
    }
}
