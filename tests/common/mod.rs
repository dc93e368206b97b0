//! Shared by the integration tests: deterministic pseudo-random bytes for
//! `arbitrary::Unstructured`, so every property test replays identically.

#![allow(dead_code, unused_imports)] // each test binary uses its own subset

pub mod admin_broker;

pub use kafka_fuzz::harness::input::seeded_bytes;
