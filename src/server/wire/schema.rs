//! The field table of every request message the decoder reads
//! (`schema_table.rs`, generated from `kafka-protocol`'s messages by
//! `scripts/schema-table.py`), and how its version ranges read.
//!
//! One table, several expansions: `request_schemas!(callback)` hands the whole
//! table to a macro, which the decoder uses to read each struct and the
//! harness uses to generate each struct at a version.

pub(crate) use super::schema_table::{request_apis, request_schemas};

/// The `(min, max)` versions of a table entry's optional `[min, max]`.
macro_rules! field_versions {
    () => {
        (0, i16::MAX)
    };
    ($min:literal, MAX) => {
        ($min, i16::MAX)
    };
    ($min:literal, $max:literal) => {
        ($min, $max)
    };
}
pub(crate) use field_versions;

/// `$code`, unless the entry is marked `rigid` (its message has no flexible
/// version, so its struct has no tagged-field section).
macro_rules! unless_rigid {
    (rigid => $($code:tt)*) => {};
    (=> $($code:tt)*) => { $($code)* };
}
pub(crate) use unless_rigid;
