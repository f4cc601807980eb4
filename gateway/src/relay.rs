//! Cluster mode: any node accepts any client (docs/CLUSTER.md, "Any node, any client").
//!
//! A client's requests about a session another node owns are relayed there, as the very
//! frames the client sent. The owner runs them in a *leg*: a connection of its own, over
//! the relay's transport instead of a socket, driven by the same connection loop as every
//! WebSocket and QUIC connection, with the role the client's own node gave it. Everything
//! the leg answers or delivers (acknowledgements, the session's live messages) comes back
//! already encoded for the client and goes out on its socket as it is. The relay's wire is
//! `switchboard_cluster::bus`.
//!
//! Failure handling: when the owner of a leg is gone (its heartbeat lapsed) or ends the
//! leg (its shard moved away, it shuts down), the client's connection is closed with
//! `wrong_node` (close code 4009): the client reconnects, to any node, and resumes. A leg
//! whose client's node is gone is ended the same way. Legs never relay further: a leg's
//! request for a shard its node does not own is answered `wrong_node`.

use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use switchboard_cluster::bus::{Bus, ChannelEvent, Delivery, Op, RoutingMessage};
use switchboard_engine::outbox::{Broadcast, ConnId};
use switchboard_engine::replica::Peers;
use switchboard_engine::routing::across::{Granted, RouteWire, PRESENCE_EVERY};
use switchboard_engine::{AgentId, Engine, Outbox};
use switchboard_protocol::codec::{self, Encoding};
use tokio::sync::{mpsc, oneshot};

use crate::connection::{self, Closing, FrameSink, FrameSource, Inbound, Link, SinkError, Transport};
use crate::drain::Drain;
use crate::role::Role;
use crate::GatewayConfig;

/// Frames waiting for one leg: more than a connection may have in flight
/// (`connection_requests_max`), so a well-behaved client never fills it; one that does
/// loses its leg (and reconnects), never another client's.
const LEG_FRAMES_QUEUED_MAX: usize = 512;

/// Channel events waiting to be published to the other nodes; beyond it they are dropped
/// (counted): members elsewhere then see the message in `channel_history`.
const CHANNEL_EVENTS_QUEUED_MAX: usize = 4_096;

/// Routing messages (presence, grants, declines, assignments) waiting to be sent.
const ROUTING_QUEUED_MAX: usize = 4_096;

/// How often dead nodes' legs and relayed connections are looked for.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// The relay of this node. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("node", &self.inner.bus.node()).finish()
    }
}

struct Inner {
    bus: Bus,
    engine: Engine,
    /// Client connections of this node with legs elsewhere: their queue, and where.
    clients: DashMap<ConnId, (Outbox, Vec<String>)>,
    /// Legs this node hosts, by (client's node, connection id): their frames in.
    legs: DashMap<(String, u64), (mpsc::Sender<Inbound>, Encoding)>,
}

impl Relay {
    /// Subscribe to this node's relay subjects and start hosting legs. `config` is what
    /// legs run with (it must have no relay: legs never relay further).
    pub async fn start(
        bus: Bus,
        engine: Engine,
        config: Arc<GatewayConfig>,
        drain: Drain,
    ) -> Result<Relay, String> {
        let legs_in = bus.legs_inbox().await?;
        let clients_in = bus.clients_inbox().await?;
        let relay =
            Relay { inner: Arc::new(Inner { bus, engine, clients: DashMap::new(), legs: DashMap::new() }) };
        let channels_in = relay.inner.bus.channels_inbox().await?;
        tokio::spawn(relay.clone().host_legs(legs_in, config, drain));
        tokio::spawn(relay.clone().feed_clients(clients_in));
        tokio::spawn(relay.clone().watch());
        tokio::spawn(relay.clone().feed_channel_members(channels_in));
        let (tx, rx) = mpsc::channel(CHANNEL_EVENTS_QUEUED_MAX);
        tokio::spawn(relay.clone().send_channel_events(rx));
        let routing_in = relay.inner.bus.routing_inbox().await?;
        let (routing, routing_out) = mpsc::channel(ROUTING_QUEUED_MAX);
        tokio::spawn(relay.clone().send_routing(routing_out));
        tokio::spawn(relay.clone().feed_routing(routing_in));
        tokio::spawn(relay.clone().tell_presence());
        let node = relay.inner.bus.node().to_string();
        relay.inner.engine.set_peers(Arc::new(NodePeers { node, events: tx, routing }));
        Ok(relay)
    }

    /// The node that owns `session` now, when it is not this one.
    pub fn owner_elsewhere(&self, session: u64) -> Option<Arc<str>> {
        self.inner.engine.ownership().owner_elsewhere(session, self.inner.bus.node())
    }

    /// Send a client's frame to its leg on `node`, opening the leg first.
    pub async fn forward(
        &self,
        conn: ConnId,
        outbox: &Outbox,
        role: Role,
        encoding: Encoding,
        node: &str,
        frame: Bytes,
    ) {
        let opened = {
            let mut entry = self.inner.clients.entry(conn).or_insert_with(|| (outbox.clone(), Vec::new()));
            if entry.1.iter().any(|n| n == node) {
                true
            } else {
                entry.1.push(node.to_string());
                false
            }
        };
        if !opened {
            let role = match role {
                Role::Agent(id) => format!("agent:{id}"),
                Role::Visitor(session) => format!("visitor:{session}"),
                Role::Anonymous => "anonymous".into(),
            };
            let encoding = match encoding {
                Encoding::Json => "json",
                Encoding::MsgPack => "msgpack",
            };
            metrics::counter!("switchboard_cluster_legs_opened_total").increment(1);
            self.inner
                .bus
                .to_leg(node, conn, Op::Open { role, encoding: encoding.into() }, Bytes::new())
                .await;
        }
        metrics::counter!("switchboard_cluster_relayed_frames_total", "way" => "out").increment(1);
        self.inner.bus.to_leg(node, conn, Op::Frame, frame).await;
    }

    /// The client connection `conn` ended: end its legs.
    pub async fn leave(&self, conn: ConnId) {
        if let Some((_, (_, nodes))) = self.inner.clients.remove(&conn) {
            for node in nodes {
                self.inner.bus.to_leg(&node, conn, Op::Close, Bytes::new()).await;
            }
        }
    }

    async fn host_legs(self, mut inbox: mpsc::Receiver<Delivery>, config: Arc<GatewayConfig>, drain: Drain) {
        while let Some(delivery) = inbox.recv().await {
            let key = (delivery.from.clone(), delivery.conn);
            match delivery.op {
                Op::Open { role, encoding } => {
                    let (Some(role), Some(encoding)) = (parse_role(&role), parse_encoding(&encoding)) else {
                        metrics::counter!("switchboard_cluster_relay_malformed_total").increment(1);
                        continue;
                    };
                    self.open_leg(key, role, encoding, config.clone(), &drain);
                }
                Op::Frame => {
                    let sent = self.inner.legs.get(&key).map(|leg| {
                        let (tx, encoding) = &*leg;
                        tx.try_send(Inbound::Frame { bytes: delivery.payload.to_vec(), encoding: *encoding })
                    });
                    if !matches!(sent, Some(Ok(()))) {
                        // No such leg (this node restarted) or one too far behind: the
                        // client reconnects and resumes.
                        self.inner.legs.remove(&key);
                        self.inner.bus.to_client(&key.0, key.1, Op::Close, Bytes::new()).await;
                    }
                }
                Op::Close => {
                    self.inner.legs.remove(&key);
                }
            }
        }
    }

    fn open_leg(
        &self,
        key: (String, u64),
        role: Role,
        encoding: Encoding,
        config: Arc<GatewayConfig>,
        drain: &Drain,
    ) {
        let (tx, rx) = mpsc::channel(LEG_FRAMES_QUEUED_MAX);
        let ours = tx.clone();
        self.inner.legs.insert(key.clone(), (tx, encoding));
        let link = Link {
            transport: Transport::Relay,
            peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            live: drain.enter(),
            console_cookie: None,
            client: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            assumed: Some(role),
        };
        let source = LegSource { rx };
        let sink = LegSink {
            bus: self.inner.bus.clone(),
            node: key.0.clone(),
            conn: key.1,
            queue: VecDeque::new(),
            sending: None,
        };
        let engine = self.inner.engine.clone();
        let relay = self.clone();
        self.inner.engine.spawn_on_shard(key.1, async move {
            Box::pin(connection::run(engine, config, link, encoding, source, sink)).await;
            // Only this leg's entry: a repeated `open` may have replaced it with another.
            relay.inner.legs.remove_if(&key, |_, (tx, _)| tx.same_channel(&ours));
        });
    }

    async fn feed_clients(self, mut inbox: mpsc::Receiver<Delivery>) {
        while let Some(delivery) = inbox.recv().await {
            let Some(client) = self.inner.clients.get(&delivery.conn) else { continue };
            match delivery.op {
                Op::Frame => {
                    metrics::counter!("switchboard_cluster_relayed_frames_total", "way" => "in").increment(1);
                    client.0.relay(delivery.payload);
                }
                Op::Close => client.0.moved(),
                Op::Open { .. } => {}
            }
        }
    }

    /// End what depends on a node that is gone.
    async fn watch(self) {
        let mut every = tokio::time::interval(WATCH_EVERY);
        loop {
            every.tick().await;
            let live = self.inner.engine.ownership().live_nodes();
            if live.is_empty() {
                continue;
            }
            for client in self.inner.clients.iter() {
                if client.1.iter().any(|node| !live.contains(node)) {
                    client.0.moved();
                }
            }
            self.inner.legs.retain(|(node, _), _| live.contains(node));
        }
    }
}

impl Relay {
    /// Publish this node's channel events for members elsewhere, encoded once per encoding.
    async fn send_channel_events(self, mut events: mpsc::Receiver<(Vec<AgentId>, Arc<Broadcast>)>) {
        let engine = self.inner.engine.clone();
        while let Some((members, event)) = events.recv().await {
            let encode = |encoding| {
                event
                    .encoded(encoding, |e| codec::encode_server(&crate::convert::event(&engine, e), encoding))
            };
            // Only the nodes where one of them is connected (none: nothing is sent).
            let nodes = engine.nodes_with(&members);
            if nodes.is_empty() {
                continue;
            }
            let (json, msgpack) = (encode(Encoding::Json), encode(Encoding::MsgPack));
            for node in nodes {
                self.inner.bus.channel_event(&node, &members, &json, &msgpack).await;
            }
        }
    }

    /// Other nodes' channel events, to the members connected here.
    async fn feed_channel_members(self, mut events: mpsc::Receiver<ChannelEvent>) {
        while let Some(event) = events.recv().await {
            let frames = Arc::new([event.json, event.msgpack]);
            self.inner.engine.tell_members_here(&event.members, &frames);
        }
    }
}

/// The engine's view of the other nodes: what it tells them, handed to the relay's
/// senders (bounded; never waited for).
struct NodePeers {
    node: String,
    events: mpsc::Sender<(Vec<AgentId>, Arc<Broadcast>)>,
    routing: mpsc::Sender<RoutingOut>,
}

/// A routing message on its way out.
enum RoutingOut {
    Tell(Option<String>, Bytes),
    Ask(String, Bytes, oneshot::Sender<Result<Granted, String>>),
}

impl Peers for NodePeers {
    fn node(&self) -> &str {
        &self.node
    }

    fn tell_members(&self, members: Vec<AgentId>, event: Arc<Broadcast>) {
        if self.events.try_send((members, event)).is_err() {
            metrics::counter!("switchboard_cluster_relay_send_failures_total").increment(1);
        }
    }

    fn route(&self, node: Option<&str>, wire: RouteWire) {
        let out = RoutingOut::Tell(node.map(str::to_string), wire.encode().into());
        if self.routing.try_send(out).is_err() {
            metrics::counter!("switchboard_cluster_relay_send_failures_total").increment(1);
        }
    }

    fn ask(&self, node: &str, wire: RouteWire) -> oneshot::Receiver<Result<Granted, String>> {
        let (tx, rx) = oneshot::channel();
        if let Err(refused) =
            self.routing.try_send(RoutingOut::Ask(node.to_string(), wire.encode().into(), tx))
        {
            metrics::counter!("switchboard_cluster_relay_send_failures_total").increment(1);
            if let mpsc::error::TrySendError::Full(RoutingOut::Ask(_, _, tx)) = refused {
                let _ = tx.send(Err("the relay is busy".into()));
            }
        }
        rx
    }
}

impl Relay {
    /// Send the engine's routing messages; each grant request waits for its answer on a
    /// task of its own.
    async fn send_routing(self, mut out: mpsc::Receiver<RoutingOut>) {
        while let Some(message) = out.recv().await {
            match message {
                RoutingOut::Tell(node, payload) => self.inner.bus.routing(node.as_deref(), payload).await,
                RoutingOut::Ask(node, payload, answer) => {
                    let bus = self.inner.bus.clone();
                    tokio::spawn(async move {
                        let granted = bus.ask(&node, payload).await.and_then(|b| Granted::decode(&b));
                        let _ = answer.send(granted);
                    });
                }
            }
        }
    }

    /// Other nodes' routing messages, to the engine; grant requests answered.
    async fn feed_routing(self, mut inbox: mpsc::Receiver<RoutingMessage>) {
        while let Some(message) = inbox.recv().await {
            let Ok(wire) = RouteWire::decode(&message.payload) else {
                metrics::counter!("switchboard_cluster_relay_malformed_total").increment(1);
                continue;
            };
            match (wire, message.reply) {
                (RouteWire::Grant { department, agent, session }, Some(reply)) => {
                    let granted = self.inner.engine.grant(department, agent, session);
                    let bus = self.inner.bus.clone();
                    tokio::spawn(async move {
                        let granted = granted.await.unwrap_or(Granted::NoOffer);
                        bus.answer(reply, granted.encode().into()).await;
                    });
                }
                (wire, _) => self.inner.engine.routing_message(&message.from, wire),
            }
        }
    }

    /// Every [`PRESENCE_EVERY`]: the agents connected here, to every node.
    async fn tell_presence(self) {
        let mut every = tokio::time::interval(PRESENCE_EVERY);
        loop {
            every.tick().await;
            let wire = self.inner.engine.presence_tick();
            self.inner.bus.routing(None, wire.encode().into()).await;
        }
    }
}

fn parse_role(role: &str) -> Option<Role> {
    match role.split_once(':') {
        Some(("agent", id)) => id.parse().ok().map(Role::Agent),
        Some(("visitor", session)) => session.parse().ok().map(Role::Visitor),
        None if role == "anonymous" => Some(Role::Anonymous),
        _ => None,
    }
}

fn parse_encoding(encoding: &str) -> Option<Encoding> {
    match encoding {
        "json" => Some(Encoding::Json),
        "msgpack" => Some(Encoding::MsgPack),
        _ => None,
    }
}

/// A leg's incoming frames: what the client's node relayed.
struct LegSource {
    rx: mpsc::Receiver<Inbound>,
}

impl FrameSource for LegSource {
    fn next_frame(&mut self) -> impl Future<Output = Option<Inbound>> + Send {
        self.rx.recv()
    }
}

/// A leg's outgoing frames, published to the client's node. Cancel-safe: a batch being
/// published is kept in the sink until done.
struct LegSink {
    bus: Bus,
    node: String,
    conn: u64,
    queue: VecDeque<Bytes>,
    sending: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl LegSink {
    fn publish(&self, frames: Vec<Bytes>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let (bus, node, conn) = (self.bus.clone(), self.node.clone(), self.conn);
        Box::pin(async move {
            for frame in frames {
                bus.to_client(&node, conn, Op::Frame, frame).await;
            }
        })
    }
}

impl FrameSink for LegSink {
    type Source = LegSource;

    fn push(&mut self, frame: Bytes) {
        self.queue.push_back(frame);
    }

    fn queued(&self) -> usize {
        self.queue.len()
    }

    async fn drive(&mut self) -> Result<(), SinkError> {
        let mut sent = false;
        loop {
            if let Some(sending) = self.sending.as_mut() {
                sending.await;
                self.sending = None;
                sent = true;
            }
            if self.queue.is_empty() {
                if sent {
                    return Ok(());
                }
                return std::future::pending().await;
            }
            let frames: Vec<Bytes> = self.queue.drain(..).collect();
            self.sending = Some(self.publish(frames));
        }
    }

    async fn close(mut self, closing: Option<Closing>, _source: LegSource) {
        if let Some(sending) = self.sending.take() {
            sending.await;
        }
        let mut frames: Vec<Bytes> = self.queue.drain(..).collect();
        if let Some(closing) = closing {
            frames.push(closing.error_frame);
        }
        self.publish(frames).await;
        self.bus.to_client(&self.node, self.conn, Op::Close, Bytes::new()).await;
    }
}
