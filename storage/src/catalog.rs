//! The column-family catalog: every family this database holds, its key layout and its
//! value. Keys are built only by [`crate::keys`]; values only by [`crate::records`].

/// `meta`: key = UTF-8 name; value = raw bytes. Holds the schema version and the
/// administrator token hash.
pub const META: &str = "meta";
/// `agent`: key = agent_id (u64 BE); value = [`crate::AgentRecord`] (map-encoded).
pub const AGENT: &str = "agent";
/// `session`: key = session_id (u64 BE); value = [`crate::SessionRecord`] (map-encoded).
pub const SESSION: &str = "session";
/// `session_open`: key = session_id (u64 BE); value = empty. Index of the WAITING and ACTIVE
/// sessions, so start-up reads only open sessions, never the whole history.
pub const SESSION_OPEN: &str = "session_open";
/// `session_closed`: key = closed_at_ms (u64 BE) ++ session_id (u64 BE); value = empty.
/// Index of closed sessions by closing time, for the queue's "recently closed" list.
pub const SESSION_CLOSED: &str = "session_closed";
/// `session_message`: key = session_id (u64 BE) ++ seq (u64 BE); value =
/// [`crate::MessageRecord`] (array-encoded: fields are only ever appended).
pub const SESSION_MESSAGE: &str = "session_message";
/// `session_read`: key = session_id (u64 BE) ++ agent_id (u64 BE); value = seq (u64 BE), the
/// newest message the agent has read. Keyed by session first so listing a session's readers
/// is one prefix scan.
pub const SESSION_READ: &str = "session_read";

/// `department`: key = department_id (u64 BE); value = [`crate::DepartmentRecord`]
/// (map-encoded), its routing settings and its members.
pub const DEPARTMENT: &str = "department";

/// `session_routing`: key = session_id (u64 BE) ++ at_ms (u64 BE) ++ n (u64 BE, a counter
/// that tells apart decisions of one millisecond); value = [`crate::DecisionRecord`]
/// (map-encoded). The routing decisions about each session, oldest first.
pub const SESSION_ROUTING: &str = "session_routing";

/// `channel`: key = channel_id (u64 BE); value = [`crate::ChannelRecord`] (map-encoded).
pub const CHANNEL: &str = "channel";
/// `channel_member`: key = channel_id (u64 BE) ++ agent_id (u64 BE); value =
/// [`crate::ChannelMemberRecord`] (map-encoded). Keyed by channel first so loading a
/// channel's members is one prefix scan.
pub const CHANNEL_MEMBER: &str = "channel_member";
/// `channel_read`: key = channel_id (u64 BE) ++ agent_id (u64 BE); value = seq (u64 BE), the
/// newest message the member has read. Apart from the membership so a read position, which
/// changes often, is a tiny write.
pub const CHANNEL_READ: &str = "channel_read";
/// `channel_message`: key = channel_id (u64 BE) ++ seq (u64 BE); value =
/// [`crate::ChannelMessageRecord`] (array-encoded: fields are only ever appended). An edit or
/// a deletion rewrites the record under its seq.
pub const CHANNEL_MESSAGE: &str = "channel_message";
/// `folder`: key = folder_id (u64 BE); value = [`crate::FolderRecord`] (map-encoded).
pub const FOLDER: &str = "folder";
/// `contact`: key = contact_id (u64 BE); value = [`crate::ContactRecord`] (map-encoded): a
/// person the support centre knows (name, email, phone, company, notes).
pub const CONTACT: &str = "contact";

/// `contact_by_email`: key = lower-cased email (UTF-8) ++ 0x00 ++ contact_id (u64 BE); value =
/// empty. Finds a contact by email (a visitor's, at `start_chat`) and by email prefix. An
/// email is held by at most one contact (the engine checks before writing).
pub const CONTACT_BY_EMAIL: &str = "contact_by_email";

/// `contact_by_name`: key = one lower-cased word of the name (UTF-8, letters and digits
/// only) ++ 0x00 ++ contact_id (u64 BE); value = empty. One entry per distinct word, so a
/// prefix scan finds contacts by the start of any word of their name.
pub const CONTACT_BY_NAME: &str = "contact_by_name";

/// `contact_by_phone`: key = the phone number's ASCII digits only ++ 0x00 ++ contact_id
/// (u64 BE); value = empty. Finds contacts by a prefix of their digits, whatever the
/// formatting (`+44 20 7946-0000` is `442079460000`).
pub const CONTACT_BY_PHONE: &str = "contact_by_phone";

/// `ticket`: key = ticket_id (u64 BE); value = [`crate::TicketRecord`] (map-encoded): a
/// helpdesk ticket made from a chat session (the transcript as its description) or from a
/// team-channel message (the message and those after it).
pub const TICKET: &str = "ticket";

/// `session_ticket`: key = session_id (u64 BE); value = ticket_id (u64 BE). The session's
/// ticket: the link from the session side and the index that makes creating a ticket from a
/// session idempotent (one ticket per session).
pub const SESSION_TICKET: &str = "session_ticket";

/// `channel_ticket`: key = channel_id (u64 BE) ++ seq (u64 BE); value = ticket_id (u64 BE).
/// The ticket made from that channel message: the index that makes `/ticket` on one message
/// idempotent (one ticket per message).
pub const CHANNEL_TICKET: &str = "channel_ticket";

/// `ticket_outbox`: key = next_attempt_at_ms (u64 BE) ++ ticket_id (u64 BE); value =
/// [`crate::OutboxRecord`] (map-encoded): a ticket still to be POSTed to the helpdesk
/// webhook, keyed by when to try next so the due deliveries are the start of one scan. A
/// retry moves the entry (delete and put in one batch); a delivery removes it.
pub const TICKET_OUTBOX: &str = "ticket_outbox";

/// `console_session`: key = SHA-256 of the console cookie's secret (32 bytes); value =
/// [`crate::ConsoleSessionRecord`] (map-encoded): one signed-in agent console (a browser).
pub const CONSOLE_SESSION: &str = "console_session";

/// `session_rating`: key = session_id (u64 BE); value = [`crate::RatingRecord`]
/// (map-encoded): the visitor's rating of a closed chat, at most one per session.
pub const SESSION_RATING: &str = "session_rating";

/// Every column family, in creation order.
pub const ALL: &[&str] = &[
    META,
    AGENT,
    SESSION,
    SESSION_OPEN,
    SESSION_CLOSED,
    SESSION_MESSAGE,
    SESSION_READ,
    DEPARTMENT,
    SESSION_ROUTING,
    CHANNEL,
    CHANNEL_MEMBER,
    CHANNEL_READ,
    CHANNEL_MESSAGE,
    FOLDER,
    CONTACT,
    CONTACT_BY_EMAIL,
    CONTACT_BY_NAME,
    CONTACT_BY_PHONE,
    TICKET,
    SESSION_TICKET,
    TICKET_OUTBOX,
    CHANNEL_TICKET,
    CONSOLE_SESSION,
    SESSION_RATING,
];

/// `meta` key of the schema version (value: u32 BE).
pub const META_SCHEMA_VERSION: &str = "schema_version";
/// `meta` key of the administrator token's SHA-256 (value: 32 bytes).
pub const META_ADMIN_TOKEN_HASH: &str = "admin_token_sha256";
/// `meta` key the readiness probe writes (value: the probe's wall-clock time, ms, u64 BE).
pub const META_READINESS_PROBE: &str = "readiness_probe";
/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: u32 = 1;
