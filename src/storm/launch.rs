//! The server processes storm starts from a command template, and the
//! signals it sends them: SIGKILL then a restart on the same port and data
//! directory, SIGSTOP and SIGCONT. Every process started is stopped when
//! `LaunchedServers` is dropped, whatever ended the run.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::StormError;
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
}

pub struct LaunchedServers {
    nodes: Vec<LaunchedNode>,
}

/// The command template with one node's values in place.
pub fn expand(template: &str, node: NodeId, port: u16, peer_port: u16, peers: &str, data_dir: &Path) -> String {
    template
        .replace("{node}", &node.to_string())
        .replace("{port}", &port.to_string())
        .replace("{peer_port}", &peer_port.to_string())
        .replace("{peers}", peers)
        .replace("{data_dir}", &data_dir.display().to_string())
}

impl LaunchedServers {
    /// Starts `count` nodes from `template`, each with a data directory and
    /// a log under `out`, and waits until each accepts connections.
    pub fn start(template: &str, count: u16, out: &Path) -> Result<Self, StormError> {
        let ports: Vec<u16> = free_loopback_ports(usize::from(count) * 2)
            .map_err(|e| StormError::Launch(format!("cannot find free loopback ports: {e}")))?
            .iter()
            .map(SocketAddr::port)
            .collect();
        let (clients, peer_ports) = ports.split_at(usize::from(count));
        let peers = (0..usize::from(count))
            .map(|i| format!("{}=127.0.0.1:{}/127.0.0.1:{}", i + 1, clients[i], peer_ports[i]))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers = Self { nodes: Vec::new() };
        for index in 0..usize::from(count) {
            let id = NodeId::try_from(index + 1).unwrap_or(NodeId::MAX);
            let data_dir = out.join("data").join(format!("node-{id}"));
            std::fs::create_dir_all(&data_dir)
                .map_err(|e| StormError::Launch(format!("cannot create {}: {e}", data_dir.display())))?;
            servers.nodes.push(LaunchedNode {
                id,
                client: SocketAddr::from(([127, 0, 0, 1], clients[index])),
                command: expand(template, id, clients[index], peer_ports[index], &peers, &data_dir),
                log: out.join(format!("node-{id}.log")),
                child: None,
                paused: false,
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
        let child = Command::new("sh")
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

    /// Every node's client address.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.client).collect()
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
