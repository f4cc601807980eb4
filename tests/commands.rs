//! Slash commands over real connections: listing by context and prefix, commands shown only
//! to the caller and commands that post, usage for unknown commands and bad arguments, and
//! the live-chat commands.

use switchboard_protocol::{CommandVisibility, ErrorCode, Request, ServerFrame};

use crate::support::*;

async fn run(
    client: &switchboard_client::Client,
    channel: Option<u64>,
    session: Option<u64>,
    text: &str,
) -> (CommandVisibility, String) {
    let request = Request::RunCommand { channel_id: channel, session_id: session, text: text.into() };
    match client.call(request).await.unwrap() {
        ServerFrame::CommandResult { visibility, text, .. } => (visibility, text),
        other => panic!("{other:?}"),
    }
}

async fn names(
    client: &switchboard_client::Client,
    channel: Option<u64>,
    session: Option<u64>,
    prefix: &str,
) -> Vec<String> {
    let request =
        Request::ListCommands { channel_id: channel, session_id: session, prefix: Some(prefix.into()) };
    match client.call(request).await.unwrap() {
        ServerFrame::Commands { commands, .. } => commands.into_iter().map(|c| c.name).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn channel_commands_list_by_prefix_post_or_answer_the_caller_and_explain_their_usage() {
    let server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let (mut bob, bob_id, _) = server.agent("Bob Stone").await;
    let (_, cy_id, _) = server.agent("Cy").await;
    let created = ann
        .call(Request::CreateChannel {
            name: "ops".into(),
            description: None,
            private: false,
            folder_id: None,
            invite: vec![bob_id],
        })
        .await
        .unwrap();
    let ServerFrame::Channel { channel, .. } = created else { panic!("{created:?}") };
    let ch = Some(channel.channel_id);
    assert_eq!(
        names(&ann, ch, None, "/").await,
        ["help", "me", "topic", "invite", "leave", "contact", "ticket"]
    );
    assert_eq!(names(&ann, ch, None, "in").await, ["invite"]);
    assert!(names(&ann, ch, None, "/zz").await.is_empty());
    assert_eq!(run(&ann, ch, None, "/help /zz").await.1, "No command here starts with /zz.");
    let (visibility, help) = run(&ann, ch, None, "/help").await;
    assert_eq!(visibility, CommandVisibility::Caller);
    assert!(help.contains("/invite @agent — Add an agent to this channel"), "{help}");
    let ticket_line = "/ticket <message number> [subject] — Create a helpdesk ticket from a message of this channel and its replies";
    assert!(help.contains(ticket_line), "the channel's own usage of /ticket: {help}");
    // /me posts, and members receive the message.
    let (visibility, text) = run(&ann, ch, None, "/me is deploying").await;
    assert_eq!((visibility, text.as_str()), (CommandVisibility::Posted, "_Ann is deploying_"));
    let got = wait_for(&mut bob, |f| match f {
        ServerFrame::ChannelMessage { message, .. } => Some(message.text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got, "_Ann is deploying_");
    // /topic and /invite act; the caller gets a confirmation.
    assert_eq!(run(&ann, ch, None, "/topic  Q4 plans").await.1, "Topic set: Q4 plans");
    assert_eq!(run(&ann, ch, None, "/invite @cy").await.1, "Cy is a member.");
    match ann.call(Request::ChannelMembers { channel_id: channel.channel_id }).await.unwrap() {
        ServerFrame::ChannelMemberList { members, .. } => {
            assert!(members.iter().any(|m| m.agent_id == cy_id))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        run(&bob, ch, None, "/invite @bobstone").await.1,
        "Bob Stone is a member.",
        "already one: fine"
    );
    // Unknown commands, bad arguments, the wrong context: usage for the caller only.
    let (visibility, text) = run(&ann, ch, None, "/frobnicate now").await;
    assert_eq!(
        (visibility, text.as_str()),
        (CommandVisibility::Caller, "Unknown command /frobnicate. Type /help for the list.")
    );
    assert_eq!(run(&ann, ch, None, "/me").await.1, "Usage: /me <action>");
    assert!(run(&ann, ch, None, "/invite @nobody").await.1.contains("Usage: /invite @agent"));
    assert_eq!(run(&ann, ch, None, "/close").await.1, "/close does not work here.");
    assert_eq!(
        run(&ann, ch, None, "no slash").await.1,
        "A command starts with `/`. Type /help for the list."
    );
    // A command the rules refuse is an error with its code.
    let (outsider, _, _) = server.agent("Dee").await;
    let refused = outsider
        .request(Request::RunCommand { channel_id: ch, session_id: None, text: "/topic mine".into() })
        .await
        .unwrap();
    assert_eq!(error_code(&refused), ErrorCode::NotChannelMember);
    let both = Request::RunCommand { channel_id: ch, session_id: Some(1), text: "/help".into() };
    assert_eq!(error_code(&ann.request(both).await.unwrap()), ErrorCode::InvalidRequest);
    // /leave.
    assert_eq!(run(&bob, ch, None, "/leave").await.1, "You left the channel.");
}

#[tokio::test]
async fn contact_lookup_and_the_live_chat_commands() {
    let server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let (mut bob, _, _) = server.agent("Bob").await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/api/v1/contacts", server.http_url()))
        .bearer_auth(server.admin_token())
        .json(&serde_json::json!({"name": "Grace Hopper", "email": "grace@navy.example", "company": "Navy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (_visitor, session, _) = server.visitor("Vera", Some("help")).await;
    ann.call(Request::Accept { session_id: session }).await.unwrap();
    let s = Some(session);
    assert_eq!(names(&ann, None, s, "").await, ["help", "me", "contact", "close", "transfer", "ticket"]);
    let (visibility, found) = run(&ann, None, s, "/contact grace").await;
    assert_eq!(visibility, CommandVisibility::Caller);
    assert!(found.contains("Grace Hopper · grace@navy.example · Navy"), "{found}");
    assert_eq!(run(&ann, None, s, "/contact zzz").await.1, "No contact matches \"zzz\".");
    assert_eq!(run(&ann, None, s, "/me checks the order").await.0, CommandVisibility::Posted);
    // /ticket: the chat becomes a ticket; asking again names the same one.
    let (visibility, made) = run(&ann, None, s, "/ticket Invoice is wrong").await;
    assert_eq!(visibility, CommandVisibility::Caller);
    assert!(made.starts_with("Ticket #") && made.ends_with("created: Invoice is wrong"), "{made}");
    let again = run(&ann, None, s, "/ticket").await.1;
    assert!(again.starts_with("This chat already has ticket #"), "{again}");
    // /transfer @bob with a note: Bob is offered the chat and reads the note.
    let long = format!("/transfer @bob {}", "n".repeat(1025));
    assert_eq!(run(&ann, None, s, &long).await.1, "A transfer note is at most 1024 bytes.");
    assert!(run(&ann, None, s, "/transfer @bob VIP, be gentle")
        .await
        .1
        .starts_with("Transfer offered to @bob"));
    let note = wait_for(&mut bob, |f| match f {
        ServerFrame::TransferOffer { note, .. } => Some(note.clone()),
        _ => None,
    })
    .await;
    assert_eq!(note.as_deref(), Some("VIP, be gentle"));
    assert_eq!(run(&ann, None, s, "/transfer nowhere").await.1, "No department is called \"nowhere\".");
    // Bob cannot close Ann's chat; Ann can.
    let refused = bob
        .request(Request::RunCommand { channel_id: None, session_id: s, text: "/close".into() })
        .await
        .unwrap();
    assert_eq!(error_code(&refused), ErrorCode::NotYourSession);
    assert_eq!(run(&ann, None, s, "/close").await.1, "Chat closed.");
}

#[tokio::test]
async fn commands_need_a_context_the_caller_can_see() {
    let server = TestServer::start();
    let (ann, _, _) = server.agent("Ann").await;
    let (bob, _, _) = server.agent("Bob").await;
    let private = Request::CreateChannel {
        name: "managers".into(),
        description: None,
        private: true,
        folder_id: None,
        invite: vec![],
    };
    let channel = match ann.call(private).await.unwrap() {
        ServerFrame::Channel { channel, .. } => channel.channel_id,
        other => panic!("{other:?}"),
    };
    let list = |channel_id, session_id| Request::ListCommands { channel_id, session_id, prefix: None };
    let run = |channel_id, session_id, text: &str| Request::RunCommand {
        channel_id,
        session_id,
        text: text.into(),
    };
    let code = |f: ServerFrame| error_code(&f);
    // A private channel Bob is not in, and an id no channel has: the same answer.
    for id in [channel, 999] {
        assert_eq!(code(bob.request(list(Some(id), None)).await.unwrap()), ErrorCode::UnknownChannel, "{id}");
        assert_eq!(code(bob.request(run(Some(id), None, "/help")).await.unwrap()), ErrorCode::UnknownChannel);
        assert_eq!(
            code(bob.request(run(Some(id), None, "/contact ada")).await.unwrap()),
            ErrorCode::UnknownChannel
        );
    }
    // A session that does not exist.
    assert_eq!(code(bob.request(list(None, Some(4242))).await.unwrap()), ErrorCode::UnknownSession);
    assert_eq!(code(bob.request(run(None, Some(4242), "/help")).await.unwrap()), ErrorCode::UnknownSession);
    // Neither or both.
    assert_eq!(code(bob.request(list(None, None)).await.unwrap()), ErrorCode::InvalidRequest);
    assert_eq!(
        code(bob.request(run(Some(channel), Some(1), "/help")).await.unwrap()),
        ErrorCode::InvalidRequest
    );
    // The member still can, and the server carries on for everyone.
    assert!(names(&ann, Some(channel), None, "").await.contains(&"help".to_string()));
    let (_visitor, sid, _) = server.visitor("Vic", None).await;
    assert!(names(&bob, None, Some(sid), "cl").await == ["close"]);
}
