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
    // Before anything is announced: a SIGTERM right after the "listening" lines drains.
    let signal = ShutdownSignal::install()?;
    let mut created = Created::default();
    let node = match start(&settings, http, udp, identity, &mut created).await {
        Ok(node) => node,
        Err(e) => {
            created.undo();
            return Err(e);
        }
    };
    signal.wait().await;
    drain(&settings, node).await
}

async fn start(
    settings: &Settings,
    mut http: Server,
    udp: std::net::UdpSocket,
    identity: Option<quic::Identity>,
    created: &mut Created,
) -> anyhow::Result<Node> {
    let data_dir = &settings.data_dir;
    created
        .create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let db_dir = data_dir.join(DB_DIR);
    created
        .claim_dir(&db_dir)
        .with_context(|| format!("creating the database directory {}", db_dir.display()))?;
    let (storage, cluster) = match &settings.cluster {
        None => {
            let storage = Storage::open(&db_dir, &settings.storage)
                .with_context(|| format!("opening the database in {}", db_dir.display()))?;
            (storage, None)
        }
        Some(config) => {
            let (storage, cluster) = join_cluster(config, &db_dir, settings).await?;
            (storage, Some(cluster))
        }
    };
    let identity = match identity {
        Some(identity) => identity,
        None => {
            created.note(&data_dir.join(quic::SELF_SIGNED_CERT_FILE));
            created.note(&data_dir.join(quic::SELF_SIGNED_KEY_FILE));
            quic::Identity::self_signed_in(data_dir).map_err(anyhow::Error::msg)?
        }
    };
    let fingerprint = identity.fingerprint();
    // The recorder first: the engine's actors publish gauges as they start.
    let metrics = Metrics::install(build_info()).context("installing the metrics recorder")?;
    let ownership = cluster.as_ref().map(|c| c.ownership());
    let ownership = ownership.unwrap_or_else(|| Arc::new(switchboard_engine::ownership::Ownership::single()));
    let engine = Engine::start_with(storage.clone(), settings.engine.clone(), ownership)
        .context("starting the engine")?;
    engine.publish_gauges();
    let bus = cluster.as_ref().map(|c| c.bus());
    if let Some(cluster) = cluster {
        cluster.serve(engine.clone()).await.context("joining the cluster")?;
    }
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
    let mut gateway = settings.gateway.clone();
    if let Some(bus) = bus {
        // Legs run with the settings as given: no relay (they never relay further).
        let legs = Arc::new(settings.gateway.clone());
        let relay = switchboard_gateway::relay::Relay::start(bus, engine.clone(), legs, drain.clone())
            .await
            .map_err(|e| anyhow::anyhow!("starting the cluster relay: {e}"))?;
        http.set_relay(relay.clone());
        gateway.relay = Some(relay);
    }
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
    match &settings.gateway.ticket_webhook {
        Some(webhook) => {
            tokio::spawn(switchboard_gateway::webhook::run(engine.clone(), webhook.clone()));
        }
        None if engine.ticket_deliveries_pending() > 0 => tracing::warn!(
            pending = engine.ticket_deliveries_pending(),
            "tickets wait for the helpdesk webhook, but no ticket_webhook_url is set: they stay queued"
        ),
        None => {}
    }
    let gateway = Arc::new(gateway);
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

/// Cluster mode: connect to NATS (a clear error, and nothing served, if it cannot be
/// reached or runs another schema), open the database as the log's local index, and apply
/// the log until this node has caught up.
async fn join_cluster(
    config: &switchboard_cluster::ClusterConfig,
    db_dir: &Path,
    settings: &Settings,
) -> anyhow::Result<(Storage, switchboard_cluster::Cluster)> {
    let mut cluster = switchboard_cluster::Cluster::connect(config.clone())
        .await
        .with_context(|| format!("joining the cluster as node {:?}", config.node))?;
    let storage = Storage::open_replicated(db_dir, &settings.storage, cluster.replicator())
        .with_context(|| format!("opening the database in {}", db_dir.display()))?;
    let position = cluster.catch_up(storage.clone()).await.context("applying the cluster's log")?;
    tracing::info!(node = %config.node, nats = %config.nats_urls, position, "joined the cluster");
    Ok((storage, cluster))
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
    node.drain.announce();
    if !settings.shutdown_delay.is_zero() {
        let delay_ms = settings.shutdown_delay.as_millis() as u64;
        tracing::info!(delay_ms, "shutdown: readiness fails; still serving for the delay");
        tokio::time::sleep(settings.shutdown_delay).await;
    }
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
    // The next start then replays no log: restart time does not grow with traffic. A flush
    // that fails (a full disk) loses nothing: the synced log is replayed instead.
    let elapsed_ms = began.elapsed().as_millis() as u64;
    match node.storage.flush_memtables() {
        Ok(()) => tracing::info!(elapsed_ms, "shutdown: storage synced and flushed; exiting"),
        Err(e) => tracing::warn!(
            error = %e,
            "shutdown: storage synced; flushing memtables failed (the next start replays the log); exiting"
        ),
    }
    node.storage.stop_background_work();
    actix_rt::System::current().stop();
    Ok(())
}

fn build_info() -> BuildInfo {
    BuildInfo { version: env!("CARGO_PKG_VERSION").into(), commit: env!("SWITCHBOARD_COMMIT").into() }
}

/// SIGTERM and SIGINT, caught from the moment they are installed.
struct ShutdownSignal {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> anyhow::Result<ShutdownSignal> {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        Ok(ShutdownSignal { terminate, interrupt })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// Paths this start created, removed again if the start fails. Directories are claimed
/// with `create_dir` (which fails if the path exists), so a directory another process
/// created at the same moment is never counted as ours.
#[derive(Default)]
struct Created {
    paths: Vec<PathBuf>,
}

impl Created {
    /// Remember the file `path` if it does not exist yet (this start is about to write it).
    fn note(&mut self, path: &Path) {
        if !path.exists() {
            self.paths.push(path.to_path_buf());
        }
    }

    /// Create `dir` if nothing is at that path, remembering it; anything already there is
    /// left to whoever opens it next.
    fn claim_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        match std::fs::create_dir(dir) {
            Ok(()) => {
                self.paths.push(dir.to_path_buf());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Create `dir` and its missing parents, remembering each directory this call created.
    fn create_dir_all(&mut self, dir: &Path) -> std::io::Result<()> {
        let mut missing: Vec<&Path> =
            dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.is_dir()).collect();
        missing.reverse();
        for path in missing {
            match std::fs::create_dir(path) {
                Ok(()) => self.paths.push(path.to_path_buf()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
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
