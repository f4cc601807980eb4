//! What browsers get from the server itself: the website widget, its demo page and the agent
//! console (embedded assets, [`assets`]), the console's sign-in over HTTP with an HttpOnly
//! session cookie ([`signin`]), and the WebSocket upgrade's Origin check.
//!
//! The front end speaks only the documented protocol (JSON over `/ws`) and HTTP API; the
//! console authenticates its WebSocket with `auth_console`, which reads the cookie the
//! browser sent with the upgrade.

pub mod assets;
pub mod signin;

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

/// Whether a WebSocket upgrade may proceed: no `Origin` (not a browser), an Origin in
/// `allowed`, or, when `allowed` is empty, an Origin naming this server (its host and port
/// are the request's `Host`). Otherwise the message says why.
pub fn origin_allowed<B>(request: &Request<B>, allowed: &[String]) -> Result<(), String> {
    let Some(origin) = request.headers().get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or("");
    let ok = if allowed.is_empty() {
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
    } else {
        allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "WebSocket upgrades from pages of `{origin}` are not allowed (allowed: {})",
            if allowed.is_empty() { "this server's own pages".to_string() } else { allowed.join(", ") }
        ))
    }
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
        assert!(origin_allowed(&upgrade(None, "127.0.0.1:80"), &[]).is_ok(), "no Origin: not a browser");
        assert!(origin_allowed(&upgrade(Some("http://127.0.0.1:80"), "127.0.0.1:80"), &[]).is_ok());
        assert!(origin_allowed(&upgrade(Some("http://evil.example"), "127.0.0.1:80"), &[]).is_err());
        assert!(origin_allowed(&upgrade(Some("http://127.0.0.1:81"), "127.0.0.1:80"), &[]).is_err());
        let list = vec!["https://shop.example.com".to_string()];
        assert!(origin_allowed(&upgrade(Some("https://shop.example.com"), "chat.example.com"), &list).is_ok());
        assert!(
            origin_allowed(&upgrade(Some("https://chat.example.com"), "chat.example.com"), &list).is_err()
        );
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
