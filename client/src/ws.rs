//! WebSocket transport of the client.

use std::net::{IpAddr, SocketAddr};

use futures_util::{SinkExt, StreamExt};
use switchboard_protocol::codec::Encoding;
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::{Client, ClientError, Outgoing};

/// Outgoing messages buffered before `send` waits.
const OUT_BUFFER: usize = 1024;

/// Most bytes the WebSocket reader asks the socket for at once. tungstenite zeroes that
/// much buffer before every read: its default (128 KiB) made zeroing the largest cost per
/// message of a busy client (a fifth of the load generator's CPU). 8 KiB still takes a
/// burst of small frames in one read; larger frames are assembled over several reads.
const READ_BUFFER_BYTES: usize = 8 * 1024;

pub(crate) async fn connect(
    base_url: &str,
    encoding: Encoding,
    local: Option<IpAddr>,
) -> Result<Client, ClientError> {
    let query = match encoding {
        Encoding::MsgPack => "msgpack",
        Encoding::Json => "json",
    };
    let url = format!("{base_url}?encoding={query}");
    let err = ClientError::Connect;
    let authority = base_url.trim_start_matches("ws://").split('/').next().unwrap_or_default();
    let server: SocketAddr =
        authority.parse().map_err(|_| err(format!("expected ws://IP:PORT/ws, got {base_url}")))?;
    let socket = if server.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
        .map_err(|e| err(e.to_string()))?;
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0)).map_err(|e| err(format!("bind {ip}: {e}")))?;
    }
    let tcp = socket.connect(server).await.map_err(|e| err(format!("connect {server}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let (socket, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| err(e.to_string()))?;
    let (mut sink, mut stream) = socket.split();
    let (out, mut out_rx) = mpsc::channel::<Outgoing>(OUT_BUFFER);
    tokio::spawn(async move {
        let to_message = |item: Outgoing| match item {
            Outgoing::Frame(bytes) => Some(match encoding {
                Encoding::MsgPack => Message::Binary(bytes.into()),
                Encoding::Json => Message::Text(String::from_utf8(bytes).expect("json is utf-8").into()),
            }),
            Outgoing::WsRaw(message) => Some(message),
            Outgoing::QuicRaw(_) => None,
        };
        // Write what is queued, then flush once per burst.
        while let Some(item) = out_rx.recv().await {
            let mut written = match to_message(item) {
                Some(message) => sink.feed(message).await,
                None => Ok(()),
            };
            while written.is_ok() {
                match out_rx.try_recv() {
                    Ok(item) => {
                        if let Some(message) = to_message(item) {
                            written = sink.feed(message).await;
                        }
                    }
                    Err(_) => break,
                }
            }
            if written.is_err() || sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let (client, router) = Client::assemble(out, encoding);
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let (bytes, encoding) = match message {
                Message::Binary(b) => (b, Encoding::MsgPack),
                Message::Text(t) => (t.into(), Encoding::Json),
                Message::Close(close) => {
                    let (code, reason) = close
                        .as_ref()
                        .map_or((1005, String::new()), |c| (u16::from(c.code), c.reason.to_string()));
                    router.closed(code, reason);
                    return;
                }
                _ => continue,
            };
            if !router.deliver(bytes, encoding).await {
                break;
            }
        }
        router.closed(1006, "connection dropped".into());
    });
    Ok(client)
}
