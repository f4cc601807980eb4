//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/seed-*`: valid
//! frames of each request and server frame type (made with the protocol crate's encoders,
//! so they follow the wire definition), a few near-misses, and for the framing targets
//! streams of such frames. `scripts/fuzz.sh --seed` runs it; the fuzzer and `cargo fuzz
//! cmin` take it from there (the committed corpora are the minimized result).

use std::path::Path;

use switchboard_fuzz::quic::LIMITS;
use switchboard_fuzz::ws::FRAME_BYTES_MAX;
use switchboard_protocol::codec::{encode_client, encode_server, Encoding};
use switchboard_protocol::framing::encode_length_prefixed;
use switchboard_protocol::limits::FRAME_BYTES_MAX_DEFAULT;
use switchboard_protocol::*;

fn requests() -> Vec<Request> {
    vec![
        Request::Auth { token: "1.abc".into() },
        Request::StartChat {
            name: Some("Ada".into()),
            email: Some("ada@example.com".into()),
            page_url: Some("https://example.com/pricing".into()),
            first_message: Some("hi".into()),
            client_msg_id: Some("c1".into()),
            department: None,
        },
        Request::StartChat {
            name: None,
            email: None,
            page_url: None,
            first_message: None,
            client_msg_id: None,
            department: None,
        },
        Request::ResumeChat { session_token: "7.xyz".into(), after_seq: 3 },
        Request::ListQueue {},
        Request::Accept { session_id: 7 },
        Request::SendMessage { session_id: 7, client_msg_id: "m-1".into(), text: "héllo ✓".into() },
        Request::Typing { session_id: 7, typing: true },
        Request::Close { session_id: 7 },
        Request::Attach { session_id: 7, after_seq: 0 },
        Request::Detach { session_id: 7 },
        Request::MarkRead { session_id: 7, seq: 4 },
        Request::History { session_id: 7, after_seq: 10, limit: Some(50) },
        Request::History { session_id: u64::MAX, after_seq: 0, limit: None },
    ]
}

fn client_frames(encoding: Encoding) -> Vec<Vec<u8>> {
    requests()
        .into_iter()
        .enumerate()
        .map(|(i, request)| encode_client(&ClientFrame { req: i as u64 + 1, request }, encoding))
        .collect()
}

/// JSON near-misses: each reaches a different decoding step (see codec.rs).
const JSON_NEAR_MISSES: &[&str] = &[
    r#"{"type":"fly","req":4}"#,
    r#"{"type":"accept","req":5}"#,
    r#"{"type":"accept","req":6,"session_id":"7","extra":[1,{"a":null}]}"#,
    r#"{"req":1}"#,
    r#"[1,2,3]"#,
    r#"{"type":"send_message","req":1,"session_id":1,"client_msg_id":"a","text":"\ud83d\ude00 \u0000"}"#,
];

fn session() -> SessionInfo {
    SessionInfo {
        session_id: 1,
        state: SessionState::Active,
        visitor: VisitorInfo {
            name: Some("Ada".into()),
            email: None,
            page_url: Some("https://e.com".into()),
        },
        agent_id: Some(2),
        agent_name: Some("Bob".into()),
        created_at_ms: 10,
        accepted_at_ms: Some(20),
        closed_at_ms: None,
        last_seq: 3,
        department_id: 1,
        priority: 0,
        contact_id: None,
        ticket_id: None,
        rating: None,
        unread: Some(1),
    }
}

fn server_frames() -> Vec<ServerFrame> {
    let message = Message {
        seq: 3,
        from: Sender::Agent,
        agent_id: Some(2),
        client_msg_id: "x".into(),
        text: "hello".into(),
        sent_at_ms: 30,
    };
    let agent = AgentInfo { agent_id: 2, display_name: "Bob".into(), max_concurrent_chats: 5 };
    vec![
        ServerFrame::Authed { re: 1, agent },
        ServerFrame::ChatStarted {
            re: 2,
            session_token: "1.tok".into(),
            session: session(),
            first_message: Some(message.clone()),
        },
        ServerFrame::Attached { re: 3, session: session(), messages: vec![message.clone()], has_more: true },
        ServerFrame::Queue {
            re: 4,
            waiting_total: 1,
            active_total: 1,
            waiting: vec![session()],
            active: vec![session()],
            closed: vec![],
        },
        ServerFrame::Accepted { re: 5, session: session() },
        ServerFrame::MessageAck {
            re: 6,
            session_id: 1,
            seq: 4,
            client_msg_id: "m".into(),
            sent_at_ms: 40,
            duplicate: false,
        },
        ServerFrame::Closed { re: 7, session: session() },
        ServerFrame::History { re: 8, session_id: 1, messages: vec![message.clone()], has_more: false },
        ServerFrame::Ok { re: 9 },
        ServerFrame::Error { re: Some(10), code: ErrorCode::AlreadyTaken, message: "taken".into() },
        ServerFrame::Error { re: None, code: ErrorCode::IdleTimeout, message: "bye".into() },
        ServerFrame::SessionCreated { session: session() },
        ServerFrame::SessionUpdated { session: session() },
        ServerFrame::Message { session_id: 1, message },
        ServerFrame::Typing { session_id: 1, from: Sender::Visitor, agent_id: None, typing: true },
    ]
}

/// A control byte for `quic_framing`: `splits` split points, the limit at `limit_index`.
fn quic_input(splits: &[u16], limit_index: usize, stream: &[u8]) -> Vec<u8> {
    let mut input = vec![(limit_index as u8) << 4 | splits.len() as u8];
    for split in splits {
        input.extend_from_slice(&split.to_be_bytes());
    }
    input.extend_from_slice(stream);
    input
}

/// One masked client WebSocket frame (RFC 6455 §5.2), as a browser sends it.
fn ws_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ mask[i % 4]));
    frame
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
}

fn main() {
    let msgpack = client_frames(Encoding::MsgPack);
    let json = client_frames(Encoding::Json);
    for (i, (mp, js)) in msgpack.iter().zip(&json).enumerate() {
        write("decode_msgpack", &format!("request-{i:02}"), mp);
        write("decode_json", &format!("request-{i:02}"), js);
    }
    for (i, text) in JSON_NEAR_MISSES.iter().enumerate() {
        write("decode_json", &format!("near-miss-{i:02}"), text.as_bytes());
    }
    for (i, frame) in server_frames().iter().enumerate() {
        write("decode_server_msgpack", &format!("frame-{i:02}"), &encode_server(frame, Encoding::MsgPack));
    }

    let stream: Vec<u8> = msgpack.iter().flat_map(|frame| encode_length_prefixed(frame)).collect();
    let default_limit = LIMITS.iter().position(|&l| l == FRAME_BYTES_MAX_DEFAULT).expect("default limit");
    write("quic_framing", "whole", &quic_input(&[], default_limit, &stream));
    write("quic_framing", "split", &quic_input(&[1, 3, 4, 5, 40, 41, 200], default_limit, &stream));
    write("quic_framing", "empty-frames", &quic_input(&[2], 0, &[0; 12]));
    let too_large = [&encode_length_prefixed(b"ok")[..], &[0x00, 0x00, 0x40, 0x01], b"body"].concat();
    write("quic_framing", "too-large", &quic_input(&[6, 8], default_limit, &too_large));
    write("quic_framing", "max-prefix", &quic_input(&[], 15, &[0xff, 0xff, 0xff, 0xff, 1, 2]));

    let binary: Vec<u8> = msgpack.iter().flat_map(|frame| ws_frame(true, 0x2, frame)).collect();
    let text: Vec<u8> = json.iter().flat_map(|frame| ws_frame(true, 0x1, frame)).collect();
    let (first, rest) = json[1].split_at(10);
    let control = [
        ws_frame(true, 0x9, b"ping"),
        ws_frame(false, 0x1, first),
        ws_frame(true, 0xa, b"pong"),
        ws_frame(true, 0x0, rest),
        ws_frame(true, 0x8, &[0x03, 0xe8, b'b', b'y', b'e']),
    ]
    .concat();
    write("ws_framing", "binary", &[&[6][..], &binary].concat());
    write("ws_framing", "text-bytewise", &[&[0][..], &text].concat());
    write("ws_framing", "control-and-fragments", &[&[4][..], &control].concat());
    let largest = ws_frame(true, 0x2, &vec![0xc0; FRAME_BYTES_MAX]);
    let too_large = ws_frame(true, 0x2, &vec![0xc0; FRAME_BYTES_MAX + 1]);
    write("ws_framing", "largest", &[&[5][..], &largest].concat());
    write("ws_framing", "too-large", &[&[7][..], &too_large[..64]].concat());
}
