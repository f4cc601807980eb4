//! `connections`: ramp to N idle, authenticated connections, hold them, and report the
//! server's memory per connection (from /proc/<pid>/status, so the server's PID must be
//! known: `--spawn-server` or `--server-pid`). Its CPU window covers the ramp and the
//! hold; there are no messages, so CPU is also reported per connection opened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::sync::Semaphore;

use crate::cpu::CpuWindow;
use crate::report::Summary;
use crate::setup::{fd_limit, Dialer, Server, Target};

/// `loadtest connections` options.
#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Idle connections to open.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Seconds to hold them open once all are up.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
    /// Connection attempts in flight at once while ramping.
    #[arg(long, default_value_t = 64)]
    pub ramp_parallelism: usize,
}

pub async fn run(args: ConnectionsArgs) -> anyhow::Result<Summary> {
    let mut notes = Vec::new();
    let limit = fd_limit();
    if args.connections as u64 + 100 > limit {
        notes.push(format!(
            "this process may open {limit} files; {} connections need more: raise `ulimit -n` (the server needs as many)",
            args.connections
        ));
    }
    if args.connections > 28_000 * args.target.source_ips as usize {
        notes.push(format!(
            "use --source-ips {} or more: one source address reaches ~28,000 connections",
            args.connections / 28_000 + 1
        ));
    }
    let server = Server::open(&args.target)?;
    let dialer = Arc::new(Dialer::new(&args.target, &server)?);
    let token = server.create_agent(&reqwest::Client::new(), "idle agent", 1).await?;
    // Warm-up: one connection, so per-connection memory excludes one-time allocations.
    let warm = dialer.agent(&token).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_bytes();
    let mut cpu = CpuWindow::start(server.pid);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.ramp_parallelism));
    let mut tasks = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let (dialer, token, gate) = (dialer.clone(), token.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("open semaphore");
            dialer.agent(&token).await
        }));
    }
    let mut clients = Vec::with_capacity(args.connections);
    let mut errors = 0u64;
    for task in tasks {
        match task.await? {
            Ok(client) => clients.push(client),
            Err(e) => {
                if errors == 0 {
                    notes.push(format!("first connection error: {e}"));
                }
                errors += 1;
            }
        }
    }
    let ramp = started.elapsed();
    cpu.mark_busy_end();
    if !args.target.json {
        eprintln!(
            "{} connections up in {:.1} s, holding {:.0} s",
            clients.len(),
            ramp.as_secs_f64(),
            args.hold
        );
    }
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let after = server.rss_bytes();
    let per = match (before, after) {
        (Some(b), Some(a)) if !clients.is_empty() => Some(a.saturating_sub(b) / clients.len() as u64),
        _ => None,
    };
    let cpu = cpu.finish(0);
    notes.push(format!("ramp took {:.1} s", ramp.as_secs_f64()));
    if let (Some(server_s), false) = (cpu.server_cpu_s, clients.is_empty()) {
        let per = |s: f64| s * 1e6 / clients.len() as f64;
        notes.push(format!(
            "CPU per connection opened: server {:.0} µs, client {:.0} µs",
            per(server_s),
            per(cpu.client_cpu_s)
        ));
    }
    let mut summary = Summary {
        scenario: "connections".into(),
        transport: args.target.transport.name().into(),
        connections: clients.len() as u64,
        duration_s: args.hold,
        errors,
        server_rss_bytes: after,
        server_rss_per_connection_bytes: per,
        notes,
        json: args.target.json,
        ..Summary::default()
    };
    summary.set_cpu(&cpu);
    drop(clients);
    drop(warm);
    Ok(summary)
}
