use super::*;

const LIMITS: ChannelLimits = ChannelLimits {
    log: LogLimits { text_bytes_max: 20, messages_max: 100, tail_max: 50, dedup_max: 50 },
    edit_window_ms: 1_000,
};

fn meta(private: bool) -> ChannelMeta {
    ChannelMeta {
        id: 7,
        name: "infrastructure-team".into(),
        description: String::new(),
        topic: String::new(),
        folder_id: None,
        private,
        archived: false,
        created_by: 1,
        created_at_ms: 0,
    }
}

/// A channel founded by agent 1 with agent 2 invited.
fn channel(private: bool) -> Channel {
    let mut c = Channel::restore(meta(private), BTreeMap::new(), vec![], LIMITS);
    c.found(1, &[2], 0).unwrap();
    c
}

/// Post and make durable at once.
fn say(c: &mut Channel, author: AgentId, id: &str, text: &str, mentions: &[AgentId], now: u64) -> Seq {
    match c.post(author, id, text, mentions, now).unwrap() {
        Posted::New(m) => {
            let seq = m.seq;
            c.message_durable(m);
            seq
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn names_are_validated() {
    for good in ["general", "infrastructure-team", "a_b-9"] {
        assert_eq!(check_name(good), Ok(()));
    }
    for bad in ["", "Upper", "with space", "#hash", "é", &"x".repeat(81)] {
        assert_eq!(check_name(bad), Err(ChannelError::BadName), "{bad:?}");
    }
    assert!(check_text("description", &"d".repeat(1024)).is_ok());
    assert_eq!(check_text("topic", &"d".repeat(1025)), Err(ChannelError::TooLong { field: "topic" }));
}

#[test]
fn the_founder_is_admin_and_the_invited_are_members() {
    let c = channel(false);
    assert_eq!(c.members()[&1].role, Role::Admin);
    assert_eq!(c.members()[&2].role, Role::Member);
    assert_eq!(c.members().len(), 2);
}

#[test]
fn anyone_joins_a_public_channel_but_a_private_one_needs_an_invitation() {
    let mut public = channel(false);
    assert!(public.join(3, 1).unwrap().is_some());
    assert_eq!(public.join(3, 2), Ok(None), "joining twice is a no-op");
    assert_eq!(public.check_read(9), Ok(()), "a public channel is readable by anyone");
    let mut private = channel(true);
    assert_eq!(private.join(3, 1), Err(ChannelError::Private(7)));
    assert_eq!(private.check_read(3), Err(ChannelError::NotMember(7)));
    assert_eq!(private.invite(9, 3, 1), Err(ChannelError::NotMember(7)), "only members invite");
    assert!(private.invite(2, 3, 1).unwrap().is_some());
    assert_eq!(private.check_read(3), Ok(()));
}

#[test]
fn only_members_post_and_ids_are_idempotent_per_author() {
    let mut c = channel(false);
    assert_eq!(c.post(3, "m1", "hi", &[], 1), Err(ChannelError::NotMember(7)));
    let first = say(&mut c, 1, "m1", "hello", &[], 1);
    assert_eq!(c.post(1, "m1", "hello", &[], 2), Ok(Posted::Duplicate { seq: first, sent_at_ms: 1 }));
    assert_eq!(say(&mut c, 2, "m1", "hey", &[], 3), first + 1, "another author's m1 is new");
    assert_eq!(c.post(1, "m2", "", &[], 4), Err(ChannelError::BadText { len: 0, max: 20 }));
    assert_eq!(c.post(1, "m3", &"x".repeat(21), &[], 4), Err(ChannelError::BadText { len: 21, max: 20 }));
}

#[test]
fn an_archived_channel_is_read_only_until_an_admin_unarchives_it() {
    let mut c = channel(false);
    say(&mut c, 2, "a", "before", &[], 1);
    assert_eq!(c.set_archived(2, true), Err(ChannelError::NotAdmin(7)));
    assert!(c.set_archived(1, true).unwrap().archived);
    assert_eq!(c.post(2, "b", "after", &[], 2), Err(ChannelError::Archived(7)));
    assert_eq!(c.set_topic(2, "t"), Err(ChannelError::Archived(7)));
    assert_eq!(c.edit(2, 1, "changed", &[], 2), Err(ChannelError::Archived(7)));
    assert_eq!(c.check_read(2), Ok(()), "still readable");
    assert!(!c.set_archived(1, false).unwrap().archived);
    say(&mut c, 2, "b", "after", &[], 3);
}

#[test]
fn authors_edit_and_delete_their_own_messages_within_the_window() {
    let mut c = channel(false);
    let seq = say(&mut c, 2, "a", "typo", &[1], 100);
    assert_eq!(c.edit(1, seq, "mine now", &[], 200), Err(ChannelError::NotAuthor(7, seq)));
    assert_eq!(c.delete(1, seq, 200), Err(ChannelError::NotAuthor(7, seq)));
    assert_eq!(c.edit(2, 99, "x", &[], 200), Err(ChannelError::UnknownMessage(7, 99)));
    let edited = c.edit(2, seq, "fixed @one", &[1], 600).unwrap();
    assert_eq!((edited.text.as_str(), edited.edited_at_ms), ("fixed @one", Some(600)));
    c.message_changed(edited);
    assert_eq!(c.log().get(seq).unwrap().text, "fixed @one");
    assert_eq!(c.edit(2, seq, "late", &[], 1_101), Err(ChannelError::EditWindowOver(7, seq, 1_000)));
    assert_eq!(c.unread(1).1, 1, "agent 1 was mentioned");
    let deleted = c.delete(2, seq, 1_000).unwrap();
    assert!(deleted.deleted && deleted.text.is_empty());
    c.message_changed(deleted);
    assert_eq!(c.unread(1).1, 0, "a deleted message mentions nobody");
    assert_eq!(c.delete(2, seq, 1_000), Err(ChannelError::UnknownMessage(7, seq)), "deleted once");
}

#[test]
fn an_edit_moves_unread_mentions_with_the_text() {
    let mut c = channel(false);
    c.join(3, 0).unwrap();
    let seq = say(&mut c, 2, "a", "hi @one", &[1], 100);
    assert_eq!((c.unread(1).1, c.unread(3).1), (1, 0));
    // The edit names agent 3 instead of agent 1; a non-member (9) and the author never count.
    let edited = c.edit(2, seq, "hi @three", &[3, 9, 2], 200).unwrap();
    assert_eq!(edited.mentions, vec![3]);
    c.message_changed(edited);
    assert_eq!((c.unread(1).1, c.unread(3).1), (0, 1), "the mention moved with the text");
    // Agent 3 reads past it; a later edit naming it again adds nothing it has read.
    c.mark_read(3, seq).unwrap();
    let again = c.edit(2, seq, "hi @three!", &[3], 300).unwrap();
    c.message_changed(again);
    assert_eq!(c.unread(3).1, 0, "a read message's mention is not unread again");
}

#[test]
fn unread_and_mention_counts_follow_the_read_position() {
    let mut c = channel(false);
    c.join(3, 0).unwrap();
    say(&mut c, 1, "a", "hello all", &[], 1);
    let mention = say(&mut c, 1, "b", "@bob look", &[2, 9], 2);
    say(&mut c, 2, "c", "on it", &[2], 3);
    assert_eq!(c.unread(2), (0, 0), "Bob's own post read everything before it; self-mentions do not count");
    assert_eq!(c.unread(3), (3, 0));
    assert_eq!(c.unread(9), (0, 0), "not a member");
    assert_eq!(c.mark_read(3, 1), Ok(Some(1)));
    assert_eq!(c.mark_read(3, 1), Ok(None), "never moves back or stays");
    assert_eq!(c.mark_read(3, 99), Ok(Some(3)), "capped at the newest");
    assert_eq!(c.unread(3), (0, 0));
    // Bob had read up to his own post at 3, past the mention at 2.
    assert_eq!(c.mark_read(2, mention), Ok(None));
    assert_eq!(c.mark_read(9, 1), Err(ChannelError::NotMember(7)));
}

#[test]
fn a_restored_channel_counts_the_unread_mentions_it_holds() {
    let mut c = channel(false);
    say(&mut c, 1, "a", "@bob", &[2], 1);
    say(&mut c, 1, "b", "@bob again", &[2], 2);
    c.mark_read(2, 1).unwrap();
    let members = c.members().clone();
    let messages = match c.log().replay(0, 100) {
        super::super::log::Replay::Messages { messages, .. } => messages,
        other => panic!("{other:?}"),
    };
    let mut restored = Channel::restore(c.meta().clone(), members, messages, LIMITS);
    assert_eq!(restored.unread(2), (1, 1));
    assert!(matches!(restored.post(1, "b", "x", &[], 9), Ok(Posted::Duplicate { seq: 2, .. })));
}

#[test]
fn admins_remove_members_and_anyone_may_leave() {
    let mut c = channel(false);
    c.join(3, 0).unwrap();
    assert_eq!(c.remove(2, 3), Err(ChannelError::NotAdmin(7)));
    assert_eq!(c.remove(1, 3), Ok(true));
    assert_eq!(c.remove(1, 3), Ok(false));
    assert!(c.leave(2));
    assert!(!c.is_member(2));
    assert_eq!(c.post(2, "x", "still here?", &[], 1), Err(ChannelError::NotMember(7)));
}

#[test]
fn mention_tokens_are_at_words() {
    assert_eq!(mention_tokens("hi @Bob, see @ann.lee. and mail@example.com @bob"), ["bob", "ann.lee"]);
    assert!(mention_tokens("no mentions @ here").is_empty());
}
