//! The reference server: the system under test that ships with kafka-fuzz.

/// `planted!(Name)`: whether the test-only bug `planted::PlantedBug::Name`
/// is planted in this thread; `false` without the `planted-bugs` feature.
#[cfg(feature = "planted-bugs")]
macro_rules! planted {
    ($bug:ident) => {
        $crate::server::planted::is_planted($crate::server::planted::PlantedBug::$bug)
    };
}
#[cfg(not(feature = "planted-bugs"))]
macro_rules! planted {
    ($bug:ident) => {
        false
    };
}

pub mod broker;
pub mod cluster;
pub mod net;
pub mod node_net;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod sim;
pub mod wire;
