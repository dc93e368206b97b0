//! The fault schedule: one fault at a time on one node, chosen from the
//! seed, separated by `--fault-interval`; each healed before the next (a
//! killed node started again, a paused one continued), and all healed when
//! the run stops.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::history::HistoryEvent;
use super::launch::LaunchedServers;
use super::options::FaultKind;
use super::workload::RunState;

/// Whether a fault is on, and when the last one ended: the watchdog does
/// not call a wait a fault explains a stall.
#[derive(Debug, Default)]
pub struct FaultState {
    pub active: AtomicBool,
    pub last_ended_ms: AtomicU64,
}

/// What the schedule tells the run: a fault about to start (before it
/// acts), and each fault once it ended.
pub enum FaultNotice {
    Starting(FaultKind),
    Ended(HistoryEvent),
}

pub struct FaultSchedule {
    pub kinds: Vec<FaultKind>,
    pub interval: Duration,
    pub seed: u64,
}

/// Sleeps `duration` unless the run stops first; false if it stopped.
fn wait(state: &RunState, duration: Duration) -> bool {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        if state.stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    true
}

fn lock(servers: &Mutex<LaunchedServers>) -> std::sync::MutexGuard<'_, LaunchedServers> {
    servers.lock().unwrap_or_else(|p| p.into_inner())
}

impl FaultSchedule {
    /// Injects faults until the run stops; each one ends up in `record`.
    /// An error (a node that does not come back) ends the schedule.
    pub fn run(
        &self,
        servers: &Mutex<LaunchedServers>,
        state: &RunState,
        faults: &FaultState,
        started: Instant,
        mut record: impl FnMut(FaultNotice),
    ) -> Result<(), super::StormError> {
        if self.kinds.is_empty() {
            return Ok(());
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xFA01_7000);
        let elapsed_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        loop {
            if !wait(state, self.interval) {
                return Ok(());
            }
            let kind = self.kinds[rng.gen_range(0..self.kinds.len())];
            let nodes = lock(servers).node_ids();
            let node = nodes[rng.gen_range(0..nodes.len())];
            // A reset is over once done; the others last a while.
            let hold = match kind {
                FaultKind::Reset => Duration::ZERO,
                _ => Duration::from_millis(rng.gen_range(1_000..6_000)),
            };
            faults.active.store(true, Ordering::Relaxed);
            record(FaultNotice::Starting(kind));
            let started_ms = elapsed_ms();
            let mut detail = String::new();
            match kind {
                FaultKind::Kill => lock(servers).kill(node)?,
                FaultKind::Pause => lock(servers).pause(node)?,
                FaultKind::Partition => lock(servers).isolate(node, true),
                FaultKind::Delay => {
                    let delay = Duration::from_millis(rng.gen_range(50..500));
                    lock(servers).delay(node, delay);
                    detail = format!("{} ms a chunk", delay.as_millis());
                }
                FaultKind::Reset => lock(servers).reset(node),
                FaultKind::Clock => {
                    let seconds = rng.gen_range(10..600) * if rng.gen_bool(0.5) { 1 } else { -1 };
                    lock(servers).skew(node, seconds)?;
                    detail = format!("{seconds:+} s");
                }
                FaultKind::None => {}
            }
            // Held even when the run stops meanwhile: healed just after.
            let _ = wait(state, hold);
            match kind {
                FaultKind::Kill => lock(servers).restart(node)?,
                FaultKind::Pause => lock(servers).resume(node)?,
                FaultKind::Partition => lock(servers).isolate(node, false),
                FaultKind::Delay => lock(servers).delay(node, Duration::ZERO),
                FaultKind::Clock => lock(servers).skew(node, 0)?,
                FaultKind::Reset | FaultKind::None => {}
            }
            let ended_ms = elapsed_ms();
            faults.last_ended_ms.store(ended_ms, Ordering::Relaxed);
            faults.active.store(false, Ordering::Relaxed);
            record(FaultNotice::Ended(HistoryEvent::Fault {
                kind: kind.name().to_owned(),
                node,
                detail,
                started_ms,
                ended_ms,
            }));
        }
    }
}
