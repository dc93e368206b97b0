//! The reference server: the system under test that ships with kafka-fuzz.

pub mod broker;
pub mod net;
pub mod wire;
