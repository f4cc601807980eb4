//! WebSocket protocol violations, sent as raw bytes over TCP: each is answered with an
//! `error` frame and a Close frame carrying 1002 (RFC 6455 §7.4.1), and the server keeps
//! serving everyone else.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);

/// A masked client frame: `first` is the FIN/RSV/opcode byte; mask key 0 keeps the payload
/// readable (masking with zeros is still masking).
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![first, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// The violations, each with a name for the failure message.
fn violations() -> Vec<(&'static str, Vec<u8>)> {
    let mut long_ping = vec![0x89, 0x80 | 126, 0, 126, 0, 0, 0, 0];
    long_ping.extend_from_slice(&[b'p'; 126]);
    vec![
        ("reserved bit RSV1 on a binary frame", masked(0x80 | 0x40 | 0x2, b"\x80")),
        ("reserved data opcode 0x3", masked(0x80 | 0x3, b"x")),
        ("reserved control opcode 0xB", masked(0x80 | 0xB, b"")),
        ("continuation with nothing to continue", masked(0x80, b"x")),
        ("new data frame inside a fragmented message", [masked(0x2, b"a"), masked(0x82, b"b")].concat()),
        ("fragmented ping", masked(0x09, b"p")),
        ("ping payload over 125 bytes", long_ping),
        ("close payload of 1 byte", masked(0x88, b"\x03")),
        ("unmasked client frame", vec![0x82, 0x01, 0x80]),
    ]
}

/// Open a raw upgraded socket to the server.
async fn upgraded(server: &TestServer) -> TcpStream {
    let addr = server.ws_url().trim_start_matches("ws://").trim_end_matches("/ws").to_string();
    let mut tcp = TcpStream::connect(&addr).await.expect("connect");
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.expect("handshake reply");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    tcp
}

/// Read server frames until a Close frame; return its status code (None: no code) and
/// the opcodes seen before it.
async fn close_code(tcp: &mut TcpStream) -> (Option<u16>, Vec<u8>) {
    let mut opcodes = Vec::new();
    loop {
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head).await.expect("a frame before the socket closes");
        let opcode = head[0] & 0x0F;
        let mut len = (head[1] & 0x7F) as usize;
        if len == 126 {
            let mut ext = [0u8; 2];
            tcp.read_exact(&mut ext).await.unwrap();
            len = u16::from_be_bytes(ext) as usize;
        } else if len == 127 {
            let mut ext = [0u8; 8];
            tcp.read_exact(&mut ext).await.unwrap();
            len = u64::from_be_bytes(ext) as usize;
        }
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.unwrap();
        if opcode == 0x8 {
            let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            return (code, opcodes);
        }
        opcodes.push(opcode);
    }
}

#[tokio::test]
async fn protocol_violations_are_closed_with_1002_and_the_server_keeps_serving() {
    let server = TestServer::start();
    for (name, bytes) in violations() {
        let mut tcp = upgraded(&server).await;
        tcp.write_all(&bytes).await.unwrap();
        let (code, before) = tokio::time::timeout(WAIT, close_code(&mut tcp)).await.expect(name);
        assert_eq!(code, Some(1002), "{name}: close code");
        // The `error` frame (binary, MessagePack by default) comes first.
        assert_eq!(before, vec![0x2], "{name}: an error frame before the close");
    }
    let (agent, _, _) = server.agent("Still fine").await;
    agent.request(switchboard_protocol::Request::ListQueue {}).await.expect("server still serves");
}
