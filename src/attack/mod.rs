//! Black-box attack over TCP, for a server in any language: generated and
//! corpus-mutated client streams played on real connections, each answer
//! checked by the response oracles, and after each case a fresh connection
//! must still get an ApiVersions answer. A case that kills, hangs or
//! confuses the server is saved as a session file (a client stream, the
//! `dispatch` seed format) that `kafka-fuzz replay --addr` plays again.

mod campaign;
mod case;
mod remote;

pub use campaign::{AttackSummary, Budget, Finding, Progress, REPORT_FILES, run_attack};
pub use case::{AttackCase, CaseGenerator};
pub use remote::{CaseOutcome, Fault, FaultKind, RemoteServer};

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error("cannot resolve {addr}: {source}")]
    Resolve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr} resolves to no address")]
    NoAddress { addr: String },
    #[error("{addr} is {resolved}, not a loopback address: attacking another machine takes --allow-remote")]
    NotLoopback { addr: String, resolved: SocketAddr },
    #[error("the server at {addr} does not answer before the attack: {detail}")]
    NotServing { addr: SocketAddr, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The address `addr` (HOST:PORT) names: a loopback one unless
/// `allow_remote`, so that a typo never aims hostile traffic at another
/// machine. Of several (`localhost` is `::1` and `127.0.0.1`), the first
/// that takes a connection now: the others would look like a dead server.
pub fn target_address(addr: &str, allow_remote: bool) -> Result<SocketAddr, AttackError> {
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|source| AttackError::Resolve {
            addr: addr.to_owned(),
            source,
        })?
        .collect();
    if !allow_remote && let Some(remote) = resolved.iter().find(|a| !a.ip().is_loopback()) {
        return Err(AttackError::NotLoopback {
            addr: addr.to_owned(),
            resolved: *remote,
        });
    }
    let listening = |candidate: &&SocketAddr| TcpStream::connect_timeout(candidate, Duration::from_secs(1)).is_ok();
    let chosen = match resolved[..] {
        [] => None,
        [only] => Some(only),
        _ => resolved.iter().find(listening).or(resolved.first()).copied(),
    };
    chosen.ok_or_else(|| AttackError::NoAddress { addr: addr.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_unless_allowed() {
        assert!(target_address("127.0.0.1:9092", false).is_ok());
        assert!(target_address("[::1]:9092", false).is_ok());
        assert!(target_address("localhost:9092", false).is_ok());
        let error = target_address("10.1.2.3:9092", false).unwrap_err();
        assert!(matches!(error, AttackError::NotLoopback { .. }), "{error}");
        assert!(error.to_string().contains("--allow-remote"), "{error}");
        assert_eq!(
            target_address("10.1.2.3:9092", true).unwrap(),
            "10.1.2.3:9092".parse::<SocketAddr>().unwrap()
        );
        assert!(matches!(
            target_address("no-port", false),
            Err(AttackError::Resolve { .. })
        ));
    }

    #[test]
    fn of_several_addresses_the_one_that_listens() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            target_address(&format!("localhost:{port}"), false).unwrap(),
            listener.local_addr().unwrap()
        );
    }
}
