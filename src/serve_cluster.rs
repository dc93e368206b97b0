//! `kafka-fuzz serve` as a cluster: one node (`--node-id`, `--peers`,
//! `--data-dir`) over TCP, or `--cluster N` nodes started as child
//! processes on loopback and restarted when one dies (so that SIGKILL and
//! a restart are a crash and a recovery).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kafka_fuzz::server::broker::{BrokerConfig, Endpoint, SystemClock};
use kafka_fuzz::server::cluster::disk::FileDisk;
use kafka_fuzz::server::cluster::{ClusterNode, FlushPolicy, NodeConfig};
use kafka_fuzz::server::net::ConnectionLimits;
use kafka_fuzz::server::node_net::{NodeAddresses, free_loopback_ports, serve_node};
use tokio::net::TcpListener;

/// A cluster member on the command line: `ID=CLIENT_ADDR/PEER_ADDR`.
pub fn parse_peer(text: &str) -> Result<(i32, NodeAddresses), String> {
    let bad = || format!("{text:?}: expected ID=CLIENT_HOST:PORT/PEER_HOST:PORT, e.g. 1=127.0.0.1:9092/127.0.0.1:9192");
    let (id, addresses) = text.split_once('=').ok_or_else(bad)?;
    let id = id.trim().parse().map_err(|_| bad())?;
    Ok((id, parse_addresses(addresses).map_err(|_| bad())?))
}

/// `CLIENT_HOST:PORT/PEER_HOST:PORT`.
pub fn parse_addresses(text: &str) -> Result<NodeAddresses, String> {
    let bad = || format!("{text:?}: expected CLIENT_HOST:PORT/PEER_HOST:PORT, e.g. 127.0.0.1:9092/127.0.0.1:9192");
    let (client, peer) = text.split_once('/').ok_or_else(bad)?;
    let client = client.trim().parse().map_err(|_| bad())?;
    let peer = peer.trim().parse().map_err(|_| bad())?;
    Ok(NodeAddresses { client, peer })
}

/// `always`, or `interval:MS`.
pub fn parse_flush(text: &str) -> Result<FlushPolicy, String> {
    match text.split_once(':') {
        None if text == "always" => Ok(FlushPolicy::Always),
        Some(("interval", ms)) => ms
            .parse()
            .ok()
            .filter(|&ms: &i64| ms > 0)
            .map(FlushPolicy::IntervalMs)
            .ok_or_else(|| format!("--flush {text}: the interval must be a positive number of milliseconds")),
        _ => Err(format!("--flush {text}: expected `always` or `interval:MS`")),
    }
}

fn flush_arg(policy: FlushPolicy) -> String {
    match policy {
        FlushPolicy::Always => "always".to_owned(),
        FlushPolicy::IntervalMs(ms) => format!("interval:{ms}"),
    }
}

/// What a cluster node needs from the command line.
pub struct NodeOptions {
    pub id: i32,
    pub peers: Vec<(i32, NodeAddresses)>,
    /// Where to listen, when not at this node's --peers entry.
    pub bind: Option<NodeAddresses>,
    pub data_dir: PathBuf,
    pub flush: FlushPolicy,
    pub broker: BrokerConfig,
    pub limits: ConnectionLimits,
}

/// Runs one node until `shutdown`.
pub async fn run_node(options: NodeOptions, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let peers: BTreeMap<i32, NodeAddresses> = options.peers.iter().copied().collect();
    if peers.len() != options.peers.len() {
        bail!("--peers names a node id twice");
    }
    let own = *peers
        .get(&options.id)
        .with_context(|| format!("--peers does not list this node ({})", options.id))?;
    let nodes = peers
        .iter()
        .map(|(&id, addresses)| {
            let endpoint = Endpoint {
                host: addresses.client.ip().to_string(),
                port: i32::from(addresses.client.port()),
            };
            (id, endpoint)
        })
        .collect();
    let broker = BrokerConfig {
        node_id: options.id,
        advertised_host: own.client.ip().to_string(),
        advertised_port: i32::from(own.client.port()),
        ..options.broker
    };
    let mut config = NodeConfig::new(broker, nodes);
    config.flush = options.flush;
    let bind = options.bind.unwrap_or(own);
    let clients = TcpListener::bind(bind.client)
        .await
        .with_context(|| format!("cannot listen on {}", bind.client))?;
    let peer_listener = TcpListener::bind(bind.peer)
        .await
        .with_context(|| format!("cannot listen for peers on {}", bind.peer))?;
    let disk = FileDisk::open(&options.data_dir)
        .with_context(|| format!("cannot open the data dir {}", options.data_dir.display()))?;
    let node = ClusterNode::open(config, disk, SystemClock)
        .with_context(|| format!("cannot recover node {} from {}", options.id, options.data_dir.display()))?;
    println!(
        "node {} listening on {} (peers on {})",
        options.id, bind.client, bind.peer
    );
    serve_node(node, clients, peer_listener, peers, options.limits, shutdown).await?;
    println!("node {} stopped", options.id);
    Ok(())
}

struct Member {
    id: i32,
    args: Vec<String>,
    child: Child,
    died_at: Option<Instant>,
}

fn spawn(args: &[String]) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the kafka-fuzz executable")?;
    Command::new(exe)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start a cluster node")
}

/// `serve --cluster N`: N nodes as child processes on loopback, restarted a
/// second after one dies; all stopped on Ctrl-C or SIGTERM.
pub async fn run_cluster(
    count: i32,
    data_dir: &Path,
    flush: FlushPolicy,
    extra: Vec<String>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if !(1..=9).contains(&count) {
        bail!("--cluster {count}: between 1 and 9 nodes");
    }
    let ports = free_loopback_ports(2 * count as usize).context("cannot find free loopback ports")?;
    let peers: Vec<String> = (1..=count)
        .map(|id| {
            let at = 2 * (id - 1) as usize;
            format!("{id}={}/{}", ports[at], ports[at + 1])
        })
        .collect();
    let mut members = Vec::new();
    for id in 1..=count {
        let dir = data_dir.join(format!("node-{id}"));
        let mut args = vec![
            "serve".to_owned(),
            "--node-id".to_owned(),
            id.to_string(),
            "--peers".to_owned(),
            peers.join(","),
            "--data-dir".to_owned(),
            dir.display().to_string(),
            "--flush".to_owned(),
            flush_arg(flush),
        ];
        args.extend(extra.iter().cloned());
        let child = spawn(&args)?;
        println!("node {id} on {} pid {}", ports[2 * (id - 1) as usize], child.id());
        members.push(Member {
            id,
            args,
            child,
            died_at: None,
        });
    }
    let bootstrap: Vec<String> = (0..count as usize).map(|i| ports[2 * i].to_string()).collect();
    println!("bootstrap {}", bootstrap.join(","));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        for member in &mut members {
            match (member.died_at, member.child.try_wait()) {
                (None, Ok(Some(status))) => {
                    println!(
                        "node {} (pid {}) exited: {status}; restarting in 1 s",
                        member.id,
                        member.child.id()
                    );
                    member.died_at = Some(Instant::now());
                }
                (Some(at), _) if at.elapsed() >= Duration::from_secs(1) => {
                    member.child = spawn(&member.args)?;
                    member.died_at = None;
                    println!("node {} restarted, pid {}", member.id, member.child.id());
                }
                _ => {}
            }
        }
    }
    for member in &mut members {
        // SIGTERM first, so each node stops cleanly; then reap it.
        if let Ok(pid) = i32::try_from(member.child.id()) {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    for member in &mut members {
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(member.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = member.child.kill();
        let _ = member.child.wait();
    }
    println!("cluster stopped");
    Ok(())
}
