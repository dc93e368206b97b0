//! Another server plugs into the targets through `ServerUnderTest`: a
//! faithful one passes the seeds, and one that answers wrongly is caught by
//! the same targets, with the oracle named.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use kafka_fuzz::corpus::generated_seeds;
use kafka_fuzz::harness::target::{Exchange, ReferenceServer, ServerUnderTest};
use kafka_fuzz::harness::targets::{dispatch_on, fetch_on, metadata_on, produce_on};

/// A server seen only through bytes: the reference broker behind a
/// response rewriter.
struct Wrapped {
    inner: ReferenceServer,
    rewrite: fn(Bytes) -> Bytes,
}

impl ServerUnderTest for Wrapped {
    fn handle(&mut self, frame: Bytes) -> Exchange {
        match self.inner.handle(frame) {
            Exchange::Response(response) => Exchange::Response((self.rewrite)(response)),
            other => other,
        }
    }

    fn reset(&mut self) {
        self.inner.reset();
    }
}

type Target = fn(&mut Wrapped, &[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("produce", |s, d| produce_on(s, d)),
    ("fetch", |s, d| fetch_on(s, d)),
    ("metadata", |s, d| metadata_on(s, d)),
    ("dispatch", |s, d| dispatch_on(s, d)),
];

/// The panic message of running every seed of every server-facing target
/// on a server that rewrites responses with `rewrite`, if any panicked.
fn first_failure(rewrite: fn(Bytes) -> Bytes) -> Option<String> {
    let seeds = generated_seeds();
    let mut server = Wrapped {
        inner: ReferenceServer::default(),
        rewrite,
    };
    for (name, target) in TARGETS {
        for seed in seeds.iter().filter(|seed| seed.target == name) {
            let outcome = catch_unwind(AssertUnwindSafe(|| target(&mut server, &seed.data)));
            if let Err(panic) = outcome {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                return Some(format!("{name}/{}: {message}", seed.name));
            }
        }
    }
    None
}

#[test]
fn a_faithful_server_passes_every_seed() {
    assert_eq!(first_failure(|response| response), None);
}

#[test]
fn a_server_that_answers_with_the_wrong_correlation_id_is_caught() {
    let failure = first_failure(|response| {
        let mut bytes = response.to_vec();
        bytes[7] ^= 1;
        bytes.into()
    })
    .expect("a violation");
    assert!(failure.contains("oracle violation [correlation-id]"), "{failure}");
}

#[test]
fn a_server_that_adds_a_byte_to_its_responses_is_caught() {
    let failure = first_failure(|response| {
        let mut bytes = response.to_vec();
        bytes.push(0);
        let size = (bytes.len() - 4) as i32;
        bytes[..4].copy_from_slice(&size.to_be_bytes());
        bytes.into()
    })
    .expect("a violation");
    assert!(failure.contains("oracle violation [response-decodes]"), "{failure}");
}
