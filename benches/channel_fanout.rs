//! In-process channel fan-out: the real gateway and engine in this process, a channel of
//! `N` members each on its own WebSocket connection over loopback. Each iteration the
//! poster pipelines `POSTS` messages (each acknowledged once durable) and every other member
//! receives all of them. Throughput is in deliveries (posts × receiving members).

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

/// Posts per iteration.
const POSTS: u64 = 200;
/// Channel sizes measured.
const SIZES: [usize; 2] = [10, 100];

fn bench(c: &mut Criterion) {
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let system = actix_rt::System::with_tokio_rt(runtime);
    let dir = tempfile::tempdir().unwrap();
    let (engine, url) = system.block_on(async {
        let storage = Storage::open(dir.path(), &StorageConfig::default()).unwrap();
        let engine = Engine::start(storage, EngineConfig::default()).unwrap();
        engine.ensure_admin_token(Some("bench")).unwrap();
        let config = GatewayConfig { http_addr: "127.0.0.1:0".parse().unwrap(), ..GatewayConfig::default() };
        let build = BuildInfo { version: "bench".into(), commit: "bench".into() };
        let metrics = Metrics::install(build).unwrap();
        let server = Server::bind(config).unwrap().start(engine.clone(), metrics, Drain::new()).unwrap();
        let url = format!("ws://{}/ws", server.local_addr);
        std::mem::forget(server);
        (engine, url)
    });
    let mut group = c.benchmark_group("channel_fanout");
    group.measurement_time(Duration::from_secs(8));
    group.sample_size(10);
    for size in SIZES {
        let (mut poster, mut members, channel) = system.block_on(async {
            let mut clients = Vec::new();
            let mut ids = Vec::new();
            for i in 0..size {
                let (profile, token) = engine.create_agent(format!("member {size}-{i}"), 1).await.unwrap();
                let client = Client::connect(&url, Encoding::MsgPack).await.unwrap();
                client.call(Request::Auth { token }).await.unwrap();
                clients.push(client);
                ids.push(profile.id);
            }
            let poster = clients.remove(0);
            let created = poster
                .call(Request::CreateChannel {
                    name: format!("bench-{size}"),
                    description: None,
                    private: false,
                    folder_id: None,
                    invite: ids[1..].to_vec(),
                })
                .await
                .unwrap();
            let ServerFrame::Channel { channel, .. } = created else { panic!("{created:?}") };
            (poster, clients, channel.channel_id)
        });
        let mut n = 0u64;
        group.throughput(Throughput::Elements(POSTS * (size as u64 - 1)));
        group.bench_function(format!("ws_durable_{size}_members"), |b| {
            b.iter_custom(|iters| {
                system.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for _ in 0..POSTS {
                            n += 1;
                            let request = Request::SendChannelMessage {
                                channel_id: channel,
                                client_msg_id: format!("m{n}"),
                                text: "deploy at five".into(),
                            };
                            poster.send(request).await.unwrap();
                        }
                        for member in members.iter_mut() {
                            let mut received = 0;
                            while received < POSTS {
                                if let ServerFrame::ChannelMessage { .. } =
                                    member.next_event(Duration::from_secs(30)).await.unwrap()
                                {
                                    received += 1;
                                }
                            }
                        }
                    }
                    let elapsed = start.elapsed();
                    poster.drain_events();
                    elapsed
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
