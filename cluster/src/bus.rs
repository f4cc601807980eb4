//! The relay's wire on core NATS (docs/CLUSTER.md, "Any node, any client"): how a node
//! sends a client's frames to the node that owns the client's session, and how that node's
//! answers and events come back. Plain publish and subscribe, no JetStream: nothing here is
//! durable (what must be is in the log); a frame lost with a dead node is recovered by the
//! client's resume.
//!
//! | subject | carries |
//! |---|---|
//! | `switchboard.relay.<node>.leg` | to `<node>`: a client's frames for the leg it hosts (`open`, `frame`, `close`) |
//! | `switchboard.relay.<node>.client` | to `<node>`: a leg's frames for its client connection (`frame`, `close`) |
//! | `switchboard.relay.<node>.events` | to `<node>`, only while one of the agents is connected there (as the presence messages tell): a channel's event or an offer, for those agents |
//! | `switchboard.routing` | to every node: a routing message for all (the agents connected to the sender) |
//! | `switchboard.relay.<node>.routing` | to `<node>`: a routing message (a decline, an assignment) |
//! | `switchboard.relay.<node>.grant` | to `<node>`, a department's leader: a request for a grant, answered on the request's reply subject |
//!
//! Headers: `Sb-From` (the sending node), `Sb-Conn` (the client connection's id on its own
//! node), `Sb-Op`, and on `open` `Sb-Role` (`agent:<id>`, `visitor:<session>`) and
//! `Sb-Encoding` (`json`, `msgpack`). Routing payloads are the engine's
//! `routing::across::RouteWire`, MessagePack. A node subscribes to its own subjects and
//! to `switchboard.routing`.

use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// What a relay message does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Start a leg for the connection, with the role its own node gave it.
    Open { role: String, encoding: String },
    /// One encoded frame.
    Frame,
    /// The connection (or the leg) ended.
    Close,
}

/// A relay message received.
#[derive(Debug)]
pub struct Delivery {
    pub from: String,
    pub conn: u64,
    pub op: Op,
    pub payload: Bytes,
}

/// Deliveries queued between the subscription and the relay.
const DELIVERIES_QUEUED_MAX: usize = 4_096;

/// The subject of routing messages for every node.
const ROUTING_SUBJECT: &str = "switchboard.routing";

/// How long a grant request waits for the department's leader.
pub const GRANT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A routing message from another node: who sent it, and the engine's encoding of it.
#[derive(Debug)]
pub struct RoutingMessage {
    pub from: String,
    pub payload: Bytes,
    /// Set on a grant request: where the answer goes.
    pub reply: Option<async_nats::Subject>,
}

/// A channel event from another node: its members, and the frame in both encodings.
#[derive(Debug)]
pub struct ChannelEvent {
    pub members: Vec<u64>,
    pub json: Bytes,
    pub msgpack: Bytes,
}

/// This node's end of the relay. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    node: String,
}

fn subject(node: &str, to: &str) -> String {
    format!("switchboard.relay.{node}.{to}")
}

impl Bus {
    pub(crate) fn new(client: async_nats::Client, node: String) -> Bus {
        Bus { client, node }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Send to the leg of connection `conn` (ours) hosted on `node`.
    pub async fn to_leg(&self, node: &str, conn: u64, op: Op, payload: Bytes) {
        self.send(subject(node, "leg"), conn, op, payload).await;
    }

    /// Send to the client connection `conn` of `node` (a leg's output).
    pub async fn to_client(&self, node: &str, conn: u64, op: Op, payload: Bytes) {
        self.send(subject(node, "client"), conn, op, payload).await;
    }

    async fn send(&self, subject: String, conn: u64, op: Op, payload: Bytes) {
        let mut headers = HeaderMap::new();
        headers.insert("Sb-From", self.node.as_str());
        headers.insert("Sb-Conn", conn.to_string().as_str());
        match op {
            Op::Open { role, encoding } => {
                headers.insert("Sb-Op", "open");
                headers.insert("Sb-Role", role.as_str());
                headers.insert("Sb-Encoding", encoding.as_str());
            }
            Op::Frame => headers.insert("Sb-Op", "frame"),
            Op::Close => headers.insert("Sb-Op", "close"),
        }
        if let Err(e) = self.client.publish_with_headers(subject, headers, payload).await {
            metrics::counter!("switchboard_cluster_relay_send_failures_total").increment(1);
            tracing::debug!(target: "cluster", error = %e, "relay send failed");
        }
    }

    /// Tell `node` an event for those of `members` connected there (JSON and MessagePack
    /// frames).
    pub async fn channel_event(&self, node: &str, members: &[u64], json: &[u8], msgpack: &[u8]) {
        let mut headers = HeaderMap::new();
        headers.insert("Sb-From", self.node.as_str());
        let list: Vec<String> = members.iter().map(u64::to_string).collect();
        headers.insert("Sb-Members", list.join(",").as_str());
        let mut payload = Vec::with_capacity(4 + json.len() + msgpack.len());
        payload.extend_from_slice(&(json.len() as u32).to_be_bytes());
        payload.extend_from_slice(json);
        payload.extend_from_slice(msgpack);
        if let Err(e) =
            self.client.publish_with_headers(subject(node, "events"), headers, payload.into()).await
        {
            metrics::counter!("switchboard_cluster_relay_send_failures_total").increment(1);
            tracing::debug!(target: "cluster", error = %e, "channel event send failed");
        }
    }

    /// A routing message to `node`, or to every node (`None`).
    pub async fn routing(&self, node: Option<&str>, payload: Bytes) {
        let subject = node.map_or_else(|| ROUTING_SUBJECT.to_string(), |node| subject(node, "routing"));
        let mut headers = HeaderMap::new();
        headers.insert("Sb-From", self.node.as_str());
        if let Err(e) = self.client.publish_with_headers(subject, headers, payload).await {
            metrics::counter!("switchboard_cluster_relay_send_failures_total").increment(1);
            tracing::debug!(target: "cluster", error = %e, "routing message send failed");
        }
    }

    /// Ask `node` for a grant; its answer, or why there is none within [`GRANT_TIMEOUT`].
    pub async fn ask(&self, node: &str, payload: Bytes) -> Result<Bytes, String> {
        let mut headers = HeaderMap::new();
        headers.insert("Sb-From", self.node.as_str());
        let request = self.client.request_with_headers(subject(node, "grant"), headers, payload);
        match tokio::time::timeout(GRANT_TIMEOUT, request).await {
            Ok(Ok(answer)) => Ok(answer.payload),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("{node} did not answer within {GRANT_TIMEOUT:?}")),
        }
    }

    /// Answer a grant request.
    pub async fn answer(&self, reply: async_nats::Subject, payload: Bytes) {
        if let Err(e) = self.client.publish(reply, payload).await {
            metrics::counter!("switchboard_cluster_relay_send_failures_total").increment(1);
            tracing::debug!(target: "cluster", error = %e, "grant answer send failed");
        }
    }

    /// Routing messages from the other nodes: for every node, for this one, and grant
    /// requests (with their reply subject).
    pub async fn routing_inbox(&self) -> Result<mpsc::Receiver<RoutingMessage>, String> {
        let (tx, rx) = mpsc::channel(DELIVERIES_QUEUED_MAX);
        for name in
            [ROUTING_SUBJECT.to_string(), subject(&self.node, "routing"), subject(&self.node, "grant")]
        {
            let mut subscription = self.client.subscribe(name).await.map_err(|e| e.to_string())?;
            let (tx, me) = (tx.clone(), self.node.clone());
            tokio::spawn(async move {
                while let Some(message) = subscription.next().await {
                    let from = message
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("Sb-From"))
                        .map(|v| v.as_str().to_string());
                    let Some(from) = from else {
                        metrics::counter!("switchboard_cluster_relay_malformed_total").increment(1);
                        continue;
                    };
                    if from == me {
                        continue;
                    }
                    let delivery = RoutingMessage { from, payload: message.payload, reply: message.reply };
                    if tx.send(delivery).await.is_err() {
                        return;
                    }
                }
            });
        }
        Ok(rx)
    }

    /// Events from the other nodes for agents connected here.
    pub async fn channels_inbox(&self) -> Result<mpsc::Receiver<ChannelEvent>, String> {
        let mut subscription =
            self.client.subscribe(subject(&self.node, "events")).await.map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel(DELIVERIES_QUEUED_MAX);
        let me = self.node.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let Some(headers) = message.headers.as_ref() else { continue };
                if headers.get("Sb-From").map(|v| v.as_str()) == Some(me.as_str()) {
                    continue;
                }
                let Some(event) = decode_channel_event(headers, &message.payload) else {
                    metrics::counter!("switchboard_cluster_relay_malformed_total").increment(1);
                    continue;
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// What other nodes send to the legs hosted here.
    pub async fn legs_inbox(&self) -> Result<mpsc::Receiver<Delivery>, String> {
        self.inbox(subject(&self.node, "leg")).await
    }

    /// What legs on other nodes send to this node's client connections.
    pub async fn clients_inbox(&self) -> Result<mpsc::Receiver<Delivery>, String> {
        self.inbox(subject(&self.node, "client")).await
    }

    async fn inbox(&self, subject: String) -> Result<mpsc::Receiver<Delivery>, String> {
        let mut subscription = self.client.subscribe(subject).await.map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel(DELIVERIES_QUEUED_MAX);
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let Some(delivery) = decode(message) else {
                    metrics::counter!("switchboard_cluster_relay_malformed_total").increment(1);
                    continue;
                };
                if tx.send(delivery).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

fn decode(message: async_nats::Message) -> Option<Delivery> {
    let headers = message.headers.as_ref()?;
    let get = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
    let op = match get("Sb-Op")?.as_str() {
        "open" => Op::Open { role: get("Sb-Role")?, encoding: get("Sb-Encoding")? },
        "frame" => Op::Frame,
        "close" => Op::Close,
        _ => return None,
    };
    Some(Delivery {
        from: get("Sb-From")?,
        conn: get("Sb-Conn")?.parse().ok()?,
        op,
        payload: message.payload,
    })
}

fn decode_channel_event(headers: &HeaderMap, payload: &Bytes) -> Option<ChannelEvent> {
    let members = headers.get("Sb-Members")?.as_str();
    let members =
        members.split(',').filter(|m| !m.is_empty()).map(|m| m.parse().ok()).collect::<Option<Vec<u64>>>()?;
    let len = u32::from_be_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    let json = payload.get(4..4 + len)?;
    let msgpack = payload.get(4 + len..)?;
    Some(ChannelEvent { members, json: payload.slice_ref(json), msgpack: payload.slice_ref(msgpack) })
}
