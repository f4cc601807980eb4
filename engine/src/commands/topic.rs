//! `/topic <text>`: sets the channel's topic (members see `channel_updated`). Caller sees a
//! confirmation.

use super::{Command, Context, ContextKind, Invocation, Outcome, Running, CHANNEL};

pub(super) struct Topic;

impl Command for Topic {
    fn name(&self) -> &'static str {
        "topic"
    }
    fn usage(&self) -> &'static str {
        "<text>"
    }
    fn description(&self) -> &'static str {
        "Set the channel's topic"
    }
    fn contexts(&self) -> &'static [ContextKind] {
        CHANNEL
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            let Context::Channel(id) = inv.context else {
                return Ok(Outcome::caller("/topic works in a channel."));
            };
            let (reply, answer) = crate::answer::oneshot_reply_to();
            inv.engine.channel_set_topic(inv.agent, id, inv.args.to_string(), reply).await?;
            answer.await?;
            Ok(Outcome::caller(match inv.args {
                "" => "Topic cleared.".to_string(),
                topic => format!("Topic set: {topic}"),
            }))
        })
    }
}
