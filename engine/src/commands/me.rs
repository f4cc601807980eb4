//! `/me <action>`: posts "_Ann is on it_" to the channel or chat. Posted.

use crate::channels::ChannelAnswer;
use crate::domain::types::Participant;

use super::{Command, Context, ContextKind, Invocation, Outcome, Running, BOTH};

pub(super) struct Me;

impl Command for Me {
    fn name(&self) -> &'static str {
        "me"
    }
    fn usage(&self) -> &'static str {
        "<action>"
    }
    fn description(&self) -> &'static str {
        "Post an action, in italics: /me is on it"
    }
    fn contexts(&self) -> &'static [ContextKind] {
        BOTH
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            if inv.args.is_empty() {
                return Ok(Outcome::caller("Usage: /me <action>"));
            }
            let name = inv.engine.agent_name(inv.agent).unwrap_or_default();
            let text = format!("_{name} {}_", inv.args);
            let client_msg_id = format!("me-{}-{}", inv.agent, crate::now_ms());
            let (reply, answer) = crate::answer::oneshot_reply_to();
            match inv.context {
                Context::Channel(id) => {
                    inv.engine.channel_post(inv.agent, id, client_msg_id, text.clone(), reply).await?;
                    match answer.await? {
                        crate::Answer::Channel(ChannelAnswer::Posted { .. }) => {}
                        other => return Err(crate::EngineError::Internal(format!("unexpected {other:?}"))),
                    }
                }
                Context::Session(id) => {
                    inv.engine
                        .post(Participant::Agent(inv.agent), id, client_msg_id, text.clone(), reply)
                        .await?;
                    answer.await?;
                }
            }
            Ok(Outcome::posted(text))
        })
    }
}
