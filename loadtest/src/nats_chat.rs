//! `nats-chat`: the `chat` load shape against NATS JetStream, for a side-by-side peer run.
//!
//! N pairs, two sides each, every side its own NATS connection. Side j publishes its
//! messages to `sbload.<pair>.<tag>` through JetStream (a file-storage stream capturing
//! `sbload.>`) and awaits every publish acknowledgement, at most `--window` outstanding;
//! it receives the other side's messages with a **core NATS subscription** on the other
//! side's subject (not a JetStream consumer: the cheapest way for NATS to deliver, and
//! delivery does not wait for the store). One subject per direction, so nobody hears its
//! own messages, as in Switchboard. Same open-loop schedule, same payload, same latency
//! from the intended send time, same loss/duplicate/order checks and CPU accounting (the
//! nats-server's PID) as `chat`.
//!
//! Not comparable in one respect: nats-server 2.9 has no per-write sync setting (its file
//! store syncs periodically), while Switchboard fsyncs before every acknowledgement.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use async_nats::jetstream::{self, Context as JetStream};
use async_nats::{ConnectOptions, Subject, Subscriber};
use bytes::Bytes;
use clap::Args;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::chat::LoadArgs;
use crate::cpu::CpuWindow;
use crate::nats_server::{NatsServer, NatsTarget};
use crate::payload;
use crate::report::{self, Counters, Summary, Traffic};
use crate::setup;
use crate::shape::{self, Plan, Received, Sent, Totals, DRAIN_MAX, QUIET};

/// `loadtest nats-chat` options.
#[derive(Debug, Args)]
pub struct NatsChatArgs {
    #[command(flatten)]
    pub target: NatsTarget,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Set `Nats-Msg-Id` on every publish: JetStream de-duplicates on it, the counterpart
    /// of Switchboard's `client_msg_id` (the server does that work too).
    #[arg(long)]
    pub msg_id: bool,
}

/// The stream every run (re)creates; a run deletes what an earlier one left.
const STREAM: &str = "SBLOAD";
/// Messages a subscription buffers in the client before NATS drops them as a slow
/// consumer (they then count as lost): async-nats' default, named here.
const SUBSCRIPTION_CAPACITY: usize = 65_536;
/// How often an idle receiver looks at the run's `done` flag.
const DONE_CHECK: Duration = Duration::from_millis(100);

pub async fn run(args: NatsChatArgs) -> anyhow::Result<Summary> {
    let load = args.load.clone();
    let server = NatsServer::open(&args.target)?;
    let admin = async_nats::connect(server.url.as_str()).await?;
    let js = jetstream::new(admin.clone());
    let _ = js.delete_stream(STREAM).await;
    let config = StreamConfig {
        name: STREAM.into(),
        subjects: vec!["sbload.>".into()],
        storage: StorageType::File,
        ..Default::default()
    };
    js.create_stream(config).await?;
    let mut connections = Vec::with_capacity(2 * load.pairs);
    for j in 0..2 * load.pairs {
        let client = ConnectOptions::new()
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .connect(server.url.as_str())
            .await?;
        let subscription = client.subscribe(subject(j ^ 1)).await?;
        client.flush().await?;
        connections.push((client, subscription));
    }
    let counters = Arc::new(Counters::default());
    let progress = report::progress(counters.clone(), args.target.json);
    let done = Arc::new(AtomicBool::new(false));
    let (acks_tx, mut acks_rx) = mpsc::channel(2 * load.pairs);
    let epoch = Instant::now();
    let mut cpu = CpuWindow::start(server.pid);
    let mut receivers = Vec::with_capacity(connections.len());
    for (j, (client, subscription)) in connections.into_iter().enumerate() {
        let plan = Plan::new(epoch, j / 2, load.pairs, load.rate, load.duration);
        let js = jetstream::ContextBuilder::new().max_ack_inflight(load.window.max(1)).build(client);
        let publisher =
            Publisher { j, plan, load: load.clone(), msg_id: args.msg_id, counters: counters.clone() };
        tokio::spawn(publisher.run(js, acks_tx.clone()));
        receivers.push(tokio::spawn(receive(subscription, j, plan, done.clone(), counters.clone())));
    }
    drop(acks_tx);
    let mut sent: Vec<Sent> = (0..receivers.len()).map(|_| Sent::new()).collect();
    while let Some((j, s)) = acks_rx.recv().await {
        sent[j] = s?;
    }
    cpu.mark_busy_end();
    done.store(true, Ordering::Relaxed);
    let mut received = Vec::with_capacity(receivers.len());
    for receiver in receivers {
        received.push(receiver.await?);
    }
    let totals = Totals::new(&sent, &received)?;
    let cpu = cpu.finish(totals.delivered);
    progress.abort();
    let traffic = Traffic {
        scenario: "nats-chat",
        transport: "nats",
        connections: 2 * load.pairs as u64,
        offered_rate: load.rate,
        duration_s: load.duration,
        sent: counters.sent.load(Ordering::Relaxed),
        acked: totals.acked,
        delivered: totals.delivered,
    };
    let mut summary = totals.summary(traffic, args.target.json);
    summary.server_rss_bytes = server.pid.and_then(setup::rss_bytes);
    summary.set_cpu(&cpu);
    summary.notes = vec![
        "JetStream file storage; nats-server 2.9 has no per-write sync setting (it syncs \
         periodically), while Switchboard fsyncs before every acknowledgement"
            .into(),
        "receivers are core NATS subscribers on the stream's subjects".into(),
    ];
    if args.msg_id {
        summary.notes.push("every publish carries Nats-Msg-Id (JetStream de-duplication)".into());
    }
    Ok(summary)
}

/// Side j's subject: `sbload.<pair>.<tag>`.
fn subject(side: usize) -> String {
    format!("sbload.{}.{}", side / 2, shape::tag(side) as char)
}

/// One side's JetStream publisher.
struct Publisher {
    j: usize,
    plan: Plan,
    load: LoadArgs,
    msg_id: bool,
    counters: Arc<Counters>,
}

impl Publisher {
    /// Publish on schedule; a companion task awaits the acknowledgements in order (at most
    /// `window` outstanding). Reports the tally, or the error that stopped it.
    async fn run(self, js: JetStream, report: mpsc::Sender<(usize, anyhow::Result<Sent>)>) {
        // The collector holds one acknowledgement while the channel holds the rest.
        let (acks_tx, acks_rx) = mpsc::channel(self.load.window.max(2) - 1);
        let collector = tokio::spawn(collect(acks_rx, self.plan, self.counters.clone()));
        let published = self.publish(&js, acks_tx).await;
        let sent = match (collector.await, published) {
            (Ok(sent), Ok(())) => Ok(sent),
            (Err(e), _) => Err(e.into()),
            (_, Err(e)) => Err(e),
        };
        let _ = report.send((self.j, sent)).await;
    }

    async fn publish(
        &self,
        js: &JetStream,
        acks: mpsc::Sender<(u64, jetstream::context::PublishAckFuture)>,
    ) -> anyhow::Result<()> {
        let subject = Subject::from(subject(self.j));
        let me = shape::tag(self.j);
        let mut k = 0u64;
        while let Some(at) = self.plan.intended(k) {
            if at > Instant::now() {
                tokio::time::sleep_until(at.into()).await;
            }
            let text = payload::text(me, k, self.plan.ns(at), self.load.size);
            let mut message = PublishMessage::build();
            if self.msg_id {
                message = message.message_id(std::str::from_utf8(&text[..payload::ID_LEN])?);
            }
            let ack = js.send_publish(subject.clone(), message.payload(Bytes::from(text))).await?;
            self.counters.sent.fetch_add(1, Ordering::Relaxed);
            if acks.send((k, ack)).await.is_err() {
                break;
            }
            k += 1;
        }
        Ok(())
    }
}

async fn collect(
    mut acks: mpsc::Receiver<(u64, jetstream::context::PublishAckFuture)>,
    plan: Plan,
    counters: Arc<Counters>,
) -> Sent {
    let mut sent = Sent::new();
    while let Some((k, ack)) = acks.recv().await {
        match ack.await {
            Ok(_) => sent.ack(k, plan.us_since(k, Instant::now()), &counters),
            Err(_) => sent.error(1, &counters),
        }
    }
    sent
}

/// Tally the other side's messages until the run is done and nothing arrived for
/// [`QUIET`] (at the latest [`DRAIN_MAX`] after the end). One timer, reset only on checks.
async fn receive(
    mut subscription: Subscriber,
    j: usize,
    plan: Plan,
    done: Arc<AtomicBool>,
    counters: Arc<Counters>,
) -> Received {
    let peer = shape::tag(j ^ 1);
    let drain_until = plan.end + DRAIN_MAX;
    let mut received = Received::new();
    let mut quiet_since: Option<Instant> = None;
    let timer = tokio::time::sleep(DONE_CHECK);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            message = subscription.next() => {
                let Some(message) = message else { break };
                let now = Instant::now();
                if let Some((k, ns)) = payload::parse(&message.payload, peer) {
                    received.note(k, plan.ns(now).saturating_sub(ns) / 1000, &counters);
                    quiet_since = quiet_since.map(|_| now);
                }
            }
            () = &mut timer => {
                let now = Instant::now();
                if quiet_since.is_none() && done.load(Ordering::Relaxed) {
                    quiet_since = Some(now);
                }
                if quiet_since.is_some_and(|q| now >= q + QUIET) || now >= drain_until {
                    break;
                }
                timer.as_mut().reset((now + DONE_CHECK).into());
            }
        }
    }
    received
}
