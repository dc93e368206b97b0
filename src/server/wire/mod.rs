//! The hardened Kafka wire decoder: framing, a bounded reader, request
//! headers and bodies decoded into `kafka-protocol`'s message structs, record
//! batches, and response encoding.
//!
//! Nothing here trusts a length or count from the wire: each is checked
//! against the bytes that remain before anything is allocated, so memory is
//! bounded by a small multiple of the input and time is linear in it.

mod compression;
mod error;
mod frame;
mod message;
mod reader;
mod record_batch;
mod request;
mod response;
pub(crate) mod schema;
mod schema_table;
mod value;

pub use compression::{Codec, decompress};
pub use error::{DecodeError, DecodeErrorKind, ErrorAt, Item};
pub use frame::{DEFAULT_MAX_FRAME_SIZE, FrameSplitter, size_prefixed};
pub use message::{SUPPORTED_APIS, SupportedApi, supported_api};
pub use reader::BoundedReader;
pub use record_batch::{BATCH_OVERHEAD, BatchLimits, Record, RecordBatch, RecordHeader, decode_record_batches};
pub use request::{HeaderPrefix, Request, RequestError, decode_request, decode_request_ignoring_trailing_bytes};
pub use response::{EncodeError, encode_response};
pub use value::{Version, WireValue};
