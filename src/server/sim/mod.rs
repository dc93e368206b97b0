//! The simulation: a whole cluster on one thread, deterministic from a seed
//! (FoundationDB's simulation, TigerBeetle's VOPR). A simulated network
//! between nodes and clients, a simulated disk where only flushed writes
//! survive a crash, a clock per node; a seeded scheduler and workload; and
//! the cluster invariants checked after every step.

mod cluster;
pub mod disk;
mod invariants;
mod network;
mod scheduler;
mod workload;

pub use cluster::{SIM_START_MS, SimCluster, SimClusterConfig};
pub use disk::SimDisk;
pub use invariants::{ClusterInvariants, Violation};
pub use network::{Address, Link, SimNetwork};
pub use scheduler::{Schedule, ScheduleOptions, ScheduleOutcome, run_schedule};
pub use workload::{Acknowledged, ProducerWorkload};
