//! Cluster mode with real processes: three `nats-server` (JetStream, R3) and Switchboard
//! nodes on loopback, killed with SIGKILL, paused with SIGSTOP, cut off from NATS. Every
//! scenario ends with the history checker (`support::checker`): nothing acknowledged lost,
//! nothing duplicated, reordered or unexpected. docs/CLUSTER.md describes the design.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_client::Client;
use switchboard_protocol::codec::Encoding;
use switchboard_protocol::{ErrorCode, Request, ServerFrame, SessionId};

use crate::support::checker::{check, History};
use crate::support::cluster::*;
use crate::support::*;

/// A short lease, so failovers take a few seconds.
const LEASE_MS: u64 = 2_000;

type Shared = Arc<Mutex<History>>;

/// Send `m<first>`, `m<first+1>`, … pipelined (a window of 8) until the connection dies or
/// `count` were sent; every attempt and acknowledgement goes into the history. Returns the
/// next number. Errors are answers too: counted as not acknowledged.
async fn write(
    client: &Client,
    sid: SessionId,
    history: &Shared,
    first: u64,
    count: u64,
) -> (u64, Vec<ErrorCode>) {
    const WINDOW: usize = 8;
    let mut inflight = std::collections::VecDeque::new();
    let mut n = first;
    let mut errors = Vec::new();
    loop {
        while inflight.len() < WINDOW && n < first + count {
            let id = format!("m{n}");
            history.lock().unwrap().attempt(sid, &id);
            match client.send(say(sid, &id, &format!("text of {id}"))).await {
                Ok((_, rx)) => inflight.push_back((id, rx)),
                Err(_) => break,
            }
            n += 1;
        }
        let Some((id, rx)) = inflight.pop_front() else { return (n, errors) };
        match client.wait(rx).await {
            Ok(ServerFrame::MessageAck { seq, client_msg_id, .. }) => {
                assert_eq!(client_msg_id, id);
                history.lock().unwrap().ack(sid, &id, seq);
            }
            Ok(ServerFrame::Error { code, .. }) => errors.push(code),
            Ok(other) => panic!("unexpected reply {other:?}"),
            Err(_) => {} // the node died: not acknowledged
        }
    }
}

/// The answers a write may get while NATS fails over: the log cannot be reached now, or
/// the session rebuilds itself from storage after such a failed write. Both say "retry".
fn retry_later(code: &ErrorCode) -> bool {
    matches!(code, ErrorCode::ClusterUnavailable | ErrorCode::Overloaded)
}

/// Resume a visitor's chat on whichever of `nodes` serves it now (the next address when one
/// says `wrong_node` or is down), and post one message there. Returns the node's index.
async fn resume_anywhere(
    nodes: &[&TestServer],
    sid: SessionId,
    token: &str,
    history: &Shared,
    n: u64,
) -> usize {
    let deadline = Instant::now() + SETTLE;
    loop {
        for (i, node) in nodes.iter().enumerate() {
            let Ok(client) = Client::connect(&node.ws_url(), Encoding::Json).await else { continue };
            let resumed =
                client.request(Request::ResumeChat { session_token: token.into(), after_seq: 0 }).await;
            if !matches!(resumed, Ok(ServerFrame::Attached { .. })) {
                continue;
            }
            let id = format!("m{n}");
            history.lock().unwrap().attempt(sid, &id);
            match client.request(say(sid, &id, &format!("text of {id}"))).await {
                Ok(ServerFrame::MessageAck { seq, .. }) => {
                    history.lock().unwrap().ack(sid, &id, seq);
                    return i;
                }
                Ok(ServerFrame::Error { code, .. }) => {
                    assert!(
                        matches!(
                            code,
                            ErrorCode::WrongNode | ErrorCode::ClusterUnavailable | ErrorCode::Overloaded
                        ),
                        "{code:?}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(Instant::now() < deadline, "session {sid} not served again on any node");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every session's final transcript as read from `node`.
async fn finals(
    node: &TestServer,
    agent_token: &str,
    sessions: &[SessionId],
) -> HashMap<SessionId, Vec<(u64, String)>> {
    let agent = node.agent_with_token(agent_token).await;
    let mut out = HashMap::new();
    for sid in sessions {
        out.insert(*sid, transcript(&agent, *sid).await);
    }
    out
}

/// Three chats on one node, under load; the node is killed; each chat is served again by
/// another node, and its visitor resumes there. Twice, a different node each time, the
/// killed node rejoining in between. Then every node holds the same transcripts, and the
/// checker finds nothing lost, duplicated, reordered or unexpected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_survive_the_kill_of_their_node_repeatedly() {
    let nats = NatsCluster::start(3);
    let mut nodes: Vec<TestServer> = (1..=3).map(|i| start_node(&nats, &format!("n{i}"), LEASE_MS)).collect();
    wait_settled(&nodes.iter().collect::<Vec<_>>()).await;
    let history: Shared = Arc::default();
    let mut all_sessions = Vec::new();
    let mut agent_tokens = Vec::new();
    for victim in 0..2 {
        let (_, agent_token) = nodes[victim].create_agent(&format!("agent {victim}"), 20).await;
        agent_tokens.push(agent_token.clone());
        let agent = nodes[victim].agent_with_token(&agent_token).await;
        let mut chats = Vec::new();
        for k in 0..3 {
            let (visitor, sid, token) = nodes[victim].visitor(&format!("visitor {victim}.{k}"), None).await;
            let accepted = agent.call(Request::Accept { session_id: sid }).await.unwrap();
            assert!(matches!(accepted, ServerFrame::Accepted { .. }), "{accepted:?}");
            chats.push((Arc::new(visitor), sid, token));
        }
        let writers: Vec<_> = chats
            .iter()
            .map(|(visitor, sid, _)| {
                let (visitor, sid, history) = (visitor.clone(), *sid, history.clone());
                tokio::spawn(async move { write(&visitor, sid, &history, 0, 100_000).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        nodes[victim].kill9();
        let killed = Instant::now();
        let mut next = Vec::new();
        for writer in writers {
            next.push(writer.await.unwrap().0);
        }
        let survivors: Vec<&TestServer> = nodes.iter().filter(|n| n.running()).collect();
        let mut slowest = Duration::ZERO;
        for ((_, sid, token), n) in chats.iter().zip(next) {
            resume_anywhere(&survivors, *sid, token, &history, n).await;
            slowest = slowest.max(killed.elapsed());
            all_sessions.push(*sid);
        }
        eprintln!(
            "round {victim}: chats served again {} ms after the kill (lease {LEASE_MS} ms)",
            slowest.as_millis()
        );
        nodes[victim].restart();
        wait_settled(&nodes.iter().collect::<Vec<_>>()).await;
    }
    let history = history.lock().unwrap().clone();
    assert!(history.acknowledged() > 100, "too little traffic to judge: {}", history.acknowledged());
    let first = finals(&nodes[0], &agent_tokens[0], &all_sessions).await;
    let verdict = check(&history, &first);
    assert!(verdict.clean(), "{verdict:?}");
    for node in &nodes[1..] {
        assert_eq!(
            finals(node, &agent_tokens[1], &all_sessions).await,
            first,
            "every node holds the same log"
        );
    }
    eprintln!("{verdict:?}");
}

/// A node paused (SIGSTOP) past its lease loses its shards to the others; woken up
/// (SIGCONT), it writes nothing more: what its visitor sent meanwhile is refused, not
/// acknowledged, and the chat goes on from the new owner with nothing duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_cannot_write_after_its_shards_moved() {
    let nats = NatsCluster::start(3);
    let nodes: Vec<TestServer> = (1..=2).map(|i| start_node(&nats, &format!("p{i}"), LEASE_MS)).collect();
    wait_settled(&nodes.iter().collect::<Vec<_>>()).await;
    let history: Shared = Arc::default();
    let (_, agent_token) = nodes[0].create_agent("agent", 5).await;
    let agent = nodes[0].agent_with_token(&agent_token).await;
    let (visitor, sid, token) = nodes[0].visitor("visitor", None).await;
    let visitor = Arc::new(visitor);
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    let (n, errors) = write(&visitor, sid, &history, 0, 50).await;
    assert!(errors.is_empty(), "{errors:?}");
    nodes[0].signal("-STOP");
    // While it sleeps: the visitor's next messages wait in its socket.
    let late = {
        let (visitor, history) = (visitor.clone(), history.clone());
        tokio::spawn(async move { write(&visitor, sid, &history, n, 20).await })
    };
    let deadline = Instant::now() + SETTLE;
    while nodes[1].metric("switchboard_cluster_shards_owned").await < SHARDS {
        assert!(Instant::now() < deadline, "the other node did not take the shards over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nodes[0].signal("-CONT");
    let (n, errors) = tokio::time::timeout(SETTLE, late).await.expect("answers after SIGCONT").unwrap();
    let acked_late = history.lock().unwrap().acked.get(&sid).map_or(0, |a| a.len()) - 50;
    assert_eq!(acked_late, 0, "the paused node acknowledged writes after losing its shard ({errors:?})");
    assert!(errors.iter().all(|c| *c == ErrorCode::WrongNode || retry_later(c)), "{errors:?}");
    resume_anywhere(&[&nodes[1]], sid, &token, &history, n).await;
    // The woken node learns it lost its shards, and rejoins: they are shared out again,
    // and it writes the ones it got back (under new leases, fenced anew).
    wait_settled(&nodes.iter().collect::<Vec<_>>()).await;
    let deadline = Instant::now() + SETTLE;
    loop {
        let client = nodes[0].connect(Encoding::Json).await;
        if let Ok(ServerFrame::ChatStarted { session, .. }) =
            client.request(start_chat("after the pause", None)).await
        {
            let reply = client.request(say(session.session_id, "p1", "written again")).await.unwrap();
            assert!(matches!(reply, ServerFrame::MessageAck { .. }), "{reply:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the woken node never wrote its shards again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finals = finals(&nodes[1], &agent_token, &[sid]).await;
    let verdict = check(&history.lock().unwrap(), &finals);
    assert!(verdict.clean(), "{verdict:?}");
    assert!(nodes[1].metric("switchboard_cluster_lease_acquisitions_total").await >= 1.0);
}

/// One NATS server of three killed under load: the node fails over to another and nothing
/// acknowledged is lost. Then all of NATS lost: writes are refused with
/// `cluster_unavailable`, reads are still served, readiness fails; NATS back: writes resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_nats_refuses_writes_and_loses_nothing() {
    let mut nats = NatsCluster::start(3);
    let node = start_node(&nats, "q1", LEASE_MS);
    wait_settled(&[&node]).await;
    let history: Shared = Arc::default();
    let (_, agent_token) = node.create_agent("agent", 5).await;
    let agent = node.agent_with_token(&agent_token).await;
    let (visitor, sid, _) = node.visitor("visitor", None).await;
    let visitor = Arc::new(visitor);
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    let writer = {
        let (visitor, history) = (visitor.clone(), history.clone());
        tokio::spawn(async move { write(&visitor, sid, &history, 0, 3_000).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.servers[0].kill9();
    let (n, errors) = writer.await.unwrap();
    assert!(errors.iter().all(retry_later), "{errors:?}");
    // Writes go on through the other two servers (once JetStream has re-elected leaders
    // for what the killed server led, they are refused meanwhile).
    let deadline = Instant::now() + SETTLE;
    let mut n = n;
    loop {
        let (next, errors) = write(&visitor, sid, &history, n, 10).await;
        n = next;
        assert!(errors.iter().all(retry_later), "{errors:?}");
        if errors.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "writes did not resume on the remaining NATS servers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // All of NATS gone.
    nats.servers[1].kill9();
    nats.servers[2].kill9();
    let deadline = Instant::now() + SETTLE;
    let n = loop {
        let id = format!("m{n}");
        history.lock().unwrap().attempt(sid, &id);
        match visitor.request(say(sid, &id, &format!("text of {id}"))).await.unwrap() {
            ServerFrame::Error { code: ErrorCode::ClusterUnavailable, .. } => break n + 1,
            ServerFrame::Error { code: ErrorCode::WrongNode, .. } => {}
            ServerFrame::MessageAck { seq, .. } => history.lock().unwrap().ack(sid, &id, seq),
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "writes were not refused with cluster_unavailable");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let read = transcript(&agent, sid).await;
    assert!(!read.is_empty(), "reads are served without NATS");
    let ready = reqwest::get(format!("{}/readyz", node.http_url())).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("lost NATS"));
    for server in &mut nats.servers {
        server.restart();
    }
    let deadline = Instant::now() + SETTLE;
    let mut n = n;
    loop {
        let id = format!("m{n}");
        n += 1;
        history.lock().unwrap().attempt(sid, &id);
        if let Ok(ServerFrame::MessageAck { seq, .. }) =
            visitor.request(say(sid, &id, &format!("text of {id}"))).await
        {
            history.lock().unwrap().ack(sid, &id, seq);
            break;
        }
        assert!(Instant::now() < deadline, "writes did not resume once NATS was back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finals = finals(&node, &agent_token, &[sid]).await;
    let verdict = check(&history.lock().unwrap(), &finals);
    assert!(verdict.clean(), "{verdict:?}");
}

/// A node whose disk is lost rebuilds its database from the replicated log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_new_disk_rebuilds_from_the_log() {
    let nats = NatsCluster::start(1);
    let mut node = start_node(&nats, "r1", LEASE_MS);
    wait_settled(&[&node]).await;
    let history: Shared = Arc::default();
    let (_, agent_token) = node.create_agent("agent", 5).await;
    let agent = node.agent_with_token(&agent_token).await;
    let (visitor, sid, _) = node.visitor("visitor", None).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();
    let (_, errors) = write(&visitor, sid, &history, 0, 200).await;
    assert!(errors.is_empty(), "{errors:?}");
    node.kill9();
    let fresh = start_node(&nats, "r2", LEASE_MS);
    wait_settled(&[&fresh]).await;
    let finals = finals(&fresh, &agent_token, &[sid]).await;
    let verdict = check(&history.lock().unwrap(), &finals);
    assert!(verdict.clean() && verdict.acknowledged == 200, "{verdict:?}");
}

/// No NATS at the address: a clear error naming it, and nothing served or left behind.
#[test]
fn a_node_that_cannot_reach_nats_does_not_start() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let url = format!("nats://127.0.0.1:{closed}");
    let args = [
        "--http-addr",
        "127.0.0.1:0",
        "--quic-addr",
        "127.0.0.1:0",
        "--cluster-nats",
        &url,
        "--node-name",
        "n1",
    ];
    let stderr = crate::startup_errors::failed_start(&args, &data);
    assert!(stderr.contains(&format!("cannot reach NATS at {url}")), "{stderr}");
    assert!(!data.exists(), "a failed start created {}", data.display());
    let stderr = crate::startup_errors::failed_start(&["--cluster-nats", &url], &data);
    assert!(stderr.contains("node-name") || stderr.contains("node_name"), "{stderr}");
}

/// A node whose storage schema differs from the cluster's is refused with both versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_schema_version_is_refused() {
    let nats = NatsCluster::start(1);
    let mut first = start_node(&nats, "s1", LEASE_MS);
    wait_settled(&[&first]).await;
    first.terminate();
    // The cluster as a newer release would have left it.
    let client = async_nats::connect(format!("127.0.0.1:{}", nats.servers[0].port)).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let meta = js.get_key_value("switchboard_meta").await.unwrap();
    meta.put("schema", "999".into()).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut args: Vec<String> =
        ["--http-addr", "127.0.0.1:0", "--quic-addr", "127.0.0.1:0", "--node-name", "s2"]
            .map(String::from)
            .to_vec();
    args.extend(["--cluster-nats".into(), nats.urls(), "--cluster-replicas".into(), "1".into()]);
    let stderr = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::startup_errors::failed_start(&args, &data)
    })
    .await
    .unwrap();
    let ours = "schema mismatch: the cluster stores schema version 999, this build uses 1";
    assert!(stderr.contains(ours), "{stderr}");
}

/// A visitor on one node, the agent on another: the agent sees the chat, accepts it and
/// talks with the visitor live, each through their own node, the session's owner running
/// the agent's requests (the relay). Then the visitor's node dies: the visitor reconnects
/// to the agent's node and resumes with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_and_an_agent_on_different_nodes_chat_live() {
    let nats = NatsCluster::start(3);
    let mut nodes: Vec<TestServer> = (1..=2).map(|i| start_node(&nats, &format!("x{i}"), LEASE_MS)).collect();
    wait_settled(&nodes.iter().collect::<Vec<_>>()).await;
    let history: Shared = Arc::default();
    let (mut visitor, sid, token) = nodes[0].visitor("visitor on x1", None).await;
    let (_, agent_token) = nodes[0].create_agent("agent on x2", 5).await;
    // The agent exists on x2 as soon as x2 has applied the log.
    let deadline = Instant::now() + SETTLE;
    let mut agent = loop {
        let client = nodes[1].connect(Encoding::MsgPack).await;
        if let Ok(ServerFrame::Authed { .. }) =
            client.request(Request::Auth { token: agent_token.clone() }).await
        {
            break client;
        }
        assert!(Instant::now() < deadline, "the agent never reached the other node");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Every agent sees one queue: the chat waits in x2's listing too.
    let deadline = Instant::now() + SETTLE;
    loop {
        let (waiting, _, _) = queue_ids(&agent.request(Request::ListQueue {}).await.unwrap());
        if waiting.contains(&sid) {
            break;
        }
        assert!(Instant::now() < deadline, "the chat never showed in the other node's queue");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let accepted = agent.request(Request::Accept { session_id: sid }).await.unwrap();
    assert!(matches!(accepted, ServerFrame::Accepted { .. }), "{accepted:?}");
    // ... and sees it active, there too.
    let deadline = Instant::now() + SETTLE;
    loop {
        let (_, active, _) = queue_ids(&agent.request(Request::ListQueue {}).await.unwrap());
        if active.contains(&sid) {
            break;
        }
        assert!(Instant::now() < deadline, "the accepted chat never showed as active on the other node");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..20 {
        let id = format!("a{i}");
        let reply = agent.request(say(sid, &id, &format!("text of {id}"))).await.unwrap();
        assert!(matches!(reply, ServerFrame::MessageAck { .. }), "{reply:?}");
        let got = wait_for(&mut visitor, |f| match f {
            ServerFrame::Message { message, .. } if message.client_msg_id == id => Some(message.seq),
            _ => None,
        })
        .await;
        history.lock().unwrap().attempt(sid, &id);
        history.lock().unwrap().ack(sid, &id, got);
        let id = format!("v{i}");
        history.lock().unwrap().attempt(sid, &id);
        let reply = visitor.request(say(sid, &id, &format!("text of {id}"))).await.unwrap();
        let ServerFrame::MessageAck { seq, .. } = reply else { panic!("{reply:?}") };
        history.lock().unwrap().ack(sid, &id, seq);
        let seen = wait_for(&mut agent, |f| match f {
            ServerFrame::Message { message, .. } if message.client_msg_id == id => Some(message.seq),
            _ => None,
        })
        .await;
        assert_eq!(seen, seq, "the agent sees the visitor's message live, through the relay");
    }
    let relayed = nodes[1].metric("switchboard_cluster_relayed_frames_total{way=\"out\"}").await;
    assert!(relayed >= 21.0, "the accept and 20 messages went through the relay: {relayed}");
    // The visitor's node (the session's owner) dies: the agent's connection is told to
    // reconnect; the visitor reconnects to the surviving node and resumes there.
    nodes[0].kill9();
    let closed = tokio::time::timeout(SETTLE, async {
        loop {
            if let Err(switchboard_client::ClientError::Closed(close)) = agent.next_event(WAIT).await {
                return close;
            }
        }
    })
    .await;
    let close = closed.expect("the agent's connection was not closed when the relayed-to node died");
    assert_eq!(close.map(|(code, _)| code), Some(4009), "closed as moved (reconnect and resume)");
    resume_anywhere(&[&nodes[1]], sid, &token, &history, 1_000).await;
    let finals = finals(&nodes[1], &agent_token, &[sid]).await;
    let verdict = check(&history.lock().unwrap(), &finals);
    assert!(verdict.clean(), "{verdict:?}");
}

/// A team channel whose members are on three nodes: created on one, the invited members
/// on the others hear they were added and see it listed; everyone posts (relayed to the
/// channel's owner) and every member sees every message live, on its own node; every
/// node's history is the same, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_with_members_on_three_nodes() {
    let nats = NatsCluster::start(3);
    let nodes: Vec<TestServer> = (1..=3).map(|i| start_node(&nats, &format!("c{i}"), LEASE_MS)).collect();
    wait_settled(&nodes.iter().collect::<Vec<_>>()).await;
    let mut ids = Vec::new();
    let mut agents = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let (id, token) = nodes[0].create_agent(&format!("member {i}"), 5).await;
        let deadline = Instant::now() + SETTLE;
        let client = loop {
            let client = node.connect(Encoding::MsgPack).await;
            if let Ok(ServerFrame::Authed { .. }) =
                client.request(Request::Auth { token: token.clone() }).await
            {
                break client;
            }
            assert!(Instant::now() < deadline, "agent {i} never reached its node");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        ids.push(id);
        agents.push(client);
    }
    let created = agents[0]
        .request(Request::CreateChannel {
            name: "ops".into(),
            description: None,
            private: false,
            folder_id: None,
            invite: vec![ids[1], ids[2]],
        })
        .await
        .unwrap();
    let ServerFrame::Channel { channel, .. } = created else { panic!("{created:?}") };
    let channel_id = channel.channel_id;
    for agent in &mut agents[1..] {
        let joined = wait_for(agent, |f| match f {
            ServerFrame::ChannelMembership { channel, joined: true, .. } => Some(channel.channel_id),
            _ => None,
        })
        .await;
        assert_eq!(joined, channel_id, "an invited member on another node hears it was added");
        let listed = agent.request(Request::ListChannels {}).await.unwrap();
        let ServerFrame::Channels { channels, .. } = listed else { panic!("{listed:?}") };
        assert!(channels.iter().any(|c| c.channel_id == channel_id), "listed on the member's node");
    }
    const EACH: usize = 10;
    for round in 0..EACH {
        for (i, agent) in agents.iter().enumerate() {
            let id = format!("a{i}m{round}");
            let reply = agent
                .request(Request::SendChannelMessage {
                    channel_id,
                    client_msg_id: id.clone(),
                    text: id.clone(),
                })
                .await
                .unwrap();
            assert!(matches!(reply, ServerFrame::ChannelMessageAck { .. }), "{reply:?}");
        }
    }
    // Every member sees the others' messages live, each once (by seq).
    for (i, agent) in agents.iter_mut().enumerate() {
        let mut seen = std::collections::BTreeSet::new();
        let others = 2 * EACH;
        let deadline = Instant::now() + SETTLE;
        while seen.iter().filter(|t: &&String| !t.starts_with(&format!("a{i}m"))).count() < others {
            assert!(
                Instant::now() < deadline,
                "member {i} saw {} of the others' {others} messages",
                seen.len()
            );
            if let Ok(ServerFrame::ChannelMessage { message, .. }) = agent.next_event(WAIT).await {
                seen.insert(message.text.clone());
            }
        }
    }
    for (i, agent) in agents.iter().enumerate() {
        let page = agent
            .request(Request::ChannelHistory {
                channel_id,
                after_seq: Some(0),
                before_seq: None,
                limit: Some(200),
            })
            .await
            .unwrap();
        let ServerFrame::ChannelHistoryPage { messages, .. } = page else { panic!("{page:?}") };
        let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=3 * EACH as u64).collect::<Vec<_>>(), "node {i}: every message once, in order");
        let texts: Vec<String> = messages.iter().map(|m| m.text.clone()).collect();
        let expected: Vec<String> =
            (0..EACH).flat_map(|r| (0..3).map(move |a| format!("a{a}m{r}"))).collect();
        assert_eq!(texts, expected, "node {i}: in the order posted");
    }
}

/// Each node's writes apply in the order it made them: an entry that reaches the log after
/// a later one of the same node (a publish retried across a NATS failover) is left out by
/// every node alike. The test plays such a node, publishing its entries 3 then 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_entry_of_a_node_is_left_out_on_every_node() {
    use switchboard_storage::replication::encode_batches;
    use switchboard_storage::{Batch, MessageRecord, StoredSender};

    let nats = NatsCluster::start(1);
    let one = start_node(&nats, "o1", LEASE_MS);
    let two = start_node(&nats, "o2", LEASE_MS);
    wait_settled(&[&one, &two]).await;
    let (_, agent_token) = one.create_agent("agent", 5).await;
    let agent = one.agent_with_token(&agent_token).await;
    let (visitor, sid, _) = one.visitor("visitor", None).await;
    agent.call(Request::Accept { session_id: sid }).await.unwrap();

    let client = async_nats::connect(format!("127.0.0.1:{}", nats.servers[0].port)).await.unwrap();
    let js = async_nats::jetstream::new(client);
    for (n, seq) in [(3, 1_001), (2, 1_000)] {
        let mut batch = Batch::new();
        let text = format!("entry {n}");
        batch.put_message(
            sid,
            seq,
            &MessageRecord {
                v: 1,
                from: StoredSender::Visitor,
                agent_id: None,
                client_msg_id: text.clone(),
                text,
                sent_at_ms: 1,
            },
        );
        let mut headers = async_nats::HeaderMap::new();
        headers
            .insert(async_nats::header::NATS_MESSAGE_ID, format!("intruder.00000000000000aa.{n}").as_str());
        headers.insert("Sb-Kind", "writes");
        headers.insert("Sb-Origin", "intruder");
        let payload = encode_batches([&batch].into_iter()).into();
        js.publish_with_headers("switchboard.log", headers, payload).await.unwrap().await.unwrap();
    }
    // A write after both: once a node shows it, that node has applied both entries.
    visitor.request(say(sid, "after", "after")).await.unwrap();
    for node in [&one, &two] {
        let reader = node.agent_with_token(&agent_token).await;
        let deadline = Instant::now() + SETTLE;
        let seen = loop {
            let seen = transcript(&reader, sid).await;
            if seen.iter().any(|(_, text)| text == "after") {
                break seen;
            }
            assert!(Instant::now() < deadline, "the last write never reached a node: {seen:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let texts: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
        assert!(texts.contains(&"entry 3"), "the entry in order is applied: {texts:?}");
        assert!(!texts.contains(&"entry 2"), "the late entry is left out: {texts:?}");
    }
    for node in [&one, &two] {
        let skipped = node.metric("switchboard_cluster_entries_skipped_total").await;
        assert_eq!(skipped, 1.0, "the late entry is counted");
    }
}

/// Take every offer `agent` gets until it holds `want` chats; returns them.
async fn take_offers(mut agent: Client, want: usize) -> (Client, Vec<SessionId>) {
    let mut taken = Vec::new();
    while taken.len() < want {
        let offered = wait_for(&mut agent, |f| match f {
            ServerFrame::Offer { session, .. } => Some(session.session_id),
            _ => None,
        })
        .await;
        match agent.request(Request::AcceptOffer { session_id: offered }).await.unwrap() {
            ServerFrame::Accepted { session, .. } => {
                assert_eq!(session.session_id, offered);
                taken.push(offered);
            }
            // Withdrawn meanwhile (it went to another agent): wait for the next.
            ServerFrame::Error { code: ErrorCode::OfferUnavailable, .. } => {}
            other => panic!("accepting {offered}: {other:?}"),
        }
    }
    (agent, taken)
}

/// One queue per department, whichever node its agents and visitors use: every chat starts
/// on node 1, where only Ann (one chat at most) is connected, and Bob (three) is on node 2.
/// The department's one leader offers them to both, by load, and each accept goes through
/// wherever the session lives. Node by node routing would leave three chats waiting. Then
/// an automatic (auto-accept) department assigns a chat of node 1 to Bob on node 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_queue_is_one_queue_across_nodes() {
    let nats = NatsCluster::start(1);
    let one = start_node(&nats, "q1", LEASE_MS);
    let two = start_node(&nats, "q2", LEASE_MS);
    wait_settled(&[&one, &two]).await;
    let (ann_id, ann_token) = one.create_agent("ann", 1).await;
    let (bob_id, bob_token) = one.create_agent("bob", 3).await;
    let department = |name: &str, auto: bool, agents: Vec<u64>| {
        let body = serde_json::json!({"name": name, "automatic": true, "auto_accept": auto});
        let one = &one;
        async move {
            let (status, created) = one.admin_call("POST", "/api/v1/departments", Some(body)).await;
            assert_eq!(status, 201, "{created}");
            let id = created["department_id"].as_u64().unwrap();
            for agent in agents {
                let path = format!("/api/v1/departments/{id}/agents/{agent}");
                let (status, body) = one.admin_call("PUT", &path, Some(serde_json::json!({}))).await;
                assert_eq!(status, 200, "{body}");
            }
            id
        }
    };
    department("sales", false, vec![ann_id, bob_id]).await;
    department("help", true, vec![bob_id]).await;
    // Node 2 follows what node 1 created: both departments, with their members.
    let deadline = Instant::now() + SETTLE;
    loop {
        let (_, listed) = two.admin_call("GET", "/api/v1/departments", None).await;
        let names: Vec<(String, usize)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["name"].as_str().unwrap().to_string(), d["agents"].as_array().unwrap().len()))
            .collect();
        if names.contains(&("sales".into(), 2)) && names.contains(&("help".into(), 1)) {
            break;
        }
        assert!(Instant::now() < deadline, "node 2 never saw the departments: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each of the three departments (with the default one) is led by exactly one node.
    let deadline = Instant::now() + SETTLE;
    loop {
        let led = one.metric("switchboard_cluster_departments_led").await
            + two.metric("switchboard_cluster_departments_led").await;
        if led == 3.0 {
            break;
        }
        assert!(Instant::now() < deadline, "{led} departments led, not 3");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ann = one.agent_with_token(&ann_token).await;
    let bob = two.agent_with_token(&bob_token).await;
    // Each node hears the other's agents within a presence round.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let ann_takes = tokio::spawn(take_offers(ann, 1));
    let bob_takes = tokio::spawn(take_offers(bob, 3));
    let mut visitors = Vec::new();
    for _ in 0..4 {
        let client = one.connect(Encoding::Json).await;
        let reply = client
            .call(Request::StartChat {
                name: Some("Vera".into()),
                email: None,
                page_url: None,
                first_message: None,
                client_msg_id: None,
                department: Some("sales".into()),
            })
            .await
            .unwrap();
        let ServerFrame::ChatStarted { session, .. } = reply else { panic!("{reply:?}") };
        visitors.push((client, session.session_id));
    }
    let (_ann, ann_took) = ann_takes.await.unwrap();
    let (mut bob, bob_took) = bob_takes.await.unwrap();
    let mut all: Vec<SessionId> = ann_took.iter().chain(&bob_took).copied().collect();
    all.sort_unstable();
    let mut started: Vec<SessionId> = visitors.iter().map(|(_, s)| *s).collect();
    started.sort_unstable();
    assert_eq!(all, started, "every chat went to one agent: Ann {ann_took:?}, Bob {bob_took:?}");
    // Only the leader offered (one decider for the department).
    let offers = [
        one.metric("switchboard_routing_offers_total").await,
        two.metric("switchboard_routing_offers_total").await,
    ];
    assert!(offers.contains(&0.0) && offers.iter().sum::<f64>() >= 4.0, "offers per node: {offers:?}");

    // Auto-accept: a chat of node 1 assigned to Bob, connected to node 2 only. He has
    // three chats already, so one closes first.
    bob.call(Request::Close { session_id: bob_took[0] }).await.unwrap();
    let (_helped, sid) = {
        let client = one.connect(Encoding::Json).await;
        let reply = client
            .call(Request::StartChat {
                name: Some("Hal".into()),
                email: None,
                page_url: None,
                first_message: None,
                client_msg_id: None,
                department: Some("help".into()),
            })
            .await
            .unwrap();
        let ServerFrame::ChatStarted { session, .. } = reply else { panic!("{reply:?}") };
        (client, session.session_id)
    };
    wait_for(&mut bob, |f| match f {
        ServerFrame::SessionUpdated { session }
            if session.session_id == sid && session.state == switchboard_protocol::SessionState::Active =>
        {
            assert_eq!(session.agent_id, Some(bob_id));
            Some(())
        }
        _ => None,
    })
    .await;
    // Bob follows his new chat from node 2 and talks with the visitor.
    let attached = bob.request(Request::Attach { session_id: sid, after_seq: 0 }).await.unwrap();
    assert!(matches!(attached, ServerFrame::Attached { .. }), "{attached:?}");
    let said = bob.request(say(sid, "b1", "hello from bob")).await.unwrap();
    assert!(matches!(said, ServerFrame::MessageAck { .. }), "{said:?}");
}

/// Records any node may create: two nodes creating agents, contacts and folders at once
/// never pick the same id, and each node ends up listing every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_creating_records_at_once_never_share_an_id() {
    const EACH: usize = 15;
    let nats = NatsCluster::start(1);
    let one = start_node(&nats, "i1", LEASE_MS);
    let two = start_node(&nats, "i2", LEASE_MS);
    wait_settled(&[&one, &two]).await;
    async fn create(node: &TestServer, n: usize) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
        let mut agents = Vec::new();
        let mut contacts = Vec::new();
        let mut folders = Vec::new();
        for i in 0..EACH {
            if i % 3 == 0 {
                let body = serde_json::json!({"name": format!("folder {n}.{i}")});
                let (status, created) = node.admin_call("POST", "/api/v1/folders", Some(body)).await;
                assert_eq!(status, 201, "{created}");
                folders.push(created["folder_id"].as_u64().unwrap());
            }
            agents.push(node.create_agent(&format!("agent {n}.{i}"), 2).await.0);
            let body = serde_json::json!({"name": format!("contact {n}.{i}"), "email": format!("c{n}-{i}@example.com")});
            let (status, created) = node.admin_call("POST", "/api/v1/contacts", Some(body)).await;
            assert_eq!(status, 201, "{created}");
            contacts.push(created["contact_id"].as_u64().unwrap());
        }
        (agents, contacts, folders)
    }
    let (a, b) = tokio::join!(create(&one, 1), create(&two, 2));
    let mut agents: Vec<u64> = a.0.iter().chain(&b.0).copied().collect();
    let mut contacts: Vec<u64> = a.1.iter().chain(&b.1).copied().collect();
    agents.sort_unstable();
    agents.dedup();
    contacts.sort_unstable();
    contacts.dedup();
    let mut folders: Vec<u64> = a.2.iter().chain(&b.2).copied().collect();
    folders.sort_unstable();
    folders.dedup();
    assert_eq!(
        (agents.len(), contacts.len(), folders.len()),
        (2 * EACH, 2 * EACH, 2 * EACH / 3),
        "an id was picked twice"
    );
    for node in [&one, &two] {
        let deadline = Instant::now() + SETTLE;
        loop {
            let (_, listed) = node.admin_call("GET", "/api/v1/contacts?limit=200", None).await;
            let mut seen: Vec<u64> = listed["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["contact_id"].as_u64().unwrap())
                .collect();
            seen.sort_unstable();
            if seen == contacts {
                break;
            }
            assert!(Instant::now() < deadline, "a node lists {seen:?}, not {contacts:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What one node records shows on the others at once: a channel folder, a chat's ticket (and
/// "Create Ticket" pressed again on another node finds it rather than making a second), and
/// the end of a console session (its console connection on another node is closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_made_on_one_node_show_on_the_others() {
    use crate::console::{answer, cookie_pair, next, send, sign_in, upgrade, PASSWORD};
    use crate::tickets::{create, listed_ticket_id};

    let nats = NatsCluster::start(1);
    let one = start_node(&nats, "m1", LEASE_MS);
    let two = start_node(&nats, "m2", LEASE_MS);
    wait_settled(&[&one, &two]).await;
    async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + SETTLE;
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            assert!(Instant::now() < deadline, "{what} never showed on the other node");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // A folder.
    let (status, body) =
        one.admin_call("POST", "/api/v1/folders", Some(serde_json::json!({"name": "Engineering"}))).await;
    assert_eq!(status, 201, "{body}");
    until("the folder", async || {
        let (_, listed) = two.admin_call("GET", "/api/v1/folders", None).await;
        listed.to_string().contains("Engineering").then_some(())
    })
    .await;

    // A ticket.
    let (_, agent_token) = one.create_agent("agent", 5).await;
    let here = one.agent_with_token(&agent_token).await;
    let (_visitor, sid, _) = one.visitor("visitor", Some("my order is late")).await;
    let ticket = create(&here, sid, None).await.unwrap();
    let there = until("the agent", async || {
        let client = Client::connect(&two.ws_url(), Encoding::Json).await.ok()?;
        client.call(Request::Auth { token: agent_token.clone() }).await.ok()?;
        Some(client)
    })
    .await;
    until("the ticket", async || {
        (listed_ticket_id(&there, sid).await == Some(ticket.ticket_id)).then_some(())
    })
    .await;
    let again = create(&there, sid, None).await.unwrap();
    assert_eq!(again.ticket_id, ticket.ticket_id, "one ticket per chat, whichever node is asked");

    // A console session signed in on node 2 and ended on node 1.
    one.console_agent("Ann", "ann@example.com", PASSWORD).await;
    let cookie = until("the console login", async || {
        let (status, _, set_cookie) = sign_in(&two, "ann@example.com", PASSWORD).await;
        (status == 200).then(|| cookie_pair(&set_cookie.unwrap()))
    })
    .await;
    let mut console = upgrade(&two, Some(&two.http_url()), Some(&cookie)).await.unwrap();
    send(&mut console, serde_json::json!({"type": "auth_console", "req": 1})).await;
    assert_eq!(answer(&mut console, 1).await["type"], "authed");
    let signed_out = reqwest::Client::new()
        .post(format!("{}/api/v1/console/sign-out", one.http_url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status().as_u16(), 204);
    let revoked = loop {
        match next(&mut console).await {
            Ok(frame) if frame["type"] == "error" => break frame,
            Ok(_) => continue,
            Err(code) => panic!("closed ({code:?}) without saying why"),
        }
    };
    assert_eq!(revoked["code"], "credentials_revoked", "{revoked}");
}

/// The relay is the same for QUIC clients: an agent connected to node 2 over QUIC accepts a
/// chat node 1 owns and talks with its visitor (on node 1, WebSocket) live both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_over_quic_chats_through_the_relay() {
    let nats = NatsCluster::start(1);
    let one = start_node(&nats, "u1", LEASE_MS);
    let two = start_node(&nats, "u2", LEASE_MS);
    wait_settled(&[&one, &two]).await;
    let (mut visitor, sid, _) = one.visitor("visitor", None).await;
    let (_, agent_token) = one.create_agent("agent", 5).await;
    let deadline = Instant::now() + SETTLE;
    let mut agent = loop {
        let client = two.connect_quic().await;
        if let Ok(ServerFrame::Authed { .. }) =
            client.request(Request::Auth { token: agent_token.clone() }).await
        {
            break client;
        }
        assert!(Instant::now() < deadline, "the agent never reached node 2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let deadline = Instant::now() + SETTLE;
    let accepted = loop {
        match agent.request(Request::Accept { session_id: sid }).await.unwrap() {
            ServerFrame::Accepted { .. } => break true,
            // Not yet in node 2's copy of the log.
            ServerFrame::Error { code: ErrorCode::UnknownSession, .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(accepted);
    for i in 0..5 {
        let id = format!("a{i}");
        let reply = agent.request(say(sid, &id, "from the agent")).await.unwrap();
        assert!(matches!(reply, ServerFrame::MessageAck { .. }), "{reply:?}");
        wait_for(&mut visitor, |f| {
            matches!(f, ServerFrame::Message { message, .. } if message.client_msg_id == id).then_some(())
        })
        .await;
        let id = format!("v{i}");
        let reply = visitor.request(say(sid, &id, "from the visitor")).await.unwrap();
        assert!(matches!(reply, ServerFrame::MessageAck { .. }), "{reply:?}");
        wait_for(&mut agent, |f| {
            matches!(f, ServerFrame::Message { message, .. } if message.client_msg_id == id).then_some(())
        })
        .await;
    }
    let relayed = two.metric("switchboard_cluster_relayed_frames_total{way=\"out\"}").await;
    assert!(relayed >= 6.0, "the accept and the agent's messages went through the relay: {relayed}");
}

/// A department's queue survives the death of the node leading it: the waiting chat it had
/// offered is offered again by the node that takes the department's shard over, and the
/// agent accepts it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_queue_moves_when_its_leader_dies() {
    let nats = NatsCluster::start(1);
    let mut nodes = [start_node(&nats, "l1", LEASE_MS), start_node(&nats, "l2", LEASE_MS)];
    wait_settled(&nodes.iter().collect::<Vec<_>>()).await;
    let (ann_id, ann_token) = nodes[0].create_agent("ann", 2).await;
    let body = serde_json::json!({"name": "sales", "automatic": true});
    let (status, created) = nodes[0].admin_call("POST", "/api/v1/departments", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["department_id"].as_u64().unwrap();
    let path = format!("/api/v1/departments/{id}/agents/{ann_id}");
    let (status, body) = nodes[0].admin_call("PUT", &path, Some(serde_json::json!({}))).await;
    assert_eq!(status, 200, "{body}");
    // Ann is connected to both nodes (two browsers), once node 2 knows her and the department.
    let mut ann: Vec<Client> = Vec::new();
    for node in &nodes {
        let deadline = Instant::now() + SETTLE;
        loop {
            let (_, listed) = node.admin_call("GET", "/api/v1/departments", None).await;
            let known = listed
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["name"] == "sales" && d["agents"] == serde_json::json!([ann_id]));
            let client = node.connect(Encoding::Json).await;
            if known
                && client
                    .request(Request::Auth { token: ann_token.clone() })
                    .await
                    .is_ok_and(|f| matches!(f, ServerFrame::Authed { .. }))
            {
                ann.push(client);
                break;
            }
            assert!(Instant::now() < deadline, "node never knew Ann in sales");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let visitor = nodes[0].connect(Encoding::Json).await;
    let reply = visitor
        .call(Request::StartChat {
            name: Some("Vera".into()),
            email: None,
            page_url: None,
            first_message: None,
            client_msg_id: None,
            department: Some("sales".into()),
        })
        .await
        .unwrap();
    let ServerFrame::ChatStarted { session, .. } = reply else { panic!("{reply:?}") };
    let sid = session.session_id;
    for client in ann.iter_mut() {
        wait_for(client, |f| {
            matches!(f, ServerFrame::Offer { session, .. } if session.session_id == sid).then_some(())
        })
        .await;
    }
    // The leader is the node that made the offer.
    let mut offers = Vec::new();
    for node in &nodes {
        offers.push(node.metric("switchboard_routing_offers_total").await);
    }
    let leader = offers.iter().position(|o| *o >= 1.0).expect("an offer was made");
    assert_eq!(offers[1 - leader], 0.0, "one decider: {offers:?}");
    let survivor = 1 - leader;
    nodes[leader].kill9();
    let mut ann = ann.swap_remove(survivor);
    // Offered again by the new leader, and accepted there.
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ann.next_event(left).await.expect("the chat was never offered again");
        if matches!(&frame, ServerFrame::Offer { session, .. } if session.session_id == sid) {
            match ann.request(Request::AcceptOffer { session_id: sid }).await.unwrap() {
                ServerFrame::Accepted { .. } => break,
                // The shard of the session itself may still be moving: the offer stands.
                ServerFrame::Error { code, .. } if retry_later(&code) || code == ErrorCode::WrongNode => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if matches!(
                        ann.request(Request::AcceptOffer { session_id: sid }).await.unwrap(),
                        ServerFrame::Accepted { .. }
                    ) {
                        break;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(nodes[survivor].metric("switchboard_routing_offers_total").await >= 1.0);
}
