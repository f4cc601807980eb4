//! Checks shared by Switchboard's fuzz targets (`fuzz_targets/*.rs`): what must hold for any
//! input a peer can send. Each target is a thin wrapper around one function here, so the
//! properties live in one place and are documented together in docs/FUZZING.md.
//!
//! Not a test suite of its own: the fixed examples (golden bytes, error codes) stay in the
//! protocol crate's unit tests. This crate only depends on the protocol crate and on
//! tungstenite, never on the engine, storage or gateway (that would pull RocksDB's C++
//! build into every fuzz build).
//!
//! # Memory
//! A counting global allocator ([`alloc_meter`]) measures the peak of live heap bytes while
//! a check runs, so "decoding a small frame allocates a lot" fails the run like a panic
//! would, well below libFuzzer's `-rss_limit_mb` (which only sees touched pages).

pub mod alloc_meter;
pub mod frames;
pub mod quic;
pub mod ws;

pub use frames::{check_client_frame, check_server_frame};
