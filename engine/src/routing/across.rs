//! Cluster mode: one fair queue per department across every node (docs/CLUSTER.md, "One
//! queue per department"). On one machine nothing here runs.
//!
//! A department's queue actor **leads** only on the node holding the lease of the
//! department's shard (`id % 64`, the lease that makes a node a session's one writer); on
//! every other node it stays idle. The leader decides for every member, wherever connected:
//! - it hears of every waiting session of the department, wherever owned: the log brings
//!   every session's changes to every node ([`crate::hub::Hub::remote_session`]);
//! - it knows every member's presence: each node tells the others its connected agents'
//!   presence ([`RouteWire::Presence`]: a change at once, the full list every second);
//! - its offers reach agents on any node (handed to the other nodes like channel events);
//! - an agent's `accept_offer` runs on the session's owner (the relay takes it there),
//!   whose idle queue actor asks the leader first ([`RouteWire::Grant`]); a decline is
//!   passed on ([`RouteWire::Decline`]);
//! - an automatic assignment of a session another node owns is carried out there
//!   ([`RouteWire::Assign`]).
//!
//! A slot the leader reserved for a grant or an assignment carried out elsewhere is held
//! until the log shows the session leave the queue, or [`HELD_FOR`] at most; a chat still
//! waiting then goes back in line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::queue_actor::QueueMsg;
use crate::actor::registry;
use crate::actor::session::{CommandKind, Subscriber};
use crate::answer::Reply;
use crate::domain::routing::Presence;
use crate::hub::Hub;
use crate::outbox::{Broadcast, Event, Outbox};
use crate::{AgentId, DepartmentId, Engine, Participant, SessionId};

/// How long the leader holds a slot for an accept it granted, or an assignment it asked
/// another node to carry out, before it counts it as failed.
pub const HELD_FOR: Duration = Duration::from_secs(10);

/// How often a node tells the others every agent connected to it.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(1);

/// A node not heard from for this long has no agents connected (it died, or lost NATS).
pub const PRESENCE_STALE: Duration = Duration::from_secs(4);

/// What queue actors on different nodes tell each other (MessagePack on core NATS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteWire {
    /// To a department's leader, from a session's owner: may `agent` take `session`, its
    /// offer? Answered with a [`Granted`].
    Grant { department: DepartmentId, agent: AgentId, session: SessionId },
    /// To a department's leader: `agent` declines its offer of `session`.
    Decline { department: DepartmentId, agent: AgentId, session: SessionId },
    /// To a session's owner, from its department's leader: assign it to `agent` (an
    /// automatic assignment; the slot is reserved on the leader).
    Assign { session: SessionId, agent: AgentId },
    /// To every node: the sender's connected agents and their presence (`None`: its last
    /// connection there closed). `full`: every agent connected there, the rest are gone.
    Presence { agents: Vec<(AgentId, Option<WirePresence>)>, full: bool },
}

/// An agent's presence as it travels (connected there, whatever it chose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WirePresence {
    Online,
    Away,
    /// Connected, but set offline: no offers, still its channels' events.
    Offline,
}

/// The leader's answer to a [`RouteWire::Grant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Granted {
    /// The agent's offer stood: accept it; its slot is held on the leader.
    Yes,
    /// No such offer (expired, withdrawn, someone else's).
    NoOffer,
}

impl RouteWire {
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec(self).expect("a routing message always encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<RouteWire, String> {
        rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
    }
}

impl Granted {
    pub fn encode(self) -> Vec<u8> {
        rmp_serde::to_vec(&self).expect("an answer always encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Granted, String> {
        rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
    }
}

fn to_wire(presence: Presence) -> WirePresence {
    match presence {
        Presence::Online => WirePresence::Online,
        Presence::Away => WirePresence::Away,
        Presence::Offline => WirePresence::Offline,
    }
}

fn from_wire(presence: WirePresence) -> Presence {
    match presence {
        WirePresence::Online => Presence::Online,
        WirePresence::Away => Presence::Away,
        WirePresence::Offline => Presence::Offline,
    }
}

/// Which agents are connected where, with their presence: this node's, and the other
/// nodes' as they last said.
#[derive(Default)]
pub(crate) struct Presences {
    here: DashMap<AgentId, Presence>,
    elsewhere: Mutex<HashMap<String, (Instant, HashMap<AgentId, Presence>)>>,
}

impl Presences {
    /// `agent`'s presence on another node (the most available one when on several).
    pub(crate) fn elsewhere(&self, agent: AgentId) -> Option<Presence> {
        let nodes = self.elsewhere.lock().expect("presence lock");
        let mut found = None;
        for (_, agents) in nodes.values() {
            match agents.get(&agent) {
                Some(Presence::Online) => return Some(Presence::Online),
                Some(p) => found = Some(*p),
                None => {}
            }
        }
        found
    }

    /// The other nodes where any of `agents` is connected.
    pub(crate) fn nodes_with(&self, agents: &[AgentId]) -> Vec<String> {
        let nodes = self.elsewhere.lock().expect("presence lock");
        nodes
            .iter()
            .filter(|(_, (_, here))| agents.iter().any(|a| here.contains_key(a)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// `agent`'s presence here, if connected here.
    pub(crate) fn here(&self, agent: AgentId) -> Option<Presence> {
        self.here.get(&agent).map(|p| *p)
    }

    pub(crate) fn set_here(&self, agent: AgentId, presence: Option<Presence>) {
        match presence {
            Some(p) => {
                self.here.insert(agent, p);
            }
            None => {
                self.here.remove(&agent);
            }
        }
    }

    /// Apply what `node` said; returns the agents whose presence there changed, with their
    /// presence there now.
    fn heard(
        &self,
        node: &str,
        agents: Vec<(AgentId, Option<WirePresence>)>,
        full: bool,
    ) -> Vec<(AgentId, Option<Presence>)> {
        let mut nodes = self.elsewhere.lock().expect("presence lock");
        let (seen, known) = nodes.entry(node.to_string()).or_insert_with(|| (Instant::now(), HashMap::new()));
        let mut changed = Vec::new();
        if full {
            *seen = Instant::now();
            let listed: std::collections::HashSet<AgentId> = agents.iter().map(|(a, _)| *a).collect();
            known.retain(|agent, _| {
                let keep = listed.contains(agent);
                if !keep {
                    changed.push((*agent, None));
                }
                keep
            });
        }
        for (agent, presence) in agents {
            let now = presence.map(from_wire);
            let before = match now {
                Some(p) => known.insert(agent, p),
                None => known.remove(&agent),
            };
            if before != now {
                changed.push((agent, now));
            }
        }
        changed
    }

    /// Forget the nodes not heard from for [`PRESENCE_STALE`]; returns their agents.
    fn expire(&self) -> Vec<AgentId> {
        let mut nodes = self.elsewhere.lock().expect("presence lock");
        let stale: Vec<String> = nodes
            .iter()
            .filter(|(_, (seen, _))| seen.elapsed() > PRESENCE_STALE)
            .map(|(n, _)| n.clone())
            .collect();
        stale
            .into_iter()
            .filter_map(|n| nodes.remove(&n))
            .flat_map(|(_, agents)| agents.into_keys())
            .collect()
    }
}

impl Hub {
    /// This node's agent changed presence (`None`: its last connection here closed): tell
    /// the other nodes (cluster mode).
    pub(crate) fn presence_changed_here(&self, agent: AgentId, presence: Option<Presence>) {
        let Some(peers) = self.peers.get() else { return };
        self.presences.set_here(agent, presence);
        let wire = presence.map(to_wire);
        peers.route(None, RouteWire::Presence { agents: vec![(agent, wire)], full: false });
    }

    /// Whether `agent` has a connection here or on another node.
    pub(crate) fn agent_reachable(&self, agent: AgentId) -> bool {
        self.agent_connected(agent) || self.presences.elsewhere(agent).is_some()
    }

    /// `agent`'s presence as routing should see it at a leader's start.
    pub(crate) fn presence_anywhere(&self, agent: AgentId) -> Presence {
        if self.agent_connected(agent) {
            return self.presences.here(agent).unwrap_or(Presence::Online);
        }
        self.presences.elsewhere(agent).unwrap_or(Presence::Offline)
    }

    /// Whether this node leads `department`'s queue (always, on one machine).
    pub(crate) fn leads(&self, department: DepartmentId) -> bool {
        !self.ownership.is_cluster() || self.ownership.lease_of(self.ownership.shard_of(department)) != 0
    }

    /// The node leading `department`'s queue, when it is another one.
    pub(crate) fn leader_elsewhere(&self, department: DepartmentId) -> Option<Arc<str>> {
        let peers = self.peers.get()?;
        self.ownership.owner_elsewhere(department, peers.node())
    }

    /// Whether this node may write `session` now (always on one machine).
    pub(crate) fn owns_now(&self, session: SessionId) -> bool {
        self.ownership.owner(session, crate::now_ms()).is_ok()
    }

    /// The node owning `session`, when it is another one.
    pub(crate) fn owner_elsewhere(&self, session: SessionId) -> Option<Arc<str>> {
        let peers = self.peers.get()?;
        self.ownership.owner_elsewhere(session, peers.node())
    }

    /// `event` to `agent`'s connections here and, in cluster mode, on the other nodes.
    pub(crate) fn tell_agent_anywhere(&self, agent: AgentId, event: Event) {
        for outbox in self.agent_outboxes(agent) {
            outbox.deliver(event.clone());
        }
        if let Some(peers) = self.peers.get() {
            if self.presences.elsewhere(agent).is_some() {
                peers.tell_members(vec![agent], Broadcast::new(event));
            }
        }
    }
}

impl Engine {
    /// A routing message from another node (not a [`RouteWire::Grant`]: see
    /// [`Engine::grant`]).
    pub fn routing_message(&self, from: &str, wire: RouteWire) {
        match wire {
            RouteWire::Grant { department, agent, session } => {
                // Asked without waiting for the answer: granted or not, nobody accepts it.
                drop(self.grant(department, agent, session));
            }
            RouteWire::Decline { department, agent, session } => {
                if let Some(actor) = self.hub.routing.addr(department) {
                    actor.do_send(QueueMsg::DeclineHere { agent, session });
                }
            }
            RouteWire::Assign { session, agent } => self.assign_here(session, agent),
            RouteWire::Presence { agents, full } => {
                for (agent, presence) in self.hub.presences.heard(from, agents, full) {
                    self.presence_changed_elsewhere(agent, presence);
                }
            }
        }
    }

    /// A session's owner asks this node, its department's leader, whether `agent` may take
    /// `session`.
    pub fn grant(
        &self,
        department: DepartmentId,
        agent: AgentId,
        session: SessionId,
    ) -> oneshot::Receiver<Granted> {
        let (tx, rx) = oneshot::channel();
        match self.hub.routing.addr(department) {
            Some(actor) => actor.do_send(QueueMsg::Grant { agent, session, reply: tx }),
            None => {
                let _ = tx.send(Granted::NoOffer);
            }
        }
        rx
    }

    /// The other nodes where any of `agents` is connected: where their events must go.
    pub fn nodes_with(&self, agents: &[AgentId]) -> Vec<String> {
        self.hub.presences.nodes_with(agents)
    }

    /// Every second: the full list of the agents connected here for the other nodes, after
    /// forgetting the agents of nodes gone silent.
    pub fn presence_tick(&self) -> RouteWire {
        for agent in self.hub.presences.expire() {
            self.presence_changed_elsewhere(agent, None);
        }
        let agents = self.hub.presences.here.iter().map(|e| (*e.key(), Some(to_wire(*e.value())))).collect();
        RouteWire::Presence { agents, full: true }
    }

    /// An agent's presence on another node changed: its departments hear it as they hear
    /// this node's (a disconnect starts the grace period, unless still connected
    /// somewhere).
    fn presence_changed_elsewhere(&self, agent: AgentId, presence: Option<Presence>) {
        let presence = match presence {
            Some(p) => Some(p),
            None => self.hub.presences.here(agent).or_else(|| self.hub.presences.elsewhere(agent)),
        };
        for actor in self.hub.routing.of_agent(agent) {
            match presence {
                Some(presence) => actor.do_send(QueueMsg::Presence { agent, presence }),
                None => actor.do_send(QueueMsg::Disconnected { agent }),
            }
        }
    }

    /// Carry out a leader's automatic assignment of a session owned here: an agent
    /// connection of this node follows it if there is one (any other attaches as usual).
    fn assign_here(&self, session: SessionId, agent: AgentId) {
        let hub = self.hub.clone();
        let outbox = hub.agent_outboxes(agent).pop().unwrap_or_else(Outbox::closed);
        let subscriber = Subscriber { who: Participant::Agent(agent), outbox };
        self.spawn_on_shard(session, async move {
            let kind = CommandKind::Accept { agent, subscriber };
            if let Err(e) = registry::command(&hub, session, kind, Reply::silent()).await {
                tracing::debug!(target: "cluster", session, agent, error = %e, "assignment from the leader failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_messages_round_trip() {
        let all = [
            RouteWire::Grant { department: 1, agent: 2, session: 3 },
            RouteWire::Decline { department: 1, agent: 2, session: 3 },
            RouteWire::Assign { session: 3, agent: 2 },
            RouteWire::Presence { agents: vec![(2, Some(WirePresence::Away)), (4, None)], full: false },
        ];
        for wire in all {
            assert_eq!(RouteWire::decode(&wire.encode()).unwrap(), wire);
        }
        assert_eq!(Granted::decode(&Granted::NoOffer.encode()).unwrap(), Granted::NoOffer);
        assert!(RouteWire::decode(b"\xc1").is_err());
    }

    #[test]
    fn presence_elsewhere_follows_deltas_full_lists_and_silence() {
        let p = Presences::default();
        let online = Some(WirePresence::Online);
        assert_eq!(p.heard("n2", vec![(7, online), (8, Some(WirePresence::Away))], false).len(), 2);
        assert_eq!(p.elsewhere(7), Some(Presence::Online));
        assert_eq!(p.elsewhere(8), Some(Presence::Away));
        // Unchanged news is no change.
        assert!(p.heard("n2", vec![(7, online)], false).is_empty());
        // On two nodes: the most available presence counts.
        p.heard("n3", vec![(8, online)], false);
        assert_eq!(p.elsewhere(8), Some(Presence::Online));
        // A full list drops whoever it leaves out.
        assert_eq!(p.heard("n2", vec![(8, Some(WirePresence::Away))], true), vec![(7, None)]);
        assert_eq!(p.elsewhere(7), None);
        p.heard("n3", vec![(8, None)], false);
        assert_eq!(p.elsewhere(8), Some(Presence::Away));
        assert!(p.expire().is_empty(), "heard from just now");
        assert_eq!(p.nodes_with(&[8]), vec!["n2".to_string()]);
        assert!(p.nodes_with(&[7, 9]).is_empty());
        // Set offline, still connected: no offers, but its events still go there.
        p.heard("n3", vec![(9, Some(WirePresence::Offline))], false);
        assert_eq!(p.elsewhere(9), Some(Presence::Offline));
        assert_eq!(p.nodes_with(&[9]), vec!["n3".to_string()]);
    }
}
