//! One function per request type: check the connection's role and the fields, call the
//! engine, and produce the reply. Requests answered by a session actor are
//! [`Step::Awaiting`]: the actor answers into the connection's queue later (see
//! [`answer_frame`]), so a connection can have many in flight; they are handed to the actor
//! before the next frame is read, which keeps one connection's requests in order.

use std::future::Future;
use std::pin::Pin;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use switchboard_engine::hub::AgentProfile;
use switchboard_engine::{now_ms, Answer, Engine, EngineError, Outbox, ReplyTo, TransferTo, Visitor};
use switchboard_protocol::limits;
use switchboard_protocol::{ClientFrame, ErrorCode, ReqId, Request, ServerFrame, SessionId};

use crate::audit::{self, Credential};
use crate::errors::Failure;
use crate::rate::TokenBucket;
use crate::role::Role;
use crate::{convert, GatewayConfig};

/// A reply that is still being produced.
pub type Later = Pin<Box<dyn Future<Output = ServerFrame> + Send>>;

/// What handling a request produced.
pub enum Step {
    /// The reply, ready now.
    Reply(ServerFrame),
    /// The reply, once this future finishes (storage reads).
    Later(Later),
    /// A session actor answers into the connection's queue (e.g. after the fsync).
    Awaiting,
    /// Cluster mode: relayed to the node owning the session, which answers through the
    /// relay (`relay`); nothing to wait for here.
    Relayed,
}

/// One connection's protocol state.
pub struct Conn {
    pub engine: Engine,
    pub outbox: Outbox,
    pub role: Role,
    /// Sessions this connection is subscribed to (bounded by `connection_sessions_max`).
    pub sessions: HashSet<SessionId>,
    /// The visitor's rate limit on messages and typing.
    pub bucket: TokenBucket,
    pub config: Arc<GatewayConfig>,
    /// The client's address, for the authentication-failure log.
    pub peer: SocketAddr,
    /// The console session cookie from the WebSocket upgrade, for `auth_console`.
    pub console_cookie: Option<String>,
    /// Messages this connection asked to leave (`leave_message`), to bound them.
    pub messages_left: u32,
    /// The client's address (see [`crate::connection::Link::client`]).
    pub client: std::net::IpAddr,
    /// How the client encodes its frames (and the relay's legs encode theirs for it).
    pub encoding: switchboard_protocol::codec::Encoding,
}

impl Conn {
    /// A new anonymous connection.
    pub fn new(engine: Engine, outbox: Outbox, config: Arc<GatewayConfig>, peer: SocketAddr) -> Conn {
        let bucket = TokenBucket::new(config.visitor_burst, config.visitor_rate_per_s, now_ms());
        Conn {
            engine,
            outbox,
            role: Role::Anonymous,
            sessions: HashSet::new(),
            bucket,
            config,
            peer,
            console_cookie: None,
            messages_left: 0,
            client: peer.ip(),
            encoding: switchboard_protocol::codec::Encoding::MsgPack,
        }
    }

    /// Cluster mode: end this connection's legs on other nodes (it is closing).
    pub async fn leave_legs(&self) {
        if let Some(relay) = &self.config.relay {
            relay.leave(self.outbox.id()).await;
        }
    }

    /// Where the answer to request `re` goes.
    pub(crate) fn reply_to(&self, re: ReqId) -> ReplyTo {
        ReplyTo { outbox: self.outbox.clone(), req: re }
    }

    /// Refuse a new subscription beyond the per-connection bound.
    fn check_session_room(&self, session: SessionId) -> Result<(), Failure> {
        let sessions = &self.sessions;
        if sessions.contains(&session) || sessions.len() < self.config.connection_sessions_max {
            return Ok(());
        }
        let message = format!("this connection already follows {} sessions; detach some", sessions.len());
        Err(Failure::new(ErrorCode::LimitReached, message))
    }

    /// Visitors may send only so many messages and typing indicators per second.
    fn check_rate(&mut self) -> Result<(), Failure> {
        if matches!(self.role, Role::Visitor(_)) && !self.bucket.take(now_ms()) {
            let message =
                format!("at most {} messages per second; retry shortly", self.config.visitor_rate_per_s);
            return Err(Failure::new(ErrorCode::RateLimited, message));
        }
        Ok(())
    }
}

/// Handle one decoded request.
pub async fn dispatch(conn: &mut Conn, frame: ClientFrame) -> Step {
    let re = frame.req;
    if conn.config.relay.is_some() {
        match relayed(conn, &frame).await {
            Ok(true) => return Step::Relayed,
            Ok(false) => {}
            Err(failure) => return Step::Reply(failure.frame(Some(re))),
        }
    }
    match handle(conn, re, frame.request).await {
        Ok(step) => step,
        Err(failure) => Step::Reply(failure.frame(Some(re))),
    }
}

async fn handle(conn: &mut Conn, re: ReqId, request: Request) -> Result<Step, Failure> {
    let engine = conn.engine.clone();
    match request {
        Request::Auth { token } => auth(conn, re, &token),
        Request::AuthConsole {} => auth_console(conn, re).await,
        request @ (Request::CreateChannel { .. }
        | Request::ListChannels {}
        | Request::JoinChannel { .. }
        | Request::InviteToChannel { .. }
        | Request::LeaveChannel { .. }
        | Request::ChannelMembers { .. }
        | Request::SendChannelMessage { .. }
        | Request::ChannelHistory { .. }
        | Request::MarkChannelRead { .. }
        | Request::EditChannelMessage { .. }
        | Request::DeleteChannelMessage { .. }
        | Request::RemoveFromChannel { .. }
        | Request::ArchiveChannel { .. }
        | Request::SetChannelTopic { .. }
        | Request::ListCommands { .. }
        | Request::RunCommand { .. }) => crate::dispatch_channels::handle(conn, re, request).await,
        request @ (Request::DepartmentStatus { .. } | Request::LeaveMessage { .. }) => {
            crate::dispatch_offline::handle(conn, re, request)
        }
        Request::StartChat { name, email, page_url, first_message, client_msg_id, department } => {
            if conn.role != Role::Anonymous {
                return Err(Failure::new(
                    ErrorCode::WrongRole,
                    "this connection already has a role; open a new one",
                ));
            }
            check_len("name", name.as_deref(), limits::VISITOR_NAME_BYTES_MAX)?;
            check_len("email", email.as_deref(), limits::VISITOR_EMAIL_BYTES_MAX)?;
            check_len("page_url", page_url.as_deref(), limits::PAGE_URL_BYTES_MAX)?;
            check_len("department", department.as_deref(), limits::DEPARTMENT_NAME_BYTES_MAX)?;
            let department = engine.department_by_name(department.as_deref())?;
            let first = match (first_message, client_msg_id) {
                (Some(text), Some(id)) => {
                    check_client_msg_id(&id)?;
                    Some((id, text))
                }
                (Some(_), None) => return Err(invalid("`first_message` needs a `client_msg_id`")),
                (None, _) => None,
            };
            let started = engine
                .start_chat(Visitor { name, email, page_url }, department, first, conn.outbox.clone())
                .await?;
            conn.role = Role::Visitor(started.session.meta.id);
            conn.sessions.insert(started.session.meta.id);
            Ok(Step::Reply(ServerFrame::ChatStarted {
                re,
                session_token: started.session_token,
                session: convert::session_info(&engine, &started.session, None),
                first_message: started.first_message.as_ref().map(convert::message),
            }))
        }
        Request::ResumeChat { session_token, after_seq } => {
            check_len("session_token", Some(&session_token), limits::TOKEN_BYTES_MAX)?;
            let session = engine.authenticate_visitor(&session_token).await.inspect_err(|e| {
                if matches!(e, EngineError::BadToken) {
                    audit::auth_failed(conn.peer, Credential::Session, "unknown session token");
                }
            })?;
            conn.role.may_become(Role::Visitor(session))?;
            conn.role = Role::Visitor(session);
            attach(conn, re, session, after_seq).await
        }
        Request::ListQueue {} => {
            let agent = conn.role.agent()?;
            let listing = engine.queue_listing(agent);
            let infos = |list: Vec<(switchboard_engine::SessionSnapshot, u64)>| {
                list.iter().map(|(s, unread)| convert::session_info(&engine, s, Some(*unread))).collect()
            };
            Ok(Step::Reply(ServerFrame::Queue {
                re,
                waiting_total: listing.waiting_total as u64,
                active_total: listing.active_total as u64,
                waiting: infos(listing.waiting),
                active: infos(listing.active),
                closed: infos(listing.closed),
            }))
        }
        Request::Accept { session_id } => {
            let agent = conn.role.agent()?;
            conn.check_session_room(session_id)?;
            engine.accept(agent, session_id, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::SetPresence { presence } => {
            let agent = conn.role.agent()?;
            engine.set_presence(agent, convert::presence(presence))?;
            Ok(Step::Reply(ServerFrame::Ok { re }))
        }
        Request::AcceptOffer { session_id } => {
            let agent = conn.role.agent()?;
            conn.check_session_room(session_id)?;
            engine.accept_offer(agent, session_id, conn.reply_to(re))?;
            Ok(Step::Awaiting)
        }
        Request::DeclineOffer { session_id } => {
            let agent = conn.role.agent()?;
            engine.decline_offer(agent, session_id, conn.reply_to(re))?;
            Ok(Step::Awaiting)
        }
        Request::Transfer { session_id, to_agent_id, to_department, note } => {
            let agent = conn.role.agent()?;
            check_len("note", note.as_deref(), limits::TRANSFER_NOTE_BYTES_MAX)?;
            check_len("to_department", to_department.as_deref(), limits::DEPARTMENT_NAME_BYTES_MAX)?;
            let to = match (to_agent_id, to_department) {
                (Some(agent), None) => TransferTo::Agent(agent),
                (None, Some(name)) => TransferTo::Department(engine.department_by_name(Some(&name))?),
                _ => {
                    return Err(invalid("a transfer names exactly one of `to_agent_id` and `to_department`"))
                }
            };
            engine.transfer(agent, session_id, to, note, conn.reply_to(re))?;
            Ok(Step::Awaiting)
        }
        Request::SetPriority { session_id, priority } => {
            conn.role.agent()?;
            check_priority(priority)?;
            engine.set_priority(session_id, priority, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::AcceptTransfer { session_id } => {
            let agent = conn.role.agent()?;
            conn.check_session_room(session_id)?;
            engine.answer_transfer(agent, session_id, true, conn.reply_to(re))?;
            Ok(Step::Awaiting)
        }
        Request::DeclineTransfer { session_id } => {
            let agent = conn.role.agent()?;
            engine.answer_transfer(agent, session_id, false, conn.reply_to(re))?;
            Ok(Step::Awaiting)
        }
        Request::SendMessage { session_id, client_msg_id, text } => {
            check_client_msg_id(&client_msg_id)?;
            let who = conn.role.participant(session_id)?;
            conn.check_rate()?;
            engine.post(who, session_id, client_msg_id, text, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::Typing { session_id, typing } => {
            let who = conn.role.participant(session_id)?;
            conn.check_rate()?;
            engine.typing(who, session_id, typing, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::Close { session_id } => {
            let agent = conn.role.agent()?;
            engine.close(agent, session_id, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::Attach { session_id, after_seq } => {
            conn.role.agent()?;
            attach(conn, re, session_id, after_seq).await
        }
        Request::Detach { session_id } => {
            conn.role.agent()?;
            conn.sessions.remove(&session_id);
            engine.detach(session_id, conn.reply_to(re)).await?;
            Ok(Step::Awaiting)
        }
        Request::MarkRead { session_id, seq } => {
            let agent = conn.role.agent()?;
            engine.mark_read(agent, session_id, seq).await?;
            Ok(Step::Reply(ServerFrame::Ok { re }))
        }
        Request::History { session_id, after_seq, limit } => {
            conn.role.participant(session_id)?;
            let limit = limit.unwrap_or(50);
            if limit == 0 || limit > limits::HISTORY_PAGE_MAX {
                return Err(invalid(format!("`limit` must be 1 to {}", limits::HISTORY_PAGE_MAX)));
            }
            Ok(Step::Later(Box::pin(async move {
                match engine.history(session_id, after_seq, limit as usize).await {
                    Ok((messages, has_more)) => ServerFrame::History {
                        re,
                        session_id,
                        messages: messages.iter().map(convert::message).collect(),
                        has_more,
                    },
                    Err(e) => Failure::from(e).frame(Some(re)),
                }
            })))
        }
        Request::RateChat { session_id, score, comment } => {
            if conn.role.participant(session_id)? != switchboard_engine::Participant::Visitor {
                return Err(Failure::new(ErrorCode::Forbidden, "only the chat's visitor rates it"));
            }
            Ok(Step::Later(Box::pin(async move {
                match engine.rate_chat(session_id, score, comment).await {
                    Ok(_) => ServerFrame::Ok { re },
                    Err(e) => Failure::from(e).frame(Some(re)),
                }
            })))
        }
        Request::CreateTicket { session_id, channel_id, seq, subject } => {
            let agent = conn.role.agent()?;
            let from_session = match (session_id, channel_id, seq) {
                (Some(session), None, None) => Ok(session),
                (None, Some(channel), Some(seq)) => Err((channel, seq)),
                _ => {
                    return Err(Failure::new(
                        ErrorCode::InvalidRequest,
                        "`create_ticket` takes either `session_id`, or `channel_id` and `seq`".to_string(),
                    ))
                }
            };
            Ok(Step::Later(Box::pin(async move {
                let created = match from_session {
                    Ok(session) => engine.create_ticket(session, Some(agent), subject).await,
                    Err((channel, seq)) => {
                        engine.create_channel_ticket(channel, seq, Some(agent), subject).await
                    }
                };
                match created {
                    Ok((ticket, _)) => ServerFrame::Ticket { re, ticket: convert::ticket_info(&ticket) },
                    Err(e) => Failure::from(e).frame(Some(re)),
                }
            })))
        }
    }
}

fn auth(conn: &mut Conn, re: ReqId, token: &str) -> Result<Step, Failure> {
    check_len("token", Some(token), limits::TOKEN_BYTES_MAX)?;
    let agent = conn.engine.authenticate_agent(token).inspect_err(|e| {
        if matches!(e, EngineError::BadToken) {
            audit::auth_failed(conn.peer, Credential::Agent, "unknown agent token");
        }
    })?;
    become_agent(conn, re, agent)
}

/// `auth_console`: the agent of the console session cookie sent with the upgrade.
async fn auth_console(conn: &mut Conn, re: ReqId) -> Result<Step, Failure> {
    let Some(cookie) = conn.console_cookie.clone() else {
        return Err(Failure::new(
            ErrorCode::NotSignedIn,
            "no console session cookie came with this connection: sign in at /console first",
        ));
    };
    let signed_in = conn.engine.console_session(&cookie).await?;
    if signed_in.agent.password_temporary {
        return Err(EngineError::PasswordChangeRequired.into());
    }
    conn.role.may_become(Role::Agent(signed_in.agent.id))?;
    if conn.role == Role::Anonymous {
        conn.engine.console_connected(signed_in.session, conn.outbox.clone());
    }
    become_agent(conn, re, signed_in.agent)
}

fn become_agent(conn: &mut Conn, re: ReqId, agent: AgentProfile) -> Result<Step, Failure> {
    conn.role.may_become(Role::Agent(agent.id))?;
    if conn.role == Role::Anonymous {
        conn.engine.agent_online(agent.id, conn.outbox.clone());
    }
    conn.role = Role::Agent(agent.id);
    Ok(Step::Reply(ServerFrame::Authed {
        re,
        agent: switchboard_protocol::AgentInfo {
            agent_id: agent.id,
            display_name: agent.display_name,
            max_concurrent_chats: agent.max_concurrent_chats,
        },
    }))
}

async fn attach(conn: &mut Conn, re: ReqId, session: SessionId, after_seq: u64) -> Result<Step, Failure> {
    let who = conn.role.participant(session)?;
    conn.check_session_room(session)?;
    conn.engine.attach(who, session, after_seq, conn.reply_to(re)).await?;
    Ok(Step::Awaiting)
}

/// The reply frame for a session actor's answer to request `re`; notes the subscriptions
/// it made.
pub fn answer_frame(conn: &mut Conn, re: ReqId, answer: Result<Answer, EngineError>) -> ServerFrame {
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => return Failure::from(e).frame(Some(re)),
    };
    match answer {
        Answer::Accepted(s) => {
            conn.sessions.insert(s.meta.id);
            ServerFrame::Accepted { re, session: convert::session_info(&conn.engine, &s, None) }
        }
        Answer::Closed(s) => {
            ServerFrame::Closed { re, session: convert::session_info(&conn.engine, &s, None) }
        }
        Answer::Posted(p) => ServerFrame::MessageAck {
            re,
            session_id: p.session_id,
            seq: p.seq,
            client_msg_id: p.client_msg_id,
            sent_at_ms: p.sent_at_ms,
            duplicate: p.duplicate,
        },
        Answer::Attached(a) => {
            if !a.has_more {
                conn.sessions.insert(a.session.meta.id);
            }
            ServerFrame::Attached {
                re,
                session: convert::session_info(&conn.engine, &a.session, None),
                messages: a.messages.iter().map(convert::message).collect(),
                has_more: a.has_more,
            }
        }
        Answer::Done => ServerFrame::Ok { re },
        Answer::Channel(answer) => convert::channel_answer(re, answer),
    }
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(ErrorCode::InvalidRequest, message)
}

pub(crate) fn check_len(field: &str, value: Option<&str>, max: usize) -> Result<(), Failure> {
    match value {
        Some(v) if v.len() > max => Err(invalid(format!("`{field}` is longer than {max} bytes"))),
        _ => Ok(()),
    }
}

/// A queue priority within ±`PRIORITY_MAX`.
pub(crate) fn check_priority(priority: i64) -> Result<(), Failure> {
    if priority.abs() > limits::PRIORITY_MAX {
        return Err(invalid(format!("`priority` must be within ±{}", limits::PRIORITY_MAX)));
    }
    Ok(())
}

pub(crate) fn check_client_msg_id(id: &str) -> Result<(), Failure> {
    if id.is_empty() || id.len() > limits::CLIENT_MSG_ID_BYTES_MAX {
        return Err(invalid(format!(
            "`client_msg_id` must be 1 to {} bytes",
            limits::CLIENT_MSG_ID_BYTES_MAX
        )));
    }
    Ok(())
}

/// The session (or channel) a request acts on, for the ones its owner must run (cluster
/// mode). Reads (history) and records of their own (tickets, ratings) run anywhere.
fn owned_target(request: &Request) -> Option<SessionId> {
    match request {
        Request::SendMessage { session_id, .. }
        | Request::Typing { session_id, .. }
        | Request::Accept { session_id }
        | Request::Close { session_id }
        | Request::Attach { session_id, .. }
        | Request::Detach { session_id }
        | Request::MarkRead { session_id, .. }
        | Request::Transfer { session_id, .. }
        | Request::AcceptTransfer { session_id }
        | Request::DeclineTransfer { session_id }
        | Request::SetPriority { session_id, .. }
        | Request::AcceptOffer { session_id }
        | Request::DeclineOffer { session_id } => Some(*session_id),
        // A channel's id maps to its shard the same way. Its reads too: a channel's actor
        // serves them from the state it holds, which only the owner keeps current.
        Request::ChannelHistory { channel_id, .. }
        | Request::ChannelMembers { channel_id }
        | Request::JoinChannel { channel_id }
        | Request::InviteToChannel { channel_id, .. }
        | Request::LeaveChannel { channel_id }
        | Request::SendChannelMessage { channel_id, .. }
        | Request::MarkChannelRead { channel_id, .. }
        | Request::EditChannelMessage { channel_id, .. }
        | Request::DeleteChannelMessage { channel_id, .. }
        | Request::RemoveFromChannel { channel_id, .. }
        | Request::ArchiveChannel { channel_id, .. }
        | Request::SetChannelTopic { channel_id, .. } => Some(*channel_id),
        Request::ResumeChat { session_token, .. } => {
            session_token.split_once('.').and_then(|(id, _)| id.parse().ok())
        }
        _ => None,
    }
}

/// Cluster mode: relay `frame` to the node owning its session, if that is another node.
/// A visitor resuming is authenticated here first, so this connection has its role.
async fn relayed(conn: &mut Conn, frame: &ClientFrame) -> Result<bool, Failure> {
    let Some(relay) = conn.config.relay.clone() else { return Ok(false) };
    let Some(session) = owned_target(&frame.request) else { return Ok(false) };
    let Some(node) = relay.owner_elsewhere(session) else { return Ok(false) };
    if let Request::ResumeChat { session_token, .. } = &frame.request {
        check_len("session_token", Some(session_token), limits::TOKEN_BYTES_MAX)?;
        let session = conn.engine.authenticate_visitor(session_token).await.inspect_err(|e| {
            if matches!(e, EngineError::BadToken) {
                audit::auth_failed(conn.peer, Credential::Session, "unknown session token");
            }
        })?;
        conn.role.may_become(Role::Visitor(session))?;
        conn.role = Role::Visitor(session);
    } else if conn.role == Role::Anonymous {
        return Ok(false);
    }
    let bytes = bytes::Bytes::from(switchboard_protocol::codec::encode_client(frame, conn.encoding));
    relay.forward(conn.outbox.id(), &conn.outbox, conn.role, conn.encoding, &node, bytes).await;
    Ok(true)
}
