//! kafka-fuzz: a protocol fuzzing suite for Kafka-compatible servers.
//!
//! - [`server`]: the reference server (hardened wire decoder, ...), the
//!   default system under test.
//! - [`harness`]: engine-neutral fuzzing pieces: input generators, oracles.
//! - [`triage`]: from crash artifacts to distinct, minimized, reported bugs.
//! - [`capture`]: Kafka frames from pcap and pcapng captures of real traffic.

pub mod adapters;
pub mod attack;
pub mod capture;
pub mod corpus;
pub mod harness;
pub mod server;
pub mod storm;
pub mod triage;
