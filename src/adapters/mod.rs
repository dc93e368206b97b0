//! Adapters for Kafka implementations nobody here wrote, each a fuzz target
//! of its own: the `kafka-protocol` crate's codec, and (feature `tansu`)
//! Tansu's `tansu-sans-io`. They are kept apart from `harness::TARGETS`:
//! they crash on known upstream bugs, so the scripts that fuzz or replay
//! every target leave them out, and their finds go to `TROPHIES.md`.

pub mod kafka_protocol;
#[cfg(feature = "tansu")]
pub mod tansu;

use crate::harness::targets::FuzzTarget;

/// The third-party targets this build has.
pub fn adapter_targets() -> Vec<&'static FuzzTarget> {
    let targets = kafka_protocol::TARGETS.iter();
    #[cfg(feature = "tansu")]
    let targets = targets.chain(tansu::TARGETS);
    targets.collect()
}
