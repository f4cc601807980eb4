//! Conversions between domain types and storage records: the engine's edge to storage.

use switchboard_storage::{ContactRecord, MessageRecord, SessionRecord, StoredSender, StoredState};

use crate::domain::contact::{Contact, ContactFields};
use crate::domain::types::*;

/// Domain session metadata → stored record.
pub fn session_record(meta: &SessionMeta) -> SessionRecord {
    SessionRecord {
        v: switchboard_storage::records::RECORD_VERSION,
        id: meta.id,
        state: match meta.state {
            State::Waiting => StoredState::Waiting,
            State::Active => StoredState::Active,
            State::Closed => StoredState::Closed,
        },
        visitor_name: meta.visitor.name.clone(),
        visitor_email: meta.visitor.email.clone(),
        page_url: meta.visitor.page_url.clone(),
        token_sha256: meta.token_sha256.clone(),
        agent_id: meta.agent_id,
        created_at_ms: meta.created_at_ms,
        accepted_at_ms: meta.accepted_at_ms,
        closed_at_ms: meta.closed_at_ms,
        department_id: Some(meta.department_id),
        priority: meta.priority,
        contact_id: meta.contact_id,
    }
}

/// Stored record → domain session metadata.
pub fn session_meta(record: SessionRecord) -> SessionMeta {
    SessionMeta {
        id: record.id,
        state: match record.state {
            StoredState::Waiting => State::Waiting,
            StoredState::Active => State::Active,
            StoredState::Closed => State::Closed,
        },
        visitor: Visitor {
            name: record.visitor_name,
            email: record.visitor_email,
            page_url: record.page_url,
        },
        token_sha256: record.token_sha256,
        agent_id: record.agent_id,
        created_at_ms: record.created_at_ms,
        accepted_at_ms: record.accepted_at_ms,
        closed_at_ms: record.closed_at_ms,
        department_id: record.department_id.unwrap_or(DEFAULT_DEPARTMENT),
        priority: record.priority,
        contact_id: record.contact_id,
    }
}

/// Domain message → stored record (the seq goes into the key).
pub fn message_record(message: &ChatMessage) -> MessageRecord {
    let (from, agent_id) = match message.from {
        Participant::Visitor => (StoredSender::Visitor, None),
        Participant::Agent(id) => (StoredSender::Agent, Some(id)),
    };
    MessageRecord {
        v: switchboard_storage::records::RECORD_VERSION,
        from,
        agent_id,
        client_msg_id: message.client_msg_id.clone(),
        text: message.text.clone(),
        sent_at_ms: message.sent_at_ms,
    }
}

/// Stored record and its seq → domain message.
pub fn chat_message(seq: Seq, record: MessageRecord) -> ChatMessage {
    let from = match (record.from, record.agent_id) {
        (StoredSender::Agent, Some(id)) => Participant::Agent(id),
        // An agent message without an agent id cannot be written by this code; reading it
        // as the visitor's would misattribute it, so attribute it to agent 0 (unknown).
        (StoredSender::Agent, None) => Participant::Agent(0),
        (StoredSender::Visitor, _) => Participant::Visitor,
    };
    ChatMessage {
        seq,
        from,
        client_msg_id: record.client_msg_id,
        text: record.text,
        sent_at_ms: record.sent_at_ms,
    }
}

/// Domain contact → stored record.
pub fn contact_record(contact: &Contact) -> ContactRecord {
    let f = &contact.fields;
    ContactRecord {
        v: switchboard_storage::records::RECORD_VERSION,
        id: contact.id,
        name: f.name.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        company: f.company.clone(),
        notes: f.notes.clone(),
        created_at_ms: contact.created_at_ms,
        updated_at_ms: contact.updated_at_ms,
    }
}

/// Stored record → domain contact.
pub fn contact(record: ContactRecord) -> Contact {
    Contact {
        id: record.id,
        fields: ContactFields {
            name: record.name,
            email: record.email,
            phone: record.phone,
            company: record.company,
            notes: record.notes,
        },
        created_at_ms: record.created_at_ms,
        updated_at_ms: record.updated_at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let meta = SessionMeta {
            id: 3,
            state: State::Active,
            visitor: Visitor { name: Some("A".into()), email: Some("a@x".into()), page_url: None },
            token_sha256: "h".into(),
            agent_id: Some(4),
            created_at_ms: 1,
            accepted_at_ms: Some(2),
            closed_at_ms: None,
            department_id: DEFAULT_DEPARTMENT,
            priority: 0,
            contact_id: Some(7),
        };
        assert_eq!(session_meta(session_record(&meta)), meta);
        let message = ChatMessage {
            seq: 9,
            from: Participant::Agent(4),
            client_msg_id: "c".into(),
            text: "t".into(),
            sent_at_ms: 5,
        };
        assert_eq!(chat_message(9, message_record(&message)), message);
        let contact = Contact {
            id: 2,
            fields: ContactFields {
                name: "Ada".into(),
                email: Some("a@b.co".into()),
                phone: None,
                company: Some("Acme".into()),
                notes: None,
            },
            created_at_ms: 1,
            updated_at_ms: 2,
        };
        assert_eq!(super::contact(contact_record(&contact)), contact);
    }
}
