//! The `Engine` methods for fair assignment: departments (created, changed, listed; members
//! added and removed), agents' presence, offers accepted and declined, and the recorded
//! decisions about a session.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix::Actor;
use switchboard_storage::Batch;

use super::departments::Department;
use super::queue_actor::{QueueActor, QueueMsg, TransferTarget};
use crate::actor::registry;
use crate::actor::session::{CommandKind, Subscriber};
use crate::answer::Reply;
use crate::answer::ReplyTo;
use crate::domain::hours::Hours;
use crate::domain::routing::{Decision, Outcome, Presence, RoutingConfig};
use crate::hub::Hub;
use crate::outbox::{Outbox, Outgoing};
use crate::{
    now_ms, AgentId, DepartmentId, Engine, EngineError, Participant, SessionId, State, DEFAULT_DEPARTMENT,
};

/// Who a transfer goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTo {
    /// This agent.
    Agent(AgentId),
    /// The member of this department its routing policy picks; the chat moves there.
    Department(DepartmentId),
}

/// Most decisions returned about one session (the oldest).
pub const DECISIONS_READ_MAX: usize = 1000;

/// Why a request to a department's queue actor was refused: its mailbox is full.
const QUEUE_BUSY: &str = "department queue busy";

/// The default department's name on a new server.
pub const DEFAULT_DEPARTMENT_NAME: &str = "general";

/// Load the departments at start (creating the default one, with every agent, on a server
/// that has none) and start their queue actors.
pub(crate) fn load_departments(hub: &Arc<Hub>) -> Result<(), EngineError> {
    let mut departments: Vec<Department> =
        hub.storage.departments()?.into_iter().map(Department::from_record).collect();
    if departments.is_empty() {
        let agents: BTreeSet<AgentId> = hub.directory.iter().map(|a| *a.key()).collect();
        let default = Department {
            id: DEFAULT_DEPARTMENT,
            name: DEFAULT_DEPARTMENT_NAME.into(),
            config: RoutingConfig::default(),
            agents,
            created_at_ms: now_ms(),
            hours: None,
        };
        let mut batch = Batch::new();
        batch.put_department(&default.record());
        hub.storage.write_blocking(batch)?;
        departments.push(default);
    }
    for department in departments {
        start_actor(hub, department);
    }
    Ok(())
}

/// Cluster mode: department `id` was created or changed on another node (its record was
/// just applied here): start its queue actor, or tell it what changed (members, settings).
pub(crate) fn follow_department(hub: &Arc<Hub>, id: DepartmentId) -> Result<(), EngineError> {
    let Some(record) = hub.storage.departments()?.into_iter().find(|r| r.id == id) else { return Ok(()) };
    let department = Department::from_record(record);
    let Some(before) = hub.routing.get(id) else {
        start_actor(hub, department);
        return Ok(());
    };
    hub.routing.update(department.clone());
    let Some(actor) = hub.routing.addr(id) else { return Ok(()) };
    if before.config != department.config {
        actor.do_send(QueueMsg::Configure(department.config.clone()));
    }
    for agent in department.agents.difference(&before.agents) {
        actor.do_send(QueueMsg::Member { agent: *agent, joined: true });
    }
    for agent in before.agents.difference(&department.agents) {
        actor.do_send(QueueMsg::Member { agent: *agent, joined: false });
    }
    Ok(())
}

fn start_actor(hub: &Arc<Hub>, department: Department) {
    let (id, config, members) = (department.id, department.config.clone(), department.agents.clone());
    let actor_hub = hub.clone();
    let mailbox = hub.config.queue_mailbox;
    let addr = QueueActor::start_in_arbiter(&hub.registry.routing_arbiter(), move |ctx| {
        ctx.set_mailbox_capacity(mailbox);
        QueueActor::new(id, config, actor_hub)
    });
    for agent in members {
        addr.do_send(QueueMsg::Member { agent, joined: true });
    }
    hub.routing.insert(department, addr);
}

impl Engine {
    /// Every department, by id.
    pub fn departments(&self) -> Vec<Department> {
        self.hub.routing.list()
    }

    /// A department by id.
    pub fn department(&self, id: DepartmentId) -> Option<Department> {
        self.hub.routing.get(id)
    }

    /// The department a visitor names in `start_chat` (the default when it names none).
    pub fn department_by_name(&self, name: Option<&str>) -> Result<DepartmentId, EngineError> {
        match name {
            None => Ok(DEFAULT_DEPARTMENT),
            Some(name) => {
                self.hub.routing.by_name(name).ok_or_else(|| EngineError::UnknownDepartment(name.into()))
            }
        }
    }

    /// Create a department (durable before it returns).
    pub async fn create_department(
        &self,
        name: String,
        config: RoutingConfig,
        hours: Option<Hours>,
    ) -> Result<Department, EngineError> {
        if self.hub.routing.by_name(&name).is_some() {
            return Err(EngineError::InvalidDepartment(format!("a department named `{name}` exists")));
        }
        let department = Department {
            id: self.new_id_after(self.hub.routing.max_id())?,
            name,
            config,
            agents: BTreeSet::new(),
            created_at_ms: now_ms(),
            hours,
        };
        self.save_department(&department).await?;
        start_actor(&self.hub, department.clone());
        Ok(department)
    }

    /// Rename a department, change its routing settings or (`hours` given) set or clear its
    /// business hours; automatic mode dispatches at once.
    pub async fn update_department(
        &self,
        id: DepartmentId,
        name: Option<String>,
        config: RoutingConfig,
        hours: Option<Option<Hours>>,
    ) -> Result<Department, EngineError> {
        let mut department = self.existing(id)?;
        if let Some(hours) = hours {
            department.hours = hours;
        }
        if let Some(name) = name {
            if self.hub.routing.by_name(&name).is_some_and(|other| other != id) {
                return Err(EngineError::InvalidDepartment(format!("a department named `{name}` exists")));
            }
            department.name = name;
        }
        department.config = config.clone();
        self.save_department(&department).await?;
        self.hub.routing.update(department.clone());
        if let Some(actor) = self.hub.routing.addr(id) {
            actor.do_send(QueueMsg::Configure(config));
        }
        Ok(department)
    }

    /// Add `agent` to department `id` (`joined`) or remove it.
    pub async fn set_member(
        &self,
        id: DepartmentId,
        agent: AgentId,
        joined: bool,
    ) -> Result<Department, EngineError> {
        let mut department = self.existing(id)?;
        if !self.hub.directory.contains_key(&agent) {
            return Err(EngineError::InvalidDepartment(format!("no agent {agent}")));
        }
        let changed = if joined { department.agents.insert(agent) } else { department.agents.remove(&agent) };
        if changed {
            self.save_department(&department).await?;
            self.hub.routing.update(department.clone());
            if let Some(actor) = self.hub.routing.addr(id) {
                actor.do_send(QueueMsg::Member { agent, joined });
            }
        }
        Ok(department)
    }

    /// New agents join the default department.
    pub(crate) async fn join_default(&self, agent: AgentId) -> Result<(), EngineError> {
        self.set_member(DEFAULT_DEPARTMENT, agent, true).await.map(|_| ())
    }

    /// Set `agent`'s presence in every department it belongs to.
    /// A client's `set_presence`: refused with `overloaded` when a department's mailbox is
    /// full (so a client repeating it cannot grow the mailboxes).
    pub fn set_presence(&self, agent: AgentId, presence: Presence) -> Result<(), EngineError> {
        for actor in self.hub.routing.of_agent(agent) {
            actor
                .try_send(QueueMsg::Presence { agent, presence })
                .map_err(|_| EngineError::Overloaded(QUEUE_BUSY))?;
        }
        self.hub.presence_changed_here(agent, Some(presence));
        Ok(())
    }

    /// The engine's own presence change (an agent authenticated): never dropped.
    pub(crate) fn announce_presence(&self, agent: AgentId, presence: Presence) {
        self.hub.presence_changed_here(agent, Some(presence));
        for actor in self.hub.routing.of_agent(agent) {
            actor.do_send(QueueMsg::Presence { agent, presence });
        }
    }

    /// Accept the offer of `session`; answered like `accept` (the connection is subscribed).
    pub fn accept_offer(
        &self,
        agent: AgentId,
        session: SessionId,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        self.accept_offered(agent, session, reply, EngineError::OfferUnavailable(session))
    }

    /// Accept `session` through its department's offer to `agent`; `no_offer` answers when
    /// there is none (a plain `accept` at capacity whose own offer holds the last slot ends
    /// here, and gets `agent_at_capacity` only when there is no such offer).
    pub(crate) fn accept_offered(
        &self,
        agent: AgentId,
        session: SessionId,
        reply: ReplyTo,
        no_offer: EngineError,
    ) -> Result<(), EngineError> {
        let actor = self.queue_of(session)?;
        let subscriber = Subscriber { who: Participant::Agent(agent), outbox: reply.outbox.clone() };
        actor
            .try_send(QueueMsg::AcceptOffer { agent, session, subscriber, reply, no_offer })
            .map_err(|_| EngineError::Overloaded(QUEUE_BUSY))
    }

    /// Decline the offer of `session`; answered with `Done`.
    pub fn decline_offer(
        &self,
        agent: AgentId,
        session: SessionId,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let actor = self.queue_of(session)?;
        actor
            .try_send(QueueMsg::DeclineOffer { agent, session, reply })
            .map_err(|_| EngineError::Overloaded(QUEUE_BUSY))
    }

    /// Hand `session`, which `from` holds, to an agent or a department with a note: the
    /// receiver (the named agent, or the member the department's policy picks) is offered it
    /// with its slot reserved, and accepts or declines within the offer timeout of the
    /// department that holds the transfer. Answered with `Done` once offered.
    pub fn transfer(
        &self,
        from: AgentId,
        session: SessionId,
        to: TransferTo,
        note: Option<String>,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let (actor, to) = match to {
            TransferTo::Agent(agent) => (self.department_actor_of(session)?, TransferTarget::Agent(agent)),
            TransferTo::Department(id) => {
                let actor = self
                    .hub
                    .routing
                    .addr(id)
                    .ok_or_else(|| EngineError::UnknownDepartment(id.to_string()))?;
                (actor, TransferTarget::Department)
            }
        };
        actor
            .try_send(QueueMsg::Transfer { from, to, session, note, reply })
            .map_err(|_| EngineError::Overloaded(QUEUE_BUSY))
    }

    /// The receiver of a transfer accepts it (answered like `accept`: this connection is
    /// subscribed) or, with `accept` false, declines it (answered with `Done`).
    pub fn answer_transfer(
        &self,
        agent: AgentId,
        session: SessionId,
        accept: bool,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let holder =
            self.hub.routing.transfer_holder(session).ok_or(EngineError::OfferUnavailable(session))?;
        let actor = self.hub.routing.addr(holder).ok_or(EngineError::OfferUnavailable(session))?;
        let accept =
            accept.then(|| Subscriber { who: Participant::Agent(agent), outbox: reply.outbox.clone() });
        actor
            .try_send(QueueMsg::AnswerTransfer { agent, session, accept, reply })
            .map_err(|_| EngineError::Overloaded(QUEUE_BUSY))
    }

    /// Change `session`'s queue priority (higher is served first; a waiting chat moves to
    /// its new place in line at once). Answered with `Done` once durable; refused once the
    /// session is closed.
    pub async fn set_priority(
        &self,
        session: SessionId,
        priority: i64,
        reply: ReplyTo,
    ) -> Result<(), EngineError> {
        let kind = CommandKind::SetPriority { priority };
        registry::command(&self.hub, session, kind, Reply::new(reply, None)).await
    }

    /// [`Engine::set_priority`] for a caller without a connection (the HTTP API): returns
    /// once durable.
    pub async fn set_priority_now(&self, session: SessionId, priority: i64) -> Result<(), EngineError> {
        let (outbox, mut inbox) = Outbox::channel(self.next_conn_id(), 1, 1);
        self.set_priority(session, priority, ReplyTo { outbox, req: 0 }).await?;
        loop {
            match inbox.recv().await {
                Some(Outgoing::Answer { answer, .. }) => return answer.map(|_| ()),
                Some(
                    Outgoing::Event(_) | Outgoing::Broadcast(_) | Outgoing::Relayed(_) | Outgoing::Encoded(_),
                ) => continue,
                None => return Err(EngineError::Internal("the session stopped before answering".into())),
            }
        }
    }

    fn department_actor_of(&self, session: SessionId) -> Result<actix::Addr<QueueActor>, EngineError> {
        let department = self.hub.queue().get(session).map(|s| s.meta.department_id);
        let department = department.ok_or(EngineError::UnknownSession(session))?;
        self.hub.routing.addr(department).ok_or(EngineError::UnknownSession(session))
    }

    /// The routing decisions recorded about `session`, oldest first, with the department
    /// that made each ("why did this chat go to Ann?"); stored, so they outlive restarts.
    pub fn routing_decisions(
        &self,
        session: SessionId,
    ) -> Result<Vec<(DepartmentId, Decision)>, EngineError> {
        let records = self.hub.storage.decisions(session, DECISIONS_READ_MAX)?;
        if records.is_empty() && self.hub.storage.session(session)?.is_none() {
            return Err(EngineError::UnknownSession(session));
        }
        Ok(records
            .into_iter()
            .filter_map(|r| {
                let outcome = Outcome::from_name(&r.outcome)?;
                let decision = Decision {
                    at_ms: r.at_ms,
                    session,
                    agent: r.agent_id,
                    outcome,
                    load: (r.load, r.capacity),
                    idle_ms: r.idle_ms,
                    skipped: r.skipped,
                    candidates: r.candidates as usize,
                };
                Some((r.department_id, decision))
            })
            .collect())
    }

    fn queue_of(&self, session: SessionId) -> Result<actix::Addr<QueueActor>, EngineError> {
        let queue = self.hub.queue();
        let snapshot = queue.get(session).ok_or(EngineError::OfferUnavailable(session))?;
        if snapshot.meta.state != State::Waiting {
            return Err(EngineError::OfferUnavailable(session));
        }
        self.hub.routing.addr(snapshot.meta.department_id).ok_or(EngineError::OfferUnavailable(session))
    }

    fn existing(&self, id: DepartmentId) -> Result<Department, EngineError> {
        self.hub.routing.get(id).ok_or_else(|| EngineError::UnknownDepartment(id.to_string()))
    }

    async fn save_department(&self, department: &Department) -> Result<(), EngineError> {
        let mut batch = Batch::new();
        batch.put_department(&department.record());
        self.write(batch).await
    }
}
