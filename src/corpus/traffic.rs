//! Seeds from real traffic: the request frames a client sent, each in the
//! format every target that fuzzes it reads, and a connection's whole
//! request stream for `dispatch`. Names are the SHA-1 of the contents, as
//! libFuzzer names its corpus files, so a frame seen twice is stored once.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use kafka_protocol::messages::RequestKind;

use super::seeds::{Seed, api_target};
use crate::harness::input::RAW_STREAM;
use crate::server::net::TrafficObserver;
use crate::server::wire::{decode_request_ignoring_trailing_bytes, supported_api};

/// The longest connection stream kept as a `dispatch` seed: the target
/// reads at most its `max_len` (64 KiB) anyway, and a recording server must
/// not hold a long-lived producer's whole stream in memory.
pub const MAX_CONNECTION_SEED: usize = 1 << 20;

impl Seed {
    /// A seed named by the SHA-1 of its contents.
    pub fn content_addressed(target: &'static str, data: Vec<u8>) -> Self {
        let name = sha1_smol::Sha1::from(&data).digest().to_string();
        Self { target, name, data }
    }
}

/// The seeds one request frame (as a client sent it, size prefix excluded)
/// gives: the frame for `frame_decode` and `differential`, for its API's
/// target when it has one, and each Produce partition's record batches for
/// `record_batch`.
pub fn request_seeds(frame: &[u8]) -> Vec<Seed> {
    let prefixed = prefixed(frame);
    let mut seeds = vec![
        Seed::content_addressed("frame_decode", prefixed.clone()),
        Seed::content_addressed("differential", prefixed.clone()),
    ];
    let api = frame
        .get(..2)
        .and_then(|key| supported_api(i16::from_be_bytes([key[0], key[1]])));
    if let Some(target) = api.as_ref().and_then(api_target) {
        seeds.push(Seed::content_addressed(target, [&[RAW_STREAM][..], &prefixed].concat()));
    }
    // A frame our decoder refuses still seeds the decoder targets above.
    if let Ok(request) = decode_request_ignoring_trailing_bytes(Bytes::copy_from_slice(frame))
        && let RequestKind::Produce(produce) = request.body
    {
        for records in produce
            .topic_data
            .iter()
            .flat_map(|topic| &topic.partition_data)
            .filter_map(|p| p.records.as_ref())
        {
            seeds.push(Seed::content_addressed(
                "record_batch",
                [&[RAW_STREAM][..], records].concat(),
            ));
        }
    }
    seeds
}

/// The `dispatch` seed of a connection: its request frames, in order, each
/// behind its size prefix, up to [`MAX_CONNECTION_SEED`] bytes of whole
/// frames. `None` for a connection that sent nothing.
pub fn connection_seed<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Option<Seed> {
    let mut stream = Vec::new();
    for frame in frames {
        if stream.len() + 4 + frame.len() > MAX_CONNECTION_SEED {
            break;
        }
        stream.extend_from_slice(&prefixed(frame));
    }
    (!stream.is_empty()).then(|| Seed::content_addressed("dispatch", stream))
}

fn prefixed(frame: &[u8]) -> Vec<u8> {
    let mut prefixed = Vec::with_capacity(4 + frame.len());
    prefixed.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    prefixed.extend_from_slice(frame);
    prefixed
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
pub struct SeedCounts {
    pub added: usize,
    pub already_there: usize,
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

    pub fn counts(&self) -> &BTreeMap<&'static str, SeedCounts> {
        &self.counts
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
/// each request frame as it arrives (so a crash loses nothing), and each
/// connection's stream when it closes, or at [`TrafficRecorder::finish`].
#[derive(Debug)]
pub struct TrafficRecorder {
    store: Mutex<SeedStore>,
    /// The frames of every open connection so far, up to
    /// [`MAX_CONNECTION_SEED`] bytes each.
    open: Mutex<HashMap<u64, ConnectionFrames>>,
    failures: AtomicU64,
}

#[derive(Debug, Default)]
struct ConnectionFrames {
    frames: Vec<Bytes>,
    bytes: usize,
}

impl TrafficRecorder {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            store: Mutex::new(SeedStore::new(root)),
            open: Mutex::new(HashMap::new()),
            failures: AtomicU64::new(0),
        }
    }

    /// Writes the stream of every connection still open.
    pub fn finish(&self) {
        let open = std::mem::take(&mut *lock(&self.open));
        for (_, connection) in open {
            self.store_connection(connection);
        }
    }

    /// Per target, seeds added and already there; and writes that failed.
    pub fn summary(&self) -> String {
        let mut summary = lock(&self.store).summary();
        let failures = self.failures.load(Ordering::Relaxed);
        if failures > 0 {
            let _ = writeln!(summary, "  {failures} seeds could not be written (see the log)");
        }
        summary
    }

    fn add(&self, seed: &Seed) {
        let mut store = lock(&self.store);
        if let Err(error) = store.add(seed) {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "cannot write seed {}/{}/{}: {error}",
                store.root().display(),
                seed.target,
                seed.name
            );
        }
    }

    fn store_connection(&self, connection: ConnectionFrames) {
        if let Some(seed) = connection_seed(connection.frames.iter().map(|frame| &frame[..])) {
            self.add(&seed);
        }
    }
}

impl TrafficObserver for TrafficRecorder {
    fn request(&self, connection: u64, frame: &Bytes) {
        for seed in request_seeds(frame) {
            self.add(&seed);
        }
        let mut open = lock(&self.open);
        let kept = open.entry(connection).or_default();
        if kept.bytes + 4 + frame.len() <= MAX_CONNECTION_SEED {
            kept.bytes += 4 + frame.len();
            kept.frames.push(frame.clone());
        }
    }

    fn closed(&self, connection: u64) {
        let kept = lock(&self.open).remove(&connection);
        if let Some(kept) = kept {
            self.store_connection(kept);
        }
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
        let frames: [&[u8]; 2] = [b"first", b"second!"];
        let seed = connection_seed(frames).unwrap();
        assert_eq!(seed.target, "dispatch");
        assert_eq!(seed.data, b"\0\0\0\x05first\0\0\0\x07second!");
        assert!(connection_seed(std::iter::empty()).is_none());
        let big = vec![0u8; MAX_CONNECTION_SEED / 2];
        let seed = connection_seed([&big[..], &big[..], b"x"]).unwrap();
        assert_eq!(seed.data.len(), 4 + big.len(), "only whole frames that fit");
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
        assert_eq!(
            store.counts()["fetch"],
            SeedCounts {
                added: 1,
                already_there: 1
            }
        );
        assert!(store.summary().contains("fetch"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_recorder_writes_frames_at_once_and_connections_when_they_close() {
        let dir = temp_dir("recorder");
        let recorder = TrafficRecorder::new(&dir);
        let metadata = frame(Client::new("t").request(12, MetadataRequest::default()).unwrap().1);
        recorder.request(1, &metadata);
        recorder.request(2, &metadata);
        recorder.request(1, &metadata);
        let files = |target: &str| std::fs::read_dir(dir.join(target)).map_or(0, |d| d.count());
        assert_eq!((files("frame_decode"), files("metadata"), files("dispatch")), (1, 1, 0));
        recorder.closed(1);
        assert_eq!(files("dispatch"), 1);
        let stream = std::fs::read_dir(dir.join("dispatch"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert_eq!(std::fs::read(stream).unwrap().len(), 2 * (4 + metadata.len()));
        // Connection 2 is still open: written at the end.
        recorder.finish();
        assert_eq!(files("dispatch"), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
