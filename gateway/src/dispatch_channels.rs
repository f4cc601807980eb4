//! The team-channel requests: checked here (role, lengths, limits), carried out by the
//! engine's channel actors, answered into the connection's queue or, for listings, here.

use switchboard_engine::channels::facade::NewChannel;
use switchboard_engine::channels::History;
use switchboard_engine::commands::{self, Context};
use switchboard_protocol::{
    limits, ChannelMemberInfo, CommandInfo, CommandVisibility, ErrorCode, ReqId, Request, ServerFrame,
};

use crate::convert;
use crate::dispatch::{check_client_msg_id, Conn, Step};
use crate::errors::Failure;

/// Handle one channel request (the caller routes only channel requests here).
pub(crate) async fn handle(conn: &mut Conn, re: ReqId, request: Request) -> Result<Step, Failure> {
    let agent = conn.role.agent()?;
    let engine = conn.engine.clone();
    match request {
        Request::CreateChannel { name, description, private, folder_id, invite } => {
            let new = NewChannel {
                name,
                description: description.unwrap_or_default(),
                folder_id,
                private,
                invited: invite,
            };
            Ok(Step::Later(Box::pin(async move {
                match engine.create_channel(agent, new).await {
                    Ok(view) => ServerFrame::Channel { re, channel: convert::channel_info(&view) },
                    Err(e) => Failure::from(e).frame(Some(re)),
                }
            })))
        }
        Request::ListChannels {} => Ok(Step::Later(Box::pin(async move {
            match engine.list_channels(agent).await {
                Ok(views) => ServerFrame::Channels {
                    re,
                    folders: engine.folders().iter().map(convert::folder_info).collect(),
                    channels: views.iter().map(convert::channel_info).collect(),
                },
                Err(e) => Failure::from(e).frame(Some(re)),
            }
        }))),
        Request::ChannelMembers { channel_id } => {
            let members = engine.channel_members(agent, channel_id)?;
            let members = members
                .into_iter()
                .map(|(agent_id, display_name)| ChannelMemberInfo { agent_id, display_name })
                .collect();
            Ok(Step::Reply(ServerFrame::ChannelMemberList { re, channel_id, members }))
        }
        Request::JoinChannel { channel_id } => {
            engine.channel_join(agent, channel_id, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::InviteToChannel { channel_id, agent_id } => {
            engine.channel_invite(agent, channel_id, agent_id, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::LeaveChannel { channel_id } => {
            engine.channel_leave(agent, channel_id, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::SendChannelMessage { channel_id, client_msg_id, text } => {
            check_client_msg_id(&client_msg_id)?;
            engine.channel_post(agent, channel_id, client_msg_id, text, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::ChannelHistory { channel_id, after_seq, before_seq, limit } => {
            let limit = limit.unwrap_or(limits::CHANNEL_HISTORY_PAGE_MAX);
            if limit == 0 || limit > limits::CHANNEL_HISTORY_PAGE_MAX {
                let max = limits::CHANNEL_HISTORY_PAGE_MAX;
                return Err(Failure::new(ErrorCode::InvalidRequest, format!("`limit` must be 1 to {max}")));
            }
            let page = match (after_seq, before_seq) {
                (Some(after), None) => History::After(after),
                (None, Some(before)) => History::Before(before),
                (None, None) => History::Before(u64::MAX),
                (Some(_), Some(_)) => {
                    let message = "give `after_seq` or `before_seq`, not both";
                    return Err(Failure::new(ErrorCode::InvalidRequest, message));
                }
            };
            engine.channel_history(agent, channel_id, page, limit as usize, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::MarkChannelRead { channel_id, seq } => {
            engine.channel_mark_read(agent, channel_id, seq, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::EditChannelMessage { channel_id, seq, text } => {
            engine.channel_edit(agent, channel_id, seq, text, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::DeleteChannelMessage { channel_id, seq } => {
            engine.channel_delete(agent, channel_id, seq, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::RemoveFromChannel { channel_id, agent_id } => {
            engine.channel_remove(agent, channel_id, agent_id, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::ArchiveChannel { channel_id, archived } => {
            engine.channel_set_archived(agent, channel_id, archived, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::SetChannelTopic { channel_id, topic } => {
            engine.channel_set_topic(agent, channel_id, topic, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::ListCommands { channel_id, session_id, prefix } => {
            let context = command_context(channel_id, session_id)?;
            let (kind, prefix) = (context.kind(), prefix.unwrap_or_default());
            Ok(Step::Later(Box::pin(async move {
                match engine.list_commands(agent, context, &prefix).await {
                    Ok(found) => {
                        let commands = found
                            .into_iter()
                            .map(|c| CommandInfo {
                                name: c.name().to_string(),
                                usage: commands::usage(c, kind),
                                description: c.description_in(kind).to_string(),
                            })
                            .collect();
                        ServerFrame::Commands { re, commands }
                    }
                    Err(e) => Failure::from(e).frame(Some(re)),
                }
            })))
        }
        Request::RunCommand { channel_id, session_id, text } => {
            let context = command_context(channel_id, session_id)?;
            Ok(Step::Later(Box::pin(async move {
                match engine.run_command(agent, context, &text).await {
                    Ok(outcome) => {
                        let visibility = match outcome.visibility {
                            commands::Visibility::Caller => CommandVisibility::Caller,
                            commands::Visibility::Posted => CommandVisibility::Posted,
                        };
                        ServerFrame::CommandResult { re, visibility, text: outcome.text }
                    }
                    Err(e) => Failure::from(e).frame(Some(re)),
                }
            })))
        }
        other => Err(Failure::new(ErrorCode::Internal, format!("not a channel request: {other:?}"))),
    }
}

/// Where a command is typed: exactly one of a channel and a session.
fn command_context(channel_id: Option<u64>, session_id: Option<u64>) -> Result<Context, Failure> {
    match (channel_id, session_id) {
        (Some(channel), None) => Ok(Context::Channel(channel)),
        (None, Some(session)) => Ok(Context::Session(session)),
        _ => {
            Err(Failure::new(ErrorCode::InvalidRequest, "give exactly one of `channel_id` and `session_id`"))
        }
    }
}
