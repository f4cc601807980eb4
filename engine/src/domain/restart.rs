//! Restart budget for supervised actors: at most `max_restarts` within `window_ms`; one more
//! escalates instead of restarting again, so a deterministic crash cannot loop forever.

use std::collections::VecDeque;

/// What to do after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Rebuild the actor's state from storage and go on.
    Restart,
    /// Too many restarts in the window: stop and quarantine.
    Escalate,
}

/// Sliding-window restart counter.
#[derive(Debug, Clone)]
pub struct RestartBudget {
    max_restarts: usize,
    window_ms: u64,
    recent: VecDeque<u64>,
}

impl RestartBudget {
    /// A budget of `max_restarts` per `window_ms`.
    pub fn new(max_restarts: usize, window_ms: u64) -> RestartBudget {
        RestartBudget { max_restarts, window_ms, recent: VecDeque::with_capacity(max_restarts + 1) }
    }

    /// Record a crash at `now_ms` and decide.
    pub fn on_crash(&mut self, now_ms: u64) -> Decision {
        while let Some(&oldest) = self.recent.front() {
            if now_ms.saturating_sub(oldest) >= self.window_ms {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= self.max_restarts {
            return Decision::Escalate;
        }
        self.recent.push_back(now_ms);
        Decision::Restart
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalates_after_budget_and_recovers_after_window() {
        let mut budget = RestartBudget::new(2, 1000);
        // (crash time, expected decision)
        let script = [
            (0, Decision::Restart),
            (10, Decision::Restart),
            (20, Decision::Escalate),
            (1005, Decision::Restart),
            (1011, Decision::Restart),
            (1012, Decision::Escalate),
        ];
        for (now, expected) in script {
            assert_eq!(budget.on_crash(now), expected, "at {now}");
        }
    }
}
