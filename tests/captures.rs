//! The committed captures of real clients (corpus/captures/, written by
//! scripts/capture-real-traffic.sh): the exact frames `import-pcap` takes
//! from each, and the seeds it writes.
//!
//! `corpus/captures/frames.txt` pins every connection's requests (api,
//! version, correlation id, and a SHA-1 of their bytes) and its count of
//! responses; after recapturing, `KAFKA_FUZZ_BLESS=1 cargo test --test
//! captures` rewrites it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use kafka_fuzz::capture::{CapturedConnection, read_capture};
use kafka_fuzz::server::wire::{DEFAULT_MAX_FRAME_SIZE, decode_request_ignoring_trailing_bytes, supported_api};
use kafka_protocol::messages::ApiKey;

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/captures")
}

/// The committed captures, by file name: one per client library.
fn captures() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "pcapng"))
        .collect();
    files.sort();
    files
}

fn connections(file: &Path) -> Vec<CapturedConnection> {
    let capture = read_capture(file, &[9092], DEFAULT_MAX_FRAME_SIZE).unwrap();
    assert_eq!(capture.skipped_packets, 0, "{}", file.display());
    capture.connections
}

/// One line per connection: its requests as "Api vN #correlation", the
/// SHA-1 of all their bytes, and how many responses came back.
fn describe(file: &Path) -> String {
    let mut text = String::new();
    for (index, connection) in connections(file).iter().enumerate() {
        let requests: Vec<_> = connection
            .requests
            .iter()
            .map(|frame| {
                let request = decode_request_ignoring_trailing_bytes(frame.slice(4..)).unwrap();
                let header = &request.header;
                let api = supported_api(header.request_api_key).unwrap();
                format!(
                    "{} v{} #{}",
                    api.name, header.request_api_version, header.correlation_id
                )
            })
            .collect();
        let digest = sha1_smol::Sha1::from(connection.requests.concat()).digest();
        let _ = writeln!(
            text,
            "{} connection {index}: {} responses, requests {digest}: {}",
            file.file_name().unwrap().to_string_lossy(),
            connection.responses.len(),
            requests.join(", ")
        );
    }
    text
}

#[test]
fn every_capture_gives_exactly_the_frames_pinned() {
    let described: String = captures().iter().map(|file| describe(file)).collect();
    let pinned_path = captures_dir().join("frames.txt");
    if std::env::var_os("KAFKA_FUZZ_BLESS").is_some() {
        std::fs::write(&pinned_path, &described).unwrap();
    }
    let pinned = std::fs::read_to_string(&pinned_path).unwrap();
    assert_eq!(
        described, pinned,
        "KAFKA_FUZZ_BLESS=1 rewrites frames.txt after a recapture"
    );
}

/// Whole requests as the server reads them (librdkafka's Metadata carries 3
/// bytes past the body, which Kafka ignores).
#[test]
fn every_frame_is_a_whole_request_and_every_response_answers_one() {
    for file in captures() {
        for connection in connections(&file) {
            assert_eq!(connection.skipped_bytes, 0, "{}", file.display());
            let mut ids = Vec::new();
            for frame in &connection.requests {
                let request = decode_request_ignoring_trailing_bytes(frame.slice(4..))
                    .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
                ids.push(request.header.correlation_id);
            }
            assert!(
                ids.windows(2).all(|pair| pair[0] < pair[1]),
                "{}: ids {ids:?}",
                file.display()
            );
            for response in &connection.responses {
                let id = i32::from_be_bytes(response[4..8].try_into().unwrap());
                assert!(ids.contains(&id), "{}: a response to {id}, never asked", file.display());
            }
        }
    }
}

/// What the issue asks of the captures: three client libraries, each
/// producing, fetching and asking for metadata.
#[test]
fn three_client_libraries_each_produce_fetch_and_ask_for_metadata() {
    let files = captures();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["kafka-python", "kafkajs", "librdkafka"]);
    for file in &files {
        let apis: BTreeSet<_> = connections(file)
            .iter()
            .flat_map(|c| c.requests.iter())
            .map(|frame| i16::from_be_bytes([frame[4], frame[5]]))
            .collect();
        for api in [ApiKey::Produce, ApiKey::Fetch, ApiKey::Metadata, ApiKey::ApiVersions] {
            assert!(
                apis.contains(&(api as i16)),
                "{}: no {api:?} in {apis:?}",
                file.display()
            );
        }
    }
}

fn kafka_fuzz(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-fuzz"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn import_pcap_writes_the_seeds_of_every_request_and_connection() {
    let out = std::env::temp_dir().join(format!("kafka-fuzz-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let capture = captures_dir().join("librdkafka.pcapng");
    let output = kafka_fuzz(&["import-pcap", "--out", out.to_str().unwrap(), capture.to_str().unwrap()]);
    // A directory: its captures only (frames.txt is no capture).
    let all = out.with_extension("all");
    let from_dir = kafka_fuzz(&[
        "import-pcap",
        "--out",
        all.to_str().unwrap(),
        captures_dir().to_str().unwrap(),
    ]);
    assert!(
        from_dir.status.success(),
        "{}",
        String::from_utf8_lossy(&from_dir.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&from_dir.stdout)
            .matches(" connections, ")
            .count(),
        3
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let connections = connections(&capture);
    let requests: usize = connections.iter().map(|c| c.requests.len()).sum();
    assert!(
        stdout.contains(&format!("{} connections, {requests} requests", connections.len())),
        "{stdout}"
    );
    // Each distinct request frame once, as frame_decode reads it.
    let distinct: BTreeSet<Bytes> = connections.iter().flat_map(|c| c.requests.iter().cloned()).collect();
    let written: BTreeSet<Bytes> = std::fs::read_dir(out.join("frame_decode"))
        .unwrap()
        .map(|f| Bytes::from(std::fs::read(f.unwrap().path()).unwrap()))
        .collect();
    assert_eq!(written, distinct);
    for target in ["produce", "fetch", "metadata", "record_batch", "dispatch", "responses"] {
        assert!(
            out.join(target).read_dir().unwrap().next().is_some(),
            "no {target} seeds"
        );
    }
    // A second import adds nothing: the names are the contents' SHA-1.
    let again = kafka_fuzz(&["import-pcap", "--out", out.to_str().unwrap(), capture.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("frame_decode       0 new"));
    let stats = kafka_fuzz(&["corpus", "stats", out.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&stats.stdout);
    assert!(table.contains("| Produce v"), "{table}");
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(&all).unwrap();
}

#[test]
fn import_pcap_names_what_is_wrong_with_a_file() {
    let dir = std::env::temp_dir().join(format!("kafka-fuzz-import-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a capture at all").unwrap();
    let good = std::fs::read(captures_dir().join("kafkajs.pcapng")).unwrap();
    let cut = dir.join("cut.pcapng");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    for (file, expected) in [(&text, "notes.txt"), (&cut, "cut.pcapng")] {
        let output = kafka_fuzz(&[
            "import-pcap",
            "--out",
            dir.join("seeds").to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stderr.contains("could not be read"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The client ids of a target's raw-stream seeds (produce, fetch, metadata).
fn client_ids_in(target: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut ids = BTreeSet::new();
    for file in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(file.unwrap().path()).unwrap();
        let Some((mode, stream)) = data.split_first() else {
            continue;
        };
        if mode % 2 != kafka_fuzz::harness::input::RAW_STREAM {
            continue;
        }
        let split = kafka_fuzz::harness::input::split_stream(stream, DEFAULT_MAX_FRAME_SIZE);
        for frame in split.frames {
            if let Ok(request) = decode_request_ignoring_trailing_bytes(frame) {
                ids.extend(request.header.client_id.map(|id| id.to_string()));
            }
        }
    }
    ids
}

#[test]
fn the_committed_corpus_holds_requests_of_three_client_libraries() {
    // librdkafka's default client id, kafka-python's (producer and consumer
    // spell it differently), and the one capture_workload.mjs gives kafkajs.
    for target in ["produce", "fetch", "metadata"] {
        let ids = client_ids_in(target);
        assert!(ids.contains("rdkafka"), "{target}: {ids:?}");
        assert!(ids.iter().any(|id| id.starts_with("kafka-python")), "{target}: {ids:?}");
        assert!(ids.contains("kafka-fuzz-capture"), "{target}: {ids:?}");
    }
}
