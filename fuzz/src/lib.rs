//! `fuzz_main!`: one line per target binary that builds for whichever
//! engine the crate's features select (libFuzzer, AFL++, honggfuzz, or a
//! plain replay of files), with kafka-fuzz's counting allocator installed
//! and each input's allocations capped.

#[cfg(any(
    all(
        feature = "libfuzzer",
        any(feature = "afl", feature = "honggfuzz", feature = "replay")
    ),
    all(feature = "afl", any(feature = "honggfuzz", feature = "replay")),
    all(feature = "honggfuzz", feature = "replay"),
))]
compile_error!("choose one engine feature: libfuzzer (default), afl, honggfuzz or replay (with --no-default-features)");

#[cfg(feature = "afl")]
#[doc(hidden)]
pub use afl;
#[cfg(feature = "honggfuzz")]
#[doc(hidden)]
pub use honggfuzz;
#[doc(hidden)]
pub use kafka_fuzz;
#[cfg(feature = "libfuzzer")]
#[doc(hidden)]
pub use libfuzzer_sys;

/// Runs one input through `target` under the allocation cap.
pub fn run_one(target: fn(&[u8]), data: &[u8]) {
    kafka_fuzz::harness::alloc::with_allocation_cap(data.len(), || target(data));
}

/// The plain engine: every file named, and every file in every directory
/// named, through `target`, in name order, each reported as it runs so a
/// crash points at its input.
pub fn replay_main(target: fn(&[u8])) {
    let args: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    if args.is_empty() {
        eprintln!(
            "usage: {} FILE_OR_DIRECTORY...",
            std::env::args().next().unwrap_or_default()
        );
        std::process::exit(2);
    }
    let files = kafka_fuzz::corpus::input_files(&args).unwrap_or_else(|error| {
        eprintln!("cannot list the inputs: {error}");
        std::process::exit(2);
    });
    // Hangs are the engine's to time; stack overflows and faults get frames.
    let _report = kafka_fuzz::harness::fatal_signal::FatalSignalReport::install().unwrap_or_else(|error| {
        eprintln!("cannot install the fatal-signal report: {error}");
        std::process::exit(2);
    });
    for file in &files {
        let data = match std::fs::read(file) {
            Ok(data) => data,
            Err(error) => {
                eprintln!("cannot read {}: {error}", file.display());
                std::process::exit(2);
            }
        };
        eprintln!("running {} ({} bytes)", file.display(), data.len());
        run_one(target, &data);
    }
    eprintln!("{} inputs ran without a crash", files.len());
}

/// The body of a target binary: `kafka_fuzz_targets::fuzz_main!(produce);`
/// names a function of `kafka_fuzz::harness::targets`; any `fn(&[u8])`
/// path works too, e.g. a target bound to another server.
/// `fuzz_main!(session, mutator = mutate_session_script)` adds a custom
/// mutator of `kafka_fuzz::harness::input` (libFuzzer's hook; the other
/// engines mutate bytes only).
#[macro_export]
macro_rules! fuzz_main {
    ($target:ident, mutator = $mutator:ident) => {
        $crate::fuzz_main!($target);

        #[cfg(feature = "libfuzzer")]
        $crate::libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
            $crate::kafka_fuzz::harness::input::$mutator(
                data,
                size,
                max_size,
                seed,
                &mut $crate::libfuzzer_sys::fuzzer_mutate,
            )
        });
    };
    ($target:ident) => {
        $crate::fuzz_main!(@path $crate::kafka_fuzz::harness::targets::$target);
    };
    (@path $target:path) => {
        #[global_allocator]
        static ALLOCATOR: $crate::kafka_fuzz::harness::alloc::CountingAllocator =
            $crate::kafka_fuzz::harness::alloc::CountingAllocator;

        #[cfg(feature = "libfuzzer")]
        $crate::libfuzzer_sys::fuzz_target!(|data: &[u8]| $crate::run_one($target, data));

        #[cfg(feature = "afl")]
        fn main() {
            $crate::afl::fuzz!(|data: &[u8]| $crate::run_one($target, data));
        }

        #[cfg(feature = "honggfuzz")]
        fn main() {
            loop {
                $crate::honggfuzz::fuzz!(|data: &[u8]| {
                    $crate::run_one($target, data)
                });
            }
        }

        #[cfg(feature = "replay")]
        fn main() {
            $crate::replay_main($target);
        }
    };
}
