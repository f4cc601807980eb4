//! The helpdesk webhook deliverer (docs/TICKETS.md): a task that takes due tickets from the
//! engine's durable outbox, POSTs each as JSON to the configured URL, signed, and reports
//! the outcome back (a 2xx removes the entry; anything else schedules a retry with backoff).
//!
//! Bounded: at most [`WebhookConfig::concurrency`] requests at once, each cut off after
//! [`WebhookConfig::timeout_ms`], so a helpdesk that hangs holds a few slots for a while,
//! never the deliverer; the other tickets go out through the free slots. Every failure is
//! retried, whatever its status: a 4xx from a helpdesk is nearly always a configuration
//! mistake on one side (a wrong secret, path or API key) that people fix, and a ticket
//! dropped on it would be lost for good. After a restart the outbox is still there, so
//! delivery resumes; a POST whose success was not yet recorded when the process died is
//! sent again, with the same `Idempotency-Key`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchboard_engine::domain::ticket::TicketId;
use switchboard_engine::tickets::deliveries::PendingDelivery;
use switchboard_engine::{now_ms, Engine};
use switchboard_protocol::tickets::TicketWebhook;
use tokio::task::JoinSet;

use crate::convert::ticket_info;

/// The request's signature: `sha256=` and the hex HMAC-SHA256 of the body under the secret.
pub const SIGNATURE_HEADER: &str = "X-Switchboard-Signature";
/// `ticket-{id}`, the same on every attempt: the receiver drops repeats by it.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The attempt's time, Unix seconds (receivers may refuse old ones).
pub const TIMESTAMP_HEADER: &str = "X-Switchboard-Timestamp";
/// Which attempt this is, from 1.
pub const ATTEMPT_HEADER: &str = "X-Switchboard-Attempt";

/// A request's default time limit: a helpdesk answers in well under a second; one that
/// takes ten is down for practical purposes, and its slot is needed by other tickets.
pub const TIMEOUT_MS_DEFAULT: u64 = 10_000;

/// Requests at once, by default: a helpdesk is one service; a few parallel requests drain
/// a backlog quickly without looking like an attack.
pub const CONCURRENCY_DEFAULT: usize = 4;

/// The longest the deliverer sleeps without looking at the outbox: a safety net under the
/// wake-ups (a new ticket, a finished attempt, the next due time).
const IDLE_LOOK_MS: u64 = 30_000;

/// The wait before looking again after the outbox could not be read.
const STORAGE_RETRY_MS: u64 = 1_000;

/// The results counted in `switchboard_ticket_webhook_deliveries_total{result}`.
pub const RESULTS: &[&str] = &["delivered", "http_error", "timeout", "unreachable"];

/// Where and how tickets are delivered.
#[derive(Clone)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL the tickets are POSTed to.
    pub url: String,
    /// The HMAC key of the signature header (never logged).
    pub secret: String,
    /// Per-request time limit (connect, send, response headers).
    pub timeout_ms: u64,
    /// Requests at once.
    pub concurrency: usize,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("timeout_ms", &self.timeout_ms)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// The hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The idempotency key of a ticket's delivery.
pub fn idempotency_key(ticket: TicketId) -> String {
    format!("ticket-{ticket}")
}

/// Deliver tickets until the process ends.
pub async fn run(engine: Engine, config: WebhookConfig) {
    let timeout = Duration::from_millis(config.timeout_ms);
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            return tracing::error!(error = %e, "ticket webhook: cannot build the HTTP client; no deliveries")
        }
    };
    tracing::info!(url = %config.url, pending = engine.ticket_deliveries_pending(), "ticket webhook: delivering");
    let mut tasks = JoinSet::new();
    let mut held: HashMap<tokio::task::Id, TicketId> = HashMap::new();
    loop {
        let in_flight: HashSet<TicketId> = held.values().copied().collect();
        let free = config.concurrency.saturating_sub(in_flight.len());
        let mut next_due = None;
        if free > 0 {
            match engine.ticket_deliveries_due(now_ms(), &in_flight, free).await {
                Ok(found) => {
                    for delivery in found.due {
                        let id = delivery.ticket.id;
                        let task =
                            tasks.spawn(attempt(engine.clone(), client.clone(), config.clone(), delivery));
                        held.insert(task.id(), id);
                    }
                    next_due = found.next_due_at_ms;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ticket webhook: reading the outbox failed; retrying");
                    next_due = Some(now_ms() + STORAGE_RETRY_MS);
                }
            }
        }
        let wait = next_due.map_or(IDLE_LOOK_MS, |at| at.saturating_sub(now_ms())).min(IDLE_LOOK_MS);
        tokio::select! {
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!(error = %e, "ticket webhook: an attempt failed unexpectedly");
                        e.id()
                    }
                };
                held.remove(&id);
            }
            () = engine.ticket_queued() => {}
            () = tokio::time::sleep(Duration::from_millis(wait)) => {}
        }
    }
}

/// One attempt at one ticket, and its outcome recorded.
async fn attempt(engine: Engine, client: reqwest::Client, config: WebhookConfig, delivery: PendingDelivery) {
    let id = delivery.ticket.id;
    let number = delivery.attempts + 1;
    let body = TicketWebhook {
        event: "ticket.created".into(),
        idempotency_key: idempotency_key(id),
        ticket: ticket_info(&delivery.ticket),
    };
    let body = serde_json::to_vec(&body).expect("plain data serializes");
    let sent = client
        .post(&config.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, format!("sha256={}", signature(&config.secret, &body)))
        .header(IDEMPOTENCY_HEADER, idempotency_key(id))
        .header(TIMESTAMP_HEADER, (now_ms() / 1000).to_string())
        .header(ATTEMPT_HEADER, number.to_string())
        .body(body)
        .send()
        .await;
    let failure = match sent {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(("http_error", format!("HTTP {}", response.status()))),
        Err(e) if e.is_timeout() => Some(("timeout", format!("no answer within {} ms", config.timeout_ms))),
        Err(e) => Some(("unreachable", chain(&e.without_url()))),
    };
    let result = failure.as_ref().map_or("delivered", |(result, _)| result);
    metrics::counter!("switchboard_ticket_webhook_deliveries_total", "result" => result).increment(1);
    match failure {
        None => match engine.ticket_delivered(&delivery).await {
            Ok(()) => {
                tracing::info!(target: "ticket", ticket = id, attempt = number, "ticket delivered to the webhook")
            }
            // The entry stays: the ticket is sent again later (the receiver drops the repeat).
            Err(e) => {
                tracing::warn!(target: "ticket", ticket = id, error = %e, "delivered, but not recorded")
            }
        },
        Some((_, error)) => match engine.ticket_delivery_failed(&delivery, &error).await {
            Ok(next) => tracing::warn!(
                target: "ticket",
                ticket = id,
                attempt = number,
                error = %error,
                retry_in_ms = next.saturating_sub(now_ms()),
                "ticket webhook attempt failed; will retry"
            ),
            // The entry stays where it was: it is due again at once.
            Err(e) => tracing::warn!(target: "ticket", ticket = id, error = %e, "retry not recorded"),
        },
    }
}

/// An error and its causes, `: `-separated (reqwest's own message says little).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(idempotency_key(7), "ticket-7");
    }

    #[test]
    fn the_secret_is_never_printed() {
        let config = WebhookConfig {
            url: "https://helpdesk.example/hook".into(),
            secret: "s3cret".into(),
            timeout_ms: 1,
            concurrency: 1,
        };
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
