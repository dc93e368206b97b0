//! Clock skew for the processes storm starts, through libfaketime (Debian
//! `faketime`): each node runs with it preloaded, reading its offset from a
//! file of its own that a `clock` fault rewrites. Only the wall clock moves
//! (CLOCK_REALTIME: timestamps, retention, what `SystemTime` reads), as an
//! NTP step does; the monotonic clock timers run on is left alone. A
//! statically linked server ignores the preload: its clock never moves.

use std::path::{Path, PathBuf};

use super::StormError;

/// Where Debian and a source build put the library.
const LIBRARY_PLACES: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
];

/// Overrides where libfaketime is looked for.
pub const LIBRARY_VARIABLE: &str = "KAFKA_FUZZ_LIBFAKETIME";

/// libfaketime's shared library, or why there is none.
pub fn library() -> Result<PathBuf, StormError> {
    if let Ok(path) = std::env::var(LIBRARY_VARIABLE) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(StormError::Options(format!(
                "{LIBRARY_VARIABLE}={}: no such file",
                path.display()
            )))
        };
    }
    LIBRARY_PLACES
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .ok_or_else(|| {
            StormError::Options(format!(
                "--faults clock needs libfaketime (Debian: apt-get install faketime; or set {LIBRARY_VARIABLE}); \
                 looked in {}",
                LIBRARY_PLACES.join(", ")
            ))
        })
}

/// One node's skewable clock: the file its libfaketime reads.
#[derive(Debug, Clone)]
pub struct SkewedClock {
    library: PathBuf,
    file: PathBuf,
}

impl SkewedClock {
    /// A clock at no offset, its file under `dir`.
    pub fn new(library: PathBuf, dir: &Path, node: i32) -> Result<Self, StormError> {
        let clock = Self {
            library,
            file: dir.join(format!("clock-node-{node}")),
        };
        clock.set(0)?;
        Ok(clock)
    }

    /// The environment a process needs for its clock to follow the file.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", self.library.display().to_string()),
            ("FAKETIME_TIMESTAMP_FILE", self.file.display().to_string()),
            // Read again at most every second: a fault takes effect within one.
            ("FAKETIME_CACHE_DURATION", "1".to_owned()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
        ]
    }

    /// Moves the clock `seconds` away from the true time (0: back to it).
    pub fn set(&self, seconds: i64) -> Result<(), StormError> {
        std::fs::write(&self.file, format!("{seconds:+}s\n"))
            .map_err(|e| StormError::Io(format!("cannot write {}: {e}", self.file.display())))
    }
}
