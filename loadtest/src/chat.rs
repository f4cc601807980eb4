//! `chat`: N visitor–agent pairs, both sides sending at `rate / (2 N)` messages per second,
//! open loop. Each message's text starts with `<tag><k> <intended_ns>`: the sender (v or a),
//! its per-sender counter, and the intended send time in ns since the run's epoch. The
//! receiver measures latency from that intended time and checks k for loss, duplicates and
//! order.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use hdrhistogram::Histogram;
use switchboard_client::Client;
use switchboard_protocol::{Request, ServerFrame, SessionId};
use tokio::sync::{mpsc, oneshot};

use crate::cpu::CpuWindow;
use crate::report::{self, Counters, Summary, Traffic};
use crate::setup::{Dialer, Server, Target};

/// `loadtest chat` options.
#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub target: Target,
    /// Visitor–agent pairs (each pair is two connections).
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,
    /// Total offered rate, messages per second (split evenly over all 2 × pairs senders).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Message text size in bytes (at least the header).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Most unacknowledged messages per sender; beyond it the sender waits (still measured
    /// from the intended time, so the wait shows up as latency).
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Agent identities the agent connections share (each takes pairs / agents chats).
    #[arg(long, default_value_t = 0)]
    pub agents: usize,
}

/// After the traffic ends, a receiver stops once nothing arrived for this long …
const QUIET: Duration = Duration::from_secs(2);
/// … or at the latest this long after the end (an overloaded server's backlog).
const DRAIN_MAX: Duration = Duration::from_secs(60);

/// Per-receiver results.
struct Received {
    latency: Histogram<u64>,
    seen: HashSet<u64>,
    unique: u64,
    duplicates: u64,
    out_of_order: u64,
}

/// Per-sender results.
struct Sent {
    ack_latency: Histogram<u64>,
    /// The per-sender counters `k` of every acknowledged message.
    acked: Vec<u64>,
    errors: u64,
}

pub async fn run(args: ChatArgs) -> anyhow::Result<Summary> {
    let server = Server::open(&args.target)?;
    let dialer = Dialer::new(&args.target, &server)?;
    let pairs = setup_pairs(&server, &dialer, args.pairs, args.agents).await?;
    let counters = Arc::new(Counters::default());
    let progress = report::progress(counters.clone(), args.target.json);
    let epoch = Instant::now();
    let start = epoch + Duration::from_millis(200);
    let end = start + Duration::from_secs_f64(args.duration);
    let per_sender = args.rate / (2.0 * args.pairs as f64);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let rss_before = server.rss_bytes();
    let mut cpu = CpuWindow::start(server.pid);
    for (i, Pair { mut visitor, mut agent, session, .. }) in pairs.into_iter().enumerate() {
        let (visitor_events, agent_events) = (visitor.take_events(), agent.take_events());
        let (visitor, agent) = (Arc::new(visitor), Arc::new(agent));
        let phase = Duration::from_secs_f64((i as f64 / args.pairs as f64) / per_sender.max(1e-9))
            .min(Duration::from_secs(1));
        for (client, tag) in [(visitor.clone(), 'v'), (agent.clone(), 'a')] {
            let plan = Plan {
                session,
                tag,
                rate: per_sender,
                start: start + phase,
                end,
                epoch,
                size: args.size,
                window: args.window,
            };
            senders.push(tokio::spawn(send(client, plan, counters.clone())));
        }
        // Receiver 2i (the visitor) hears sender 2i + 1 (the agent) and vice versa.
        let window = Window { epoch, end, senders_done: done_rx.clone() };
        receivers.push(tokio::spawn(receive(
            visitor_events,
            'a',
            window.clone(),
            counters.clone(),
            visitor.clone(),
        )));
        receivers.push(tokio::spawn(receive(agent_events, 'v', window, counters.clone(), agent.clone())));
    }
    let mut ack_latency = report::histogram();
    let (mut acked, mut errors) = (0, 0);
    let mut acked_by_sender = Vec::with_capacity(senders.len());
    for sender in senders {
        let sent = sender.await??;
        ack_latency.add(&sent.ack_latency)?;
        acked += sent.acked.len() as u64;
        errors += sent.errors;
        acked_by_sender.push(sent.acked);
    }
    cpu.mark_busy_end();
    let _ = done_tx.send(true);
    let sent_total = counters.sent.load(Ordering::Relaxed);
    let mut latency = report::histogram();
    let (mut delivered, mut duplicates, mut out_of_order) = (0, 0, 0);
    let mut seen_by_receiver = Vec::with_capacity(receivers.len());
    for receiver in receivers {
        let r = receiver.await?;
        latency.add(&r.latency)?;
        delivered += r.unique;
        duplicates += r.duplicates;
        out_of_order += r.out_of_order;
        seen_by_receiver.push(r.seen);
    }
    // Lost: acknowledged by the server, never delivered to the other side of its pair.
    let lost: u64 = acked_by_sender
        .iter()
        .enumerate()
        .map(|(j, ks)| ks.iter().filter(|k| !seen_by_receiver[j ^ 1].contains(k)).count() as u64)
        .sum();
    let cpu = cpu.finish(delivered);
    progress.abort();
    let traffic = Traffic {
        scenario: "chat",
        transport: args.target.transport.name(),
        connections: 2 * args.pairs as u64,
        offered_rate: args.rate,
        duration_s: args.duration,
        sent: sent_total,
        acked,
        delivered,
    };
    let mut summary = Summary {
        lost,
        duplicates,
        out_of_order,
        errors,
        server_rss_bytes: server.rss_bytes().or(rss_before),
        ..Summary::traffic(traffic, args.target.json)
    };
    summary.set_latency(&latency, &ack_latency);
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
        let visitor = dialer.connect().await?;
        let reply = visitor.call(Request::StartChat {
            name: Some(format!("load visitor {i}")),
            email: None,
            page_url: None,
            first_message: None,
            client_msg_id: None,
        });
        let ServerFrame::ChatStarted { session, session_token, .. } = reply.await? else {
            bail!("start_chat failed")
        };
        let agent = dialer.agent(&tokens[i % identities]).await?;
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

struct Plan {
    session: SessionId,
    tag: char,
    rate: f64,
    start: Instant,
    end: Instant,
    epoch: Instant,
    size: usize,
    window: usize,
}

/// Send on schedule; a companion task collects acknowledgements in order.
async fn send(client: Arc<Client>, plan: Plan, counters: Arc<Counters>) -> anyhow::Result<Sent> {
    let (acks_tx, acks_rx) = mpsc::channel::<(u64, Instant, oneshot::Receiver<ServerFrame>)>(plan.window);
    let collector = tokio::spawn(collect(client.clone(), acks_rx, counters.clone()));
    let interval = Duration::from_secs_f64(1.0 / plan.rate.max(1e-9));
    let mut k: u64 = 0;
    loop {
        let intended = plan.start + interval.mul_f64(k as f64);
        if intended >= plan.end {
            break;
        }
        tokio::time::sleep_until(intended.into()).await;
        let header = format!("{}{} {}", plan.tag, k, (intended - plan.epoch).as_nanos());
        let text = if header.len() >= plan.size {
            header
        } else {
            format!("{header} {}", "x".repeat(plan.size - header.len() - 1))
        };
        let request = Request::SendMessage {
            session_id: plan.session,
            client_msg_id: format!("{}{k}", plan.tag),
            text,
        };
        let (_, rx) = client.send(request).await?;
        counters.sent.fetch_add(1, Ordering::Relaxed);
        if acks_tx.send((k, intended, rx)).await.is_err() {
            break;
        }
        k += 1;
    }
    drop(acks_tx);
    collector.await?
}

async fn collect(
    client: Arc<Client>,
    mut acks: mpsc::Receiver<(u64, Instant, oneshot::Receiver<ServerFrame>)>,
    counters: Arc<Counters>,
) -> anyhow::Result<Sent> {
    let mut sent = Sent { ack_latency: report::histogram(), acked: Vec::new(), errors: 0 };
    while let Some((k, intended, rx)) = acks.recv().await {
        match client.wait(rx).await {
            Ok(ServerFrame::MessageAck { .. }) => {
                sent.acked.push(k);
                counters.acked.fetch_add(1, Ordering::Relaxed);
                sent.ack_latency.saturating_record(intended.elapsed().as_micros() as u64);
            }
            Ok(_) | Err(_) => {
                sent.errors += 1;
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(sent)
}

/// When a receiver may stop: after every sender finished and the stream went quiet.
#[derive(Clone)]
struct Window {
    epoch: Instant,
    end: Instant,
    senders_done: tokio::sync::watch::Receiver<bool>,
}

/// Receive the other side's messages until every sender is done and the stream has been
/// quiet for [`QUIET`] (at the latest [`DRAIN_MAX`] after the end).
async fn receive(
    mut events: mpsc::Receiver<ServerFrame>,
    from_tag: char,
    window: Window,
    counters: Arc<Counters>,
    _client: Arc<Client>,
) -> Received {
    let drain_until = window.end + DRAIN_MAX;
    let mut r = Received {
        latency: report::histogram(),
        seen: HashSet::new(),
        unique: 0,
        duplicates: 0,
        out_of_order: 0,
    };
    let mut highest: Option<u64> = None;
    loop {
        let done = *window.senders_done.borrow();
        let wait = if done { QUIET } else { Duration::from_millis(500) };
        let deadline = (Instant::now() + wait).min(drain_until);
        let frame = match tokio::time::timeout_at(deadline.into(), events.recv()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(_) if done || Instant::now() >= drain_until => break,
            Err(_) => continue,
        };
        let ServerFrame::Message { message, .. } = frame else { continue };
        let Some((k, intended_ns)) = parse(&message.text, from_tag) else { continue };
        if !r.seen.insert(k) {
            r.duplicates += 1;
            continue;
        }
        if highest.is_some_and(|h| k < h) {
            r.out_of_order += 1;
        }
        highest = Some(highest.map_or(k, |h| h.max(k)));
        r.unique += 1;
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        let now_ns = window.epoch.elapsed().as_nanos() as u64;
        r.latency.saturating_record(now_ns.saturating_sub(intended_ns) / 1000);
    }
    r
}

/// `<tag><k> <intended_ns> …` → (k, intended_ns).
fn parse(text: &str, tag: char) -> Option<(u64, u64)> {
    let rest = text.strip_prefix(tag)?;
    let mut parts = rest.split(' ');
    let k = parts.next()?.parse().ok()?;
    let ns = parts.next()?.parse().ok()?;
    Some((k, ns))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn payload_header_round_trips() {
        assert_eq!(parse("v12 3456 xxxx", 'v'), Some((12, 3456)));
        assert_eq!(parse("a1 2", 'v'), None);
        assert_eq!(parse("v1", 'v'), None);
    }
}
