//! What the server prints on stdout once it accepts connections, for scripts, tests and the
//! load generator that start it (with port 0) and need the bound addresses.

use std::io::BufRead;

/// Prefix of the line naming the QUIC (UDP) address, printed first.
pub const QUIC_LISTENING: &str = "switchboard quic listening on ";
/// Prefix of the line naming the HTTP/WebSocket address (`http://` + address), printed last.
pub const HTTP_LISTENING: &str = "switchboard listening on http://";

/// Prefix of the line carrying a newly generated administrator token, printed once (before
/// the address lines) and never logged; the token is also in `<data dir>/admin-token`.
pub const ADMIN_TOKEN_GENERATED: &str = "switchboard generated the administrator token: ";

/// Read the server's stdout until the HTTP line; returns (http address, QUIC address).
/// `None` when the output ends first (the server failed to start).
pub fn read_addresses(stdout: impl BufRead) -> Option<(String, String)> {
    let mut quic = String::new();
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(addr) = line.strip_prefix(QUIC_LISTENING) {
            quic = addr.to_string();
        }
        if let Some(addr) = line.strip_prefix(HTTP_LISTENING) {
            return Some((addr.to_string(), quic));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_addresses() {
        let out = format!("{QUIC_LISTENING}127.0.0.1:4433\n{HTTP_LISTENING}127.0.0.1:8080\n");
        assert_eq!(read_addresses(out.as_bytes()), Some(("127.0.0.1:8080".into(), "127.0.0.1:4433".into())));
        assert_eq!(read_addresses("nothing\n".as_bytes()), None);
    }
}
