//! In-process end-to-end relay: the real gateway and engine in this process, real
//! WebSocket clients over loopback. Each iteration the visitor pipelines `MESSAGES`
//! messages and the agent receives all of them (durable, fsync group commit).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_client::Client;
use switchboard_engine::{Engine, EngineConfig};
use switchboard_gateway::drain::Drain;
use switchboard_gateway::metrics::{BuildInfo, Metrics};
use switchboard_gateway::{GatewayConfig, Server};
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::{Request, ServerFrame};
use switchboard_storage::{Storage, StorageConfig};

/// Messages per iteration.
const MESSAGES: u64 = 1000;

fn bench(c: &mut Criterion) {
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let system = actix_rt::System::with_tokio_rt(runtime);
    let dir = tempfile::tempdir().unwrap();
    let (mut visitor, mut agent, session) = system.block_on(async {
        let storage = Storage::open(dir.path(), &StorageConfig::default()).unwrap();
        let engine = Engine::start(
            storage,
            EngineConfig { session_messages_max: u64::MAX, ..EngineConfig::default() },
        )
        .unwrap();
        engine.ensure_admin_token(Some("bench")).unwrap();
        let (_, token) = engine.create_agent("Bench".into(), 5).await.unwrap();
        let config = GatewayConfig {
            http_addr: "127.0.0.1:0".parse().unwrap(),
            visitor_rate_per_s: u32::MAX,
            visitor_burst: u32::MAX,
            ..GatewayConfig::default()
        };
        let build = BuildInfo { version: "bench".into(), commit: "bench".into() };
        let metrics = Metrics::install(build).unwrap();
        let server = Server::bind(config).unwrap().start(engine, metrics, Drain::new()).unwrap();
        let url = format!("ws://{}/ws", server.local_addr);
        std::mem::forget(server);
        let visitor = Client::connect(&url, Encoding::MsgPack).await.unwrap();
        let ServerFrame::ChatStarted { session, .. } = visitor
            .call(Request::StartChat {
                name: None,
                email: None,
                page_url: None,
                first_message: None,
                client_msg_id: None,
                department: None,
            })
            .await
            .unwrap()
        else {
            panic!()
        };
        let agent = Client::connect(&url, Encoding::MsgPack).await.unwrap();
        agent.call(Request::Auth { token }).await.unwrap();
        agent.call(Request::Accept { session_id: session.session_id }).await.unwrap();
        (visitor, agent, session.session_id)
    });
    visitor.timeout = Duration::from_secs(60);
    let mut n = 0u64;
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(MESSAGES));
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("ws_durable_visitor_to_agent", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..MESSAGES {
                        n += 1;
                        let request = Request::SendMessage {
                            session_id: session,
                            client_msg_id: format!("m{n}"),
                            text: "hello there".into(),
                        };
                        visitor.send(request).await.unwrap();
                    }
                    let mut received = 0;
                    while received < MESSAGES {
                        if let ServerFrame::Message { .. } =
                            agent.next_event(Duration::from_secs(30)).await.unwrap()
                        {
                            received += 1;
                        }
                    }
                }
                let elapsed = start.elapsed();
                visitor.drain_events();
                elapsed
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
