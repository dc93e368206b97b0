//! One cluster node over TCP: Kafka clients on its client address, the
//! other nodes on its peer address. A single task owns the node's state
//! machine and feeds it, in arrival order, every client frame, every peer
//! message and a tick every few milliseconds of the system clock; it routes
//! the node's outputs to connection writers and to one outbound connection
//! per peer (re-dialled when it breaks: messages on a broken link are lost,
//! which Raft and replica fetches retry).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::cluster::disk::Disk;
use super::cluster::{ClusterNode, NodeError, Output};
use super::net::ConnectionLimits;
use super::wire::FrameSplitter;

/// How often the node's clock is read and the node ticked.
const TICK: Duration = Duration::from_millis(10);
/// Frames one client connection may have waiting for the node before the
/// server stops reading it (TCP then holds the client back), as Kafka mutes
/// a connection while its request is processed: one client writing as fast
/// as it can (acks=0) must not bury everyone else's requests. Found by
/// `kafka-fuzz storm`.
const QUEUED_PER_CONNECTION: usize = 64;
/// Largest message between nodes (a replica fetch answer is bounded by the
/// fetch's `max_bytes`, far below).
const MAX_PEER_FRAME: usize = 64 * 1024 * 1024;

/// Where a node listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAddresses {
    pub client: SocketAddr,
    pub peer: SocketAddr,
}

enum Event {
    Opened {
        connection: u64,
        writer: mpsc::UnboundedSender<Bytes>,
    },
    Frame {
        connection: u64,
        frame: Bytes,
        /// Held until the node took the frame: a connection has at most
        /// `QUEUED_PER_CONNECTION` frames waiting for the node.
        _queued: OwnedSemaphorePermit,
    },
    Closed {
        connection: u64,
    },
    Peer {
        from: i32,
        bytes: Bytes,
    },
}

/// Serves `node` on its listeners until `shutdown` completes or the node
/// fails (its write-ahead log cannot be written: it must not go on).
pub async fn serve_node<D: Disk + 'static>(
    mut node: ClusterNode<D>,
    clients: TcpListener,
    peers_listener: TcpListener,
    peers: BTreeMap<i32, NodeAddresses>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let (events, mut inbox) = mpsc::unbounded_channel();
    tokio::spawn(accept_clients(clients, events.clone(), limits));
    tokio::spawn(accept_peers(peers_listener, events.clone()));
    let me = node.id();
    let outbound: BTreeMap<i32, mpsc::UnboundedSender<Bytes>> = peers
        .iter()
        .filter(|&(&id, _)| id != me)
        .map(|(&id, addresses)| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(dial_peer(me, addresses.peer, receiver));
            (id, sender)
        })
        .collect();
    let mut writers: BTreeMap<u64, mpsc::UnboundedSender<Bytes>> = BTreeMap::new();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(shutdown);
    loop {
        let outputs = tokio::select! {
            () = &mut shutdown => return Ok(()),
            _ = ticks.tick() => node.tick()?,
            Some(event) = inbox.recv() => match event {
                Event::Opened { connection, writer } => {
                    writers.insert(connection, writer);
                    Vec::new()
                }
                Event::Frame { connection, frame, _queued } => node.client_frame(connection, frame)?,
                Event::Closed { connection } => {
                    writers.remove(&connection);
                    node.client_closed(connection);
                    Vec::new()
                }
                Event::Peer { from, bytes } => node.peer_message(from, &bytes)?,
            },
        };
        for output in outputs {
            match output {
                Output::Response { connection, frame } => {
                    if let Some(writer) = writers.get(&connection) {
                        let _ = writer.send(frame);
                    }
                }
                Output::Close { connection, reason } => {
                    tracing::warn!(connection, "closing connection: {reason}");
                    // Dropping the writer ends the connection's task.
                    writers.remove(&connection);
                    node.client_closed(connection);
                }
                Output::Send { to, bytes } => {
                    if let Some(link) = outbound.get(&to) {
                        let _ = link.send(Bytes::from(bytes));
                    }
                }
            }
        }
    }
}

async fn accept_clients(listener: TcpListener, events: mpsc::UnboundedSender<Event>, limits: ConnectionLimits) {
    let mut next = 0u64;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!("accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        next += 1;
        let connection = next;
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(reason) = client_connection(connection, stream, &events, limits).await {
                tracing::debug!(connection, "connection ended: {reason}");
            }
            let _ = events.send(Event::Closed { connection });
        });
    }
}

async fn client_connection(
    connection: u64,
    stream: TcpStream,
    events: &mpsc::UnboundedSender<Event>,
    limits: ConnectionLimits,
) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut reader, mut writer) = stream.into_split();
    let (responses, mut outgoing) = mpsc::unbounded_channel::<Bytes>();
    events
        .send(Event::Opened {
            connection,
            writer: responses,
        })
        .map_err(|_| "the node stopped".to_owned())?;
    let write = async move {
        while let Some(frame) = outgoing.recv().await {
            if writer.write_all(&frame).await.is_err() {
                break;
            }
        }
        // The node dropped the writer: it closed the connection.
        let _ = writer.shutdown().await;
    };
    let read = async {
        let mut splitter = FrameSplitter::new(limits.max_frame_size);
        let mut chunk = vec![0u8; 64 * 1024];
        let queue = Arc::new(Semaphore::new(QUEUED_PER_CONNECTION));
        loop {
            while let Some(frame) = splitter.next_frame().map_err(|e| format!("bad frame: {e}"))? {
                let queued = queue
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| "the node stopped".to_owned())?;
                events
                    .send(Event::Frame {
                        connection,
                        frame,
                        _queued: queued,
                    })
                    .map_err(|_| "the node stopped".to_owned())?;
            }
            let timeout = if splitter.buffered() == 0 {
                limits.idle_timeout
            } else {
                limits.partial_frame_timeout
            };
            let read = tokio::time::timeout(timeout, reader.read(&mut chunk))
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            if read == 0 {
                return Ok::<(), String>(());
            }
            splitter.push(&chunk[..read]);
        }
    };
    tokio::select! {
        () = write => Ok(()),
        result = read => result,
    }
}

async fn accept_peers(listener: TcpListener, events: mpsc::UnboundedSender<Event>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(error) = peer_connection(stream, &events).await {
                tracing::debug!("peer connection ended: {error}");
            }
        });
    }
}

/// A peer's messages: `[u32 length][i32 sender][message]`, the sender said
/// once per message so that either side may re-dial at any time.
async fn peer_connection(mut stream: TcpStream, events: &mpsc::UnboundedSender<Event>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let length = stream.read_u32().await? as usize;
        if !(4..=MAX_PEER_FRAME).contains(&length) {
            return Err(std::io::Error::other(format!("peer frame of {length} bytes")));
        }
        let from = stream.read_i32().await?;
        // Grown as bytes arrive, not reserved from the length a peer claims.
        let mut bytes = Vec::new();
        let want = (length - 4) as u64;
        if (&mut stream).take(want).read_to_end(&mut bytes).await? as u64 != want {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if events
            .send(Event::Peer {
                from,
                bytes: Bytes::from(bytes),
            })
            .is_err()
        {
            return Ok(());
        }
    }
}

async fn dial_peer(me: i32, address: SocketAddr, mut messages: mpsc::UnboundedReceiver<Bytes>) {
    let mut stream: Option<TcpStream> = None;
    while let Some(message) = messages.recv().await {
        if stream.is_none() {
            stream = TcpStream::connect(address).await.ok();
            if let Some(stream) = &stream {
                let _ = stream.set_nodelay(true);
            }
        }
        let Some(link) = &mut stream else {
            // The peer is down: this message is lost, the next one re-dials.
            continue;
        };
        let mut frame = BytesMut::with_capacity(8 + message.len());
        frame.put_u32(u32::try_from(message.len() + 4).unwrap_or(u32::MAX));
        frame.put_i32(me);
        frame.put_slice(&message);
        if link.write_all(&frame).await.is_err() {
            stream = None;
        }
    }
}

/// Free loopback ports, found by binding port 0 (released before the nodes
/// bind them: a race only with other programs picking ports just then).
pub fn free_loopback_ports(count: usize) -> std::io::Result<Vec<std::net::SocketAddr>> {
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners.iter().map(std::net::TcpListener::local_addr).collect()
}
