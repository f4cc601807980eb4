//! The transport-independent connection loop. A transport (WebSocket now, QUIC later)
//! supplies a [`FrameSource`] of incoming frames and drains a bounded channel of
//! [`Outbound`] items to its socket; everything between is here, written once.
//!
//! Bounds: at most `connection_requests_max` requests in flight (reading pauses at the
//! bound); at most `connection_events_max` undelivered events (beyond that the connection
//! is closed with `send_queue_overflow`); at most `connection_out_frames_max` encoded frames
//! waiting for the socket.

use std::future::Future;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use switchboard_engine::{Engine, Outbox};
use switchboard_protocol::codec::{self, Encoding};
use switchboard_protocol::{ErrorCode, ServerFrame};
use tokio::sync::mpsc;

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

/// Something to write to the transport.
#[derive(Debug)]
pub enum Outbound {
    /// One encoded frame.
    Frame(Vec<u8>),
    /// Close the connection with this code and reason, then stop.
    Close { code: u16, reason: String },
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
    out: mpsc::Sender<Outbound>,
) {
    let conn_id = engine.next_conn_id();
    let (outbox, mut inbox) = Outbox::channel(conn_id, config.connection_events_max);
    let mut conn = Conn { engine: engine.clone(), outbox, role: Role::Anonymous };
    let mut in_flight = FuturesUnordered::new();
    let encode = |frame: &ServerFrame| Outbound::Frame(codec::encode_server(frame, reply_encoding));
    loop {
        tokio::select! {
            biased;
            () = inbox.overflowed() => {
                let reason = "send queue overflow: this client reads too slowly; resume from your last seq";
                let frame = Failure::new(ErrorCode::SendQueueOverflow, reason).frame(None);
                let _ = out.try_send(encode(&frame));
                let _ = out.try_send(Outbound::Close { code: CLOSE_SEND_QUEUE_OVERFLOW, reason: "send queue overflow".into() });
                break;
            }
            Some(reply) = in_flight.next(), if !in_flight.is_empty() => {
                if out.send(encode(&reply)).await.is_err() { break; }
            }
            Some(event) = inbox.recv() => {
                if out.send(encode(&convert::event(&engine, &event))).await.is_err() { break; }
            }
            inbound = source.next_frame(), if in_flight.len() < config.connection_requests_max => {
                match inbound {
                    Some(Inbound::Frame { bytes, encoding }) => {
                        let step = match codec::decode_client(&bytes, encoding) {
                            Ok(frame) => dispatch(&mut conn, frame).await,
                            Err(e) => Step::Reply(Failure::new(e.code, e.message).frame(e.req)),
                        };
                        match step {
                            Step::Reply(frame) => if out.send(encode(&frame)).await.is_err() { break; },
                            Step::Later(future) => in_flight.push(future),
                        }
                    }
                    Some(Inbound::Fatal { code, close_code, message }) => {
                        let _ = out.send(encode(&Failure::new(code, message.clone()).frame(None))).await;
                        let _ = out.send(Outbound::Close { code: close_code, reason: message }).await;
                        break;
                    }
                    None => break,
                }
            }
        }
    }
    engine.connection_gone(conn_id);
}
