//! `ClusterClient`'s frames over real TCP connections: one blocking socket
//! per connection, node addresses learnt from metadata answers (shared by
//! every client of a run), the wall clock as time.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;

use crate::harness::cluster_client::ClientTransport;
use crate::harness::target::NodeId;
use crate::server::wire::DEFAULT_MAX_FRAME_SIZE;

/// How long one receive waits for an answer before the client looks at its
/// clock again (its request timeout is much longer).
const RECEIVE_WAIT: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Node id to client address, as the last metadata answers gave them.
#[derive(Debug, Clone)]
pub struct NodeAddresses {
    nodes: Arc<RwLock<BTreeMap<NodeId, SocketAddr>>>,
    /// Whether an advertised address off this machine may be used.
    allow_remote: bool,
}

impl NodeAddresses {
    pub fn new(nodes: impl IntoIterator<Item = (NodeId, SocketAddr)>, allow_remote: bool) -> Self {
        Self {
            nodes: Arc::new(RwLock::new(nodes.into_iter().collect())),
            allow_remote,
        }
    }

    /// The id a `--bootstrap` address goes by until metadata names the
    /// brokers: negative, so no broker's.
    pub fn bootstrap_id(index: usize) -> NodeId {
        -1 - NodeId::try_from(index).unwrap_or(NodeId::MAX - 1)
    }

    /// Once metadata named the brokers, the bootstrap addresses go.
    pub fn forget_bootstrap(&self) {
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        if nodes.keys().any(|&id| id >= 0) {
            nodes.retain(|&id, _| id >= 0);
        }
    }

    pub fn get(&self, node: NodeId) -> Option<SocketAddr> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner()).get(&node).copied()
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }

    fn learn(&self, node: NodeId, address: SocketAddr) {
        if !self.allow_remote && !address.ip().is_loopback() {
            return;
        }
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        if nodes.get(&node) != Some(&address) {
            nodes.insert(node, address);
        }
    }
}

struct Connection {
    node: NodeId,
    /// None once closed (by either side).
    stream: Option<TcpStream>,
    /// Bytes of an answer not yet complete.
    partial: BytesMut,
}

/// One client's connections.
pub struct TcpTransport {
    addresses: NodeAddresses,
    connections: BTreeMap<u64, Connection>,
    next: u64,
}

pub fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl TcpTransport {
    pub fn new(addresses: NodeAddresses) -> Self {
        Self {
            addresses,
            connections: BTreeMap::new(),
            next: 1,
        }
    }

    fn close(&mut self, connection: u64) {
        if let Some(c) = self.connections.get_mut(&connection) {
            c.stream = None;
        }
    }

    /// A whole answer (size prefix included) at the front of `partial`.
    fn take_frame(partial: &mut BytesMut) -> Result<Option<Bytes>, String> {
        if partial.len() < 4 {
            return Ok(None);
        }
        let size = u32::from_be_bytes([partial[0], partial[1], partial[2], partial[3]]) as usize;
        if size > DEFAULT_MAX_FRAME_SIZE {
            return Err(format!("an answer of {size} bytes announced"));
        }
        if partial.len() < 4 + size {
            return Ok(None);
        }
        Ok(Some(partial.split_to(4 + size).freeze()))
    }
}

impl ClientTransport for TcpTransport {
    fn now_ms(&self) -> i64 {
        wall_clock_ms()
    }

    fn node_ids(&self) -> Vec<NodeId> {
        self.addresses.ids()
    }

    fn connect(&mut self, node: NodeId) -> u64 {
        let id = self.next;
        self.next += 1;
        let stream = self
            .addresses
            .get(node)
            .and_then(|address| TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).ok())
            .filter(|stream| stream.set_nodelay(true).is_ok() && stream.set_read_timeout(Some(RECEIVE_WAIT)).is_ok());
        self.connections.insert(
            id,
            Connection {
                node,
                stream,
                partial: BytesMut::new(),
            },
        );
        id
    }

    fn connection_node(&self, connection: u64) -> Option<NodeId> {
        self.connections.get(&connection).map(|c| c.node)
    }

    fn client_send(&mut self, connection: u64, frame: Bytes) {
        let failed = match self.connections.get_mut(&connection).and_then(|c| c.stream.as_mut()) {
            Some(stream) => stream.write_all(&frame).is_err(),
            None => false,
        };
        if failed {
            self.close(connection);
        }
    }

    fn client_receive(&mut self, connection: u64) -> Vec<Bytes> {
        let Some(c) = self.connections.get_mut(&connection) else {
            return Vec::new();
        };
        let mut frames = Vec::new();
        let mut closed = false;
        loop {
            match Self::take_frame(&mut c.partial) {
                Ok(Some(frame)) => {
                    frames.push(frame);
                    continue;
                }
                Ok(None) => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
            if !frames.is_empty() {
                break;
            }
            let Some(stream) = c.stream.as_mut() else {
                break;
            };
            let mut buffer = [0u8; 16 * 1024];
            match stream.read(&mut buffer) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => c.partial.extend_from_slice(&buffer[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            c.stream = None;
        }
        frames
    }

    fn is_closed(&self, connection: u64) -> bool {
        self.connections.get(&connection).is_none_or(|c| c.stream.is_none())
    }

    fn disconnect(&mut self, connection: u64) {
        self.connections.remove(&connection);
    }

    fn brokers_seen(&mut self, brokers: &[MetadataResponseBroker]) {
        for broker in brokers {
            let Ok(port) = u16::try_from(broker.port) else {
                continue;
            };
            // An address as it is; a name resolved (each answer: the name
            // may move).
            let address = match broker.host.parse::<IpAddr>() {
                Ok(ip) => Some(SocketAddr::new(ip, port)),
                Err(_) => (broker.host.as_str(), port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next()),
            };
            if let Some(address) = address {
                self.addresses.learn(broker.node_id.0, address);
            }
        }
    }
}
