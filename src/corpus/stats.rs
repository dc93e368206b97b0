//! What a corpus holds: per target, how many seeds, their sizes, and what
//! is in them (requests by API and version, record batches by codec), read
//! in the format that target reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::traffic::RESPONSES_DIR;
use crate::harness::input::{RAW_STREAM, split_stream};
use crate::server::wire::{BatchLimits, Codec, DEFAULT_MAX_FRAME_SIZE, decode_record_batches, supported_api};

/// Directories of a corpus root that are not a target's seeds.
const NOT_TARGETS: [&str; 4] = ["regressions", "trophies", RESPONSES_DIR, "captures"];

/// A corpus file or directory that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct CorpusReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The statistics of every target directory under a corpus root.
#[derive(Debug, Default)]
pub struct CorpusStats {
    pub targets: BTreeMap<String, TargetStats>,
}

/// One target's seeds.
#[derive(Debug, Default)]
pub struct TargetStats {
    pub sizes: Vec<usize>,
    /// What the seeds hold: how many seeds hold each, in how many frames
    /// (a `dispatch` seed holds a whole connection).
    pub contents: BTreeMap<SeedContent, ContentCount>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ContentCount {
    pub seeds: usize,
    pub frames: usize,
}

/// One thing a seed holds. Ordered by api key, then version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SeedContent {
    Request {
        api_key: i16,
        version: i16,
    },
    Batch(Codec),
    /// What has no api or codec: "generated" (the target's generated
    /// reading), "script", "bad size prefix", ...
    Other(&'static str),
}

impl fmt::Display for SeedContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SeedContent::Request { api_key, version } => match supported_api(api_key) {
                Some(api) => write!(f, "{} v{version}", api.name),
                None => write!(f, "api key {api_key} v{version}"),
            },
            SeedContent::Batch(codec) => write!(f, "record batch, {}", codec.name()),
            SeedContent::Other(what) => f.write_str(what),
        }
    }
}

impl CorpusStats {
    /// Reads every file of every target directory under `root`.
    pub fn read(root: &Path) -> Result<Self, CorpusReadError> {
        let mut stats = Self::default();
        for dir in sorted_entries(root)? {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !dir.is_dir() || NOT_TARGETS.contains(&name.as_str()) || name.starts_with('.') {
                continue;
            }
            let mut target = TargetStats::default();
            for file in sorted_entries(&dir)? {
                if !file.is_file() || file.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                    continue;
                }
                let data = std::fs::read(&file).map_err(|source| CorpusReadError {
                    path: file.clone(),
                    source,
                })?;
                target.sizes.push(data.len());
                let contents = seed_contents(&name, &data);
                for content in &contents {
                    target.contents.entry(*content).or_default().frames += 1;
                }
                for content in contents.into_iter().collect::<BTreeSet<_>>() {
                    target.contents.entry(content).or_default().seeds += 1;
                }
            }
            target.sizes.sort_unstable();
            stats.targets.insert(name, target);
        }
        Ok(stats)
    }
}

/// The entries of a directory, by name.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, CorpusReadError> {
    let error = |source| CorpusReadError {
        path: dir.to_owned(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(error)?;
    entries.sort();
    Ok(entries)
}

/// What one seed of `target` holds, read as that target reads it.
fn seed_contents(target: &str, data: &[u8]) -> Vec<SeedContent> {
    let is_stream_target = RAW_STREAM_TARGETS.contains(&target) || API_TARGETS.contains(&target);
    match (target, data.split_first()) {
        ("session", _) => vec![SeedContent::Other("script")],
        ("record_batch", Some((mode, rest))) if mode % 2 == RAW_STREAM => batches_of(rest),
        (_, None) if is_stream_target || target == "record_batch" => vec![SeedContent::Other("empty")],
        ("record_batch", Some(_)) => vec![SeedContent::Other("generated")],
        _ if is_stream_target => match client_stream(target, data) {
            Some(stream) => requests_of(stream),
            None => vec![SeedContent::Other("generated")],
        },
        _ => vec![SeedContent::Other("unknown format")],
    }
}

/// Targets whose seeds are client streams.
const RAW_STREAM_TARGETS: [&str; 3] = ["frame_decode", "differential", "dispatch"];
/// Targets whose seeds are a mode byte, then a client stream (raw mode) or
/// generator bytes.
const API_TARGETS: [&str; 3] = ["produce", "fetch", "metadata"];

/// Every target whose seeds may hold a client stream.
pub fn stream_targets() -> impl Iterator<Item = &'static str> {
    RAW_STREAM_TARGETS.into_iter().chain(API_TARGETS)
}

/// The client stream (size-prefixed request frames, as sent on a
/// connection) a seed of `target` holds, if it holds one: the whole seed of
/// a raw-stream target, the rest of an API target's seed in raw mode.
pub fn client_stream<'a>(target: &str, data: &'a [u8]) -> Option<&'a [u8]> {
    if RAW_STREAM_TARGETS.contains(&target) {
        return Some(data);
    }
    match data.split_first() {
        Some((mode, rest)) if API_TARGETS.contains(&target) && mode % 2 == RAW_STREAM => Some(rest),
        _ => None,
    }
}

/// The requests of a client stream.
fn requests_of(stream: &[u8]) -> Vec<SeedContent> {
    let split = split_stream(stream, DEFAULT_MAX_FRAME_SIZE);
    let mut contents: Vec<_> = split
        .frames
        .iter()
        .map(|frame| match frame.get(..4) {
            Some(header) => SeedContent::Request {
                api_key: i16::from_be_bytes([header[0], header[1]]),
                version: i16::from_be_bytes([header[2], header[3]]),
            },
            None => SeedContent::Other("frame shorter than a header"),
        })
        .collect();
    if split.framing_error.is_some() {
        contents.push(SeedContent::Other("bad size prefix"));
    }
    contents
}

/// The record batches of a `record_batch` seed.
fn batches_of(data: &[u8]) -> Vec<SeedContent> {
    match decode_record_batches(Bytes::copy_from_slice(data), BatchLimits::default()) {
        Ok(batches) => batches.iter().map(|batch| SeedContent::Batch(batch.codec)).collect(),
        Err(_) => vec![SeedContent::Other("undecodable record batches")],
    }
}

impl fmt::Display for CorpusStats {
    /// A summary table of every target, then what each target's seeds hold.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| target | seeds | smallest | median | largest | total bytes |")?;
        writeln!(f, "|---|---:|---:|---:|---:|---:|")?;
        for (name, target) in &self.targets {
            let sizes = &target.sizes;
            let at = |index: usize| sizes.get(index).copied().unwrap_or(0);
            writeln!(
                f,
                "| {name} | {} | {} | {} | {} | {} |",
                sizes.len(),
                at(0),
                at(sizes.len() / 2),
                sizes.last().copied().unwrap_or(0),
                sizes.iter().sum::<usize>()
            )?;
        }
        for (name, target) in &self.targets {
            writeln!(f, "\n{name}:\n\n| holds | seeds | frames |\n|---|---:|---:|")?;
            for (content, count) in &target.contents {
                writeln!(f, "| {content} | {} | {} |", count.seeds, count.frames)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Seed, SeedStore, request_seeds};
    use crate::harness::client::Client;
    use crate::harness::input::{GENERATED, arbitrary_records, encode_record_batch, seeded_bytes};
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};

    #[test]
    fn stats_count_seeds_by_what_they_hold() {
        let dir = std::env::temp_dir().join(format!("kafka-fuzz-stats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = SeedStore::new(&dir);
        let mut client = Client::new("stats");
        let frames = [
            client.request(12, MetadataRequest::default()).unwrap().1,
            client.request(9, MetadataRequest::default()).unwrap().1,
            client.request(3, ApiVersionsRequest::default()).unwrap().1,
        ];
        for frame in &frames {
            for seed in request_seeds(&frame[4..]) {
                store.add(&seed).unwrap();
            }
        }
        let records = arbitrary_records(&mut arbitrary::Unstructured::new(&seeded_bytes(7, 4096))).unwrap();
        let zstd = encode_record_batch(&records, Codec::Zstd).unwrap();
        for seed in [
            Seed::content_addressed("record_batch", [&[RAW_STREAM][..], &zstd].concat()),
            Seed::content_addressed("metadata", vec![GENERATED, 1, 2, 3]),
            Seed::content_addressed("regressions", vec![1]),
            // A connection that asked for Metadata v12 twice.
            Seed::content_addressed("dispatch", [frames.concat(), frames[0].to_vec()].concat()),
        ] {
            store.add(&seed).unwrap();
        }
        let stats = CorpusStats::read(&dir).unwrap();
        assert_eq!(
            stats.targets.keys().collect::<Vec<_>>(),
            ["differential", "dispatch", "frame_decode", "metadata", "record_batch"],
            "regressions are not a target"
        );
        let metadata = &stats.targets["metadata"];
        assert_eq!(metadata.sizes.len(), 3);
        let contents: Vec<_> = metadata
            .contents
            .iter()
            .map(|(c, n)| (c.to_string(), n.seeds))
            .collect();
        assert_eq!(
            contents,
            [
                ("Metadata v9".to_owned(), 1),
                ("Metadata v12".to_owned(), 1),
                ("generated".to_owned(), 1)
            ],
            "by api, then version, numerically"
        );
        let decoder = &stats.targets["frame_decode"];
        let api_versions_v3 = SeedContent::Request {
            api_key: 18,
            version: 3,
        };
        assert_eq!(decoder.contents[&api_versions_v3].seeds, 1);
        let dispatch = &stats.targets["dispatch"].contents;
        let metadata_v12 = dispatch[&SeedContent::Request {
            api_key: 3,
            version: 12,
        }];
        assert_eq!(metadata_v12, ContentCount { seeds: 1, frames: 2 });
        let seeds_and_frames: Vec<_> = dispatch.values().map(|c| (c.seeds, c.frames)).collect();
        assert_eq!(
            seeds_and_frames,
            [(1, 1), (1, 2), (1, 1)],
            "Metadata v9, v12, ApiVersions v3"
        );
        let zstd = &stats.targets["record_batch"].contents[&SeedContent::Batch(Codec::Zstd)];
        assert_eq!(zstd.seeds, 1);
        let table = stats.to_string();
        assert!(table.contains("| metadata | 3 |"), "{table}");
        assert!(table.contains("| record batch, zstd | 1 | 1 |"), "{table}");
        let missing = CorpusStats::read(&dir.join("missing")).unwrap_err();
        assert!(missing.to_string().contains("missing"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
