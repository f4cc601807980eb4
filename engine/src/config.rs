//! Engine settings with documented defaults. Only the binary reads flags and files; this is
//! plain data passed down.

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Number of shards: actix arbiters (threads, each a single-threaded runtime) that run
    /// the session actors (session `id % arbiters`) and the client connections (spread
    /// round-robin). A connection and the actor it talks to on the same shard exchange work
    /// without a cross-thread wake-up. Default: the CPUs this process may run on (its
    /// affinity mask), so every core it has runs one shard and no more.
    pub arbiters: usize,
    /// Mailbox capacity of each session actor. Senders wait when it is full, which pushes
    /// back on the connection that floods a session. 256 absorbs a burst from every
    /// participant of a busy session without waiting.
    pub session_mailbox: usize,
    /// Most writes one session may have in flight to storage before posts are refused with
    /// `overloaded`. Bounds memory held per session while the disk is slow.
    pub session_inflight_max: usize,
    /// Largest message text in UTF-8 bytes (the gateway passes the protocol's limit).
    pub text_bytes_max: usize,
    /// Most messages one session may hold: far beyond any real chat, and it bounds the
    /// per-session idempotency index kept in memory.
    pub session_messages_max: u64,
    /// Durable messages kept in memory per loaded session for fast resume.
    pub session_tail_max: usize,
    /// Most live subscribers (connections attached) per session.
    pub session_subscribers_max: usize,
    /// Most missed messages one attach replays (the protocol's `REPLAY_MESSAGES_MAX`).
    pub replay_max: usize,
    /// Closed sessions listed in the queue (most recent first).
    pub closed_listed_max: usize,
    /// Most waiting (and, separately, active) sessions one queue listing carries; the
    /// listing also says how many there are in total. Keeps one reply under ~1 MB.
    pub queue_listing_max: usize,
    /// Storage reads (session loads, history pages, token checks) running at once on the
    /// blocking thread pool; more wait their turn instead of exhausting the pool.
    pub blocking_reads_max: usize,
    /// A session actor with no subscribers and nothing in flight stops after this long idle;
    /// it is reloaded from storage on next use.
    pub session_idle_ms: u64,
    /// Restart budget: at most this many crash restarts per session …
    pub restarts_max: usize,
    /// … within this window; one more quarantines the session.
    pub restart_window_ms: u64,
    /// An agent whose last connection dropped stays routable this long (a network blip,
    /// a page reload) before it counts as offline and its offers go to others.
    pub presence_grace_ms: u64,
    /// Requests a department's queue actor holds before `overloaded`.
    pub queue_mailbox: usize,
    /// Most messages one channel may hold: a bound on storage per channel (a busy channel
    /// posting every second for thirty years stays under it).
    pub channel_messages_max: u64,
    /// Durable messages kept in memory per loaded channel for fast catch-up.
    pub channel_tail_max: usize,
    /// Client message ids a channel remembers for idempotency (its newest posts): a retry
    /// comes within seconds, so a window this size covers it while memory stays flat.
    pub channel_dedup_max: usize,
    /// How long after posting an author may edit or delete a channel message.
    pub channel_edit_window_ms: u64,
    /// Queue each new ticket for the helpdesk webhook (set when a webhook URL is
    /// configured; tickets made while it is off are never sent).
    pub ticket_webhook: bool,
    /// The first webhook retry's delay; each further failure doubles it (docs/TICKETS.md).
    pub ticket_retry_base_ms: u64,
    /// The longest delay between two webhook attempts.
    pub ticket_retry_max_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            arbiters: std::thread::available_parallelism().map_or(2, |n| n.get()),
            session_mailbox: 256,
            session_inflight_max: 1024,
            text_bytes_max: 4096,
            session_messages_max: 10_000,
            session_tail_max: 256,
            session_subscribers_max: 64,
            replay_max: 500,
            closed_listed_max: 200,
            queue_listing_max: 1000,
            blocking_reads_max: 16,
            session_idle_ms: 5 * 60 * 1000,
            restarts_max: 3,
            restart_window_ms: 60_000,
            presence_grace_ms: 30_000,
            queue_mailbox: 1024,
            channel_messages_max: 1_000_000_000,
            channel_tail_max: 500,
            channel_dedup_max: 2_000,
            channel_edit_window_ms: 15 * 60 * 1000,
            ticket_webhook: false,
            ticket_retry_base_ms: crate::domain::ticket::RETRY_BASE_MS_DEFAULT,
            ticket_retry_max_ms: crate::domain::ticket::RETRY_DELAY_MAX_MS,
        }
    }
}
