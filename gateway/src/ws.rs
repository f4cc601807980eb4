//! WebSocket transport: the HTTP upgrade handshake (done by hand so every tungstenite buffer
//! can be sized, which warp's `ws()` filter does not allow) and the adapter between a
//! tungstenite stream and the [`connection`](crate::connection) loop.
//!
//! Binary messages carry MessagePack frames, text messages JSON frames. Replies and events
//! use the encoding chosen at connect time: `/ws?encoding=msgpack` (default) or `json`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream, StreamExt};
use futures_util::{Sink, SinkExt};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use switchboard_engine::Engine;
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::ErrorCode;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Interval, Sleep};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use warp::http::{header, Request, StatusCode};
use warp::reply::Reply;

use crate::connection::{self, Closing, FrameSink, FrameSource, Inbound, Link, SinkError, Transport};
use crate::drain::Drain;
use crate::GatewayConfig;

pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Answer an upgrade request: 101 and a spawned connection, or an HTTP error.
pub fn upgrade(
    mut request: Request<Incoming>,
    engine: Engine,
    config: Arc<GatewayConfig>,
    peer: SocketAddr,
    drain: Drain,
    slot: Arc<OwnedSemaphorePermit>,
) -> warp::reply::Response {
    let encoding = match requested_encoding(request.uri().query()) {
        Ok(encoding) => encoding,
        Err(message) => {
            return crate::api::error_response(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, &message)
        }
    };
    let key = match handshake_key(&request) {
        Ok(key) => key,
        Err(message) => {
            return crate::api::error_response(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message)
        }
    };
    let origin = match crate::web::check_origin(&request, &config.allowed_origins) {
        Ok(origin) => origin,
        Err(message) => {
            return crate::api::error_response(StatusCode::FORBIDDEN, ErrorCode::Forbidden, &message)
        }
    };
    let console_cookie = crate::web::console_cookie(request.headers()).filter(|_| origin.may_use_cookie());
    let client = crate::web::client_ip(peer.ip(), request.headers(), &config.trusted_proxies);
    let on_upgrade = hyper::upgrade::on(&mut request);
    let task = async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config(&config)),
                )
                .await;
                let link = Link {
                    transport: Transport::WebSocket,
                    peer,
                    live: drain.enter(),
                    console_cookie,
                    client,
                    assumed: None,
                };
                serve(socket, engine, config, link, encoding).await;
                drop(slot);
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    };
    tokio::spawn(task);
    switching_protocols(&key)
}

/// The 101 answer to an upgrade: no subprotocol, no extension (no permessage-deflate).
pub(crate) fn switching_protocols(accept_key: &str) -> warp::reply::Response {
    let mut response =
        warp::reply::with_status(warp::reply(), StatusCode::SWITCHING_PROTOCOLS).into_response();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, header::HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, header::HeaderValue::from_static("Upgrade"));
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        header::HeaderValue::from_str(accept_key).expect("base64 is a valid header"),
    );
    response
}

fn requested_encoding(query: Option<&str>) -> Result<Encoding, String> {
    let value = query.unwrap_or("").split('&').find_map(|pair| pair.strip_prefix("encoding="));
    match value {
        None | Some("msgpack") => Ok(Encoding::MsgPack),
        Some("json") => Ok(Encoding::Json),
        Some(other) => Err(format!("unknown encoding `{other}`: use msgpack or json")),
    }
}

pub(crate) fn handshake_key<B>(request: &Request<B>) -> Result<String, &'static str> {
    let headers = request.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|part| part.trim().eq_ignore_ascii_case(token)))
    };
    if request.method() != warp::http::Method::GET {
        return Err("websocket upgrades use GET");
    }
    if !has_token(header::UPGRADE, "websocket") {
        return Err("`/ws` expects a WebSocket upgrade (`Upgrade: websocket`)");
    }
    if !has_token(header::CONNECTION, "upgrade") {
        return Err("missing `Connection: upgrade`");
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        return Err("`Sec-WebSocket-Version` must be 13");
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY).ok_or("missing `Sec-WebSocket-Key`")?;
    Ok(derive_accept_key(key.as_bytes()))
}

pub(crate) fn ws_config(config: &GatewayConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(config.ws_read_buffer_bytes)
        .write_buffer_size(config.ws_write_buffer_bytes)
        .max_write_buffer_size(config.ws_write_buffer_max_bytes)
        .max_message_size(Some(config.frame_bytes_max))
        .max_frame_size(Some(config.frame_bytes_max))
}

/// WebSocket close code for a protocol violation by the peer (RFC 6455 §7.4.1).
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;

/// How long closing may take: the error and close frames to a peer that may not be
/// reading, then the closing handshake. Past it the socket is dropped.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

async fn serve(socket: Socket, engine: Engine, config: Arc<GatewayConfig>, link: Link, encoding: Encoding) {
    let (sink, stream) = socket.split();
    let ping_every = Duration::from_millis(config.ws_ping_interval_ms);
    let sink = WsSink {
        sink,
        queue: VecDeque::new(),
        unflushed: false,
        encoding,
        ping: tokio::time::interval_at(Instant::now() + ping_every, ping_every),
    };
    let idle = Duration::from_millis(config.ws_idle_timeout_ms);
    let source = WsSource::new(stream, idle);
    // Boxed: its own allocation, so the upgrade task does not also keep room for the
    // halves it moved into it (async state machines do not overlap moved-from locals).
    Box::pin(connection::run(engine, config, link, encoding, source, sink)).await;
}

/// The sending half: frames queued by the connection loop, written and flushed by `drive`
/// (one flush per burst), pings every `ws_ping_interval_ms`.
struct WsSink {
    sink: SplitSink<Socket, Message>,
    /// Frames not yet handed to tungstenite (bounded by the loop's `connection_out_frames_max`).
    queue: VecDeque<Message>,
    /// Frames handed to tungstenite since the last completed flush.
    unflushed: bool,
    encoding: Encoding,
    ping: Interval,
}

impl WsSink {
    /// The frame as a WebSocket message, sharing its bytes (no copy: a fan-out's members
    /// all send the one encoding).
    fn message(&self, bytes: Bytes) -> Message {
        match self.encoding {
            Encoding::MsgPack => Message::Binary(bytes),
            // JSON encoding of our frames is always valid UTF-8 (checked, not copied).
            Encoding::Json => Message::Text(Utf8Bytes::try_from(bytes).expect("json is utf-8")),
        }
    }

    /// Hand every queued frame to tungstenite and flush. Cancel-safe: a frame leaves the
    /// queue only once tungstenite took it, and tungstenite keeps what it has not written.
    async fn flush_queue(&mut self) -> Result<(), WsError> {
        std::future::poll_fn(|cx| {
            while !self.queue.is_empty() {
                std::task::ready!(Pin::new(&mut self.sink).poll_ready(cx))?;
                let message = self.queue.pop_front().expect("not empty");
                Pin::new(&mut self.sink).start_send(message)?;
                self.unflushed = true;
            }
            std::task::ready!(Pin::new(&mut self.sink).poll_flush(cx))?;
            self.unflushed = false;
            Poll::Ready(Ok(()))
        })
        .await
    }
}

impl FrameSink for WsSink {
    type Source = WsSource;

    fn push(&mut self, frame: Bytes) {
        let message = self.message(frame);
        self.queue.push_back(message);
    }

    fn queued(&self) -> usize {
        self.queue.len()
    }

    async fn drive(&mut self) -> Result<(), SinkError> {
        if self.queue.is_empty() && !self.unflushed {
            self.ping.tick().await;
            self.queue.push_back(Message::Ping(Vec::new().into()));
        }
        self.flush_queue().await.map_err(|_| SinkError::Broken)
    }

    async fn close(mut self, closing: Option<Closing>, source: WsSource) {
        let server_closed = closing.is_some();
        let goodbye = async {
            match closing {
                Some(closing) => {
                    // The reason may be a peer that does not read: the error and the close
                    // go ahead of anything still queued (a drain's answers excepted).
                    if closing.flush_first {
                        self.flush_queue().await?;
                    } else {
                        self.queue.clear();
                    }
                    let error = self.message(closing.error_frame);
                    self.sink.send(error).await?;
                    let frame =
                        CloseFrame { code: CloseCode::from(closing.code), reason: closing.reason.into() };
                    self.sink.send(Message::Close(Some(frame))).await?;
                }
                None => self.flush_queue().await?,
            }
            self.sink.close().await
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await;
        if server_closed {
            if let Ok(socket) = source.stream.reunite(self.sink) {
                linger(socket).await;
            }
        }
    }
}

/// Most bytes read and discarded while lingering: a peer still sending after this much has
/// not stopped for our Close, and a reset is then the answer it gets.
const LINGER_BYTES_MAX: usize = 1 << 20;

/// After a Close the server sent first (the peer may still be sending): half-close TCP,
/// then read and discard until the peer closes too, for at most `CLOSE_TIMEOUT` and
/// `LINGER_BYTES_MAX`. Dropping a socket with unread input makes the kernel answer with a
/// reset; a peer still writing then fails on its next write, and a client that writes
/// before it reads never sees the error frame, the Close nor its code (found with
/// Autobahn case 1.2.8, docs/CONFORMANCE.md). This is the lingering close HTTP servers do.
pub(crate) async fn linger(mut socket: Socket) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = socket.get_mut();
    let drain = async {
        io.shutdown().await?;
        let mut buf = [0u8; 4096];
        let mut read = 0;
        while read < LINGER_BYTES_MAX {
            match io.read(&mut buf).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
}

/// The receiving half, with the idle check: one timer per connection, re-armed only when it
/// fires (not on every frame).
pub(crate) struct WsSource {
    pub(crate) stream: SplitStream<Socket>,
    /// Close the connection when nothing (not even a pong) arrived for this long.
    idle: Duration,
    last_heard: Instant,
    idle_timer: Pin<Box<Sleep>>,
}

impl WsSource {
    pub(crate) fn new(stream: SplitStream<Socket>, idle: Duration) -> WsSource {
        let now = Instant::now();
        WsSource { stream, idle, last_heard: now, idle_timer: Box::pin(tokio::time::sleep_until(now + idle)) }
    }
}

impl FrameSource for WsSource {
    async fn next_frame(&mut self) -> Option<Inbound> {
        loop {
            let next = tokio::select! {
                biased;
                next = self.stream.next() => next?,
                () = self.idle_timer.as_mut() => {
                    let deadline = self.last_heard + self.idle;
                    if deadline > Instant::now() {
                        self.idle_timer.as_mut().reset(deadline);
                        continue;
                    }
                    return Some(Inbound::Fatal {
                        code: ErrorCode::IdleTimeout,
                        close_code: 1001,
                        message: format!("nothing received for {} s", self.idle.as_secs()),
                    });
                }
            };
            self.last_heard = Instant::now();
            let message = match next {
                Ok(message) => message,
                Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size })) => {
                    return Some(Inbound::Fatal {
                        code: ErrorCode::FrameTooLarge,
                        close_code: 1009,
                        message: format!("frame of {size} bytes exceeds the {max_size}-byte limit"),
                    });
                }
                Err(WsError::Utf8(_)) => {
                    return Some(Inbound::Fatal {
                        code: ErrorCode::InvalidUtf8,
                        close_code: 1007,
                        message: "text frame is not valid UTF-8".into(),
                    });
                }
                // RFC 6455 §7.4.1: a protocol violation (reserved bits or opcodes, bad
                // fragmentation, an oversized or fragmented control frame, a 1-byte close
                // payload, an unmasked client frame) is answered with close code 1002.
                // A peer that dropped TCP without a Close frame just left: like a Close,
                // its requests in flight are still answered.
                Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => return None,
                Err(WsError::Protocol(e)) => {
                    return Some(Inbound::Fatal {
                        code: ErrorCode::MalformedFrame,
                        close_code: CLOSE_PROTOCOL_ERROR,
                        message: format!("websocket protocol error: {e}"),
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "websocket read ended");
                    return None;
                }
            };
            match message {
                Message::Binary(bytes) => {
                    return Some(Inbound::Frame { bytes: bytes.to_vec(), encoding: Encoding::MsgPack })
                }
                Message::Text(text) => {
                    return Some(Inbound::Frame { bytes: text.as_bytes().to_vec(), encoding: Encoding::Json })
                }
                Message::Close(_) => return None,
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
        }
    }
}
