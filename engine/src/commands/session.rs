//! The live-chat commands: `/close` and `/transfer @agent|department [note]`. Caller sees a
//! confirmation; the visitor and agents see the session change itself.

use crate::routing::TransferTo;

use super::{agent_named, Command, Context, ContextKind, Invocation, Outcome, Running, SESSION};

pub(super) struct Close;
pub(super) struct Transfer;

impl Command for Close {
    fn name(&self) -> &'static str {
        "close"
    }
    fn usage(&self) -> &'static str {
        ""
    }
    fn description(&self) -> &'static str {
        "Close this chat"
    }
    fn contexts(&self) -> &'static [ContextKind] {
        SESSION
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            let Context::Session(id) = inv.context else {
                return Ok(Outcome::caller("/close works in a chat."));
            };
            let (reply, answer) = crate::answer::oneshot_reply_to();
            inv.engine.close(inv.agent, id, reply).await?;
            answer.await?;
            Ok(Outcome::caller("Chat closed."))
        })
    }
}

impl Command for Transfer {
    fn name(&self) -> &'static str {
        "transfer"
    }
    fn usage(&self) -> &'static str {
        "@agent | department [note]"
    }
    fn description(&self) -> &'static str {
        "Hand this chat to another agent or to a department"
    }
    fn contexts(&self) -> &'static [ContextKind] {
        SESSION
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            let Context::Session(id) = inv.context else {
                return Ok(Outcome::caller("/transfer works in a chat."));
            };
            // The target is the first word; the rest, if any, is the note for the receiver.
            let args = inv.args.trim();
            let (target, note) = match args.split_once(char::is_whitespace) {
                Some((target, note)) => (target, Some(note.trim().to_string())),
                None => (args, None),
            };
            if note.as_ref().is_some_and(|n| n.len() > switchboard_protocol::limits::TRANSFER_NOTE_BYTES_MAX)
            {
                return Ok(Outcome::caller(format!(
                    "A transfer note is at most {} bytes.",
                    switchboard_protocol::limits::TRANSFER_NOTE_BYTES_MAX
                )));
            }
            let to = if target.starts_with('@') {
                match agent_named(inv.engine, target) {
                    Some(agent) => TransferTo::Agent(agent),
                    None => return Ok(Outcome::caller(format!("No single agent is called {target:?}."))),
                }
            } else if target.is_empty() {
                return Ok(Outcome::caller("Usage: /transfer @agent | department [note]"));
            } else {
                match inv.engine.department_by_name(Some(target)) {
                    Ok(department) => TransferTo::Department(department),
                    Err(_) => return Ok(Outcome::caller(format!("No department is called {target:?}."))),
                }
            };
            let (reply, answer) = crate::answer::oneshot_reply_to();
            inv.engine.transfer(inv.agent, id, to, note, reply)?;
            answer.await?;
            Ok(Outcome::caller(format!(
                "Transfer offered to {target}; you keep the chat until it is accepted."
            )))
        })
    }
}
