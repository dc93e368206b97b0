//! Seeds generated from valid encodings: a request of every API at every
//! version, record batches of every codec, and whole connections, each in
//! the format its target reads. Deterministic, so regenerating them changes
//! nothing unless the generators changed.

use std::path::Path;

use arbitrary::Unstructured;
use bytes::Bytes;
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::StrBytes;

use super::cluster_seeds::written_cluster_scripts;
use super::dictionary::dictionary;
use super::session_seeds::written_sessions;
use crate::harness::input::{
    ArbitraryBytes, GENERATED, RAW_STREAM, arbitrary_records, arbitrary_request, encode_record_batch, encode_request,
    seeded_bytes,
};
use crate::harness::targets::warm_up_frames;
use crate::server::broker::ANSWERED_APIS;
use crate::server::wire::{Codec, SUPPORTED_APIS, SupportedApi, supported_api};

/// One seed file: the target it belongs to, its file name, its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub data: Vec<u8>,
}

/// A valid request frame of `api` at `version`, size prefix included.
fn request_frame(api: SupportedApi, version: i16) -> Bytes {
    // Retried with the next seed where kafka-protocol will not encode a
    // generated value; every API and version has encodable ones.
    (0u64..)
        .find_map(|attempt| {
            let data = seeded_bytes((api.key as u64) << 32 | (version as u64) << 16 | attempt, 1024);
            let body = arbitrary_request(&mut Unstructured::new(&data), api, version).ok()?;
            let header = RequestHeader::default()
                .with_request_api_key(api.key as i16)
                .with_request_api_version(version)
                .with_correlation_id(i32::from(version) + 1)
                .with_client_id(Some(StrBytes::from_static_str("kafka-fuzz-seed")));
            encode_request(&header, &body).ok()
        })
        .expect("an encodable request")
}

/// Every seed, for every target.
pub fn generated_seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut connection = Vec::new();
    for api in SUPPORTED_APIS {
        for version in api.versions.min..=api.versions.max {
            let frame = request_frame(*api, version);
            let name = format!("{}-v{version}", api.name.to_lowercase());
            for (target, data) in frame_inputs(&frame) {
                seeds.push(Seed {
                    target,
                    name: name.clone(),
                    data,
                });
            }
            // Any other API closes the connection, so the stream holds only
            // those the broker answers.
            if ANSWERED_APIS.contains(&api.key) && (version == api.versions.min || version == api.versions.max) {
                connection.extend_from_slice(&frame);
            }
        }
    }
    // A connection: the API targets' starting state, then every answered API
    // at its oldest and newest version.
    let mut stream: Vec<u8> = warm_up_frames().iter().flat_map(|frame| prefixed(frame)).collect();
    stream.extend_from_slice(&connection);
    seeds.push(Seed {
        target: "dispatch",
        name: "every-api-oldest-and-newest".to_owned(),
        data: stream,
    });
    for (index, codec) in Codec::ALL.into_iter().enumerate() {
        for idempotent in [false, true] {
            let data = seeded_bytes(0xba7c_0000 | (index as u64) << 1 | idempotent as u64, 4096);
            let mut records = arbitrary_records(&mut Unstructured::new(&data)).expect("records");
            if !idempotent {
                for record in &mut records {
                    (record.producer_id, record.producer_epoch, record.sequence) = (-1, -1, -1);
                    record.transactional = false;
                }
            }
            let batch = encode_record_batch(&records, codec).expect("batch encodes");
            let kind = if idempotent { "idempotent" } else { "plain" };
            seeds.push(Seed {
                target: "record_batch",
                name: format!("{}-{kind}", codec.name()),
                data: [&[RAW_STREAM][..], &batch].concat(),
            });
        }
    }
    // Sessions: scripts of every length from fixed bytes, and written ones
    // that reach deep states at once.
    for (index, len) in [64, 128, 256, 384, 512, 768, 1024, 1536].into_iter().enumerate() {
        seeds.push(Seed {
            target: "session",
            name: format!("script-{len}"),
            data: seeded_bytes(0x5e55_1000 + index as u64, len),
        });
    }
    for (name, script) in written_sessions() {
        let mut data = Vec::new();
        script.write_bytes(&mut data);
        seeds.push(Seed {
            target: "session",
            name: name.to_owned(),
            data,
        });
    }
    // Cluster scripts: fixed bytes of several lengths, and written ones.
    for (index, len) in [32, 64, 128, 192].into_iter().enumerate() {
        seeds.push(Seed {
            target: "cluster",
            name: format!("script-{len}"),
            data: seeded_bytes(0xc1a5_0000 + index as u64, len),
        });
    }
    for (name, script) in written_cluster_scripts() {
        seeds.push(Seed {
            target: "cluster",
            name: name.to_owned(),
            data: script.to_bytes(),
        });
    }
    // The generated reading of every target that has one, from fixed bytes.
    for target in ["produce", "fetch", "metadata", "record_batch"] {
        seeds.push(Seed {
            target,
            name: "generated".to_owned(),
            data: [&[GENERATED][..], &seeded_bytes(0x6e4e, 256)].concat(),
        });
    }
    seeds
}

/// The targets that read one request frame (size prefix included), each
/// with the bytes it reads: the decoder targets the frame as it is, the
/// target of its API (if it has one) the frame as a raw client stream.
pub(super) fn frame_inputs(frame: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut inputs = vec![("frame_decode", frame.to_vec()), ("differential", frame.to_vec())];
    let api = frame
        .get(4..6)
        .and_then(|key| supported_api(i16::from_be_bytes([key[0], key[1]])));
    if let Some(target) = api.as_ref().and_then(api_target) {
        inputs.push((target, [&[RAW_STREAM][..], frame].concat()));
    }
    inputs
}

/// A frame behind its 4-byte size prefix, as it goes over the wire.
pub(super) fn prefixed(frame: &[u8]) -> Vec<u8> {
    [&(frame.len() as u32).to_be_bytes()[..], frame].concat()
}

/// The API target that fuzzes `api`, if one does.
fn api_target(api: &SupportedApi) -> Option<&'static str> {
    use kafka_protocol::messages::ApiKey;
    match api.key {
        ApiKey::Produce => Some("produce"),
        ApiKey::Fetch => Some("fetch"),
        ApiKey::Metadata => Some("metadata"),
        _ => None,
    }
}

/// Writes every seed to `root/<target>/<name>`, and the dictionary to
/// `root/kafka.dict`, returning how many seeds.
pub fn write_seeds(root: &Path) -> std::io::Result<usize> {
    let seeds = generated_seeds();
    std::fs::create_dir_all(root)?;
    std::fs::write(root.join("kafka.dict"), dictionary())?;
    for seed in &seeds {
        let dir = root.join(seed.target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&seed.name), &seed.data)?;
    }
    Ok(seeds.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::targets::TARGETS;

    #[test]
    fn every_target_has_seeds_and_names_are_unique() {
        let seeds = generated_seeds();
        for target in TARGETS {
            assert!(seeds.iter().any(|s| s.target == target.name), "{}", target.name);
        }
        let mut names: Vec<_> = seeds.iter().map(|s| (s.target, &s.name)).collect();
        names.sort();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn seeds_are_deterministic() {
        assert_eq!(generated_seeds(), generated_seeds());
    }
}
