//! The devnet's node processes: `tandem node --config DIR/NAME/node.toml`, each with its stdout
//! in `node.out` (where it prints its API address) and its log appended to `node.log`, and
//! `TANDEM_PARENT_PID` set so that it stops by itself when the devnet process is gone.

use super::plan::NodePlan;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a node may take to print its API address (its journal replays first).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Children {
    exe: PathBuf,
    pub nodes: Vec<NodePlan>,
    running: Vec<Option<Child>>,
    /// Each node's API address once it printed it.
    pub rpc: Vec<Option<String>>,
}

impl Children {
    pub fn new(exe: PathBuf, nodes: Vec<NodePlan>) -> Children {
        let n = nodes.len();
        Children {
            exe,
            nodes,
            running: (0..n).map(|_| None).collect(),
            rpc: vec![None; n],
        }
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Starts node `i` (its config must be written) without waiting for it.
    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let node = &self.nodes[i];
        let out = std::fs::File::create(node.dir.join("node.out"))
            .map_err(|e| format!("{}: cannot create node.out: {e}", node.name))?;
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(node.dir.join("node.log"))
            .map_err(|e| format!("{}: cannot open node.log: {e}", node.name))?;
        let child = Command::new(&self.exe)
            .args(["node", "--config"])
            .arg(node.config_path())
            .env(crate::node::PARENT_PID_VAR, std::process::id().to_string())
            .env(
                "RUST_LOG",
                std::env::var("TANDEM_DEVNET_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: cannot start {}: {e}", node.name, self.exe.display()))?;
        self.running[i] = Some(child);
        self.rpc[i] = None;
        Ok(())
    }

    /// Waits until node `i` printed its API address; an exit or a timeout is an error that
    /// quotes the end of its log.
    fn await_rpc(&mut self, i: usize, deadline: Instant) -> Result<String, String> {
        let node = self.nodes[i].clone();
        loop {
            let text = std::fs::read_to_string(node.dir.join("node.out")).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .find_map(|l| l.strip_prefix("rpc http://"))
                .map(str::trim)
            {
                let addr = addr.to_string();
                self.rpc[i] = Some(addr.clone());
                return Ok(addr);
            }
            let exited = match self.running[i].as_mut() {
                Some(c) => c.try_wait().ok().flatten(),
                None => return Err(format!("{} is not running", node.name)),
            };
            if let Some(status) = exited {
                self.running[i] = None;
                return Err(format!(
                    "{} exited ({status}) before its API answered; its log ends:\n{}",
                    node.name,
                    log_tail(&node.dir, 10)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not print its API address within {} s; its log ends:\n{}",
                    node.name,
                    START_TIMEOUT.as_secs(),
                    log_tail(&node.dir, 10)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts every node, then waits for each API.
    pub fn start_all(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            self.spawn(i)?;
        }
        let deadline = Instant::now() + START_TIMEOUT;
        for i in 0..self.nodes.len() {
            self.await_rpc(i, deadline)?;
        }
        Ok(())
    }

    /// Starts node `i` again (stopping it first if it runs); returns its API address.
    pub fn restart(&mut self, i: usize) -> Result<String, String> {
        self.stop(i);
        self.spawn(i)?;
        self.await_rpc(i, Instant::now() + START_TIMEOUT)
    }

    /// SIGKILL: the node gets no chance to do anything (its journal is crash-safe).
    pub fn kill(&mut self, i: usize) -> bool {
        match self.running[i].take() {
            Some(mut c) => {
                let _ = c.kill();
                let _ = c.wait();
                self.rpc[i] = None;
                true
            }
            None => false,
        }
    }

    /// SIGTERM, then SIGKILL if it has not stopped in time.
    fn stop(&mut self, i: usize) {
        let Some(mut c) = self.running[i].take() else {
            return;
        };
        self.rpc[i] = None;
        if let Ok(pid) = i32::try_from(c.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Stops every node (SIGTERM to all, then waits).
    pub fn stop_all(&mut self) {
        for c in self.running.iter().flatten() {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        for i in 0..self.nodes.len() {
            self.stop(i);
        }
    }

    /// Whether node `i` runs (a node that exited by itself is noticed here).
    pub fn alive(&mut self, i: usize) -> bool {
        match self.running[i].as_mut() {
            Some(c) => match c.try_wait() {
                Ok(None) => true,
                _ => {
                    self.running[i] = None;
                    self.rpc[i] = None;
                    false
                }
            },
            None => false,
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// The last `n` lines of a node's log.
pub fn log_tail(dir: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
