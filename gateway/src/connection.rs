//! The transport-independent connection loop. A transport (WebSocket or QUIC) supplies a
//! [`FrameSource`] of incoming frames and a [`FrameSink`] for outgoing ones; everything
//! between is here, written once. The loop writes to the socket itself (there is no writer
//! task): it queues every frame that is ready, then flushes the burst with one write.
//!
//! Bounds: at most `connection_requests_max` requests in flight (reading pauses at the
//! bound); at most `connection_events_max` undelivered events (beyond that the connection
//! is closed with `send_queue_overflow`); at most `connection_out_frames_max` encoded frames
//! queued for the socket (beyond that the loop only writes, so a peer that does not read
//! stops the loop taking events, and its event queue overflows).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use switchboard_engine::{Engine, Event, Outbox, Outgoing};
use switchboard_protocol::codec::{self, Encoding};
use switchboard_protocol::{ErrorCode, ServerFrame};
use tokio::time::Sleep;

use crate::dispatch::{answer_frame, dispatch, Conn, Later, Step};
use crate::drain::{Live, CLOSE_GOING_AWAY, DRAIN_REASON};
use crate::errors::Failure;
use crate::role::Role;
use crate::{convert, GatewayConfig};

/// WebSocket close code for a connection closed because its send queue overflowed (a
/// private-use code; QUIC uses the same number as its application error code).
pub const CLOSE_SEND_QUEUE_OVERFLOW: u16 = 4008;

/// Something a transport received.
pub enum Inbound {
    /// One complete frame and how it is encoded.
    Frame { bytes: Vec<u8>, encoding: Encoding },
    /// The transport hit an error that ends the connection; tell the peer why.
    Fatal { code: ErrorCode, close_code: u16, message: String },
}

/// How long a connection whose client stopped sending still waits for its in-flight
/// requests to be answered (they are durable writes: normally milliseconds).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Close code for a connection whose agent was disabled or whose token was rotated
/// (private-use range; QUIC uses the same number).
pub const CLOSE_CREDENTIALS_REVOKED: u16 = 4003;

/// Close code (cluster mode) for a connection whose chat moved to another node, or whose
/// relaying node went away: reconnect (to any node) and resume (private-use range).
pub const CLOSE_MOVED: u16 = 4009;

/// Close code for a connection that stayed anonymous too long (private-use range).
pub const CLOSE_ANONYMOUS_TIMEOUT: u16 = 4001;

/// WebSocket's normal closure, as logged for a client that left cleanly.
pub const CLOSE_NORMAL: u16 = 1000;

/// The close code logged for a connection that ended without a close (RFC 6455's 1006,
/// never sent on the wire).
pub const CLOSE_ABNORMAL: u16 = 1006;

/// Close code (QUIC application error code) when the client stopped reading its stream
/// (STOP_SENDING): replies could never reach it, so the connection is closed at once
/// rather than holding a connection slot.
pub const CLOSE_STREAM_STOPPED: u16 = 1002;

/// How a connection ends when the server ends it: an `error` frame (already encoded), then
/// a close with this code and reason. The transport sends these ahead of any frames still
/// queued, with a short timeout, because the reason may be a peer that does not read;
/// except with `flush_first` (a drain: the queued answers are acknowledgements the client
/// must get), when they go after the queued frames.
#[derive(Debug, Clone)]
pub struct Closing {
    pub error_frame: Bytes,
    pub code: u16,
    pub reason: String,
    pub flush_first: bool,
}

/// Which transport a connection came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Quic,
    /// Cluster mode: a leg, the part of another node's client connection that runs here
    /// for a session this node owns (`relay`).
    Relay,
}

impl Transport {
    /// Every transport, for exporting their series from the start.
    pub const ALL: [Transport; 3] = [Transport::WebSocket, Transport::Quic, Transport::Relay];

    /// `ws` or `quic`: the label in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "ws",
            Transport::Quic => "quic",
            Transport::Relay => "relay",
        }
    }

    /// The code of a normal close: WebSocket's 1000, QUIC's application code 0.
    pub fn normal_close_code(self) -> u16 {
        match self {
            Transport::WebSocket | Transport::Relay => CLOSE_NORMAL,
            Transport::Quic => crate::quic::CLOSE_NORMAL as u16,
        }
    }
}

/// What the loop knows of the connection beyond its frames: where it came from (for logs)
/// and its registration with the drain.
pub struct Link {
    pub transport: Transport,
    pub peer: SocketAddr,
    pub live: Live,
    /// The agent console's session cookie presented on a WebSocket upgrade (for
    /// `auth_console`); `None` on QUIC and for clients without one.
    pub console_cookie: Option<String>,
    /// The client's address: the peer's, or behind a trusted proxy the one it forwarded
    /// (`web::client_ip`), for per-address limits.
    pub client: std::net::IpAddr,
    /// A leg (cluster mode): the role the client already has on its own node, which
    /// authenticated it there.
    pub assumed: Option<Role>,
}

/// Why a transport's sending side stopped working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkError {
    /// The socket or stream failed (peer gone, reset).
    Broken,
    /// The peer said it will read no more (QUIC STOP_SENDING): the connection is useless.
    Stopped,
}

/// A transport's stream of incoming frames; `None` when the peer has gone.
pub trait FrameSource: Send {
    /// The next frame. Cancel-safe: the connection loop polls it in a `select!`.
    fn next_frame(&mut self) -> impl Future<Output = Option<Inbound>> + Send;
}

/// A transport's sending side, driven by the connection loop itself (no writer task):
/// frames are queued without I/O, and [`FrameSink::drive`] writes them out, once per
/// burst.
pub trait FrameSink: Send {
    /// The transport's receiving half, handed back for closing (a WebSocket lingers on it).
    type Source: FrameSource;
    /// Queue one encoded frame (possibly shared with other connections:
    /// [`switchboard_engine::Broadcast`]).
    /// No I/O.
    fn push(&mut self, frame: Bytes);
    /// Frames queued and not yet handed to the transport; the loop stops producing more
    /// at `connection_out_frames_max`.
    fn queued(&self) -> usize;
    /// Write and flush everything queued; with nothing queued, wait for the transport's
    /// own needs (a keepalive to send, a peer that stopped reading). Resolves `Ok` after a
    /// flush, `Err` when the transport can no longer send. Cancel-safe: progress is kept
    /// in the sink.
    fn drive(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// End the connection: flush what is queued (or, with a `closing`, send its error
    /// frame and close code ahead of it), then close. Bounded by short timeouts.
    fn close(self, closing: Option<Closing>, source: Self::Source) -> impl Future<Output = ()> + Send;
}

/// Run one connection until the peer leaves, a fatal error, or an overflow. It stays one
/// function because it is one `select!` over everything a connection waits on (overflow,
/// deadline, replies, inbox, socket reads, socket writes); each arm is a line or two.
pub async fn run<S: FrameSource, K: FrameSink<Source = S>>(
    engine: Engine,
    config: Arc<GatewayConfig>,
    mut link: Link,
    reply_encoding: Encoding,
    mut source: S,
    mut sink: K,
) {
    let conn_id = engine.next_conn_id();
    let (transport, peer, opened) = (link.transport.as_str(), link.peer, Instant::now());
    tracing::info!(target: "connection", conn = conn_id, transport, %peer, "connection opened");
    metrics::counter!("switchboard_connections_opened_total", "transport" => transport).increment(1);
    metrics::gauge!("switchboard_connections", "transport" => transport).increment(1.0);
    let (outbox, mut inbox) =
        Outbox::channel(conn_id, config.connection_events_max, config.connection_requests_max);
    let overflow = inbox.overflow();
    let anonymous_timeout = Duration::from_millis(config.anonymous_timeout_ms);
    let mut conn = Conn::new(engine.clone(), outbox, config.clone(), peer);
    conn.console_cookie = link.console_cookie.take();
    conn.client = link.client;
    conn.encoding = reply_encoding;
    if let Some(role) = link.assumed.take() {
        conn.role = role;
    }
    let mut reading = true;
    let mut draining = false;
    // The socket failed under us (reset, broken pipe): logged as 1006, not as a clean close.
    let mut lost = false;
    // One timer, boxed so an identified, idle connection holds none: first the anonymous
    // deadline, later (once the client stops sending) the drain deadline.
    let mut deadline: Option<Pin<Box<Sleep>>> = Some(Box::pin(tokio::time::sleep(anonymous_timeout)));
    // Requests in flight: storage reads as futures here (the set exists only while one is
    // in flight: idle connections hold none), actor requests as a count (their answers
    // arrive in the inbox).
    let mut reads: Option<FuturesUnordered<Later>> = None;
    let mut awaiting: usize = 0;
    let mut closing: Option<Closing> = None;
    let encode = |frame: &ServerFrame| Bytes::from(codec::encode_server(frame, reply_encoding));
    let fail = |code: ErrorCode, close_code: u16, message: String| {
        let error_frame = encode(&Failure::new(code, message.clone()).frame(None));
        Some(Closing { error_frame, code: close_code, reason: message, flush_first: false })
    };
    let out_max = config.connection_out_frames_max;
    loop {
        if reading && conn.role != Role::Anonymous {
            deadline = None;
        }
        // Produce frames while the sink has room; `drive` (polled last, so a whole burst
        // is queued first) writes them with one flush.
        let room = sink.queued() < out_max;
        tokio::select! {
            biased;
            () = overflow.wait() => break,
            // Shutting down: take no new request, answer those in flight, then close.
            () = link.live.draining(), if !draining => {
                draining = true;
                closing = fail(ErrorCode::ShuttingDown, CLOSE_GOING_AWAY, DRAIN_REASON.into());
                if let Some(closing) = closing.as_mut() { closing.flush_first = true; }
                if reads.is_none() && awaiting == 0 { break; }
                if reading {
                    reading = false;
                    deadline = Some(Box::pin(tokio::time::sleep(DRAIN_TIMEOUT)));
                }
            }
            () = expiry(&mut deadline), if deadline.is_some() => {
                if reading {
                    let message = format!("no `auth`, `start_chat` or `resume_chat` within {} s", anonymous_timeout.as_secs());
                    closing = fail(ErrorCode::NotAuthenticated, CLOSE_ANONYMOUS_TIMEOUT, message);
                }
                break;
            }
            Some(reply) = next_read(&mut reads), if room && reads.is_some() => {
                sink.push(encode(&reply));
                if reads.as_ref().is_some_and(|r| r.is_empty()) { reads = None; }
                if !reading && reads.is_none() && awaiting == 0 { break; }
            }
            Some(item) = inbox.recv(), if room => match item {
                Outgoing::Event(event) => {
                    record_latency(&event);
                    sink.push(encode(&convert::event(&engine, &event)));
                }
                Outgoing::Broadcast(shared) => {
                    record_latency(&shared.event);
                    sink.push(shared.encoded(reply_encoding, |event| codec::encode_server(&convert::event(&engine, event), reply_encoding)));
                }
                Outgoing::Relayed(frame) => sink.push(frame),
                Outgoing::Encoded(frames) => {
                    sink.push(frames[usize::from(reply_encoding == Encoding::MsgPack)].clone());
                }
                Outgoing::Answer { req, answer } => {
                    awaiting = awaiting.saturating_sub(1);
                    sink.push(encode(&answer_frame(&mut conn, req, answer)));
                    if !reading && reads.is_none() && awaiting == 0 { break; }
                }
            },
            inbound = source.next_frame(), if room && reading && reads.as_ref().map_or(0, |r| r.len()) + awaiting < config.connection_requests_max => {
                match inbound {
                    Some(Inbound::Frame { bytes, encoding }) => {
                        let step = match codec::decode_client(&bytes, encoding) {
                            // Boxed: the request handling futures are large, and an idle
                            // connection should not carry their size in its task.
                            Ok(frame) => Box::pin(dispatch(&mut conn, frame)).await,
                            Err(e) => Step::Reply(Failure::new(e.code, e.message).frame(e.req)),
                        };
                        match step {
                            Step::Reply(frame) => sink.push(encode(&frame)),
                            Step::Later(future) => reads.get_or_insert_with(FuturesUnordered::new).push(future),
                            Step::Awaiting => awaiting += 1,
                            Step::Relayed => {}
                        }
                    }
                    Some(Inbound::Fatal { code, close_code, message }) => {
                        closing = fail(code, close_code, message);
                        break;
                    }
                    // The client finished sending: answer what it asked, then end.
                    None if reads.is_none() && awaiting == 0 => break,
                    None => {
                        reading = false;
                        deadline = Some(Box::pin(tokio::time::sleep(DRAIN_TIMEOUT)));
                    }
                }
            }
            driven = sink.drive() => match driven {
                Ok(()) => {}
                Err(SinkError::Broken) => {
                    lost = true;
                    break;
                }
                Err(SinkError::Stopped) => {
                    let reason = "stream stopped by the client".to_string();
                    closing = fail(ErrorCode::MalformedFrame, CLOSE_STREAM_STOPPED, reason);
                    break;
                }
            },
        }
    }
    if overflow.revoked() {
        let reason = "credentials revoked: the agent was disabled or its token rotated";
        closing = fail(ErrorCode::CredentialsRevoked, CLOSE_CREDENTIALS_REVOKED, reason.into());
    } else if overflow.moved() {
        let reason = "your chat is now served by another node; reconnect and resume from your last seq";
        closing = fail(ErrorCode::WrongNode, CLOSE_MOVED, reason.into());
    } else if overflow.happened() {
        let reason = "send queue overflow: this client reads too slowly; resume from your last seq";
        closing = fail(ErrorCode::SendQueueOverflow, CLOSE_SEND_QUEUE_OVERFLOW, reason.into());
    }
    engine.connection_gone(conn_id);
    conn.leave_legs().await;
    let role = conn.role.kind();
    drop(conn);
    let (close_code, reason) = match &closing {
        Some(closing) => (closing.code, closing.reason.clone()),
        None if lost => (CLOSE_ABNORMAL, "connection lost".to_string()),
        None => (link.transport.normal_close_code(), "client left".to_string()),
    };
    // Boxed: closing happens once, and its state should not widen every connection.
    Box::pin(sink.close(closing, source)).await;
    metrics::gauge!("switchboard_connections", "transport" => transport).decrement(1.0);
    metrics::counter!("switchboard_connections_closed_total", "transport" => transport).increment(1);
    let duration_ms = opened.elapsed().as_millis() as u64;
    tracing::info!(target: "connection", conn = conn_id, transport, %peer, role, duration_ms, close_code, reason, "connection closed");
}

/// A chat message's delivery latency: from its session actor taking the post to its frame
/// being queued for this connection.
fn record_latency(event: &Event) {
    if let Event::Message { received, .. } = event {
        crate::metrics::delivery_latency().record(received.elapsed().as_secs_f64());
    }
}

/// The next finished storage read, if any are in flight.
async fn next_read(reads: &mut Option<FuturesUnordered<Later>>) -> Option<ServerFrame> {
    match reads {
        Some(reads) => reads.next().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the deadline (if any) passes.
async fn expiry(deadline: &mut Option<Pin<Box<Sleep>>>) {
    match deadline {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}
