//! The transport-independent connection loop. A transport (WebSocket now, QUIC later)
//! supplies a [`FrameSource`] of incoming frames and drains an [`Outlet`] (a bounded queue
//! of encoded frames plus a close signal); everything between is here, written once.
//!
//! Bounds: at most `connection_requests_max` requests in flight (reading pauses at the
//! bound); at most `connection_events_max` undelivered events (beyond that the connection
//! is closed with `send_queue_overflow`); at most `connection_out_frames_max` encoded frames
//! waiting for the socket.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use switchboard_engine::{Engine, Outbox, Overflow};
use switchboard_protocol::codec::{self, Encoding};
use switchboard_protocol::{ErrorCode, ServerFrame};
use tokio::sync::{mpsc, watch};
use tokio::time::Sleep;

use crate::dispatch::{dispatch, Conn, Step};
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

/// Close code for a connection that stayed anonymous too long (private-use range).
pub const CLOSE_ANONYMOUS_TIMEOUT: u16 = 4001;

/// How a connection ends when the server ends it: an `error` frame (already encoded), then
/// a close with this code and reason. The transport sends these ahead of any queued frames,
/// with a short timeout, because the reason may be a peer that does not read.
#[derive(Debug, Clone)]
pub struct Closing {
    pub error_frame: Vec<u8>,
    pub code: u16,
    pub reason: String,
}

/// The loop's side of a transport's writer: a bounded queue of encoded frames, and the
/// close signal.
pub struct Outlet {
    pub frames: mpsc::Sender<Vec<u8>>,
    pub close: watch::Sender<Option<Closing>>,
}

/// The writer's side: the frames to write and the close signal.
pub struct Inlet {
    pub frames: mpsc::Receiver<Vec<u8>>,
    pub close: CloseWatch,
}

impl Outlet {
    /// A connected outlet/inlet pair queueing at most `frames_max` encoded frames.
    pub fn pair(frames_max: usize) -> (Outlet, Inlet) {
        let (frames, frames_rx) = mpsc::channel(frames_max);
        let (close, close_rx) = watch::channel(None);
        (
            Outlet { frames, close },
            Inlet { frames: frames_rx, close: CloseWatch { rx: close_rx, live: true } },
        )
    }
}

/// A writer's view of the close signal.
pub struct CloseWatch {
    rx: watch::Receiver<Option<Closing>>,
    /// False once the loop ended without signalling a close: the writer then just drains
    /// the frames queued last (replies) and stops when the queue ends.
    live: bool,
}

impl CloseWatch {
    /// Resolves when the loop signals a close; never, once the loop has ended without one.
    /// Cancel-safe (as `watch::Receiver::changed` is).
    pub async fn signalled(&mut self) {
        while self.live {
            match self.rx.changed().await {
                Ok(()) if self.rx.borrow().is_some() => return,
                Ok(()) => {}
                Err(_) => self.live = false,
            }
        }
        std::future::pending().await
    }

    /// The close the loop asked for, if any.
    pub fn closing(&self) -> Option<Closing> {
        self.rx.borrow().clone()
    }
}

/// A transport's stream of incoming frames; `None` when the peer has gone.
pub trait FrameSource: Send {
    /// The next frame.
    fn next_frame(&mut self) -> impl Future<Output = Option<Inbound>> + Send;
}

/// Run one connection until the peer leaves, a fatal error, or an overflow.
pub async fn run<S: FrameSource>(
    engine: Engine,
    config: Arc<GatewayConfig>,
    reply_encoding: Encoding,
    mut source: S,
    outlet: Outlet,
) {
    let out = outlet.frames;
    let conn_id = engine.next_conn_id();
    let (outbox, mut inbox) = Outbox::channel(conn_id, config.connection_events_max);
    let overflow = inbox.overflow();
    let anonymous_timeout = Duration::from_millis(config.anonymous_timeout_ms);
    let mut conn = Conn::new(engine.clone(), outbox, config.clone());
    let mut reading = true;
    // One timer, boxed so an identified, idle connection holds none: first the anonymous
    // deadline, later (once the client stops sending) the drain deadline.
    let mut deadline: Option<Pin<Box<Sleep>>> = Some(Box::pin(tokio::time::sleep(anonymous_timeout)));
    let mut in_flight = FuturesUnordered::new();
    let encode = |frame: &ServerFrame| codec::encode_server(frame, reply_encoding);
    let close = |code: ErrorCode, close_code: u16, message: String| {
        let error_frame = encode(&Failure::new(code, message.clone()).frame(None));
        let _ = outlet.close.send(Some(Closing { error_frame, code: close_code, reason: message }));
    };
    loop {
        if reading && conn.role != Role::Anonymous {
            deadline = None;
        }
        tokio::select! {
            biased;
            () = overflow.wait() => break,
            () = expiry(&mut deadline), if deadline.is_some() => {
                if reading {
                    let message = format!("no `auth`, `start_chat` or `resume_chat` within {} s", anonymous_timeout.as_secs());
                    close(ErrorCode::NotAuthenticated, CLOSE_ANONYMOUS_TIMEOUT, message);
                }
                break;
            }
            Some(reply) = in_flight.next(), if !in_flight.is_empty() => {
                if !push(&out, &overflow, encode(&reply)).await { break; }
                if !reading && in_flight.is_empty() { break; }
            }
            Some(event) = inbox.recv() => {
                if !push(&out, &overflow, encode(&convert::event(&engine, &event))).await { break; }
            }
            inbound = source.next_frame(), if reading && in_flight.len() < config.connection_requests_max => {
                match inbound {
                    Some(Inbound::Frame { bytes, encoding }) => {
                        let step = match codec::decode_client(&bytes, encoding) {
                            // Boxed: the request handling futures are large, and an idle
                            // connection should not carry their size in its task.
                            Ok(frame) => Box::pin(dispatch(&mut conn, frame)).await,
                            Err(e) => Step::Reply(Failure::new(e.code, e.message).frame(e.req)),
                        };
                        match step {
                            Step::Reply(frame) => if !push(&out, &overflow, encode(&frame)).await { break; },
                            Step::Later(future) => in_flight.push(future),
                        }
                    }
                    Some(Inbound::Fatal { code, close_code, message }) => {
                        close(code, close_code, message);
                        break;
                    }
                    // The client finished sending: answer what it asked, then end.
                    None if in_flight.is_empty() => break,
                    None => {
                        reading = false;
                        deadline = Some(Box::pin(tokio::time::sleep(DRAIN_TIMEOUT)));
                    }
                }
            }
        }
    }
    if overflow.happened() {
        let reason = "send queue overflow: this client reads too slowly; resume from your last seq";
        close(ErrorCode::SendQueueOverflow, CLOSE_SEND_QUEUE_OVERFLOW, reason.into());
    }
    engine.connection_gone(conn_id);
}

/// Queue an encoded frame for the socket. Gives up (false) when the connection overflowed
/// while waiting for room, or the writer has gone.
async fn push(out: &mpsc::Sender<Vec<u8>>, overflow: &Overflow, bytes: Vec<u8>) -> bool {
    tokio::select! {
        biased;
        () = overflow.wait() => false,
        sent = out.send(bytes) => sent.is_ok(),
    }
}

/// Resolves when the deadline (if any) passes.
async fn expiry(deadline: &mut Option<Pin<Box<Sleep>>>) {
    match deadline {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}
