//! The Switchboard gateway: the HTTP server (hyper 1 + warp routes), the WebSocket endpoint,
//! the per-connection protocol loop, and the Prometheus metrics endpoint.
//!
//! It translates between the wire protocol (`switchboard-protocol`) and the engine
//! (`switchboard-engine`): frames in, engine calls, frames out. It holds no chat rules.
//!
//! # Layout
//! - [`config`]: [`GatewayConfig`], every limit with its reason.
//! - [`server`]: accepts TCP connections, serves HTTP/1.1 with upgrades, routes `/ws` to
//!   [`ws`] and everything else to the warp routes in [`api`].
//! - [`ws`]: the WebSocket handshake and the adapter between tungstenite and
//!   [`connection`].
//! - [`connection`]: the transport-independent connection loop: read frames, dispatch,
//!   pipeline replies, forward events, enforce the per-connection bounds.
//! - [`dispatch`]: one function per request type: checks, engine call, reply frame.
//! - [`rate`]: the token bucket behind the visitors' rate limit.
//! - [`role`]: what a connection is (anonymous, agent, visitor) and what it may do.
//! - [`convert`]: engine types → wire types. [`errors`]: engine errors → wire error codes.
//! - [`quic`]: the QUIC transport (quinn): TLS identity, endpoint limits, length-prefixed
//!   frames over one bidirectional stream, into the same connection loop.
//! - [`metrics`]: the Prometheus recorder, every series created at zero, the values read at
//!   each scrape (process, RocksDB), HTTP route labels.
//! - [`health`]: liveness (`/healthz`) and readiness (`/readyz`: storage takes a write and
//!   the node is not draining).
//! - [`drain`]: graceful shutdown: connections answer what is in flight, then close with
//!   1001 and `shutting_down`; the server waits for them up to its grace period.
//! - `api_departments`: the admin routes of fair assignment (departments, members, a
//!   session's routing decisions).
//! - `api_contacts`: the admin routes of contacts (create, read, change, list, search,
//!   bulk import).
//! - `api_tickets`: the admin routes of tickets (make one of a session, list, read).
//! - [`web`]: what browsers get from the server: the embedded widget, demo page and agent
//!   console ([`web::assets`]), the console's sign-in with an HttpOnly cookie
//!   ([`web::signin`]), and the WebSocket upgrade's Origin check.
//! - [`webhook`]: the helpdesk webhook deliverer: due tickets from the engine's outbox,
//!   POSTed signed, bounded in time and concurrency, outcomes reported back.
//! - [`audit`]: the audit log of administrative actions and the rate-limited log of
//!   authentication failures.
//! - [`ws_echo`]: a WebSocket echo server over the same handshake, tungstenite settings and
//!   read-error mapping as [`ws`]: the conformance harness for the Autobahn suite
//!   (`docs/CONFORMANCE.md`), not a product endpoint.

pub mod api;
mod api_contacts;
mod api_departments;
pub(crate) mod api_folders;
mod api_tickets;
pub mod audit;
pub mod config;
pub mod connection;
pub mod convert;
pub mod dispatch;
pub(crate) mod dispatch_channels;
mod dispatch_offline;
pub mod drain;
pub mod errors;
pub mod health;
pub mod metrics;
pub mod quic;
pub mod rate;
pub mod relay;
pub mod role;
pub mod server;
pub mod web;
pub mod webhook;
pub mod ws;
pub mod ws_echo;

pub use config::GatewayConfig;
pub use server::{RunningServer, Server};
