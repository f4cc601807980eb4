//! `/invite @agent`: adds an agent to the channel. Caller sees a confirmation; members see
//! `channel_membership`.

use super::{agent_named, Command, Context, ContextKind, Invocation, Outcome, Running, CHANNEL};

pub(super) struct Invite;

impl Command for Invite {
    fn name(&self) -> &'static str {
        "invite"
    }
    fn usage(&self) -> &'static str {
        "@agent"
    }
    fn description(&self) -> &'static str {
        "Add an agent to this channel"
    }
    fn contexts(&self) -> &'static [ContextKind] {
        CHANNEL
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            let Context::Channel(id) = inv.context else {
                return Ok(Outcome::caller("/invite works in a channel."));
            };
            let Some(agent) = agent_named(inv.engine, inv.args) else {
                return Ok(Outcome::caller(format!(
                    "No single agent is called {:?}. Usage: /invite @agent",
                    inv.args
                )));
            };
            let (reply, answer) = crate::answer::oneshot_reply_to();
            inv.engine.channel_invite(inv.agent, id, agent, reply).await?;
            answer.await?;
            let name = inv.engine.agent_name(agent).unwrap_or_default();
            Ok(Outcome::caller(format!("{name} is a member.")))
        })
    }
}
