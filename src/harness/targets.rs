//! The fuzz targets: each a plain `fn(&[u8])`, so every engine (and
//! `cargo test`, replaying corpora) drives the same code. The `*_on`
//! variants take any `ServerUnderTest`: that is how another server is
//! fuzzed. A broken guarantee panics with the oracle's `Violation`.

use std::cell::RefCell;
use std::sync::OnceLock;

use arbitrary::Unstructured;
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, ProduceRequest, RequestKind};
use kafka_protocol::protocol::StrBytes;

use super::client::Client;
use super::cluster_session::{bootstrapped_reference_cluster, play_cluster};
use super::input::{
    GENERATED, Malformation, SESSION_TOPICS, SessionScript, api_request_stream, arbitrary_records, encode_entries,
    encode_record_batch, split_stream, to_protocol_records,
};
use super::oracle::{
    Oracle, Violation, check_batch_roundtrip, check_exchange, check_request_roundtrip, differential_check,
    request_label,
};
use super::session::Session;
use super::target::{
    ClusterUnderTest, DecoderUnderTest, Exchange, FUZZING_BATCH_LIMITS, ReferenceServer, ServerUnderTest,
};
use crate::server::sim::{ReferenceCluster, SimCluster};
use crate::server::wire::{Codec, DecodeErrorKind, decode_record_batches, decode_request, supported_api};

/// A fuzz target: its name (the binary's, the corpus directory's) and entry.
#[derive(Debug, Clone, Copy)]
pub struct FuzzTarget {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub about: &'static str,
    /// `run`, also writing to stdout what the input does step by step, for
    /// targets whose inputs are scripts (`kafka-fuzz replay` uses it).
    pub explain: Option<fn(&[u8])>,
}

/// Every target, in the order scripts run them.
pub const TARGETS: &[FuzzTarget] = &[
    FuzzTarget {
        name: "frame_decode",
        run: frame_decode,
        about: "a raw client stream, split into frames, through the wire decoder",
        explain: None,
    },
    FuzzTarget {
        name: "produce",
        run: produce,
        about: "Produce requests of every version, maybe malformed, through decoder and broker",
        explain: None,
    },
    FuzzTarget {
        name: "fetch",
        run: fetch,
        about: "Fetch requests of every version, maybe malformed, against partitions holding records",
        explain: None,
    },
    FuzzTarget {
        name: "metadata",
        run: metadata,
        about: "Metadata requests of every version, maybe malformed, through decoder and broker",
        explain: None,
    },
    FuzzTarget {
        name: "record_batch",
        run: record_batch,
        about: "record batches of every codec, valid and corrupted, through the batch decoder",
        explain: None,
    },
    FuzzTarget {
        name: "dispatch",
        run: dispatch,
        about: "a raw multi-frame client stream into one broker, state carried between requests",
        explain: None,
    },
    FuzzTarget {
        name: "session",
        run: session,
        about: "several clients' operations in any order against one broker, checked against a model of Kafka's guarantees",
        explain: Some(explain_session),
    },
    FuzzTarget {
        name: "cluster",
        run: cluster,
        about: "several clients and a fault schedule (deliveries, drops, crashes, partitions, pauses, clock skew) on a three-node cluster, checked against a model of Kafka's replicated guarantees",
        explain: Some(explain_cluster),
    },
    FuzzTarget {
        name: "differential",
        run: differential,
        about: "the same frames through our decoder and kafka-protocol's: acceptance and values agree",
        explain: None,
    },
];

/// The target called `name`: one of `TARGETS`, a third-party adapter's
/// (`adapters`), or with the `planted-bugs` feature the test-only `planted`.
pub fn target(name: &str) -> Option<&'static FuzzTarget> {
    #[cfg(feature = "planted-bugs")]
    if name == super::planted::PLANTED.name {
        return Some(&super::planted::PLANTED);
    }
    TARGETS
        .iter()
        .chain(crate::adapters::adapter_targets())
        .find(|target| target.name == name)
}

/// Largest frame a target splits off a stream: inputs are far smaller, so
/// this only decides which lying size prefixes close the connection.
const MAX_FRAME_SIZE: usize = 1 << 20;

/// Panics with the violation: every engine records the input as a crash.
fn enforce(result: Result<(), Violation>) {
    if let Err(violation) = result {
        panic!("{violation}");
    }
}

thread_local! {
    // One server per thread, reset per input: building it is not free.
    static REFERENCE: RefCell<ReferenceServer> = RefCell::new({
        #[cfg(feature = "planted-bugs")]
        crate::server::planted::plant_from_environment();
        ReferenceServer::default()
    });
}

fn on_reference(f: impl FnOnce(&mut ReferenceServer)) {
    REFERENCE.with(|server| f(&mut server.borrow_mut()));
}

/// Raw bytes as a client stream: every frame through the decoder, and every
/// accepted request (and its record batches) re-encoded and decoded again.
pub fn frame_decode(data: &[u8]) {
    for frame in split_stream(data, MAX_FRAME_SIZE).frames {
        let Ok(request) = decode_request(frame.clone()) else {
            continue;
        };
        enforce(check_request_roundtrip(&frame, &request, |f| decode_request(f.clone())));
        if let RequestKind::Produce(produce) = &request.body {
            let limits = FUZZING_BATCH_LIMITS;
            for records in produce
                .topic_data
                .iter()
                .flat_map(|t| &t.partition_data)
                .filter_map(|p| p.records.clone())
            {
                if let Ok(batches) = decode_record_batches(records, limits) {
                    enforce(check_batch_roundtrip(&batches, |data| {
                        decode_record_batches(data, limits)
                    }));
                }
            }
        }
    }
}

pub fn produce(data: &[u8]) {
    on_reference(|server| produce_on(server, data));
}

pub fn fetch(data: &[u8]) {
    on_reference(|server| fetch_on(server, data));
}

pub fn metadata(data: &[u8]) {
    on_reference(|server| metadata_on(server, data));
}

pub fn dispatch(data: &[u8]) {
    on_reference(|server| dispatch_on(server, data));
}

pub fn produce_on(server: &mut impl ServerUnderTest, data: &[u8]) {
    api_target_on(server, data, ApiKey::Produce);
}

pub fn fetch_on(server: &mut impl ServerUnderTest, data: &[u8]) {
    api_target_on(server, data, ApiKey::Fetch);
}

pub fn metadata_on(server: &mut impl ServerUnderTest, data: &[u8]) {
    api_target_on(server, data, ApiKey::Metadata);
}

/// Requests of one API against a server that already holds topics and
/// records (see `warm_up_frames`), so fetches find data and produces meet
/// existing partitions.
fn api_target_on(server: &mut impl ServerUnderTest, data: &[u8], api: ApiKey) {
    // Set-up, not under test: the same frames every time, their answers
    // checked by the `dispatch` target's seeds rather than on every input.
    server.start_from(warm_up_frames());
    let api = supported_api(api as i16).expect("every API target serves a supported API");
    send(server, &api_request_stream(data, api, MAX_FRAME_SIZE).frames);
}

/// A raw stream into one server, every request answered in turn, until the
/// server closes the connection.
pub fn dispatch_on(server: &mut impl ServerUnderTest, data: &[u8]) {
    server.reset();
    send(server, &split_stream(data, MAX_FRAME_SIZE).frames);
}

/// Sends frames in order, checking each exchange, until the server closes.
/// (How the reference decoder reads each request is `frame_decode`'s and
/// `differential`'s to check: here only answers are judged.)
fn send(server: &mut impl ServerUnderTest, frames: &[Bytes]) {
    for frame in frames {
        let exchange = server.handle(frame.clone());
        enforce(check_exchange(frame, &exchange));
        if let Exchange::Closed { .. } = exchange {
            return;
        }
    }
}

/// What every API target's server holds before the input's requests:
/// topic-a with 3 partitions, topic-b with 1 (the first frame, which also
/// starts every session), then batches on topic-a.
pub fn warm_up_frames() -> &'static [Bytes] {
    static FRAMES: OnceLock<Vec<Bytes>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let [topic_a, topic_b, _] = SESSION_TOPICS;
        let mut client = Client::new("warm-up");
        let topic = |name: &'static str, partitions| {
            CreatableTopic::default()
                .with_name(StrBytes::from_static_str(name).into())
                .with_num_partitions(partitions)
                .with_replication_factor(1)
        };
        let create = CreateTopicsRequest::default()
            .with_topics(vec![topic(topic_a, 3), topic(topic_b, 1)])
            .with_timeout_ms(1000);
        let batch = |count: usize, codec, first_timestamp| {
            let entries: Vec<_> = (0..count)
                .map(|i| {
                    (
                        Some(Bytes::from(format!("key-{i}"))),
                        Some(Bytes::from(format!("value-{i}"))),
                    )
                })
                .collect();
            encode_entries(&entries, None, first_timestamp, codec).expect("warm-up batch encodes")
        };
        let partition = |index, records| {
            PartitionProduceData::default()
                .with_index(index)
                .with_records(Some(records))
        };
        let produce = |partitions| {
            ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(1000)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(StrBytes::from_static_str(topic_a).into())
                        .with_partition_data(partitions),
                ])
        };
        let start = super::target::REFERENCE_START_MS;
        let requests = [
            client.request(7, create),
            client.request(
                9,
                produce(vec![
                    partition(0, batch(3, Codec::None, start)),
                    partition(1, batch(2, Codec::None, start)),
                ]),
            ),
            client.request(
                9,
                produce(vec![
                    partition(0, batch(2, Codec::None, start + 5_000)),
                    partition(2, batch(1, Codec::None, start)),
                ]),
            ),
        ];
        requests
            .into_iter()
            .map(|request| request.expect("warm-up request encodes").1.slice(4..))
            .collect()
    })
}

/// Record batches: raw bytes (first byte even), or generated records in any
/// codec, maybe corrupted (odd). What decodes must survive re-encoding, and
/// an uncorrupted generated batch must decode to the records it was made of.
pub fn record_batch(data: &[u8]) {
    let limits = FUZZING_BATCH_LIMITS;
    let decode = |bytes| decode_record_batches(bytes, limits);
    let Some((bytes, expected)) = batch_input(data) else {
        return;
    };
    let decoded = decode(bytes);
    if let Some(records) = expected {
        let violation = |detail| Violation::new(Oracle::BatchRoundtrip, detail);
        match &decoded {
            Ok(batches) => {
                let got: Vec<_> = batches.iter().flat_map(to_protocol_records).collect();
                if got != records {
                    enforce(Err(violation(format!("encoded {records:?}\ndecoded {got:?}"))));
                }
            }
            Err(error) => enforce(Err(violation(format!(
                "a batch kafka-protocol encoded is rejected: {error}"
            )))),
        }
    }
    if let Ok(batches) = decoded {
        enforce(check_batch_roundtrip(&batches, decode));
    }
}

/// The record batches a `record_batch` input holds, and their records when
/// they were generated and left intact.
fn batch_input(data: &[u8]) -> Option<(Bytes, Option<Vec<kafka_protocol::records::Record>>)> {
    let (&mode, rest) = data.split_first()?;
    if mode % 2 == GENERATED {
        generated_batch(&mut Unstructured::new(rest))
    } else {
        Some((Bytes::copy_from_slice(rest), None))
    }
}

/// A generated batch, and its records when it was left intact.
fn generated_batch(u: &mut Unstructured) -> Option<(Bytes, Option<Vec<kafka_protocol::records::Record>>)> {
    let records = arbitrary_records(u).ok()?;
    let codec = *u.choose(&Codec::ALL).ok()?;
    let encoded = encode_record_batch(&records, codec).ok()?;
    match u.arbitrary::<Option<Malformation>>().ok()? {
        Some(malformation) => Some((malformation.apply(&encoded).0.into(), None)),
        None => Some((encoded, Some(records))),
    }
}

pub fn session(data: &[u8]) {
    on_reference(|server| session_on(server, data));
}

/// `session`, printing each operation and its answer.
pub fn explain_session(data: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    on_reference(|server| enforce(play_session(server, data, Some(&mut stdout))));
}

thread_local! {
    // The bootstrapped reference cluster, restored for every input.
    static CLUSTER: RefCell<Option<SimCluster<ReferenceCluster>>> = const { RefCell::new(None) };
}

fn on_reference_cluster(f: impl FnOnce(&mut SimCluster<ReferenceCluster>)) {
    CLUSTER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let cluster = match cell.as_mut() {
            Some(cluster) => cluster,
            None => {
                #[cfg(feature = "planted-bugs")]
                crate::server::planted::plant_from_environment();
                match bootstrapped_reference_cluster() {
                    Ok(cluster) => cell.insert(cluster),
                    Err(violation) => panic!("the reference cluster does not bootstrap: {violation}"),
                }
            }
        };
        f(cluster);
    });
}

pub fn cluster(data: &[u8]) {
    on_reference_cluster(|cluster| cluster_on(cluster, data));
}

/// `cluster`, writing the run's timeline to stdout.
pub fn explain_cluster(data: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    on_reference_cluster(|cluster| enforce(play_cluster(cluster, data, false, Some(&mut stdout)).map(drop)));
}

/// A cluster script (see `input::ClusterScript`) played on any cluster under
/// test, from its starting state, the cluster states reached counted as
/// coverage.
pub fn cluster_on<C: ClusterUnderTest>(cluster: &mut SimCluster<C>, data: &[u8]) {
    enforce(play_cluster(cluster, data, true, None).map(drop));
}

/// A session script (see `input::SessionScript`) played against a server
/// that starts with the session's topics.
pub fn session_on(server: &mut impl ServerUnderTest, data: &[u8]) {
    enforce(play_session(server, data, None));
}

/// Plays the session script `data` encodes, writing each operation and
/// answer to `transcript` if given: what `kafka-fuzz replay` shows.
pub fn play_session<'a>(
    server: &'a mut impl ServerUnderTest,
    data: &[u8],
    transcript: Option<&'a mut dyn std::io::Write>,
) -> Result<(), Violation> {
    let Ok(script) = Unstructured::new(data).arbitrary::<SessionScript>() else {
        return Ok(());
    };
    server.start_from(session_start_frames());
    Session::new(server, transcript).run(&script)
}

/// What every session's server holds first: the warm-up's topics (its
/// first frame), empty, so that the model knows every record written.
pub fn session_start_frames() -> &'static [Bytes] {
    &warm_up_frames()[..1]
}

/// Every frame of a raw stream through both decoders.
pub fn differential(data: &[u8]) {
    for frame in split_stream(data, MAX_FRAME_SIZE).frames {
        enforce(differential_check(&frame));
    }
}

/// `frame_decode` for another implementation's codec: every frame of a raw
/// stream decoded and encoded again; what it encoded must decode, and
/// encode to the same bytes (re-encoding is a fixed point, so nothing read
/// was lost or invented).
pub fn request_roundtrip_on(decoder: &mut impl DecoderUnderTest, data: &[u8]) {
    for frame in split_stream(data, MAX_FRAME_SIZE).frames {
        let Ok(first) = decoder.reencode_request(&frame) else {
            continue;
        };
        let violation =
            |detail: String| Violation::new(Oracle::RequestRoundtrip, format!("{}: {detail}", request_label(&frame)));
        match decoder.reencode_request(&first) {
            Ok(second) if second == first => {}
            Ok(second) => enforce(Err(violation(format!(
                "re-encoding is not stable:\nfirst  {}\nsecond {}",
                hex(&first),
                hex(&second)
            )))),
            // The first line is what triage groups by: no bytes in it.
            Err(error) => enforce(Err(violation(format!(
                "its own encoding is refused: {error}\nencoding {}",
                hex(&first)
            )))),
        }
    }
}

/// `differential` for another implementation's codec: a frame our decoder
/// accepts must be accepted, and what it writes back must read as the same
/// request. (Frames ours refuses are left out: ours is strict by design,
/// and leniency is no crash.)
pub fn differential_on(decoder: &mut impl DecoderUnderTest, data: &[u8]) {
    for frame in split_stream(data, MAX_FRAME_SIZE).frames {
        let Ok(ours) = decode_request(frame.clone()) else {
            continue;
        };
        let violation =
            |detail: String| Violation::new(Oracle::Differential, format!("{}: {detail}", request_label(&frame)));
        match decoder
            .reencode_request(&frame)
            .map(|theirs| decode_request(Bytes::from(theirs)))
        {
            Ok(Ok(theirs)) if theirs == ours => {}
            Ok(Ok(theirs)) => enforce(Err(violation(format!(
                "read differently:\nours   {ours:?}\ntheirs {theirs:?}"
            )))),
            Ok(Err(error)) => enforce(Err(violation(format!("what it writes back does not decode: {error}")))),
            Err(_) if carries_refused_batch(&ours.body) => {}
            Err(error) => enforce(Err(violation(format!(
                "a request our decoder accepts is refused: {error}"
            )))),
        }
    }
}

/// Whether a Produce carries record batches our decoder refuses as
/// malformed (not merely past one of our limits). An implementation that
/// reads the batches along with the request (Tansu does) refuses such a
/// request whole, where Kafka answers the partition CORRUPT_MESSAGE: both
/// refuse the batch, so they agree.
fn carries_refused_batch(request: &RequestKind) -> bool {
    let RequestKind::Produce(produce) = request else {
        return false;
    };
    produce
        .topic_data
        .iter()
        .flat_map(|topic| &topic.partition_data)
        .filter_map(|partition| partition.records.clone())
        .any(|records| decode_record_batches(records, FUZZING_BATCH_LIMITS).is_err_and(|error| !error.kind.is_limit()))
}

/// `record_batch` for another implementation's codec: the batches read as
/// its storage reads them; generated batches left intact must be read,
/// with every record, and a batch whose CRC-32C does not match its bytes
/// must be refused, as Kafka's log validation refuses it.
pub fn records_on(decoder: &mut impl DecoderUnderTest, data: &[u8]) {
    let Some((bytes, expected)) = batch_input(data) else {
        return;
    };
    let counted = decoder.count_records(&bytes);
    if let Ok(count) = &counted
        && let Err(ours) = decode_record_batches(bytes.clone(), FUZZING_BATCH_LIMITS)
        && matches!(ours.kind, DecodeErrorKind::CrcMismatch { .. })
    {
        enforce(Err(Violation::new(
            Oracle::BatchIntegrity,
            format!("a batch whose CRC-32C does not match is read (records: {count}): {ours}"),
        )));
    }
    if let Some(records) = expected {
        let violation = |detail| Violation::new(Oracle::BatchRoundtrip, detail);
        match counted {
            Ok(count) if count == records.len() => {}
            Ok(count) => enforce(Err(violation(format!(
                "a batch of {} records kafka-protocol encoded is read as {count} records",
                records.len()
            )))),
            Err(error) => enforce(Err(violation(format!(
                "a batch of {} records kafka-protocol encoded is refused: {error}",
                records.len()
            )))),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
