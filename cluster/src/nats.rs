//! Connecting to NATS and opening (creating on first use) what the cluster keeps there:
//! the replicated log stream and three key-value buckets. Every name is here.
//!
//! | name | kind | holds |
//! |---|---|---|
//! | `SWITCHBOARD_LOG`, subject `switchboard.log` | stream (file, `replicas` copies) | the log: every durable write of every node, and the fences |
//! | `switchboard_leases` | KV, history 1 | `shard-<n>` → [`LeaseValue`](crate::lease::LeaseValue) |
//! | `switchboard_nodes` | KV, history 1 | `<node>` → heartbeat (ms until which the node is live) |
//! | `switchboard_meta` | KV, history 1 | `schema` → storage schema version, `shards` → shard count |

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use async_nats::ConnectOptions;
use switchboard_engine::ownership::Ownership;

use crate::{ClusterConfig, ClusterError};

pub const LOG_STREAM: &str = "SWITCHBOARD_LOG";
pub const LOG_SUBJECT: &str = "switchboard.log";
pub const LEASES_BUCKET: &str = "switchboard_leases";
pub const NODES_BUCKET: &str = "switchboard_nodes";
pub const META_BUCKET: &str = "switchboard_meta";
/// `switchboard_meta` key: the storage schema version every node must share.
pub const META_SCHEMA: &str = "schema";
/// `switchboard_meta` key: the shard count, fixed when the cluster is first started.
pub const META_SHARDS: &str = "shards";

/// Headers of a log entry.
pub const HEADER_KIND: &str = "Sb-Kind";
pub const HEADER_ORIGIN: &str = "Sb-Origin";
/// `Sb-Kind` of a group of batches.
pub const KIND_WRITES: &str = "writes";
/// `Sb-Kind` of a fence (a shard taken over).
pub const KIND_FENCE: &str = "fence";

/// How long JetStream remembers an entry id to drop a repeated publish: longer than any
/// retry of one entry ([`ClusterConfig::append_timeout`]).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The open connection and everything opened on it.
#[derive(Clone)]
pub struct Nats {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub leases: kv::Store,
    pub nodes: kv::Store,
}

/// Connect, open the log and the buckets, and check the cluster's schema and shard count.
/// `ownership` follows the connection's state from then on.
pub async fn connect(config: &ClusterConfig, ownership: Arc<Ownership>) -> Result<Nats, ClusterError> {
    let follow = ownership.clone();
    let options = ConnectOptions::new()
        .name(format!("switchboard-{}", config.node))
        .connection_timeout(config.connect_timeout)
        .event_callback(move |event| {
            let ownership = follow.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!(target: "cluster", "NATS connected");
                        ownership.set_connected(true);
                    }
                    async_nats::Event::Disconnected => {
                        tracing::warn!(target: "cluster", "NATS connection lost; writes are refused until it is back");
                        ownership.set_connected(false);
                    }
                    other => tracing::info!(target: "cluster", event = %other, "NATS event"),
                }
                metrics::gauge!("switchboard_cluster_nats_connected").set(if ownership.connected() { 1.0 } else { 0.0 });
            }
        });
    let unreachable = |detail: String| ClusterError::Unreachable { urls: config.nats_urls.clone(), detail };
    let servers = config
        .nats_urls
        .split(',')
        .map(|url| url.trim().parse::<async_nats::ServerAddr>().map_err(|e| format!("{url:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClusterError::Settings(format!("a NATS address is not a URL: {e}")))?;
    // Servers started at the same moment as the node may not listen yet: try again until
    // the connect timeout, then fail with the last reason.
    let deadline = tokio::time::Instant::now() + config.connect_timeout;
    let client = loop {
        let attempt = tokio::time::timeout_at(deadline, options.clone().connect(servers.clone())).await;
        match attempt {
            Ok(Ok(client)) => break client,
            Ok(Err(e)) if tokio::time::Instant::now() + CONNECT_RETRY_PAUSE < deadline => {
                tracing::debug!(target: "cluster", error = %e, "NATS not reachable yet; retrying");
                tokio::time::sleep(CONNECT_RETRY_PAUSE).await;
            }
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {} ms",
                    config.connect_timeout.as_millis()
                )))
            }
        }
    };
    ownership.set_connected(true);
    metrics::gauge!("switchboard_cluster_nats_connected").set(1.0);
    let js = jetstream::new(client.clone());
    // A JetStream cluster that is just forming (its servers started together with the
    // nodes) times requests out until it has a leader: retry until the deadline.
    let deadline = tokio::time::Instant::now() + SETUP_TIMEOUT;
    loop {
        match open(&js, config).await {
            Ok((leases, nodes)) => return Ok(Nats { client, js, leases, nodes }),
            Err(ClusterError::JetStream(e)) if tokio::time::Instant::now() < deadline => {
                tracing::info!(target: "cluster", error = %e, "JetStream not ready yet; retrying");
                tokio::time::sleep(SETUP_RETRY_PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Pause between attempts to reach NATS at start-up.
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(250);

/// How long start-up waits for JetStream to open the log and the buckets.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
const SETUP_RETRY_PAUSE: Duration = Duration::from_millis(500);

async fn open(
    js: &jetstream::Context,
    config: &ClusterConfig,
) -> Result<(kv::Store, kv::Store), ClusterError> {
    let js_err = |what: &str, e: &dyn std::fmt::Display| ClusterError::JetStream(format!("{what}: {e}"));
    let log = stream::Config {
        name: LOG_STREAM.into(),
        subjects: vec![LOG_SUBJECT.into()],
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: DUPLICATE_WINDOW,
        max_message_size: (crate::config::ENTRY_BYTES_MAX + 64 * 1024) as i32,
        ..Default::default()
    };
    js.get_or_create_stream(log).await.map_err(|e| js_err("opening the log stream", &e))?;
    let leases = bucket(js, LEASES_BUCKET, config.replicas).await?;
    let nodes = bucket(js, NODES_BUCKET, config.replicas).await?;
    let meta = bucket(js, META_BUCKET, config.replicas).await?;
    let schema = switchboard_storage::catalog::SCHEMA_VERSION;
    let stored = claim(&meta, META_SCHEMA, &schema.to_string()).await?;
    if stored != schema.to_string() {
        return Err(ClusterError::SchemaMismatch { cluster: stored, ours: schema });
    }
    let shards = claim(&meta, META_SHARDS, &config.shards.to_string()).await?;
    if shards != config.shards.to_string() {
        let cluster = shards.parse().unwrap_or(0);
        return Err(ClusterError::ShardsMismatch { cluster, ours: config.shards });
    }
    Ok((leases, nodes))
}

/// Open a bucket, creating it on first use. The bucket's stream is created here, as
/// JetStream's key-value layer defines it (`KV_<bucket>`, subjects `$KV.<bucket>.>`, one
/// message per key): async-nats's own `create_key_value` first asks for account details
/// that nats-server 2.9 (Debian's) answers in a shape it cannot read.
async fn bucket(js: &jetstream::Context, name: &str, replicas: usize) -> Result<kv::Store, ClusterError> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    let config = stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| ClusterError::JetStream(format!("creating the bucket {name}: {e}")))?;
    js.get_key_value(name)
        .await
        .map_err(|e| ClusterError::JetStream(format!("opening the bucket {name}: {e}")))
}

/// The value of `key`, set to `ours` if it had none (the first node of a cluster decides).
async fn claim(meta: &kv::Store, key: &str, ours: &str) -> Result<String, ClusterError> {
    let failed =
        |e: &dyn std::fmt::Display| ClusterError::JetStream(format!("reading {META_BUCKET}.{key}: {e}"));
    match meta.create(key, ours.to_string().into()).await {
        Ok(_) => return Ok(ours.to_string()),
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(&e)),
    }
    let entry = meta.entry(key).await.map_err(|e| failed(&e))?;
    Ok(entry.map(|e| String::from_utf8_lossy(&e.value).into_owned()).unwrap_or_default())
}
