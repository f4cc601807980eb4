//! A Switchboard client over WebSocket or QUIC, used by the integration tests and the load
//! generator. It speaks only the wire protocol (`switchboard-protocol`), never the engine.
//!
//! [`Conversation`] layers the protocol's idempotency and resume rules over a client: fresh
//! message ids, re-sending unacknowledged messages with the same ids, in-order application
//! by seq, and paged resume.
//!
//! A [`Client`] owns one connection. Requests get fresh request ids and [`Client::request`]
//! waits for the frame that answers them; events and unmatched frames queue up for
//! [`Client::next_event`]. [`Client::send_raw`] sends arbitrary WebSocket messages, for
//! testing how the server treats bad input. For load generators, [`Client::send_encoded`]
//! sends a frame the caller encoded (answered on the event queue) and [`Client::take_raw`]
//! hands over every later frame undecoded, so the caller reads only the fields it needs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use switchboard_protocol::codec::{self, Encoding};
use switchboard_protocol::{ClientFrame, ErrorCode, ReqId, Request, ServerFrame};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

pub use conversation::{Conversation, Side};
pub use quic::QuicConnector;
pub use tokio_tungstenite::tungstenite;

mod conversation;
mod quic;
mod ws;

/// Pending requests at which abandoned waiters are pruned.
const WAITERS_PRUNE_AT: usize = 4096;

/// Events buffered before the client stops reading (and the server sees a slow client).
const EVENT_BUFFER: usize = 65_536;

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting or the WebSocket handshake failed.
    #[error("connect: {0}")]
    Connect(String),
    /// The connection is closed.
    #[error("connection closed: {0:?}")]
    Closed(Option<(u16, String)>),
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// The server answered with an error frame.
    #[error("server error {code}: {message}")]
    Server { code: ErrorCode, message: String },
}

type Waiters = Arc<Mutex<HashMap<ReqId, oneshot::Sender<ServerFrame>>>>;
/// Where undecoded frames go once the client asked for them ([`Client::take_raw`]).
type RawFrames = Arc<OnceLock<mpsc::Sender<Bytes>>>;

/// What a client hands its transport's writer.
pub(crate) enum Outgoing {
    /// An encoded frame (the transport adds its own framing).
    Frame(Vec<u8>),
    /// A WebSocket message as is (ignored by QUIC).
    WsRaw(Message),
    /// Raw bytes on the QUIC stream, without a length prefix (ignored by WebSocket).
    QuicRaw(Vec<u8>),
}

/// The reading side shared by all transports: answers go to their waiters, everything
/// else to the event queue.
pub(crate) struct Router {
    waiters: Waiters,
    events: mpsc::Sender<ServerFrame>,
    closed: watch::Sender<Option<(u16, String)>>,
    raw: RawFrames,
}

impl Router {
    /// Deliver one frame's bytes: undecoded when the client asked for raw frames, else
    /// decoded and routed. False when the client is gone.
    pub(crate) async fn deliver(&self, bytes: Bytes, encoding: Encoding) -> bool {
        if let Some(raw) = self.raw.get() {
            let _ = raw.send(bytes).await;
            return !self.closed.is_closed();
        }
        match codec::decode_server(&bytes, encoding) {
            Ok(frame) => self.route(frame).await,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable frame from server");
                true
            }
        }
    }

    /// Deliver one frame; false when the client is gone. Once nobody reads events any
    /// more, events are dropped but answers still reach their waiters.
    pub(crate) async fn route(&self, frame: ServerFrame) -> bool {
        let waiter = frame.re().and_then(|re| self.waiters.lock().expect("waiters").remove(&re));
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(frame);
            }
            None => {
                let _ = self.events.send(frame).await;
            }
        }
        !self.closed.is_closed()
    }

    /// The connection closed with this code and reason (the first report wins).
    pub(crate) fn closed(&self, code: u16, reason: String) {
        if self.closed.borrow().is_none() {
            let _ = self.closed.send(Some((code, reason)));
        }
        self.waiters.lock().expect("waiters").clear();
    }
}

/// One connection to a Switchboard server.
pub struct Client {
    out: mpsc::Sender<Outgoing>,
    waiters: Waiters,
    events: mpsc::Receiver<ServerFrame>,
    closed: watch::Receiver<Option<(u16, String)>>,
    next_req: AtomicU64,
    encoding: Encoding,
    raw: RawFrames,
    /// How long [`Client::request`] waits for an answer.
    pub timeout: Duration,
}

impl Client {
    /// Connect over WebSocket to `ws://host:port/ws` (the encoding parameter is added here).
    pub async fn connect(base_url: &str, encoding: Encoding) -> Result<Client, ClientError> {
        ws::connect(base_url, encoding, None).await
    }

    /// Connect to the first of `base_urls` that answers, in order (a cluster's nodes: when
    /// one is down, the next). Returns the client and the index of the address it reached;
    /// the error is the last address's.
    pub async fn connect_any(
        base_urls: &[String],
        encoding: Encoding,
    ) -> Result<(Client, usize), ClientError> {
        let mut last = ClientError::Closed(None);
        for (i, url) in base_urls.iter().enumerate() {
            match ws::connect(url, encoding, None).await {
                Ok(client) => return Ok((client, i)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connect over WebSocket from a chosen local address (spreading many clients over
    /// 127.0.0.x lifts the ~28,000-connections-per-source-address limit).
    pub async fn connect_from(
        base_url: &str,
        encoding: Encoding,
        local: std::net::IpAddr,
    ) -> Result<Client, ClientError> {
        ws::connect(base_url, encoding, Some(local)).await
    }

    /// Assemble a client over a transport's outgoing channel; the transport's reader feeds
    /// the returned [`Router`].
    fn assemble(out: mpsc::Sender<Outgoing>, encoding: Encoding) -> (Client, Router) {
        let waiters: Waiters = Arc::default();
        let (events_tx, events) = mpsc::channel(EVENT_BUFFER);
        let (closed_tx, closed) = watch::channel(None);
        let raw = RawFrames::default();
        let router =
            Router { waiters: waiters.clone(), events: events_tx, closed: closed_tx, raw: raw.clone() };
        let client = Client {
            out,
            waiters,
            events,
            closed,
            next_req: AtomicU64::new(1),
            encoding,
            raw,
            timeout: Duration::from_secs(10),
        };
        (client, router)
    }

    /// A fresh request id.
    pub fn next_req(&self) -> ReqId {
        self.next_req.fetch_add(1, Ordering::Relaxed)
    }

    /// Send a request without waiting; returns a receiver for its answer.
    pub async fn send(
        &self,
        request: Request,
    ) -> Result<(ReqId, oneshot::Receiver<ServerFrame>), ClientError> {
        let req = self.next_req();
        let (tx, rx) = oneshot::channel();
        {
            let mut waiters = self.waiters.lock().expect("waiters");
            if waiters.len() >= WAITERS_PRUNE_AT {
                // Callers that gave up (timed out) dropped their receivers.
                waiters.retain(|_, waiter| !waiter.is_closed());
            }
            waiters.insert(req, tx);
        }
        // The router marks the connection closed before it clears the waiters, so a request
        // registered after that clear is caught here instead of waiting for a timeout.
        if self.closed.borrow().is_some() {
            self.waiters.lock().expect("waiters").remove(&req);
            return Err(ClientError::Closed(self.close_info()));
        }
        let bytes = codec::encode_client(&ClientFrame { req, request }, self.encoding);
        self.out.send(Outgoing::Frame(bytes)).await.map_err(|_| ClientError::Closed(self.close_info()))?;
        Ok((req, rx))
    }

    /// Send a frame the caller encoded itself (in this client's encoding, with a request id
    /// from [`Client::next_req`]), without registering a waiter: its answer arrives on the
    /// event queue like any unmatched frame, and the caller matches it by `re`. For load
    /// generators that encode frames from a template and track many answers themselves.
    pub async fn send_encoded(&self, frame: Vec<u8>) -> Result<(), ClientError> {
        self.out.send(Outgoing::Frame(frame)).await.map_err(|_| ClientError::Closed(self.close_info()))
    }

    /// Send a request and wait for the frame answering it (which may be an `error` frame).
    pub async fn request(&self, request: Request) -> Result<ServerFrame, ClientError> {
        let (_, rx) = self.send(request).await?;
        self.wait(rx).await
    }

    /// Wait for an answer obtained from [`Client::send`].
    pub async fn wait(&self, rx: oneshot::Receiver<ServerFrame>) -> Result<ServerFrame, ClientError> {
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(_)) => Err(ClientError::Closed(self.close_info())),
            Err(_) => Err(ClientError::Timeout),
        }
    }

    /// Send a request and return its answer, turning an `error` frame into `Err`.
    pub async fn call(&self, request: Request) -> Result<ServerFrame, ClientError> {
        match self.request(request).await? {
            ServerFrame::Error { code, message, .. } => Err(ClientError::Server { code, message }),
            frame => Ok(frame),
        }
    }

    /// The next event (or unmatched frame), waiting at most `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Result<ServerFrame, ClientError> {
        match tokio::time::timeout(timeout, self.events.recv()).await {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(ClientError::Closed(self.close_info())),
            Err(_) => Err(ClientError::Timeout),
        }
    }

    /// Take the event queue out of the client, so one task can send while another reads
    /// events. Afterwards [`Client::next_event`] reports the client as closed.
    pub fn take_events(&mut self) -> mpsc::Receiver<ServerFrame> {
        let (_, empty) = mpsc::channel(1);
        std::mem::replace(&mut self.events, empty)
    }

    /// From now on, hand over every frame the server sends as its undecoded bytes (in this
    /// client's encoding), in order, instead of routing it: answers to later requests no
    /// longer reach their waiters (send with [`Client::send_encoded`] and match `re`
    /// yourself), and events no longer reach [`Client::next_event`]. Frames received
    /// before the call stay where they were routed. For load generators that read only a
    /// few fields; a second call returns a receiver that stays empty.
    pub fn take_raw(&mut self) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        match self.raw.set(tx) {
            Ok(()) => rx,
            Err(_) => mpsc::channel(1).1,
        }
    }

    /// Events already received, without waiting.
    pub fn drain_events(&mut self) -> Vec<ServerFrame> {
        let mut out = Vec::new();
        while let Ok(frame) = self.events.try_recv() {
            out.push(frame);
        }
        out
    }

    /// Send any WebSocket message as is (WebSocket clients only).
    pub async fn send_raw(&self, message: Message) -> Result<(), ClientError> {
        self.out.send(Outgoing::WsRaw(message)).await.map_err(|_| ClientError::Closed(self.close_info()))
    }

    /// Write raw bytes on the QUIC stream, without a length prefix (QUIC clients only).
    pub async fn send_raw_quic(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.out.send(Outgoing::QuicRaw(bytes)).await.map_err(|_| ClientError::Closed(self.close_info()))
    }

    /// The close code and reason, once the server closed the connection.
    pub fn close_info(&self) -> Option<(u16, String)> {
        self.closed.borrow().clone()
    }

    /// Wait until the server closes the connection; returns its close code and reason.
    pub async fn closed(&self, timeout: Duration) -> Result<(u16, String), ClientError> {
        let mut closed = self.closed.clone();
        let result = tokio::time::timeout(timeout, closed.wait_for(|c| c.is_some())).await;
        match result {
            Ok(Ok(info)) => Ok(info.clone().expect("checked")),
            Ok(Err(_)) => Ok(self.close_info().unwrap_or((1006, String::new()))),
            Err(_) => Err(ClientError::Timeout),
        }
    }
}
