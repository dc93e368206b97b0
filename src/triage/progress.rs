//! `StatusLine`: progress on stderr while triage works: one line rewritten
//! in place on a terminal, a line every few seconds in a log.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Between lines when stderr is not a terminal.
const LOG_INTERVAL: Duration = Duration::from_secs(5);

pub struct StatusLine {
    terminal: bool,
    last: Mutex<Option<Instant>>,
}

impl StatusLine {
    pub fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last: Mutex::new(None),
        }
    }

    /// Shows `text` now on a terminal; in a log, at most every few seconds
    /// unless `always`.
    pub fn show(&self, text: &str, always: bool) {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(stderr, "\r\x1b[2K{text}");
            if always {
                let _ = writeln!(stderr);
            }
        } else if always || last.is_none_or(|at| at.elapsed() >= LOG_INTERVAL) {
            let _ = writeln!(stderr, "{text}");
            *last = Some(Instant::now());
        }
        let _ = stderr.flush();
    }
}

impl Default for StatusLine {
    fn default() -> Self {
        Self::new()
    }
}
