//! The console's sign-in routes: `POST /api/v1/console/sign-in` (email and password → an
//! HttpOnly, SameSite=Strict session cookie), `POST /api/v1/console/sign-out`, `GET
//! /api/v1/console/me`, and the administrator's `PUT /api/v1/agents/{id}/login`. Failed
//! sign-ins are rate-limited per client address; successful ones are not (a whole support
//! centre behind one NAT address signs in at nine).

use std::net::IpAddr;
use std::sync::Arc;

use switchboard_engine::console::ConsoleSignIn;
use switchboard_engine::{now_ms, Engine, EngineError};
use switchboard_protocol::console::{
    ChangePassword, ConsoleAgent, LoginSet, SetLogin, SignIn, CONSOLE_COOKIE,
};
use switchboard_protocol::http as api;
use switchboard_protocol::ErrorCode;
use warp::http::{header, HeaderMap, StatusCode};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::api::{error_response, Admin, PeerAddr};
use crate::audit::{self, Credential};
use crate::errors::Failure;
use crate::rate::{PerAddress, TokenBucket};
use crate::GatewayConfig;

/// Per-address buckets of failed sign-ins.
#[derive(Clone)]
struct Limiter(PerAddress);

impl Limiter {
    /// The 429 answer when `ip` has failed so often lately that its sign-ins are refused
    /// for now.
    fn refusal(&self, ip: IpAddr) -> Option<Response> {
        self.0.blocked(ip, now_ms()).then(|| {
            failure_response(Failure::new(
                ErrorCode::RateLimited,
                "too many failed sign-ins from this address: wait a minute and try again",
            ))
        })
    }

    /// Charge a failed sign-in to `ip`.
    fn failed(&self, ip: IpAddr) {
        self.0.take(ip, now_ms());
    }
}

fn failure_response(failure: Failure) -> Response {
    let status = match failure.code {
        ErrorCode::BadCredentials | ErrorCode::NotSignedIn => StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_response(status, failure.code, &failure.message)
}

fn engine_failure(e: EngineError) -> Response {
    failure_response(Failure::from(e))
}

/// The `Set-Cookie` value for a session secret (`None`: expire the cookie).
fn cookie(secret: Option<&str>, max_age_s: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match secret {
        Some(secret) => {
            format!(
                "{CONSOLE_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
            )
        }
        None => format!("{CONSOLE_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

fn agent_view(signed_in: &ConsoleSignIn) -> ConsoleAgent {
    ConsoleAgent {
        agent_id: signed_in.agent.id,
        display_name: signed_in.agent.display_name.clone(),
        email: signed_in.agent.email.clone(),
        expires_at_ms: signed_in.expires_at_ms,
        must_change_password: signed_in.agent.password_temporary,
        admin: signed_in.agent.admin,
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error_response(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, &format!("bad body: {e}"))
    })
}

/// The console routes (sign-in, sign-out, me) and the administrator's login route.
pub(crate) fn routes(
    engine: Engine,
    config: Arc<GatewayConfig>,
    admin: impl Filter<Extract = (Admin,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let limiter =
        Limiter(PerAddress::new(TokenBucket::per_minute(config.sign_in_burst, config.sign_in_per_minute, 0)));
    // A wrong current password counts against the same allowance as a failed sign-in.
    let limiter_change = limiter.clone();
    let body = || warp::body::content_length_limit(api::HTTP_BODY_BYTES_MAX).and(warp::body::bytes());
    let with = move || {
        let (engine, config) = (engine.clone(), config.clone());
        warp::any().map(move || (engine.clone(), config.clone()))
    };
    let sign_in = warp::path!("api" / "v1" / "console" / "sign-in")
        .and(warp::post())
        .and(with())
        .and(warp::ext::get::<PeerAddr>())
        .and(warp::header::headers_cloned())
        .and(body())
        .then(
            move |(engine, config): (Engine, Arc<GatewayConfig>),
                  PeerAddr(peer),
                  headers: HeaderMap,
                  body: bytes::Bytes| {
                let limiter = limiter.clone();
                async move {
                    let client = super::client_ip(peer.ip(), &headers, &config.trusted_proxies);
                    if let Some(refused) = limiter.refusal(client) {
                        return refused;
                    }
                    let request: SignIn = match json_body(&body) {
                        Ok(request) => request,
                        Err(response) => return response,
                    };
                    match engine.console_sign_in(&request.email, request.password).await {
                        Ok((signed_in, secret)) => {
                            let max_age = signed_in.expires_at_ms.saturating_sub(now_ms()) / 1000;
                            let mut response = warp::reply::json(&agent_view(&signed_in)).into_response();
                            let set = cookie(Some(&secret), max_age, config.cookie_secure);
                            response
                                .headers_mut()
                                .insert(header::SET_COOKIE, set.parse().expect("cookie header"));
                            response
                        }
                        Err(e) => {
                            if matches!(e, EngineError::BadCredentials) {
                                limiter.failed(client);
                                // Through a proxy the client's port is not known: 0.
                                let from = if client == peer.ip() {
                                    peer
                                } else {
                                    std::net::SocketAddr::new(client, 0)
                                };
                                audit::auth_failed(
                                    from,
                                    Credential::Console,
                                    "wrong console email or password",
                                );
                            }
                            engine_failure(e)
                        }
                    }
                }
            },
        );
    let sign_out = warp::path!("api" / "v1" / "console" / "sign-out")
        .and(warp::post())
        .and(with())
        .and(warp::header::headers_cloned())
        .then(|(engine, config): (Engine, Arc<GatewayConfig>), headers: HeaderMap| async move {
            if let Some(secret) = super::console_cookie(&headers) {
                if let Err(e) = engine.console_sign_out(&secret).await {
                    return engine_failure(e);
                }
            }
            let mut response =
                warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response();
            let expire = cookie(None, 0, config.cookie_secure);
            response.headers_mut().insert(header::SET_COOKIE, expire.parse().expect("cookie header"));
            response
        });
    let me = warp::path!("api" / "v1" / "console" / "me")
        .and(warp::get())
        .and(with())
        .and(warp::header::headers_cloned())
        .then(|(engine, _config): (Engine, Arc<GatewayConfig>), headers: HeaderMap| async move {
            let Some(secret) = super::console_cookie(&headers) else {
                return engine_failure(EngineError::NotSignedIn);
            };
            match engine.console_session(&secret).await {
                Ok(signed_in) => warp::reply::json(&agent_view(&signed_in)).into_response(),
                Err(e) => engine_failure(e),
            }
        });
    let set_login =
        warp::path!("api" / "v1" / "agents" / u64 / "login").and(warp::put()).and(admin).and(body()).then(
            |id: u64, admin: Admin, body: bytes::Bytes| async move {
                let request: SetLogin = match json_body(&body) {
                    Ok(request) => request,
                    Err(response) => return response,
                };
                if request.email.is_none() && request.password.is_none() {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::InvalidRequest,
                        "give `email`, `password` or both",
                    );
                }
                let new_password = request.password.is_some();
                let temporary = request.temporary && new_password;
                match admin.engine.set_console_login(id, request.email, request.password, temporary).await {
                    Ok(profile) => {
                        let detail = format!(
                            "agent {id}: console email {:?}{}",
                            profile.email,
                            match (new_password, temporary) {
                                (true, true) => ", new temporary password",
                                (true, false) => ", new password",
                                _ => "",
                            }
                        );
                        admin.audit("agent.login", &detail);
                        let answer = LoginSet {
                            agent_id: profile.id,
                            email: profile.email.clone(),
                            has_password: profile.has_password(),
                        };
                        warp::reply::json(&answer).into_response()
                    }
                    Err(e) => engine_failure(e),
                }
            },
        );
    let change_password = warp::path!("api" / "v1" / "console" / "password")
        .and(warp::post())
        .and(with())
        .and(warp::ext::get::<PeerAddr>())
        .and(warp::header::headers_cloned())
        .and(body())
        .then(
            move |(engine, config): (Engine, Arc<GatewayConfig>),
                  PeerAddr(peer),
                  headers: HeaderMap,
                  body: bytes::Bytes| {
                let limiter = limiter_change.clone();
                async move {
                    let client = super::client_ip(peer.ip(), &headers, &config.trusted_proxies);
                    if let Some(refused) = limiter.refusal(client) {
                        return refused;
                    }
                    let Some(secret) = super::console_cookie(&headers) else {
                        return engine_failure(EngineError::NotSignedIn);
                    };
                    let request: ChangePassword = match json_body(&body) {
                        Ok(request) => request,
                        Err(response) => return response,
                    };
                    match engine
                        .change_console_password(&secret, request.current_password, request.new_password)
                        .await
                    {
                        Ok(signed_in) => warp::reply::json(&agent_view(&signed_in)).into_response(),
                        Err(e) => {
                            if matches!(e, EngineError::BadCredentials) {
                                limiter.failed(client);
                            }
                            engine_failure(e)
                        }
                    }
                }
            },
        );
    sign_in.or(sign_out).unify().or(me).unify().or(change_password).unify().or(set_login).unify()
}
