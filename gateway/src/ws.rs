//! WebSocket transport: the HTTP upgrade handshake (done by hand so every tungstenite buffer
//! can be sized, which warp's `ws()` filter does not allow) and the adapter between a
//! tungstenite stream and the [`connection`](crate::connection) loop.
//!
//! Binary messages carry MessagePack frames, text messages JSON frames. Replies and events
//! use the encoding chosen at connect time: `/ws?encoding=msgpack` (default) or `json`.

use std::sync::Arc;

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream, StreamExt};
use futures_util::SinkExt;
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use switchboard_engine::Engine;
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::ErrorCode;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use warp::http::{header, Request, StatusCode};
use warp::reply::Reply;

use crate::connection::{self, FrameSource, Inbound, Inlet, Outlet};
use crate::GatewayConfig;

pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Answer an upgrade request: 101 and a spawned connection, or an HTTP error.
pub fn upgrade(
    mut request: Request<Incoming>,
    engine: Engine,
    config: Arc<GatewayConfig>,
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
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config(&config)),
                )
                .await;
                serve(socket, engine, config, encoding).await;
                drop(slot);
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut response =
        warp::reply::with_status(warp::reply(), StatusCode::SWITCHING_PROTOCOLS).into_response();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, header::HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, header::HeaderValue::from_static("Upgrade"));
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        header::HeaderValue::from_str(&key).expect("base64 is a valid header"),
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

/// Most queued frames written before one flush: bounds the time a burst holds the writer.
const WRITE_BURST_MAX: usize = 64;

/// How long the writer keeps trying to deliver the closing frames to a peer that may not
/// be reading, before it drops the socket.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

async fn serve(socket: Socket, engine: Engine, config: Arc<GatewayConfig>, encoding: Encoding) {
    metrics::gauge!("switchboard_connections", "transport" => "ws").increment(1.0);
    let (sink, stream) = socket.split();
    let (outlet, inlet) = Outlet::pair(config.connection_out_frames_max);
    let ping_every = Duration::from_millis(config.ws_ping_interval_ms);
    let writer = tokio::spawn(write_loop(sink, inlet, encoding, ping_every));
    let idle = Duration::from_millis(config.ws_idle_timeout_ms);
    let source = WsSource { stream, idle, last_heard: Instant::now() };
    connection::run(engine, config, encoding, source, outlet).await;
    let _ = writer.await;
    metrics::gauge!("switchboard_connections", "transport" => "ws").decrement(1.0);
}

/// Write queued frames until the queue closes, or until a close is signalled: then send
/// the error frame and the close frame ahead of anything still queued, and stop.
async fn write_loop(
    mut sink: SplitSink<Socket, Message>,
    Inlet { mut frames, mut close }: Inlet,
    encoding: Encoding,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let to_message = |bytes: Vec<u8>| match encoding {
        Encoding::MsgPack => Message::Binary(bytes.into()),
        // JSON encoding of our frames is always valid UTF-8.
        Encoding::Json => Message::Text(String::from_utf8(bytes).expect("json is utf-8").into()),
    };
    loop {
        let message = tokio::select! {
            biased;
            () = close.signalled() => break,
            next = frames.recv() => match next {
                Some(bytes) => to_message(bytes),
                None => break,
            },
            _ = ping.tick() => Message::Ping(Vec::new().into()),
        };
        // Write everything already queued, then flush once: one syscall for a burst.
        let burst = async {
            sink.feed(message).await?;
            for _ in 1..WRITE_BURST_MAX {
                match frames.try_recv() {
                    Ok(bytes) => sink.feed(to_message(bytes)).await?,
                    Err(_) => break,
                }
            }
            sink.flush().await
        };
        tokio::select! {
            biased;
            () = close.signalled() => break,
            sent = burst => if sent.is_err() { return },
        }
    }
    let closing = close.closing();
    if let Some(closing) = closing {
        let goodbye = async {
            sink.send(to_message(closing.error_frame)).await?;
            let frame = CloseFrame { code: CloseCode::from(closing.code), reason: closing.reason.into() };
            sink.send(Message::Close(Some(frame))).await
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
}

pub(crate) struct WsSource {
    pub(crate) stream: SplitStream<Socket>,
    /// Close the connection when nothing (not even a pong) arrived for this long.
    pub(crate) idle: Duration,
    pub(crate) last_heard: Instant,
}

impl FrameSource for WsSource {
    async fn next_frame(&mut self) -> Option<Inbound> {
        loop {
            let deadline = self.last_heard + self.idle;
            let next = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(next) => next?,
                Err(_) => {
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
