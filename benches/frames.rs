//! Frame encode/decode cost, both encodings: a `send_message` request (decoded by the
//! server for every message) and a `message` event (encoded once per delivery).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use switchboard_protocol::codec::{self, Encoding};
use switchboard_protocol::{ClientFrame, Message, Request, Sender, ServerFrame};

fn request() -> ClientFrame {
    ClientFrame {
        req: 12_345,
        request: Request::SendMessage {
            session_id: 42,
            client_msg_id: "c6b1c1f2-1d3e-4bb0-9d7e-5b0b6a8e2f10".into(),
            text: "Hello, I ordered a blue kettle last week and it has not arrived yet.".into(),
        },
    }
}

fn event() -> ServerFrame {
    ServerFrame::Message {
        session_id: 42,
        message: Message {
            seq: 1_234,
            from: Sender::Agent,
            agent_id: Some(7),
            client_msg_id: "a-991".into(),
            text: "Thanks for waiting: the parcel left our warehouse this morning.".into(),
            sent_at_ms: 1_780_000_000_000,
        },
    }
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frames");
    group.throughput(Throughput::Elements(1));
    for (name, encoding) in [("msgpack", Encoding::MsgPack), ("json", Encoding::Json)] {
        let bytes = codec::encode_client(&request(), encoding);
        group.bench_function(format!("decode_send_message/{name}"), |b| {
            b.iter(|| codec::decode_client(black_box(&bytes), encoding).unwrap())
        });
        let frame = event();
        group.bench_function(format!("encode_message_event/{name}"), |b| {
            b.iter(|| codec::encode_server(black_box(&frame), encoding))
        });
    }
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
