//! The department directory: each department's name, routing settings and members, with
//! the address of its queue actor. Loaded at start; changed only through the admin API.

use std::collections::BTreeSet;

use actix::Addr;
use dashmap::DashMap;
use switchboard_storage::records::RECORD_VERSION;
use switchboard_storage::{DepartmentRecord, HoursRecord};

use super::queue_actor::QueueActor;
use crate::domain::hours::{Hours, Span};
use crate::domain::routing::RoutingConfig;
use crate::{AgentId, DepartmentId, SessionId};

/// A department as the engine and the admin API see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    pub config: RoutingConfig,
    pub agents: BTreeSet<AgentId>,
    pub created_at_ms: u64,
    /// Business hours; `None`: always open.
    pub hours: Option<Hours>,
}

impl Department {
    pub(crate) fn record(&self) -> DepartmentRecord {
        DepartmentRecord {
            v: RECORD_VERSION,
            id: self.id,
            name: self.name.clone(),
            automatic: self.config.automatic,
            auto_accept: self.config.auto_accept,
            offer_timeout_ms: self.config.offer_timeout_ms,
            ramp_max: self.config.ramp_max,
            ramp_window_ms: self.config.ramp_window_ms,
            requeue_on_offline: self.config.requeue_on_offline,
            agents: self.agents.iter().copied().collect(),
            created_at_ms: self.created_at_ms,
            hours: self.hours.as_ref().map(|h| HoursRecord {
                time_zone: h.time_zone.clone(),
                spans: h.spans.iter().map(|s| (s.day, s.open, s.close)).collect(),
            }),
        }
    }

    pub(crate) fn from_record(record: DepartmentRecord) -> Department {
        Department {
            id: record.id,
            name: record.name,
            config: RoutingConfig {
                automatic: record.automatic,
                auto_accept: record.auto_accept,
                offer_timeout_ms: record.offer_timeout_ms,
                ramp_max: record.ramp_max,
                ramp_window_ms: record.ramp_window_ms,
                requeue_on_offline: record.requeue_on_offline,
            },
            agents: record.agents.into_iter().collect(),
            created_at_ms: record.created_at_ms,
            // Hours were checked when set; a zone a later time-zone database dropped reads
            // as always open rather than failing the start.
            hours: record.hours.and_then(|h| {
                let spans = h.spans.into_iter().map(|(day, open, close)| Span { day, open, close }).collect();
                Hours::new(&h.time_zone, spans).ok()
            }),
        }
    }
}

struct Entry {
    department: Department,
    addr: Addr<QueueActor>,
}

/// Every department and its queue actor.
#[derive(Default)]
pub(crate) struct Departments {
    entries: DashMap<DepartmentId, Entry>,
    /// Which department's queue actor holds each pending transfer: claimed before a
    /// transfer is offered (so a session has at most one, whichever department it goes
    /// to), released when it ends.
    transfers: DashMap<SessionId, DepartmentId>,
}

impl Departments {
    pub(crate) fn insert(&self, department: Department, addr: Addr<QueueActor>) {
        self.entries.insert(department.id, Entry { department, addr });
    }

    /// Replace a department's description (its actor stays).
    pub(crate) fn update(&self, department: Department) {
        if let Some(mut entry) = self.entries.get_mut(&department.id) {
            entry.department = department;
        }
    }

    pub(crate) fn get(&self, id: DepartmentId) -> Option<Department> {
        self.entries.get(&id).map(|e| e.department.clone())
    }

    pub(crate) fn addr(&self, id: DepartmentId) -> Option<Addr<QueueActor>> {
        self.entries.get(&id).map(|e| e.addr.clone())
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<DepartmentId> {
        self.entries.iter().find(|e| e.department.name == name).map(|e| *e.key())
    }

    /// Every department, by id.
    pub(crate) fn list(&self) -> Vec<Department> {
        let mut all: Vec<Department> = self.entries.iter().map(|e| e.department.clone()).collect();
        all.sort_by_key(|d| d.id);
        all
    }

    /// The queue actors of the departments `agent` belongs to.
    pub(crate) fn of_agent(&self, agent: AgentId) -> Vec<Addr<QueueActor>> {
        self.entries.iter().filter(|e| e.department.agents.contains(&agent)).map(|e| e.addr.clone()).collect()
    }

    /// Claim `session`'s one pending transfer for department `holder`; false when a
    /// transfer of it is already pending.
    pub(crate) fn claim_transfer(&self, session: SessionId, holder: DepartmentId) -> bool {
        match self.transfers.entry(session) {
            dashmap::Entry::Occupied(_) => false,
            dashmap::Entry::Vacant(slot) => {
                slot.insert(holder);
                true
            }
        }
    }

    pub(crate) fn release_transfer(&self, session: SessionId) {
        self.transfers.remove(&session);
    }

    /// The department holding `session`'s pending transfer.
    pub(crate) fn transfer_holder(&self, session: SessionId) -> Option<DepartmentId> {
        self.transfers.get(&session).map(|h| *h)
    }

    /// The highest department id (0: none).
    pub(crate) fn max_id(&self) -> DepartmentId {
        self.entries.iter().map(|e| *e.key()).max().unwrap_or(0)
    }
}
