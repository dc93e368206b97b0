//! Turning fuzzer bytes (`arbitrary::Unstructured`) into Kafka inputs.
//!
//! The same generators drive the property tests of the decoder and the fuzz
//! targets, so both explore the same space.

mod cluster_script;
mod malformation;
pub(crate) mod pools;
mod record_batch;
mod request;
mod request_stream;
mod script_bytes;
mod script_mutation;
mod seeded;
mod session;
mod stream;

pub use cluster_script::{CLUSTER_CLIENTS, CLUSTER_TOPICS, ClusterScript, ClusterStep, MAX_CLUSTER_STEPS, TopicChoice};
pub use malformation::{HostileInt, Malformation};
pub use record_batch::{
    ProducerFields, arbitrary_records, encodable, encode_entries, encode_record_batch, to_protocol_records,
};
pub use request::{VersionedArbitrary, arbitrary_request, encode_request};
pub use request_stream::{GENERATED, RAW_STREAM, api_request_stream, generated_stream};
pub use script_bytes::ArbitraryBytes;
pub use script_mutation::{ByteMutation, mutate_session_script};
pub use seeded::seeded_bytes;
pub use session::{
    Acks, ByteLimit, ClockStep, ConfigChange, GenerationChoice, GroupChoice, MAX_REPEATS, MAX_SESSION_OPERATIONS,
    MAX_SESSION_STEPS, OffsetChoice, Operation, PartitionChoice, PartitionSet, ProduceMode, Production, SESSION_APIS,
    SESSION_CLIENTS, SESSION_GROUPS, SESSION_TOPICS, SessionScript, SessionStep, SessionTimeout, TimestampChoice,
    VersionChoice,
};
pub use stream::{ClientStream, join_frames, split_stream};
