//! In-process engine tests over a real RocksDB in a temporary directory, with real actix
//! arbiters. The end-to-end tests over sockets live in the repository's `tests/`.

use super::*;
use crate::actor::session::PANIC_TEXT;
use crate::answer::{Answer, Posted};
use crate::outbox::{Event, Inbox, Outgoing};
use switchboard_storage::StorageConfig;

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
}

fn fixture(config: EngineConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), &StorageConfig::default()).unwrap();
    let engine = Engine::start(storage, config).unwrap();
    Fixture { _dir: dir, engine }
}

fn outbox(engine: &Engine) -> (Outbox, Inbox) {
    Outbox::channel(engine.next_conn_id(), 1024, 256)
}

/// The next answer in `inbox` (events are skipped).
async fn answer(inbox: &mut Inbox) -> Result<Answer, EngineError> {
    loop {
        match inbox.recv().await.expect("an answer before the outbox closes") {
            Outgoing::Answer { answer, .. } => return answer,
            Outgoing::Event(_) | Outgoing::Broadcast(_) | Outgoing::Relayed(_) | Outgoing::Encoded(_) => {}
        }
    }
}

/// Ask through a fresh connection queue and wait for the answer.
async fn ask<F, Fut>(engine: &Engine, call: F) -> Result<Answer, EngineError>
where
    F: FnOnce(ReplyTo) -> Fut,
    Fut: std::future::Future<Output = Result<(), EngineError>>,
{
    let (outbox, mut inbox) = outbox(engine);
    call(ReplyTo { outbox, req: 1 }).await?;
    answer(&mut inbox).await
}

async fn post(engine: &Engine, session: SessionId, id: &str, text: &str) -> Result<Posted, EngineError> {
    let answer =
        ask(engine, |to| engine.post(Participant::Visitor, session, id.into(), text.into(), to)).await?;
    match answer {
        Answer::Posted(posted) => Ok(posted),
        other => panic!("{other:?}"),
    }
}

#[actix_rt::test]
async fn a_panic_restarts_the_session_from_storage_without_losing_acknowledged_messages() {
    let f = fixture(EngineConfig { arbiters: 1, ..EngineConfig::default() });
    let (visitor, _inbox) = outbox(&f.engine);
    let chat = f.engine.start_chat(Visitor::default(), DEFAULT_DEPARTMENT, None, visitor).await.unwrap();
    let id = chat.session.meta.id;
    assert_eq!(post(&f.engine, id, "a", "one").await.unwrap().seq, 1);

    let err = post(&f.engine, id, "boom", PANIC_TEXT).await.unwrap_err();
    assert!(matches!(err, EngineError::Internal(_)), "{err:?}");

    // The actor rebuilt itself: seq continues, idempotency survived, nothing was lost.
    assert_eq!(post(&f.engine, id, "b", "two").await.unwrap().seq, 2);
    let again = post(&f.engine, id, "a", "one").await.unwrap();
    assert_eq!((again.seq, again.duplicate), (1, true));
    let (messages, _) = f.engine.history(id, 0, 10).await.unwrap();
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, vec!["one", "two"]);
}

#[actix_rt::test]
async fn repeated_panics_escalate_to_quarantine_instead_of_looping() {
    let config = EngineConfig { arbiters: 1, restarts_max: 2, ..EngineConfig::default() };
    let f = fixture(config);
    let (visitor, _inbox) = outbox(&f.engine);
    let id = f
        .engine
        .start_chat(Visitor::default(), DEFAULT_DEPARTMENT, None, visitor)
        .await
        .unwrap()
        .session
        .meta
        .id;
    for i in 0..3 {
        let err = post(&f.engine, id, &format!("p{i}"), PANIC_TEXT).await.unwrap_err();
        assert!(matches!(err, EngineError::Internal(_)), "{err:?}");
    }
    let err = post(&f.engine, id, "after", "hello").await.unwrap_err();
    assert!(matches!(err, EngineError::SessionUnavailable(s) if s == id), "{err:?}");

    // Other sessions are unaffected.
    let (other, _inbox2) = outbox(&f.engine);
    let other_id = f
        .engine
        .start_chat(Visitor::default(), DEFAULT_DEPARTMENT, None, other)
        .await
        .unwrap()
        .session
        .meta
        .id;
    assert_eq!(post(&f.engine, other_id, "x", "fine").await.unwrap().seq, 1);
}

async fn channel_post(
    engine: &Engine,
    agent: AgentId,
    channel: u64,
    id: &str,
    text: &str,
) -> Result<u64, EngineError> {
    match ask(engine, |to| engine.channel_post(agent, channel, id.into(), text.into(), to)).await? {
        Answer::Channel(crate::channels::ChannelAnswer::Posted { seq, .. }) => Ok(seq),
        other => panic!("{other:?}"),
    }
}

#[actix_rt::test]
async fn channels_share_the_supervision_a_panic_rebuilds_and_repeated_panics_quarantine() {
    let config = EngineConfig { arbiters: 1, restarts_max: 2, ..EngineConfig::default() };
    let f = fixture(config);
    let ann = f.engine.create_agent("Ann".into(), 1).await.unwrap().0.id;
    let new = |name: &str| crate::channels::facade::NewChannel { name: name.into(), ..Default::default() };
    let channel = f.engine.create_channel(ann, new("ops")).await.unwrap().summary.meta.id;
    assert_eq!(channel_post(&f.engine, ann, channel, "a", "one").await.unwrap(), 1);
    // A panic: the request fails, the channel is rebuilt from storage and carries on.
    let err = channel_post(&f.engine, ann, channel, "boom", PANIC_TEXT).await.unwrap_err();
    assert!(matches!(err, EngineError::Internal(_)), "{err:?}");
    assert_eq!(channel_post(&f.engine, ann, channel, "b", "two").await.unwrap(), 2);
    assert_eq!(channel_post(&f.engine, ann, channel, "a", "one").await.unwrap(), 1, "idempotency survived");
    // Past the budget (2 restarts), the channel is quarantined; others are unaffected.
    for i in 0..2 {
        let err = channel_post(&f.engine, ann, channel, &format!("p{i}"), PANIC_TEXT).await.unwrap_err();
        assert!(matches!(err, EngineError::Internal(_)), "{err:?}");
    }
    let err = channel_post(&f.engine, ann, channel, "after", "hello").await.unwrap_err();
    assert!(matches!(err, EngineError::ChannelUnavailable(c) if c == channel), "{err:?}");
    let other = f.engine.create_channel(ann, new("dev")).await.unwrap().summary.meta.id;
    assert_eq!(channel_post(&f.engine, ann, other, "x", "fine").await.unwrap(), 1);
    // The quarantined channel does not hide the others from the sidebar: it is listed
    // without counts.
    let listed = f.engine.list_channels(ann).await.unwrap();
    let ids: Vec<(u64, u64)> = listed.iter().map(|v| (v.summary.meta.id, v.last_seq)).collect();
    assert_eq!(ids, vec![(other, 1), (channel, 0)], "by name: dev, then ops (without counts)");
}

#[actix_rt::test]
async fn pipelined_posts_are_acknowledged_and_delivered_in_order() {
    let f = fixture(EngineConfig::default());
    let (visitor, _visitor_inbox) = outbox(&f.engine);
    let id = f
        .engine
        .start_chat(Visitor::default(), DEFAULT_DEPARTMENT, None, visitor)
        .await
        .unwrap()
        .session
        .meta
        .id;
    let (agent, _) = f.engine.create_agent("Ann".into(), 5).await.unwrap();
    let (agent_box, mut agent_inbox) = outbox(&f.engine);
    f.engine.accept(agent.id, id, ReplyTo { outbox: agent_box, req: 1 }).await.unwrap();
    assert!(matches!(answer(&mut agent_inbox).await, Ok(Answer::Accepted(_))));

    let (poster, mut poster_inbox) = outbox(&f.engine);
    for i in 0..200 {
        let to = ReplyTo { outbox: poster.clone(), req: i + 1 };
        f.engine.post(Participant::Visitor, id, format!("m{i}"), format!("t{i}"), to).await.unwrap();
    }
    let mut acks = Vec::new();
    while acks.len() < 200 {
        if let Some(Outgoing::Answer { req, answer: Ok(Answer::Posted(p)) }) = poster_inbox.recv().await {
            acks.push((req, p.seq));
        }
    }
    assert_eq!(acks, (1..=200).map(|i| (i, i)).collect::<Vec<_>>(), "answered in order, req i got seq i");
    let mut delivered = Vec::new();
    while delivered.len() < 200 {
        if let Some(Event::Message { message, .. }) =
            agent_inbox.recv().await.as_ref().and_then(Outgoing::event)
        {
            delivered.push(message.seq);
        }
    }
    assert_eq!(delivered, (1..=200).collect::<Vec<u64>>());
}

#[actix_rt::test]
async fn capacity_limits_accepts_per_agent() {
    let f = fixture(EngineConfig::default());
    let (agent, _) = f.engine.create_agent("Ann".into(), 1).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (v, _inbox) = outbox(&f.engine);
        ids.push(
            f.engine
                .start_chat(Visitor::default(), DEFAULT_DEPARTMENT, None, v)
                .await
                .unwrap()
                .session
                .meta
                .id,
        );
    }
    let accepted = ask(&f.engine, |to| f.engine.accept(agent.id, ids[0], to)).await;
    assert!(matches!(accepted, Ok(Answer::Accepted(_))), "{accepted:?}");
    let err = ask(&f.engine, |to| f.engine.accept(agent.id, ids[1], to)).await.err().unwrap();
    assert!(matches!(err, EngineError::AgentAtCapacity { max: 1 }), "{err:?}");
    let closed = ask(&f.engine, |to| f.engine.close(agent.id, ids[0], to)).await;
    assert!(matches!(closed, Ok(Answer::Closed(_))), "{closed:?}");
    let accepted = ask(&f.engine, |to| f.engine.accept(agent.id, ids[1], to)).await;
    assert!(matches!(accepted, Ok(Answer::Accepted(_))), "{accepted:?}");
}

#[actix_rt::test]
async fn console_sessions_expire_and_each_sign_in_clears_the_ended_ones() {
    use crate::console::CONSOLE_SESSIONS_PER_AGENT_MAX;
    use switchboard_storage::ConsoleSessionRecord;
    let f = fixture(EngineConfig { arbiters: 1, ..EngineConfig::default() });
    let (ann, _) = f.engine.create_agent("Ann".into(), 5).await.unwrap();
    f.engine
        .set_console_login(ann.id, Some("ann@example.com".into()), Some("a long password".into()), false)
        .await
        .unwrap();
    let (_, first) = f.engine.console_sign_in("ann@example.com", "a long password".into()).await.unwrap();
    assert!(f.engine.console_session(&first).await.is_ok());

    // The session's time runs out (its record says it ended a moment ago): refused.
    let hash: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(first.as_bytes()).into();
    let past = now_ms() - 1;
    let mut batch = Batch::new();
    batch.put_console_session(
        &hash,
        &ConsoleSessionRecord { v: 1, agent_id: ann.id, created_at_ms: past - 1000, expires_at_ms: past },
    );
    f.engine.write(batch).await.unwrap();
    assert!(matches!(f.engine.console_session(&first).await, Err(EngineError::NotSignedIn)));

    // Signing in again and again; the sweep (every few minutes, started by a sign-in)
    // removes the expired session and keeps only the agent's newest few.
    let mut secrets = Vec::new();
    for _ in 0..CONSOLE_SESSIONS_PER_AGENT_MAX + 3 {
        secrets.push(f.engine.console_sign_in("ann@example.com", "a long password".into()).await.unwrap().1);
    }
    assert_eq!(
        f.engine.sweep_console_sessions(now_ms()).await.unwrap(),
        4,
        "1 expired + 3 beyond the newest 20"
    );
    let stored = f.engine.hub.read(|storage| Ok(storage.console_sessions()?)).await.unwrap();
    assert_eq!(stored.len(), CONSOLE_SESSIONS_PER_AGENT_MAX);
    assert!(stored.iter().all(|(h, _)| *h != hash), "the expired session is gone");
    assert!(
        matches!(f.engine.console_session(&secrets[0]).await, Err(EngineError::NotSignedIn)),
        "oldest ended"
    );
    assert!(f.engine.console_session(secrets.last().unwrap()).await.is_ok(), "newest kept");
}
