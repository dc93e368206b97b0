//! `kafka-fuzz attack` and `replay --addr` as a user runs them: clean
//! against the reference server, and against flawed test servers each
//! fault found, saved as a session file, and reproduced by `replay`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_fuzz::harness::client::Client;
use kafka_fuzz::server::broker::{Broker, BrokerConfig, SystemClock};
use kafka_fuzz::server::wire::{DecodeErrorKind, FrameSplitter, decode_request};
use kafka_protocol::messages::MetadataRequest;

fn kafka_fuzz(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafka-fuzz"))
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-fuzz-attack-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `kafka-fuzz serve` on a free port, stopped when dropped.
struct ServeProcess {
    child: Child,
    addr: String,
}

impl ServeProcess {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-fuzz"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().strip_prefix("listening on ").unwrap().to_owned();
        Self { child, addr }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a flawed server does with one request frame.
enum Reaction {
    /// What the reference broker answers.
    Answer,
    /// Stop listening and drop every connection, as a process that aborts.
    Die,
    /// Answer with the correlation id of another request.
    WrongCorrelationId,
    /// Answer with a wrong correlation id, then die.
    WrongCorrelationIdThenDie,
    /// Leave the request unanswered, the connection open.
    Ignore,
}

/// A tiny server in a thread: the reference broker behind `flaw`.
struct FlawedServer {
    addr: String,
    listener: Listener,
}

/// The listening socket while the server lives: dying drops it at once, so
/// that the next connection is refused as a crashed process's would be.
type Listener = Arc<Mutex<Option<TcpListener>>>;

fn alive(listener: &Listener) -> bool {
    listener.lock().unwrap().is_some()
}

impl FlawedServer {
    fn start(flaw: fn(&Bytes) -> Reaction) -> Self {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap().to_string();
        let listener: Listener = Arc::new(Mutex::new(Some(socket)));
        let broker = Arc::new(Mutex::new(Broker::new(BrokerConfig::default(), SystemClock)));
        let accepting = Arc::clone(&listener);
        std::thread::spawn(move || {
            loop {
                let accepted = match accepting.lock().unwrap().as_ref() {
                    Some(socket) => socket.accept(),
                    None => return,
                };
                match accepted {
                    Ok((stream, _)) => {
                        let (broker, listener) = (Arc::clone(&broker), Arc::clone(&accepting));
                        std::thread::spawn(move || serve_connection(stream, &broker, &listener, flaw));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Self { addr, listener }
    }
}

impl Drop for FlawedServer {
    fn drop(&mut self) {
        self.listener.lock().unwrap().take();
    }
}

fn serve_connection(mut stream: TcpStream, broker: &Mutex<Broker>, listener: &Listener, flaw: fn(&Bytes) -> Reaction) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut splitter = FrameSplitter::new(1 << 20);
    let mut buf = [0u8; 4096];
    while alive(listener) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => splitter.push(&buf[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
        while let Ok(Some(frame)) = splitter.next_frame() {
            let reaction = flaw(&frame);
            match reaction {
                Reaction::Die => {
                    listener.lock().unwrap().take();
                    return;
                }
                Reaction::Ignore => continue,
                _ => {}
            }
            let mut response = match broker.lock().unwrap().handle(frame) {
                Ok(Some(response)) => response.to_vec(),
                Ok(None) => continue,
                Err(_) => return,
            };
            if let Reaction::WrongCorrelationId | Reaction::WrongCorrelationIdThenDie = reaction {
                response[7] ^= 1;
            }
            // Dead before the answer leaves: the client's probe, which
            // follows the answer, can only find it dead.
            let dies = matches!(reaction, Reaction::WrongCorrelationIdThenDie);
            if dies {
                listener.lock().unwrap().take();
            }
            if stream.write_all(&response).is_err() || dies {
                return;
            }
        }
    }
}

/// Dies like a server that reserves an array's count before reading its
/// elements: on any request with a count larger than the frame.
fn dies_on_huge_counts(frame: &Bytes) -> Reaction {
    match decode_request(frame.clone()) {
        Err(error) if matches!(error.error.kind, DecodeErrorKind::CountExceedsRemaining { .. }) => Reaction::Die,
        _ => Reaction::Answer,
    }
}

/// Mixes up its answers to Metadata requests.
fn garbles_metadata(frame: &Bytes) -> Reaction {
    match frame.get(..2) {
        Some([0, 3]) => Reaction::WrongCorrelationId,
        _ => Reaction::Answer,
    }
}

/// Garbles its answer to a Metadata request, then dies.
fn garbles_metadata_then_dies(frame: &Bytes) -> Reaction {
    match frame.get(..2) {
        Some([0, 3]) => Reaction::WrongCorrelationIdThenDie,
        _ => Reaction::Answer,
    }
}

/// Slow to its first ApiVersions, as a server that warms up.
fn ignores_its_first_api_versions(frame: &Bytes) -> Reaction {
    static IGNORED: AtomicBool = AtomicBool::new(false);
    match frame.get(..2) {
        Some([0, 18]) if !IGNORED.swap(true, Ordering::SeqCst) => Reaction::Ignore,
        _ => Reaction::Answer,
    }
}

fn session_files(dir: &Path, kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{kind}-"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn attack_on_the_reference_server_finds_nothing() {
    let server = ServeProcess::start();
    let out = scratch("clean");
    let output = kafka_fuzz(&[
        "attack",
        "--addr",
        &server.addr,
        "--cases",
        "400",
        "--seed",
        "11",
        "--timeout",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(all.contains("| 400 |"), "{all}");
    assert!(all.contains("No faults."), "{all}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Seed 11"), "{report}");
    assert!(
        report.contains(&format!(
            "`kafka-fuzz attack --addr {} --seed 11 --corpus corpus`",
            server.addr
        )),
        "the rerun command names the corpus: {report}"
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["cases"], 400);
    assert!(json["answered"].as_u64().unwrap() > 100, "{json}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn attack_finds_a_server_that_dies_and_replay_kills_it_again() {
    let fragile = FlawedServer::start(dies_on_huge_counts);
    let out = scratch("dies");
    let output = kafka_fuzz(&[
        "attack",
        "--addr",
        &fragile.addr,
        "--cases",
        "20000",
        "--seed",
        "3",
        "--timeout",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(all.contains("Stopped early: case"), "{all}");
    let files = session_files(&out, "died");
    assert_eq!(files.len(), 1, "{all}");
    let file = files[0].to_str().unwrap();

    // A fresh fragile server dies on the session file alone...
    let again = FlawedServer::start(dies_on_huge_counts);
    let replay = kafka_fuzz(&["replay", "--addr", &again.addr, "--timeout", "2", file]);
    let all = text(&replay);
    assert_eq!(replay.status.code(), Some(2), "{all}");
    assert!(all.contains(": died: cannot connect"), "{all}");
    assert!(all.contains("->"), "the transcript shows the requests: {all}");
    // ...and the reference server survives it.
    let server = ServeProcess::start();
    let replay = kafka_fuzz(&["replay", "--addr", &server.addr, "--timeout", "2", file]);
    let all = text(&replay);
    assert_eq!(replay.status.code(), Some(0), "{all}");
    assert!(all.contains("the server survived and answers"), "{all}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn attack_finds_a_confused_server_once_and_keeps_going() {
    let confused = FlawedServer::start(garbles_metadata);
    let out = scratch("confused");
    let output = kafka_fuzz(&[
        "attack",
        "--addr",
        &confused.addr,
        "--cases",
        "300",
        "--seed",
        "5",
        "--timeout",
        "2",
        "--no-corpus",
        "--out",
        out.to_str().unwrap(),
    ]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(
        !all.contains("Stopped early"),
        "a confused server takes more cases: {all}"
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["cases"], 300, "{json}");
    let findings = json["findings"].as_array().unwrap();
    assert!(!findings.is_empty(), "{json}");
    for finding in findings {
        assert_eq!(finding["kind"], "confused", "{finding}");
        assert!(
            finding["detail"].as_str().unwrap().contains("correlation id"),
            "{finding}"
        );
    }
    // The same fault in later cases is counted, not saved again.
    assert!(findings.iter().any(|f| f["repeats"].as_u64().unwrap() > 0), "{json}");
    // The output directory replays whole: its sessions, not its reports.
    let replay = kafka_fuzz(&["replay", "--addr", &confused.addr, "--quiet", out.to_str().unwrap()]);
    let all = text(&replay);
    assert_eq!(replay.status.code(), Some(2), "{all}");
    assert!(all.contains(": confused: "), "{all}");
    let n = findings.len();
    assert!(all.contains(&format!("{n} of {n} session files broke")), "{all}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn attack_waits_out_a_server_slow_to_its_first_answer() {
    let slow = FlawedServer::start(ignores_its_first_api_versions);
    let out = scratch("slow-start");
    let output = kafka_fuzz(&[
        "attack",
        "--addr",
        &slow.addr,
        "--cases",
        "20",
        "--seed",
        "3",
        "--timeout",
        "1",
        "--no-corpus",
        "--out",
        out.to_str().unwrap(),
    ]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "a second look finds it serving: {all}");
    assert!(all.contains("| 20 |"), "{all}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn attack_refuses_a_remote_address_and_a_server_that_is_not_there() {
    let output = kafka_fuzz(&["attack", "--addr", "10.11.12.13:9092", "--cases", "1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("--allow-remote"), "{}", text(&output));
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let output = kafka_fuzz(&["attack", "--addr", &port.to_string(), "--cases", "1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("does not answer before the attack"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_server_that_dies_is_reported_dead_whatever_its_connection_saw_first() {
    let server = FlawedServer::start(garbles_metadata_then_dies);
    let dir = scratch("garbles-then-dies");
    std::fs::create_dir_all(&dir).unwrap();
    let (_, frame) = Client::new("test").request(12, MetadataRequest::default()).unwrap();
    let session = dir.join("metadata");
    std::fs::write(&session, &frame).unwrap();
    let replay = kafka_fuzz(&[
        "replay",
        "--addr",
        &server.addr,
        "--timeout",
        "2",
        session.to_str().unwrap(),
    ]);
    let all = text(&replay);
    assert_eq!(replay.status.code(), Some(2), "{all}");
    assert!(
        all.contains("confused violation"),
        "the transcript shows the garbled answer: {all}"
    );
    assert!(all.contains("metadata: died: "), "{all}");
    std::fs::remove_dir_all(&dir).unwrap();
}
