//! Cluster harness: real `nats-server` processes (Debian's, JetStream on, one NATS
//! cluster) on free loopback ports, and Switchboard nodes joined to them, each a
//! [`TestServer`] that can be killed, paused and restarted like any other.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TestServer;

/// The administrator token every test node shares.
pub const ADMIN_TOKEN: &str = "cluster-test-admin-token-0123456789";

/// How long a cluster test waits for shards to settle or move.
pub const SETTLE: Duration = Duration::from_secs(30);

/// Shards in a cluster (the engine's `CLUSTER_SHARDS`).
pub const SHARDS: f64 = 64.0;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One NATS server of the cluster.
pub struct Nats {
    child: Option<Child>,
    args: Vec<String>,
    pub port: u16,
}

impl Nats {
    fn spawn(&mut self) {
        let child = Command::new("nats-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (scripts/setup.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Start it again on the same ports and store.
    pub fn restart(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `n` NATS servers routed into one cluster, JetStream on (the flags of scripts/cluster.sh,
/// on free ports of 127.0.0.1). One cluster test runs at a time: each runs up to three NATS
/// servers and three nodes with short leases, and two at once on two cores would measure
/// the machine rather than the failover.
pub struct NatsCluster {
    pub servers: Vec<Nats>,
    _dir: tempfile::TempDir,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl NatsCluster {
    pub fn start(n: usize) -> NatsCluster {
        let one_at_a_time = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let name = format!("sbtest{}", rand::random::<u32>());
        let mut servers = Vec::new();
        for (i, (port, route)) in ports.iter().enumerate() {
            let store: PathBuf = dir.path().join(format!("nats{i}"));
            let mut args: Vec<String> = vec![
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "-n".into(),
                format!("nats{i}"),
                "-js".into(),
                "-sd".into(),
                store.display().to_string(),
            ];
            if n > 1 {
                let routes: Vec<String> = ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, (_, r))| format!("nats://127.0.0.1:{r}"))
                    .collect();
                args.extend([
                    "--cluster_name".into(),
                    name.clone(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{route}"),
                    "--routes".into(),
                    routes.join(","),
                ]);
            }
            let mut server = Nats { child: None, args, port: *port };
            server.spawn();
            servers.push(server);
        }
        NatsCluster { servers, _dir: dir, _one_at_a_time: one_at_a_time }
    }

    /// Every server's client URL, comma-separated (what `--cluster-nats` takes).
    pub fn urls(&self) -> String {
        self.servers.iter().map(|s| format!("nats://127.0.0.1:{}", s.port)).collect::<Vec<_>>().join(",")
    }

    /// Copies of the log and buckets: 3 with three servers or more, else 1.
    pub fn replicas(&self) -> usize {
        if self.servers.len() >= 3 {
            3
        } else {
            1
        }
    }
}

/// The flags of a node named `name` joined to `nats`, with a short lease (`lease_ms`).
pub fn node_args(nats: &NatsCluster, name: &str, lease_ms: u64) -> Vec<String> {
    vec![
        "--cluster-nats".into(),
        nats.urls(),
        "--node-name".into(),
        name.into(),
        "--cluster-replicas".into(),
        nats.replicas().to_string(),
        "--cluster-lease-ms".into(),
        lease_ms.to_string(),
        "--admin-token".into(),
        ADMIN_TOKEN.into(),
        "--visitor-rate-per-s".into(),
        "1000000".into(),
        "--visitor-burst".into(),
        "1000000".into(),
        "--log".into(),
        "info".into(),
    ]
}

/// Start a node (it prints its addresses once it has caught up with the log).
pub fn start_node(nats: &NatsCluster, name: &str, lease_ms: u64) -> TestServer {
    let args = node_args(nats, name, lease_ms);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start_logged(&args)
}

/// The shards each node owns now (0 for a node that does not answer).
pub async fn shards_owned(nodes: &[&TestServer]) -> Vec<f64> {
    let mut out = Vec::new();
    for node in nodes {
        out.push(node.try_metric("switchboard_cluster_shards_owned").await.unwrap_or(0.0));
    }
    out
}

/// Wait until every shard is owned by exactly one of `nodes`, each owning some.
pub async fn wait_settled(nodes: &[&TestServer]) -> Vec<f64> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let owned = shards_owned(nodes).await;
        if owned.iter().sum::<f64>() == SHARDS && owned.iter().all(|n| *n > 0.0) {
            return owned;
        }
        assert!(Instant::now() < deadline, "shards did not settle over the nodes: {owned:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
