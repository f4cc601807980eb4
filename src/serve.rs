//! `switchboard serve`: open storage, start the engine and the gateway, print where it
//! listens, and run until SIGINT or SIGTERM.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use switchboard_engine::Engine;
use switchboard_gateway::metrics::Metrics;
use switchboard_gateway::{quic, Server};
use switchboard_protocol::startup;
use switchboard_storage::Storage;

use crate::settings::Settings;

/// File in the data directory holding the generated administrator token (mode 0600).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Worker threads of the main runtime: it only runs the HTTP accept loop and the signal
/// handler, so one is enough and leaves the cores to the shards.
const MAIN_RUNTIME_WORKERS: usize = 1;

/// Run the server until a shutdown signal.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&settings.log).context("bad log filter")?)
        .with_writer(std::io::stderr)
        .init();
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let storage =
        Storage::open(&settings.data_dir.join("db"), &settings.storage).context("opening storage")?;
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
    system.block_on(serve(settings, storage))
}

async fn serve(settings: Settings, storage: Storage) -> anyhow::Result<()> {
    let engine = Engine::start(storage.clone(), settings.engine.clone()).context("starting engine")?;
    if let Some(token) = engine.ensure_admin_token(settings.admin_token.as_deref())? {
        let path = settings.data_dir.join(ADMIN_TOKEN_FILE);
        quic::write_private(&path, &format!("{token}\n")).map_err(anyhow::Error::msg)?;
        tracing::warn!(path = %path.display(), "generated the administrator token: {token}");
    }
    let metrics = Metrics::install().context("installing the metrics recorder")?;
    engine.publish_gauges();
    let identity = match &settings.quic_identity {
        Some((cert, key)) => quic::Identity::from_pem_files(cert, key),
        None => quic::Identity::self_signed_in(&settings.data_dir),
    }
    .map_err(anyhow::Error::msg)?;
    let fingerprint = identity.fingerprint();
    // Bound on shard 0, so quinn's endpoint and connection drivers run on a shard thread
    // beside the connections they feed instead of waking another thread for every packet.
    let (bound, bound_rx) = tokio::sync::oneshot::channel();
    let quic_config = settings.gateway.quic.clone();
    engine.spawn_on_shard(0, async move {
        let _ = bound.send(quic::bind(&quic_config, identity));
    });
    let endpoint = bound_rx.await.context("shard 0 stopped")?.map_err(anyhow::Error::msg)?;
    let quic_addr = endpoint.local_addr()?;
    let server = Server::bind(settings.gateway.clone(), engine.clone(), metrics)
        .await
        .context("binding the HTTP listener")?;
    let running = server.start()?;
    engine
        .spawn_on_shard(0, quic::serve(endpoint.clone(), engine.clone(), Arc::new(settings.gateway.clone())));
    // Tests and scripts read these lines to learn the bound addresses.
    println!("{}{quic_addr}", startup::QUIC_LISTENING);
    println!("{}{}", startup::HTTP_LISTENING, running.local_addr);
    std::io::stdout().flush()?;
    let cert_path = match &settings.quic_identity {
        Some((cert, _)) => cert.clone(),
        None => settings.data_dir.join(quic::SELF_SIGNED_CERT_FILE),
    };
    tracing::info!(addr = %quic_addr, cert = %cert_path.display(), sha256 = %fingerprint, "QUIC endpoint ready (ALPN switchboard/1)");
    tracing::info!(addr = %running.local_addr, data_dir = %settings.data_dir.display(), "switchboard started");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    quic::shutdown(&endpoint);
    storage.sync_wal().context("syncing the write-ahead log")?;
    // The next start then replays no log: restart time does not grow with traffic.
    storage.flush_memtables().context("flushing memtables")?;
    actix_rt::System::current().stop();
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
