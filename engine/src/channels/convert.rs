//! Channel records (storage) ↔ channel domain types.

use switchboard_storage::records::RECORD_VERSION;
use switchboard_storage::{ChannelMemberRecord, ChannelMessageRecord, ChannelRecord, StoredRole};

use crate::domain::channel::{ChannelMessage, ChannelMeta, Member, Role};
use crate::domain::types::{AgentId, Seq};

pub(crate) fn channel_record(meta: &ChannelMeta) -> ChannelRecord {
    ChannelRecord {
        v: RECORD_VERSION,
        id: meta.id,
        name: meta.name.clone(),
        description: meta.description.clone(),
        topic: meta.topic.clone(),
        folder_id: meta.folder_id,
        private: meta.private,
        archived: meta.archived,
        created_by: meta.created_by,
        created_at_ms: meta.created_at_ms,
    }
}

pub(crate) fn channel_meta(r: ChannelRecord) -> ChannelMeta {
    ChannelMeta {
        id: r.id,
        name: r.name,
        description: r.description,
        topic: r.topic,
        folder_id: r.folder_id,
        private: r.private,
        archived: r.archived,
        created_by: r.created_by,
        created_at_ms: r.created_at_ms,
    }
}

pub(crate) fn member_record(member: &Member) -> ChannelMemberRecord {
    let role = match member.role {
        Role::Admin => StoredRole::Admin,
        Role::Member => StoredRole::Member,
    };
    ChannelMemberRecord { v: RECORD_VERSION, role, joined_at_ms: member.joined_at_ms }
}

pub(crate) fn member(record: ChannelMemberRecord, read_seq: Seq) -> Member {
    let role = match record.role {
        StoredRole::Admin => Role::Admin,
        StoredRole::Member => Role::Member,
    };
    Member { role, joined_at_ms: record.joined_at_ms, read_seq }
}

pub(crate) fn message_record(m: &ChannelMessage) -> ChannelMessageRecord {
    ChannelMessageRecord {
        v: RECORD_VERSION,
        author: m.author,
        client_msg_id: m.client_msg_id.clone(),
        text: m.text.clone(),
        sent_at_ms: m.sent_at_ms,
        edited_at_ms: m.edited_at_ms,
        deleted: m.deleted,
        mentions: m.mentions.clone(),
    }
}

pub(crate) fn message(seq: Seq, r: ChannelMessageRecord) -> ChannelMessage {
    ChannelMessage {
        seq,
        author: r.author as AgentId,
        client_msg_id: r.client_msg_id,
        text: r.text,
        sent_at_ms: r.sent_at_ms,
        edited_at_ms: r.edited_at_ms,
        deleted: r.deleted,
        mentions: r.mentions,
    }
}
