//! The fuzzing suite itself, engine-neutral: input generators today; the
//! server trait, oracles and targets build on them.

pub mod input;
