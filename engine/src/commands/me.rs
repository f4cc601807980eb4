//! `/me <action>`: posts "_Ann is on it_" to the channel or chat. Posted.

use crate::channels::ChannelAnswer;
use crate::domain::types::Participant;

use super::{Command, Context, ContextKind, Invocation, Outcome, Running, BOTH};

pub(super) struct Me;

/// Tells apart the client message ids of `/me` posts made in one millisecond.
static ME_POSTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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
            // Unique per server run and agent: each /me is a new message.
            let n = ME_POSTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let client_msg_id = format!("me-{}-{}-{n}", inv.agent, crate::now_ms());
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
