//! Business hours without I/O: a department's weekly opening spans in its IANA time zone
//! (daylight saving included, from the time-zone database built into the binary), whether
//! it is open at an instant, and when it opens next. The clock comes in as `now_ms`.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Minutes in a day: a span's `close` may be this (`24:00`).
pub const DAY_MINUTES: u16 = 24 * 60;

/// Most spans a week holds (the protocol's bound).
pub const SPANS_MAX: usize = switchboard_protocol::hours::OPENING_SPANS_MAX;

/// One opening span: on `day` (0 = Monday … 6 = Sunday), from `open` to `close`, in
/// minutes after local midnight, `open < close <= 24:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub day: u8,
    pub open: u16,
    pub close: u16,
}

/// A department's opening hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    /// An IANA name the built-in database knows (`Europe/Berlin`, `UTC`).
    pub time_zone: String,
    /// Sorted by day, then opening; none overlap.
    pub spans: Vec<Span>,
}

/// Why hours were refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("`time_zone` {0:?} is not a time zone (use an IANA name such as Europe/Berlin)")]
    UnknownTimeZone(String),
    #[error("`weekly` holds at most {SPANS_MAX} spans")]
    TooManySpans,
    #[error("{0:?} is not a time of day (use HH:MM, 00:00 to 24:00)")]
    BadClock(String),
    #[error("a span must close after it opens ({day} {open}–{close})")]
    Empty { day: &'static str, open: String, close: String },
    #[error("spans overlap on {0}")]
    Overlap(&'static str),
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `HH:MM` (24-hour, `24:00` allowed) as minutes after midnight.
pub fn parse_clock(text: &str) -> Result<u16, HoursError> {
    let bad = || HoursError::BadClock(text.chars().take(16).collect());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h * 60 + m > DAY_MINUTES {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Minutes after midnight as `HH:MM`.
pub fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The name of day `day` (0 = Monday), as the protocol spells it.
pub fn day_name(day: u8) -> &'static str {
    DAY_NAMES[usize::from(day) % 7]
}

impl Hours {
    /// Check and normalise hours: the zone must exist, each span close after it opens,
    /// spans of a day must not overlap.
    pub fn new(time_zone: &str, spans: Vec<Span>) -> Result<Hours, HoursError> {
        if time_zone.len() > switchboard_protocol::hours::TIME_ZONE_BYTES_MAX
            || TimeZone::get(time_zone).is_err()
        {
            return Err(HoursError::UnknownTimeZone(time_zone.chars().take(64).collect()));
        }
        if spans.len() > SPANS_MAX {
            return Err(HoursError::TooManySpans);
        }
        let mut spans = spans;
        spans.sort();
        for span in &spans {
            if span.open >= span.close || span.close > DAY_MINUTES || span.day > 6 {
                return Err(HoursError::Empty {
                    day: day_name(span.day),
                    open: clock(span.open),
                    close: clock(span.close),
                });
            }
        }
        if let Some(pair) = spans.windows(2).find(|w| w[0].day == w[1].day && w[1].open < w[0].close) {
            return Err(HoursError::Overlap(day_name(pair[0].day)));
        }
        Ok(Hours { time_zone: time_zone.to_string(), spans })
    }

    fn zone(&self) -> TimeZone {
        // Checked in `new` (and again when hours are loaded, which drops hours whose zone is
        // gone); UTC only keeps this total.
        TimeZone::get(&self.time_zone).unwrap_or(TimeZone::UTC)
    }

    /// Whether the department is open at `now_ms`.
    pub fn is_open(&self, now_ms: u64) -> bool {
        let Ok(now) = Timestamp::from_millisecond(now_ms as i64) else { return false };
        let local = now.to_zoned(self.zone());
        let day = local.weekday().to_monday_zero_offset() as u8;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        self.spans.iter().any(|s| s.day == day && s.open <= minute && minute < s.close)
    }

    /// When the department opens next after `now_ms` (`None` while open, or when it has
    /// no spans at all).
    pub fn next_open_ms(&self, now_ms: u64) -> Option<u64> {
        if self.is_open(now_ms) || self.spans.is_empty() {
            return None;
        }
        let zone = self.zone();
        let now = Timestamp::from_millisecond(now_ms as i64).ok()?;
        let today: Date = now.to_zoned(zone.clone()).date();
        // A week and a day covers every span's next occurrence, whatever today is.
        for offset in 0..=7i64 {
            let date = today.checked_add(jiff::Span::new().days(offset)).ok()?;
            let day = date.weekday().to_monday_zero_offset() as u8;
            for span in self.spans.iter().filter(|s| s.day == day) {
                let at = date.at((span.open / 60) as i8, (span.open % 60) as i8, 0, 0);
                let Ok(opens) = at.to_zoned(zone.clone()) else { continue };
                let opens_ms = opens.timestamp().as_millisecond();
                if opens_ms > now_ms as i64 {
                    return Some(opens_ms as u64);
                }
            }
        }
        None
    }
}

#[cfg(test)]
#[path = "hours_tests.rs"]
mod tests;
