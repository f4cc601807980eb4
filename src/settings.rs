//! Server settings: flags override `SWITCHBOARD_*` environment variables (clap reads both),
//! which override the optional TOML file (`--config`), which overrides the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Deserialize;
use switchboard_cluster::ClusterConfig;
use switchboard_engine::domain::ticket::RETRY_DELAY_MAX_MS;
use switchboard_engine::EngineConfig;
use switchboard_gateway::webhook::{self, WebhookConfig};
use switchboard_gateway::GatewayConfig;
use switchboard_storage::{Durability, StorageConfig};

use crate::logging::LogFormat;

/// Default drain grace period: long enough for in-flight durable writes (milliseconds) and
/// clients' goodbyes, short enough for a rolling restart.
pub const SHUTDOWN_GRACE_MS_DEFAULT: u64 = 10_000;

/// Longest grace period accepted: systemd's default stop timeout is 90 s.
const SHUTDOWN_GRACE_MS_MAX: u64 = 600_000;

/// Longest webhook request time limit accepted: beyond a minute a slot is held by a
/// helpdesk that is not coming back.
const TICKET_WEBHOOK_TIMEOUT_MS_MAX: u64 = 60_000;

/// Durability of acknowledged writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityArg {
    /// Acknowledge after the write-ahead log is fsynced (default).
    Fsync,
    /// Acknowledge after the write reached the OS (survives kill -9, not power loss).
    Buffered,
}

/// `switchboard serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML settings file (keys as the long flags, with underscores).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./data].
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP and WebSocket listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "SWITCHBOARD_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// When a message is acknowledged [default: fsync].
    #[arg(long, env = "SWITCHBOARD_DURABILITY", value_enum)]
    pub durability: Option<DurabilityArg>,
    /// Largest WebSocket frame accepted, in bytes [default: 16384].
    #[arg(long, env = "SWITCHBOARD_FRAME_BYTES_MAX")]
    pub frame_bytes_max: Option<usize>,
    /// Shards: threads running session actors and connections [default: CPUs this process may run on].
    #[arg(long, env = "SWITCHBOARD_ARBITERS")]
    pub arbiters: Option<usize>,
    /// QUIC (UDP) listen address [default: 127.0.0.1:4433].
    #[arg(long, env = "SWITCHBOARD_QUIC_ADDR")]
    pub quic_addr: Option<SocketAddr>,
    /// PEM certificate chain for QUIC [default: a self-signed one in the data dir].
    #[arg(long, env = "SWITCHBOARD_QUIC_CERT", requires = "quic_key")]
    pub quic_cert: Option<PathBuf>,
    /// PEM private key for QUIC.
    #[arg(long, env = "SWITCHBOARD_QUIC_KEY", requires = "quic_cert")]
    pub quic_key: Option<PathBuf>,
    /// Most simultaneous connections per transport [default: 18000].
    #[arg(long, env = "SWITCHBOARD_CONNECTIONS_MAX")]
    pub connections_max: Option<usize>,
    /// Close connections that neither authenticate nor start a chat within this many ms
    /// [default: 60000].
    #[arg(long, env = "SWITCHBOARD_ANONYMOUS_TIMEOUT_MS")]
    pub anonymous_timeout_ms: Option<u64>,
    /// Messages and typing indicators per second one visitor connection may send [default: 10].
    #[arg(long, env = "SWITCHBOARD_VISITOR_RATE_PER_S")]
    pub visitor_rate_per_s: Option<u32>,
    /// Burst allowance of that rate limit [default: 30].
    #[arg(long, env = "SWITCHBOARD_VISITOR_BURST")]
    pub visitor_burst: Option<u32>,
    /// Administrator token to use instead of a generated one.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Log filter, e.g. `info` or `switchboard=debug` [default: info; RUST_LOG also works].
    #[arg(long, env = "SWITCHBOARD_LOG")]
    pub log: Option<String>,
    /// Log line format: `human` (coloured only on a terminal, never with NO_COLOR) or `json`
    /// [default: human].
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// On SIGTERM/SIGINT, how long connected clients get to finish in-flight requests
    /// before they are cut, in ms [default: 10000].
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_GRACE_MS")]
    pub shutdown_grace_ms: Option<u64>,
    /// On SIGTERM/SIGINT, how long readiness fails while the server still serves and
    /// accepts, before the drain begins: at least a load balancer's health-check interval
    /// times its failure threshold [default: 0].
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_DELAY_MS")]
    pub shutdown_delay_ms: Option<u64>,
    /// How long an agent whose last connection dropped stays routable before it counts as
    /// offline and its offers go to others, in ms [default: 30000].
    #[arg(long, env = "SWITCHBOARD_PRESENCE_GRACE_MS")]
    pub presence_grace_ms: Option<u64>,
    /// Directory for RocksDB checkpoints made by `switchboard backup create`
    /// [default: <data-dir>/backups].
    #[arg(long, env = "SWITCHBOARD_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// POST each new ticket to this helpdesk URL (http:// or https://) [default: none].
    #[arg(long, env = "SWITCHBOARD_TICKET_WEBHOOK_URL", requires = "ticket_webhook_secret")]
    pub ticket_webhook_url: Option<String>,
    /// HMAC-SHA256 key of the webhook's `X-Switchboard-Signature` header.
    #[arg(long, env = "SWITCHBOARD_TICKET_WEBHOOK_SECRET", hide_env_values = true)]
    pub ticket_webhook_secret: Option<String>,
    /// Time limit of one webhook request, in ms [default: 10000].
    #[arg(long, env = "SWITCHBOARD_TICKET_WEBHOOK_TIMEOUT_MS")]
    pub ticket_webhook_timeout_ms: Option<u64>,
    /// Delay before the first webhook retry, in ms; it doubles per failure up to an hour
    /// [default: 2000].
    #[arg(long, env = "SWITCHBOARD_TICKET_WEBHOOK_RETRY_BASE_MS")]
    pub ticket_webhook_retry_base_ms: Option<u64>,
    /// Origins of the websites allowed to embed the widget, comma-separated, e.g.
    /// `https://www.example.com`; browser upgrades from other websites are refused. The
    /// server's own pages are always allowed [default: any website].
    #[arg(long, env = "SWITCHBOARD_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// Mark the console's session cookie `Secure`: set it when the server is reached over
    /// HTTPS (behind a TLS proxy) [default: false].
    #[arg(long, env = "SWITCHBOARD_COOKIE_SECURE")]
    pub cookie_secure: Option<bool>,
    /// Addresses of the reverse proxies in front of the server, comma-separated: for a
    /// request from one of them, the client's address is taken from `X-Forwarded-For`
    /// (for the sign-in rate limit and the logs) [default: none, the TCP peer].
    #[arg(long, env = "SWITCHBOARD_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// Cluster mode: the NATS servers (comma-separated URLs) holding the cluster's
    /// replicated log and leases (docs/CLUSTER.md). Unset: one machine, RocksDB alone.
    #[arg(long, env = "SWITCHBOARD_CLUSTER_NATS", requires = "node_name")]
    pub cluster_nats: Option<String>,
    /// Cluster mode: this node's name, unique in the cluster.
    #[arg(long, env = "SWITCHBOARD_NODE_NAME")]
    pub node_name: Option<String>,
    /// Cluster mode: copies JetStream keeps of the log (default 3).
    #[arg(long, env = "SWITCHBOARD_CLUSTER_REPLICAS")]
    pub cluster_replicas: Option<usize>,
    /// Cluster mode: how long a shard lease lasts unrenewed, in ms (default 3000).
    #[arg(long, env = "SWITCHBOARD_CLUSTER_LEASE_MS")]
    pub cluster_lease_ms: Option<u64>,
}

/// The same settings as read from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    http_addr: Option<SocketAddr>,
    durability: Option<DurabilityArg>,
    frame_bytes_max: Option<usize>,
    arbiters: Option<usize>,
    connections_max: Option<usize>,
    quic_addr: Option<SocketAddr>,
    visitor_rate_per_s: Option<u32>,
    visitor_burst: Option<u32>,
    anonymous_timeout_ms: Option<u64>,
    quic_cert: Option<PathBuf>,
    quic_key: Option<PathBuf>,
    admin_token: Option<String>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    shutdown_grace_ms: Option<u64>,
    shutdown_delay_ms: Option<u64>,
    presence_grace_ms: Option<u64>,
    backup_dir: Option<PathBuf>,
    ticket_webhook_url: Option<String>,
    ticket_webhook_secret: Option<String>,
    ticket_webhook_timeout_ms: Option<u64>,
    ticket_webhook_retry_base_ms: Option<u64>,
    allowed_origins: Option<Vec<String>>,
    cookie_secure: Option<bool>,
    trusted_proxies: Option<Vec<std::net::IpAddr>>,
    cluster_nats: Option<String>,
    node_name: Option<String>,
    cluster_replicas: Option<usize>,
    cluster_lease_ms: Option<u64>,
}

/// Parse the TOML settings. The error names the line and column but never quotes the
/// file: a mistyped key could be next to a secret (`admin_token`), and start-up errors go
/// to the journal.
fn parse_file(text: &str) -> anyhow::Result<FileSettings> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!(" at line {line}, column {column}")
        });
        anyhow::anyhow!("{}{}", e.message().trim_end(), at.unwrap_or_default())
    })
}

/// Resolved settings.
pub struct Settings {
    pub data_dir: PathBuf,
    /// QUIC certificate and key files; `None` means the self-signed pair in the data dir.
    pub quic_identity: Option<(PathBuf, PathBuf)>,
    pub admin_token: Option<String>,
    pub log: String,
    pub log_format: LogFormat,
    /// How long a drain may take before the remaining connections are cut.
    pub shutdown_grace: Duration,
    /// How long readiness fails before the drain begins.
    pub shutdown_delay: Duration,
    pub storage: StorageConfig,
    pub engine: EngineConfig,
    pub gateway: GatewayConfig,
    /// Cluster mode's settings; `None`: one machine.
    pub cluster: Option<ClusterConfig>,
}

impl Settings {
    /// Merge flags/environment, the file and the defaults.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the settings file {}", path.display()))?;
                parse_file(&text).with_context(|| format!("parsing the settings file {}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let ticket_webhook = webhook(&args, &file)?;
        let cluster = cluster(&args, &file)?;
        let mut engine = EngineConfig::default();
        if let Some(n) = args.arbiters.or(file.arbiters) {
            anyhow::ensure!(n >= 1, "arbiters must be at least 1");
            engine.arbiters = n;
        }
        if let Some(ms) = args.presence_grace_ms.or(file.presence_grace_ms) {
            engine.presence_grace_ms = ms;
        }
        let mut gateway = GatewayConfig::default();
        if let Some(addr) = args.http_addr.or(file.http_addr) {
            gateway.http_addr = addr;
        }
        if let Some(n) = args.frame_bytes_max.or(file.frame_bytes_max) {
            anyhow::ensure!((1024..=1 << 20).contains(&n), "frame_bytes_max must be 1024 to 1048576");
            gateway.frame_bytes_max = n;
        }
        if let Some(n) = args.connections_max.or(file.connections_max) {
            gateway.connections_max = n;
        }
        if let Some(ms) = args.anonymous_timeout_ms.or(file.anonymous_timeout_ms) {
            gateway.anonymous_timeout_ms = ms;
        }
        if let Some(n) = args.visitor_rate_per_s.or(file.visitor_rate_per_s) {
            anyhow::ensure!(n >= 1, "visitor_rate_per_s must be at least 1");
            gateway.visitor_rate_per_s = n;
        }
        if let Some(n) = args.visitor_burst.or(file.visitor_burst) {
            anyhow::ensure!(n >= 1, "visitor_burst must be at least 1");
            gateway.visitor_burst = n;
        }
        if let Some(addr) = args.quic_addr.or(file.quic_addr) {
            gateway.quic.addr = addr;
        }
        let quic_identity = match (args.quic_cert.or(file.quic_cert), args.quic_key.or(file.quic_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => anyhow::bail!("quic_cert and quic_key go together"),
        };
        engine.text_bytes_max = switchboard_protocol::limits::TEXT_BYTES_MAX;
        let durability = match args.durability.or(file.durability).unwrap_or(DurabilityArg::Fsync) {
            DurabilityArg::Fsync => Durability::Fsync,
            DurabilityArg::Buffered => Durability::Buffered,
        };
        let shutdown_grace_ms =
            args.shutdown_grace_ms.or(file.shutdown_grace_ms).unwrap_or(SHUTDOWN_GRACE_MS_DEFAULT);
        anyhow::ensure!(
            shutdown_grace_ms <= SHUTDOWN_GRACE_MS_MAX,
            "shutdown_grace_ms must be at most {SHUTDOWN_GRACE_MS_MAX}"
        );
        let shutdown_delay_ms = args.shutdown_delay_ms.or(file.shutdown_delay_ms).unwrap_or(0);
        anyhow::ensure!(
            shutdown_delay_ms <= SHUTDOWN_GRACE_MS_MAX,
            "shutdown_delay_ms must be at most {SHUTDOWN_GRACE_MS_MAX}"
        );
        let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("data"));
        let backup_dir = args.backup_dir.or(file.backup_dir).unwrap_or_else(|| data_dir.join("backups"));
        gateway.backup_dir = Some(backup_dir);
        gateway.ticket_webhook = ticket_webhook;
        gateway.allowed_origins = args.allowed_origins.or(file.allowed_origins).unwrap_or_default();
        for origin in &gateway.allowed_origins {
            anyhow::ensure!(
                origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"))
                    .is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', ' '])),
                "allowed_origins: `{origin}` is not an origin (scheme://host[:port], no path, no trailing /)"
            );
        }
        gateway.cookie_secure = args.cookie_secure.or(file.cookie_secure).unwrap_or(false);
        gateway.trusted_proxies = args.trusted_proxies.or(file.trusted_proxies).unwrap_or_default();
        engine.ticket_webhook = gateway.ticket_webhook.is_some();
        if let Some(ms) = args.ticket_webhook_retry_base_ms.or(file.ticket_webhook_retry_base_ms) {
            anyhow::ensure!(
                (1..=RETRY_DELAY_MAX_MS).contains(&ms),
                "ticket_webhook_retry_base_ms must be 1 to {RETRY_DELAY_MAX_MS}"
            );
            engine.ticket_retry_base_ms = ms;
        }
        Ok(Settings {
            cluster,
            data_dir,
            quic_identity,
            admin_token: args.admin_token.or(file.admin_token),
            log: args
                .log
                .or(file.log)
                .or_else(|| std::env::var("RUST_LOG").ok())
                .unwrap_or_else(|| "info".into()),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            shutdown_grace: Duration::from_millis(shutdown_grace_ms),
            shutdown_delay: Duration::from_millis(shutdown_delay_ms),
            storage: StorageConfig { durability, ..StorageConfig::default() },
            engine,
            gateway,
        })
    }
}

/// Cluster mode's settings: a NATS address needs a node name.
fn cluster(args: &ServeArgs, file: &FileSettings) -> anyhow::Result<Option<ClusterConfig>> {
    let Some(urls) = args.cluster_nats.clone().or(file.cluster_nats.clone()) else {
        return Ok(None);
    };
    let node = args.node_name.clone().or(file.node_name.clone());
    let node = node.context("node_name is required with cluster_nats")?;
    let mut config = ClusterConfig::new(urls, node);
    if let Some(n) = args.cluster_replicas.or(file.cluster_replicas) {
        config.replicas = n;
    }
    if let Some(ms) = args.cluster_lease_ms.or(file.cluster_lease_ms) {
        config.lease = Duration::from_millis(ms);
    }
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(Some(config))
}

/// The ticket webhook's settings: a URL needs a secret (an unsigned ticket could be forged
/// by anyone who finds the helpdesk's endpoint).
fn webhook(args: &ServeArgs, file: &FileSettings) -> anyhow::Result<Option<WebhookConfig>> {
    let url = args.ticket_webhook_url.clone().or(file.ticket_webhook_url.clone());
    let secret = args.ticket_webhook_secret.clone().or(file.ticket_webhook_secret.clone());
    let timeout_ms = args.ticket_webhook_timeout_ms.or(file.ticket_webhook_timeout_ms);
    let timeout_ms = timeout_ms.unwrap_or(webhook::TIMEOUT_MS_DEFAULT);
    anyhow::ensure!(
        (1..=TICKET_WEBHOOK_TIMEOUT_MS_MAX).contains(&timeout_ms),
        "ticket_webhook_timeout_ms must be 1 to {TICKET_WEBHOOK_TIMEOUT_MS_MAX}"
    );
    let Some(url) = url else { return Ok(None) };
    let parsed = reqwest::Url::parse(&url).context("ticket_webhook_url is not a URL")?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "ticket_webhook_url must be an http:// or https:// URL"
    );
    let secret = secret.filter(|s| !s.is_empty());
    let secret = secret.context("ticket_webhook_secret is required with ticket_webhook_url")?;
    Ok(Some(WebhookConfig { url, secret, timeout_ms, concurrency: webhook::CONCURRENCY_DEFAULT }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn resolve(argv: &[&str]) -> Settings {
        let command = Command::try_parse_from(std::iter::once("serve").chain(argv.iter().copied())).unwrap();
        Settings::resolve(command.args).unwrap()
    }

    /// Everything but `log`, whose default comes from `RUST_LOG` when that is set.
    fn summary(s: &Settings) -> String {
        format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            s.data_dir,
            s.quic_identity,
            s.admin_token,
            s.log_format,
            s.shutdown_grace,
            s.shutdown_delay,
            s.storage,
            s.engine,
            s.gateway
        )
    }

    #[test]
    fn the_example_settings_file_loads_and_states_exactly_the_defaults() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/switchboard.toml");
        let from_file = resolve(&["--config", example]);
        assert_eq!(summary(&from_file), summary(&resolve(&[])));
        assert_eq!(from_file.log, "info");
    }

    #[test]
    fn a_settings_file_error_names_the_place_but_never_quotes_the_file() {
        let error = parse_file("admin_tokn = \"s3cret-value\"\n").unwrap_err().to_string();
        assert!(error.contains("unknown field `admin_tokn`"), "{error}");
        assert!(error.contains("line 1, column 1"), "{error}");
        assert!(!error.contains("s3cret-value"), "{error}");
        let error = parse_file("log = \"info\"\nthis is = = broken\n").unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(!error.contains("broken"), "{error}");
    }

    #[test]
    fn a_ticket_webhook_needs_a_secret_and_an_http_url() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        let error = |text: &str| {
            std::fs::write(&file, text).unwrap();
            let argv = ["serve", "--config", file.to_str().unwrap()];
            let command = Command::try_parse_from(argv).unwrap();
            Settings::resolve(command.args).err().map(|e| e.to_string())
        };
        let url = "ticket_webhook_url = \"https://helpdesk.example/hook\"\n";
        assert_eq!(error(url).as_deref(), Some("ticket_webhook_secret is required with ticket_webhook_url"));
        assert_eq!(
            error("ticket_webhook_url = \"ftp://x/\"\nticket_webhook_secret = \"k\"\n").as_deref(),
            Some("ticket_webhook_url must be an http:// or https:// URL")
        );
        assert_eq!(error(&format!("{url}ticket_webhook_secret = \"k\"\n")), None);
        let settings =
            resolve(&["--ticket-webhook-url", "http://127.0.0.1:9/h", "--ticket-webhook-secret", "k"]);
        assert!(settings.engine.ticket_webhook);
        assert_eq!(settings.gateway.ticket_webhook.unwrap().timeout_ms, webhook::TIMEOUT_MS_DEFAULT);
        assert!(!resolve(&[]).engine.ticket_webhook);
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(
            &file,
            "log_format = \"json\"\nshutdown_grace_ms = 2000\nhttp_addr = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let settings = resolve(&["--config", path, "--shutdown-grace-ms", "500"]);
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.shutdown_grace, Duration::from_millis(500));
        assert_eq!(settings.gateway.http_addr.port(), 9000);
        assert_eq!(settings.gateway.backup_dir, Some(PathBuf::from("data/backups")));
    }
}
