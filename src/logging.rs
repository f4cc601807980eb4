//! Logs: `tracing` to stderr, as human-readable lines or as JSON objects (one per line, for
//! log shippers). Human lines carry ANSI colour only when stderr is a terminal and
//! `NO_COLOR` is unset or empty (https://no-color.org).
//!
//! Targets an operator filters on (`--log audit=info,warn`, or the `target` field in JSON):
//! `audit` (administrative actions: who, what, when), `connection` (connections opened and
//! closed: transport, peer, role, duration, close code), `auth` (authentication failures
//! with the peer's address, rate-limited), `session` (session lifecycle, at debug) and
//! `switchboard::serve` (start-up and drain steps). No log line carries a secret: tokens are
//! never formatted into a field.

use std::io::IsTerminal;

use anyhow::Context;
use clap::ValueEnum;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event; coloured on a terminal unless `NO_COLOR` is set.
    #[default]
    Human,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the fields.
    Json,
}

/// Install the process-wide subscriber.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter).with_context(|| format!("bad log filter `{filter}`"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => builder.with_ansi(colour(std::io::stderr().is_terminal())).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

/// Colour only on a terminal, and never when `NO_COLOR` holds a value.
fn colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        // The only test in this binary that touches NO_COLOR.
        std::env::remove_var("NO_COLOR");
        assert!(colour(true));
        assert!(!colour(false));
        std::env::set_var("NO_COLOR", "1");
        assert!(!colour(true));
        std::env::set_var("NO_COLOR", "");
        assert!(colour(true), "an empty NO_COLOR does not count (no-color.org)");
        std::env::remove_var("NO_COLOR");
    }
}
