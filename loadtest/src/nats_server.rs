//! Where the NATS peer is: a running `nats-server` (`--nats-url`, `--server-pid`) or one
//! started here (`--spawn-nats PATH`): JetStream on, file storage in a temporary directory,
//! listening on 127.0.0.1 on a port the server picks (`-p -1`), optionally pinned with
//! `taskset -c` (`--server-cpus`). The bound port is read from its log line.
//!
//! nats-server 2.9 (Debian's) has no per-write sync setting: JetStream's file store syncs
//! periodically, so its acknowledgements are not fsync-durable the way Switchboard's are.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

/// What nats-server logs once it accepts clients: `… Listening for client connections on
/// 127.0.0.1:PORT`.
const LISTENING: &str = "Listening for client connections on ";
/// How long a spawned nats-server may take to listen (JetStream recovers its store first).
const START_WAIT: Duration = Duration::from_secs(30);

/// The NATS peer's location, for `loadtest nats-chat`.
#[derive(Debug, Clone, Args)]
pub struct NatsTarget {
    /// URL of a running nats-server with JetStream enabled.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Start this `nats-server` binary (JetStream, file storage in a temporary directory,
    /// 127.0.0.1, a free port) instead of using a running one.
    #[arg(long)]
    pub spawn_nats: Option<PathBuf>,
    /// Pin the spawned nats-server to these CPUs (`taskset -c` list, e.g. `0`).
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// PID of a running nats-server (`--nats-url`), to report its CPU per message.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print one JSON summary object on stdout instead of progress and a table.
    #[arg(long)]
    pub json: bool,
}

/// A nats-server to load, and the process if we started it.
pub struct NatsServer {
    pub url: String,
    pub pid: Option<u32>,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

impl NatsServer {
    /// Use the running server, or start one.
    pub fn open(target: &NatsTarget) -> anyhow::Result<NatsServer> {
        match &target.spawn_nats {
            Some(binary) => spawn(binary, target.server_cpus.as_deref()),
            None => Ok(NatsServer {
                url: target.nats_url.clone(),
                pid: target.server_pid,
                child: None,
                dir: None,
            }),
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn spawn(binary: &Path, cpus: Option<&str>) -> anyhow::Result<NatsServer> {
    let dir = std::env::temp_dir().join(format!("switchboard-loadtest-nats-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut command = match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    command
        .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    // Read the log until the listening line, then keep draining it so the server never
    // blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find(LISTENING) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(line[at + LISTENING.len()..].trim().to_string());
                }
            }
        }
    });
    let pid = child.id();
    // Built before waiting, so a server that never listens is still killed and cleaned up.
    let mut server = NatsServer { url: String::new(), pid: Some(pid), child: Some(child), dir: Some(dir) };
    let addr = rx.recv_timeout(START_WAIT).context("spawned nats-server did not start listening")?;
    server.url = format!("nats://{addr}");
    Ok(server)
}
