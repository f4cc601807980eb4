//! The agent console's HTTP side without a browser: sign-in and its cookie, the session
//! behind `auth_console`, sign-out ending the open console connections, the WebSocket Origin
//! rule, the failed-sign-in rate limit, the administrator's login route refusing bad
//! input, and an administrator's console session opening the admin API from the console's own
//! pages only. The same routes driven from a real browser are in tests/browser.rs.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::TestServer;

pub(crate) const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(10);

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `POST /api/v1/console/sign-in`: (status, body, Set-Cookie).
pub(crate) async fn sign_in(
    server: &TestServer,
    email: &str,
    password: &str,
) -> (u16, Value, Option<String>) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/console/sign-in", server.http_url()))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string());
    (status, response.json().await.unwrap_or(Value::Null), cookie)
}

/// The `name=value` part of a Set-Cookie header.
pub(crate) fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

async fn me(server: &TestServer, cookie: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("{}/api/v1/console/me", server.http_url()));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// A WebSocket upgrade with the given `Origin` and `Cookie` headers: the socket, or the
/// HTTP status it was refused with.
pub(crate) async fn upgrade(
    server: &TestServer,
    origin: Option<&str>,
    cookie: Option<&str>,
) -> Result<Socket, u16> {
    let mut request = format!("{}?encoding=json", server.ws_url()).into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    if let Some(cookie) = cookie {
        request.headers_mut().insert("cookie", cookie.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

pub(crate) async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next JSON frame, or `None` when the connection closed (with its close code).
pub(crate) async fn next(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// The answer to request `req`, skipping events.
pub(crate) async fn answer(socket: &mut Socket, req: u64) -> Value {
    loop {
        let frame =
            next(socket).await.unwrap_or_else(|code| panic!("closed ({code:?}) before answering {req}"));
        if frame["re"] == json!(req) {
            return frame;
        }
    }
}

#[tokio::test]
async fn sign_in_sets_an_httponly_cookie_that_signs_in_the_console_until_sign_out() {
    let server = TestServer::start();
    let id = server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;

    // The email is matched without regard to case or surrounding spaces.
    let (status, body, set_cookie) = sign_in(&server, " Ann@Example.com ", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["agent_id"], json!(id));
    assert_eq!(body["display_name"], json!("Ann Agent"));
    let set_cookie = set_cookie.expect("a Set-Cookie header");
    for attribute in ["sb_console=", "; Path=/", "; HttpOnly", "; SameSite=Strict", "; Max-Age=43"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing from {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "not Secure unless --cookie-secure: {set_cookie}");
    let cookie = cookie_pair(&set_cookie);
    assert_eq!(me(&server, Some(&cookie)).await, (200, body.clone()));

    // The console's own page signs in its WebSocket with the cookie.
    let own = server.http_url();
    let mut console = upgrade(&server, Some(&own), Some(&cookie)).await.unwrap();
    send(&mut console, json!({"type": "auth_console", "req": 1})).await;
    let welcome = answer(&mut console, 1).await;
    assert_eq!(welcome["type"], json!("authed"), "{welcome}");
    assert_eq!(welcome["agent"]["agent_id"], json!(id), "{welcome}");

    // Signing out (from another tab) ends the session and closes that connection.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/console/sign-out", server.http_url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let expired = response.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(expired.starts_with("sb_console=;") && expired.contains("Max-Age=0"), "{expired}");
    let revoked = loop {
        match next(&mut console).await {
            Ok(frame) if frame["type"] == json!("error") => break frame,
            Ok(_) => continue,
            Err(code) => panic!("closed ({code:?}) without saying why"),
        }
    };
    assert_eq!(revoked["code"], json!("credentials_revoked"), "{revoked}");
    assert_eq!(next(&mut console).await.unwrap_err(), Some(4003));

    // The old cookie is worth nothing now, over HTTP or WebSocket.
    let (status, body) = me(&server, Some(&cookie)).await;
    assert_eq!((status, body["code"].clone()), (401, json!("not_signed_in")), "{body}");
    let mut again = upgrade(&server, Some(&own), Some(&cookie)).await.unwrap();
    send(&mut again, json!({"type": "auth_console", "req": 2})).await;
    let refused = answer(&mut again, 2).await;
    assert_eq!(refused["code"], json!("not_signed_in"), "{refused}");
    // The connection stays usable: a visitor can still start a chat on it.
    send(&mut again, json!({"type": "start_chat", "req": 3, "name": "Vera"})).await;
    assert_eq!(answer(&mut again, 3).await["type"], json!("chat_started"));
}

#[tokio::test]
async fn wrong_passwords_unknown_emails_and_missing_cookies_get_specific_errors() {
    let server = TestServer::start();
    server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;

    let (status, wrong, cookie) = sign_in(&server, "ann@example.com", "not the password").await;
    assert_eq!((status, wrong["code"].clone()), (401, json!("bad_credentials")), "{wrong}");
    assert!(cookie.is_none());
    // An unknown email gets the very same answer: sign-in does not tell who has an account.
    let (status, unknown, _) = sign_in(&server, "nobody@example.com", PASSWORD).await;
    assert_eq!(status, 401);
    assert_eq!(unknown, wrong);

    let (status, body) = me(&server, None).await;
    assert_eq!((status, body["code"].clone()), (401, json!("not_signed_in")), "{body}");
    let (status, body) = me(&server, Some("sb_console=made-up")).await;
    assert_eq!((status, body["code"].clone()), (401, json!("not_signed_in")), "{body}");

    let mut socket = upgrade(&server, None, None).await.unwrap();
    send(&mut socket, json!({"type": "auth_console", "req": 1})).await;
    let refused = answer(&mut socket, 1).await;
    assert_eq!(refused["code"], json!("not_signed_in"), "{refused}");

    // A malformed sign-in body is a 400, not a crash.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/console/sign-in", server.http_url()))
        .body("{\"email\": 5")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!("invalid_request"), "{body}");
    // And the right password still works after all that.
    assert_eq!(sign_in(&server, "ann@example.com", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn another_website_never_signs_in_with_the_cookie_and_unlisted_websites_are_refused() {
    let server = TestServer::start();
    let id = server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let cookie = cookie_pair(&sign_in(&server, "ann@example.com", PASSWORD).await.2.unwrap());

    // Any website may embed the widget by default, but a page there cannot use the console
    // cookie even if a browser sends it.
    let mut foreign = upgrade(&server, Some("https://evil.example"), Some(&cookie)).await.unwrap();
    send(&mut foreign, json!({"type": "auth_console", "req": 1})).await;
    assert_eq!(answer(&mut foreign, 1).await["code"], json!("not_signed_in"));
    send(&mut foreign, json!({"type": "start_chat", "req": 2, "name": "Vera"})).await;
    assert_eq!(answer(&mut foreign, 2).await["type"], json!("chat_started"), "the widget works there");
    // A client that is not a browser (no Origin) may use it.
    let mut tool = upgrade(&server, None, Some(&cookie)).await.unwrap();
    send(&mut tool, json!({"type": "auth_console", "req": 1})).await;
    assert_eq!(answer(&mut tool, 1).await["agent"]["agent_id"], json!(id));

    // With --allowed-origins, other websites are refused at the upgrade; the server's own
    // pages and the listed website are not.
    let listed =
        TestServer::start_with(&["--allowed-origins", "https://shop.example.com,https://www.example.com"]);
    assert_eq!(upgrade(&listed, Some("https://evil.example"), None).await.err(), Some(403));
    assert!(upgrade(&listed, Some("https://shop.example.com"), None).await.is_ok());
    assert!(upgrade(&listed, Some(&listed.http_url()), None).await.is_ok());
    let response = reqwest::Client::new()
        .get(listed.ws_url().replace("ws://", "http://"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!("forbidden"));
    assert!(body["message"].as_str().unwrap().contains("https://evil.example"), "{body}");
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited_per_address_and_successful_ones_are_not() {
    let server = TestServer::start();
    server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    // A whole support centre behind one address signs in at nine: no limit on successes.
    for _ in 0..12 {
        assert_eq!(sign_in(&server, "ann@example.com", PASSWORD).await.0, 200);
    }
    // Ten failures are allowed (the burst), then this address is refused for a while,
    // even with the right password.
    for _ in 0..10 {
        assert_eq!(sign_in(&server, "ann@example.com", "guess").await.0, 401);
    }
    let (status, body, cookie) = sign_in(&server, "ann@example.com", PASSWORD).await;
    assert_eq!((status, body["code"].clone()), (429, json!("rate_limited")), "{body}");
    assert!(cookie.is_none());
    // The server keeps serving everything else.
    assert_eq!(reqwest::get(format!("{}/healthz", server.http_url())).await.unwrap().status().as_u16(), 200);

    // Behind a trusted proxy, each client behind it has its own allowance.
    let proxied = TestServer::start_with(&["--trusted-proxies", "127.0.0.1"]);
    proxied.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let via = |client: &'static str, password: &'static str| {
        let url = format!("{}/api/v1/console/sign-in", proxied.http_url());
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("x-forwarded-for", format!("6.6.6.6, {client}"))
                .json(&json!({"email": "ann@example.com", "password": password}))
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    for _ in 0..10 {
        assert_eq!(via("203.0.113.7", "guess").await, 401);
    }
    assert_eq!(via("203.0.113.7", PASSWORD).await, 429);
    // Another agent behind the same proxy: counted apart, and not by the address the client
    // wrote itself (6.6.6.6, first in every list).
    assert_eq!(via("203.0.113.8", PASSWORD).await, 200);
}

#[tokio::test]
async fn the_login_route_refuses_bad_input_and_keeps_the_old_login() {
    let server = TestServer::start();
    let id = server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let path = format!("/api/v1/agents/{id}/login");
    let cases = [
        (json!({"email": "not-an-email"}), 400, "invalid_request"),
        (json!({"password": "short"}), 400, "invalid_request"),
        (json!({"password": "x".repeat(257)}), 400, "invalid_request"),
        (json!({}), 400, "invalid_request"),
        (json!({"email": 7}), 400, "invalid_request"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = server.admin_call("PUT", &path, Some(body.clone())).await;
        assert_eq!((got, answer["code"].clone()), (status, json!(code)), "{body} -> {answer}");
        assert!(!answer["message"].as_str().unwrap_or("").is_empty(), "{answer}");
    }
    let (got, answer) =
        server.admin_call("PUT", "/api/v1/agents/999999/login", Some(json!({"password": PASSWORD}))).await;
    assert_eq!((got, answer["code"].clone()), (404, json!("not_found")), "{answer}");
    // Without the administrator token: 401, and nothing changes.
    let response = reqwest::Client::new()
        .put(format!("{}{path}", server.http_url()))
        .json(&json!({"password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // Another agent cannot take the same email.
    let (other, _) = server.create_agent("Bob Agent", 5).await;
    let (got, answer) = server
        .admin_call(
            "PUT",
            &format!("/api/v1/agents/{other}/login"),
            Some(json!({"email": "ANN@example.com"})),
        )
        .await;
    assert_eq!(got, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("ann@example.com"), "{answer}");

    // The old login still works after every refused change.
    assert_eq!(sign_in(&server, "ann@example.com", PASSWORD).await.0, 200);
    // A new password ends the sessions signed in with the old one.
    let cookie = cookie_pair(&sign_in(&server, "ann@example.com", PASSWORD).await.2.unwrap());
    let (got, _) = server.admin_call("PUT", &path, Some(json!({"password": "a brand new password"}))).await;
    assert_eq!(got, 200);
    assert_eq!(me(&server, Some(&cookie)).await.0, 401);
    assert_eq!(sign_in(&server, "ann@example.com", PASSWORD).await.0, 401);
    assert_eq!(sign_in(&server, "ann@example.com", "a brand new password").await.0, 200);
}

#[tokio::test]
async fn console_sessions_survive_a_restart() {
    let mut server = TestServer::start();
    let id = server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let cookie = cookie_pair(&sign_in(&server, "ann@example.com", PASSWORD).await.2.unwrap());
    server.terminate();
    server.restart();
    let (status, body) = me(&server, Some(&cookie)).await;
    assert_eq!((status, body["agent_id"].clone()), (200, json!(id)), "{body}");
}

/// `POST /api/v1/console/password` with `cookie`: (status, body).
async fn change_password(
    server: &TestServer,
    cookie: Option<&str>,
    current: &str,
    new: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1/console/password", server.http_url()))
        .json(&json!({"current_password": current, "new_password": new}));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_agent_given_a_temporary_password_chooses_their_own_before_the_console_opens() {
    let server = TestServer::start();
    let id = server.console_agent("Ann Agent", "ann@example.com", PASSWORD).await;
    let (status, set) = server
        .admin_call(
            "PUT",
            &format!("/api/v1/agents/{id}/login"),
            Some(json!({"password": "one-time-4711", "temporary": true})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    let (status, body, set_cookie) = sign_in(&server, "ann@example.com", "one-time-4711").await;
    assert_eq!((status, body["must_change_password"].clone()), (200, json!(true)), "{body}");
    let cookie = cookie_pair(&set_cookie.unwrap());
    let other = cookie_pair(&sign_in(&server, "ann@example.com", "one-time-4711").await.2.unwrap());

    // The console cannot connect yet.
    let own = server.http_url();
    let mut socket = upgrade(&server, Some(&own), Some(&cookie)).await.unwrap();
    send(&mut socket, json!({"type": "auth_console", "req": 1})).await;
    assert_eq!(answer(&mut socket, 1).await["code"], json!("password_change_required"));

    // Refusals: no session, a wrong current password, a short one, the same one.
    let (status, refused) = change_password(&server, None, "one-time-4711", "my own passphrase").await;
    assert_eq!((status, refused["code"].clone()), (401, json!("not_signed_in")));
    let (status, refused) = change_password(&server, Some(&cookie), "wrong", "my own passphrase").await;
    assert_eq!((status, refused["code"].clone()), (401, json!("bad_credentials")));
    let (status, refused) = change_password(&server, Some(&cookie), "one-time-4711", "short").await;
    assert_eq!((status, refused["code"].clone()), (400, json!("invalid_request")), "{refused}");
    let (status, refused) = change_password(&server, Some(&cookie), "one-time-4711", "one-time-4711").await;
    assert_eq!((status, refused["code"].clone()), (400, json!("invalid_request")), "{refused}");

    // Chosen: this session stays, the other one ends, the console connects.
    let (status, changed) =
        change_password(&server, Some(&cookie), "one-time-4711", "my own passphrase").await;
    assert_eq!((status, changed["must_change_password"].clone()), (200, json!(false)), "{changed}");
    assert_eq!(me(&server, Some(&other)).await.0, 401, "other sessions end");
    assert_eq!(me(&server, Some(&cookie)).await.0, 200);
    send(&mut socket, json!({"type": "auth_console", "req": 2})).await;
    assert_eq!(answer(&mut socket, 2).await["agent"]["agent_id"], json!(id));
    assert_eq!(sign_in(&server, "ann@example.com", "one-time-4711").await.0, 401);
    let (status, body, _) = sign_in(&server, "ann@example.com", "my own passphrase").await;
    assert_eq!((status, body["must_change_password"].clone()), (200, json!(false)));
}

/// An admin API call with a console cookie (and an `Origin`, as a browser sends).
async fn with_cookie(
    server: &TestServer,
    method: &str,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.http_url()))
        .header("cookie", cookie);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_administrators_console_session_opens_the_admin_api_from_the_consoles_own_pages_only() {
    let server = TestServer::start();
    let ann = server.console_agent("Ann", "ann@example.com", PASSWORD).await;
    let (_, body, cookie) = sign_in(&server, "ann@example.com", PASSWORD).await;
    assert_eq!(body["admin"], false);
    let cookie = cookie_pair(&cookie.unwrap());
    let own = format!("http://{}", server.http_url().trim_start_matches("http://"));

    // Not an administrator: refused, nothing created.
    let folder = json!({"name": "Management"});
    let (status, body) =
        with_cookie(&server, "POST", "/api/v1/folders", &cookie, Some(&own), Some(folder.clone())).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("not an administrator"), "{body}");

    // Made one (with the admin token): the same session now may, and `me` says so.
    let (status, body) =
        server.admin_call("PATCH", &format!("/api/v1/agents/{ann}"), Some(json!({"admin": true}))).await;
    assert_eq!((status, &body["admin"]), (200, &json!(true)), "{body}");
    assert_eq!(me(&server, Some(&cookie)).await.1["admin"], true);
    let (status, body) =
        with_cookie(&server, "POST", "/api/v1/folders", &cookie, Some(&own), Some(folder.clone())).await;
    assert_eq!(status, 201, "{body}");
    let (status, agents) = with_cookie(&server, "GET", "/api/v1/agents", &cookie, None, None).await;
    assert_eq!((status, agents[0]["email"].as_str()), (200, Some("ann@example.com")), "{agents}");

    // From another website's page the cookie opens nothing, even for an administrator.
    let (status, body) = with_cookie(
        &server,
        "POST",
        "/api/v1/folders",
        &cookie,
        Some("https://evil.example"),
        Some(json!({"name": "Stolen"})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    let (_, folders) = server.admin_call("GET", "/api/v1/folders", None).await;
    assert_eq!(
        folders.as_array().unwrap().len(),
        1,
        "only the folder made from the console's page: {folders}"
    );

    // A wrong bearer token is not rescued by a good cookie; a stale cookie is refused.
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/agents", server.http_url()))
        .header("cookie", &cookie)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let signed_out = reqwest::Client::new()
        .post(format!("{}/api/v1/console/sign-out", server.http_url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status().as_u16(), 204);
    let (status, body) = with_cookie(&server, "GET", "/api/v1/agents", &cookie, None, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("not_signed_in")), "{body}");

    // An administrator with a temporary password must choose their own first.
    let login = json!({"password": "temporary one", "temporary": true});
    server.admin_call("PUT", &format!("/api/v1/agents/{ann}/login"), Some(login)).await;
    let (_, _, cookie) = sign_in(&server, "ann@example.com", "temporary one").await;
    let cookie = cookie_pair(&cookie.unwrap());
    let (status, body) = with_cookie(&server, "GET", "/api/v1/agents", &cookie, None, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("password_change_required")), "{body}");

    // Taking the role away closes the admin API to the agent at once.
    server.admin_call("PATCH", &format!("/api/v1/agents/{ann}"), Some(json!({"admin": false}))).await;
    let (status, body) = change_password(&server, Some(&cookie), "temporary one", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = with_cookie(&server, "GET", "/api/v1/agents", &cookie, None, None).await;
    assert_eq!(status, 403);
}
