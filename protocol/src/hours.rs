//! Business hours and messages left while nobody can chat: a department's opening hours as
//! the admin API takes and shows them ([`BusinessHours`]), what a visitor learns before
//! starting a chat (the `department_status` reply's fields) and the bounds of a message left
//! for a closed or unstaffed department (`leave_message`, which becomes a ticket).

use serde::{Deserialize, Deserializer, Serialize};

/// Most opening spans one department's week holds (four a day: a morning, an afternoon, an
/// evening and an overnight rest is already more than support centres publish).
pub const OPENING_SPANS_MAX: usize = 28;

/// Largest time-zone name, in bytes (the longest IANA name is 32).
pub const TIME_ZONE_BYTES_MAX: usize = 64;

/// Largest message left with `leave_message`, in bytes: a paragraph or two, like a chat
/// message.
pub const LEFT_MESSAGE_BYTES_MAX: usize = 4096;

/// Messages one connection may leave: a visitor who needs more writes in one; a script
/// filling the helpdesk with tickets has to reconnect, and meets the server's per-address
/// allowance (a burst of 10, then 20 an hour).
pub const LEFT_MESSAGES_PER_CONNECTION_MAX: u32 = 3;

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Monday first, as ISO 8601 counts.
    pub const ALL: [Weekday; 7] =
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

    /// 0 for Monday to 6 for Sunday.
    pub fn index(self) -> u8 {
        self as u8
    }
}

/// One span of a week when a department is open: on `day`, from `open` to `close`, local
/// time as `HH:MM` (24-hour; `close` may be `24:00`, the end of the day). A span never
/// crosses midnight: an overnight shift is two spans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningSpan {
    pub day: Weekday,
    pub open: String,
    pub close: String,
}

/// A department's opening hours: the weekly spans, in the department's IANA time zone
/// (`Europe/Berlin`), daylight saving included. A department without hours is always open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    pub time_zone: String,
    pub weekly: Vec<OpeningSpan>,
}

/// Deserialize a field that may be absent (outer `None`), `null` (`Some(None)`: clear it)
/// or a value (`Some(Some(v))`). Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
