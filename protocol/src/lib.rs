//! The Switchboard wire protocol: every frame a client and the server exchange, how each is
//! encoded (MessagePack maps in binary WebSocket frames, the same schema as JSON in text
//! frames), the stable error codes, and the protocol's default limits.
//!
//! This crate is the one wire definition shared by the server's gateway and by every client
//! (the integration tests, the client library, the load generator). It never imports the
//! engine or storage: wire types are converted to domain types at the gateway's edge.
//!
//! # Layout
//! - [`frames`]: client requests ([`ClientFrame`], [`Request`]) and server frames
//!   ([`ServerFrame`]: replies, errors and events) with their payload types.
//! - [`codec`]: encoding and decoding for both directions and both encodings, with typed
//!   decode errors that carry the request id when it could be read; the per-message
//!   requests decode in one pass (`codec_fast`), checked against the general decoder.
//! - [`error_code`]: the stable error codes ([`ErrorCode`]).
//! - [`framing`]: the 4-byte length prefix that delimits frames on a byte stream (QUIC).
//! - [`http`]: the JSON bodies of the HTTP administration API.
//! - [`console`]: the agent console's HTTP bodies (sign-in, who is signed in, setting a login).
//! - [`hours`]: departments' business hours and the bounds of messages left while closed.
//! - [`tickets`]: what tickets carry ([`TicketInfo`]) and their HTTP and webhook bodies.
//! - [`startup`]: the lines the server prints once it listens, and their reader.
//! - [`limits`]: default size limits and why they are what they are.
//!
//! `docs/PROTOCOL.md` at the repository root is the prose specification of this crate.

pub mod channel_frames;
pub mod codec;
mod codec_fast;
pub mod console;
pub mod error_code;
pub mod frames;
pub mod framing;
pub mod hours;
pub mod http;
pub mod limits;
pub mod startup;
pub mod tickets;

pub use channel_frames::*;
pub use codec::{DecodeError, Encoding};
pub use error_code::ErrorCode;
pub use frames::*;
pub use tickets::{TicketId, TicketInfo};
