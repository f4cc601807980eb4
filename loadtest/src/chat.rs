//! `chat`: N visitor–agent pairs, both sides sending at `rate / (2 N)` messages per second,
//! open loop (see `shape`). Each message carries its sender's tag, counter and intended
//! send time (see `payload`); the receiver measures latency from that intended time and
//! checks the counter for loss, duplicates and order.
//!
//! One task per connection does everything for its side: it sends on schedule from a
//! pre-encoded frame template (through `Client::send_encoded`, no waiter per request),
//! reads the connection's frames undecoded (`Client::take_raw`, then `scan`: only the
//! fields it checks), matches acknowledgements by `client_msg_id`, and tallies the other
//! side's messages. One timer per task, reset only when its next deadline moves. All of
//! this keeps the generator's cost per message well below the server's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use switchboard_client::Client;
use switchboard_protocol::{Request, ServerFrame, SessionId};
use tokio::sync::mpsc;

use crate::cpu::CpuWindow;
use crate::payload::{self, SendTemplate};
use crate::report::{self, Counters, Summary, Traffic};
use crate::scan::{scan, Seen};
use crate::setup::{Dialer, Server, Target};
use crate::shape::{self, Plan, Received, Sent, Totals, ACK_WAIT, DRAIN_MAX, QUIET};

/// `loadtest chat` options.
#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Agent identities the agent connections share (each takes pairs / agents chats).
    #[arg(long, default_value_t = 0)]
    pub agents: usize,
}

/// The load shape, shared with `nats-chat`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Pairs (each pair is two connections, both sending).
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,
    /// Total offered rate, messages per second (split evenly over all 2 × pairs senders).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Message text size in bytes (at least the 26-byte header).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Most unacknowledged messages per sender; beyond it the sender waits (still measured
    /// from the intended time, so the wait shows up as latency).
    #[arg(long, default_value_t = 256)]
    pub window: usize,
}

/// How often a side that waits for nothing sooner looks at the run's `done` flag.
const DONE_CHECK: Duration = Duration::from_millis(100);

pub async fn run(args: ChatArgs) -> anyhow::Result<Summary> {
    let load = args.load.clone();
    let server = Server::open(&args.target)?;
    let dialer = Dialer::new(&args.target, &server)?;
    let pairs = setup_pairs(&server, &dialer, load.pairs, args.agents).await?;
    let counters = Arc::new(Counters::default());
    let progress = report::progress(counters.clone(), args.target.json);
    let rss_before = server.rss_bytes();
    let done = Arc::new(AtomicBool::new(false));
    let (acks_tx, mut acks_rx) = mpsc::channel(2 * load.pairs);
    let epoch = Instant::now();
    let mut cpu = CpuWindow::start(server.pid);
    let mut sides = Vec::with_capacity(2 * load.pairs);
    for (i, pair) in pairs.into_iter().enumerate() {
        let plan = Plan::new(epoch, i, load.pairs, load.rate, load.duration);
        for (j, client) in [(2 * i, pair.visitor), (2 * i + 1, pair.agent)] {
            let side = Side {
                j,
                session: pair.session,
                plan,
                size: load.size,
                window: load.window.max(1),
                counters: counters.clone(),
                acks: Some(acks_tx.clone()),
                done: done.clone(),
            };
            sides.push(tokio::spawn(side.run(client)));
        }
    }
    drop(acks_tx);
    // Every side reports its acknowledgements once all are in (or given up on).
    let mut sent: Vec<Sent> = (0..sides.len()).map(|_| Sent::new()).collect();
    while let Some((j, s)) = acks_rx.recv().await {
        sent[j] = s;
    }
    cpu.mark_busy_end();
    done.store(true, Ordering::Relaxed);
    let mut received = Vec::with_capacity(sides.len());
    for side in sides {
        received.push(side.await??);
    }
    let totals = Totals::new(&sent, &received)?;
    let cpu = cpu.finish(totals.delivered);
    progress.abort();
    let traffic = Traffic {
        scenario: "chat",
        transport: args.target.transport.name(),
        connections: 2 * load.pairs as u64,
        offered_rate: load.rate,
        duration_s: load.duration,
        sent: counters.sent.load(Ordering::Relaxed),
        acked: totals.acked,
        delivered: totals.delivered,
    };
    let mut summary = totals.summary(traffic, args.target.json);
    summary.server_rss_bytes = server.rss_bytes().or(rss_before);
    summary.set_cpu(&cpu);
    Ok(summary)
}

/// Connect `n` pairs: each visitor starts a chat and an agent connection accepts it.
pub(crate) async fn setup_pairs(
    server: &Server,
    dialer: &Dialer,
    n: usize,
    agents: usize,
) -> anyhow::Result<Vec<Pair>> {
    let http = reqwest::Client::new();
    let identities = if agents == 0 { n.div_ceil(100).max(1) } else { agents };
    let chats_each = n.div_ceil(identities).max(1) as u32;
    let mut tokens = Vec::new();
    for i in 0..identities {
        tokens.push(server.create_agent(&http, &format!("load agent {i}"), chats_each).await?);
    }
    let mut pairs = Vec::with_capacity(n);
    for i in 0..n {
        let visitor = dialer.connect_to(i).await?;
        let reply = visitor.call(Request::StartChat {
            name: Some(format!("load visitor {i}")),
            email: None,
            page_url: None,
            first_message: None,
            client_msg_id: None,
            department: None,
        });
        let ServerFrame::ChatStarted { session, session_token, .. } = reply.await? else {
            bail!("start_chat failed")
        };
        let agent = dialer.agent_at(&tokens[i % identities], i + 1).await?;
        match agent.call(Request::Accept { session_id: session.session_id }).await? {
            ServerFrame::Accepted { .. } => {}
            other => bail!("accept: {other:?}"),
        }
        pairs.push(Pair { visitor, agent, session: session.session_id, token: session_token });
    }
    Ok(pairs)
}

/// A visitor and the agent connection that accepted its chat.
pub(crate) struct Pair {
    pub visitor: Client,
    pub agent: Client,
    pub session: SessionId,
    pub token: String,
}

/// One connection's side of a pair: side `j` sends tag `shape::tag(j)` and hears side
/// `j ^ 1`.
struct Side {
    j: usize,
    session: SessionId,
    plan: Plan,
    size: usize,
    window: usize,
    counters: Arc<Counters>,
    /// Where the side reports its acknowledgements once they are all in.
    acks: Option<mpsc::Sender<(usize, Sent)>>,
    /// Set by the run once every side reported: drain, then stop.
    done: Arc<AtomicBool>,
}

impl Side {
    /// Send on schedule, take acknowledgements and the peer's messages as they come, and
    /// stop once the run is done and nothing arrived for [`QUIET`]. One `select!` over the
    /// event queue and a single timer whose deadline is the soonest of: the next intended
    /// send, giving up on missing acknowledgements, the next `done` check, the end of the
    /// quiet drain.
    async fn run(mut self, mut client: Client) -> anyhow::Result<Received> {
        let mut frames = client.take_raw();
        let (me, peer) = (shape::tag(self.j), shape::tag(self.j ^ 1));
        let template = SendTemplate::new(self.session, me, self.size);
        let (plan, counters) = (self.plan, self.counters.clone());
        let (mut sent, mut received) = (Sent::new(), Received::new());
        let mut k = 0u64;
        let mut next = plan.intended(0);
        let mut inflight = 0usize;
        let mut last_ack = Instant::now();
        let mut check_at = Instant::now() + DONE_CHECK;
        let mut quiet_since: Option<Instant> = None;
        let drain_until = plan.end + DRAIN_MAX;
        let timer = tokio::time::sleep_until(check_at.into());
        tokio::pin!(timer);
        let mut timer_at = check_at;
        loop {
            if next.is_none() && inflight == 0 {
                self.report_acks(&mut sent).await;
            }
            let wake = [
                next.filter(|_| inflight < self.window),
                (next.is_none() && inflight > 0).then(|| last_ack + ACK_WAIT),
                Some(check_at),
                quiet_since.map(|q| (q + QUIET).min(drain_until)),
            ];
            let wake = wake.into_iter().flatten().min().unwrap_or(check_at);
            if wake != timer_at {
                timer.as_mut().reset(wake.into());
                timer_at = wake;
            }
            tokio::select! {
                frame = frames.recv() => {
                    let Some(frame) = frame else { break };
                    let now = Instant::now();
                    match scan(&frame) {
                        Some(Seen::Message { text }) => {
                            if let Some((k, ns)) = payload::parse(text, peer) {
                                let latency_us = plan.ns(now).saturating_sub(ns) / 1000;
                                received.note(k, latency_us, &counters);
                                quiet_since = quiet_since.map(|_| now);
                            }
                        }
                        Some(Seen::Ack { client_msg_id }) => {
                            if let Some(acked) = payload::parse_id(client_msg_id, me) {
                                inflight = inflight.saturating_sub(1);
                                sent.ack(acked, plan.us_since(acked, now), &counters);
                                last_ack = now;
                            }
                        }
                        Some(Seen::Error { answers: true }) => {
                            inflight = inflight.saturating_sub(1);
                            sent.error(1, &counters);
                        }
                        _ => {}
                    }
                }
                () = &mut timer => {
                    let now = Instant::now();
                    while let Some(at) = next.filter(|&at| at <= now && inflight < self.window) {
                        let frame = template.frame(client.next_req(), k, plan.ns(at));
                        client.send_encoded(frame).await?;
                        counters.sent.fetch_add(1, Ordering::Relaxed);
                        (k, inflight) = (k + 1, inflight + 1);
                        next = plan.intended(k);
                        if next.is_none() {
                            last_ack = now; // the wait for the last acks starts now
                        }
                    }
                    if next.is_none() && inflight > 0 && now >= last_ack + ACK_WAIT {
                        sent.error(inflight as u64, &counters);
                        inflight = 0;
                    }
                    if now >= check_at {
                        check_at = now + DONE_CHECK;
                        if quiet_since.is_none() && self.done.load(Ordering::Relaxed) {
                            quiet_since = Some(now);
                        }
                    }
                    if quiet_since.is_some_and(|q| now >= q + QUIET) || now >= drain_until {
                        break;
                    }
                }
            }
        }
        // Closed or drained: whatever is still unacknowledged failed.
        sent.error(inflight as u64, &counters);
        self.report_acks(&mut sent).await;
        Ok(received)
    }

    /// Hand this side's acknowledgements to the run (once).
    async fn report_acks(&mut self, sent: &mut Sent) {
        if let Some(acks) = self.acks.take() {
            let _ = acks.send((self.j, std::mem::replace(sent, Sent::new()))).await;
        }
    }
}
