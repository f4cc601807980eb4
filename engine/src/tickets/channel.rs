//! Tickets from team-channel messages (`/ticket <seq>` in a channel, `create_ticket` with
//! `channel_id` and `seq`, `POST /api/v1/channels/{id}/messages/{seq}/ticket`): a message
//! someone raised in a channel becomes a helpdesk ticket. Its description names the
//! channel, then holds the message and up to [`CHANNEL_CONTEXT_MESSAGES`] after it (the
//! replies that usually explain it), one line each as in a chat transcript. The requester
//! is the message's author. One ticket per message: `channel_ticket` links the message to
//! its ticket in the ticket's own batch, and asking again returns that ticket.
//!
//! Who may: members of the channel (a private channel a caller is not in does not exist to
//! it), and the administrator API. An archived channel is read-only for posts, not for
//! escalating what was said in it.

use std::sync::Arc;

use switchboard_storage::{Storage, TicketRecord};

use super::{ticket_from, transcript_name};
use crate::domain::channel::{ChannelError, ChannelId};
use crate::domain::ticket::{self, Ticket, TicketSource, Transcript, CHANNEL_CONTEXT_MESSAGES};
use crate::hub::Hub;
use crate::{now_ms, AgentId, Engine, EngineError};

/// What the read before creation found.
enum Found {
    Existing(TicketRecord),
    New { author: String, text: String, description: String },
}

impl Engine {
    /// Make a ticket of message `seq` of `channel` for `by` (a member, or `None` for the
    /// administrator). Idempotent per message. Returns the ticket and whether this call
    /// created it; durable (with its webhook delivery queued) before it returns.
    pub async fn create_channel_ticket(
        &self,
        channel: ChannelId,
        seq: u64,
        by: Option<AgentId>,
        subject: Option<String>,
    ) -> Result<(Ticket, bool), EngineError> {
        let subject = ticket::check_subject(subject)?;
        let summary = self
            .hub
            .channels
            .get(channel)
            .filter(|s| by.is_none_or(|agent| s.visible_to(agent)))
            .ok_or(EngineError::UnknownChannel(channel))?;
        if by.is_some_and(|agent| !summary.members.contains(&agent)) {
            return Err(ChannelError::NotMember(channel).into());
        }
        let name = summary.meta.name.clone();
        let (hub, read_name) = (self.hub.clone(), name.clone());
        let (author, text, description) =
            match self.hub.read(move |s| read_excerpt(&hub, s, channel, &read_name, seq)).await? {
                Found::Existing(record) => return Ok((ticket_from(record), false)),
                Found::New { author, text, description } => (author, text, description),
            };
        let _writing = self.hub.tickets.writes.lock().await;
        if let Some(id) = self.hub.read(move |s| Ok(s.channel_ticket(channel, seq)?)).await? {
            return Ok((self.get_ticket(id).await?, false));
        }
        let ticket = Ticket {
            id: self.next_ticket_id()?,
            subject: subject.unwrap_or_else(|| ticket::subject_from_message(&name, &text)),
            requester_name: Some(author),
            requester_email: None,
            description,
            source: TicketSource::ChannelMessage { channel_id: channel, seq },
            created_by: by,
            created_at_ms: now_ms(),
            contact_id: None,
        };
        self.store_ticket(&ticket).await?;
        tracing::info!(target: "ticket", ticket = ticket.id, channel, seq, agent = ?by, "ticket created");
        Ok((ticket, true))
    }
}

/// On the blocking pool: the message's ticket if it has one, else the message (which must
/// exist and not be deleted), its author and the description.
fn read_excerpt(
    hub: &Arc<Hub>,
    storage: &Storage,
    channel: ChannelId,
    name: &str,
    seq: u64,
) -> Result<Found, EngineError> {
    if let Some(id) = storage.channel_ticket(channel, seq)? {
        let record = storage.ticket(id)?;
        return record.map(Found::Existing).ok_or(EngineError::UnknownTicket(id));
    }
    let no_message = || EngineError::InvalidChannel(format!("channel {channel} has no message {seq}"));
    let page =
        storage.channel_messages_after(channel, seq.saturating_sub(1), CHANNEL_CONTEXT_MESSAGES + 1)?;
    let Some((_, first)) = page.first().filter(|(s, _)| *s == seq) else { return Err(no_message()) };
    if first.deleted {
        return Err(EngineError::InvalidChannel(format!(
            "message {seq} of channel {channel} was deleted: there is nothing to make a ticket of"
        )));
    }
    let name_of = |agent: AgentId| transcript_name(hub, agent);
    let mut transcript = Transcript::new(ticket::DESCRIPTION_BYTES_MAX);
    transcript.push(first.sent_at_ms, "Switchboard", &format!("Raised from message {seq} in #{name}"));
    let shown: Vec<_> = page.iter().filter(|(_, m)| !m.deleted).collect();
    for (_, message) in &shown {
        if !transcript.push(message.sent_at_ms, &name_of(message.author), &message.text) {
            break;
        }
    }
    let whole = format!("the whole conversation is #{name} in Switchboard, from message {seq}");
    let description = transcript.finish_as(shown.len() as u64 + 1, &whole);
    Ok(Found::New { author: name_of(first.author), text: first.text.clone(), description })
}
