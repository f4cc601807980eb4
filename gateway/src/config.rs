//! Gateway settings with documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use switchboard_protocol::limits;

use crate::quic::QuicConfig;

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Address of the HTTP and WebSocket listener.
    pub http_addr: SocketAddr,
    /// Largest WebSocket message and frame accepted, in bytes. Larger ones close the
    /// connection with 1009 and `frame_too_large`. Default: the protocol's 16 KiB.
    pub frame_bytes_max: usize,
    /// tungstenite's per-connection read buffer. Its default (128 KiB, allocated per
    /// connection) would make idle connections expensive; 512 B holds a typical chat frame
    /// whole (larger ones are read in several chunks) and keeps an idle connection near 9 KB
    /// of server memory (measured: docs/BENCHMARKS.md).
    pub ws_read_buffer_bytes: usize,
    /// Bytes tungstenite gathers before writing to the socket. Small: frames are small and
    /// latency matters more than syscall count.
    pub ws_write_buffer_bytes: usize,
    /// Largest frame tungstenite may buffer at once: a frame bigger than this cannot be
    /// written at all (tungstenite refuses it), so it must exceed the largest frame the
    /// server sends, a `queue` listing or an `attached` replay in JSON (about 34.5 MB in
    /// the worst case, docs/PROTOCOL.md §9.1). It is a bound, not an allocation: the sink
    /// waits for the socket to drain before handing tungstenite the next frame, so a slow
    /// socket holds at most `ws_write_buffer_bytes` plus one frame.
    pub ws_write_buffer_max_bytes: usize,
    /// Events queued per connection before it counts as too slow and is closed with
    /// `send_queue_overflow` (it can resume). 1024 covers bursts from many sessions.
    pub connection_events_max: usize,
    /// Encoded frames queued between a connection's loop and its socket writer.
    pub connection_out_frames_max: usize,
    /// Requests one connection may have in flight (sent, not yet answered). Reading pauses at
    /// this bound, which pushes back on the client through TCP.
    pub connection_requests_max: usize,
    /// Most simultaneous TCP connections; beyond it new ones are closed at once. Kept under
    /// the process's file-descriptor limit (about 20,000 here) with room for RocksDB's files.
    pub connections_max: usize,
    /// Time a client has to send its HTTP request headers (the slow-loris guard).
    pub header_read_timeout_ms: u64,
    /// A connection that has neither authenticated nor started/resumed a chat within this
    /// time is closed (`not_authenticated`, close code 4001): anonymous sockets cost memory.
    pub anonymous_timeout_ms: u64,
    /// The server pings WebSocket clients this often …
    pub ws_ping_interval_ms: u64,
    /// … and closes a connection that sent nothing (not even a pong) for this long
    /// (`idle_timeout`, close 1001): it detects dead peers long before TCP would.
    pub ws_idle_timeout_ms: u64,
    /// Messages and typing indicators a visitor connection may send per second, sustained …
    pub visitor_rate_per_s: u32,
    /// … and in a burst. Beyond it requests get `rate_limited`; agents are not limited.
    pub visitor_burst: u32,
    /// Sessions one connection may be subscribed to at once (accepted, attached, its chat).
    pub connection_sessions_max: usize,
    /// The QUIC endpoint's settings.
    pub quic: QuicConfig,
    /// Where `POST /api/v1/admin/checkpoints` puts RocksDB checkpoints; `None` turns the
    /// route off. The server sets `<data dir>/backups` unless configured.
    pub backup_dir: Option<PathBuf>,
    /// Where new tickets are POSTed (docs/TICKETS.md); `None`: no webhook.
    pub ticket_webhook: Option<crate::webhook::WebhookConfig>,
    /// Origins (`https://www.example.com`) of the websites allowed to embed the widget; a
    /// browser upgrade from another website is refused (403). Empty: any website. Pages
    /// served by this server (the Origin's host is the request's Host) are always allowed,
    /// and only they may use the console cookie. Clients that send no Origin (non-browser
    /// clients) are not affected.
    pub allowed_origins: Vec<String>,
    /// Mark the console cookie `Secure` (set when the server is reached over HTTPS, behind
    /// a TLS proxy).
    pub cookie_secure: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`web::client_ip`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Failed console sign-ins allowed per client address: a burst of this many …
    pub sign_in_burst: u32,
    /// … refilled at this many per minute.
    pub sign_in_per_minute: u32,
    /// Cluster mode's relay (not a setting: the running relay, set by the binary once the
    /// node has joined its cluster; `None` on one machine and on the relay's own legs).
    pub relay: Option<crate::relay::Relay>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            frame_bytes_max: limits::FRAME_BYTES_MAX_DEFAULT,
            ws_read_buffer_bytes: limits::WS_READ_BUFFER_BYTES,
            ws_write_buffer_bytes: limits::WS_WRITE_BUFFER_BYTES,
            ws_write_buffer_max_bytes: limits::WS_WRITE_BUFFER_MAX_BYTES,
            connection_events_max: 1024,
            connection_out_frames_max: 64,
            connection_requests_max: 256,
            connections_max: 18_000,
            header_read_timeout_ms: 10_000,
            anonymous_timeout_ms: 60_000,
            ws_ping_interval_ms: 30_000,
            ws_idle_timeout_ms: 75_000,
            visitor_rate_per_s: 10,
            visitor_burst: 30,
            connection_sessions_max: 500,
            quic: QuicConfig::default(),
            backup_dir: None,
            ticket_webhook: None,
            allowed_origins: Vec::new(),
            cookie_secure: false,
            trusted_proxies: Vec::new(),
            relay: None,
            sign_in_burst: 10,
            sign_in_per_minute: 6,
        }
    }
}
