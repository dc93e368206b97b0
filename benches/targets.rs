//! Executions per second of every built-in fuzz target over its committed
//! seeds, in this process: each target runs its whole corpus round after
//! round for a fixed time, and a table prints executions per second. Run
//! it on two builds (before and after a change to the broker) and compare
//! the columns: the targets are what fuzzing speed is made of.
//!
//!     cargo bench --bench targets [-- SECONDS_PER_TARGET] [TARGET ...]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use kafka_fuzz::harness::targets::TARGETS;

fn main() {
    // cargo bench passes --bench; the rest is seconds and target names.
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--bench").collect();
    let seconds: f64 = args.iter().find_map(|arg| arg.parse().ok()).unwrap_or(3.0);
    let only: Vec<&String> = args.iter().filter(|arg| arg.parse::<f64>().is_err()).collect();
    let budget = Duration::from_secs_f64(seconds);
    println!("{:<14} {:>7} {:>12} {:>12}", "target", "seeds", "executions", "exec/s");
    for target in TARGETS
        .iter()
        .filter(|t| only.is_empty() || only.iter().any(|name| *name == t.name))
    {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target.name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut seeds: Vec<Vec<u8>> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().is_file())
            .filter_map(|entry| std::fs::read(entry.path()).ok())
            .collect();
        seeds.sort();
        if seeds.is_empty() {
            continue;
        }
        let start = Instant::now();
        let mut executions = 0u64;
        while start.elapsed() < budget {
            for seed in &seeds {
                (target.run)(black_box(seed));
                executions += 1;
            }
        }
        let rate = executions as f64 / start.elapsed().as_secs_f64();
        println!(
            "{:<14} {:>7} {:>12} {:>12.0}",
            target.name,
            seeds.len(),
            executions,
            rate
        );
    }
}
