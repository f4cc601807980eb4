//! Tickets (docs/TICKETS.md): a chat session made into a helpdesk ticket, its transcript
//! as the description, once per session (or a team-channel message, once per message:
//! [`channel`]); listed and read by id; and, when a helpdesk webhook is configured, queued
//! for delivery in the same write ([`deliveries`]).
//!
//! Who may: any authenticated agent, for any session (waiting, active or closed). Every
//! agent sees the whole queue, and in a support centre the colleague who picks up a
//! follow-up, or a supervisor reviewing closed chats, escalates as often as the agent who
//! held the chat. The administrator API may too (`created_by` is then empty).
//!
//! The link. A session's ticket is stored in `session_ticket` (session → ticket), written in
//! the ticket's batch, not in the session's record: the session actor is the only writer of
//! `SessionRecord` and may be writing it at the same moment (an accept, a close), so a write
//! from here could overwrite its change or be overwritten. `SessionInfo.ticket_id` is filled
//! from [`TicketDesk::links`], a memory copy of `session_ticket` for the sessions that can
//! be shown: those listed in the queue (loaded at start), those whose actor loaded (the
//! registry reads the link with the session), and those given a ticket since start.
//!
//! Creation takes one lock ([`TicketDesk::writes`]) from the last idempotency check to the
//! durable write, so two requests for one session cannot both create a ticket; the
//! transcript is read before, outside it. Tickets are made by people: one at a time is
//! plenty.

mod channel;
pub mod deliveries;

use crate::ids::IdCounter;
use std::sync::Arc;

use dashmap::DashMap;
use switchboard_storage::{catalog, Batch, OutboxRecord, SessionRecord, Storage, StoredSender, TicketRecord};

use crate::domain::ticket::{self, Ticket, TicketId, TicketSource, Transcript};
use crate::hub::Hub;
use crate::{now_ms, AgentId, Engine, EngineError, SessionId};

/// Most tickets one page of [`Engine::list_tickets`] holds (the protocol's bound).
pub const TICKETS_PAGE_MAX: usize = switchboard_protocol::tickets::TICKETS_PAGE_MAX;

/// Messages read from storage at once while writing a transcript: a page of at most
/// 2 MiB (500 × 4 KiB), so a 10,000-message chat is read in 20 bounded steps.
const TRANSCRIPT_PAGE: usize = 500;

/// The tickets' shared state.
#[derive(Default)]
pub(crate) struct TicketDesk {
    pub(crate) next_id: IdCounter,
    /// Session → ticket for the sessions that can be shown (see the module comment). One
    /// entry per session with a ticket that was listed, loaded or escalated since start.
    links: DashMap<SessionId, TicketId>,
    /// Held from the last idempotency check to the durable write of a new ticket.
    pub(crate) writes: tokio::sync::Mutex<()>,
    /// The webhook's state: pending count and the wake-up of its deliverer.
    pub(crate) outbox: deliveries::OutboxState,
}

impl TicketDesk {
    /// Read the next ticket id and the pending deliveries (start-up).
    pub(crate) fn load(&self, storage: &Storage, shards: u32) -> Result<(), EngineError> {
        self.next_id.saw(storage.max_id(catalog::TICKET)?, shards);
        self.outbox.load(storage)
    }

    /// Remember a session's ticket, if it has one (one point read): for a session being
    /// listed or loaded.
    pub(crate) fn remember(&self, storage: &Storage, session: SessionId) -> Result<(), EngineError> {
        if let Some(ticket) = storage.session_ticket(session)? {
            self.links.insert(session, ticket);
        }
        Ok(())
    }
}

/// What the read before creation found.
enum Found {
    /// The session already has this ticket.
    Existing(TicketRecord),
    /// The session, its transcript and its visitor: ready to become a ticket.
    New { session: SessionRecord, description: String },
}

impl Engine {
    /// Make a ticket of `session` for `by` (an agent, or `None` for the administrator),
    /// with `subject` or the default one. Idempotent: a session has at most one ticket, and
    /// asking again returns it unchanged (whatever the subject). Returns the ticket and
    /// whether this call created it. Durable (with its webhook delivery queued, when one is
    /// configured) before it returns.
    pub async fn create_ticket(
        &self,
        session: SessionId,
        by: Option<AgentId>,
        subject: Option<String>,
    ) -> Result<(Ticket, bool), EngineError> {
        let subject = ticket::check_subject(subject)?;
        let hub = self.hub.clone();
        let (session_record, description) =
            match self.hub.read(move |s| read_for_ticket(&hub, s, session)).await? {
                Found::Existing(record) => return Ok((ticket_from(record), false)),
                Found::New { session, description } => (session, description),
            };
        let desk = &self.hub.tickets;
        let _writing = desk.writes.lock().await;
        if let Some(id) = desk.links.get(&session).map(|l| *l) {
            return Ok((self.get_ticket(id).await?, false));
        }
        let now = now_ms();
        let ticket = Ticket {
            id: self.next_ticket_id()?,
            subject: subject.unwrap_or_else(|| {
                ticket::default_subject(session_record.visitor_name.as_deref(), session_record.created_at_ms)
            }),
            requester_name: session_record.visitor_name.clone(),
            requester_email: session_record.visitor_email.clone(),
            description,
            source: TicketSource::Session(session),
            created_by: by,
            created_at_ms: now,
            contact_id: session_record.contact_id,
        };
        self.store_ticket(&ticket).await?;
        desk.links.insert(session, ticket.id);
        tracing::info!(target: "ticket", ticket = ticket.id, session, agent = ?by, "ticket created");
        self.hub.session_announced(session);
        Ok((ticket, true))
    }

    /// Write a new ticket (with its source's link, and its webhook delivery when one is
    /// configured) in one durable batch. The caller holds [`TicketDesk::writes`].
    pub(crate) async fn store_ticket(&self, ticket: &Ticket) -> Result<(), EngineError> {
        let now = ticket.created_at_ms;
        let outbox = self.hub.config.ticket_webhook.then(|| OutboxRecord {
            v: switchboard_storage::records::RECORD_VERSION,
            ticket_id: ticket.id,
            attempts: 0,
            last_error: None,
            queued_at_ms: now,
        });
        let mut batch = Batch::new();
        batch.put_ticket(&ticket_record(ticket), outbox.as_ref().map(|entry| (now, entry)));
        self.write(batch).await?;
        if outbox.is_some() {
            self.hub.tickets.outbox.queued();
        }
        metrics::counter!("switchboard_tickets_created_total").increment(1);
        Ok(())
    }

    /// A fresh ticket id.
    pub(crate) fn next_ticket_id(&self) -> Result<TicketId, EngineError> {
        self.new_id(&self.hub.tickets.next_id)
    }

    /// A ticket by id.
    pub async fn get_ticket(&self, id: TicketId) -> Result<Ticket, EngineError> {
        let record = self.hub.read(move |s| Ok(s.ticket(id)?)).await?;
        record.map(ticket_from).ok_or(EngineError::UnknownTicket(id))
    }

    /// Up to `limit` (at most [`TICKETS_PAGE_MAX`]) tickets with an id above `after_id`, by
    /// id, and whether more follow.
    pub async fn list_tickets(
        &self,
        after_id: TicketId,
        limit: usize,
    ) -> Result<(Vec<Ticket>, bool), EngineError> {
        let limit = limit.clamp(1, TICKETS_PAGE_MAX);
        let mut page = self.hub.read(move |s| Ok(s.tickets(after_id, limit + 1)?)).await?;
        let has_more = page.len() > limit;
        page.truncate(limit);
        Ok((page.into_iter().map(ticket_from).collect(), has_more))
    }

    /// The ticket of a session that can be shown (listed, loaded, or escalated since
    /// start): what `SessionInfo.ticket_id` carries.
    pub fn ticket_of_session(&self, session: SessionId) -> Option<TicketId> {
        self.hub.tickets.links.get(&session).map(|l| *l)
    }
}

/// On the blocking pool: the session's ticket if it has one, else the session and its
/// transcript, read page by page and cut at [`ticket::DESCRIPTION_BYTES_MAX`].
fn read_for_ticket(hub: &Arc<Hub>, storage: &Storage, session: SessionId) -> Result<Found, EngineError> {
    if let Some(id) = storage.session_ticket(session)? {
        let record = storage.ticket(id)?;
        return record.map(Found::Existing).ok_or(EngineError::UnknownTicket(id));
    }
    let record = storage.session(session)?.ok_or(EngineError::UnknownSession(session))?;
    let visitor =
        record.visitor_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "Visitor".into());
    let mut transcript = Transcript::new(ticket::DESCRIPTION_BYTES_MAX);
    let mut after = 0;
    let limit = hub.config.session_messages_max;
    while after < limit && !transcript.is_full() {
        let page = storage.messages(session, after, TRANSCRIPT_PAGE)?;
        let Some(&(last, _)) = page.last() else { break };
        for (_, message) in &page {
            let name = match (message.from, message.agent_id) {
                (StoredSender::Visitor, _) => visitor.clone(),
                (StoredSender::Agent, Some(id)) => transcript_name(hub, id),
                (StoredSender::Agent, None) => "Agent".into(),
            };
            if !transcript.push(message.sent_at_ms, &name, &message.text) {
                break;
            }
        }
        after = last;
    }
    let total = storage.last_seq(session)?;
    Ok(Found::New { session: record, description: transcript.finish(total, session) })
}

/// An agent's name in a transcript: its display name, or `Agent {id}` for one no longer in
/// the directory.
fn transcript_name(hub: &Hub, agent: AgentId) -> String {
    hub.directory.get(&agent).map_or_else(|| format!("Agent {agent}"), |a| a.display_name.clone())
}

/// Domain ticket → stored record.
fn ticket_record(t: &Ticket) -> TicketRecord {
    let (session_id, channel_id, channel_seq, left_for_department) = match t.source {
        TicketSource::Session(id) => (Some(id), None, None, None),
        TicketSource::ChannelMessage { channel_id, seq } => (None, Some(channel_id), Some(seq), None),
        TicketSource::LeftMessage { department_id } => (None, None, None, Some(department_id)),
    };
    TicketRecord {
        v: switchboard_storage::records::RECORD_VERSION,
        id: t.id,
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
        left_for_department,
    }
}

/// Stored record → domain ticket. A record with no source cannot be written by this
/// code; it reads as made from session 0 (unknown) rather than failing every listing.
pub(crate) fn ticket_from(r: TicketRecord) -> Ticket {
    let source = match (r.session_id, r.channel_id, r.channel_seq, r.left_for_department) {
        (Some(id), ..) => TicketSource::Session(id),
        (None, Some(channel_id), seq, _) => {
            TicketSource::ChannelMessage { channel_id, seq: seq.unwrap_or(0) }
        }
        (None, None, _, Some(department_id)) => TicketSource::LeftMessage { department_id },
        (None, None, _, None) => TicketSource::Session(0),
    };
    Ticket {
        id: r.id,
        subject: r.subject,
        requester_name: r.requester_name,
        requester_email: r.requester_email,
        description: r.description,
        source,
        created_by: r.created_by,
        created_at_ms: r.created_at_ms,
        contact_id: r.contact_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        for source in [
            TicketSource::Session(4),
            TicketSource::ChannelMessage { channel_id: 2, seq: 9 },
            TicketSource::LeftMessage { department_id: 3 },
        ] {
            let t = Ticket {
                id: 1,
                subject: "s".into(),
                requester_name: Some("Ada".into()),
                requester_email: None,
                description: "d".into(),
                source,
                created_by: Some(3),
                created_at_ms: 5,
                contact_id: Some(6),
            };
            assert_eq!(ticket_from(ticket_record(&t)), t);
        }
    }
}
