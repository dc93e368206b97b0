//! The simulation: a whole cluster on one thread, deterministic from a seed
//! (FoundationDB's simulation, TigerBeetle's VOPR). A simulated network
//! between nodes and clients, a simulated disk where only flushed writes
//! survive a crash, a clock per node; a seeded scheduler and workload; and
//! the cluster invariants checked after every step. Any `ClusterUnderTest`
//! runs on it; `ReferenceCluster` is the suite's own.

mod cluster;
pub mod disk;
mod invariants;
mod network;
mod reference_cluster;
mod scheduler;
mod workload;

pub use cluster::SimCluster;
pub use disk::SimDisk;
pub use invariants::{ClusterInvariants, Violation};
pub use network::{Address, Link, SimNetwork};
pub use reference_cluster::{ReferenceCluster, SIM_START_MS, SimClusterConfig};
pub use scheduler::{Schedule, ScheduleOptions, ScheduleOutcome, run_schedule};
pub use workload::ProducerWorkload;
