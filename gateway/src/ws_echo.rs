//! A WebSocket echo server built from the gateway's own WebSocket stack: the conformance
//! harness behind `scripts/autobahn.sh` and `docs/CONFORMANCE.md`.
//!
//! It is not a product endpoint: the server never mounts it and it speaks no Switchboard
//! protocol. It exists because the Autobahn cases expect a server that echoes every message,
//! while `/ws` speaks the chat protocol. What the cases exercise is the product's:
//! - the hand-made HTTP upgrade ([`ws::handshake_key`], on the same hyper HTTP/1.1 set-up
//!   with the same header-read timeout as [`server`](crate::server));
//! - tungstenite configured by [`ws::ws_config`] from the given [`GatewayConfig`] (buffer
//!   sizes, `frame_bytes_max` for frames and messages);
//! - the read-error mapping of [`ws::WsSource`] (oversized → 1009, invalid UTF-8 → 1007,
//!   idle → 1001, anything else ends the connection).
//!
//! What differs from `/ws`: each text or binary message is written back as it came instead
//! of being decoded as a request; a fatal read error is answered with a Close frame carrying
//! its code and nothing else (the product sends an `error` frame first, an application
//! message an echo client would count as unexpected); there is no server ping timer (the
//! product's fires after 30 s, longer than any case).
//!
//! One addition the product lacks: after a Close the harness sent first, it half-closes TCP
//! and drains the peer's remaining input before dropping the socket ([`ws::linger`]), so that a
//! peer still sending gets no TCP reset before it has read the Close (docs/CONFORMANCE.md,
//! case 1.2.8).
//!
//! Bounds: at most `connections_max` connections; request headers within
//! `header_read_timeout_ms`; a connection silent for `ws_idle_timeout_ms`, or whose peer does
//! not take an echo within that time, is closed; lingering lasts at most 1 s and 1 MiB.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::ErrorCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use warp::http::{Request, StatusCode};
use warp::reply::Response;

use crate::connection::{FrameSource, Inbound};
use crate::ws::{self, Socket, WsSource};
use crate::GatewayConfig;

/// Pause after a failed `accept` (EMFILE and friends) instead of spinning, as the server does.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accept connections on `listener` and echo every WebSocket message, until the task is
/// dropped. Connections beyond `config.connections_max` are closed at once.
pub async fn serve(listener: TcpListener, config: Arc<GatewayConfig>) {
    let permits = Arc::new(Semaphore::new(config.connections_max));
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(http_connection(tcp, config.clone(), permit));
    }
}

/// Serve one HTTP/1.1 connection with upgrades, configured as the server's. The slot is
/// shared with the WebSocket task, which outlives the HTTP connection after the upgrade.
async fn http_connection(tcp: TcpStream, config: Arc<GatewayConfig>, permit: OwnedSemaphorePermit) {
    let header_timeout = Duration::from_millis(config.header_read_timeout_ms);
    let slot = Arc::new(permit);
    let service = service_fn(move |request: Request<Incoming>| {
        let response = upgrade(request, config.clone(), slot.clone());
        async move { Ok::<_, Infallible>(response) }
    });
    crate::server::serve_http1(tcp, header_timeout, service).await;
}

/// Answer an upgrade request on any path: 101 and a spawned echo, or 400 as `/ws` answers.
fn upgrade(
    mut request: Request<Incoming>,
    config: Arc<GatewayConfig>,
    slot: Arc<OwnedSemaphorePermit>,
) -> Response {
    let key = match ws::handshake_key(&request) {
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
                    Some(ws::ws_config(&config)),
                )
                .await;
                echo(socket, &config).await;
                drop(slot);
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    // The same response as `ws::upgrade`.
    ws::switching_protocols(&key)
}

/// Read through the product's [`WsSource`] and write each message back, until the peer
/// closes, the source reports a fatal error (answered with a Close carrying its code), or
/// the peer stops taking echoes.
async fn echo(socket: Socket, config: &GatewayConfig) {
    let (mut sink, stream) = socket.split();
    let idle = Duration::from_millis(config.ws_idle_timeout_ms);
    let mut source = WsSource::new(stream, idle);
    let mut failed = false;
    while let Some(inbound) = source.next_frame().await {
        match inbound {
            Inbound::Frame { bytes, encoding } => {
                let sent = tokio::time::timeout(idle, sink.send(echo_message(bytes, encoding))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
            }
            Inbound::Fatal { close_code, message, .. } => {
                send_close(&mut sink, close_code, message).await;
                failed = true;
                break;
            }
        }
    }
    // Flushes tungstenite's reply to the peer's Close (or our Close), then the socket drops:
    // the server closes TCP first, as RFC 6455 prefers.
    let _ = tokio::time::timeout(ws::CLOSE_TIMEOUT, sink.close()).await;
    if failed {
        if let Ok(socket) = source.stream.reunite(sink) {
            ws::linger(socket).await;
        }
    }
}

/// The message to echo: `WsSource` tags text as JSON and binary as MessagePack.
fn echo_message(bytes: Vec<u8>, encoding: Encoding) -> Message {
    match encoding {
        // tungstenite validated the text's UTF-8 before `WsSource` saw it.
        Encoding::Json => Message::Text(String::from_utf8(bytes).expect("text is utf-8").into()),
        Encoding::MsgPack => Message::Binary(bytes.into()),
    }
}

async fn send_close(sink: &mut SplitSink<Socket, Message>, code: u16, reason: String) {
    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
    let _ = tokio::time::timeout(ws::CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Start the harness with the default config on 127.0.0.1:0 and connect a client.
    async fn connect() -> WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, Arc::new(GatewayConfig::default())));
        let (client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await.unwrap();
        client
    }

    #[tokio::test]
    async fn echoes_text_and_binary() {
        let mut client = connect().await;
        for message in [Message::text("héllo"), Message::binary(vec![0u8, 1, 2, 255])] {
            client.send(message.clone()).await.unwrap();
            assert_eq!(client.next().await.unwrap().unwrap(), message);
        }
    }

    #[tokio::test]
    async fn oversized_message_closes_with_1009() {
        let mut client = connect().await;
        let limit = GatewayConfig::default().frame_bytes_max;
        client.send(Message::binary(vec![0u8; limit + 1])).await.unwrap();
        match client.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1009),
            other => panic!("expected a 1009 close, got {other:?}"),
        }
        // The server then ends the connection: no further message arrives.
        assert!(!matches!(client.next().await, Some(Ok(_))));
    }

    #[tokio::test]
    async fn close_code_reaches_a_peer_that_is_still_sending() {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        let mut client = connect().await;
        // A 64 KiB message in 997-byte frames (Autobahn case 1.2.8), written in full before
        // the client reads, as a single-threaded client does: the server refuses it after
        // 16 KiB, while the rest is still on the way. Every write must still succeed (no
        // reset), and the Close with its code must then be there to read.
        let frames = (64 << 10) / 997 + 1;
        for i in 0..frames {
            let opcode = OpCode::Data(if i == 0 { Data::Binary } else { Data::Continue });
            let frame = Frame::message(vec![7u8; 997], opcode, i == frames - 1);
            client.send(Message::Frame(frame)).await.expect("the server drains instead of resetting");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        match client.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1009),
            other => panic!("expected a 1009 close, got {other:?}"),
        }
    }
}
