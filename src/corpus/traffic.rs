//! Seeds from real traffic: the request frames a client sent, each in the
//! format every target that fuzzes it reads, and a connection's request
//! stream for `dispatch`. Names are the SHA-1 of the contents, as libFuzzer
//! names its corpus files, so a frame seen twice is stored once.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use bytes::Bytes;
use kafka_protocol::messages::RequestKind;

use super::seeds::{Seed, frame_inputs, prefixed};
use crate::harness::input::RAW_STREAM;
use crate::server::net::TrafficObserver;
use crate::server::wire::decode_request_ignoring_trailing_bytes;

/// Where a corpus keeps the responses of imported connections (not a
/// target: kept for later use, e.g. client-side fuzzing).
pub const RESPONSES_DIR: &str = "responses";

/// The longest connection stream kept as a `dispatch` seed. Well above the
/// 64 KiB the target's options give libFuzzer (a user may raise that), and
/// bounded so that a recording server does not hold a long-lived producer's
/// whole stream in memory.
const MAX_CONNECTION_SEED: usize = 1 << 20;

impl Seed {
    /// A seed named by the SHA-1 of its contents.
    pub fn content_addressed(target: &'static str, data: Vec<u8>) -> Self {
        let name = sha1_smol::Sha1::from(&data).digest().to_string();
        Self { target, name, data }
    }
}

/// The seeds one request frame (as a client sent it, size prefix excluded)
/// gives: the frame for each target that reads it, and each Produce
/// partition's record batches for `record_batch`.
pub fn request_seeds(frame: &[u8]) -> Vec<Seed> {
    let mut seeds: Vec<_> = frame_inputs(&prefixed(frame))
        .into_iter()
        .map(|(target, data)| Seed::content_addressed(target, data))
        .collect();
    // A frame our decoder refuses still seeds the decoder targets. Bytes
    // past the body are ignored, as the server ignores them.
    if let Ok(request) = decode_request_ignoring_trailing_bytes(Bytes::copy_from_slice(frame))
        && let RequestKind::Produce(produce) = request.body
    {
        let batches = produce.topic_data.iter().flat_map(|topic| &topic.partition_data);
        for records in batches.filter_map(|partition| partition.records.as_ref()) {
            seeds.push(Seed::content_addressed(
                "record_batch",
                [&[RAW_STREAM][..], records].concat(),
            ));
        }
    }
    seeds
}

/// One connection's request stream, as a `dispatch` seed: its frames in
/// order behind their size prefixes, up to [`MAX_CONNECTION_SEED`] bytes.
/// The seed is a prefix of the connection: after a frame that did not fit,
/// none is kept.
#[derive(Debug, Default)]
pub struct ConnectionStream {
    stream: Vec<u8>,
    full: bool,
}

impl ConnectionStream {
    /// Adds a request frame (size prefix excluded).
    pub fn push(&mut self, frame: &[u8]) {
        self.full |= self.stream.len() + 4 + frame.len() > MAX_CONNECTION_SEED;
        if !self.full {
            self.stream.extend_from_slice(&prefixed(frame));
        }
    }

    /// The `dispatch` seed; none for a connection that sent nothing.
    pub fn into_seed(self) -> Option<Seed> {
        (!self.stream.is_empty()).then(|| Seed::content_addressed("dispatch", self.stream))
    }
}

/// A corpus directory seeds are added to, as `<root>/<target>/<name>`,
/// counting per target what was new and what was already there.
#[derive(Debug)]
pub struct SeedStore {
    root: PathBuf,
    counts: BTreeMap<&'static str, SeedCounts>,
}

/// Seeds a [`SeedStore`] was given for one target.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SeedCounts {
    added: usize,
    already_there: usize,
}

impl SeedStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            counts: BTreeMap::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `seed` unless a file of its name is there: with content
    /// addressing that file holds the same bytes. Returns whether it was new.
    pub fn add(&mut self, seed: &Seed) -> std::io::Result<bool> {
        let dir = self.root.join(seed.target);
        let path = dir.join(&seed.name);
        let counts = self.counts.entry(seed.target).or_default();
        if path.exists() {
            counts.already_there += 1;
            return Ok(false);
        }
        std::fs::create_dir_all(&dir)?;
        // Written aside and renamed: a reader (a fuzzer watching the
        // directory) never sees half a seed.
        let partial = dir.join(format!(".{}.partial", seed.name));
        std::fs::write(&partial, &seed.data)?;
        std::fs::rename(&partial, &path)?;
        counts.added += 1;
        Ok(true)
    }

    /// One line per target: seeds added and already there.
    pub fn summary(&self) -> String {
        let mut summary = String::new();
        for (target, counts) in &self.counts {
            let _ = writeln!(
                summary,
                "  {target:<13} {:>6} new, {:>6} already there",
                counts.added, counts.already_there
            );
        }
        summary
    }
}

/// Records what a running server receives as seeds under a corpus root:
/// each request frame's seeds as it arrives, each connection's stream when
/// it closes or at [`TrafficRecorder::finish`]. A thread of its own writes
/// the files, so no connection waits for the disk.
#[derive(Debug)]
pub struct TrafficRecorder {
    /// To the writer; `None` once finished (seeds after that are dropped:
    /// the server is shutting down).
    seeds: Mutex<Option<Sender<Seed>>>,
    writer: Mutex<Option<JoinHandle<String>>>,
    open: Mutex<HashMap<u64, ConnectionStream>>,
}

impl TrafficRecorder {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let (sender, receiver) = channel::<Seed>();
        let mut store = SeedStore::new(root);
        let writer = std::thread::spawn(move || {
            let mut failures = 0;
            for seed in receiver {
                if let Err(error) = store.add(&seed) {
                    failures += 1;
                    let at = store.root().join(seed.target).join(&seed.name);
                    tracing::warn!("cannot write seed {}: {error}", at.display());
                }
            }
            let mut summary = store.summary();
            if failures > 0 {
                let _ = writeln!(summary, "  {failures} seeds could not be written (see the log)");
            }
            summary
        });
        Self {
            seeds: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Writes the stream of every connection still open, waits for every
    /// seed to be on disk, and returns, per target, the seeds added and
    /// already there.
    pub fn finish(&self) -> String {
        let open = std::mem::take(&mut *lock(&self.open));
        for (_, connection) in open {
            self.send(connection.into_seed());
        }
        lock(&self.seeds).take();
        match lock(&self.writer).take().map(JoinHandle::join) {
            Some(Ok(summary)) => summary,
            Some(Err(_)) => "  the seed writer stopped early (see the log)\n".to_owned(),
            None => "  already finished\n".to_owned(),
        }
    }

    fn send(&self, seeds: impl IntoIterator<Item = Seed>) {
        if let Some(sender) = lock(&self.seeds).as_ref() {
            for seed in seeds {
                // The writer ends only when every sender is gone.
                let _ = sender.send(seed);
            }
        }
    }
}

impl TrafficObserver for TrafficRecorder {
    fn request(&self, connection: u64, frame: &Bytes) {
        self.send(request_seeds(frame));
        lock(&self.open).entry(connection).or_default().push(frame);
    }

    fn closed(&self, connection: u64) {
        let stream = lock(&self.open).remove(&connection);
        self.send(stream.and_then(ConnectionStream::into_seed));
    }
}

/// A recorder's state stays usable after a panic elsewhere: the seeds
/// already written are whole files either way.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{MetadataRequest, ProduceRequest, TopicName};

    use super::*;
    use crate::harness::client::Client;
    use crate::harness::input::{arbitrary_records, encode_record_batch, seeded_bytes};
    use crate::server::wire::Codec;

    /// A request frame without its size prefix, as the server sees it.
    fn frame(prefixed: Bytes) -> Bytes {
        prefixed.slice(4..)
    }

    fn produce_frame(batches: &[Bytes]) -> Bytes {
        let partitions = batches
            .iter()
            .enumerate()
            .map(|(index, batch)| {
                PartitionProduceData::default()
                    .with_index(index as i32)
                    .with_records(Some(batch.clone()))
            })
            .collect();
        let body = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName("topic-a".into()))
                    .with_partition_data(partitions),
            ]);
        frame(Client::new("traffic-test").request(9, body).unwrap().1)
    }

    fn batch(codec: Codec, seed: u64) -> Bytes {
        let data = seeded_bytes(seed, 4096);
        let records = arbitrary_records(&mut arbitrary::Unstructured::new(&data)).unwrap();
        encode_record_batch(&records, codec).unwrap()
    }

    #[test]
    fn a_produce_frame_seeds_the_decoders_its_target_and_each_partitions_batches() {
        let (gzip, zstd) = (batch(Codec::Gzip, 1), batch(Codec::Zstd, 2));
        let frame = produce_frame(&[gzip.clone(), zstd.clone()]);
        let seeds = request_seeds(&frame);
        let prefixed = [&(frame.len() as u32).to_be_bytes()[..], &frame].concat();
        let of = |target| {
            seeds
                .iter()
                .filter(|s| s.target == target)
                .map(|s| s.data.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(of("frame_decode"), std::slice::from_ref(&prefixed));
        assert_eq!(of("differential"), std::slice::from_ref(&prefixed));
        assert_eq!(of("produce"), [[&[RAW_STREAM][..], &prefixed].concat()]);
        assert_eq!(
            of("record_batch"),
            [[&[RAW_STREAM][..], &gzip].concat(), [&[RAW_STREAM][..], &zstd].concat()]
        );
        for seed in &seeds {
            assert_eq!(seed.name, sha1_smol::Sha1::from(&seed.data).digest().to_string());
        }
    }

    #[test]
    fn a_request_without_a_target_of_its_own_or_undecodable_seeds_the_decoders() {
        let metadata = frame(Client::new("t").request(12, MetadataRequest::default()).unwrap().1);
        let targets: Vec<_> = request_seeds(&metadata).iter().map(|s| s.target).collect();
        assert_eq!(targets, ["frame_decode", "differential", "metadata"]);
        // An unknown api key, and a truncated produce: only the decoders.
        let unknown = [0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
        let targets: Vec<_> = request_seeds(&unknown).iter().map(|s| s.target).collect();
        assert_eq!(targets, ["frame_decode", "differential"]);
        let produce = produce_frame(&[batch(Codec::None, 3)]);
        let targets: Vec<_> = request_seeds(&produce[..produce.len() - 3])
            .iter()
            .map(|s| s.target)
            .collect();
        assert_eq!(targets, ["frame_decode", "differential", "produce"]);
    }

    #[test]
    fn a_connection_seed_is_its_frames_in_order_within_the_bound() {
        let mut stream = ConnectionStream::default();
        stream.push(b"first");
        stream.push(b"second!");
        let seed = stream.into_seed().unwrap();
        assert_eq!(seed.target, "dispatch");
        assert_eq!(seed.data, b"\0\0\0\x05first\0\0\0\x07second!");
        assert!(ConnectionStream::default().into_seed().is_none());
        let big = vec![0u8; MAX_CONNECTION_SEED / 2];
        let mut stream = ConnectionStream::default();
        for frame in [&big[..], &big[..], b"x"] {
            stream.push(frame);
        }
        assert_eq!(
            stream.into_seed().unwrap().data.len(),
            4 + big.len(),
            "a prefix of whole frames"
        );
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kafka-fuzz-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_store_writes_each_seed_once() {
        let dir = temp_dir("seed-store");
        let mut store = SeedStore::new(&dir);
        let seed = Seed::content_addressed("fetch", b"abc".to_vec());
        assert!(store.add(&seed).unwrap());
        assert!(!store.add(&seed).unwrap());
        assert_eq!(std::fs::read(dir.join("fetch").join(&seed.name)).unwrap(), b"abc");
        assert_eq!(
            std::fs::read_dir(dir.join("fetch")).unwrap().count(),
            1,
            "no partial file left"
        );
        assert_eq!(store.summary(), "  fetch              1 new,      1 already there\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_recorder_writes_every_frame_and_each_connection_once() {
        let dir = temp_dir("recorder");
        let recorder = TrafficRecorder::new(&dir);
        let metadata = frame(Client::new("t").request(12, MetadataRequest::default()).unwrap().1);
        recorder.request(1, &metadata);
        recorder.request(2, &metadata);
        recorder.request(1, &metadata);
        recorder.closed(1);
        // Connection 2 is still open: written by finish.
        let summary = recorder.finish();
        let files = |target: &str| std::fs::read_dir(dir.join(target)).map_or(0, |d| d.count());
        assert_eq!((files("frame_decode"), files("metadata"), files("dispatch")), (1, 1, 2));
        assert!(
            summary.contains("frame_decode       1 new,      2 already there"),
            "{summary}"
        );
        let streams: Vec<_> = std::fs::read_dir(dir.join("dispatch"))
            .unwrap()
            .map(|f| std::fs::read(f.unwrap().path()).unwrap().len())
            .collect();
        assert!(streams.contains(&(2 * (4 + metadata.len()))), "{streams:?}");
        assert!(streams.contains(&(4 + metadata.len())), "{streams:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
