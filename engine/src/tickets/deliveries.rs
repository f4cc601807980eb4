//! The helpdesk webhook's durable outbox, as the engine offers it to the deliverer (the
//! gateway's `webhook` task, which owns the HTTP client: the engine names none).
//!
//! A ticket's delivery is queued in the ticket's own batch (`ticket_outbox`, keyed by when
//! it is due), so a ticket that exists is delivered or still queued, whatever crashes. The
//! deliverer asks for the due ones ([`Engine::ticket_deliveries_due`]), POSTs them, and
//! reports each outcome: a success removes the entry ([`Engine::ticket_delivered`]); a
//! failure moves it to its next attempt ([`Engine::ticket_delivery_failed`], with the delay
//! of [`crate::domain::ticket::retry_delay_ms`]). Nothing is ever dropped: a helpdesk that
//! is down only delays its tickets. A crash between a successful POST and the removal
//! sends that ticket again after the restart: delivery is at least once, and the receiver
//! drops repeats by the idempotency key.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use switchboard_storage::{Batch, OutboxRecord, Storage};
use tokio::sync::Notify;

use crate::domain::ticket::{self, Ticket, TicketId};
use crate::{now_ms, Engine, EngineError};

/// Longest `last_error` kept with an entry: enough for a status line or an I/O error.
pub const LAST_ERROR_BYTES_MAX: usize = 512;

/// The outbox's live state.
#[derive(Default)]
pub(crate) struct OutboxState {
    /// Entries in `ticket_outbox` (the pending gauge).
    pending: AtomicU64,
    /// Woken when a ticket is queued, so the deliverer need not poll.
    wake: Notify,
}

impl OutboxState {
    pub(crate) fn load(&self, storage: &Storage) -> Result<(), EngineError> {
        self.pending.store(storage.deliveries_pending()?, Ordering::Relaxed);
        self.publish();
        Ok(())
    }

    pub(crate) fn queued(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.publish();
        self.wake.notify_one();
    }

    fn removed(&self) {
        let _ = self.pending.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.publish();
    }

    fn publish(&self) {
        metrics::gauge!("switchboard_ticket_webhook_pending")
            .set(self.pending.load(Ordering::Relaxed) as f64);
    }
}

/// A ticket due for delivery.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub ticket: Ticket,
    /// Attempts already made (0: this is the first).
    pub attempts: u32,
    /// When it was due: its place in the outbox.
    due_at_ms: u64,
}

/// What the deliverer learns from one look at the outbox.
#[derive(Debug, Default)]
pub struct DueDeliveries {
    /// Due now, soonest first, none of those the deliverer holds.
    pub due: Vec<PendingDelivery>,
    /// When the next entry it does not hold falls due, if any is left.
    pub next_due_at_ms: Option<u64>,
}

impl Engine {
    /// Up to `limit` deliveries due by `now_ms`, skipping the tickets in `in_flight` (the
    /// deliverer's own attempts, still running), and when the next one falls due.
    pub async fn ticket_deliveries_due(
        &self,
        now_ms: u64,
        in_flight: &HashSet<TicketId>,
        limit: usize,
    ) -> Result<DueDeliveries, EngineError> {
        let skip = in_flight.clone();
        let (out, lost) = self
            .hub
            .read(move |s| {
                // Held entries come first (they were due first): read past them, plus one to
                // learn the next due time. Only the due ones' tickets are read.
                let entries = s.deliveries(skip.len() + limit + 1)?;
                let mut out = DueDeliveries::default();
                let mut lost = Vec::new();
                for (due, entry) in entries.into_iter().filter(|(_, e)| !skip.contains(&e.ticket_id)) {
                    if due > now_ms || out.due.len() >= limit {
                        out.next_due_at_ms = Some(due);
                        break;
                    }
                    match s.ticket(entry.ticket_id)? {
                        Some(record) => {
                            let ticket = super::ticket_from(record);
                            out.due.push(PendingDelivery {
                                ticket,
                                attempts: entry.attempts,
                                due_at_ms: due,
                            });
                        }
                        None => lost.push((due, entry.ticket_id)),
                    }
                }
                Ok((out, lost))
            })
            .await?;
        self.drop_lost(lost).await?;
        Ok(out)
    }

    /// The helpdesk took it: remove its outbox entry.
    pub async fn ticket_delivered(&self, delivery: &PendingDelivery) -> Result<(), EngineError> {
        let mut batch = Batch::new();
        batch.delete_delivery(delivery.due_at_ms, delivery.ticket.id);
        self.write(batch).await?;
        self.hub.tickets.outbox.removed();
        Ok(())
    }

    /// The attempt failed with `error`: schedule the next one (backing off, with jitter)
    /// and return when it is due.
    pub async fn ticket_delivery_failed(
        &self,
        delivery: &PendingDelivery,
        error: &str,
    ) -> Result<u64, EngineError> {
        let config = &self.hub.config;
        let attempts = delivery.attempts.saturating_add(1);
        let jitter = rand::thread_rng().gen_range(0.0..=1.0);
        let delay =
            ticket::retry_delay_ms(attempts, config.ticket_retry_base_ms, config.ticket_retry_max_ms, jitter);
        let next = now_ms().max(delivery.due_at_ms) + delay;
        let entry = OutboxRecord {
            v: switchboard_storage::records::RECORD_VERSION,
            ticket_id: delivery.ticket.id,
            attempts,
            last_error: Some(bounded(error)),
            queued_at_ms: delivery.ticket.created_at_ms,
        };
        let mut batch = Batch::new();
        batch.reschedule_delivery(delivery.due_at_ms, next, &entry);
        self.write(batch).await?;
        Ok(next)
    }

    /// Wait until a new ticket is queued for delivery (returns at once if one was queued
    /// since the last wait).
    pub async fn ticket_queued(&self) {
        self.hub.tickets.outbox.wake.notified().await;
    }

    /// Deliveries waiting in the outbox.
    pub fn ticket_deliveries_pending(&self) -> u64 {
        self.hub.tickets.outbox.pending.load(Ordering::Relaxed)
    }

    /// Entries whose ticket is missing cannot be written by this code; remove them, loudly,
    /// rather than retry them for ever.
    async fn drop_lost(&self, lost: Vec<(u64, TicketId)>) -> Result<(), EngineError> {
        if lost.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        for (due, id) in &lost {
            tracing::error!(target: "ticket", ticket = id, "outbox entry without its ticket: removed");
            batch.delete_delivery(*due, *id);
        }
        self.write(batch).await?;
        for _ in &lost {
            self.hub.tickets.outbox.removed();
        }
        Ok(())
    }
}

/// `error` cut to [`LAST_ERROR_BYTES_MAX`] on a character boundary.
fn bounded(error: &str) -> String {
    let mut end = error.len().min(LAST_ERROR_BYTES_MAX);
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    error[..end].to_string()
}
