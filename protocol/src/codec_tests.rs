use super::*;
use crate::frames::*;
use crate::limits;

const BOTH: [Encoding; 2] = [Encoding::MsgPack, Encoding::Json];

fn sample_requests() -> Vec<Request> {
    vec![
        Request::Auth { token: "1.abc".into() },
        Request::AuthConsole {},
        Request::RateChat { session_id: 1, score: 5, comment: Some("thanks".into()) },
        Request::DepartmentStatus { department: Some("sales".into()) },
        Request::LeaveMessage {
            department: None,
            name: "Ada".into(),
            email: "ada@example.com".into(),
            text: "Call me back".into(),
            page_url: None,
        },
        Request::StartChat {
            name: Some("Ada".into()),
            email: None,
            page_url: Some("https://example.com/pricing".into()),
            first_message: Some("hi".into()),
            client_msg_id: Some("c1".into()),
            department: None,
        },
        Request::ResumeChat { session_token: "7.xyz".into(), after_seq: 3 },
        Request::ListQueue {},
        Request::Accept { session_id: 7 },
        Request::SendMessage { session_id: 7, client_msg_id: "m-1".into(), text: "héllo".into() },
        Request::Typing { session_id: 7, typing: true },
        Request::Close { session_id: 7 },
        Request::Attach { session_id: 7, after_seq: 0 },
        Request::Detach { session_id: 7 },
        Request::MarkRead { session_id: 7, seq: 4 },
        Request::History { session_id: 7, after_seq: 10, limit: Some(50) },
        Request::SetPresence { presence: crate::Presence::Away },
        Request::AcceptOffer { session_id: 7 },
        Request::DeclineOffer { session_id: 7 },
        Request::SetPriority { session_id: 7, priority: 5 },
        Request::CreateChannel {
            name: "infrastructure-team".into(),
            description: Some("Pager duty".into()),
            private: true,
            folder_id: Some(2),
            invite: vec![3, 4],
        },
        Request::ListChannels {},
        Request::JoinChannel { channel_id: 1 },
        Request::InviteToChannel { channel_id: 1, agent_id: 3 },
        Request::LeaveChannel { channel_id: 1 },
        Request::ChannelMembers { channel_id: 1 },
        Request::SendChannelMessage { channel_id: 1, client_msg_id: "c1".into(), text: "@ann hi".into() },
        Request::ChannelHistory { channel_id: 1, after_seq: None, before_seq: Some(40), limit: Some(50) },
        Request::MarkChannelRead { channel_id: 1, seq: 9 },
        Request::EditChannelMessage { channel_id: 1, seq: 2, text: "fixed".into() },
        Request::DeleteChannelMessage { channel_id: 1, seq: 2 },
        Request::RemoveFromChannel { channel_id: 1, agent_id: 3 },
        Request::ArchiveChannel { channel_id: 1, archived: true },
        Request::SetChannelTopic { channel_id: 1, topic: "Q4 migration".into() },
        Request::ListCommands { channel_id: Some(1), session_id: None, prefix: Some("/to".into()) },
        Request::RunCommand { channel_id: None, session_id: Some(7), text: "/transfer billing".into() },
        Request::Transfer {
            session_id: 7,
            to_agent_id: Some(2),
            to_department: None,
            note: Some("billing question".into()),
        },
        Request::Transfer {
            session_id: 7,
            to_agent_id: None,
            to_department: Some("billing".into()),
            note: None,
        },
        Request::AcceptTransfer { session_id: 7 },
        Request::DeclineTransfer { session_id: 7 },
        Request::CreateTicket {
            session_id: Some(7),
            channel_id: None,
            seq: None,
            subject: Some("Refund".into()),
        },
        Request::CreateTicket { session_id: None, channel_id: Some(3), seq: Some(42), subject: None },
    ]
}

#[test]
fn every_request_round_trips_in_both_encodings() {
    for encoding in BOTH {
        for (i, request) in sample_requests().into_iter().enumerate() {
            let frame = ClientFrame { req: i as u64 + 1, request };
            let bytes = encode_client(&frame, encoding);
            assert_eq!(decode_client(&bytes, encoding).unwrap(), frame, "{encoding:?}");
        }
    }
}

#[test]
fn every_request_type_is_listed() {
    let mut kinds = std::collections::BTreeSet::new();
    for request in sample_requests() {
        let json = serde_json::to_value(&request).unwrap();
        let kind = json["type"].as_str().unwrap().to_string();
        assert!(Request::TYPES.contains(&kind.as_str()), "{kind}");
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), Request::TYPES.len(), "every type has a sample");
}

#[test]
fn json_wire_shape_is_flat() {
    let frame = ClientFrame { req: 9, request: Request::Accept { session_id: 7 } };
    let value: serde_json::Value = serde_json::from_slice(&encode_client(&frame, Encoding::Json)).unwrap();
    assert_eq!(value, serde_json::json!({"type": "accept", "req": 9, "session_id": 7}));
}

#[test]
fn msgpack_golden_bytes_for_a_request() {
    let frame = ClientFrame { req: 1, request: Request::Accept { session_id: 2 } };
    let bytes = encode_client(&frame, Encoding::MsgPack);
    // map of 3: "req" 1, "type" "accept", "session_id" 2
    let expected: Vec<u8> = [
        &[0x83, 0xa3][..],
        b"req",
        &[0x01, 0xa4],
        b"type",
        &[0xa6],
        b"accept",
        &[0xaa],
        b"session_id",
        &[0x02],
    ]
    .concat();
    assert_eq!(bytes, expected);
}

#[test]
fn decode_errors_are_specific() {
    // (input, expected code, expected req)
    let cases: Vec<(&str, ErrorCode, Option<u64>)> = vec![
        ("not json", ErrorCode::MalformedFrame, None),
        ("[1,2,3]", ErrorCode::MalformedFrame, None),
        (r#"{"type":"accept"}"#, ErrorCode::InvalidRequest, None),
        (r#"{"type":"accept","req":"x"}"#, ErrorCode::InvalidRequest, None),
        (r#"{"type":"fly","req":4}"#, ErrorCode::UnknownType, Some(4)),
        (r#"{"type":"accept","req":5}"#, ErrorCode::InvalidRequest, Some(5)),
        (r#"{"type":"accept","req":6,"session_id":"7"}"#, ErrorCode::InvalidRequest, Some(6)),
        (r#"{"type":"typing","req":7,"session_id":1,"typing":"yes"}"#, ErrorCode::InvalidRequest, Some(7)),
    ];
    for (input, code, req) in cases {
        let err = decode_client(input.as_bytes(), Encoding::Json).unwrap_err();
        assert_eq!((err.code, err.req), (code, req), "{input}: {}", err.message);
    }
    let err = decode_client(&[0xc1, 0xff, 0x00], Encoding::MsgPack).unwrap_err();
    assert_eq!(err.code, ErrorCode::MalformedFrame);
}

#[test]
fn server_frames_round_trip() {
    let session = SessionInfo {
        session_id: 1,
        state: SessionState::Active,
        visitor: VisitorInfo { name: Some("Ada".into()), email: None, page_url: None },
        agent_id: Some(2),
        agent_name: Some("Bob".into()),
        created_at_ms: 10,
        accepted_at_ms: Some(20),
        closed_at_ms: None,
        last_seq: 3,
        department_id: 1,
        priority: -3,
        contact_id: Some(4),
        ticket_id: Some(5),
        rating: Some(RatingInfo { score: 4, comment: Some("quick".into()), rated_at_ms: 40 }),
        unread: Some(1),
    };
    let message = Message {
        seq: 3,
        from: Sender::Agent,
        agent_id: Some(2),
        client_msg_id: "x".into(),
        text: "hello".into(),
        sent_at_ms: 30,
    };
    let frames = vec![
        ServerFrame::Accepted { re: 1, session: session.clone() },
        ServerFrame::Message { session_id: 1, message: message.clone() },
        ServerFrame::Error { re: Some(3), code: ErrorCode::AlreadyTaken, message: "taken".into() },
        ServerFrame::Attached { re: 4, session, messages: vec![message], has_more: false },
        ServerFrame::Ok { re: 5 },
        ServerFrame::Ticket {
            re: 6,
            ticket: crate::TicketInfo {
                ticket_id: 5,
                subject: "Chat with Ada (2026-11-03)".into(),
                requester_name: Some("Ada".into()),
                requester_email: None,
                description: "[2026-11-03T14:05:09Z] Ada: hi".into(),
                session_id: Some(1),
                channel_id: None,
                channel_seq: None,
                created_by: Some(2),
                created_at_ms: 40,
                contact_id: Some(4),
                source: crate::tickets::TicketOrigin::Session,
                department_id: None,
            },
        },
        ServerFrame::DepartmentStatus {
            re: 7,
            department: "sales".into(),
            open: false,
            agents_online: true,
            next_open_ms: Some(1_800_000_000_000),
            time_zone: Some("Europe/Berlin".into()),
        },
        ServerFrame::MessageLeft { re: 8, ticket_id: 9 },
    ];
    for encoding in BOTH {
        for frame in &frames {
            let bytes = encode_server(frame, encoding);
            assert_eq!(&decode_server(&bytes, encoding).unwrap(), frame);
        }
    }
    let json = serde_json::to_value(&frames[2]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "error", "re": 3, "code": "already_taken", "message": "taken"})
    );
}

/// Heap bytes allocated by the current thread, for tests that bound what decoding holds.
/// Per thread, so tests running in parallel do not disturb each other's numbers.
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LIVE: Cell<usize> = const { Cell::new(0) };
        static PEAK: Cell<usize> = const { Cell::new(0) };
    }

    struct Counting;

    // SAFETY: forwards every call unchanged to the system allocator; the thread-local
    // counters are plain cells without destructors, so touching them never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = LIVE.try_with(|live| {
                live.set(live.get() + layout.size());
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
            System.alloc(layout)
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(layout.size())));
            System.dealloc(ptr, layout)
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// The most heap bytes `f` held at once on this thread, beyond what was live before it.
    pub fn peak_of<T>(f: impl FnOnce() -> T) -> usize {
        let start = LIVE.with(Cell::get);
        PEAK.with(|peak| peak.set(start));
        let value = f();
        drop(value);
        PEAK.with(Cell::get) - start
    }
}

/// MessagePack with `n` nested arrays that each announce 2^32 - 1 elements and hold none.
fn announced_arrays(prefix: &[u8], n: usize) -> Vec<u8> {
    [prefix, &[0xdd, 0xff, 0xff, 0xff, 0xff].repeat(n)].concat()
}

#[test]
fn announced_lengths_reserve_no_memory() {
    // A map whose first entries are fine, then an unknown field of nested announced arrays.
    let auth: &[u8] =
        &[&[0x83, 0xa4][..], b"type", &[0xa4], b"auth", &[0xa3], b"req", &[0x01, 0xa1, b'x']].concat();
    let ok: &[u8] =
        &[&[0x83, 0xa4][..], b"type", &[0xa2], b"ok", &[0xa2], b"re", &[0x01, 0xa1, b'x']].concat();
    // Regression inputs found by fuzzing (docs/FUZZING.md): before the fix, the first made
    // the server reserve 1.6 MiB and the last made a client reserve 1 GiB.
    // (input, decoded by the server (client frame) or by a client (server frame))
    let cases: Vec<(Vec<u8>, bool)> = vec![
        (vec![0xde, 0xff, 0xff], true),
        (vec![0xdf, 0xff, 0xff, 0xff, 0xff], true),
        (announced_arrays(auth, 1000), true),
        (vec![0xdf, 0xff, 0xff, 0xff, 0xff], false),
        (vec![0xdd, 0xff, 0xff, 0xff, 0xff], false),
        (announced_arrays(ok, 1000), false),
    ];
    for (input, server_side) in cases {
        let peak = heap::peak_of(|| match server_side {
            true => decode_client(&input, Encoding::MsgPack).map(drop),
            false => decode_server(&input, Encoding::MsgPack).map(drop),
        });
        let side = if server_side { "a client frame" } else { "a server frame" };
        assert!(peak < 16 * 1024, "decoding {} bytes as {side} held {peak} heap bytes", input.len());
        let code = match server_side {
            true => decode_client(&input, Encoding::MsgPack).unwrap_err().code,
            false => decode_server(&input, Encoding::MsgPack).unwrap_err().code,
        };
        assert_eq!(code, ErrorCode::MalformedFrame);
    }
}

#[test]
fn a_map_is_told_from_a_non_map_as_before() {
    // Maps with string keys (also as MessagePack bin keys) are invalid requests; anything
    // else is malformed.
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        ([&[0x81, 0xa1][..], b"a", &[0x01]].concat(), ErrorCode::InvalidRequest),
        ([&[0x81, 0xc4, 0x01][..], b"a", &[0x01]].concat(), ErrorCode::InvalidRequest),
        (vec![0x80], ErrorCode::InvalidRequest),
        (vec![0x81, 0x01, 0x01], ErrorCode::MalformedFrame),
        (vec![0x81, 0xc4, 0x01, 0xff, 0x01], ErrorCode::MalformedFrame),
        (vec![0x82, 0xa1, b'a', 0x01], ErrorCode::MalformedFrame),
        (vec![0x93, 0x01, 0x02, 0x03], ErrorCode::MalformedFrame),
    ];
    for (input, code) in cases {
        assert_eq!(decode_client(&input, Encoding::MsgPack).unwrap_err().code, code, "{input:x?}");
    }
}

/// A MessagePack `auth` frame whose unknown field `x` nests `levels` maps.
fn nested_auth(levels: usize) -> Vec<u8> {
    let head: &[u8] = &[&[0x84, 0xa4][..], b"type", &[0xa4], b"auth", &[0xa3], b"req", &[0x01]].concat();
    [head, &[0xa5], b"token", &[0xa1, b't', 0xa1, b'x'], &[0x81, 0xa1, b'k'].repeat(levels), &[0x00]].concat()
}

#[test]
fn nesting_is_limited_before_it_costs_much_stack() {
    // Run where a deep recursion would overflow: before the limit, 1022 levels took 0.5 to
    // 1 MiB of stack in release builds and over 2 MiB (a tokio worker's) in debug builds.
    let small_stack = std::thread::Builder::new().stack_size(256 * 1024);
    let codes = small_stack
        .spawn(|| {
            // (levels below the frame's own map, expected outcome)
            [
                (limits::NESTING_DEPTH_MAX - 1, None),
                (limits::NESTING_DEPTH_MAX, Some(ErrorCode::MalformedFrame)),
            ]
            .into_iter()
            .chain([(1022, Some(ErrorCode::MalformedFrame))])
            .map(|(levels, expected)| {
                let got = decode_client(&nested_auth(levels), Encoding::MsgPack).err().map(|e| e.code);
                (levels, got, expected)
            })
            .collect::<Vec<_>>()
        })
        .unwrap()
        .join()
        .unwrap();
    for (levels, got, expected) in codes {
        assert_eq!(got, expected, "{levels} levels");
    }
}

/// Frames the fast path must decode exactly as the general decoder does (or leave to it).
fn tricky_frames() -> Vec<(Encoding, Vec<u8>)> {
    let json = |s: &str| (Encoding::Json, s.as_bytes().to_vec());
    let mut frames = vec![
        json(r#"{"type":"send_message","req":1,"session_id":7,"client_msg_id":"c","text":"hi"}"#),
        json(
            r#"  {"req":1,"text":"hi","session_id":7,"client_msg_id":"c","type":"send_message","extra":[1]}"#,
        ),
        json(r#"{"type":"send_message","req":1,"session_id":7,"client_msg_id":"c","text":null}"#),
        json(r#"{"type":"send_message","req":1,"session_id":7,"client_msg_id":"c"}"#),
        json(r#"{"type":"send_message","req":1,"session_id":"7","client_msg_id":"c","text":"x"}"#),
        json(r#"{"type":"send_message","req":1,"session_id":7.5,"client_msg_id":"c","text":"x"}"#),
        json(
            r#"{"type":"send_message","req":1,"session_id":7,"session_id":8,"client_msg_id":"c","text":"x"}"#,
        ),
        json(r#"{"type":"typing","req":2,"session_id":7,"typing":false}"#),
        json(r#"{"type":"typing","req":2,"session_id":7,"typing":1}"#),
        json(r#"{"type":"mark_read","req":3,"session_id":7,"seq":9,"text":5}"#),
        json(r#"{"type":"history","req":4,"session_id":7,"after_seq":null}"#),
        json(r#"{"type":"list_queue","req":5,"text":5}"#),
        json(r#"["send_message",1,7,"c","hi"]"#),
        json(r#"{"type":"send_message","req":1,"session_id":7,"client_msg_id":"c","text":"x"} trailing"#),
        json(r#"{"type":"s\u0065nd_message","req":1,"session_id":7,"client_msg_id":"c","text":"\u00e9"}"#),
    ];
    for request in sample_requests() {
        frames.push((Encoding::MsgPack, encode_client(&ClientFrame { req: 9, request }, Encoding::MsgPack)));
    }
    let array = rmp_serde::to_vec(&("send_message", 1u64, 7u64, "c", "hi")).unwrap();
    frames.push((Encoding::MsgPack, array));
    frames
}

#[test]
fn the_fast_path_agrees_with_the_general_decoder_on_every_frame() {
    for (encoding, bytes) in tricky_frames() {
        let general = decode_client_general(&bytes, encoding);
        assert_eq!(decode_client(&bytes, encoding), general, "{}", String::from_utf8_lossy(&bytes));
        if let Some(fast) = crate::codec_fast::decode_hot(&bytes, encoding) {
            assert_eq!(Ok(fast), general, "fast path answered differently");
        }
    }
}

#[test]
fn the_per_message_requests_take_the_fast_path() {
    for request in sample_requests() {
        let hot = matches!(
            request,
            Request::SendMessage { .. } | Request::Typing { .. } | Request::MarkRead { .. }
        );
        for encoding in BOTH {
            let bytes = encode_client(&ClientFrame { req: 1, request: request.clone() }, encoding);
            assert_eq!(crate::codec_fast::decode_hot(&bytes, encoding).is_some(), hot, "{request:?}");
        }
    }
}

#[test]
fn the_fast_path_keeps_the_nesting_limit() {
    // A `send_message` whose unknown field nests far too deep: refused, not recursed into.
    let head: &[u8] = &[
        &[0x86, 0xa4][..],
        b"type",
        &[0xac],
        b"send_message",
        &[0xa3],
        b"req",
        &[0x01],
        &[0xaa],
        b"session_id",
        &[0x07],
        &[0xad],
        b"client_msg_id",
        &[0xa1, b'c'],
        &[0xa4],
        b"text",
        &[0xa1, b'x'],
        &[0xa1, b'z'],
    ]
    .concat();
    let deep = [head, &[0x81, 0xa1, b'k'].repeat(limits::NESTING_DEPTH_MAX + 8), &[0x00]].concat();
    let small_stack = std::thread::Builder::new().stack_size(256 * 1024);
    let code = small_stack
        .spawn(move || decode_client(&deep, Encoding::MsgPack).err().map(|e| e.code))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(code, Some(ErrorCode::MalformedFrame));
}
