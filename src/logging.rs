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

/// Libraries whose most verbose levels print what a client sent, secrets included (e.g.
/// tungstenite's trace of every received message, an `auth` frame's token with it): capped
/// whatever the filter asks.
const SECRET_SAFE_CAPS: &[&str] = &["tungstenite=info", "tokio_tungstenite=info", "hyper=info", "warp=info"];

/// Install the process-wide subscriber.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let mut filter = EnvFilter::try_new(filter).with_context(|| format!("bad log filter `{filter}`"))?;
    for cap in SECRET_SAFE_CAPS {
        filter = filter.add_directive(cap.parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => {
            let no_color = std::env::var_os("NO_COLOR");
            builder.with_ansi(colour(std::io::stderr().is_terminal(), no_color.as_deref())).try_init()
        }
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

/// Colour only on a terminal, and never when `NO_COLOR` holds a value.
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        use std::ffi::OsStr;
        assert!(colour(true, None));
        assert!(!colour(false, None));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(colour(true, Some(OsStr::new(""))), "an empty NO_COLOR does not count (no-color.org)");
    }

    #[test]
    fn the_secret_safe_caps_are_valid_directives() {
        for cap in SECRET_SAFE_CAPS {
            cap.parse::<tracing_subscriber::filter::Directive>().unwrap();
        }
    }
}
