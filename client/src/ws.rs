//! WebSocket transport of the client.

use futures_util::{SinkExt, StreamExt};
use switchboard_protocol::codec::{self, Encoding};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::{Client, ClientError, Outgoing};

/// Outgoing messages buffered before `send` waits.
const OUT_BUFFER: usize = 1024;

pub(crate) async fn connect(base_url: &str, encoding: Encoding) -> Result<Client, ClientError> {
    let query = match encoding {
        Encoding::MsgPack => "msgpack",
        Encoding::Json => "json",
    };
    let url = format!("{base_url}?encoding={query}");
    let (socket, _) =
        tokio_tungstenite::connect_async(url).await.map_err(|e| ClientError::Connect(e.to_string()))?;
    let (mut sink, mut stream) = socket.split();
    let (out, mut out_rx) = mpsc::channel::<Outgoing>(OUT_BUFFER);
    tokio::spawn(async move {
        while let Some(item) = out_rx.recv().await {
            let message = match item {
                Outgoing::Frame(bytes) => match encoding {
                    Encoding::MsgPack => Message::Binary(bytes.into()),
                    Encoding::Json => Message::Text(String::from_utf8(bytes).expect("json is utf-8").into()),
                },
                Outgoing::WsRaw(message) => message,
                Outgoing::QuicRaw(_) => continue,
            };
            if sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let (client, router) = Client::assemble(out, encoding);
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let frame = match &message {
                Message::Binary(b) => codec::decode_server(b, Encoding::MsgPack),
                Message::Text(t) => codec::decode_server(t.as_bytes(), Encoding::Json),
                Message::Close(close) => {
                    let (code, reason) = close
                        .as_ref()
                        .map_or((1005, String::new()), |c| (u16::from(c.code), c.reason.to_string()));
                    router.closed(code, reason);
                    return;
                }
                _ => continue,
            };
            match frame {
                Ok(frame) => {
                    if !router.route(frame).await {
                        break;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "undecodable frame from server"),
            }
        }
        router.closed(1006, "connection dropped".into());
    });
    Ok(client)
}
