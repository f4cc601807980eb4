//! Engine types → wire types.

use switchboard_engine::channels::{ChannelAnswer, ChannelView};
use switchboard_engine::domain::channel::ChannelMessage;
use switchboard_engine::domain::hours::{self, Hours, Span};
use switchboard_engine::domain::ticket::{Ticket, TicketSource};
use switchboard_engine::{ChatMessage, Engine, Event, Participant, SessionSnapshot, State};
use switchboard_protocol as wire;

/// A session as the wire shows it; `unread` only for agents.
pub fn session_info(engine: &Engine, s: &SessionSnapshot, unread: Option<u64>) -> wire::SessionInfo {
    let meta = &s.meta;
    wire::SessionInfo {
        session_id: meta.id,
        state: match meta.state {
            State::Waiting => wire::SessionState::Waiting,
            State::Active => wire::SessionState::Active,
            State::Closed => wire::SessionState::Closed,
        },
        visitor: wire::VisitorInfo {
            name: meta.visitor.name.clone(),
            email: meta.visitor.email.clone(),
            page_url: meta.visitor.page_url.clone(),
        },
        agent_id: meta.agent_id,
        agent_name: meta.agent_id.and_then(|id| engine.agent_name(id)),
        created_at_ms: meta.created_at_ms,
        accepted_at_ms: meta.accepted_at_ms,
        closed_at_ms: meta.closed_at_ms,
        last_seq: s.last_seq,
        department_id: meta.department_id,
        priority: meta.priority,
        contact_id: meta.contact_id,
        ticket_id: engine.ticket_of_session(meta.id),
        rating: engine.rating_of_session(meta.id).map(|r| wire::RatingInfo {
            score: r.score,
            comment: r.comment,
            rated_at_ms: r.rated_at_ms,
        }),
        unread,
    }
}

/// A ticket as the wire (and the webhook) shows it.
pub fn ticket_info(t: &Ticket) -> wire::TicketInfo {
    use switchboard_protocol::tickets::TicketOrigin;
    let (source, session_id, channel_id, channel_seq, department_id) = match t.source {
        TicketSource::Session(id) => (TicketOrigin::Session, Some(id), None, None, None),
        TicketSource::ChannelMessage { channel_id, seq } => {
            (TicketOrigin::ChannelMessage, None, Some(channel_id), Some(seq), None)
        }
        TicketSource::LeftMessage { department_id } => {
            (TicketOrigin::LeftMessage, None, None, None, Some(department_id))
        }
    };
    wire::TicketInfo {
        ticket_id: t.id,
        subject: t.subject.clone(),
        requester_name: t.requester_name.clone(),
        requester_email: t.requester_email.clone(),
        description: t.description.clone(),
        session_id,
        channel_id,
        channel_seq,
        created_by: t.created_by,
        created_at_ms: t.created_at_ms,
        contact_id: t.contact_id,
        source,
        department_id,
    }
}

/// An agent's availability, wire → engine.
pub fn presence(p: wire::Presence) -> switchboard_engine::domain::routing::Presence {
    use switchboard_engine::domain::routing::Presence;
    match p {
        wire::Presence::Online => Presence::Online,
        wire::Presence::Away => Presence::Away,
        wire::Presence::Offline => Presence::Offline,
    }
}

/// Who sent something, as the wire shows it.
pub fn sender(from: Participant) -> (wire::Sender, Option<u64>) {
    match from {
        Participant::Visitor => (wire::Sender::Visitor, None),
        Participant::Agent(id) => (wire::Sender::Agent, Some(id)),
    }
}

/// A message as the wire shows it.
pub fn message(m: &ChatMessage) -> wire::Message {
    let (from, agent_id) = sender(m.from);
    wire::Message {
        seq: m.seq,
        from,
        agent_id,
        client_msg_id: m.client_msg_id.clone(),
        text: m.text.clone(),
        sent_at_ms: m.sent_at_ms,
    }
}

/// A channel as the receiving agent sees it.
pub fn channel_info(view: &ChannelView) -> wire::ChannelInfo {
    let meta = &view.summary.meta;
    wire::ChannelInfo {
        channel_id: meta.id,
        name: meta.name.clone(),
        description: meta.description.clone(),
        topic: meta.topic.clone(),
        folder_id: meta.folder_id,
        private: meta.private,
        archived: meta.archived,
        created_by: meta.created_by,
        created_at_ms: meta.created_at_ms,
        member_count: view.summary.members.len() as u64,
        last_seq: view.last_seq,
        member: view.member,
        unread: view.unread,
        mentions: view.mentions,
    }
}

/// A folder, engine → wire.
pub fn folder_info(f: &switchboard_engine::channels::folders::Folder) -> wire::FolderInfo {
    wire::FolderInfo { folder_id: f.id, name: f.name.clone(), position: f.position }
}

/// A channel message, engine → wire.
pub fn channel_message(m: &ChannelMessage) -> wire::ChannelMessageInfo {
    wire::ChannelMessageInfo {
        seq: m.seq,
        author_id: m.author,
        client_msg_id: m.client_msg_id.clone(),
        text: m.text.clone(),
        sent_at_ms: m.sent_at_ms,
        edited_at_ms: m.edited_at_ms,
        deleted: m.deleted,
        mentions: m.mentions.clone(),
    }
}

/// A channel actor's answer to request `re`.
pub fn channel_answer(re: wire::ReqId, answer: ChannelAnswer) -> wire::ServerFrame {
    match answer {
        ChannelAnswer::Posted { channel_id, seq, sent_at_ms, client_msg_id, duplicate } => {
            wire::ServerFrame::ChannelMessageAck { re, channel_id, seq, client_msg_id, sent_at_ms, duplicate }
        }
        ChannelAnswer::View(view) => wire::ServerFrame::Channel { re, channel: channel_info(&view) },
        ChannelAnswer::History(page) => wire::ServerFrame::ChannelHistoryPage {
            re,
            channel_id: page.channel_id,
            messages: page.messages.iter().map(channel_message).collect(),
            has_more: page.has_more,
        },
    }
}

/// An engine event as a wire frame.
pub fn event(engine: &Engine, event: &Event) -> wire::ServerFrame {
    match event {
        Event::SessionCreated { session, unread } => {
            wire::ServerFrame::SessionCreated { session: session_info(engine, session, Some(*unread)) }
        }
        Event::SessionUpdated { session, unread } => {
            wire::ServerFrame::SessionUpdated { session: session_info(engine, session, *unread) }
        }
        Event::Message { session_id, message: m, .. } => {
            wire::ServerFrame::Message { session_id: *session_id, message: message(m) }
        }
        Event::Typing { session_id, from, typing } => {
            let (from, agent_id) = sender(*from);
            wire::ServerFrame::Typing { session_id: *session_id, from, agent_id, typing: *typing }
        }
        Event::Offer { session, expires_at_ms } => wire::ServerFrame::Offer {
            session: session_info(engine, session, None),
            expires_at_ms: *expires_at_ms,
        },
        Event::OfferWithdrawn { session_id, reason } => {
            wire::ServerFrame::OfferWithdrawn { session_id: *session_id, reason: (*reason).to_string() }
        }
        Event::TransferOffer { session, from, department, note, expires_at_ms } => {
            wire::ServerFrame::TransferOffer {
                session: session_info(engine, session, None),
                from_agent_id: *from,
                department_id: *department,
                note: note.clone(),
                expires_at_ms: *expires_at_ms,
            }
        }
        Event::TransferRefused { session_id, to, reason } => wire::ServerFrame::TransferRefused {
            session_id: *session_id,
            to_agent_id: *to,
            reason: (*reason).to_string(),
        },
        Event::ChannelMessage { channel_id, message } => {
            wire::ServerFrame::ChannelMessage { channel_id: *channel_id, message: channel_message(message) }
        }
        Event::ChannelMessageChanged { channel_id, message } => wire::ServerFrame::ChannelMessageUpdated {
            channel_id: *channel_id,
            message: channel_message(message),
        },
        Event::ChannelUpdated { channel } => {
            let view = ChannelView {
                summary: (**channel).clone(),
                last_seq: 0,
                member: false,
                unread: 0,
                mentions: 0,
            };
            wire::ServerFrame::ChannelUpdated { channel: channel_info(&view) }
        }
        Event::ChannelMembership { channel, agent, joined } => {
            // An event is one frame for every member: no per-receiver counts.
            let view = ChannelView {
                summary: (**channel).clone(),
                last_seq: 0,
                member: false,
                unread: 0,
                mentions: 0,
            };
            let mut info = channel_info(&view);
            info.member = channel.members.contains(agent) && *joined;
            wire::ServerFrame::ChannelMembership { channel: info, agent_id: *agent, joined: *joined }
        }
        Event::QueuePosition { session_id, position, estimated_wait_ms } => {
            wire::ServerFrame::QueuePosition {
                session_id: *session_id,
                position: *position,
                estimated_wait_ms: *estimated_wait_ms,
            }
        }
    }
}

/// Business hours, wire → engine, checked (the error names the field).
pub fn hours(wire: &switchboard_protocol::hours::BusinessHours) -> Result<Hours, String> {
    let mut spans = Vec::with_capacity(wire.weekly.len());
    for span in &wire.weekly {
        let open = hours::parse_clock(&span.open).map_err(|e| e.to_string())?;
        let close = hours::parse_clock(&span.close).map_err(|e| e.to_string())?;
        spans.push(Span { day: span.day.index(), open, close });
    }
    Hours::new(&wire.time_zone, spans).map_err(|e| e.to_string())
}

/// Business hours, engine → wire.
pub fn business_hours(h: &Hours) -> switchboard_protocol::hours::BusinessHours {
    use switchboard_protocol::hours::{OpeningSpan, Weekday};
    switchboard_protocol::hours::BusinessHours {
        time_zone: h.time_zone.clone(),
        weekly: h
            .spans
            .iter()
            .map(|s| OpeningSpan {
                day: Weekday::ALL[usize::from(s.day) % 7],
                open: hours::clock(s.open),
                close: hours::clock(s.close),
            })
            .collect(),
    }
}
