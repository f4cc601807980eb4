//! `/ticket [subject]` in a live chat: turns the chat into a helpdesk ticket (the visitor's
//! name and email, the whole transcript as its description). `/ticket <seq> [subject]` in a
//! channel: turns message `seq` (`42` or `#42`) and the replies after it into a ticket.
//! Asking again names the same ticket. Caller sees the ticket's number; in a chat, agents
//! see the session's `ticket_id`.

use super::{Command, Context, ContextKind, Invocation, Outcome, Running, BOTH};

pub(super) struct Ticket;

const CHANNEL_USAGE: &str = "<message number> [subject]";

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
    fn usage_in(&self, kind: ContextKind) -> &'static str {
        match kind {
            ContextKind::Session => self.usage(),
            ContextKind::Channel => CHANNEL_USAGE,
        }
    }
    fn description_in(&self, kind: ContextKind) -> &'static str {
        match kind {
            ContextKind::Session => self.description(),
            ContextKind::Channel => "Create a helpdesk ticket from a message of this channel and its replies",
        }
    }
    fn contexts(&self) -> &'static [ContextKind] {
        BOTH
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            let ((ticket, created), what) = match inv.context {
                Context::Session(id) => {
                    let subject = (!inv.args.is_empty()).then(|| inv.args.to_string());
                    (inv.engine.create_ticket(id, Some(inv.agent), subject).await?, "chat")
                }
                Context::Channel(id) => {
                    let Some((seq, subject)) = message_and_subject(inv.args) else {
                        return Ok(Outcome::caller(format!(
                            "Which message? Usage: /ticket {CHANNEL_USAGE} (the message's number, e.g. /ticket 42 Printer down)"
                        )));
                    };
                    (inv.engine.create_channel_ticket(id, seq, Some(inv.agent), subject).await?, "message")
                }
            };
            Ok(Outcome::caller(if created {
                format!("Ticket #{} created: {}", ticket.id, ticket.subject)
            } else {
                format!("This {what} already has ticket #{}: {}", ticket.id, ticket.subject)
            }))
        })
    }
}

/// `42 Printer down` / `#42` → (42, subject if any).
fn message_and_subject(args: &str) -> Option<(u64, Option<String>)> {
    let (first, rest) = args.trim().split_once(char::is_whitespace).unwrap_or((args.trim(), ""));
    let seq = first.strip_prefix('#').unwrap_or(first).parse().ok().filter(|s| *s > 0)?;
    let rest = rest.trim();
    Some((seq, (!rest.is_empty()).then(|| rest.to_string())))
}

#[cfg(test)]
mod tests {
    use super::message_and_subject;

    #[test]
    fn a_channel_ticket_names_its_message_first() {
        assert_eq!(message_and_subject("42 Printer down"), Some((42, Some("Printer down".into()))));
        assert_eq!(message_and_subject("#7"), Some((7, None)));
        assert_eq!(message_and_subject("  #7   spaced  out "), Some((7, Some("spaced  out".into()))));
        for bad in ["", "Printer down", "#", "0", "-3 x", "4x"] {
            assert_eq!(message_and_subject(bad), None, "{bad:?}");
        }
    }
}
