//! Where the server is, how to reach it, and the plumbing every scenario shares: starting
//! a server, creating agents, dialing connections over 127.0.0.x source addresses.

use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use switchboard_client::{Client, QuicConnector};
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::http::AgentCreated;
use switchboard_protocol::startup;
use switchboard_protocol::{Request, ServerFrame};

/// How long a spawned server may take to print where it listens (it opens RocksDB and
/// replays its write-ahead log first; a large data dir takes a while).
const SPAWN_WAIT: Duration = Duration::from_secs(120);

/// Which transport the clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    Ws,
    Quic,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Quic => "quic",
        }
    }
}

/// Server location and client options shared by all scenarios.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Transport for the load's clients.
    #[arg(long, value_enum, default_value = "ws")]
    pub transport: Transport,
    /// HTTP base URL of a running server (WebSocket at /ws).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// QUIC address of a running server.
    #[arg(long, default_value = "127.0.0.1:4433")]
    pub quic_target: SocketAddr,
    /// Data directory of a running server (for its admin token and QUIC certificate).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Administrator token (default: <data-dir>/admin-token).
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Start this `switchboard` binary on a temporary data dir instead of using a running one.
    #[arg(long)]
    pub spawn_server: Option<PathBuf>,
    /// Pin the spawned server to these CPUs (`taskset -c` list, e.g. `0`); pair it with
    /// `--client-cpus` naming other CPUs so the two do not compete.
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// Extra argument for the spawned server (repeatable), e.g. `--server-arg=--durability=buffered`.
    #[arg(long, allow_hyphen_values = true)]
    pub server_arg: Vec<String>,
    /// PID of a running server (`--target`), to report its memory and CPU per message.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Spread client connections over 127.0.0.1 … 127.0.0.N (one source address allows
    /// about 28,000 connections to one port).
    #[arg(long, default_value_t = 1)]
    pub source_ips: u8,
    /// Print one JSON summary object on stdout instead of progress and a table.
    #[arg(long)]
    pub json: bool,
    /// A cluster's nodes (HTTP base URLs, WebSocket only): pair i's visitor connects to node
    /// i mod N and its agent to node i+1 mod N, so every pair talks across nodes through
    /// the relay (docs/CLUSTER.md). Agents are created through `--target`.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
}

/// A server to load: its addresses and credentials, and the process if we started it.
pub struct Server {
    pub ws_url: String,
    pub http_url: String,
    pub quic_addr: SocketAddr,
    pub cert: PathBuf,
    pub admin_token: String,
    pub pid: Option<u32>,
    child: Option<Child>,
    spawned_dir: Option<PathBuf>,
}

impl Server {
    /// Use the running server, or start one.
    pub fn open(target: &Target) -> anyhow::Result<Server> {
        match &target.spawn_server {
            Some(binary) => {
                let dir = std::env::temp_dir().join(format!("switchboard-loadtest-{}", std::process::id()));
                let mut server = spawn(binary, target, &dir, None)?;
                server.spawned_dir = Some(dir);
                Ok(server)
            }
            None => {
                let token = match &target.admin_token {
                    Some(token) => token.clone(),
                    None => read_token(&target.data_dir)?,
                };
                let http_url = target.target.trim_end_matches('/').to_string();
                Ok(Server {
                    ws_url: format!("{}/ws", http_url.replacen("http://", "ws://", 1)),
                    http_url,
                    quic_addr: target.quic_target,
                    cert: target.data_dir.join("quic-cert.pem"),
                    admin_token: token,
                    pid: target.server_pid,
                    child: None,
                    spawned_dir: None,
                })
            }
        }
    }

    /// The server's resident memory, when its PID is known.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.pid?)
    }

    /// Create an agent; returns its token.
    pub async fn create_agent(
        &self,
        http: &reqwest::Client,
        name: &str,
        max_chats: u32,
    ) -> anyhow::Result<String> {
        let body = serde_json::json!({"display_name": name, "max_concurrent_chats": max_chats});
        let response = http
            .post(format!("{}/api/v1/agents", self.http_url))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("creating agent: {} {}", response.status(), response.text().await.unwrap_or_default());
        }
        Ok(response.json::<AgentCreated>().await?.token)
    }

    /// Start `binary` on data dir `dir` (kept afterwards), on fixed addresses (http, quic)
    /// or, with `None`, on ports the server picks. Returns once the server listens.
    pub fn spawn_in(
        binary: &Path,
        target: &Target,
        dir: &Path,
        addrs: Option<(SocketAddr, SocketAddr)>,
    ) -> anyhow::Result<Server> {
        spawn(binary, target, dir, addrs)
    }

    /// The HTTP address, for starting a server again where it was.
    pub fn http_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.http_url.trim_start_matches("http://").parse()?)
    }

    /// Stop a spawned server with SIGTERM and wait for it to exit; returns how long it took.
    pub fn terminate(&mut self) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else { bail!("no spawned server to stop") };
        let started = std::time::Instant::now();
        // SAFETY: kill only sends a signal to our own child's PID.
        if unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) } != 0 {
            bail!("SIGTERM: {}", std::io::Error::last_os_error());
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("server exited with {status} after SIGTERM");
        }
        Ok(started.elapsed())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.spawned_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn read_token(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin-token");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (or pass --admin-token)", path.display()))?;
    Ok(text.trim().to_string())
}

fn spawn(
    binary: &Path,
    target: &Target,
    dir: &Path,
    addrs: Option<(SocketAddr, SocketAddr)>,
) -> anyhow::Result<Server> {
    std::fs::create_dir_all(dir)?;
    let (http_addr, quic_addr) = match addrs {
        Some((http, quic)) => (http.to_string(), quic.to_string()),
        None => ("127.0.0.1:0".to_string(), "127.0.0.1:0".to_string()),
    };
    let mut command = match &target.server_cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    command
        .args(["serve", "--http-addr", &http_addr, "--quic-addr", &quic_addr, "--log", "warn"])
        .args(["--visitor-rate-per-s", "1000000", "--visitor-burst", "1000000", "--data-dir"])
        .arg(dir)
        .args(&target.server_arg)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Some(addresses) = startup::read_addresses(BufReader::new(stdout)) {
            let _ = tx.send(addresses);
        }
    });
    let started = rx.recv_timeout(SPAWN_WAIT);
    let Ok((http, quic)) = started else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("spawned server did not start within {SPAWN_WAIT:?}");
    };
    let pid = child.id();
    Ok(Server {
        ws_url: format!("ws://{http}/ws"),
        http_url: format!("http://{http}"),
        quic_addr: quic.parse().context("quic address")?,
        cert: dir.join("quic-cert.pem"),
        admin_token: read_token(dir)?,
        pid: Some(pid),
        child: Some(child),
        spawned_dir: None,
    })
}

/// Opens client connections round-robin over the configured source addresses.
pub struct Dialer {
    transport: Transport,
    ws_url: String,
    /// `--nodes`' WebSocket URLs (empty: every connection goes to `ws_url`).
    node_urls: Vec<String>,
    quic_addr: SocketAddr,
    sources: Vec<IpAddr>,
    quic: Vec<QuicConnector>,
    next: AtomicUsize,
}

impl Dialer {
    pub fn new(target: &Target, server: &Server) -> anyhow::Result<Dialer> {
        let sources: Vec<IpAddr> =
            (1..=target.source_ips.max(1)).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))).collect();
        let quic = match target.transport {
            Transport::Quic => sources
                .iter()
                .map(|ip| QuicConnector::new(SocketAddr::new(*ip, 0), &server.cert))
                .collect::<Result<Vec<_>, _>>()?,
            Transport::Ws => Vec::new(),
        };
        let node_urls = target
            .nodes
            .iter()
            .map(|n| format!("{}/ws", n.trim_end_matches('/').replacen("http://", "ws://", 1)))
            .collect();
        Ok(Dialer {
            transport: target.transport,
            ws_url: server.ws_url.clone(),
            node_urls,
            quic_addr: server.quic_addr,
            sources,
            quic,
            next: AtomicUsize::new(0),
        })
    }

    /// A new connection (MessagePack).
    pub async fn connect(&self) -> anyhow::Result<Client> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
        let client = match self.transport {
            Transport::Ws => Client::connect_from(&self.ws_url, Encoding::MsgPack, self.sources[i]).await?,
            Transport::Quic => self.quic[i].connect(self.quic_addr, "localhost").await?,
        };
        Ok(client)
    }

    /// A new connection to the `k`-th of `--nodes` (mod their number), or as
    /// [`Dialer::connect`] without them.
    pub async fn connect_to(&self, k: usize) -> anyhow::Result<Client> {
        if self.node_urls.is_empty() {
            return self.connect().await;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
        let url = &self.node_urls[k % self.node_urls.len()];
        Ok(Client::connect_from(url, Encoding::MsgPack, self.sources[i]).await?)
    }

    /// A new connection authenticated as an agent.
    pub async fn agent(&self, token: &str) -> anyhow::Result<Client> {
        self.agent_at(token, 0).await
    }

    /// A new agent connection to the `k`-th of `--nodes` (see [`Dialer::connect_to`]).
    /// An agent just created on another node is retried until that node knows it.
    pub async fn agent_at(&self, token: &str, k: usize) -> anyhow::Result<Client> {
        for _ in 0..50 {
            let client = self.connect_to(k).await?;
            match client.call(Request::Auth { token: token.to_string() }).await {
                Ok(ServerFrame::Authed { .. }) => return Ok(client),
                _ if !self.node_urls.is_empty() => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                other => bail!("auth: {other:?}"),
            }
        }
        bail!("auth: the agent never reached node {k}")
    }
}

/// A process's resident memory, from `/proc/PID/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Raise the soft file-descriptor limit to the hard limit; say what is possible.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The current soft file-descriptor limit.
pub fn fd_limit() -> u64 {
    // SAFETY: as above.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur
        } else {
            0
        }
    }
}
