use super::*;

fn message() -> MessageRecord {
    MessageRecord {
        v: 1,
        from: StoredSender::Agent,
        agent_id: Some(2),
        client_msg_id: "m1".into(),
        text: "hi".into(),
        sent_at_ms: 1000,
    }
}

fn session() -> SessionRecord {
    SessionRecord {
        v: 1,
        id: 7,
        state: StoredState::Waiting,
        visitor_name: Some("Ada".into()),
        visitor_email: None,
        page_url: None,
        token_sha256: "ab".into(),
        agent_id: None,
        created_at_ms: 5,
        accepted_at_ms: None,
        closed_at_ms: None,
        department_id: Some(1),
        priority: 0,
        contact_id: Some(4),
    }
}

fn contact() -> ContactRecord {
    ContactRecord {
        v: 1,
        id: 2,
        name: "Ada".into(),
        email: Some("a@b.c".into()),
        phone: None,
        company: None,
        notes: None,
        created_at_ms: 5,
        updated_at_ms: 6,
    }
}

fn agent() -> AgentRecord {
    AgentRecord {
        v: 1,
        id: 3,
        display_name: "Bob".into(),
        max_concurrent_chats: 4,
        token_sha256: "cd".into(),
        created_at_ms: 9,
        disabled: false,
        email: None,
        password_phc: None,
        password_temporary: false,
        admin: false,
    }
}

#[test]
fn message_golden_bytes() {
    // array of 6: 1, "Agent", 2, "m1", "hi", 1000
    assert_eq!(hex::encode(message().encode()), "9601a54167656e7402a26d31a26869cd03e8");
}

#[test]
fn session_golden_bytes() {
    let expected = concat!(
        "8b",
        "a176",
        "01",
        "a26964",
        "07",
        "a57374617465",
        "a757616974696e67",
        "ac76697369746f725f6e616d65",
        "a3416461",
        "ad76697369746f725f656d61696c",
        "c0",
        "a8706167655f75726c",
        "c0",
        "ac746f6b656e5f736861323536",
        "a26162",
        "a86167656e745f6964",
        "c0",
        "ad637265617465645f61745f6d73",
        "05",
        "ae61636365707465645f61745f6d73",
        "c0",
        "ac636c6f7365645f61745f6d73",
        "c0",
    );
    // Written before departments: eleven fields. It still decodes, into the default
    // department at priority 0.
    let before_departments = expected.replacen("8d", "8b", 1);
    let old = SessionRecord::decode(&hex::decode(&before_departments).unwrap()).unwrap();
    assert_eq!((old.department_id, old.priority, old.contact_id), (None, 0, None));
    assert_eq!(SessionRecord { department_id: None, priority: 0, contact_id: None, ..session() }, old);
    let with_departments = format!(
        "{}{}{}{}{}",
        expected.replacen("8b", "8d", 1),
        "ad6465706172746d656e745f6964", // "department_id"
        "01",
        "a87072696f72697479", // "priority"
        "00",
    );
    // Written before contacts: thirteen fields; it decodes linked to no contact.
    let old = SessionRecord::decode(&hex::decode(&with_departments).unwrap()).unwrap();
    assert_eq!(SessionRecord { contact_id: None, ..session() }, old);
    let expected = format!(
        "{}{}{}",
        with_departments.replacen("8d", "8e", 1),
        "aa636f6e746163745f6964", // "contact_id"
        "04",
    );
    assert_eq!(hex::encode(session().encode()), expected);
}

#[test]
fn agent_golden_bytes() {
    let expected = concat!(
        "86",
        "a176",
        "01",
        "a26964",
        "03",
        "ac646973706c61795f6e616d65",
        "a3426f62",
        "b46d61785f636f6e63757272656e745f6368617473",
        "04",
        "ac746f6b656e5f736861323536",
        "a26364",
        "ad637265617465645f61745f6d73",
        "09",
    );
    // Written before agents could be disabled: six fields; it decodes as enabled.
    let old = AgentRecord::decode(&hex::decode(expected).unwrap()).unwrap();
    assert_eq!(old, AgentRecord { disabled: false, ..agent() });
    let expected = format!("87{}{}{}", &expected[2..], "a864697361626c6564", "c2"); // "disabled": false
    assert_eq!(hex::encode(agent().encode()), expected);
}

#[test]
fn contact_golden_bytes() {
    let expected = concat!(
        "89",
        "a176",
        "01",
        "a26964",
        "02",
        "a46e616d65", // "name"
        "a3416461",
        "a5656d61696c", // "email"
        "a56140622e63",
        "a570686f6e65", // "phone"
        "c0",
        "a7636f6d70616e79", // "company"
        "c0",
        "a56e6f746573", // "notes"
        "c0",
        "ad637265617465645f61745f6d73", // "created_at_ms"
        "05",
        "ad757064617465645f61745f6d73", // "updated_at_ms"
        "06",
    );
    assert_eq!(hex::encode(contact().encode()), expected);
}

#[test]
fn records_round_trip() {
    assert_eq!(MessageRecord::decode(&message().encode()).unwrap(), message());
    assert_eq!(SessionRecord::decode(&session().encode()).unwrap(), session());
    assert_eq!(AgentRecord::decode(&agent().encode()).unwrap(), agent());
    assert_eq!(ContactRecord::decode(&contact().encode()).unwrap(), contact());
}

#[test]
fn unknown_version_and_garbage_are_rejected() {
    let mut future = message();
    future.v = 2;
    assert!(MessageRecord::decode(&future.encode()).unwrap_err().contains("version"));
    assert!(SessionRecord::decode(&[0xc1]).is_err());
    assert!(AgentRecord::decode(&message().encode()).is_err());
    assert!(ContactRecord::decode(&session().encode()).is_err());
}
