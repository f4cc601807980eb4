//! `reconnect`: agents send to their visitors at a steady rate; at `--drop-after` every
//! visitor connection is dropped at once; agents keep sending; after `--offline` seconds
//! every visitor reconnects and resumes from the last seq it saw (paging through
//! `has_more`). Every acknowledged message must then have reached its visitor exactly once.
//! Reports how long the visitors took to reconnect and resume (`resume_*_ms`).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use futures_util::{stream, StreamExt};
use switchboard_client::Client;
use switchboard_protocol::{Request, ServerFrame, SessionId};

use crate::chat::{setup_pairs, Pair};
use crate::cpu::CpuWindow;
use crate::report::{self, Counters, Summary, Traffic};
use crate::setup::{Dialer, Server, Target};
use crate::shape::{DRAIN_MAX, QUIET};

/// `loadtest reconnect` options.
#[derive(Debug, Args)]
pub struct ReconnectArgs {
    #[command(flatten)]
    pub target: Target,
    /// Visitor–agent pairs.
    #[arg(long, default_value_t = 100)]
    pub pairs: usize,
    /// Total agent → visitor messages per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of traffic in all.
    #[arg(long, default_value_t = 6.0)]
    pub duration: f64,
    /// Seconds after the start when every visitor drops.
    #[arg(long, default_value_t = 2.0)]
    pub drop_after: f64,
    /// Seconds the visitors stay away.
    #[arg(long, default_value_t = 1.0)]
    pub offline: f64,
    /// Agent connections the pairs share, each its own identity accepting at most 500
    /// chats (the protocol's per-connection limit); 0: one agent connection per pair. Past
    /// ~9,000 pairs a connection per side exceeds one process's ~20,000 file descriptors.
    #[arg(long, default_value_t = 0)]
    pub agents: usize,
    /// Pairs set up at once (connect, start a chat, accept it).
    #[arg(long, default_value_t = 64)]
    pub setup_parallelism: usize,
}

/// Sessions one connection may be subscribed to (the protocol's limit, docs/PROTOCOL.md §9).
const SESSIONS_PER_CONNECTION: usize = 500;

/// A visitor, the (possibly shared) agent connection that accepted its chat, the session
/// and the visitor's token.
struct Visit {
    visitor: Client,
    agent: Arc<Client>,
    session: SessionId,
    token: String,
}

pub async fn run(args: ReconnectArgs) -> anyhow::Result<Summary> {
    let server = Server::open(&args.target)?;
    let dialer = Arc::new(Dialer::new(&args.target, &server)?);
    let pairs = setup(&server, &dialer, &args).await?;
    let counters = Arc::new(Counters::default());
    let progress = report::progress(counters.clone(), args.target.json);
    let mut cpu = CpuWindow::start(server.pid);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.duration);
    let drop_at = start + Duration::from_secs_f64(args.drop_after);
    let back_at = drop_at + Duration::from_secs_f64(args.offline);
    let per_pair = args.rate / args.pairs as f64;
    let mut agents = Vec::new();
    let mut visitors = Vec::new();
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    for Visit { visitor, agent, session, token } in pairs {
        agents.push(tokio::spawn(agent_sends(agent, session, per_pair, end, counters.clone())));
        let plan = VisitorPlan {
            session,
            token,
            drop_at,
            back_at,
            end,
            agents_done: done_rx.clone(),
            dialer: dialer.clone(),
        };
        visitors.push(tokio::spawn(visitor_life(visitor, plan, counters.clone())));
    }
    let (mut acked, mut errors, mut lost, mut duplicates, mut delivered) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut acked_by_session = Vec::new();
    for agent in agents {
        let (session, seqs, errs) = agent.await??;
        acked += seqs.len() as u64;
        errors += errs;
        acked_by_session.push((session, seqs));
    }
    cpu.mark_busy_end();
    let _ = done_tx.send(true);
    let mut seen_by_session = std::collections::HashMap::new();
    let mut resume = report::histogram();
    for visitor in visitors {
        let visited = visitor.await??;
        duplicates += visited.duplicates;
        delivered += visited.seen.len() as u64;
        resume.saturating_record(visited.resume_us);
        seen_by_session.insert(visited.session, visited.seen);
    }
    for (session, seqs) in acked_by_session {
        let seen = seen_by_session.get(&session);
        lost += seqs.iter().filter(|s| !seen.is_some_and(|set| set.contains(s))).count() as u64;
    }
    let cpu = cpu.finish(delivered);
    progress.abort();
    let traffic = Traffic {
        scenario: "reconnect",
        transport: args.target.transport.name(),
        connections: (args.pairs + agent_connections(&args)) as u64,
        offered_rate: args.rate,
        duration_s: args.duration,
        sent: counters.sent.load(Ordering::Relaxed),
        acked,
        delivered,
    };
    let drop_note = format!(
        "all {} visitors dropped at {:.1} s and resumed at {:.1} s",
        args.pairs,
        args.drop_after,
        args.drop_after + args.offline
    );
    let mut summary = Summary {
        lost,
        duplicates,
        errors,
        server_rss_bytes: server.rss_bytes(),
        notes: vec![drop_note],
        ..Summary::traffic(traffic, args.target.json)
    };
    summary.set_cpu(&cpu);
    let ms = |us: u64| us as f64 / 1000.0;
    let figures = [
        ("resume_p50_ms", ms(resume.value_at_quantile(0.5))),
        ("resume_p99_ms", ms(resume.value_at_quantile(0.99))),
        ("resume_max_ms", ms(resume.max())),
    ];
    summary.figures.extend(figures.map(|(k, v)| (k.to_string(), v)));
    Ok(summary)
}

/// One visitor's results: what it saw, and how long its reconnect and resume took.
struct Visited {
    session: SessionId,
    seen: HashSet<u64>,
    duplicates: u64,
    /// From the intended reconnect time to the last `attached` page.
    resume_us: u64,
}

/// Set up the pairs: one agent connection each, or `--agents` shared ones.
async fn setup(server: &Server, dialer: &Arc<Dialer>, args: &ReconnectArgs) -> anyhow::Result<Vec<Visit>> {
    if args.agents == 0 {
        let pairs = setup_pairs(server, dialer, args.pairs, 0).await?;
        return Ok(pairs
            .into_iter()
            .map(|Pair { visitor, agent, session, token }| Visit {
                visitor,
                agent: shared(agent),
                session,
                token,
            })
            .collect());
    }
    let connections = agent_connections(args);
    let chats_each = args.pairs.div_ceil(connections) as u32;
    let http = reqwest::Client::new();
    let mut agents = Vec::with_capacity(connections);
    for i in 0..connections {
        let token = server.create_agent(&http, &format!("reconnect agent {i}"), chats_each).await?;
        agents.push(shared(dialer.agent(&token).await?));
    }
    let visits = stream::iter(0..args.pairs)
        .map(|i| visit(dialer.clone(), agents[i % connections].clone(), i))
        .buffer_unordered(args.setup_parallelism.max(1))
        .collect::<Vec<_>>()
        .await;
    visits.into_iter().collect()
}

/// How many agent connections the pairs use.
fn agent_connections(args: &ReconnectArgs) -> usize {
    match args.agents {
        0 => args.pairs,
        n => n.max(args.pairs.div_ceil(SESSIONS_PER_CONNECTION)),
    }
}

/// An agent connection for sharing; nobody reads its events, so they are discarded (a
/// full event queue would stop the client from routing answers).
fn shared(mut agent: Client) -> Arc<Client> {
    let mut events = agent.take_events();
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    Arc::new(agent)
}

/// Visitor i starts a chat and `agent` accepts it.
async fn visit(dialer: Arc<Dialer>, agent: Arc<Client>, i: usize) -> anyhow::Result<Visit> {
    let visitor = dialer.connect().await?;
    let reply = visitor.call(Request::StartChat {
        name: Some(format!("reconnect visitor {i}")),
        email: None,
        page_url: None,
        first_message: None,
        client_msg_id: None,
        department: None,
    });
    let ServerFrame::ChatStarted { session, session_token, .. } = reply.await? else {
        bail!("start_chat failed")
    };
    match agent.call(Request::Accept { session_id: session.session_id }).await? {
        ServerFrame::Accepted { .. } => {}
        other => bail!("accept: {other:?}"),
    }
    Ok(Visit { visitor, agent, session: session.session_id, token: session_token })
}

/// Send at `rate` until `end`; returns the acknowledged seqs.
async fn agent_sends(
    agent: Arc<Client>,
    session: SessionId,
    rate: f64,
    end: Instant,
    counters: Arc<Counters>,
) -> anyhow::Result<(SessionId, Vec<u64>, u64)> {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-9));
    let start = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    let (mut seqs, mut errors) = (Vec::new(), 0);
    for k in 0u64.. {
        let intended = start + interval.mul_f64(k as f64);
        if intended >= end {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        let (_, rx) = agent
            .send(Request::SendMessage {
                session_id: session,
                client_msg_id: format!("r{k}"),
                text: format!("r{k}"),
            })
            .await?;
        counters.sent.fetch_add(1, Ordering::Relaxed);
        pending.push_back(rx);
        while pending.len() > 64 {
            settle(&agent, pending.pop_front().expect("non-empty"), &mut seqs, &mut errors, &counters).await;
        }
    }
    while let Some(rx) = pending.pop_front() {
        settle(&agent, rx, &mut seqs, &mut errors, &counters).await;
    }
    Ok((session, seqs, errors))
}

async fn settle(
    agent: &Client,
    rx: tokio::sync::oneshot::Receiver<ServerFrame>,
    seqs: &mut Vec<u64>,
    errors: &mut u64,
    counters: &Counters,
) {
    match agent.wait(rx).await {
        Ok(ServerFrame::MessageAck { seq, .. }) => {
            seqs.push(seq);
            counters.acked.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            *errors += 1;
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct VisitorPlan {
    session: SessionId,
    token: String,
    drop_at: Instant,
    back_at: Instant,
    end: Instant,
    agents_done: tokio::sync::watch::Receiver<bool>,
    dialer: Arc<Dialer>,
}

/// Receive, drop at `drop_at`, come back at `back_at`, resume, receive until the end.
async fn visitor_life(
    mut visitor: Client,
    plan: VisitorPlan,
    counters: Arc<Counters>,
) -> anyhow::Result<Visited> {
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut note = |seq: u64, seen: &mut HashSet<u64>| {
        if seen.insert(seq) {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            duplicates += 1;
        }
    };
    receive_until(&mut visitor, plan.drop_at, |seq| note(seq, &mut seen)).await;
    drop(visitor);
    tokio::time::sleep_until(plan.back_at.into()).await;
    let mut visitor = plan.dialer.connect().await?;
    loop {
        let after_seq = contiguous(&seen);
        let request = Request::ResumeChat { session_token: plan.token.clone(), after_seq };
        let ServerFrame::Attached { messages, has_more, .. } = visitor.call(request).await? else {
            bail!("resume_chat failed")
        };
        for m in messages {
            note(m.seq, &mut seen);
        }
        if !has_more {
            break;
        }
    }
    let resume_us = plan.back_at.elapsed().as_micros() as u64;
    // Live again: receive until every agent has finished and the stream has gone quiet.
    let drain_until = plan.end + DRAIN_MAX;
    loop {
        let done = *plan.agents_done.borrow();
        let wait = if done { QUIET } else { Duration::from_millis(500) };
        let deadline = (Instant::now() + wait).min(drain_until);
        let before = seen.len();
        receive_until(&mut visitor, deadline, |seq| note(seq, &mut seen)).await;
        let quiet = seen.len() == before;
        if (done && quiet) || Instant::now() >= drain_until || visitor.close_info().is_some() {
            break;
        }
    }
    Ok(Visited { session: plan.session, seen, duplicates, resume_us })
}

async fn receive_until(client: &mut Client, until: Instant, mut on_seq: impl FnMut(u64)) {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match client.next_event(left).await {
            Ok(ServerFrame::Message { message, .. }) => on_seq(message.seq),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// The highest seq up to which every seq was seen.
fn contiguous(seen: &HashSet<u64>) -> u64 {
    let mut seq = 0;
    while seen.contains(&(seq + 1)) {
        seq += 1;
    }
    seq
}
