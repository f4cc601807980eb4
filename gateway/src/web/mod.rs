//! What browsers get from the server itself: the website widget, its demo page and the agent
//! console (embedded assets, [`assets`]), the console's sign-in over HTTP with an HttpOnly
//! session cookie ([`signin`]), and the WebSocket upgrade's Origin check.
//!
//! The front end speaks only the documented protocol (JSON over `/ws`) and HTTP API; the
//! console authenticates its WebSocket with `auth_console`, which reads the cookie the
//! browser sent with the upgrade.

pub mod assets;
pub mod signin;

use std::net::IpAddr;

use warp::http::{header, HeaderMap, Request};

use switchboard_protocol::console::CONSOLE_COOKIE;

/// The console session cookie's value, if the request carries one.
pub fn console_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CONSOLE_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty() && value.len() <= 128)
}

/// The client's address: the TCP peer, or, when the peer is one of `trusted` proxies, the
/// last address in `X-Forwarded-For` that is not itself a trusted proxy (proxies append the
/// address they received from, so the entries before it are whatever the client claimed).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|entry| entry.trim().parse::<IpAddr>())
        .collect::<Vec<_>>();
    let mut client = peer;
    for entry in forwarded.into_iter().rev() {
        match entry {
            Ok(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// Where a WebSocket upgrade comes from, by its `Origin` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// No `Origin`: not a browser (the client library, the load generator).
    NotBrowser,
    /// A page of this server itself (the console, the demo page): Origin names the
    /// request's `Host`.
    OwnPage,
    /// A page of another website (the widget embedded in a company's site).
    Embedding,
}

impl Origin {
    /// Whether the console session cookie may authenticate this connection. Only the
    /// server's own pages (and non-browsers) may use it, so a page elsewhere cannot drive a
    /// signed-in agent's session even if a browser did send the cookie along.
    pub fn may_use_cookie(self) -> bool {
        self != Origin::Embedding
    }
}

/// Classify a WebSocket upgrade, refusing it when it comes from a website that is not
/// allowed: with `allowed` empty, any website may embed the widget; otherwise only those
/// listed. The server's own pages are always allowed. The error says why.
pub fn check_origin<B>(request: &Request<B>, allowed: &[String]) -> Result<Origin, String> {
    origin_of(request.headers(), allowed)
}

/// [`check_origin`] on a request's headers.
pub fn origin_of(headers: &HeaderMap, allowed: &[String]) -> Result<Origin, String> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(Origin::NotBrowser) };
    let origin = origin.to_str().unwrap_or("");
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        return Ok(Origin::OwnPage);
    }
    if allowed.is_empty() || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(Origin::Embedding);
    }
    Err(format!(
        "WebSocket upgrades from pages of `{origin}` are not allowed (allowed: this server's own pages and {})",
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(origin: Option<&str>, host: &str) -> Request<()> {
        let mut request = Request::get("/ws").header(header::HOST, host);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        request.body(()).unwrap()
    }

    #[test]
    fn origins_are_checked_against_the_host_or_the_list() {
        assert_eq!(check_origin(&upgrade(None, "127.0.0.1:80"), &[]), Ok(Origin::NotBrowser));
        assert_eq!(
            check_origin(&upgrade(Some("http://127.0.0.1:80"), "127.0.0.1:80"), &[]),
            Ok(Origin::OwnPage)
        );
        assert_eq!(
            check_origin(&upgrade(Some("http://shop.example"), "127.0.0.1:80"), &[]),
            Ok(Origin::Embedding)
        );
        assert_eq!(
            check_origin(&upgrade(Some("http://127.0.0.1:81"), "127.0.0.1:80"), &[]),
            Ok(Origin::Embedding)
        );
        assert!(!Origin::Embedding.may_use_cookie());
        assert!(Origin::OwnPage.may_use_cookie() && Origin::NotBrowser.may_use_cookie());
        let list = vec!["https://shop.example.com".to_string()];
        let from = |origin| check_origin(&upgrade(Some(origin), "chat.example.com"), &list);
        assert_eq!(from("https://shop.example.com"), Ok(Origin::Embedding));
        assert_eq!(from("https://chat.example.com"), Ok(Origin::OwnPage), "the console is always allowed");
        assert!(from("https://evil.example").unwrap_err().contains("evil.example"));
    }

    #[test]
    fn the_client_address_comes_from_trusted_proxies_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2".parse().unwrap());
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(client_ip(ip("10.0.0.1"), &headers, &proxies), ip("203.0.113.7"), "through two proxies");
        assert_eq!(
            client_ip(ip("198.51.100.1"), &headers, &proxies),
            ip("198.51.100.1"),
            "not a proxy: ignored"
        );
        assert_eq!(client_ip(ip("10.0.0.1"), &HeaderMap::new(), &proxies), ip("10.0.0.1"), "no header");
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(ip("10.0.0.1"), &headers, &proxies), ip("10.0.0.1"), "unreadable: the proxy");
    }

    #[test]
    fn the_console_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; sb_console=abc123; b=2".parse().unwrap());
        assert_eq!(console_cookie(&headers).as_deref(), Some("abc123"));
        headers.insert(header::COOKIE, "sb_console=".parse().unwrap());
        assert_eq!(console_cookie(&headers), None);
    }
}
