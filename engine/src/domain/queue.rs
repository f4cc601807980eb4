//! The chat queue every agent sees: WAITING sessions in queue order, ACTIVE sessions with
//! their agents, and the most recently CLOSED ones (bounded). It also keeps each agent's
//! read marker per listed session (for unread counts) and each agent's load (active chats
//! plus accepts in flight), so capacity checks and listings need no storage reads.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::types::*;

/// Listed sessions and per-agent counters.
#[derive(Debug)]
pub struct QueueView {
    waiting: BTreeMap<SessionId, SessionSnapshot>,
    active: BTreeMap<SessionId, SessionSnapshot>,
    closed: VecDeque<SessionSnapshot>,
    closed_max: usize,
    read: HashMap<(SessionId, AgentId), Seq>,
    active_load: HashMap<AgentId, u32>,
    reserved: HashMap<AgentId, u32>,
}

impl QueueView {
    /// An empty queue that lists at most `closed_max` closed sessions.
    pub fn new(closed_max: usize) -> QueueView {
        QueueView {
            waiting: BTreeMap::new(),
            active: BTreeMap::new(),
            closed: VecDeque::new(),
            closed_max,
            read: HashMap::new(),
            active_load: HashMap::new(),
            reserved: HashMap::new(),
        }
    }

    /// Insert or update a session, moving it to the list its state names.
    pub fn upsert(&mut self, snapshot: SessionSnapshot) {
        let id = snapshot.meta.id;
        if let Some(old) = self.active.remove(&id) {
            if let Some(agent) = old.meta.agent_id {
                decrement(&mut self.active_load, agent);
            }
        }
        self.waiting.remove(&id);
        match snapshot.meta.state {
            State::Waiting => {
                self.waiting.insert(id, snapshot);
            }
            State::Active => {
                if let Some(agent) = snapshot.meta.agent_id {
                    *self.active_load.entry(agent).or_default() += 1;
                }
                self.active.insert(id, snapshot);
            }
            State::Closed => {
                self.closed.retain(|s| s.meta.id != id);
                self.closed.push_front(snapshot);
                while self.closed.len() > self.closed_max {
                    if let Some(evicted) = self.closed.pop_back() {
                        self.read.retain(|(sid, _), _| *sid != evicted.meta.id);
                    }
                }
            }
        }
    }

    /// A listed session.
    pub fn get(&self, id: SessionId) -> Option<&SessionSnapshot> {
        self.waiting
            .get(&id)
            .or_else(|| self.active.get(&id))
            .or_else(|| self.closed.iter().find(|s| s.meta.id == id))
    }

    /// A new durable message: update the session's last seq; an agent's own message also
    /// marks the session read for that agent. Returns the updated snapshot when the session
    /// is waiting (every agent's unread badge changes) and `None` otherwise.
    pub fn on_message(&mut self, id: SessionId, seq: Seq, from: Participant) -> Option<SessionSnapshot> {
        if let Participant::Agent(agent) = from {
            self.mark_read(id, agent, seq);
        }
        if let Some(s) = self.active.get_mut(&id) {
            s.last_seq = s.last_seq.max(seq);
            return None;
        }
        let s = self.waiting.get_mut(&id)?;
        s.last_seq = s.last_seq.max(seq);
        Some(s.clone())
    }

    /// Advance `agent`'s read marker on `id` (never backwards).
    pub fn mark_read(&mut self, id: SessionId, agent: AgentId, seq: Seq) {
        let marker = self.read.entry((id, agent)).or_default();
        *marker = (*marker).max(seq);
    }

    /// `agent`'s read marker on `id` (0 when it has none).
    pub fn marker(&self, id: SessionId, agent: AgentId) -> Seq {
        self.read.get(&(id, agent)).copied().unwrap_or(0)
    }

    /// Unread messages of `id` for `agent`: newest seq minus the agent's read marker.
    pub fn unread(&self, snapshot: &SessionSnapshot, agent: AgentId) -> u64 {
        let read = self.read.get(&(snapshot.meta.id, agent)).copied().unwrap_or(0);
        snapshot.last_seq.saturating_sub(read)
    }

    /// The three lists: waiting oldest first, active oldest first, closed newest first.
    /// Waiting sessions in queue order (higher priority first, then the longest waiting),
    /// active ones by id, closed ones newest first.
    pub fn lists(&self) -> [Vec<&SessionSnapshot>; 3] {
        let mut waiting: Vec<&SessionSnapshot> = self.waiting.values().collect();
        waiting.sort_by_key(|s| (std::cmp::Reverse(s.meta.priority), s.meta.created_at_ms, s.meta.id));
        [waiting, self.active.values().collect(), self.closed.iter().collect()]
    }

    /// Reserve one chat slot for `agent` if its load is under `max`; pair with [`release`].
    ///
    /// [`release`]: QueueView::release
    pub fn try_reserve(&mut self, agent: AgentId, max: u32) -> bool {
        let load = self.active_load.get(&agent).copied().unwrap_or(0)
            + self.reserved.get(&agent).copied().unwrap_or(0);
        if load >= max {
            return false;
        }
        *self.reserved.entry(agent).or_default() += 1;
        true
    }

    /// `agent`'s load: active chats plus reserved slots.
    pub fn load(&self, agent: AgentId) -> u32 {
        self.active_load.get(&agent).copied().unwrap_or(0) + self.reserved.get(&agent).copied().unwrap_or(0)
    }

    /// How many active chats `agent` holds (reservations not counted).
    pub fn active_chats(&self, agent: AgentId) -> u32 {
        self.active_load.get(&agent).copied().unwrap_or(0)
    }

    /// The agents holding active chats, with how many each.
    pub fn active_loads(&self) -> impl Iterator<Item = (AgentId, u32)> + '_ {
        self.active_load.iter().map(|(a, n)| (*a, *n))
    }

    /// Every agent's load (active chats plus reservations), for agents with any.
    pub fn loads(&self) -> HashMap<AgentId, u32> {
        let mut loads = self.active_load.clone();
        for (agent, reserved) in &self.reserved {
            *loads.entry(*agent).or_default() += reserved;
        }
        loads
    }

    /// Give back a slot taken by [`QueueView::try_reserve`].
    pub fn release(&mut self, agent: AgentId) {
        decrement(&mut self.reserved, agent);
    }

    /// Number of waiting sessions.
    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    /// Number of active sessions.
    pub fn active_len(&self) -> usize {
        self.active.len()
    }
}

fn decrement(map: &mut HashMap<AgentId, u32>, agent: AgentId) {
    if let Some(n) = map.get_mut(&agent) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&agent);
        }
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
