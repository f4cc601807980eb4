//! A client that stops reading is disconnected with a reason once its bounded send queue
//! overflows, and fast clients keep receiving everything meanwhile.

use switchboard_protocol::{Request, ServerFrame};

use crate::support::*;

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_others_are_unaffected() {
    let server = TestServer::start();
    let (mut fast, _, _) = server.agent("Fast").await;
    let (_, slow_token) = server.create_agent("Slow", 5).await;
    let (visitor, sid, _) = server.visitor("Vic", None).await;
    fast.call(Request::Accept { session_id: sid }).await.unwrap();

    // The slow agent attaches, then never reads.
    let requests =
        vec![Request::Auth { token: slow_token }, Request::Attach { session_id: sid, after_seq: 0 }];
    let mut slow = stalled_client(&server, requests).await;

    // Flood the session. The fast agent must see every message, in order.
    // Below the 10,000-message session limit, well above what the slow path buffers.
    let total = 9_000u64;
    let text = "y".repeat(1000);
    let posts = (0..total).map(|i| say(sid, &format!("m{i}"), &text));
    send_pipelined(&visitor, posts, |f| matches!(f, ServerFrame::MessageAck { .. })).await;
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
    assert_eq!(read_to_close(&mut slow).await, (true, Some(4008)));
}
