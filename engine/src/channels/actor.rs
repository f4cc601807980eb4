//! One team channel's actor: a thin driver around [`Channel`] over the conversation
//! mechanism sessions share. It receives [`ChannelCommand`]s, asks the channel's rules,
//! submits durable writes ([`DurableWrites`]), and — strictly in submission order, once each
//! write is durable — fans messages out to every connected member, publishes membership
//! changes to the directory and answers the callers.
//!
//! Supervision is the sessions' ([`crate::actor::supervisor`]): after a panic or a failed
//! write the actor refuses new commands (`overloaded`), waits for its in-flight writes and
//! rebuilds the channel from storage; too many crashes quarantine the channel.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, StreamHandler};
use switchboard_storage::{Batch, Storage, StorageError};

use super::convert;
use super::directory::ChannelSummary;
use super::facade::{ChannelAnswer, ChannelView, History, HistoryPage};
use crate::actor::durable::{DurableWrites, Written};
use crate::actor::supervisor::{Supervised, Supervisor};
use crate::answer::{Answer, Reply};
use crate::domain::channel::{
    mention_tokens, Channel, ChannelError, ChannelId, ChannelLimits, ChannelMessage, ChannelMeta, Posted,
};
use crate::domain::log::{LogLimits, Replay};
use crate::domain::types::{AgentId, Seq};
use crate::hub::Hub;
use crate::outbox::{Broadcast, ConnId, Event};
use crate::{now_ms, EngineConfig, EngineError};

/// What a caller asks of a channel.
pub(crate) enum ChannelOp {
    Post {
        author: AgentId,
        client_msg_id: String,
        text: String,
        origin: ConnId,
    },
    Join {
        agent: AgentId,
    },
    Invite {
        by: AgentId,
        agent: AgentId,
    },
    Leave {
        agent: AgentId,
    },
    MarkRead {
        agent: AgentId,
        seq: Seq,
    },
    History {
        agent: AgentId,
        page: History,
        limit: usize,
    },
    View {
        agent: AgentId,
    },
    Edit {
        by: AgentId,
        seq: Seq,
        text: String,
        origin: ConnId,
    },
    Delete {
        by: AgentId,
        seq: Seq,
        origin: ConnId,
    },
    Remove {
        by: AgentId,
        agent: AgentId,
    },
    SetArchived {
        by: AgentId,
        archived: bool,
    },
    SetTopic {
        by: AgentId,
        topic: String,
    },
    /// The administrator's API moves the channel into a folder (or out of any).
    SetFolder {
        folder: Option<crate::domain::channel::FolderId>,
    },
}

/// A request to a channel's actor, answered exactly once through its reply.
pub(crate) struct ChannelCommand {
    pub(crate) op: ChannelOp,
    pub(crate) reply: Reply,
}

impl actix::Message for ChannelCommand {
    type Result = ();
}

/// What to do once a write is durable.
enum Effect {
    Message {
        message: ChannelMessage,
        origin: ConnId,
        waiters: Vec<(Reply, bool)>,
    },
    /// `agent` joined or left: publish the summary, tell the members, answer with the view.
    Membership {
        agent: AgentId,
        joined: bool,
        reply: Reply,
        viewer: AgentId,
    },
    /// A read position moved.
    Read {
        reply: Reply,
        agent: AgentId,
    },
    /// An edit or deletion: tell the members, answer `Done`.
    Changed {
        message: ChannelMessage,
        origin: ConnId,
        reply: Reply,
    },
    /// The channel's metadata changed (archived, topic): publish, tell the members.
    Meta {
        reply: Reply,
        viewer: AgentId,
    },
}

impl Effect {
    fn fail(self, error: EngineError) {
        match self {
            Effect::Message { waiters, .. } => {
                for (reply, _) in waiters {
                    reply.send(Err(error.clone()));
                }
            }
            Effect::Membership { reply, .. }
            | Effect::Read { reply, .. }
            | Effect::Changed { reply, .. }
            | Effect::Meta { reply, .. } => reply.send(Err(error)),
        }
    }
}

/// Membership and read-position writes a channel may have in flight beyond its posts.
const STATE_WRITES_INFLIGHT_MAX: usize = 64;

/// Text that makes the actor panic, so tests can exercise supervision for real.
#[cfg(test)]
pub(crate) const PANIC_TEXT: &str = "__switchboard_test_panic__";

/// The limits of every channel.
pub(crate) fn limits(config: &EngineConfig) -> ChannelLimits {
    ChannelLimits {
        log: LogLimits {
            text_bytes_max: config.text_bytes_max,
            messages_max: config.channel_messages_max,
            tail_max: config.channel_tail_max,
            dedup_max: config.channel_dedup_max,
        },
        edit_window_ms: config.channel_edit_window_ms,
    }
}

/// Build a channel's state from storage: its record, members with read positions, and its
/// newest messages (the idempotency window).
pub(crate) fn load_channel(
    storage: &Storage,
    id: ChannelId,
    config: &EngineConfig,
) -> Result<Channel, EngineError> {
    let record = storage.channel(id)?.ok_or(EngineError::UnknownChannel(id))?;
    let members: BTreeMap<AgentId, _> = storage
        .channel_members(id)?
        .into_iter()
        .map(|(agent, record, read)| (agent, convert::member(record, read)))
        .collect();
    let window = config.channel_dedup_max.max(config.channel_tail_max);
    let mut recent: Vec<ChannelMessage> = storage
        .channel_messages_before(id, u64::MAX, window)?
        .into_iter()
        .map(|(seq, r)| convert::message(seq, r))
        .collect();
    recent.reverse();
    Ok(Channel::restore(convert::channel_meta(record), members, recent, limits(config)))
}

/// One loaded channel's actor.
pub(crate) struct ChannelActor {
    id: ChannelId,
    generation: u64,
    hub: Arc<Hub>,
    channel: Channel,
    writes: DurableWrites<Effect>,
    /// Seq → the write carrying it, so a retry waits for the original.
    inflight: HashMap<Seq, u64>,
    supervisor: Supervisor,
    last_activity_ms: u64,
    /// Cluster mode: the shard lease this state was loaded under (see the session actor).
    loaded_lease: u64,
}

impl ChannelActor {
    pub(crate) fn new(id: ChannelId, generation: u64, hub: Arc<Hub>, channel: Channel) -> ChannelActor {
        let supervisor = Supervisor::new(&hub.config);
        let writes = DurableWrites::new(hub.config.session_inflight_max + STATE_WRITES_INFLIGHT_MAX);
        let loaded_lease = hub.ownership.lease_of(hub.ownership.shard_of(id));
        ChannelActor {
            loaded_lease,
            id,
            generation,
            hub,
            channel,
            writes,
            inflight: HashMap::new(),
            supervisor,
            last_activity_ms: now_ms(),
        }
    }

    fn dispatch(&mut self, command: ChannelCommand) {
        let ChannelCommand { op, reply } = command;
        let now = now_ms();
        match op {
            ChannelOp::Post { author, client_msg_id, text, origin } => {
                self.post(author, &client_msg_id, &text, origin, reply, now)
            }
            ChannelOp::Join { agent } => {
                let result = self.channel.join(agent, now);
                self.membership(agent, agent, result, reply);
            }
            ChannelOp::Invite { by, agent } => {
                let result = self.channel.invite(by, agent, now);
                self.membership(agent, by, result, reply);
            }
            ChannelOp::Leave { agent } => {
                if !self.channel.leave(agent) {
                    reply.send(Err(crate::domain::channel::ChannelError::NotMember(self.id).into()));
                    return;
                }
                let mut batch = Batch::new();
                batch.delete_channel_member(self.id, agent);
                let effect = Effect::Membership { agent, joined: false, reply, viewer: agent };
                self.write(batch, effect);
            }
            ChannelOp::MarkRead { agent, seq } => match self.channel.mark_read(agent, seq) {
                Err(e) => reply.send(Err(e.into())),
                Ok(None) => reply.send(Ok(self.view_answer(agent))),
                Ok(Some(seq)) => {
                    let mut batch = Batch::new();
                    batch.put_channel_read(self.id, agent, seq);
                    self.write(batch, Effect::Read { reply, agent });
                }
            },
            ChannelOp::History { agent, page, limit } => reply.send(self.history(agent, page, limit)),
            ChannelOp::View { agent } => match self.channel.check_read(agent) {
                Err(e) => reply.send(Err(e.into())),
                Ok(()) => reply.send(Ok(self.view_answer(agent))),
            },
            ChannelOp::Edit { by, seq, text, origin } => {
                let mentions = self.resolve_mentions(&text);
                let result = self.channel.edit(by, seq, &text, &mentions, now);
                self.change(result, origin, reply);
            }
            ChannelOp::Delete { by, seq, origin } => {
                let result = self.channel.delete(by, seq, now);
                self.change(result, origin, reply);
            }
            ChannelOp::Remove { by, agent } => match self.channel.remove(by, agent) {
                Err(e) => reply.send(Err(e.into())),
                Ok(false) => reply.send(Err(ChannelError::NotMember(self.id).into())),
                Ok(true) => {
                    let mut batch = Batch::new();
                    batch.delete_channel_member(self.id, agent);
                    self.write(batch, Effect::Membership { agent, joined: false, reply, viewer: by });
                }
            },
            ChannelOp::SetArchived { by, archived } => {
                let result = self.channel.set_archived(by, archived);
                self.meta_change(result, by, reply);
            }
            ChannelOp::SetTopic { by, topic } => {
                let result = self.channel.set_topic(by, &topic);
                self.meta_change(result, by, reply);
            }
            ChannelOp::SetFolder { folder } => {
                let meta = self.channel.set_folder(folder);
                self.meta_change(Ok(meta), self.channel.meta().created_by, reply);
            }
        }
    }

    fn change(&mut self, result: Result<ChannelMessage, ChannelError>, origin: ConnId, reply: Reply) {
        match result {
            Err(e) => reply.send(Err(e.into())),
            Ok(message) => {
                let mut batch = Batch::new();
                batch.put_channel_message(self.id, message.seq, &convert::message_record(&message));
                // Applied now, not at commit: the next edit or delete of this message starts
                // from it, so a delete cannot be undone by an edit still in flight. If the
                // write fails, the channel is rebuilt from storage (`needs_reload`).
                self.channel.message_changed(message.clone());
                self.write(batch, Effect::Changed { message, origin, reply });
            }
        }
    }

    fn meta_change(&mut self, result: Result<ChannelMeta, ChannelError>, viewer: AgentId, reply: Reply) {
        match result {
            Err(e) => reply.send(Err(e.into())),
            Ok(meta) => {
                let mut batch = Batch::new();
                batch.put_channel(&convert::channel_record(&meta));
                self.write(batch, Effect::Meta { reply, viewer });
            }
        }
    }

    fn post(
        &mut self,
        author: AgentId,
        client_msg_id: &str,
        text: &str,
        origin: ConnId,
        reply: Reply,
        now: u64,
    ) {
        #[cfg(test)]
        if text == PANIC_TEXT {
            panic!("test-injected panic in channel {}", self.id);
        }
        if self.writes.len() >= self.hub.config.session_inflight_max {
            reply.send(Err(EngineError::Overloaded("too many writes in flight for this channel")));
            return;
        }
        let mentions = self.resolve_mentions(text);
        match self.channel.post(author, client_msg_id, text, &mentions, now) {
            Err(e) => reply.send(Err(e.into())),
            Ok(Posted::Duplicate { seq, sent_at_ms }) => {
                match self.inflight.get(&seq).copied().and_then(|w| self.writes.get_mut(w)) {
                    Some(Effect::Message { waiters, .. }) => waiters.push((reply, true)),
                    _ => reply.send(Ok(posted(self.id, seq, sent_at_ms, client_msg_id, true))),
                }
            }
            Ok(Posted::New(message)) => {
                let mut batch = Batch::new();
                batch.put_channel_message(self.id, message.seq, &convert::message_record(&message));
                batch.put_channel_read(self.id, author, message.seq);
                let seq = message.seq;
                let effect = Effect::Message { message, origin, waiters: vec![(reply, false)] };
                if let Some(write) = self.write(batch, effect) {
                    self.inflight.insert(seq, write);
                }
            }
        }
    }

    /// The members a text `@mentions`: a token matches a member whose display name,
    /// lower-cased without spaces, or whose first name, lower-cased, is the token.
    fn resolve_mentions(&self, text: &str) -> Vec<AgentId> {
        let tokens = mention_tokens(text);
        if tokens.is_empty() {
            return Vec::new();
        }
        self.channel
            .members()
            .keys()
            .copied()
            .filter(|agent| {
                self.hub.directory.get(agent).is_some_and(|profile| {
                    let name = profile.display_name.to_lowercase();
                    let whole: String = name.split_whitespace().collect();
                    let first = name.split_whitespace().next().unwrap_or("").to_string();
                    tokens.iter().any(|t| *t == whole || *t == first)
                })
            })
            .collect()
    }

    fn membership(
        &mut self,
        agent: AgentId,
        viewer: AgentId,
        result: Result<Option<crate::domain::channel::Member>, crate::domain::channel::ChannelError>,
        reply: Reply,
    ) {
        match result {
            Err(e) => reply.send(Err(e.into())),
            Ok(None) => reply.send(Ok(self.view_answer(viewer))),
            Ok(Some(member)) => {
                let mut batch = Batch::new();
                batch.put_channel_member(self.id, agent, &convert::member_record(&member));
                batch.put_channel_read(self.id, agent, member.read_seq);
                self.write(batch, Effect::Membership { agent, joined: true, reply, viewer });
            }
        }
    }

    fn history(&self, agent: AgentId, page: History, limit: usize) -> Result<Answer, EngineError> {
        self.channel.check_read(agent)?;
        let newest = self.channel.durable_seq();
        let (messages, has_more) = match page {
            History::After(after) => match self.channel.log().replay(after, limit) {
                Replay::Messages { messages, has_more } => (messages, has_more),
                Replay::FromStorage { durable_seq } => {
                    let stored = self.hub.storage.channel_messages_after(self.id, after, limit)?;
                    let messages: Vec<ChannelMessage> = stored
                        .into_iter()
                        .filter(|(seq, _)| *seq <= durable_seq)
                        .map(|(seq, r)| convert::message(seq, r))
                        .collect();
                    let has_more = messages.last().is_some_and(|m| m.seq < durable_seq);
                    (messages, has_more)
                }
            },
            History::Before(before) => {
                let before = before.min(newest + 1);
                let stored = self.hub.storage.channel_messages_before(self.id, before, limit)?;
                let mut messages: Vec<ChannelMessage> =
                    stored.into_iter().map(|(seq, r)| convert::message(seq, r)).collect();
                messages.reverse();
                let has_more = messages.first().is_some_and(|m| m.seq > 1);
                (messages, has_more)
            }
        };
        Ok(Answer::Channel(ChannelAnswer::History(HistoryPage { channel_id: self.id, messages, has_more })))
    }

    fn summary(&self) -> ChannelSummary {
        ChannelSummary {
            meta: self.channel.meta().clone(),
            members: self.channel.members().keys().copied().collect(),
        }
    }

    fn view_answer(&self, agent: AgentId) -> Answer {
        Answer::Channel(ChannelAnswer::View(self.view(agent)))
    }

    fn view(&self, agent: AgentId) -> ChannelView {
        let (unread, mentions) = self.channel.unread(agent);
        ChannelView {
            summary: self.summary(),
            last_seq: self.channel.durable_seq(),
            member: self.channel.is_member(agent),
            unread,
            mentions,
        }
    }

    /// Submit a write. Storage refusing it outright (a full queue) leaves the in-memory
    /// channel ahead of storage: the waiters are told to retry and the channel is rebuilt
    /// from storage once nothing is in flight.
    fn write(&mut self, mut batch: Batch, effect: Effect) -> Option<u64> {
        // Any refusal rebuilds the channel from storage (below), a stale one included.
        let submitted = match self.hub.ownership.tag(&mut batch, self.id, self.loaded_lease, now_ms()) {
            Ok(()) => self.writes.submit(&self.hub.storage, batch, effect),
            Err(refused) => Err((effect, refused.error)),
        };
        match submitted {
            Ok(write) => Some(write),
            Err((effect, error)) => {
                self.supervisor.reload_later();
                effect.fail(error);
                None
            }
        }
    }

    fn written(&mut self, write: u64, result: Result<(), StorageError>) {
        if result.is_err() {
            self.supervisor.reload_later();
        }
        for (effect, failure) in self.writes.written(write, result) {
            match failure {
                Some(error) => {
                    if let Effect::Message { message, .. } = &effect {
                        self.inflight.remove(&message.seq);
                    }
                    effect.fail(error);
                }
                None => self.commit(effect),
            }
        }
    }

    fn commit(&mut self, effect: Effect) {
        match effect {
            Effect::Message { message, origin, waiters } => {
                let (seq, sent_at_ms) = (message.seq, message.sent_at_ms);
                let client_msg_id = message.client_msg_id.clone();
                self.inflight.remove(&seq);
                if !self.supervisor.needs_reload() {
                    self.channel.message_durable(message.clone());
                }
                // Built and encoded once; every member's connections share it.
                let event =
                    Broadcast::new(Event::ChannelMessage { channel_id: self.id, message: Arc::new(message) });
                for member in self.channel.members().keys() {
                    self.hub.tell_agent(*member, &event, Some(origin));
                }
                self.hub.tell_elsewhere(self.channel.members().keys().copied(), &event);
                metrics::counter!("switchboard_channel_messages_total").increment(1);
                for (reply, duplicate) in waiters {
                    reply.send(Ok(posted(self.id, seq, sent_at_ms, &client_msg_id, duplicate)));
                }
            }
            Effect::Membership { agent, joined, reply, viewer } => {
                let summary = self.summary();
                self.hub.channels.publish(summary.clone());
                let event =
                    Broadcast::new(Event::ChannelMembership { channel: Arc::new(summary), agent, joined });
                for member in self.channel.members().keys().filter(|m| **m != agent) {
                    self.hub.tell_agent(*member, &event, None);
                }
                self.hub.tell_agent(agent, &event, None);
                let others = self.channel.members().keys().copied().filter(|m| *m != agent);
                self.hub.tell_elsewhere(others.chain(std::iter::once(agent)), &event);
                reply.send(Ok(self.view_answer(viewer)));
            }
            Effect::Read { reply, agent } => reply.send(Ok(self.view_answer(agent))),
            Effect::Changed { message, origin, reply } => {
                let event = Broadcast::new(Event::ChannelMessageChanged {
                    channel_id: self.id,
                    message: Arc::new(message),
                });
                for member in self.channel.members().keys() {
                    self.hub.tell_agent(*member, &event, Some(origin));
                }
                self.hub.tell_elsewhere(self.channel.members().keys().copied(), &event);
                reply.send(Ok(Answer::Done));
            }
            Effect::Meta { reply, viewer } => {
                let summary = self.summary();
                self.hub.channels.publish(summary.clone());
                let event = Broadcast::new(Event::ChannelUpdated { channel: Arc::new(summary) });
                for member in self.channel.members().keys() {
                    self.hub.tell_agent(*member, &event, None);
                }
                self.hub.tell_elsewhere(self.channel.members().keys().copied(), &event);
                reply.send(Ok(self.view_answer(viewer)));
            }
        }
    }
}

impl Supervised for ChannelActor {
    type State = Channel;
    const KIND: &'static str = "channel";
    const RESTARTING: &'static str = "channel is restarting";

    fn id(&self) -> u64 {
        self.id
    }
    fn supervisor(&mut self) -> &mut Supervisor {
        &mut self.supervisor
    }
    fn writes_idle(&self) -> bool {
        self.writes.is_empty()
    }
    fn load(&self) -> Result<Channel, EngineError> {
        load_channel(&self.hub.storage, self.id, &self.hub.config)
    }
    fn restore(&mut self, channel: Channel) {
        self.loaded_lease = self.hub.ownership.lease_of(self.hub.ownership.shard_of(self.id));
        self.channel = channel;
        self.inflight.clear();
    }
    fn quarantine_in_registry(&self) {
        self.hub.channel_actors.quarantine(self.id);
    }
    fn unavailable(&self) -> EngineError {
        EngineError::ChannelUnavailable(self.id)
    }
}

fn posted(channel_id: ChannelId, seq: Seq, sent_at_ms: u64, client_msg_id: &str, duplicate: bool) -> Answer {
    Answer::Channel(ChannelAnswer::Posted {
        channel_id,
        seq,
        sent_at_ms,
        client_msg_id: client_msg_id.to_string(),
        duplicate,
    })
}

impl Actor for ChannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(reports) = self.writes.reports() {
            ctx.add_stream(reports);
        }
        let every = Duration::from_millis((self.hub.config.session_idle_ms / 4).clamp(1000, 30_000));
        ctx.run_interval(every, |act, ctx| {
            let idle = now_ms().saturating_sub(act.last_activity_ms) >= act.hub.config.session_idle_ms;
            if idle && act.writes.is_empty() {
                actix::ActorContext::stop(ctx);
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.hub.channel_actors.remove(self.id, self.generation);
    }
}

impl Handler<ChannelCommand> for ChannelActor {
    type Result = ();

    fn handle(&mut self, command: ChannelCommand, _ctx: &mut Context<Self>) {
        self.last_activity_ms = now_ms();
        match self.admit() {
            Ok(()) => self.supervised(|actor| actor.dispatch(command)),
            Err(refused) => command.reply.send(Err(refused)),
        }
    }
}

impl StreamHandler<Written> for ChannelActor {
    fn handle(&mut self, (write, result): Written, _ctx: &mut Context<Self>) {
        self.supervised(|actor| actor.written(write, result));
    }
}
