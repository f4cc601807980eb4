//! `/ticket [subject]`: turns the live chat into a helpdesk ticket (the visitor's name and
//! email, the whole transcript as its description); asking again names the same ticket.
//! Caller sees the ticket's number; agents see the session's `ticket_id`.

use super::{Command, Context, ContextKind, Invocation, Outcome, Running, SESSION};

pub(super) struct Ticket;

impl Command for Ticket {
    fn name(&self) -> &'static str {
        "ticket"
    }
    fn usage(&self) -> &'static str {
        "[subject]"
    }
    fn description(&self) -> &'static str {
        "Create a helpdesk ticket from this chat, with its transcript"
    }
    fn contexts(&self) -> &'static [ContextKind] {
        SESSION
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            let Context::Session(id) = inv.context else {
                return Ok(Outcome::caller("/ticket works in a chat."));
            };
            let subject = (!inv.args.is_empty()).then(|| inv.args.to_string());
            let (ticket, created) = inv.engine.create_ticket(id, Some(inv.agent), subject).await?;
            Ok(Outcome::caller(if created {
                format!("Ticket #{} created: {}", ticket.id, ticket.subject)
            } else {
                format!("This chat already has ticket #{}: {}", ticket.id, ticket.subject)
            }))
        })
    }
}
