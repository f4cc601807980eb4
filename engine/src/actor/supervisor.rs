//! Supervision shared by the conversation actors (chat sessions, team channels). actix
//! does not restart a panicked actor, so each actor runs its handlers through
//! [`Supervised::supervised`]: a panic is caught, the request that panicked gets an
//! `internal` error (its reply sender is dropped), the actor refuses new commands
//! (`overloaded`) until its in-flight writes have finished, and then rebuilds its state
//! from storage, which holds exactly what was acknowledged. More than `restarts_max` crashes
//! within `restart_window_ms` quarantine it instead (escalation): it refuses everything, and
//! its registry refuses the id until the server restarts.
//!
//! A failed durable write also makes the state suspect (it may hold what storage does not):
//! the actor marks it with [`Supervisor::reload_later`] and is rebuilt the same way, without
//! counting a crash.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::domain::restart::{Decision, RestartBudget};
use crate::{now_ms, EngineConfig, EngineError};

/// One actor's supervision state.
pub(crate) struct Supervisor {
    budget: RestartBudget,
    /// The state must be rebuilt from storage before the next command.
    needs_reload: bool,
    /// Escalated: refuse everything.
    quarantined: bool,
}

impl Supervisor {
    pub(crate) fn new(config: &EngineConfig) -> Supervisor {
        Supervisor {
            budget: RestartBudget::new(config.restarts_max, config.restart_window_ms),
            needs_reload: false,
            quarantined: false,
        }
    }

    /// The state is rebuilt from storage once the writes in flight have finished.
    pub(crate) fn reload_later(&mut self) {
        self.needs_reload = true;
    }

    /// The state is waiting to be rebuilt (do not apply durable results to it).
    pub(crate) fn needs_reload(&self) -> bool {
        self.needs_reload
    }
}

/// A conversation actor under supervision: what the shared policy needs from it.
pub(crate) trait Supervised: Sized {
    /// Its state, as rebuilt from storage.
    type State;
    /// What it is, for logs ("session", "channel").
    const KIND: &'static str;
    /// The `overloaded` reason while it rebuilds ("session is restarting").
    const RESTARTING: &'static str;

    fn id(&self) -> u64;
    fn supervisor(&mut self) -> &mut Supervisor;
    /// No durable write is in flight (a rebuild waits for them).
    fn writes_idle(&self) -> bool;
    /// Read its state from storage.
    fn load(&self) -> Result<Self::State, EngineError>;
    /// Take a state rebuilt from storage, forgetting what was in flight.
    fn restore(&mut self, state: Self::State);
    /// Tell its registry to refuse this id from now on.
    fn quarantine_in_registry(&self);
    /// The error for a command to a quarantined actor.
    fn unavailable(&self) -> EngineError;

    /// Whether a command may run now: `Err` with the answer when quarantined or restarting.
    fn admit(&mut self) -> Result<(), EngineError> {
        let supervisor = self.supervisor();
        if supervisor.quarantined {
            return Err(self.unavailable());
        }
        if supervisor.needs_reload {
            return Err(EngineError::Overloaded(Self::RESTARTING));
        }
        Ok(())
    }

    /// Run a handler's work; a panic is a crash (rebuild, or quarantine past the budget).
    /// Afterwards, rebuild if one is due and nothing is in flight.
    fn supervised(&mut self, work: impl FnOnce(&mut Self)) {
        if catch_unwind(AssertUnwindSafe(|| work(&mut *self))).is_err() {
            self.crashed();
        }
        self.reload_when_idle();
    }

    /// Count a crash and decide.
    fn crashed(&mut self) {
        metrics::counter!("switchboard_actor_restarts_total").increment(1);
        let (kind, id) = (Self::KIND, self.id());
        match self.supervisor().budget.on_crash(now_ms()) {
            Decision::Restart => {
                tracing::error!(kind, id, "{kind} actor panicked; rebuilding from storage");
                self.supervisor().needs_reload = true;
            }
            Decision::Escalate => {
                tracing::error!(kind, id, "{kind} actor crashed too often; quarantined");
                self.quarantine();
            }
        }
    }

    /// Refuse everything from now on. In-flight writes are still answered; the actor stays
    /// (answering `unavailable` to anything already queued for it) until its idle check
    /// stops it; the registry refuses new lookups at once.
    fn quarantine(&mut self) {
        self.supervisor().quarantined = true;
        self.quarantine_in_registry();
    }

    /// Rebuild from storage if due and no write is in flight; a failed rebuild quarantines.
    fn reload_when_idle(&mut self) {
        let due = {
            let supervisor = self.supervisor();
            !supervisor.quarantined && supervisor.needs_reload
        };
        if !due || !self.writes_idle() {
            return;
        }
        match self.load() {
            Ok(state) => {
                self.restore(state);
                self.supervisor().needs_reload = false;
            }
            Err(e) => {
                let (kind, id) = (Self::KIND, self.id());
                tracing::error!(kind, id, error = %e, "{kind} reload failed; quarantining");
                self.quarantine();
            }
        }
    }
}
