use super::*;

#[test]
fn times_are_utc_iso_8601() {
    let cases = [
        (0, "1970-01-01T00:00:00Z"),
        (999, "1970-01-01T00:00:00Z"),
        (951_782_400_000, "2000-02-29T00:00:00Z"),
        (1_709_210_096_000, "2024-02-29T12:34:56Z"),
        (1_798_761_599_000, "2026-12-31T23:59:59Z"),
        (4_102_444_800_000, "2100-01-01T00:00:00Z"),
    ];
    for (ms, expected) in cases {
        assert_eq!(time_utc(ms), expected, "{ms}");
    }
    assert_eq!(date_utc(1_709_210_096_000), "2024-02-29");
}

#[test]
fn subjects() {
    assert_eq!(default_subject(Some(" Ada "), 1_709_210_096_000), "Chat with Ada (2024-02-29)");
    assert_eq!(default_subject(None, 0), "Chat with Visitor (1970-01-01)");
    assert_eq!(default_subject(Some("  "), 0), "Chat with Visitor (1970-01-01)");
    let longest = "x".repeat(SUBJECT_BYTES_MAX);
    let too_long = "x".repeat(SUBJECT_BYTES_MAX + 1);
    let cases: Vec<(Option<&str>, Result<Option<&str>, TicketError>)> = vec![
        (None, Ok(None)),
        (Some("   "), Ok(None)),
        (Some(" Refund "), Ok(Some("Refund"))),
        (Some("two\nlines"), Err(TicketError::SubjectControlCharacter)),
        (Some(&longest), Ok(Some(&longest))),
        (Some(&too_long), Err(TicketError::SubjectTooLong)),
    ];
    for (given, expected) in cases {
        let expected = expected.map(|s| s.map(str::to_string));
        assert_eq!(check_subject(given.map(str::to_string)), expected, "{given:?}");
    }
}

#[test]
fn a_transcript_has_one_line_per_message_in_order() {
    let mut t = Transcript::new(DESCRIPTION_BYTES_MAX);
    assert!(t.push(1_709_210_096_000, "Ada", "hello"));
    assert!(t.push(1_709_210_100_000, "Bob", "two\nlines"));
    assert_eq!(
        t.finish(2, 7),
        "[2024-02-29T12:34:56Z] Ada: hello\n[2024-02-29T12:35:00Z] Bob: two\n    lines"
    );
    assert_eq!(Transcript::new(100).finish(0, 7), "(the chat has no messages)");
}

#[test]
fn a_long_transcript_is_cut_and_says_so() {
    let max = 1000;
    let mut t = Transcript::new(max);
    let mut added = 0;
    while t.push(0, "Ada", &"x".repeat(50)) {
        added += 1;
    }
    assert!(t.is_full());
    assert!(!t.push(0, "Ada", "short"), "nothing more once full");
    let text = t.finish(100, 7);
    assert!(text.len() <= max, "{}", text.len());
    assert_eq!(text.lines().count(), added + 1);
    let note = text.lines().last().unwrap();
    assert_eq!(
        note,
        format!(
            "[transcript truncated at 1000 bytes: {} later messages of 100 are not included; the whole chat is Switchboard session 7]",
            100 - added
        )
    );
}

#[test]
fn retries_back_off_exponentially_within_jitter_bounds_up_to_the_cap() {
    // (attempts, jitter, expected delay) with base 1000, cap 60000
    let cases = [
        (1, 0.0, 500),
        (1, 1.0, 1000),
        (2, 0.0, 1000),
        (2, 1.0, 2000),
        (3, 0.5, 3000),
        (7, 1.0, 60_000),
        (7, 0.0, 30_000),
        (200, 1.0, 60_000),
        (0, 1.0, 1000),
    ];
    for (attempts, jitter, expected) in cases {
        assert_eq!(retry_delay_ms(attempts, 1000, 60_000, jitter), expected, "{attempts} {jitter}");
    }
    for attempts in 1..100 {
        let d = retry_delay_ms(attempts, RETRY_BASE_MS_DEFAULT, RETRY_DELAY_MAX_MS, 0.7);
        assert!((1..=RETRY_DELAY_MAX_MS).contains(&d));
    }
    assert_eq!(retry_delay_ms(3, 0, 10, 1.0), 1, "never zero");
}

#[test]
fn a_channel_message_subject_is_its_first_line_within_the_limit() {
    assert_eq!(subject_from_message("ops", "\n  Printer on 3 is down  \nsee above"), "Printer on 3 is down");
    assert_eq!(subject_from_message("ops", "   "), "Message in #ops");
    let long = "é".repeat(SUBJECT_BYTES_MAX);
    let cut = subject_from_message("ops", &long);
    assert!(
        cut.len() <= SUBJECT_BYTES_MAX && cut.len() >= SUBJECT_BYTES_MAX - 1 && cut.chars().all(|c| c == 'é')
    );
    assert!(check_subject(Some(cut)).is_ok(), "a default subject passes the subject's own rules");
}
