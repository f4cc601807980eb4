//! When nobody can chat: whether a department takes chats now (inside its business hours,
//! with an agent connected: [`Engine::department_status`]) and the message a visitor leaves
//! instead, which becomes a helpdesk ticket like any other ([`Engine::leave_message`]: the
//! same durable write, id sequence and webhook delivery as a chat's ticket).
//!
//! The server does not refuse a chat started outside the hours: an agent working late may
//! still take it. The widget asks first and offers the message form instead.

use crate::domain::contact::is_email;
use crate::domain::ticket::{self, Ticket, TicketId, TicketSource};
use crate::{now_ms, DepartmentId, Engine, EngineError, Visitor};

/// Whether a department takes chats now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentStatus {
    pub name: String,
    /// Inside its business hours (always, when it has none).
    pub open: bool,
    /// At least one of its enabled agents is connected.
    pub agents_online: bool,
    /// When it opens next, while closed by its hours.
    pub next_open_ms: Option<u64>,
    /// The zone of its hours, when it has hours.
    pub time_zone: Option<String>,
}

/// What a visitor leaves: who to answer, by email, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftMessage {
    pub name: String,
    pub email: String,
    pub text: String,
    pub page_url: Option<String>,
}

impl LeftMessage {
    /// The message trimmed, or why it is refused: the name must not be blank, the email
    /// must be one, the text must hold something (the gateway bounds their lengths).
    pub fn checked(self) -> Result<LeftMessage, EngineError> {
        let bad = |why: &str| EngineError::InvalidLeftMessage(why.to_string());
        let name = self.name.trim().to_string();
        if name.is_empty() {
            return Err(bad("`name` is required: the helpdesk answers by name"));
        }
        let email = self.email.trim().to_string();
        if !is_email(&email) {
            return Err(bad("`email` is not an email address: the answer goes there"));
        }
        let text = self.text.trim().to_string();
        if text.is_empty() {
            return Err(bad("`text` is empty: write what the message is about"));
        }
        Ok(LeftMessage { name, email, text, page_url: self.page_url })
    }
}

impl Engine {
    /// Department `id`'s status at this moment.
    pub fn department_status(&self, id: DepartmentId) -> Result<DepartmentStatus, EngineError> {
        let department = self.department(id).ok_or_else(|| EngineError::UnknownDepartment(id.to_string()))?;
        let now = now_ms();
        let agents_online = department.agents.iter().any(|agent| {
            self.hub.agent_reachable(*agent) && self.hub.directory.get(agent).is_some_and(|a| !a.disabled)
        });
        let hours = department.hours.as_ref();
        Ok(DepartmentStatus {
            name: department.name.clone(),
            open: hours.is_none_or(|h| h.is_open(now)),
            agents_online,
            next_open_ms: hours.and_then(|h| h.next_open_ms(now)),
            time_zone: hours.map(|h| h.time_zone.clone()),
        })
    }

    /// Make a ticket of a message left for department `id`: the visitor as requester (and
    /// the contact with that email, if any), the message as description. Durable, with its
    /// webhook delivery queued, before it returns. Refused as [`LeftMessage::checked`] says.
    pub async fn leave_message(
        &self,
        id: DepartmentId,
        message: LeftMessage,
    ) -> Result<TicketId, EngineError> {
        let department = self.department(id).ok_or_else(|| EngineError::UnknownDepartment(id.to_string()))?;
        let LeftMessage { name, email, text, page_url } = message.checked()?;
        let visitor = Visitor { name: Some(name.clone()), email: Some(email.clone()), page_url: None };
        let contact_id = self.contact_of(&visitor).await?;
        let now = now_ms();
        let mut description = text;
        if let Some(url) = page_url.filter(|u| !u.trim().is_empty()) {
            description.push_str(&format!("\n\n(left on {url})"));
        }
        let ticket = Ticket {
            id: 0,
            subject: ticket::left_message_subject(&name, now),
            requester_name: Some(name),
            requester_email: Some(email),
            description,
            source: TicketSource::LeftMessage { department_id: department.id },
            created_by: None,
            created_at_ms: now,
            contact_id,
        };
        let _writing = self.hub.tickets.writes.lock().await;
        let ticket = Ticket { id: self.next_ticket_id()?, ..ticket };
        self.store_ticket(&ticket).await?;
        metrics::counter!("switchboard_left_messages_total").increment(1);
        tracing::info!(target: "ticket", ticket = ticket.id, department = department.id, "message left");
        Ok(ticket.id)
    }
}
