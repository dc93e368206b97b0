//! The per-input allocation cap: an input that holds more than its cap
//! aborts the process with a report naming the request and the input size;
//! one that stays under it runs normally.

use std::process::Command;

use kafka_fuzz::harness::alloc::{CountingAllocator, OVER_ALLOCATION_MARKER, allocation_cap, with_allocation_cap};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const CHILD: &str = "KAFKA_FUZZ_ALLOCATION_CAP_CHILD";

/// Run by the test below in a child process: allocates past the cap of a
/// 10-byte input. Does nothing in a normal test run.
#[test]
fn over_allocating_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    with_allocation_cap(10, || {
        let block = std::hint::black_box(vec![1u8; allocation_cap(10) + 1]);
        std::hint::black_box(&block);
    });
    unreachable!("the cap did not fire");
}

#[test]
fn an_input_over_its_cap_aborts_with_a_report() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "over_allocating_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the child survived:\n{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(output.status.signal(), Some(6), "SIGABRT expected:\n{stderr}");
    }
    let requested = allocation_cap(10) + 1;
    let expected = format!(
        "{OVER_ALLOCATION_MARKER} an allocation of {requested} bytes would hold {requested} bytes live, \
         over the cap of {} bytes for an input of 10 bytes",
        allocation_cap(10)
    );
    assert!(stderr.contains(&expected), "no report in:\n{stderr}");
    assert!(
        stderr.contains("over_allocating_child"),
        "no backtrace naming the allocator's caller:\n{stderr}"
    );
}

#[test]
fn an_input_under_its_cap_runs_and_the_cap_is_lifted_after() {
    let sum: u64 = with_allocation_cap(1000, || {
        vec![1u8; allocation_cap(1000) / 2].iter().map(|&b| u64::from(b)).sum()
    });
    assert_eq!(sum, (allocation_cap(1000) / 2) as u64);
    // Outside the capped call, far more is fine.
    let big = vec![0u8; allocation_cap(0) * 2];
    assert_eq!(big.len(), allocation_cap(0) * 2);
}
