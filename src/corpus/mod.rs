//! Corpora: the seeds each fuzz target starts from.

mod seeds;

pub use seeds::{Seed, generated_seeds, write_seeds};
