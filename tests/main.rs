//! End-to-end tests: the real `switchboard` binary on `127.0.0.1:0` with a temporary data
//! directory, driven over real WebSocket connections (and HTTP for the admin API). One test
//! binary so the suite links once.

mod support;

mod accept_race;
mod bad_input;
mod browser;
mod channels;
mod cluster;
mod commands;
mod console;
mod contacts;
mod durability;
mod lifecycle;
mod loadtest;
mod offline;
mod operations;
mod quic;
mod ratings;
mod resume;
mod routing;
mod slow_client;
mod startup_errors;
mod tickets;
mod ws_protocol;
