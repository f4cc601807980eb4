use super::*;

fn ms(text: &str) -> u64 {
    text.parse::<Timestamp>().unwrap().as_millisecond() as u64
}

fn weekdays(zone: &str, open: &str, close: &str) -> Hours {
    let spans = (0..5)
        .map(|day| Span { day, open: parse_clock(open).unwrap(), close: parse_clock(close).unwrap() })
        .collect();
    Hours::new(zone, spans).unwrap()
}

#[test]
fn clocks_are_hh_mm_up_to_midnight() {
    assert_eq!(parse_clock("09:30"), Ok(570));
    assert_eq!(parse_clock("24:00"), Ok(1440));
    assert_eq!(parse_clock("00:00"), Ok(0));
    for bad in ["9:30", "24:01", "12:60", "ab:cd", "1230", "", "12:3０"] {
        assert!(matches!(parse_clock(bad), Err(HoursError::BadClock(_))), "{bad}");
    }
    assert_eq!(clock(570), "09:30");
}

#[test]
fn open_and_closed_follow_the_departments_own_zone() {
    let berlin = weekdays("Europe/Berlin", "09:00", "17:00");
    // Tuesday 2026-12-08: Berlin is UTC+1 in winter.
    assert!(!berlin.is_open(ms("2026-12-08T07:59:00Z")), "08:59 in Berlin");
    assert!(berlin.is_open(ms("2026-12-08T08:00:00Z")), "09:00 in Berlin");
    assert!(berlin.is_open(ms("2026-12-08T15:59:59Z")));
    assert!(!berlin.is_open(ms("2026-12-08T16:00:00Z")), "closes at 17:00 sharp");
    // In summer (UTC+2) the same local hours are an hour earlier in UTC.
    assert!(berlin.is_open(ms("2026-07-07T07:00:00Z")), "09:00 CEST");
    assert!(!berlin.is_open(ms("2026-07-07T15:00:00Z")), "17:00 CEST");
    // Saturday is closed.
    assert!(!berlin.is_open(ms("2026-12-12T12:00:00Z")));
    // The same instant in New York's hours: 03:00 there.
    let new_york = weekdays("America/New_York", "09:00", "17:00");
    assert!(!new_york.is_open(ms("2026-12-08T08:00:00Z")));
    assert!(new_york.is_open(ms("2026-12-08T14:00:00Z")));
}

#[test]
fn the_next_opening_is_found_across_the_weekend_and_daylight_saving() {
    let berlin = weekdays("Europe/Berlin", "09:00", "17:00");
    assert_eq!(berlin.next_open_ms(ms("2026-12-08T10:00:00Z")), None, "open now");
    assert_eq!(berlin.next_open_ms(ms("2026-12-08T06:00:00Z")), Some(ms("2026-12-08T08:00:00Z")));
    assert_eq!(berlin.next_open_ms(ms("2026-12-08T17:00:00Z")), Some(ms("2026-12-09T08:00:00Z")));
    // Friday evening → Monday morning.
    assert_eq!(berlin.next_open_ms(ms("2026-12-11T18:00:00Z")), Some(ms("2026-12-14T08:00:00Z")));
    // Summer time starts on Sunday 2027-03-28: Monday opens at 07:00 UTC, not 08:00.
    assert_eq!(berlin.next_open_ms(ms("2027-03-26T18:00:00Z")), Some(ms("2027-03-29T07:00:00Z")));
    // A department with no spans is closed with no next opening.
    let never = Hours::new("UTC", vec![]).unwrap();
    assert!(!never.is_open(ms("2026-12-08T10:00:00Z")));
    assert_eq!(never.next_open_ms(ms("2026-12-08T10:00:00Z")), None);
    // Only Sunday: found six days on.
    let sunday = Hours::new("UTC", vec![Span { day: 6, open: 600, close: 660 }]).unwrap();
    assert_eq!(sunday.next_open_ms(ms("2026-12-13T11:00:00Z")), Some(ms("2026-12-20T10:00:00Z")));
}

#[test]
fn an_overnight_shift_is_two_spans_and_24_00_ends_the_day() {
    let night = Hours::new(
        "UTC",
        vec![Span { day: 0, open: 22 * 60, close: DAY_MINUTES }, Span { day: 1, open: 0, close: 6 * 60 }],
    )
    .unwrap();
    assert!(night.is_open(ms("2026-12-07T23:59:00Z")), "Monday 23:59");
    assert!(night.is_open(ms("2026-12-08T00:00:00Z")), "Tuesday 00:00");
    assert!(!night.is_open(ms("2026-12-08T06:00:00Z")));
}

#[test]
fn bad_hours_are_refused_with_the_reason() {
    let span = |day, open, close| Span { day, open, close };
    assert!(matches!(Hours::new("Mars/Olympus", vec![]), Err(HoursError::UnknownTimeZone(_))));
    assert!(matches!(Hours::new("UTC", vec![span(0, 600, 600)]), Err(HoursError::Empty { .. })));
    assert_eq!(
        Hours::new("UTC", vec![span(2, 540, 720), span(2, 700, 900)]),
        Err(HoursError::Overlap("wed"))
    );
    assert_eq!(Hours::new("UTC", vec![span(0, 0, 60); SPANS_MAX + 1]), Err(HoursError::TooManySpans));
    // Unsorted input comes back sorted; touching spans do not overlap.
    let hours = Hours::new("UTC", vec![span(1, 780, 1020), span(1, 540, 780), span(0, 540, 1020)]).unwrap();
    assert_eq!(hours.spans, vec![span(0, 540, 1020), span(1, 540, 780), span(1, 780, 1020)]);
}
