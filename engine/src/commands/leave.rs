//! `/leave`: leaves the channel. Caller sees a confirmation.

use super::{Command, Context, ContextKind, Invocation, Outcome, Running, CHANNEL};

pub(super) struct Leave;

impl Command for Leave {
    fn name(&self) -> &'static str {
        "leave"
    }
    fn usage(&self) -> &'static str {
        ""
    }
    fn description(&self) -> &'static str {
        "Leave this channel"
    }
    fn contexts(&self) -> &'static [ContextKind] {
        CHANNEL
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            let Context::Channel(id) = inv.context else {
                return Ok(Outcome::caller("/leave works in a channel."));
            };
            let (reply, answer) = crate::answer::oneshot_reply_to();
            inv.engine.channel_leave(inv.agent, id, reply).await?;
            answer.await?;
            Ok(Outcome::caller("You left the channel."))
        })
    }
}
