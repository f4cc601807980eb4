//! `switchboard serve`: bind, open storage, start the engine and the gateway, print where it
//! listens, and run until SIGINT or SIGTERM, then drain.
//!
//! Start-up binds both listeners before it creates anything, so a taken address fails with
//! nothing written; a later failure removes what this start created (the data directory, the
//! database, the generated certificate). Every error names what failed.
//!
//! Shutdown is a drain, each step logged: readiness fails at once; no new connection is
//! accepted; every connection answers what is in flight and closes with 1001 and
//! `shutting_down`; the server waits for them up to the grace period, then closes what is
//! left, makes the write-ahead log durable, flushes memtables (so the next start replays no
//! log) and exits 0.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use switchboard_engine::Engine;
use switchboard_gateway::drain::Drain;
use switchboard_gateway::metrics::{BuildInfo, Metrics};
use switchboard_gateway::{quic, RunningServer, Server};
use switchboard_protocol::startup;
use switchboard_storage::Storage;

use crate::settings::Settings;

/// File in the data directory holding the generated administrator token (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The database's directory inside the data directory.
pub const DB_DIR: &str = "db";

/// Worker threads of the main runtime: it only runs the HTTP accept loop and the signal
/// handler, so one is enough and leaves the cores to the shards.
const MAIN_RUNTIME_WORKERS: usize = 1;

/// Run the server until a shutdown signal.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    crate::logging::init(&settings.log, settings.log_format)?;
    // The main runtime only accepts HTTP connections and waits for signals: connections,
    // the QUIC endpoint and session actors all run on the engine's shards (arbiters).
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(MAIN_RUNTIME_WORKERS)
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    let system = actix_rt::System::with_tokio_rt(runtime);
    system.block_on(serve(settings))
}

/// What a running server is made of.
struct Node {
    storage: Storage,
    endpoint: quinn::Endpoint,
    running: RunningServer,
    drain: Drain,
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Nothing is written before both addresses are ours and the given certificate reads.
    let http = Server::bind(settings.gateway.clone()).map_err(anyhow::Error::msg)?;
    let udp = quic::bind_socket(&settings.gateway.quic).map_err(anyhow::Error::msg)?;
    let identity = match &settings.quic_identity {
        Some((cert, key)) => Some(quic::Identity::from_pem_files(cert, key).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let mut created = Created::default();
    let node = match start(&settings, http, udp, identity, &mut created).await {
        Ok(node) => node,
        Err(e) => {
            created.undo();
            return Err(e);
        }
    };
    shutdown_signal().await;
    drain(&settings, node).await
}

async fn start(
    settings: &Settings,
    http: Server,
    udp: std::net::UdpSocket,
    identity: Option<quic::Identity>,
    created: &mut Created,
) -> anyhow::Result<Node> {
    let data_dir = &settings.data_dir;
    created
        .create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let db_dir = data_dir.join(DB_DIR);
    created.note(&db_dir);
    let storage = Storage::open(&db_dir, &settings.storage)
        .with_context(|| format!("opening the database in {}", db_dir.display()))?;
    let identity = match identity {
        Some(identity) => identity,
        None => {
            created.note(&data_dir.join(quic::SELF_SIGNED_CERT_FILE));
            created.note(&data_dir.join(quic::SELF_SIGNED_KEY_FILE));
            quic::Identity::self_signed_in(data_dir).map_err(anyhow::Error::msg)?
        }
    };
    let fingerprint = identity.fingerprint();
    let engine = Engine::start(storage.clone(), settings.engine.clone()).context("starting the engine")?;
    let metrics = Metrics::install(build_info()).context("installing the metrics recorder")?;
    engine.publish_gauges();
    // Built on shard 0, so quinn's endpoint and connection drivers run on a shard thread
    // beside the connections they feed instead of waking another thread for every packet.
    let (bound, bound_rx) = tokio::sync::oneshot::channel();
    let quic_config = settings.gateway.quic.clone();
    engine.spawn_on_shard(0, async move {
        let _ = bound.send(quic::endpoint(&quic_config, identity, udp));
    });
    let endpoint = bound_rx.await.context("shard 0 stopped")?.map_err(anyhow::Error::msg)?;
    let quic_addr = endpoint.local_addr()?;
    let drain = Drain::new();
    // Last, so a start that fails leaves no credential behind.
    if let Some(token) = engine.ensure_admin_token(settings.admin_token.as_deref())? {
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        created.note(&path);
        quic::write_private(&path, &format!("{token}\n")).map_err(anyhow::Error::msg)?;
        // The one place the token is shown: stdout, once. Never the log.
        println!("{}{token}", startup::ADMIN_TOKEN_GENERATED);
        tracing::warn!(path = %path.display(), "generated the administrator token: it is in this file and was printed once on stdout");
    }
    let running = http.start(engine.clone(), metrics, drain.clone())?;
    let gateway = Arc::new(settings.gateway.clone());
    engine.spawn_on_shard(0, quic::serve(endpoint.clone(), engine.clone(), gateway, drain.clone()));
    // Tests and scripts read these lines to learn the bound addresses.
    println!("{}{quic_addr}", startup::QUIC_LISTENING);
    println!("{}{}", startup::HTTP_LISTENING, running.local_addr);
    std::io::stdout().flush()?;
    let cert_path = match &settings.quic_identity {
        Some((cert, _)) => cert.clone(),
        None => data_dir.join(quic::SELF_SIGNED_CERT_FILE),
    };
    tracing::info!(addr = %quic_addr, cert = %cert_path.display(), sha256 = %fingerprint, "QUIC endpoint ready (ALPN switchboard/1)");
    tracing::info!(
        addr = %running.local_addr,
        data_dir = %data_dir.display(),
        version = env!("CARGO_PKG_VERSION"),
        commit = env!("SWITCHBOARD_COMMIT"),
        "switchboard started"
    );
    Ok(Node { storage, endpoint, running, drain })
}

/// The graceful shutdown, each step logged.
async fn drain(settings: &Settings, node: Node) -> anyhow::Result<()> {
    let began = Instant::now();
    let grace = settings.shutdown_grace;
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        connections = node.drain.live(),
        "shutdown: draining"
    );
    node.drain.start();
    quic::stop_accepting(&node.endpoint);
    node.running.stop().await;
    tracing::info!("shutdown: no longer accepting connections; readiness fails");
    match tokio::time::timeout(grace, node.drain.idle()).await {
        Ok(()) => tracing::info!(
            elapsed_ms = began.elapsed().as_millis() as u64,
            "shutdown: every connection closed"
        ),
        Err(_) => tracing::warn!(
            connections = node.drain.live(),
            "shutdown: grace period over; closing the connections still open"
        ),
    }
    quic::shutdown(&node.endpoint).await;
    node.storage.sync_wal().context("syncing the write-ahead log")?;
    // The next start then replays no log: restart time does not grow with traffic.
    node.storage.flush_memtables().context("flushing memtables")?;
    tracing::info!(
        elapsed_ms = began.elapsed().as_millis() as u64,
        "shutdown: storage synced and flushed; exiting"
    );
    actix_rt::System::current().stop();
    Ok(())
}

fn build_info() -> BuildInfo {
    BuildInfo { version: env!("CARGO_PKG_VERSION").into(), commit: env!("SWITCHBOARD_COMMIT").into() }
}

async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Paths a start created that did not exist before, removed again if the start fails.
#[derive(Default)]
struct Created {
    paths: Vec<PathBuf>,
}

impl Created {
    /// Remember `path` if it does not exist yet (something is about to create it).
    fn note(&mut self, path: &Path) {
        if !path.exists() {
            self.paths.push(path.to_path_buf());
        }
    }

    /// `create_dir_all`, remembering the topmost directory it created.
    fn create_dir_all(&mut self, dir: &Path) -> std::io::Result<()> {
        let topmost = dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).last();
        if let Some(topmost) = topmost {
            self.paths.push(topmost.to_path_buf());
        }
        std::fs::create_dir_all(dir)
    }

    /// Remove, newest first, what this start created.
    fn undo(self) {
        for path in self.paths.iter().rev() {
            let removed =
                if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
            match removed {
                Ok(()) => tracing::info!(path = %path.display(), "start-up failed: removed what it created"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "start-up failed: could not remove")
                }
            }
        }
    }
}
