use super::*;
use crate::StorageConfig;

fn open(dir: &std::path::Path) -> Storage {
    Storage::open(dir, &StorageConfig::default()).unwrap()
}

fn message(author: u64, text: &str) -> ChannelMessageRecord {
    ChannelMessageRecord {
        v: 1,
        author,
        client_msg_id: text.into(),
        text: text.into(),
        sent_at_ms: 5,
        edited_at_ms: None,
        deleted: false,
        mentions: vec![2],
    }
}

fn channel(id: u64) -> ChannelRecord {
    ChannelRecord {
        v: 1,
        id,
        name: format!("c{id}"),
        description: "d".into(),
        topic: String::new(),
        folder_id: Some(1),
        private: true,
        archived: false,
        created_by: 1,
        created_at_ms: 3,
    }
}

#[test]
fn channels_members_reads_and_messages_survive_reopen_and_stay_inside_their_channel() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path());
        let mut batch = Batch::new();
        batch.put_channel(&channel(1)).put_channel(&channel(2));
        let member = ChannelMemberRecord { v: 1, role: StoredRole::Admin, joined_at_ms: 3 };
        batch
            .put_channel_member(1, 7, &member)
            .put_channel_member(1, 8, &member)
            .put_channel_member(2, 7, &member);
        batch.put_channel_read(1, 7, 2);
        for seq in 1..=5 {
            batch.put_channel_message(1, seq, &message(7, &format!("m{seq}")));
        }
        batch.put_channel_message(2, 1, &message(7, "other"));
        batch.put_folder(&FolderRecord {
            v: 1,
            id: 1,
            name: "Engineering".into(),
            position: 0,
            created_at_ms: 1,
        });
        storage.write_blocking(batch).unwrap();
        storage.close();
    }
    let storage = open(dir.path());
    assert_eq!(storage.channels().unwrap(), vec![channel(1), channel(2)]);
    let members: Vec<(u64, u64)> =
        storage.channel_members(1).unwrap().into_iter().map(|(agent, _, read)| (agent, read)).collect();
    assert_eq!(members, [(7, 2), (8, 0)]);
    let seqs = |v: Vec<(u64, ChannelMessageRecord)>| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
    assert_eq!(seqs(storage.channel_messages_after(1, 2, 10).unwrap()), [3, 4, 5]);
    assert_eq!(seqs(storage.channel_messages_after(1, 0, 2).unwrap()), [1, 2]);
    assert_eq!(seqs(storage.channel_messages_before(1, 4, 10).unwrap()), [3, 2, 1], "newest first");
    assert_eq!(seqs(storage.channel_messages_before(1, u64::MAX, 2).unwrap()), [5, 4]);
    assert!(storage.channel_messages_before(1, 1, 10).unwrap().is_empty());
    assert!(storage.channel_messages_after(1, u64::MAX, 10).unwrap().is_empty());
    assert_eq!(seqs(storage.channel_messages_after(2, 0, 10).unwrap()), [1]);
    assert_eq!(storage.folders().unwrap()[0].name, "Engineering");
    // Leaving ends the membership and forgets the read position.
    let mut batch = Batch::new();
    batch.delete_channel_member(1, 7);
    storage.write_blocking(batch).unwrap();
    let members: Vec<u64> = storage.channel_members(1).unwrap().into_iter().map(|(a, _, _)| a).collect();
    assert_eq!(members, [8]);
}

#[test]
fn channel_records_have_pinned_encodings() {
    // Array-encoded message: [v, author, client_msg_id, text, sent_at_ms, edited_at_ms,
    // deleted, mentions].
    let bytes = message(7, "hi").encode();
    assert_eq!(hex::encode(&bytes), "980107a26869a2686905c0c29102");
    assert_eq!(ChannelMessageRecord::decode(&bytes).unwrap(), message(7, "hi"));
    let member = ChannelMemberRecord { v: 1, role: StoredRole::Member, joined_at_ms: 9 };
    let decoded = ChannelMemberRecord::decode(&member.encode()).unwrap();
    assert_eq!(decoded, member);
}
