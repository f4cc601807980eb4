//! Default protocol limits. The server may be configured with other frame limits; the field
//! limits are part of the protocol and the same for every deployment.

/// Default largest WebSocket message (one frame of this protocol) the server accepts, in bytes.
/// A chat message of [`TEXT_BYTES_MAX`] plus its envelope fits with room to spare; anything
/// larger is abuse or a bug, and a small limit keeps per-connection buffers small.
pub const FRAME_BYTES_MAX_DEFAULT: usize = 16 * 1024;

/// Largest chat message text in UTF-8 bytes. Long enough for a pasted log excerpt, short
/// enough that a transcript page of [`HISTORY_PAGE_MAX`] messages stays under 1 MiB.
pub const TEXT_BYTES_MAX: usize = 4 * 1024;

/// Largest client-chosen message id in bytes: room for a UUID or a ULID with a prefix.
pub const CLIENT_MSG_ID_BYTES_MAX: usize = 64;

/// Largest visitor display name in bytes.
pub const VISITOR_NAME_BYTES_MAX: usize = 128;

/// Largest visitor email in bytes (RFC 5321's practical maximum path length is 254).
pub const VISITOR_EMAIL_BYTES_MAX: usize = 254;

/// Largest page URL in bytes (what browsers and proxies reliably carry).
pub const PAGE_URL_BYTES_MAX: usize = 2048;

/// Largest token a client may present, in bytes; longer is rejected before any lookup.
pub const TOKEN_BYTES_MAX: usize = 128;

/// Most messages one `history` reply carries; a client pages with `after_seq`.
pub const HISTORY_PAGE_MAX: u32 = 200;

/// Most missed messages one `attached` reply carries. A client that missed more receives
/// `has_more: true`, is not yet subscribed, and attaches again from the last seq it got.
pub const REPLAY_MESSAGES_MAX: usize = 500;

/// Deepest nesting of maps and arrays a MessagePack frame may have, the frame's own map
/// counting as one (JSON's is serde_json's fixed limit, about 128). The deepest frame of this protocol nests 4 levels (a `queue` reply's
/// sessions' visitor info), so 32 leaves room for new frame types. Decoding recurses once
/// per level: at rmp-serde's default of 1024 levels a 3 KB frame took 0.5 to 1 MiB of
/// stack in a release build and overflowed the 2 MiB of a tokio worker thread (aborting
/// the process) in a debug build; 32 levels take a few tens of KiB.
pub const NESTING_DEPTH_MAX: usize = 32;

/// The server's WebSocket buffer sizes (tungstenite's settings, `GatewayConfig` defaults),
/// here so the fuzz targets exercise exactly what the server configures. Read buffer per
/// connection: its default (128 KiB, allocated per connection) would dominate an idle
/// connection's memory; frames are a few hundred bytes.
pub const WS_READ_BUFFER_BYTES: usize = 512;
/// Bytes tungstenite gathers before writing to the socket.
pub const WS_WRITE_BUFFER_BYTES: usize = 4096;
/// Largest frame tungstenite may buffer at once: above the largest frame the server sends
/// (a JSON `queue` or `attached`, about 34.5 MB at worst, docs/PROTOCOL.md §9.1). A bound,
/// not an allocation.
pub const WS_WRITE_BUFFER_MAX_BYTES: usize = 40 * 1024 * 1024;

/// Largest department name, in bytes (names are lower-case `a-z 0-9 - _`).
pub const DEPARTMENT_NAME_BYTES_MAX: usize = 64;

/// Largest comment with a chat rating, in bytes.
pub const RATING_COMMENT_BYTES_MAX: usize = 1000;
/// Highest chat rating (the lowest is 1).
pub const RATING_SCORE_MAX: u8 = 5;

/// Largest transfer note, in bytes.
pub const TRANSFER_NOTE_BYTES_MAX: usize = 1024;

/// A chat's queue priority is within ±this (higher is served first; 0 by default).
pub const PRIORITY_MAX: i64 = 1000;

/// Most messages one `channel_history` page carries (and the default).
pub const CHANNEL_HISTORY_PAGE_MAX: u32 = 200;
