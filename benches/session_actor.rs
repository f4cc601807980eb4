//! A session actor's message throughput: pipelined posts to one session and to many
//! sessions at once, through the engine (actor + pipeline + group commit), measured to the
//! last durable acknowledgement. Buffered durability isolates the actor's own cost; the
//! fsync variant shows the end-to-end durable rate.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_engine::{Answer, Engine, EngineConfig, Outbox, Outgoing, Participant, ReplyTo, Visitor};
use switchboard_storage::{Durability, Storage, StorageConfig};

/// Posts per iteration.
const POSTS: u64 = 2000;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_actor");
    group.throughput(Throughput::Elements(POSTS));
    group.measurement_time(Duration::from_secs(8));
    for (durability_name, durability) in [("buffered", Durability::Buffered), ("fsync", Durability::Fsync)] {
        for sessions in [1u64, 64] {
            let system = actix_rt::System::new();
            let dir = tempfile::tempdir().unwrap();
            let engine = system.block_on(async {
                let storage =
                    Storage::open(dir.path(), &StorageConfig { durability, ..StorageConfig::default() })
                        .unwrap();
                Engine::start(
                    storage,
                    EngineConfig {
                        session_messages_max: u64::MAX,
                        session_inflight_max: 1 << 20,
                        ..EngineConfig::default()
                    },
                )
                .unwrap()
            });
            let mut ids = Vec::new();
            let mut inboxes = Vec::new();
            for _ in 0..sessions {
                let (outbox, inbox) = Outbox::channel(engine.next_conn_id(), 16, 16);
                inboxes.push(inbox);
                let chat = system
                    .block_on(engine.start_chat(
                        Visitor::default(),
                        switchboard_engine::DEFAULT_DEPARTMENT,
                        None,
                        outbox,
                    ))
                    .unwrap();
                ids.push(chat.session.meta.id);
            }
            // The poster's queue: room for a whole iteration's answers.
            let (poster, mut answers) = Outbox::channel(engine.next_conn_id(), 16, POSTS as usize);
            let mut n = 0u64;
            group.bench_function(format!("{durability_name}/{sessions}_sessions"), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        system.block_on(async {
                            for i in 0..POSTS {
                                n += 1;
                                let session = ids[(i % sessions) as usize];
                                let to = ReplyTo { outbox: poster.clone(), req: i };
                                engine
                                    .post(Participant::Visitor, session, format!("m{n}"), "hello".into(), to)
                                    .await
                                    .unwrap();
                            }
                            for _ in 0..POSTS {
                                match answers.recv().await {
                                    Some(Outgoing::Answer { answer: Ok(Answer::Posted(_)), .. }) => {}
                                    other => panic!("{other:?}"),
                                }
                            }
                        });
                    }
                    start.elapsed()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
