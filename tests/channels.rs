//! Team channels over real connections: create, invite, join, post with durable
//! acknowledgement and real-time fan-out, history, read positions and mention counts,
//! private visibility, bad input, and kill -9 during channel traffic.

use switchboard_client::Client;
use switchboard_protocol::{ChannelInfo, ChannelMessageInfo, ErrorCode, Request, ServerFrame};

use crate::support::*;

fn create(name: &str, private: bool, invite: Vec<u64>) -> Request {
    Request::CreateChannel {
        name: name.into(),
        description: Some(format!("the {name} team")),
        private,
        folder_id: None,
        invite,
    }
}

fn post(channel_id: u64, id: &str, text: &str) -> Request {
    Request::SendChannelMessage { channel_id, client_msg_id: id.into(), text: text.into() }
}

async fn channel_of(client: &Client, request: Request) -> ChannelInfo {
    match client.call(request).await.unwrap() {
        ServerFrame::Channel { channel, .. } => channel,
        other => panic!("{other:?}"),
    }
}

async fn list(client: &Client) -> Vec<ChannelInfo> {
    match client.call(Request::ListChannels {}).await.unwrap() {
        ServerFrame::Channels { channels, .. } => channels,
        other => panic!("{other:?}"),
    }
}

async fn history(
    client: &Client,
    channel_id: u64,
    before_seq: Option<u64>,
) -> (Vec<ChannelMessageInfo>, bool) {
    let request = Request::ChannelHistory { channel_id, after_seq: None, before_seq, limit: Some(200) };
    match client.call(request).await.unwrap() {
        ServerFrame::ChannelHistoryPage { messages, has_more, .. } => (messages, has_more),
        other => panic!("{other:?}"),
    }
}

/// The caller's unread mention count in `channel`, from `list_channels`.
async fn mentions_in(client: &Client, channel: u64) -> u64 {
    list(client).await.into_iter().find(|c| c.channel_id == channel).expect("listed").mentions
}

async fn ack_seq(client: &Client, request: Request) -> u64 {
    match client.call(request).await.unwrap() {
        ServerFrame::ChannelMessageAck { seq, .. } => seq,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn members_get_posts_in_real_time_with_durable_acks_history_and_unread_counts() {
    let server = TestServer::start();
    let (ann, ann_id, _) = server.agent("Ann Lee").await;
    let (mut bob, bob_id, _) = server.agent("Bob").await;
    let (cy, _, _) = server.agent("Cy").await;
    let created = channel_of(&ann, create("infrastructure-team", false, vec![bob_id])).await;
    assert_eq!(
        (created.name.as_str(), created.member_count, created.member),
        ("infrastructure-team", 2, true)
    );
    let channel = created.channel_id;
    // Bob hears he was added.
    let joined = wait_for(&mut bob, |f| match f {
        ServerFrame::ChannelMembership { channel: c, agent_id, joined } if c.channel_id == channel => {
            Some((*agent_id, *joined))
        }
        _ => None,
    })
    .await;
    assert_eq!(joined, (bob_id, true), "Bob hears that he was added");
    let _ = ann_id;
    // Ann posts; the ack comes once durable, Bob receives it live, with the mention.
    let seq = ack_seq(&ann, post(channel, "a1", "@bob the disk is full")).await;
    assert_eq!(seq, 1);
    let message = wait_for(&mut bob, |f| match f {
        ServerFrame::ChannelMessage { channel_id, message } if *channel_id == channel => {
            Some(message.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!((message.seq, message.author_id, message.mentions.clone()), (1, ann_id, vec![bob_id]));
    // A retry with the same id is the same message.
    match ann.call(post(channel, "a1", "@bob the disk is full")).await.unwrap() {
        ServerFrame::ChannelMessageAck { seq: 1, duplicate: true, .. } => {}
        other => panic!("{other:?}"),
    }
    ack_seq(&ann, post(channel, "a2", "@ann.lee note to self")).await;
    // Bob's sidebar: 2 unread, 1 mention; after reading, none.
    let bobs = list(&bob).await;
    let info = bobs.iter().find(|c| c.channel_id == channel).unwrap();
    assert_eq!((info.unread, info.mentions, info.last_seq), (2, 1, 2));
    let read = channel_of(&bob, Request::MarkChannelRead { channel_id: channel, seq: 2 }).await;
    assert_eq!((read.unread, read.mentions), (0, 0));
    // Cy is not a member of this public channel: sees it listed, reads it, cannot post
    // until joining.
    let cys = list(&cy).await;
    assert!(cys.iter().any(|c| c.channel_id == channel && !c.member));
    let (messages, has_more) = history(&cy, channel, None).await;
    assert_eq!(messages.iter().map(|m| m.client_msg_id.as_str()).collect::<Vec<_>>(), ["a1", "a2"]);
    assert!(!has_more);
    let refused = cy.request(post(channel, "c1", "hi")).await.unwrap();
    assert_eq!(error_code(&refused), ErrorCode::NotChannelMember);
    let joined = channel_of(&cy, Request::JoinChannel { channel_id: channel }).await;
    assert_eq!(
        (joined.member, joined.member_count, joined.unread),
        (true, 3, 0),
        "a newcomer starts at the present"
    );
    assert_eq!(ack_seq(&cy, post(channel, "c1", "hi all")).await, 3);
    // Members are listed with names.
    match ann.call(Request::ChannelMembers { channel_id: channel }).await.unwrap() {
        ServerFrame::ChannelMemberList { members, .. } => {
            let names: Vec<&str> = members.iter().map(|m| m.display_name.as_str()).collect();
            assert_eq!(names, ["Ann Lee", "Bob", "Cy"]);
        }
        other => panic!("{other:?}"),
    }
    // Paging backwards.
    let (page, has_more) = history(&ann, channel, Some(3)).await;
    assert_eq!((page.iter().map(|m| m.seq).collect::<Vec<_>>(), has_more), (vec![1, 2], false));
    // Leaving: Cy can no longer post.
    let left = channel_of(&cy, Request::LeaveChannel { channel_id: channel }).await;
    assert!(!left.member);
    assert_eq!(error_code(&cy.request(post(channel, "c2", "?")).await.unwrap()), ErrorCode::NotChannelMember);
}

#[tokio::test]
async fn a_channel_message_is_encoded_once_for_all_its_members() {
    let server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let mut members = Vec::new();
    for name in ["Bo", "Cy", "Di", "Ed", "Flo", "Gus"] {
        members.push(server.agent(name).await);
    }
    let ids = members.iter().map(|(_, id, _)| *id).collect();
    let channel = channel_of(&ann, create("fan-out", false, ids)).await.channel_id;
    // Each member has heard it was added (so that event's encoding is counted already).
    for (client, _, _) in members.iter_mut() {
        wait_for(client, |f| matches!(f, ServerFrame::ChannelMembership { .. }).then_some(())).await;
    }
    let before = server.metric("switchboard_broadcast_encodings_total").await;
    for i in 0..10 {
        ack_seq(&ann, post(channel, &format!("m{i}"), &format!("message {i}"))).await;
    }
    for (client, _, _) in members.iter_mut() {
        let mut seqs = Vec::new();
        while seqs.len() < 10 {
            seqs.push(
                wait_for(client, |f| match f {
                    ServerFrame::ChannelMessage { channel_id, message } if *channel_id == channel => {
                        Some(message.seq)
                    }
                    _ => None,
                })
                .await,
            );
        }
        assert_eq!(seqs, (1..=10).collect::<Vec<u64>>(), "every member gets every message, in order");
    }
    // Six members on one encoding (MessagePack): ten encodings, not sixty.
    let encodings = server.metric("switchboard_broadcast_encodings_total").await - before;
    assert_eq!(encodings, 10.0, "each message is encoded once for all six members");
}

#[tokio::test]
async fn a_member_that_stops_reading_is_cut_off_alone_and_catches_up_from_history() {
    let server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let (mut bob, bob_id, _) = server.agent("Bob").await;
    let (slow_id, slow_token) = server.create_agent("Slow", 5).await;
    let channel = channel_of(&ann, create("incidents", false, vec![bob_id, slow_id])).await.channel_id;
    let mut slow = stalled_client(&server, vec![Request::Auth { token: slow_token.clone() }]).await;
    // Flood the channel, pipelined, each post acknowledged once durable.
    let total = 9_000u64;
    let text = "z".repeat(1000);
    let posts = (0..total).map(|i| post(channel, &format!("m{i}"), &text));
    send_pipelined(&ann, posts, |f| matches!(f, ServerFrame::ChannelMessageAck { .. })).await;
    // Bob, reading, gets every message in order.
    for next in 1..=total {
        let seq = wait_for(&mut bob, |f| match f {
            ServerFrame::ChannelMessage { channel_id, message } if *channel_id == channel => {
                Some(message.seq)
            }
            _ => None,
        })
        .await;
        assert_eq!(seq, next, "the fast member receives every message in order");
    }
    // The slow member's connection was cut off with the documented error and close code …
    assert_eq!(read_to_close(&mut slow).await, (true, Some(4008)));
    // … and, reconnected, it reads everything from history: no gap, no duplicate.
    let again = server.agent_with_token(&slow_token).await;
    let mut seqs = Vec::new();
    while (seqs.len() as u64) < total {
        let after_seq = Some(seqs.last().copied().unwrap_or(0));
        let request =
            Request::ChannelHistory { channel_id: channel, after_seq, before_seq: None, limit: Some(200) };
        match again.call(request).await.unwrap() {
            ServerFrame::ChannelHistoryPage { messages, .. } => {
                assert!(!messages.is_empty(), "history ended at {after_seq:?}");
                seqs.extend(messages.iter().map(|m| m.seq));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seqs, (1..=total).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_private_channel_does_not_exist_for_non_members_until_they_are_invited() {
    let server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let (eve, eve_id, _) = server.agent("Eve").await;
    let channel = channel_of(&ann, create("management", true, vec![])).await.channel_id;
    assert!(list(&eve).await.is_empty(), "not listed");
    for request in [
        post(channel, "e1", "hi"),
        Request::ChannelHistory { channel_id: channel, after_seq: Some(0), before_seq: None, limit: None },
        Request::JoinChannel { channel_id: channel },
        Request::ChannelMembers { channel_id: channel },
        Request::MarkChannelRead { channel_id: channel, seq: 1 },
    ] {
        let reply = eve.request(request.clone()).await.unwrap();
        assert_eq!(error_code(&reply), ErrorCode::UnknownChannel, "{request:?}");
    }
    let invited = channel_of(&ann, Request::InviteToChannel { channel_id: channel, agent_id: eve_id }).await;
    assert_eq!(invited.member_count, 2);
    assert_eq!(list(&eve).await.len(), 1);
    assert_eq!(ack_seq(&eve, post(channel, "e1", "thanks")).await, 1);
}

#[tokio::test]
async fn bad_channel_input_gets_specific_errors_and_changes_nothing() {
    let server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let visitor = server.visitor("Vera", None).await.0;
    let code = |f: ServerFrame| error_code(&f);
    for bad in ["", "Has Caps", "with space", "#hash"] {
        assert_eq!(
            code(ann.request(create(bad, false, vec![])).await.unwrap()),
            ErrorCode::InvalidRequest,
            "{bad:?}"
        );
    }
    let long = Request::CreateChannel {
        name: "ok".into(),
        description: Some("d".repeat(1025)),
        private: false,
        folder_id: None,
        invite: vec![],
    };
    assert_eq!(code(ann.request(long).await.unwrap()), ErrorCode::InvalidRequest);
    assert_eq!(code(ann.request(create("ops", false, vec![999])).await.unwrap()), ErrorCode::NotFound);
    let in_no_such_folder = Request::CreateChannel {
        name: "ops".into(),
        description: None,
        private: false,
        folder_id: Some(999),
        invite: vec![],
    };
    assert_eq!(code(ann.request(in_no_such_folder).await.unwrap()), ErrorCode::NotFound);
    let channel = channel_of(&ann, create("ops", false, vec![])).await.channel_id;
    assert_eq!(
        code(ann.request(create("ops", false, vec![])).await.unwrap()),
        ErrorCode::InvalidRequest,
        "taken"
    );
    assert_eq!(
        code(ann.request(post(channel, "m", &"x".repeat(4097))).await.unwrap()),
        ErrorCode::TextTooLong
    );
    assert_eq!(code(ann.request(post(channel, "m", "")).await.unwrap()), ErrorCode::InvalidRequest);
    assert_eq!(code(ann.request(post(channel, "", "x")).await.unwrap()), ErrorCode::InvalidRequest);
    assert_eq!(code(ann.request(post(424242, "m", "x")).await.unwrap()), ErrorCode::UnknownChannel);
    let both =
        Request::ChannelHistory { channel_id: channel, after_seq: Some(1), before_seq: Some(3), limit: None };
    assert_eq!(code(ann.request(both).await.unwrap()), ErrorCode::InvalidRequest);
    let big =
        Request::ChannelHistory { channel_id: channel, after_seq: None, before_seq: None, limit: Some(201) };
    assert_eq!(code(ann.request(big).await.unwrap()), ErrorCode::InvalidRequest);
    assert_eq!(code(visitor.request(Request::ListChannels {}).await.unwrap()), ErrorCode::Forbidden);
    assert_eq!(
        code(ann.request(Request::InviteToChannel { channel_id: channel, agent_id: 999 }).await.unwrap()),
        ErrorCode::NotFound
    );
    // Nothing of that was written.
    assert_eq!(list(&ann).await.len(), 1);
    assert!(history(&ann, channel, None).await.0.is_empty());
}

#[tokio::test]
async fn kill_9_during_channel_traffic_keeps_every_acknowledged_message_once_in_order() {
    let mut server = TestServer::start();
    let (ann, _, ann_token) = server.agent("Ann").await;
    let (bob, bob_id, _) = server.agent("Bob").await;
    let channel = channel_of(&ann, create("incident", false, vec![bob_id])).await.channel_id;
    let mut acked = Vec::new();
    for i in 0..300 {
        let (client, who) = if i % 2 == 0 { (&ann, "a") } else { (&bob, "b") };
        acked.push((ack_seq(client, post(channel, &format!("{who}{i}"), &format!("message {i}"))).await, i));
    }
    // Writes in flight when the process dies may or may not land; acknowledged ones must.
    for i in 300..340 {
        let _ = ann.send(post(channel, &format!("a{i}"), "in flight")).await;
    }
    server.kill9();
    server.restart();
    let ann = server.agent_with_token(&ann_token).await;
    let mut stored = Vec::new();
    let mut before = None;
    loop {
        let (page, has_more) = history(&ann, channel, before).await;
        before = page.first().map(|m| m.seq);
        stored.splice(0..0, page);
        if !has_more {
            break;
        }
    }
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "gapless, in order, each once");
    for (seq, i) in acked {
        assert_eq!(
            stored[seq as usize - 1].text,
            format!("message {i}"),
            "acknowledged seq {seq} lost or changed"
        );
    }
    // The channel goes on where it stopped.
    let next = ack_seq(&ann, post(channel, "after", "back")).await;
    assert_eq!(next, stored.len() as u64 + 1);
}

#[tokio::test]
async fn authors_edit_and_delete_admins_archive_and_remove_and_members_see_it_live() {
    let server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let (mut bob, bob_id, _) = server.agent("Bob").await;
    let (cy, cy_id, _) = server.agent("Cy").await;
    let channel = channel_of(&ann, create("releases", false, vec![bob_id, cy_id])).await.channel_id;
    let seq = ack_seq(&ann, post(channel, "a1", "relase at 5")).await;
    let code = |f: ServerFrame| error_code(&f);
    // Only the author edits or deletes.
    let edit = |by_text: &str| Request::EditChannelMessage { channel_id: channel, seq, text: by_text.into() };
    assert_eq!(code(bob.request(edit("mine")).await.unwrap()), ErrorCode::Forbidden);
    let delete = Request::DeleteChannelMessage { channel_id: channel, seq };
    assert_eq!(code(bob.request(delete.clone()).await.unwrap()), ErrorCode::Forbidden);
    let missing = Request::EditChannelMessage { channel_id: channel, seq: 99, text: "x".into() };
    assert_eq!(code(ann.request(missing).await.unwrap()), ErrorCode::InvalidRequest);
    assert!(matches!(ann.call(edit("release at 5")).await.unwrap(), ServerFrame::Ok { .. }));
    let updated = wait_for(&mut bob, |f| match f {
        ServerFrame::ChannelMessageUpdated { message, .. } if message.seq == seq => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!((updated.text.as_str(), updated.edited_at_ms.is_some()), ("release at 5", true));
    assert_eq!(history(&cy, channel, None).await.0[0].text, "release at 5", "history shows the edit");
    // An edit that names Cy gives Cy an unread mention (worked out from the new text).
    assert_eq!(mentions_in(&cy, channel).await, 0);
    assert!(matches!(ann.call(edit("release at 5, @cy checks")).await.unwrap(), ServerFrame::Ok { .. }));
    let renamed = wait_for(&mut bob, |f| match f {
        ServerFrame::ChannelMessageUpdated { message, .. } if message.seq == seq => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(renamed.mentions, vec![cy_id]);
    assert_eq!(mentions_in(&cy, channel).await, 1, "the edit's mention counts");
    assert!(matches!(ann.call(delete.clone()).await.unwrap(), ServerFrame::Ok { .. }));
    assert_eq!(mentions_in(&cy, channel).await, 0, "deleting takes it back");
    let gone = history(&cy, channel, None).await.0[0].clone();
    assert!(gone.deleted && gone.text.is_empty(), "the seq stays, the text goes");
    // Topic by any member; archive only by an admin; archived is read-only.
    let topic =
        channel_of(&bob, Request::SetChannelTopic { channel_id: channel, topic: "v2.3".into() }).await;
    assert_eq!(topic.topic, "v2.3");
    let archive = |archived| Request::ArchiveChannel { channel_id: channel, archived };
    assert_eq!(code(bob.request(archive(true)).await.unwrap()), ErrorCode::Forbidden);
    assert!(channel_of(&ann, archive(true)).await.archived);
    let updated = wait_for(&mut bob, |f| match f {
        ServerFrame::ChannelUpdated { channel: c } if c.archived => Some(c.clone()),
        _ => None,
    })
    .await;
    assert_eq!(updated.channel_id, channel);
    assert_eq!(code(bob.request(post(channel, "b1", "late")).await.unwrap()), ErrorCode::ChannelArchived);
    assert_eq!(history(&bob, channel, None).await.0.len(), 1, "still readable");
    assert!(!channel_of(&ann, archive(false)).await.archived);
    ack_seq(&bob, post(channel, "b1", "back")).await;
    // An admin removes Cy; Cy can no longer post; Bob cannot remove anyone.
    let remove = |agent_id| Request::RemoveFromChannel { channel_id: channel, agent_id };
    assert_eq!(code(bob.request(remove(cy_id)).await.unwrap()), ErrorCode::Forbidden);
    assert_eq!(channel_of(&ann, remove(cy_id)).await.member_count, 2);
    assert_eq!(code(cy.request(post(channel, "c1", "?")).await.unwrap()), ErrorCode::NotChannelMember);
    assert_eq!(code(ann.request(remove(cy_id)).await.unwrap()), ErrorCode::NotChannelMember, "already gone");
}

/// An admin HTTP call; returns (status, JSON body).
async fn admin(
    server: &TestServer,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    server.admin_call(method, path, Some(body)).await
}

#[tokio::test]
async fn administrators_arrange_folders_and_listings_follow_folder_order_across_a_restart() {
    let mut server = TestServer::start();
    let (ann, _, token) = server.agent("Ann").await;
    let mut ids = std::collections::HashMap::new();
    for name in ["Management", "Engineering", "Customer Projects"] {
        let (status, folder) =
            admin(&server, "POST", "/api/v1/folders", serde_json::json!({"name": name})).await;
        assert_eq!(status, 201, "{folder}");
        ids.insert(name, folder["folder_id"].as_u64().unwrap());
    }
    let (status, body) =
        admin(&server, "POST", "/api/v1/folders", serde_json::json!({"name": "engineering"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_request")),
        "names are unique ignoring case"
    );
    let (status, _) = admin(&server, "POST", "/api/v1/folders", serde_json::json!({"name": "  "})).await;
    assert_eq!(status, 400);
    let (status, _) =
        admin(&server, "POST", "/api/v1/folders", serde_json::json!({"name": "x", "colour": 1})).await;
    assert_eq!(status, 400, "unknown fields refused");
    let mut channels = std::collections::HashMap::new();
    for (name, folder) in [
        ("infra", Some("Engineering")),
        ("board", Some("Management")),
        ("acme", Some("Customer Projects")),
        ("random", None),
        ("backend", Some("Engineering")),
    ] {
        let id = channel_of(&ann, create(name, false, vec![])).await.channel_id;
        channels.insert(name, id);
        if let Some(folder) = folder {
            let path = format!("/api/v1/channels/{id}/folder");
            let (status, _) =
                admin(&server, "PUT", &path, serde_json::json!({"folder_id": ids[folder]})).await;
            assert_eq!(status, 200);
        }
    }
    let order = |listed: Vec<ChannelInfo>| listed.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(order(list(&ann).await), ["board", "backend", "infra", "acme", "random"]);
    // Engineering first, renamed; Customer Projects deleted: its channel stays, in no folder.
    let path = format!("/api/v1/folders/{}", ids["Engineering"]);
    let (status, moved) =
        admin(&server, "PATCH", &path, serde_json::json!({"position": 0, "name": "Eng"})).await;
    assert_eq!((status, moved["position"].as_u64(), moved["name"].as_str()), (200, Some(0), Some("Eng")));
    let path = format!("/api/v1/folders/{}", ids["Customer Projects"]);
    assert_eq!(admin(&server, "DELETE", &path, serde_json::json!({})).await.0, 204);
    assert_eq!(admin(&server, "DELETE", &path, serde_json::json!({})).await.0, 404);
    let missing = format!("/api/v1/channels/{}/folder", channels["acme"]);
    assert_eq!(admin(&server, "PUT", &missing, serde_json::json!({"folder_id": 999})).await.0, 404);
    assert_eq!(
        admin(&server, "PUT", "/api/v1/channels/999/folder", serde_json::json!({"folder_id": null})).await.0,
        404
    );
    assert_eq!(order(list(&ann).await), ["backend", "infra", "board", "acme", "random"]);
    drop(ann);
    server.kill9();
    server.restart();
    let ann = server.agent_with_token(&token).await;
    match ann.call(Request::ListChannels {}).await.unwrap() {
        ServerFrame::Channels { folders, channels, .. } => {
            let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names, ["Eng", "Management"]);
            assert_eq!(order(channels), ["backend", "infra", "board", "acme", "random"]);
        }
        other => panic!("{other:?}"),
    }
    let (_, listed) = admin(&server, "GET", "/api/v1/folders", serde_json::json!({})).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
}
