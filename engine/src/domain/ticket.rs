//! Tickets without I/O: what a ticket is, how a chat's transcript becomes its description
//! (one line per message, bounded, truncation said in the text), the default subject, the
//! subject's rules, and the webhook's retry schedule as a function of the attempts made.
//! Reading the transcript, writing the ticket and delivering it are
//! [`crate::tickets`]'s business; the clock and the randomness come in as arguments.

use crate::domain::types::{AgentId, ContactId, SessionId};

/// Server-assigned ticket id.
pub type TicketId = u64;

/// Largest ticket description (the transcript), in bytes. A long chat of ordinary
/// messages (10,000 lines of about 100 bytes) fits whole; a session's worst case (10,000
/// messages of 4 KiB, 40 MB) would not fit the bodies helpdesks accept (commonly 1 to 10 MB)
/// nor belong in one `ticket` frame, so the transcript is cut and the cut said in the text.
pub const DESCRIPTION_BYTES_MAX: usize = 1024 * 1024;

/// Room kept at the end of a description for the truncation note.
const TRUNCATION_NOTE_BYTES: usize = 256;

/// Largest subject, in bytes (the protocol's `TICKET_SUBJECT_BYTES_MAX`).
pub const SUBJECT_BYTES_MAX: usize = switchboard_protocol::tickets::TICKET_SUBJECT_BYTES_MAX;

/// The first retry's delay, by default: long enough for a helpdesk's blip to pass.
pub const RETRY_BASE_MS_DEFAULT: u64 = 2_000;

/// The longest delay between two attempts: a helpdesk down for a day is tried every hour,
/// and a fixed one sees its tickets within the hour.
pub const RETRY_DELAY_MAX_MS: u64 = 60 * 60 * 1000;

/// Where a ticket came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketSource {
    /// A chat session, with its whole transcript.
    Session(SessionId),
    /// One message of a team channel (`/ticket <seq>` there), with those after it.
    ChannelMessage { channel_id: u64, seq: u64 },
    /// A message a visitor left for a department that was closed or had nobody online.
    LeftMessage { department_id: u64 },
}

/// A helpdesk ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: TicketId,
    pub subject: String,
    pub requester_name: Option<String>,
    pub requester_email: Option<String>,
    /// The transcript, at most [`DESCRIPTION_BYTES_MAX`] bytes.
    pub description: String,
    pub source: TicketSource,
    /// The agent who asked; `None` for the administrator API.
    pub created_by: Option<AgentId>,
    pub created_at_ms: u64,
    pub contact_id: Option<ContactId>,
}

/// Why a ticket request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The subject is too long.
    #[error("`subject` must be at most {SUBJECT_BYTES_MAX} bytes")]
    SubjectTooLong,
    /// The subject holds a control character (a line break, say).
    #[error("`subject` must not hold control characters")]
    SubjectControlCharacter,
}

/// The subject as given, trimmed; `None` (use the default) when absent or blank.
pub fn check_subject(subject: Option<String>) -> Result<Option<String>, TicketError> {
    let Some(subject) = subject.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if subject.len() > SUBJECT_BYTES_MAX {
        return Err(TicketError::SubjectTooLong);
    }
    if subject.chars().any(char::is_control) {
        return Err(TicketError::SubjectControlCharacter);
    }
    Ok(Some(subject))
}

/// `Chat with {visitor name} ({date of the chat, UTC})`.
pub fn default_subject(visitor_name: Option<&str>, chat_started_at_ms: u64) -> String {
    let name = visitor_name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("Visitor");
    format!("Chat with {name} ({})", date_utc(chat_started_at_ms))
}

/// The subject of a ticket made from a message left while nobody could chat.
pub fn left_message_subject(name: &str, left_at_ms: u64) -> String {
    let name: String = name.trim().chars().take(128).collect();
    format!("Message from {name} ({})", date_utc(left_at_ms))
}

/// Messages after the referenced one that a ticket from a channel message includes, for
/// context (the replies that usually explain it).
pub const CHANNEL_CONTEXT_MESSAGES: usize = 20;

/// The default subject of a ticket made from a channel message: its first line, cut to
/// the subject limit at a character boundary (`Message in #name` when it has no text).
pub fn subject_from_message(channel_name: &str, text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if line.is_empty() {
        return format!("Message in #{channel_name}");
    }
    let clean: String = line.chars().filter(|c| !c.is_control()).collect();
    let mut end = clean.len().min(SUBJECT_BYTES_MAX);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean[..end].to_string()
}

/// A transcript being written, line by line, within [`DESCRIPTION_BYTES_MAX`].
#[derive(Debug)]
pub struct Transcript {
    text: String,
    lines: u64,
    budget: usize,
    full: bool,
}

impl Transcript {
    /// An empty transcript of at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Transcript {
        Transcript { text: String::new(), lines: 0, budget: max_bytes, full: false }
    }

    /// Add one message's line: `[time] sender: text`, the text's further lines indented.
    /// False (and nothing added, now or later) once a line no longer fits.
    pub fn push(&mut self, sent_at_ms: u64, sender: &str, text: &str) -> bool {
        if self.full {
            return false;
        }
        let body = text.replace('\n', "\n    ");
        let line = format!("[{}] {sender}: {body}\n", time_utc(sent_at_ms));
        if self.text.len() + line.len() + TRUNCATION_NOTE_BYTES > self.budget {
            self.full = true;
            return false;
        }
        self.text.push_str(&line);
        self.lines += 1;
        true
    }

    /// True once a line did not fit: the rest need not be read.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// The description: the lines, and when some of the `total` messages were left out, a
    /// last line saying how many and where the whole chat is.
    pub fn finish(self, total: u64, session: SessionId) -> String {
        if self.lines == 0 && total == 0 {
            return "(the chat has no messages)".to_string();
        }
        self.finish_as(total, &format!("the whole chat is Switchboard session {session}"))
    }

    /// As [`Transcript::finish`], the truncation note saying `whole` (where the rest is).
    pub fn finish_as(mut self, total: u64, whole: &str) -> String {
        let omitted = total.saturating_sub(self.lines);
        if omitted > 0 {
            let note = format!(
                "[transcript truncated at {} bytes: {omitted} later messages of {total} are not included; {whole}]",
                self.budget
            );
            self.text.push_str(&note);
        } else if self.text.ends_with('\n') {
            self.text.pop();
        }
        self.text
    }
}

/// How long to wait before the next attempt after `attempts` failed ones (at least 1):
/// `base_ms` doubled per failure, capped at `cap_ms`, then a random point in its upper half
/// (`jitter` in 0..=1), so tickets that failed together do not retry together.
pub fn retry_delay_ms(attempts: u32, base_ms: u64, cap_ms: u64, jitter: f64) -> u64 {
    let doublings = attempts.saturating_sub(1).min(40);
    let delay = base_ms.saturating_mul(1u64 << doublings).min(cap_ms).max(1);
    let half = delay / 2;
    delay - half + ((half as f64) * jitter.clamp(0.0, 1.0)) as u64
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time in milliseconds.
pub fn time_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// `YYYY-MM-DD` of a Unix time in milliseconds.
pub fn date_utc(ms: u64) -> String {
    let (y, m, d) = civil_from_days((ms / 1000 / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[path = "ticket_tests.rs"]
mod tests;
