//! Oracles: what must hold of a server's answers and a decoder's results,
//! beyond "it did not crash". Each returns a `Violation` that names the
//! oracle and the expected and actual values; the targets panic with it, so
//! every engine records the input as a crash and triage can group by oracle.

mod differential;
mod error_codes;
pub mod model;
mod response;
mod roundtrip;

pub use differential::{counts_are_bounded, differential_check, reference_decode};
pub use error_codes::{
    ErrorCodeAt, IllegalErrorCode, check_error_codes, kafka_error_name, legal_error_codes, response_error_codes,
};
pub use response::{check_exchange, read_exchange, request_label};
pub use roundtrip::{check_batch_roundtrip, check_request_roundtrip};

use std::fmt;

/// Which guarantee was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oracle {
    /// A response frame's size prefix matches its length.
    ResponseFrame,
    /// A response echoes its request's correlation id.
    CorrelationId,
    /// A response decodes with `kafka-protocol` at the request's version,
    /// with no bytes left over.
    ResponseDecodes,
    /// Every error code in a response is one Kafka uses for that API.
    ErrorCode,
    /// Every request but a Produce with acks=0 gets an answer or a close.
    Answered,
    /// A decoded request, re-encoded and decoded again, is the same.
    RequestRoundtrip,
    /// A decoded record batch, re-encoded and decoded again, has the same
    /// records.
    BatchRoundtrip,
    /// A record batch whose CRC-32C does not match its bytes is refused.
    BatchIntegrity,
    /// Our decoder and `kafka-protocol`'s agree on acceptance and values.
    Differential,
    /// A session's answers agree with the model of logs, producers and
    /// groups (the detail names the invariant, see `model::Invariant`).
    Model,
}

impl Oracle {
    /// The oracle's name in violation messages, stable for triage.
    pub fn name(self) -> &'static str {
        match self {
            Oracle::ResponseFrame => "response-frame",
            Oracle::CorrelationId => "correlation-id",
            Oracle::ResponseDecodes => "response-decodes",
            Oracle::ErrorCode => "error-code",
            Oracle::Answered => "answered",
            Oracle::RequestRoundtrip => "request-roundtrip",
            Oracle::BatchRoundtrip => "batch-roundtrip",
            Oracle::BatchIntegrity => "batch-integrity",
            Oracle::Differential => "differential",
            Oracle::Model => "model",
        }
    }
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken guarantee: which one, and what was expected and seen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{VIOLATION_MARKER} [{oracle}] {detail}")]
pub struct Violation {
    pub oracle: Oracle,
    pub detail: String,
}

/// How every violation message starts; triage looks for it.
pub const VIOLATION_MARKER: &str = "oracle violation";

impl Violation {
    pub fn new(oracle: Oracle, detail: impl Into<String>) -> Self {
        Self {
            oracle,
            detail: detail.into(),
        }
    }
}
