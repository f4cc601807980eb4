//! Durable appends through the group-commit writer: many concurrent submitters (as many
//! sessions posting at once), each append one message; fsync and buffered durability.
//! Each iteration submits `APPENDS` appends and waits until every one is complete.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_storage::{Batch, Durability, MessageRecord, Storage, StorageConfig, StoredSender};

/// Appends per iteration: enough to fill group-commit batches.
const APPENDS: u64 = 4096;
/// Sessions appending concurrently.
const SESSIONS: u64 = 256;

fn record() -> MessageRecord {
    MessageRecord {
        v: 1,
        from: StoredSender::Visitor,
        agent_id: None,
        client_msg_id: "c6b1c1f2-1d3e-4bb0".into(),
        text: "Hello, I ordered a blue kettle last week and it has not arrived yet.".into(),
        sent_at_ms: 1_780_000_000_000,
    }
}

fn append_round(storage: &Storage, next_seq: &AtomicU64) {
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(APPENDS as usize);
    let base = next_seq.fetch_add(APPENDS, Ordering::Relaxed);
    let message = record();
    for i in 0..APPENDS {
        let mut batch = Batch::new();
        batch.put_message(i % SESSIONS, base + i, &message);
        let done = done_tx.clone();
        storage
            .submit(
                batch,
                Box::new(move |r| {
                    r.expect("append");
                    let _ = done.send(());
                }),
            )
            .expect("queue has room");
    }
    for _ in 0..APPENDS {
        done_rx.recv().expect("completion");
    }
}

fn appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage_append");
    group.throughput(Throughput::Elements(APPENDS));
    group.measurement_time(Duration::from_secs(8));
    for (name, durability) in [("fsync", Durability::Fsync), ("buffered", Durability::Buffered)] {
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Storage::open(dir.path(), &StorageConfig { durability, ..StorageConfig::default() }).unwrap();
        let next_seq = Arc::new(AtomicU64::new(1));
        group.bench_function(format!("{name}/{SESSIONS}_sessions"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    append_round(&storage, &next_seq);
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, appends);
criterion_main!(benches);
