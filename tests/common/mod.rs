//! Shared by the integration tests: deterministic pseudo-random bytes for
//! `arbitrary::Unstructured`, so every property test replays identically.

#![allow(dead_code)] // each test binary uses its own subset

pub use kafka_fuzz::harness::input::seeded_bytes;
