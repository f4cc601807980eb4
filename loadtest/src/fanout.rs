//! `fanout`: channel fan-out against the real server. One channel of `--members` agents,
//! each on its own connection; member 0 posts open-loop at `--rate` messages per second,
//! every post acknowledged only once durable; every other member receives each one. With
//! `--slow`, one member reads its connection slowly (one frame per `--slow-read-ms`), so
//! its queue fills and the server cuts it off: the others must not notice. Reports
//! deliveries per second, the fast members' delivery latency (post sent → frame received,
//! one histogram over all of them, and the p99 of each member's own p99), the server's CPU
//! time per delivery, and checks that no fast member lost or reordered a message.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use switchboard_protocol::{Request, ServerFrame};

use crate::cpu::CpuWindow;
use crate::report::{histogram, Summary};
use crate::scan::{scan, Seen};
use crate::setup::{Dialer, Server, Target};

/// `loadtest fanout` options.
#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub target: Target,
    /// Members of the channel (the poster included).
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Posts per second (open loop).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds of posting.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Make one member slow.
    #[arg(long)]
    pub slow: bool,
    /// The slow member reads one frame every this many milliseconds.
    #[arg(long, default_value_t = 50)]
    pub slow_read_ms: u64,
}

/// How long after the last post deliveries may still arrive.
const DRAIN: Duration = Duration::from_secs(10);

/// What one fast member saw.
struct MemberSeen {
    latencies_us: hdrhistogram::Histogram<u64>,
    received: u64,
    out_of_order: u64,
    /// When its last message arrived.
    last_at: Option<Instant>,
}

pub async fn run(args: FanoutArgs) -> anyhow::Result<Summary> {
    if args.members < 2 {
        bail!("--members must be at least 2");
    }
    let server = Server::open(&args.target)?;
    let dialer = Arc::new(Dialer::new(&args.target, &server)?);
    let http = reqwest::Client::new();
    let tag = std::process::id();
    let mut tokens = Vec::with_capacity(args.members);
    for i in 0..args.members {
        tokens.push(server.create_agent(&http, &format!("fanout {tag} member {i}"), 1).await?);
    }
    let ids: Vec<u64> =
        tokens.iter().map(|t| t.split_once('.').map_or(0, |(id, _)| id.parse().unwrap_or(0))).collect();
    let poster = dialer.agent(&tokens[0]).await?;
    let created = poster
        .call(Request::CreateChannel {
            name: format!("fanout-{tag}"),
            description: None,
            private: false,
            folder_id: None,
            invite: ids[1..].to_vec(),
        })
        .await?;
    let ServerFrame::Channel { channel, .. } = created else { bail!("create_channel: {created:?}") };
    let channel_id = channel.channel_id;
    let start = Instant::now();
    let posts = (args.rate * args.duration).round() as u64;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    let mut slow_reader = None;
    for (i, token) in tokens.iter().enumerate().skip(1) {
        let mut client = dialer.agent(token).await?;
        let mut frames = client.take_raw();
        let slow = args.slow && i == 1;
        let (seen, read_pause) = (seen.clone(), Duration::from_millis(args.slow_read_ms));
        let reader = tokio::spawn(async move {
            let _client = client;
            let mut mine =
                MemberSeen { latencies_us: histogram(), received: 0, out_of_order: 0, last_at: None };
            let mut last = 0;
            while let Some(frame) = frames.recv().await {
                if slow {
                    tokio::time::sleep(read_pause).await;
                    continue;
                }
                // Read undecoded: only the seq and the send time in the text (a member is
                // in this one channel only).
                let Some(Seen::ChannelMessage { seq, text }) = scan(&frame) else { continue };
                let sent_us = sent_us_of(text);
                let now_us = start.elapsed().as_micros() as u64;
                let _ = mine.latencies_us.record(now_us.saturating_sub(sent_us).max(1));
                mine.received += 1;
                mine.last_at = Some(Instant::now());
                if seq <= last {
                    mine.out_of_order += 1;
                }
                last = seq;
                if mine.received == posts {
                    break;
                }
            }
            if !slow {
                seen.lock().unwrap().push(mine);
            }
        });
        if slow {
            slow_reader = Some(reader);
        } else {
            readers.push(reader);
        }
    }
    let cpu = CpuWindow::start(server.pid);
    let poster = Arc::new(poster);
    let acks = Arc::new(Mutex::new((0u64, 0u64, histogram())));
    let started = Instant::now();
    let mut sends = Vec::with_capacity(posts as usize);
    for n in 0..posts {
        let due = started + Duration::from_secs_f64(n as f64 / args.rate);
        tokio::time::sleep_until(due.into()).await;
        let (poster, acks) = (poster.clone(), acks.clone());
        let sent_us = start.elapsed().as_micros() as u64;
        sends.push(tokio::spawn(async move {
            let request = Request::SendChannelMessage {
                channel_id,
                client_msg_id: format!("f{n}"),
                text: format!("{sent_us} fan-out message {n}"),
            };
            let asked = Instant::now();
            let answer = poster.call(request).await;
            let mut a = acks.lock().unwrap();
            match answer {
                Ok(ServerFrame::ChannelMessageAck { .. }) => {
                    a.0 += 1;
                    let _ = a.2.record((asked.elapsed().as_micros() as u64).max(1));
                }
                _ => a.1 += 1,
            }
        }));
    }
    for send in sends {
        send.await?;
    }
    let posting_s = started.elapsed().as_secs_f64();
    let drain_until = tokio::time::Instant::now() + DRAIN;
    for reader in readers {
        let abort = reader.abort_handle();
        if tokio::time::timeout_at(drain_until, reader).await.is_err() {
            abort.abort();
        }
    }
    if let Some(slow) = slow_reader {
        slow.abort();
    }
    let fast = seen.lock().unwrap();
    let delivered: u64 = fast.iter().map(|s| s.received).sum();
    // Up to the last delivery to a fast member (not the slow member's drain).
    let elapsed = fast
        .iter()
        .filter_map(|s| s.last_at)
        .max()
        .map_or(posting_s, |t| t.duration_since(started).as_secs_f64());
    let cpu = cpu.finish(delivered);
    let mut all = histogram();
    let mut member_p99s: Vec<u64> = Vec::new();
    for s in fast.iter() {
        let _ = all.add(&s.latencies_us);
        member_p99s.push(s.latencies_us.value_at_quantile(0.99));
    }
    member_p99s.sort_unstable();
    let (acked, failed, ack_hist) = {
        let a = acks.lock().unwrap();
        (a.0, a.1, a.2.clone())
    };
    let expected_fast = if args.slow { args.members - 2 } else { args.members - 1 } as u64;
    let lost = (expected_fast * acked).saturating_sub(delivered);
    let mut summary = Summary {
        scenario: "fanout".into(),
        transport: args.target.transport.name().into(),
        connections: args.members as u64,
        offered_rate: args.rate,
        duration_s: args.duration,
        messages_per_s: acked as f64 / posting_s,
        deliveries_per_s: delivered as f64 / elapsed.max(posting_s),
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
        p999_ms: all.value_at_quantile(0.999) as f64 / 1000.0,
        max_ms: all.max() as f64 / 1000.0,
        ack_p50_ms: ack_hist.value_at_quantile(0.5) as f64 / 1000.0,
        ack_p99_ms: ack_hist.value_at_quantile(0.99) as f64 / 1000.0,
        sent: posts,
        acked,
        delivered,
        lost,
        out_of_order: fast.iter().map(|s| s.out_of_order).sum(),
        errors: failed,
        json: args.target.json,
        ..Summary::default()
    };
    summary.set_cpu(&cpu);
    let worst_member_p99 = member_p99s.last().copied().unwrap_or(0) as f64 / 1000.0;
    summary.figures.insert("members".into(), args.members as f64);
    summary.figures.insert("slow_member".into(), f64::from(u8::from(args.slow)));
    summary.figures.insert("member_p99_ms_worst".into(), worst_member_p99);
    summary.figures.insert("server_cpu_us_per_delivery".into(), summary.server_cpu_us_per_msg.unwrap_or(0.0));
    Ok(summary)
}

/// The send time (µs since the run's start) a post's text begins with.
fn sent_us_of(text: &[u8]) -> u64 {
    text.iter().take_while(|b| b.is_ascii_digit()).fold(0u64, |v, &b| v * 10 + u64::from(b - b'0'))
}
