//! `CountingAllocator`: a global allocator that measures, per thread, the
//! bytes live and the peak, so tests and fuzz targets can find
//! over-allocation without AddressSanitizer; and, per fuzz input, a cap on
//! those bytes that aborts with a message naming the request and the input
//! (libFuzzer's `-malloc_limit_mb` only fires under a sanitizer).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::io::Write as _;

/// Wraps the system allocator. Install it with
/// `#[global_allocator] static A: CountingAllocator = CountingAllocator;`.
pub struct CountingAllocator;

/// The line an over-allocation abort starts with; triage looks for it.
pub const OVER_ALLOCATION_MARKER: &str = "kafka-fuzz: over-allocation:";

/// Every input may hold this many bytes at once, whatever its size: room for
/// a broker's fixed state and one capped decompression. A server of one's
/// own that needs more sets `ALLOCATION_FLOOR_VARIABLE` (in MiB).
pub const CAP_FLOOR: usize = 32 * 1024 * 1024;

/// The environment variable that replaces `CAP_FLOOR`, in MiB.
pub const ALLOCATION_FLOOR_VARIABLE: &str = "KAFKA_FUZZ_ALLOCATION_FLOOR_MB";
/// ... plus this many per input byte: a decoded request is a small multiple
/// of its frame (structs, reference counts), and a broker keeps what it logs.
pub const CAP_PER_INPUT_BYTE: usize = 64;

/// The most one input of `input_len` bytes may allocate at once.
pub fn allocation_cap(input_len: usize) -> usize {
    allocation_floor().saturating_add(CAP_PER_INPUT_BYTE.saturating_mul(input_len))
}

/// `CAP_FLOOR`, or what `ALLOCATION_FLOOR_VARIABLE` says: read once, before
/// any input runs (reading it allocates).
fn allocation_floor() -> usize {
    static FLOOR: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *FLOOR.get_or_init(|| match std::env::var(ALLOCATION_FLOOR_VARIABLE) {
        Ok(mib) => match mib.trim().parse::<usize>() {
            Ok(mib) => mib.saturating_mul(1024 * 1024),
            Err(_) => {
                eprintln!(
                    "kafka-fuzz: {ALLOCATION_FLOOR_VARIABLE}={mib} is not a number of MiB; using {CAP_FLOOR} bytes"
                );
                CAP_FLOOR
            }
        },
        Err(_) => CAP_FLOOR,
    })
}

thread_local! {
    // `const` initialisers: no lazy setup, so no allocation inside `alloc`.
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    /// The input being run under a cap: (live bytes before it, its length,
    /// its cap); none outside `with_allocation_cap`.
    static CAPPED: Cell<Option<CappedInput>> = const { Cell::new(None) };
}

#[derive(Clone, Copy)]
struct CappedInput {
    base: usize,
    input_len: usize,
    cap: usize,
}

fn record_alloc(size: usize) {
    // `try_with` because a thread being torn down may still allocate.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(size);
        if let Ok(Some(capped)) = CAPPED.try_with(Cell::get)
            && now.saturating_sub(capped.base) > capped.cap
        {
            over_allocation(size, now - capped.base, capped);
        }
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn record_dealloc(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
}

/// Reports the request that broke the cap, with a backtrace, and aborts: the
/// fuzzing engine records the input as a crash.
#[cold]
#[inline(never)]
fn over_allocation(requested: usize, would_be_live: usize, capped: CappedInput) -> ! {
    // Disarmed first: the report itself allocates (the backtrace), and
    // symbolizing it may outlast a replay's deadline.
    disarm_allocation_cap();
    super::fatal_signal::cancel_time_limit();
    // Formatted on the stack: the heap is what just failed us.
    let mut line = StackText::<480>::default();
    let _ = writeln!(
        line,
        "{OVER_ALLOCATION_MARKER} an allocation of {requested} bytes would hold {would_be_live} bytes live, \
         over the cap of {} bytes for an input of {} bytes",
        capped.cap, capped.input_len
    );
    let _ = writeln!(
        line,
        "(a server that needs more fixed state: {ALLOCATION_FLOOR_VARIABLE}=<MiB> raises the floor)"
    );
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(line.as_bytes());
    // A panic being reported holds the backtrace lock: taking it again
    // would deadlock, and the panic's own report shows the frames.
    if !std::thread::panicking() {
        let _ = writeln!(stderr, "{}", std::backtrace::Backtrace::force_capture());
    }
    std::process::abort();
}

/// A fixed-size text buffer that drops what does not fit: for reports
/// written where the heap cannot be trusted.
pub(crate) struct StackText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for StackText<N> {
    fn default() -> Self {
        Self { bytes: [0; N], len: 0 }
    }
}

impl<const N: usize> StackText<N> {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize> std::fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let take = s.len().min(N - self.len);
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

// SAFETY: every call is forwarded unchanged to `System`; only counters change.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record_alloc(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record_alloc(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record_dealloc(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Count the new block before the old one goes: both are live while
        // the bytes move.
        record_alloc(new_size);
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        record_dealloc(layout.size());
        moved
    }
}

/// Runs `f` and returns its result with the peak number of bytes it had
/// allocated at once on this thread (above what was live before it started).
/// Meaningful only when `CountingAllocator` is the global allocator.
pub fn peak_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let result = f();
    let peak = PEAK.with(Cell::get).saturating_sub(base);
    (result, peak)
}

/// Runs `f`, the processing of one fuzz input of `input_len` bytes, aborting
/// the process with an over-allocation report if this thread ever holds more
/// than `allocation_cap(input_len)` bytes beyond what was live before. Only
/// enforced when `CountingAllocator` is the global allocator.
pub fn with_allocation_cap<R>(input_len: usize, f: impl FnOnce() -> R) -> R {
    disarm_on_panic();
    let capped = CappedInput {
        base: LIVE.with(Cell::get),
        input_len,
        cap: allocation_cap(input_len),
    };
    let outer = CAPPED.with(|c| c.replace(Some(capped)));
    // Restored even if `f` panics, so a caught panic does not leave a stale
    // cap armed.
    struct Restore(Option<CappedInput>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CAPPED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(outer);
    f()
}

/// Lifts this thread's cap for the rest of the input: a crash report is
/// about to allocate (symbolizing a backtrace), and must not be cut short.
pub fn disarm_allocation_cap() {
    let _ = CAPPED.try_with(|c| c.set(None));
}

/// A panic's report (message, backtrace, symbolization) allocates freely
/// and is the engine's to make: the cap is lifted before any other panic
/// hook runs, so the report is never cut short by a second abort.
fn disarm_on_panic() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            disarm_allocation_cap();
            report(info);
        }));
    });
}
