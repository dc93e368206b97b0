//! The TCP proxies storm puts in front of the nodes it starts: one for the
//! clients of each node, and one for each ordered pair of nodes (node i's
//! connections to node j), so that a fault can cut one node off from the
//! others, slow its links, or reset its connections, while every byte
//! still flows through real sockets. Each proxy forwards chunks as they
//! come, each direction on its own, under the control of its `Link`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::StormError;

/// What a fault sets on one proxy.
#[derive(Debug, Default)]
pub struct Link {
    /// Connections refused and the open ones closed (a partition).
    blocked: AtomicBool,
    /// Added before each chunk is forwarded, in ms.
    delay_ms: AtomicU64,
    /// Bumped to close every open connection once (a reset).
    resets: AtomicU64,
    changed: Notify,
    /// Where the proxy listens.
    listening: std::sync::OnceLock<SocketAddr>,
}

impl Link {
    pub fn block(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    pub fn delay(&self, delay: Duration) {
        self.delay_ms
            .store(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn reset(&self) {
        self.resets.fetch_add(1, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    pub fn address(&self) -> Result<SocketAddr, StormError> {
        self.listening
            .get()
            .copied()
            .ok_or_else(|| StormError::Launch("a proxy that does not listen".to_owned()))
    }

    fn open(&self) -> bool {
        !self.blocked.load(Ordering::Relaxed)
    }
}

/// The proxies' runtime: dropped, every proxy stops.
pub struct ProxyRuntime {
    runtime: tokio::runtime::Runtime,
}

impl ProxyRuntime {
    pub fn new() -> Result<Self, StormError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("storm-proxy")
            .enable_all()
            .build()
            .map_err(|e| StormError::Launch(format!("cannot start the proxies' runtime: {e}")))?;
        Ok(Self { runtime })
    }

    /// Listens on `listen` and forwards every connection to `target`.
    pub fn start(&self, listen: SocketAddr, target: SocketAddr) -> Result<Arc<Link>, StormError> {
        let link = Arc::new(Link::default());
        let listener = self
            .runtime
            .block_on(TcpListener::bind(listen))
            .map_err(|e| StormError::Launch(format!("cannot listen on {listen} for a proxy: {e}")))?;
        let _ = link.listening.set(listen);
        let serving = link.clone();
        self.runtime.spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !serving.open() {
                    drop(inbound);
                    continue;
                }
                tokio::spawn(forward(inbound, target, serving.clone()));
            }
        });
        Ok(link)
    }
}

/// One proxied connection, until either side closes it or a fault does.
async fn forward(inbound: TcpStream, target: SocketAddr, link: Arc<Link>) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let resets = link.resets.load(Ordering::Relaxed);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let cut = async {
        loop {
            let changed = link.changed.notified();
            if !link.open() || link.resets.load(Ordering::Relaxed) != resets {
                return;
            }
            changed.await;
        }
    };
    tokio::select! {
        () = pump(in_read, out_write, &link) => {}
        () = pump(out_read, in_write, &link) => {}
        () = cut => {}
    }
}

async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, link: &Link) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let delay = link.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
