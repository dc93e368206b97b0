//! The fuzzing suite itself, engine-neutral: input generators, a client
//! over bytes and the counting allocator today; the server trait, oracles
//! and targets build on them.

pub mod alloc;
pub mod client;
pub mod input;
