//! The TCP server: the dispatcher behind a tokio listener, so real Kafka
//! clients can talk to it.
//!
//! One task per connection reads frames in order and answers them in order,
//! one at a time, as a Kafka broker does; a request that waits (a fetch
//! short of `min_bytes`, a join waiting for the group) is resumed whenever
//! another request changed the broker, or at its deadline.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::broker::{Broker, Clock, DispatchError, Parked, Reply, SaslState, SystemClock};
use super::wire::FrameSplitter;

/// Connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_frame_size: usize,
    /// `connections.max.idle.ms`: a connection silent this long is closed.
    pub idle_timeout: Duration,
    /// A frame that has begun must be complete within this time.
    pub partial_frame_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_frame_size: crate::server::wire::DEFAULT_MAX_FRAME_SIZE,
            idle_timeout: Duration::from_secs(600),
            partial_frame_timeout: Duration::from_secs(30),
        }
    }
}

/// What a server did, for its closing summary.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    /// Connections closed because of what the client sent.
    pub rejected: AtomicU64,
}

/// Sees every request frame the server receives (size prefix excluded),
/// connection by connection: how `kafka-fuzz serve --record` turns real
/// traffic into seeds. Called before the frame is answered.
pub trait TrafficObserver: Send + Sync {
    fn request(&self, connection: u64, frame: &Bytes);
    /// The connection ended (closed by either side, or rejected).
    fn closed(&self, connection: u64);
}

/// The broker shared by every connection, and the signal that it changed.
struct Shared {
    broker: Mutex<Broker>,
    changed: Notify,
    limits: ConnectionLimits,
    stats: Arc<ServerStats>,
    observer: Option<Arc<dyn TrafficObserver>>,
}

impl Shared {
    /// No handler panics while holding the lock, but should one, the
    /// broker state is still the best there is.
    fn broker(&self) -> MutexGuard<'_, Broker> {
        self.broker.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves `broker` on `listener` until `shutdown` completes, showing every
/// request to `observer` if there is one.
pub async fn serve(
    listener: TcpListener,
    broker: Broker,
    limits: ConnectionLimits,
    stats: Arc<ServerStats>,
    observer: Option<Arc<dyn TrafficObserver>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        broker: Mutex::new(broker),
        changed: Notify::new(),
        limits,
        stats,
        observer,
    });
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: keep serving the
                    // connections there are.
                    Err(error) => {
                        tracing::warn!("accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let id = shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let closed = connection(id, stream, &shared).await;
                    if let Some(observer) = &shared.observer {
                        observer.closed(id);
                    }
                    match closed {
                        Ok(()) => tracing::debug!(%peer, "connection closed"),
                        // The client hung up (a consumer closing with a fetch
                        // in flight): nothing wrong with what it sent.
                        Err(Closed::Io(error)) => tracing::debug!(%peer, "connection lost: {error}"),
                        Err(reason) => {
                            shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(%peer, "closing connection: {reason}");
                        }
                    }
                });
            }
        }
    }
}

/// Why a connection closed early.
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Frame(crate::server::wire::DecodeError),
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    #[error("idle for {0:?}")]
    Idle(Duration),
    #[error("a partial frame of {0} bytes was not completed in time")]
    PartialFrame(usize),
}

async fn connection(id: u64, mut stream: TcpStream, shared: &Shared) -> Result<(), Closed> {
    stream.set_nodelay(true)?;
    let limits = shared.limits;
    let mut splitter = FrameSplitter::new(limits.max_frame_size);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut sasl = SaslState::default();
    loop {
        while let Some(frame) = splitter.next_frame().map_err(Closed::Frame)? {
            shared.stats.requests.fetch_add(1, Ordering::Relaxed);
            if let Some(observer) = &shared.observer {
                observer.request(id, &frame);
            }
            if let Some(response) = answer(frame, shared, &mut sasl).await? {
                stream.write_all(&response).await?;
            }
        }
        let (timeout, expired) = match splitter.buffered() {
            0 => (limits.idle_timeout, Closed::Idle(limits.idle_timeout)),
            partial => (limits.partial_frame_timeout, Closed::PartialFrame(partial)),
        };
        let read = tokio::time::timeout(timeout, stream.read(&mut chunk))
            .await
            .map_err(|_| expired)??;
        if read == 0 {
            return Ok(());
        }
        splitter.push(&chunk[..read]);
    }
}

/// Answers one frame. A parked request is resumed whenever another request
/// changed the broker, and answered at its deadline at the latest. Only a
/// request that completed signals a change: two parked requests must not
/// wake each other forever.
async fn answer(frame: Bytes, shared: &Shared, sasl: &mut SaslState) -> Result<Option<Bytes>, DispatchError> {
    let mut next = Next::Receive(frame);
    loop {
        // Registered before the broker is read, so no change is missed.
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let reply = {
            #[cfg(feature = "planted-bugs")]
            let (mut broker, _audit) = planted_locks(shared, &next);
            #[cfg(not(feature = "planted-bugs"))]
            let mut broker = shared.broker();
            match next {
                Next::Receive(frame) => broker.receive_authenticated(sasl, frame),
                Next::Resume(waiting) => broker.resume(waiting),
            }
        };
        // A failed request may have changed the broker too (an acks=0
        // produce that appended to some partitions).
        if !matches!(reply, Ok(Reply::Parked(_))) {
            shared.changed.notify_waiters();
        }
        let waiting = match reply? {
            Reply::Response(bytes) => return Ok(Some(bytes)),
            Reply::NoResponse => return Ok(None),
            Reply::Parked(waiting) => waiting,
        };
        let wait_ms = waiting.deadline_ms().saturating_sub(SystemClock.now_ms()).max(0);
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
        }
        next = Next::Resume(waiting);
    }
}

/// The planted lock-order deadlock: a second lock, taken after the broker's
/// around produces and before it around fetches.
#[cfg(feature = "planted-bugs")]
static AUDIT: Mutex<()> = Mutex::new(());

#[cfg(feature = "planted-bugs")]
fn planted_locks<'a>(shared: &'a Shared, next: &Next) -> (MutexGuard<'a, Broker>, Option<MutexGuard<'static, ()>>) {
    let audit = || AUDIT.lock().unwrap_or_else(PoisonError::into_inner);
    let api_key = match next {
        Next::Receive(frame) if frame.len() >= 2 => i16::from_be_bytes([frame[0], frame[1]]),
        _ => -1,
    };
    if !planted!(LockOrderDeadlock) || !matches!(api_key, 0 | 1) {
        return (shared.broker(), None);
    }
    if api_key == 0 {
        planted_produce_locks(shared, audit)
    } else {
        planted_fetch_locks(shared, audit)
    }
}

#[cfg(feature = "planted-bugs")]
#[inline(never)]
fn planted_produce_locks<'a>(
    shared: &'a Shared,
    audit: impl Fn() -> MutexGuard<'static, ()>,
) -> (MutexGuard<'a, Broker>, Option<MutexGuard<'static, ()>>) {
    let broker = shared.broker();
    std::thread::yield_now();
    (broker, Some(audit()))
}

#[cfg(feature = "planted-bugs")]
#[inline(never)]
fn planted_fetch_locks<'a>(
    shared: &'a Shared,
    audit: impl Fn() -> MutexGuard<'static, ()>,
) -> (MutexGuard<'a, Broker>, Option<MutexGuard<'static, ()>>) {
    let audit = audit();
    std::thread::yield_now();
    (shared.broker(), Some(audit))
}

/// What `answer` does next with the broker.
enum Next {
    Receive(Bytes),
    Resume(Parked),
}
