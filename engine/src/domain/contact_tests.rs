use super::*;

fn draft(name: &str) -> ContactDraft {
    ContactDraft { name: name.into(), ..ContactDraft::default() }
}

#[test]
fn fields_are_trimmed_and_blank_optionals_are_absent() {
    let fields = validate(ContactDraft {
        name: "  Ada Lovelace ".into(),
        email: Some(" Ada@Example.com ".into()),
        phone: Some("+44 20 7946-0000".into()),
        company: Some("   ".into()),
        notes: Some("line one\nline two".into()),
    })
    .unwrap();
    assert_eq!(fields.name, "Ada Lovelace");
    assert_eq!(fields.email.as_deref(), Some("Ada@Example.com"));
    assert_eq!(fields.phone.as_deref(), Some("+44 20 7946-0000"));
    assert_eq!(fields.company, None);
    assert_eq!(fields.notes.as_deref(), Some("line one\nline two"));
}

#[test]
fn each_bad_field_is_named() {
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(ContactDraft, &str)> = vec![
        (draft(""), "`name` must be 1 to 128 bytes"),
        (draft("  "), "`name` must be 1 to 128 bytes"),
        (draft(&long(129)), "`name` must be 1 to 128 bytes"),
        (draft("A\u{7}da"), "`name` must not hold control characters"),
        (ContactDraft { email: Some("ada".into()), ..draft("A") }, "`email` is not an email address"),
        (
            ContactDraft { email: Some(format!("{}@e.com", long(250))), ..draft("A") },
            "`email` must be 1 to 254 bytes",
        ),
        (
            ContactDraft { phone: Some("12".into()), ..draft("A") },
            "`phone` must be 3 to 20 digits, with only spaces and + - ( ) . between them",
        ),
        (
            ContactDraft { phone: Some("call me".into()), ..draft("A") },
            "`phone` must be 3 to 20 digits, with only spaces and + - ( ) . between them",
        ),
        (ContactDraft { company: Some(long(129)), ..draft("A") }, "`company` must be 1 to 128 bytes"),
        (ContactDraft { notes: Some(long(2049)), ..draft("A") }, "`notes` must be 1 to 2048 bytes"),
        (
            ContactDraft { notes: Some("a\u{0}b".into()), ..draft("A") },
            "`notes` must not hold control characters",
        ),
    ];
    for (draft, message) in cases {
        assert_eq!(validate(draft.clone()).unwrap_err().to_string(), message, "{draft:?}");
    }
}

#[test]
fn emails() {
    let good = ["a@b.co", "ada.lovelace+chat@example.co.uk", "zoë@exämple.de", "x_y@a-b.io"];
    let bad = [
        "",
        "a",
        "@b.co",
        "a@",
        "a@b",
        "a@b..co",
        "a b@c.de",
        "a@b@c.de",
        "a@-b.co",
        "a@b-.co",
        ".a@b.co",
        "a..b@c.de",
        "<a>@b.co",
    ];
    for email in good {
        assert!(is_email(email), "{email}");
    }
    for email in bad {
        assert!(!is_email(email), "{email}");
    }
}

#[test]
fn changes_apply_only_what_they_name() {
    let fields =
        validate(ContactDraft { email: Some("a@b.co".into()), company: Some("Acme".into()), ..draft("Ada") })
            .unwrap();
    let changed = apply(
        fields.clone(),
        ContactChanges { name: Some(" Ada K ".into()), company: Some(None), ..ContactChanges::default() },
    )
    .unwrap();
    assert_eq!(changed, ContactFields { name: "Ada K".into(), company: None, ..fields.clone() });
    assert_eq!(apply(fields.clone(), ContactChanges::default()).unwrap(), fields);
    let refused =
        apply(fields, ContactChanges { email: Some(Some("nope".into())), ..ContactChanges::default() });
    assert_eq!(refused.unwrap_err(), ContactError::NotAnEmail);
}
