use std::path::Path;

use super::*;
use crate::StorageConfig;

fn open(dir: &Path) -> Storage {
    Storage::open(dir, &StorageConfig::default()).unwrap()
}

fn ticket(id: u64, session: Option<u64>) -> TicketRecord {
    TicketRecord {
        v: 1,
        id,
        subject: "Chat".into(),
        requester_name: Some("Ada".into()),
        requester_email: None,
        description: "hi".into(),
        session_id: session,
        channel_id: None,
        channel_seq: None,
        created_by: Some(2),
        created_at_ms: 9,
        contact_id: None,
        left_for_department: None,
    }
}

fn outbox(ticket_id: u64, attempts: u32) -> OutboxRecord {
    OutboxRecord {
        v: 1,
        ticket_id,
        attempts,
        last_error: (attempts > 0).then(|| "HTTP 500".into()),
        queued_at_ms: 9,
    }
}

#[test]
fn ticket_golden_bytes() {
    let expected = concat!(
        "8c",
        "a176", // "v"
        "01",
        "a26964", // "id"
        "03",
        "a77375626a656374", // "subject"
        "a443686174",
        "ae7265717565737465725f6e616d65", // "requester_name"
        "a3416461",
        "af7265717565737465725f656d61696c", // "requester_email"
        "c0",
        "ab6465736372697074696f6e", // "description"
        "a26869",
        "aa73657373696f6e5f6964", // "session_id"
        "07",
        "aa6368616e6e656c5f6964", // "channel_id"
        "c0",
        "ab6368616e6e656c5f736571", // "channel_seq"
        "c0",
        "aa637265617465645f6279", // "created_by"
        "02",
        "ad637265617465645f61745f6d73", // "created_at_ms"
        "09",
        "aa636f6e746163745f6964", // "contact_id"
        "c0",
    );
    assert_eq!(hex::encode(ticket(3, Some(7)).encode()), expected);
    assert_eq!(TicketRecord::decode(&hex::decode(expected).unwrap()).unwrap(), ticket(3, Some(7)));
}

#[test]
fn outbox_golden_bytes() {
    let expected = concat!(
        "85",
        "a176", // "v"
        "01",
        "a97469636b65745f6964", // "ticket_id"
        "03",
        "a8617474656d707473", // "attempts"
        "02",
        "aa6c6173745f6572726f72", // "last_error"
        "a84854545020353030",
        "ac7175657565645f61745f6d73", // "queued_at_ms"
        "09",
    );
    assert_eq!(hex::encode(outbox(3, 2).encode()), expected);
    assert_eq!(OutboxRecord::decode(&hex::decode(expected).unwrap()).unwrap(), outbox(3, 2));
    assert!(OutboxRecord::decode(&ticket(1, None).encode()).is_err());
}

#[test]
fn a_ticket_its_link_and_its_delivery_are_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let mut batch = Batch::new();
    batch.put_ticket(&ticket(1, Some(7)), Some((100, &outbox(1, 0))));
    let from_channel = TicketRecord { channel_id: Some(5), channel_seq: Some(42), ..ticket(2, None) };
    batch.put_ticket(&from_channel, None);
    assert_eq!(batch.len(), 5);
    storage.write_blocking(batch).unwrap();
    assert_eq!(storage.ticket(1).unwrap(), Some(ticket(1, Some(7))));
    assert_eq!(storage.session_ticket(7).unwrap(), Some(1));
    assert_eq!(storage.session_ticket(8).unwrap(), None);
    assert_eq!(storage.channel_ticket(5, 42).unwrap(), Some(2), "the channel message's link");
    assert_eq!(
        (storage.channel_ticket(5, 41).unwrap(), storage.channel_ticket(6, 42).unwrap()),
        (None, None)
    );
    assert_eq!(storage.deliveries(10).unwrap(), vec![(100, outbox(1, 0))]);
    assert_eq!(storage.deliveries_pending().unwrap(), 1);
    let ids =
        |after, limit| -> Vec<u64> { storage.tickets(after, limit).unwrap().iter().map(|t| t.id).collect() };
    assert_eq!(ids(0, 10), vec![1, 2]);
    assert_eq!(ids(1, 10), vec![2]);
    assert_eq!(ids(0, 1), vec![1]);
    assert_eq!(ids(u64::MAX, 10), Vec::<u64>::new());
    assert_eq!(storage.max_id(catalog::TICKET).unwrap(), 2);
}

#[test]
fn deliveries_come_soonest_first_and_move_on_retry_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path());
        let mut batch = Batch::new();
        batch.put_ticket(&ticket(1, Some(1)), Some((300, &outbox(1, 0))));
        batch.put_ticket(&ticket(2, Some(2)), Some((100, &outbox(2, 0))));
        batch.put_ticket(&ticket(3, Some(3)), Some((200, &outbox(3, 0))));
        storage.write_blocking(batch).unwrap();
        let due: Vec<(u64, u64)> =
            storage.deliveries(10).unwrap().iter().map(|(at, e)| (*at, e.ticket_id)).collect();
        assert_eq!(due, vec![(100, 2), (200, 3), (300, 1)]);
        // Ticket 2 failed: retried at 400. Ticket 3 was delivered.
        let mut batch = Batch::new();
        batch.reschedule_delivery(100, 400, &outbox(2, 1));
        batch.delete_delivery(200, 3);
        storage.write_blocking(batch).unwrap();
        storage.close();
    }
    let storage = open(dir.path());
    assert_eq!(storage.deliveries(10).unwrap(), vec![(300, outbox(1, 0)), (400, outbox(2, 1))]);
    assert_eq!(storage.deliveries(1).unwrap().len(), 1);
    assert_eq!(storage.deliveries_pending().unwrap(), 2);
    assert_eq!(storage.session_ticket(3).unwrap(), Some(3), "the link outlives the delivery");
}
