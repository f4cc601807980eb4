//! A client that stops reading is disconnected with a reason once its bounded send queue
//! overflows, and fast clients keep receiving everything meanwhile.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard_client::tungstenite::Message;
use switchboard_protocol::codec::{self, Encoding};
use switchboard_protocol::{ClientFrame, Request, ServerFrame};
use tokio::net::TcpSocket;

use crate::support::*;

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_others_are_unaffected() {
    let server = TestServer::start();
    let (mut fast, _, _) = server.agent("Fast").await;
    let (_, slow_token) = server.create_agent("Slow", 5).await;
    let (visitor, sid, _) = server.visitor("Vic", None).await;
    fast.call(Request::Accept { session_id: sid }).await.unwrap();

    // The slow agent: a raw socket with a tiny receive buffer that attaches, then never reads.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.addr.parse().unwrap()).await.unwrap();
    let (mut slow, _) =
        tokio_tungstenite::client_async(format!("{}?encoding=json", server.ws_url()), tcp).await.unwrap();
    for (req, request) in
        [(1, Request::Auth { token: slow_token }), (2, Request::Attach { session_id: sid, after_seq: 0 })]
    {
        let bytes = codec::encode_client(&ClientFrame { req, request }, Encoding::Json);
        slow.send(Message::Text(String::from_utf8(bytes).unwrap().into())).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Flood the session. The fast agent must see every message, in order.
    // Below the 10,000-message session limit, well above what the slow path buffers.
    let total = 9_000u64;
    let text = "y".repeat(1000);
    let mut pending = Vec::new();
    for i in 0..total {
        pending.push(visitor.send(say(sid, &format!("m{i}"), &text)).await.unwrap().1);
        if pending.len() >= 200 {
            for rx in pending.drain(..) {
                assert!(matches!(visitor.wait(rx).await.unwrap(), ServerFrame::MessageAck { .. }));
            }
        }
    }
    for rx in pending {
        assert!(matches!(visitor.wait(rx).await.unwrap(), ServerFrame::MessageAck { .. }));
    }
    let mut next = 1;
    while next <= total {
        let seq = loop {
            match fast.next_event(WAIT).await {
                Ok(ServerFrame::Message { message, .. }) => break message.seq,
                Ok(_) => continue,
                Err(e) => {
                    panic!("fast client stalled before seq {next}: {e} (close: {:?})", fast.close_info())
                }
            }
        };
        assert_eq!(seq, next, "fast client receives every message in order");
        next += 1;
    }

    // Now read what the slow client was sent: it ends with the overflow error and close 4008.
    let mut saw_overflow_error = false;
    let close = tokio::time::timeout(WAIT, async {
        while let Some(Ok(message)) = slow.next().await {
            match message {
                Message::Text(text) => {
                    if text.contains("send_queue_overflow") {
                        saw_overflow_error = true;
                    }
                }
                Message::Close(frame) => return frame.map(|f| u16::from(f.code)),
                _ => {}
            }
        }
        None
    })
    .await
    .expect("slow client closed in time");
    assert_eq!(close, Some(4008));
    assert!(saw_overflow_error);
}
