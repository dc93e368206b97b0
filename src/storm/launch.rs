//! The server processes storm starts from a command template, the proxies
//! in front of them, and the faults storm injects: SIGKILL then a restart
//! on the same port and data directory, SIGSTOP and SIGCONT, a node cut off
//! from the others, its links slowed, its connections reset. Every process
//! started is stopped when `LaunchedServers` is dropped, whatever ended the
//! run.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::StormError;
use super::clock::{self, SkewedClock};
use super::proxy::{Link, ProxyRuntime};
use crate::harness::target::NodeId;
use crate::server::node_net::free_loopback_ports;

/// How long a started node may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One node: its ports, its command line, its process.
struct LaunchedNode {
    id: NodeId,
    client: SocketAddr,
    command: String,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// Its wall clock, when clock faults are on.
    clock: Option<SkewedClock>,
}

pub struct LaunchedServers {
    nodes: Vec<LaunchedNode>,
    /// The proxy clients reach each node through, by node index.
    client_links: Vec<Arc<Link>>,
    /// The proxy node `from` reaches node `to` through.
    peer_links: BTreeMap<(NodeId, NodeId), Arc<Link>>,
    /// Dropped after the processes: the proxies stop with it.
    _proxies: ProxyRuntime,
}

/// A node's ports: what it binds, and the proxies others reach it by.
struct NodePorts {
    client: u16,
    peer: u16,
    advertised: u16,
}

/// The command template with one node's values in place.
fn expand(template: &str, node: NodeId, ports: &NodePorts, peers: &str, data_dir: &Path) -> String {
    template
        .replace("{node}", &node.to_string())
        .replace("{port}", &ports.client.to_string())
        .replace("{peer_port}", &ports.peer.to_string())
        .replace("{advertised_port}", &ports.advertised.to_string())
        .replace("{peers}", peers)
        .replace("{data_dir}", &data_dir.display().to_string())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl LaunchedServers {
    /// Starts `count` nodes from `template`, each with a data directory and
    /// a log under `out` (and a clock storm can move, if `skewable`), and
    /// waits until each accepts connections.
    pub fn start(template: &str, count: u16, out: &Path, skewable: bool) -> Result<Self, StormError> {
        let faketime = skewable.then(clock::library).transpose()?;
        let n = usize::from(count);
        let mut free = free_loopback_ports(3 * n + n * n.saturating_sub(1))
            .map_err(|e| StormError::Launch(format!("cannot find free loopback ports: {e}")))?
            .into_iter()
            .map(|address| address.port());
        let mut next = || free.next().unwrap_or(0);
        let ids: Vec<NodeId> = (1..=n).map(|i| NodeId::try_from(i).unwrap_or(NodeId::MAX)).collect();
        let ports: Vec<NodePorts> = ids
            .iter()
            .map(|_| NodePorts {
                client: next(),
                peer: next(),
                advertised: next(),
            })
            .collect();
        let proxies = ProxyRuntime::new()?;
        let mut client_links = Vec::new();
        for node in &ports {
            client_links.push(proxies.start(loopback(node.advertised), loopback(node.client))?);
        }
        // Node `from` reaches node `to` through a proxy of its own.
        let mut peer_links = BTreeMap::new();
        let mut peer_proxy_port = BTreeMap::new();
        for (from, _) in ids.iter().enumerate() {
            for (to, target) in ports.iter().enumerate().filter(|&(to, _)| to != from) {
                let port = next();
                peer_links.insert(
                    (ids[from], ids[to]),
                    proxies.start(loopback(port), loopback(target.peer))?,
                );
                peer_proxy_port.insert((from, to), port);
            }
        }
        let mut servers = Self {
            nodes: Vec::new(),
            client_links,
            peer_links,
            _proxies: proxies,
        };
        for (index, &id) in ids.iter().enumerate() {
            let data_dir = out.join("data").join(format!("node-{id}"));
            std::fs::create_dir_all(&data_dir)
                .map_err(|e| StormError::Launch(format!("cannot create {}: {e}", data_dir.display())))?;
            // How this node reaches each node: its own entry is how the
            // others reach it.
            let peers = ids
                .iter()
                .enumerate()
                .map(|(to, to_id)| {
                    let peer = peer_proxy_port.get(&(index, to)).copied().unwrap_or(ports[to].peer);
                    format!("{to_id}=127.0.0.1:{}/127.0.0.1:{peer}", ports[to].advertised)
                })
                .collect::<Vec<_>>()
                .join(",");
            servers.nodes.push(LaunchedNode {
                id,
                client: loopback(ports[index].client),
                command: expand(template, id, &ports[index], &peers, &data_dir),
                log: out.join(format!("node-{id}.log")),
                child: None,
                paused: false,
                clock: faketime
                    .clone()
                    .map(|library| SkewedClock::new(library, out, id))
                    .transpose()?,
            });
        }
        for index in 0..servers.nodes.len() {
            servers.spawn(index)?;
        }
        for index in 0..servers.nodes.len() {
            servers.wait_listening(index)?;
        }
        Ok(servers)
    }

    fn spawn(&mut self, index: usize) -> Result<(), StormError> {
        let node = &mut self.nodes[index];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(|e| StormError::Launch(format!("cannot write {}: {e}", node.log.display())))?;
        let err = log
            .try_clone()
            .map_err(|e| StormError::Launch(format!("cannot write {}: {e}", node.log.display())))?;
        let mut command = Command::new("sh");
        if let Some(clock) = &node.clock {
            command.envs(clock.environment());
        }
        let child = command
            .arg("-c")
            .arg(&node.command)
            // Its own process group: signals reach the server whatever shell
            // the command line needs around it.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| StormError::Launch(format!("node {}: cannot run `{}`: {e}", node.id, node.command)))?;
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Waits until node `index` accepts a connection, or fails naming why.
    fn wait_listening(&mut self, index: usize) -> Result<(), StormError> {
        let started = Instant::now();
        loop {
            let node = &mut self.nodes[index];
            if TcpStream::connect_timeout(&node.client, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(child) = node.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(&node.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                return Err(StormError::Launch(format!(
                    "node {} exited at start ({status}): `{}`; the end of {}:\n{}",
                    node.id,
                    node.command,
                    node.log.display(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(StormError::Launch(format!(
                    "node {} does not accept connections on {} after {} s: `{}` (see {})",
                    node.id,
                    node.client,
                    START_TIMEOUT.as_secs(),
                    node.command,
                    node.log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every node's address as clients reach it: its proxy.
    pub fn addresses(&self) -> Result<Vec<SocketAddr>, StormError> {
        self.client_links.iter().map(|link| link.address()).collect()
    }

    /// Cuts `node` off from the other nodes (both ways), or heals it.
    pub fn isolate(&self, node: NodeId, cut: bool) {
        for ((from, to), link) in &self.peer_links {
            if *from == node || *to == node {
                link.block(cut);
            }
        }
    }

    /// Slows every link to and from `node` (zero: no delay).
    pub fn delay(&self, node: NodeId, delay: Duration) {
        for ((from, to), link) in &self.peer_links {
            if *from == node || *to == node {
                link.delay(delay);
            }
        }
        if let Ok(index) = self.index(node) {
            self.client_links[index].delay(delay);
        }
    }

    /// Moves `node`'s wall clock `seconds` from the true time (0: back).
    pub fn skew(&self, node: NodeId, seconds: i64) -> Result<(), StormError> {
        let index = self.index(node)?;
        match &self.nodes[index].clock {
            Some(clock) => clock.set(seconds),
            None => Err(StormError::Launch(format!(
                "node {node} was started without a clock to move"
            ))),
        }
    }

    /// Closes every open connection to and from `node`, clients' included.
    pub fn reset(&self, node: NodeId) {
        for ((from, to), link) in &self.peer_links {
            if *from == node || *to == node {
                link.reset();
            }
        }
        if let Ok(index) = self.index(node) {
            self.client_links[index].reset();
        }
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// The running server processes: node id and pid, every process of a
    /// node's group but the shell that started it.
    pub fn pids(&self) -> Vec<(NodeId, u32)> {
        let Ok(all) = procfs::process::all_processes() else {
            return Vec::new();
        };
        let stats: Vec<procfs::process::Stat> = all.flatten().filter_map(|p| p.stat().ok()).collect();
        let mut pids = Vec::new();
        for node in &self.nodes {
            let Some(group) = node.child.as_ref().and_then(|c| i32::try_from(c.id()).ok()) else {
                continue;
            };
            let members: Vec<&procfs::process::Stat> = stats.iter().filter(|s| s.pgrp == group).collect();
            let servers: Vec<&&procfs::process::Stat> = members.iter().filter(|s| s.pid != group).collect();
            let chosen: Vec<i32> = if servers.is_empty() {
                members.iter().map(|s| s.pid).collect()
            } else {
                servers.iter().map(|s| s.pid).collect()
            };
            pids.extend(
                chosen
                    .into_iter()
                    .filter_map(|pid| u32::try_from(pid).ok())
                    .map(|pid| (node.id, pid)),
            );
        }
        pids
    }

    fn index(&self, node: NodeId) -> Result<usize, StormError> {
        self.nodes
            .iter()
            .position(|n| n.id == node)
            .ok_or_else(|| StormError::Launch(format!("no node {node}")))
    }

    fn signal(&self, index: usize, signal: Signal) -> Result<(), StormError> {
        let node = &self.nodes[index];
        let Some(child) = node.child.as_ref() else {
            return Ok(());
        };
        let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        killpg(group, signal).map_err(|e| StormError::Launch(format!("node {}: {signal}: {e}", node.id)))
    }

    /// SIGKILL: the process is gone, with whatever it had not flushed.
    pub fn kill(&mut self, node: NodeId) -> Result<(), StormError> {
        let index = self.index(node)?;
        self.signal(index, Signal::SIGKILL)?;
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.wait();
        }
        Ok(())
    }

    /// Starts a killed node again, on its port and data directory.
    pub fn restart(&mut self, node: NodeId) -> Result<(), StormError> {
        let index = self.index(node)?;
        if self.nodes[index].child.is_none() {
            self.spawn(index)?;
            self.wait_listening(index)?;
        }
        Ok(())
    }

    pub fn pause(&mut self, node: NodeId) -> Result<(), StormError> {
        let index = self.index(node)?;
        self.signal(index, Signal::SIGSTOP)?;
        self.nodes[index].paused = true;
        Ok(())
    }

    pub fn resume(&mut self, node: NodeId) -> Result<(), StormError> {
        let index = self.index(node)?;
        self.signal(index, Signal::SIGCONT)?;
        self.nodes[index].paused = false;
        Ok(())
    }

    /// Nodes that died without storm killing them: (node, exit status).
    pub fn exited(&mut self) -> Vec<(NodeId, String)> {
        let mut gone = Vec::new();
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                gone.push((node.id, status.to_string()));
                node.child = None;
            }
        }
        gone
    }

    /// The log file of a node.
    pub fn log_of(&self, node: NodeId) -> Option<&Path> {
        self.nodes.iter().find(|n| n.id == node).map(|n| n.log.as_path())
    }
}

impl Drop for LaunchedServers {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let group = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
                if node.paused {
                    let _ = killpg(group, Signal::SIGCONT);
                }
                let _ = killpg(group, Signal::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = killpg(group, Signal::SIGKILL);
                let _ = child.wait();
            }
        }
    }
}
