//! The fuzzing suite itself, engine-neutral: the trait a server implements
//! to be fuzzed, input generators and malformations, oracles, and the fuzz
//! targets built from them; a client over bytes and the counting allocator.

pub mod alloc;
pub mod api_coverage;
pub mod client;
pub mod cluster_client;
pub mod cluster_session;
pub mod fatal_signal;
pub mod input;
pub mod oracle;
#[cfg(feature = "planted-bugs")]
pub mod planted;
pub mod protocol_states;
pub mod session;
pub mod state_coverage;
pub mod target;
pub mod targets;
