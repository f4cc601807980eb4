//! `restart`: how soon a server with a large data dir serves again after a clean stop.
//!
//! It starts the server (`--spawn-server`, required), populates it through the protocol
//! (`--sessions` chats holding `--messages` messages in all: visitors start the chats over
//! short-lived connections, then agent connections of at most 500 sessions each accept
//! them and post pipelined from pre-encoded frames), stops it with SIGTERM, starts it
//! again on the same data dir and addresses, and measures from that process start to its
//! startup line, to `/healthz` answering 200, and to the first successful `resume_chat`
//! answer (serving). `--reuse-dir DIR` keeps the data dir and the session tokens
//! (`DIR/loadtest-sessions`), so a later run skips populating.
//!
//! The CPU fields of the summary cover populating; `restart_server_cpu_ms` is the new
//! process's CPU from its start until it served, and the server RSS is the restarted one.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use futures_util::{stream, StreamExt};
use switchboard_client::Client;
use switchboard_protocol::{Request, ServerFrame, SessionId};

use crate::cpu::{self, CpuWindow};
use crate::payload::SendTemplate;
use crate::report::{self, Counters, Summary, Traffic};
use crate::scan::{scan, Seen};
use crate::setup::{Dialer, Server, Target};
use crate::shape::ACK_WAIT;

/// `loadtest restart` options.
#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub target: Target,
    /// Chat sessions to create.
    #[arg(long, default_value_t = 10_000)]
    pub sessions: usize,
    /// Messages to store in all, spread evenly over the sessions.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Message text size in bytes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Use and keep this data dir; populate it only when it has no sessions file yet.
    #[arg(long)]
    pub reuse_dir: Option<PathBuf>,
    /// Visitor connections starting chats at once.
    #[arg(long, default_value_t = 64)]
    pub parallelism: usize,
    /// Unacknowledged messages per agent connection while populating.
    #[arg(long, default_value_t = 1024)]
    pub window: usize,
}

/// The session tokens a populated data dir keeps for later runs.
const SESSIONS_FILE: &str = "loadtest-sessions";
/// Sessions one connection may be subscribed to (the protocol's limit, docs/PROTOCOL.md §9).
const SESSIONS_PER_CONNECTION: usize = 500;
/// Pause between attempts while waiting for the restarted server: fine enough to time
/// startup to a few milliseconds, coarse enough not to load it.
const POLL: Duration = Duration::from_millis(5);
/// Longest the restarted server may take to serve.
const SERVE_WAIT: Duration = Duration::from_secs(300);

pub async fn run(args: RestartArgs) -> anyhow::Result<Summary> {
    let binary = args.target.spawn_server.clone().context("restart needs --spawn-server PATH")?;
    let dir = match &args.reuse_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("switchboard-loadtest-restart-{}", std::process::id())),
    };
    let result = measure(&args, &binary, &dir).await;
    if args.reuse_dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn measure(args: &RestartArgs, binary: &Path, dir: &Path) -> anyhow::Result<Summary> {
    let mut server = Server::spawn_in(binary, &args.target, dir, None)?;
    let counters = Arc::new(Counters::default());
    let sessions_path = dir.join(SESSIONS_FILE);
    let mut summary = if sessions_path.exists() {
        let mut s = Summary { scenario: "restart".into(), json: args.target.json, ..Summary::default() };
        s.notes.push(format!("reused {}: not populated", dir.display()));
        s
    } else {
        let progress = report::progress(counters.clone(), args.target.json);
        let populated = populate(&server, args, &counters).await;
        progress.abort();
        let (tokens, summary) = populated?;
        let per_session = args.messages / args.sessions as u64;
        std::fs::write(&sessions_path, format!("{per_session}\n{}\n", tokens.join("\n")))?;
        summary
    };
    let (per_session, tokens) = read_sessions(&sessions_path)?;
    let token = tokens.get(tokens.len() / 2).context("no sessions")?.clone();
    let addrs = (server.http_addr()?, server.quic_addr);
    let stop = server.terminate()?;
    drop(server);
    // Start again where it was, and time what a client sees from the process start.
    let t0 = Instant::now();
    let (b, target, d) = (binary.to_path_buf(), args.target.clone(), dir.to_path_buf());
    let spawned =
        tokio::task::spawn_blocking(move || (Server::spawn_in(&b, &target, &d, Some(addrs)), t0.elapsed()));
    let healthz = tokio::spawn(first_healthz(format!("http://{}/healthz", addrs.0), t0));
    let resume = tokio::spawn(first_resume(format!("ws://{}/ws", addrs.0), token, t0));
    let (server, listening) = spawned.await?;
    let server = server.context("restarting the server")?;
    let healthz = healthz.await??;
    let (serving, last_seq) = resume.await??;
    let restart_cpu = server.pid.and_then(cpu::process_cpu);
    summary.server_rss_bytes = server.rss_bytes();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let figures = [
        ("restart_stop_ms", ms(stop)),
        ("restart_listening_ms", ms(listening)),
        ("restart_healthz_ms", ms(healthz)),
        ("restart_first_resume_ms", ms(serving)),
    ];
    summary.figures.extend(figures.map(|(k, v)| (k.to_string(), v)));
    if let Some(cpu) = restart_cpu {
        summary.figures.insert("restart_server_cpu_ms".into(), ms(cpu));
    }
    summary.notes.push(format!(
        "{} sessions of {per_session} messages; the resumed session's last seq is {last_seq}",
        tokens.len()
    ));
    if last_seq != per_session {
        summary.errors += 1;
        summary.notes.push(format!("expected last seq {per_session} after the restart, got {last_seq}"));
    }
    Ok(summary)
}

/// Create the sessions, then post the messages; returns the session tokens and a summary
/// of populating (rates and CPU).
async fn populate(
    server: &Server,
    args: &RestartArgs,
    counters: &Arc<Counters>,
) -> anyhow::Result<(Vec<String>, Summary)> {
    let dialer = Arc::new(Dialer::new(&args.target, server)?);
    let started = stream::iter(0..args.sessions)
        .map(|i| start_chat(dialer.clone(), i))
        .buffer_unordered(args.parallelism.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut sessions = Vec::with_capacity(started.len());
    for s in started {
        sessions.push(s?);
    }
    let per_session = args.messages / args.sessions.max(1) as u64;
    let http = reqwest::Client::new();
    let mut cpu = CpuWindow::start(server.pid);
    let began = Instant::now();
    let mut agents = Vec::new();
    for (i, group) in sessions.chunks(SESSIONS_PER_CONNECTION).enumerate() {
        let token = server.create_agent(&http, &format!("restart agent {i}"), group.len() as u32).await?;
        let client = dialer.agent(&token).await?;
        let ids: Vec<SessionId> = group.iter().map(|(id, _)| *id).collect();
        let post =
            Post { per_session, size: args.size, window: args.window.max(1), counters: counters.clone() };
        agents.push(tokio::spawn(post.run(client, ids)));
    }
    let (mut acked, mut errors) = (0, 0);
    for agent in agents {
        let (a, e) = agent.await??;
        (acked, errors) = (acked + a, errors + e);
    }
    cpu.mark_busy_end();
    let cpu = cpu.finish(acked);
    let elapsed = began.elapsed().as_secs_f64();
    let traffic = Traffic {
        scenario: "restart",
        transport: args.target.transport.name(),
        connections: sessions.len() as u64,
        offered_rate: 0.0,
        duration_s: elapsed,
        sent: acked + errors,
        acked,
        delivered: 0,
    };
    let mut summary = Summary { errors, ..Summary::traffic(traffic, args.target.json) };
    summary.set_cpu(&cpu);
    summary.notes.push(format!("populated {acked} messages in {elapsed:.1} s (rates are of populating)"));
    Ok((sessions.into_iter().map(|(_, token)| token).collect(), summary))
}

/// One visitor starts a chat over its own short-lived connection.
async fn start_chat(dialer: Arc<Dialer>, i: usize) -> anyhow::Result<(SessionId, String)> {
    let visitor = dialer.connect().await?;
    let request = Request::StartChat {
        name: Some(format!("restart visitor {i}")),
        email: None,
        page_url: None,
        first_message: None,
        client_msg_id: None,
        department: None,
    };
    match visitor.call(request).await? {
        ServerFrame::ChatStarted { session, session_token, .. } => Ok((session.session_id, session_token)),
        other => bail!("start_chat: {other:?}"),
    }
}

/// One agent connection's share of populating.
struct Post {
    per_session: u64,
    size: usize,
    window: usize,
    counters: Arc<Counters>,
}

impl Post {
    /// Accept every session (pipelined), then post `per_session` messages to each, round
    /// robin, at most `window` unacknowledged. Returns (acknowledged, failed).
    async fn run(self, mut client: Client, sessions: Vec<SessionId>) -> anyhow::Result<(u64, u64)> {
        let mut accepts = Vec::with_capacity(sessions.len());
        for &session_id in &sessions {
            accepts.push(client.send(Request::Accept { session_id }).await?.1);
        }
        for accept in accepts {
            match client.wait(accept).await? {
                ServerFrame::Accepted { .. } => {}
                other => bail!("accept: {other:?}"),
            }
        }
        let mut frames = client.take_raw();
        let templates: Vec<SendTemplate> =
            sessions.iter().map(|&s| SendTemplate::new(s, b'a', self.size)).collect();
        let total = self.per_session * sessions.len() as u64;
        let (mut sent, mut acked, mut errors) = (0u64, 0u64, 0u64);
        while acked + errors < total {
            while sent < total && sent - acked - errors < self.window as u64 {
                let n = templates.len() as u64;
                let frame = templates[(sent % n) as usize].frame(client.next_req(), sent / n, 0);
                client.send_encoded(frame).await?;
                sent += 1;
                self.counters.sent.fetch_add(1, Relaxed);
            }
            match tokio::time::timeout(ACK_WAIT, frames.recv()).await {
                Ok(Some(frame)) => match scan(&frame) {
                    Some(Seen::Ack { .. }) => {
                        acked += 1;
                        self.counters.acked.fetch_add(1, Relaxed);
                    }
                    Some(Seen::Error { answers: true }) => {
                        errors += 1;
                        self.counters.errors.fetch_add(1, Relaxed);
                    }
                    _ => {}
                },
                Ok(None) => bail!("agent connection closed while populating: {:?}", client.close_info()),
                Err(_) => bail!("no acknowledgement within {ACK_WAIT:?} while populating"),
            }
        }
        Ok((acked, errors))
    }
}

/// (messages per session, session tokens) from a sessions file.
fn read_sessions(path: &Path) -> anyhow::Result<(u64, Vec<String>)> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let per_session = lines.next().context("empty sessions file")?.trim().parse()?;
    Ok((per_session, lines.map(str::to_string).filter(|l| !l.is_empty()).collect()))
}

/// Time from `t0` until `/healthz` answers 200.
async fn first_healthz(url: String, t0: Instant) -> anyhow::Result<Duration> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(1)).build()?;
    while t0.elapsed() < SERVE_WAIT {
        if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(t0.elapsed());
        }
        tokio::time::sleep(POLL).await;
    }
    bail!("/healthz did not answer within {SERVE_WAIT:?}")
}

/// Time from `t0` until a visitor's `resume_chat` is answered with `attached`; also the
/// session's last seq.
async fn first_resume(ws_url: String, token: String, t0: Instant) -> anyhow::Result<(Duration, u64)> {
    while t0.elapsed() < SERVE_WAIT {
        if let Ok(client) = Client::connect(&ws_url, switchboard_protocol::codec::Encoding::MsgPack).await {
            let request = Request::ResumeChat { session_token: token.clone(), after_seq: 0 };
            if let Ok(ServerFrame::Attached { session, .. }) = client.call(request).await {
                return Ok((t0.elapsed(), session.last_seq));
            }
        }
        tokio::time::sleep(POLL).await;
    }
    bail!("no resume_chat answer within {SERVE_WAIT:?}")
}
