//! Fuzzing your own server: the adapter a Kafka-compatible server written
//! in Rust needs to meet kafka-fuzz's server targets (`produce`, `fetch`,
//! `metadata`, `dispatch`, `session`). `YourServer` stands for your broker;
//! kafka-fuzz's own broker plays its part here so that the example runs.
//!
//!     cargo run --example own_server -- corpus
//!
//! replays the committed seeds of each target through the adapter, as
//! `cargo test` does; a fuzz binary is one line on top (see the README).

use bytes::Bytes;
use kafka_fuzz::harness::target::{Exchange, ServerUnderTest};
use kafka_fuzz::server::broker::{Broker, BrokerConfig, SystemClock};

/// Your server, as one client connection sees it.
pub struct YourServer(Broker);

impl Default for YourServer {
    fn default() -> Self {
        Self(Broker::new(BrokerConfig::default(), SystemClock))
    }
}

impl ServerUnderTest for YourServer {
    /// A request frame (no size prefix) in; what the client would see out.
    fn handle(&mut self, frame: Bytes) -> Exchange {
        match self.0.handle(frame) {
            Ok(Some(response)) => Exchange::Response(response),
            Ok(None) => Exchange::NoResponse,
            Err(error) => Exchange::Closed {
                reason: error.to_string(),
            },
        }
    }

    /// A fresh server for the next input.
    fn reset(&mut self) {
        *self = Self::default();
    }
}

// That is the whole adapter. What follows runs it.

use kafka_fuzz::corpus::input_files;
use kafka_fuzz::harness::targets::{dispatch_on, fetch_on, metadata_on, produce_on, session_on};

/// A server target, for any `ServerUnderTest`.
type ServerTarget = fn(&mut YourServer, &[u8]);

/// Each server target, by the corpus directory its inputs live in.
const SERVER_TARGETS: [(&str, ServerTarget); 5] = [
    ("produce", produce_on),
    ("fetch", fetch_on),
    ("metadata", metadata_on),
    ("dispatch", dispatch_on),
    ("session", session_on),
];

/// Runs every input under `corpus/<target>/` through the adapter; a broken
/// guarantee panics with the oracle's report, naming the input first.
/// Returns how many inputs each target ran.
fn replay(corpus: &std::path::Path) -> std::io::Result<Vec<usize>> {
    let mut server = YourServer::default();
    let mut counts = Vec::new();
    for (name, run) in SERVER_TARGETS {
        let files = input_files(&[corpus.join(name)])?;
        for file in &files {
            eprintln!("{name}: {}", file.display());
            run(&mut server, &std::fs::read(file)?);
        }
        println!("{name}: {} inputs, no violation", files.len());
        counts.push(files.len());
    }
    Ok(counts)
}

fn main() -> std::io::Result<()> {
    let corpus = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let counts = replay(std::path::Path::new(&corpus))?;
    println!("{} inputs through YourServer", counts.iter().sum::<usize>());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_seeds_pass_through_the_adapter() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let counts = super::replay(&corpus).unwrap();
        assert!(
            counts.iter().all(|&count| count > 0),
            "a target without seeds: {counts:?}"
        );
    }
}
