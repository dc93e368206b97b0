//! The reference server: the system under test that ships with kafka-fuzz.

pub mod broker;
pub mod cluster;
pub mod net;
pub mod node_net;
pub mod sim;
pub mod wire;
