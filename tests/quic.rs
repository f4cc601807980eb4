//! The QUIC transport: same protocol and semantics as WebSocket; bad input on QUIC.

use std::time::Duration;

use switchboard_client::QuicConnector;
use switchboard_protocol::codec::{self, Encoding};
use switchboard_protocol::{ClientFrame, ErrorCode, Request, ServerFrame};

use crate::support::*;

#[tokio::test]
async fn a_chat_works_across_quic_and_websocket() {
    let server = TestServer::start();
    let (_, token) = server.create_agent("Quinn", 5).await;
    let mut agent = server.connect_quic().await;
    assert!(matches!(agent.call(Request::Auth { token }).await.unwrap(), ServerFrame::Authed { .. }));
    let (mut visitor, sid, vtoken) = server.visitor("Wes", Some("hello over websocket")).await;
    let created = wait_for(&mut agent, |f| match f {
        ServerFrame::SessionCreated { session } => Some(session.session_id),
        _ => None,
    })
    .await;
    assert_eq!(created, sid);
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    let ack = agent.call(say(sid, "q1", "hello over quic")).await.unwrap();
    assert!(matches!(ack, ServerFrame::MessageAck { seq: 2, duplicate: false, .. }), "{ack:?}");
    let again = agent.call(say(sid, "q1", "hello over quic")).await.unwrap();
    assert!(
        matches!(again, ServerFrame::MessageAck { seq: 2, duplicate: true, .. }),
        "idempotent on QUIC too"
    );
    let got = wait_for(&mut visitor, |f| match f {
        ServerFrame::Message { message, .. } => Some(message.text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got, "hello over quic");

    // A visitor resumes over QUIC with its token.
    drop(visitor);
    agent.call(say(sid, "q2", "missed this")).await.unwrap();
    let visitor = server.connect_quic().await;
    let reply = visitor.call(Request::ResumeChat { session_token: vtoken, after_seq: 2 }).await.unwrap();
    let ServerFrame::Attached { messages, has_more, .. } = reply else { panic!("{reply:?}") };
    assert_eq!((messages.iter().map(|m| m.seq).collect::<Vec<_>>(), has_more), (vec![3], false));
}

#[tokio::test]
async fn a_wrong_alpn_is_refused_at_the_handshake() {
    let server = TestServer::start();
    let cert = server.data_dir().join("quic-cert.pem");
    let connector = QuicConnector::with_alpn("127.0.0.1:0".parse().unwrap(), &cert, b"h3").unwrap();
    let refused = connector.connect(server.quic_addr.parse().unwrap(), "localhost").await;
    let message = refused.err().expect("handshake must fail").to_string();
    assert!(message.contains("no_application_protocol") || message.contains("120"), "{message}");
    // The server is fine.
    let client = server.connect_quic().await;
    assert!(client.request(Request::ListQueue {}).await.is_ok());
}

/// A raw QUIC connection to the server (for breaking the framing on purpose).
async fn raw_connection(server: &TestServer) -> quinn::Connection {
    let connector = server.quic_connector();
    let connecting = connector.endpoint().connect(server.quic_addr.parse().unwrap(), "localhost").unwrap();
    connecting.await.expect("raw quic connection")
}

/// A raw QUIC connection whose stream is authenticated as a new agent.
async fn authed_raw_stream(server: &TestServer) -> (quinn::Connection, quinn::SendStream, quinn::RecvStream) {
    let (_, token) = server.create_agent("Ann", 5).await;
    let connection = raw_connection(server).await;
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&frame(1, Request::Auth { token })).await.unwrap();
    assert!(matches!(read_frame(&mut recv).await, ServerFrame::Authed { .. }));
    (connection, send, recv)
}

fn frame(req: u64, request: Request) -> Vec<u8> {
    let body = codec::encode_client(&ClientFrame { req, request }, Encoding::MsgPack);
    let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
    bytes.extend(body);
    bytes
}

/// Read one length-prefixed server frame.
async fn read_frame(recv: &mut quinn::RecvStream) -> ServerFrame {
    let mut length = [0u8; 4];
    recv.read_exact(&mut length).await.expect("frame length");
    let mut body = vec![0u8; u32::from_be_bytes(length) as usize];
    recv.read_exact(&mut body).await.expect("frame body");
    codec::decode_server(&body, Encoding::MsgPack).expect("decodable frame")
}

/// The application close code of a connection the server closed.
async fn close_code(connection: &quinn::Connection) -> u64 {
    match tokio::time::timeout(WAIT, connection.closed()).await.expect("closed in time") {
        quinn::ConnectionError::ApplicationClosed(close) => close.error_code.into_inner(),
        other => panic!("expected an application close, got {other}"),
    }
}

#[tokio::test]
async fn oversized_and_truncated_frames_close_only_that_connection() {
    let server = TestServer::start();
    let (agent, _, _) = server.agent("Ann").await;
    let (_visitor, sid, _) = server.visitor("Vic", Some("kept")).await;

    // (bytes written, then finish?, expected error code, expected close code)
    let cases: Vec<(Vec<u8>, ErrorCode, u64)> = vec![
        ((1u32 << 20).to_be_bytes().to_vec(), ErrorCode::FrameTooLarge, 1009),
        ([&100u32.to_be_bytes()[..], &[0x81, 0xa1][..]].concat(), ErrorCode::MalformedFrame, 1002),
        (vec![0, 0], ErrorCode::MalformedFrame, 1002),
    ];
    for (bytes, code, close) in cases {
        let connection = raw_connection(&server).await;
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        send.write_all(&bytes).await.unwrap();
        if code == ErrorCode::MalformedFrame {
            send.finish().unwrap();
        }
        let error = read_frame(&mut recv).await;
        assert_eq!(error_code(&error), code);
        assert_eq!(close_code(&connection).await, close);
    }
    still_usable(&agent).await;
    assert_eq!(transcript(&agent, sid).await, vec![(1, "kept".to_string())]);
}

async fn still_usable(client: &switchboard_client::Client) {
    assert!(matches!(client.request(Request::ListQueue {}).await.unwrap(), ServerFrame::Queue { .. }));
}

#[tokio::test]
async fn extra_streams_are_not_granted_and_resets_end_only_that_connection() {
    let server = TestServer::start();
    let (connection, mut send, mut recv) = authed_raw_stream(&server).await;

    // The server grants one bidirectional stream and no unidirectional ones: more cannot
    // even be opened (flow control), so they cost the server nothing.
    let second = tokio::time::timeout(Duration::from_millis(300), connection.open_bi()).await;
    assert!(second.is_err(), "a second concurrent stream must not be granted");
    let uni = tokio::time::timeout(Duration::from_millis(300), connection.open_uni()).await;
    assert!(uni.is_err(), "unidirectional streams are not granted");
    // The first stream still works.
    send.write_all(&frame(2, Request::ListQueue {})).await.unwrap();
    assert!(matches!(read_frame(&mut recv).await, ServerFrame::Queue { .. }));

    // An abrupt reset ends this connection; the server carries on.
    send.reset(quinn::VarInt::from_u32(7)).unwrap();
    assert_eq!(close_code(&connection).await, 0, "closed normally by the server");
    let other = server.connect_quic().await;
    assert!(matches!(other.request(Request::ListQueue {}).await.unwrap(), ServerFrame::Error { .. }));

    // A dropped connection (no close at all) is also survived.
    let dropped = raw_connection(&server).await;
    let (mut s, _r) = dropped.open_bi().await.unwrap();
    s.write_all(&frame(1, Request::ListQueue {})).await.unwrap();
    drop(dropped);
    let (agent, _, _) = server.agent("Bob").await;
    still_usable(&agent).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_its_stream_is_closed_with_1002() {
    let server = TestServer::start();
    let (connection, _send, mut recv) = authed_raw_stream(&server).await;
    // STOP_SENDING: the client will read nothing more, so no reply could reach it. The
    // server closes the connection at once instead of keeping a useless slot.
    recv.stop(quinn::VarInt::from_u32(9)).unwrap();
    assert_eq!(close_code(&connection).await, 1002);
    let (agent, _, _) = server.agent("Bob").await;
    still_usable(&agent).await;
}
