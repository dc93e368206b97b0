//! `FatalSignalReport`: when a replayed input overflows the stack, faults,
//! or runs past its time limit, the process prints what happened and the
//! innermost frames before it dies. Rust's own stack-overflow message has
//! no frames and a killed process says nothing, so without this triage
//! could not name a location for stack overflows and hangs.
//!
//! Installed by the replay paths only (`kafka-fuzz replay`, the fuzz
//! crate's replay binaries): libFuzzer, AFL++ and honggfuzz bring their own
//! handlers. The report is best effort: symbolizing inside a signal handler
//! allocates, which can deadlock if the signal lands inside `malloc`; the
//! caller (triage) kills the process at its own deadline either way.

use std::ffi::c_void;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::alloc::{StackText, disarm_allocation_cap};

/// The line a stack overflow report contains (Rust's own wording).
pub const STACK_OVERFLOW_MARKER: &str = "has overflowed its stack";
/// The line a time-limit report starts with.
pub const TIMEOUT_MARKER: &str = "kafka-fuzz: timeout:";
/// The line any other fatal signal's report starts with.
pub const FATAL_SIGNAL_MARKER: &str = "kafka-fuzz: fatal signal";

/// Innermost frames printed: enough to see a recursion's cycle or a loop's
/// caller, few enough that a 100 000-frame recursion reports at once.
const FRAMES_SHOWN: usize = 48;
/// The handler symbolizes on this stack, not on the overflowed one.
const ALT_STACK_SIZE: usize = 4 << 20;
/// Symbolizing may deadlock (see the module's note): past this many seconds
/// the process dies of SIGALRM, its report's first line already out.
const WATCHDOG_SECS: libc::c_uint = 5;
/// A fault this close below the stack's lowest address is an overflow into
/// the guard region (a large frame can skip past the guard page itself).
const GUARD_REACH: usize = 1 << 20;

const REPORTED: [libc::c_int; 3] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGALRM];

static STACK_LOW: AtomicUsize = AtomicUsize::new(0);
static TIME_LIMIT_MS: AtomicUsize = AtomicUsize::new(0);

/// Handlers for SIGSEGV, SIGBUS and SIGALRM on the calling thread, which must
/// be the one that runs inputs.
pub struct FatalSignalReport(());

impl FatalSignalReport {
    /// Installs the handlers (once per process; later calls return another
    /// handle to the same ones).
    pub fn install() -> std::io::Result<Self> {
        static INSTALLED: std::sync::OnceLock<Result<(), std::io::ErrorKind>> = std::sync::OnceLock::new();
        INSTALLED
            .get_or_init(|| install_handlers().map_err(|error| error.kind()))
            .map_err(std::io::Error::from)?;
        Ok(Self(()))
    }

    /// Runs `f` with a deadline: past `limit`, the process reports a timeout
    /// with the frames it is in and aborts. `None` runs without one.
    pub fn with_time_limit<R>(&self, limit: Option<Duration>, f: impl FnOnce() -> R) -> R {
        let Some(limit) = limit else { return f() };
        TIME_LIMIT_MS.store(
            usize::try_from(limit.as_millis()).unwrap_or(usize::MAX),
            Ordering::Relaxed,
        );
        set_timer(limit);
        let result = f();
        cancel_time_limit();
        result
    }
}

fn install_handlers() -> std::io::Result<()> {
    // SAFETY: plain libc calls with valid, initialised arguments; the alt
    // stack mapping lives for the rest of the process.
    unsafe {
        let stack = libc::mmap(
            std::ptr::null_mut(),
            ALT_STACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if stack == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let alt = libc::stack_t {
            ss_sp: stack,
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        if libc::sigaltstack(&alt, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            let (mut low, mut size) = (std::ptr::null_mut::<c_void>(), 0usize);
            if libc::pthread_attr_getstack(&attr, &mut low, &mut size) == 0 {
                STACK_LOW.store(low as usize, Ordering::Relaxed);
            }
            libc::pthread_attr_destroy(&mut attr);
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_fatal_signal as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // One report at a time: a deadline passing while a crash is being
        // reported must not interrupt it with a second report.
        libc::sigemptyset(&mut action.sa_mask);
        for signal in REPORTED {
            libc::sigaddset(&mut action.sa_mask, signal);
        }
        for signal in REPORTED {
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    // A panic's report is the panic's: the deadline must not interrupt it.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        cancel_time_limit();
        report_panic(info);
    }));
    Ok(())
}

/// Stops the running input's deadline: a crash report is being written, and
/// a slow one (symbolizing) must not be cut short and reported as a hang.
pub fn cancel_time_limit() {
    set_timer(Duration::ZERO);
}

fn set_timer(limit: Duration) {
    let timer = libc::itimerval {
        it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 },
        it_value: libc::timeval {
            tv_sec: libc::time_t::try_from(limit.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::from(limit.subsec_micros()),
        },
    };
    // SAFETY: a valid timer value; the old value is not asked for.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
}

extern "C" fn on_fatal_signal(signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut c_void) {
    // Symbolizing allocates and takes time: neither is the input's doing.
    disarm_allocation_cap();
    cancel_time_limit();
    // The first line is formatted on the stack and written at once: it says
    // what happened even if symbolizing below never finishes.
    let mut header = StackText::<160>::default();
    match signal {
        libc::SIGALRM => {
            let limit = TIME_LIMIT_MS.load(Ordering::Relaxed);
            let _ = writeln!(header, "{TIMEOUT_MARKER} the input ran for more than {limit} ms");
        }
        _ => {
            // SAFETY: the kernel passes a valid siginfo to SA_SIGINFO handlers.
            let address = unsafe { (*info).si_addr() } as usize;
            let low = STACK_LOW.load(Ordering::Relaxed);
            if low != 0 && address < low.saturating_add(GUARD_REACH) && address >= low.saturating_sub(GUARD_REACH) {
                let _ = writeln!(header, "kafka-fuzz: the input's thread {STACK_OVERFLOW_MARKER}");
            } else {
                let name = if signal == libc::SIGBUS { "SIGBUS" } else { "SIGSEGV" };
                let _ = writeln!(header, "{FATAL_SIGNAL_MARKER} {name} at address {address:#x}");
            }
        }
    }
    write_stderr(header.as_bytes());
    // SAFETY: async-signal-safe calls on a local, initialised signal set.
    unsafe {
        libc::signal(libc::SIGALRM, libc::SIG_DFL);
        let mut alarm: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut alarm);
        libc::sigaddset(&mut alarm, libc::SIGALRM);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &alarm, std::ptr::null_mut());
        libc::alarm(WATCHDOG_SECS);
    }
    let mut report = String::from("stack backtrace:\n");
    let mut index = 0;
    // SAFETY: this thread is stopped in the handler; no other thread traces.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            let mut named = false;
            backtrace::resolve_frame_unsynchronized(frame, |symbol| {
                named = true;
                match symbol.name() {
                    Some(name) => {
                        let _ = writeln!(report, "{index:4}: {name:#}");
                    }
                    None => {
                        let _ = writeln!(report, "{index:4}: <unknown>");
                    }
                }
                if let (Some(file), Some(line)) = (symbol.filename(), symbol.lineno()) {
                    let column = symbol.colno().unwrap_or(0);
                    let _ = writeln!(report, "             at {}:{line}:{column}", file.display());
                }
            });
            if !named {
                let _ = writeln!(report, "{index:4}: <unknown> ({:p})", frame.ip());
            }
            index += 1;
            index < FRAMES_SHOWN
        });
    }
    write_stderr(report.as_bytes());
    // SAFETY: abort is async-signal-safe and never returns.
    unsafe { libc::abort() };
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: writes a live buffer to fd 2.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}
