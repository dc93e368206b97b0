//! What a corpus holds: per target, how many seeds, their sizes, and what
//! is in them (requests by API and version, record batches by codec), read
//! in the format that target reads.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use bytes::Bytes;

use crate::harness::input::{RAW_STREAM, split_stream};
use crate::server::wire::{BatchLimits, Codec, DEFAULT_MAX_FRAME_SIZE, decode_record_batches, supported_api};

/// Directories of a corpus root that are not a target's seeds.
const NOT_TARGETS: [&str; 3] = ["regressions", "responses", "captures"];

/// The statistics of every target directory under a corpus root.
#[derive(Debug, Default)]
pub struct CorpusStats {
    pub targets: BTreeMap<String, TargetStats>,
}

/// One target's seeds.
#[derive(Debug, Default)]
pub struct TargetStats {
    pub sizes: Vec<usize>,
    /// What the seeds hold, with how many times.
    pub contents: BTreeMap<SeedContent, usize>,
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
    pub fn read(root: &Path) -> std::io::Result<Self> {
        let mut stats = Self::default();
        let mut dirs: Vec<_> = std::fs::read_dir(root)?.collect::<Result<_, _>>()?;
        dirs.sort_by_key(|entry| entry.file_name());
        for dir in dirs {
            let name = dir.file_name().to_string_lossy().into_owned();
            if !dir.file_type()?.is_dir() || NOT_TARGETS.contains(&name.as_str()) || name.starts_with('.') {
                continue;
            }
            let mut target = TargetStats::default();
            for file in std::fs::read_dir(dir.path())? {
                let file = file?;
                if !file.file_type()?.is_file() || file.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let data = std::fs::read(file.path())?;
                target.sizes.push(data.len());
                for content in seed_contents(&name, &data) {
                    *target.contents.entry(content).or_default() += 1;
                }
            }
            target.sizes.sort_unstable();
            stats.targets.insert(name, target);
        }
        Ok(stats)
    }
}

/// What one seed of `target` holds, read as that target reads it.
fn seed_contents(target: &str, data: &[u8]) -> Vec<SeedContent> {
    match target {
        "frame_decode" | "differential" | "dispatch" => requests_of(data),
        "produce" | "fetch" | "metadata" | "record_batch" => match data.split_first() {
            Some((mode, rest)) if mode % 2 == RAW_STREAM => {
                if target == "record_batch" {
                    batches_of(rest)
                } else {
                    requests_of(rest)
                }
            }
            Some(_) => vec![SeedContent::Other("generated")],
            None => vec![SeedContent::Other("empty")],
        },
        "session" => vec![SeedContent::Other("script")],
        _ => vec![SeedContent::Other("unknown format")],
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
            writeln!(f, "\n{name}:\n\n| holds | count |\n|---|---:|")?;
            for (content, count) in &target.contents {
                writeln!(f, "| {content} | {count} |")?;
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
        ] {
            store.add(&seed).unwrap();
        }
        let stats = CorpusStats::read(&dir).unwrap();
        assert_eq!(
            stats.targets.keys().collect::<Vec<_>>(),
            ["differential", "frame_decode", "metadata", "record_batch"],
            "regressions are not a target"
        );
        let metadata = &stats.targets["metadata"];
        assert_eq!(metadata.sizes.len(), 3);
        let contents: Vec<_> = metadata.contents.iter().map(|(c, n)| (c.to_string(), *n)).collect();
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
        assert_eq!(
            decoder.contents[&SeedContent::Request {
                api_key: 18,
                version: 3
            }],
            1
        );
        assert_eq!(
            stats.targets["record_batch"].contents[&SeedContent::Batch(Codec::Zstd)],
            1
        );
        let table = stats.to_string();
        assert!(table.contains("| metadata | 3 |"), "{table}");
        assert!(table.contains("| record batch, zstd | 1 |"), "{table}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
