//! The HTTP routes served by warp: health, readiness, metrics, and the administration API
//! (every administrative action is written to the audit log). Rejections become JSON error
//! bodies in one place ([`recover`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use switchboard_engine::{now_ms, Engine};
use switchboard_protocol::http::{
    self as api, AgentCreated, AgentSummary, CheckpointCreated, CreateAgent, CreateCheckpoint, HttpError,
    Readiness,
};
use switchboard_protocol::ErrorCode;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::audit::{self, Credential};
use crate::drain::Drain;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::GatewayConfig;

/// The client's address, put into every request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// A request that presented the administrator token, or the console cookie of an agent who
/// is an administrator.
#[derive(Clone)]
pub(crate) struct Admin {
    pub(crate) engine: Engine,
    pub(crate) peer: SocketAddr,
    /// Who acted, for the audit log: `admin` (the token) or `agent {id}` (the console).
    pub(crate) who: String,
}

impl Admin {
    pub(crate) fn audit(&self, action: &'static str, detail: &str) {
        audit::admin_action(&self.who, Some(self.peer), action, detail);
    }
}

#[derive(Debug)]
pub(crate) struct ApiFailure {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl warp::reject::Reject for ApiFailure {}

pub(crate) fn reject(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Rejection {
    warp::reject::custom(ApiFailure { status, code, message: message.into() })
}

/// A JSON error response.
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    crate::errors::count(code);
    let body = HttpError { code, message: message.to_string() };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// Every HTTP route except `/ws`.
pub fn routes(
    engine: Engine,
    metrics: Metrics,
    drain: Drain,
    config: Arc<GatewayConfig>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let live = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})).into_response());
    let health = Health::new(engine.clone(), drain);
    let ready_health = health.clone();
    let ready = warp::path!("readyz").and(warp::get()).then(move || {
        let health = ready_health.clone();
        async move { readiness(&health).await }
    });
    let metrics_engine = engine.clone();
    let metrics_route = warp::path!("metrics").and(warp::get()).then(move || {
        let (engine, health, metrics) = (metrics_engine.clone(), health.clone(), metrics.clone());
        async move {
            match engine.storage_stats() {
                Ok(stats) => crate::metrics::publish_storage(&stats),
                Err(e) => tracing::warn!(error = %e, "reading RocksDB's properties failed"),
            }
            // Readiness is what alerts watch: measured (or the last second's verdict) at each
            // scrape.
            let _ = health.readiness().await;
            let text = metrics.render();
            warp::reply::with_header(text, "content-type", "text/plain; version=0.0.4").into_response()
        }
    });
    let admin = admin(engine.clone());
    let create = warp::path!("api" / "v1" / "agents")
        .and(warp::post())
        .and(admin.clone())
        .and(warp::body::content_length_limit(api::HTTP_BODY_BYTES_MAX))
        .and(warp::body::bytes())
        .and_then(move |admin: Admin, body: bytes::Bytes| create_agent(admin, body));
    let list =
        warp::path!("api" / "v1" / "agents").and(warp::get()).and(admin.clone()).map(|admin: Admin| {
            let agents: Vec<AgentSummary> = admin
                .engine
                .agent_states()
                .into_iter()
                .map(|state| AgentSummary {
                    connections: state.connections,
                    load: state.load,
                    ..summary(state.profile)
                })
                .collect();
            warp::reply::json(&agents).into_response()
        });
    let backup_dir = config.backup_dir.clone();
    let checkpoint = warp::path!("api" / "v1" / "admin" / "checkpoints")
        .and(warp::post())
        .and(admin.clone())
        .and(warp::body::content_length_limit(api::HTTP_BODY_BYTES_MAX))
        .and(warp::body::bytes())
        .and_then(move |admin: Admin, body: bytes::Bytes| create_checkpoint(admin, backup_dir.clone(), body));
    let departments = crate::api_departments::routes(admin.clone());
    let agent_admin = crate::api_departments::agent_routes(admin.clone());
    let contacts = crate::api_contacts::routes(admin.clone());
    let folders = crate::api_folders::routes(admin.clone());
    let tickets = crate::api_tickets::routes(admin.clone());
    let console = crate::web::signin::routes(engine.clone(), config.clone(), admin.clone());
    live.or(ready)
        .unify()
        .or(metrics_route)
        .unify()
        .or(create)
        .unify()
        .or(list)
        .unify()
        .or(checkpoint)
        .unify()
        .or(departments)
        .unify()
        .or(agent_admin)
        .unify()
        .or(contacts)
        .unify()
        .or(folders)
        .unify()
        .or(tickets)
        .unify()
        .or(console)
        .unify()
        .or(crate::web::assets::routes())
        .unify()
        .recover(recover)
        .unify()
}

async fn readiness(health: &Health) -> Response {
    let (status, body) = match health.readiness().await {
        Ok(()) => (StatusCode::OK, Readiness { status: "ready".into(), reason: None }),
        Err(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, Readiness { status: "not_ready".into(), reason: Some(reason) })
        }
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

pub(crate) fn admin(engine: Engine) -> impl Filter<Extract = (Admin,), Error = Rejection> + Clone {
    warp::header::headers_cloned().and(warp::ext::get::<PeerAddr>()).and_then(
        move |headers: warp::http::HeaderMap, PeerAddr(peer)| {
            let engine = engine.clone();
            async move {
                let header = headers.get("authorization").map(|h| h.to_str().unwrap_or(""));
                if header.is_none() {
                    if let Some(secret) = crate::web::console_cookie(&headers) {
                        return console_admin(engine, peer, &headers, &secret).await;
                    }
                }
                let token = header
                    .and_then(|h| h.strip_prefix(api::AUTHORIZATION_SCHEME))
                    .and_then(|rest| rest.strip_prefix(' '))
                    .map(str::trim);
                let message = match token {
                    Some(token) if engine.check_admin(token) => {
                        return Ok(Admin { engine, peer, who: "admin".into() })
                    }
                    Some(_) => "wrong administrator token",
                    None => "missing `Authorization: Bearer <admin token>` (or an administrator's console session)",
                };
                audit::auth_failed(peer, Credential::Admin, message);
                Err(reject(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message))
            }
        },
    )
}

/// An administrator signed in to the console, by the session cookie: only from the server's
/// own pages (a page elsewhere cannot use an administrator's session, whatever its browser
/// sends), and only for an agent with the administrator role.
async fn console_admin(
    engine: Engine,
    peer: SocketAddr,
    headers: &warp::http::HeaderMap,
    secret: &str,
) -> Result<Admin, Rejection> {
    if crate::web::origin_of(headers, &[]) == Ok(crate::web::Origin::Embedding) {
        let message = "the administration API takes the console's session only from this server's own pages";
        audit::auth_failed(peer, Credential::Console, message);
        return Err(reject(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message));
    }
    let signed_in = engine.console_session(secret).await.map_err(|e| {
        let status = match e {
            switchboard_engine::EngineError::NotSignedIn => StatusCode::UNAUTHORIZED,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let failure = crate::errors::Failure::from(e);
        reject(status, failure.code, failure.message)
    })?;
    let agent = &signed_in.agent;
    if agent.password_temporary {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            ErrorCode::PasswordChangeRequired,
            "choose your own password first",
        ));
    }
    if !agent.admin {
        let message = format!("agent {} is not an administrator", agent.id);
        audit::auth_failed(peer, Credential::Console, &message);
        return Err(reject(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message));
    }
    Ok(Admin { engine, peer, who: format!("agent {}", agent.id) })
}

async fn create_checkpoint(
    admin: Admin,
    backup_dir: Option<PathBuf>,
    body: bytes::Bytes,
) -> Result<Response, Rejection> {
    let Some(backup_dir) = backup_dir else {
        return Err(reject(StatusCode::NOT_FOUND, ErrorCode::NotFound, "checkpoints are not configured"));
    };
    let request: CreateCheckpoint = if body.iter().all(u8::is_ascii_whitespace) {
        CreateCheckpoint::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad_request(format!("bad body: {e}")))?
    };
    let created_at_ms = now_ms();
    let name = request.name.unwrap_or_else(|| format!("checkpoint-{created_at_ms}"));
    check_checkpoint_name(&name).map_err(bad_request)?;
    let path = backup_dir.join(&name);
    if path.exists() {
        let message = format!("a checkpoint named `{name}` already exists in {}", backup_dir.display());
        return Err(reject(StatusCode::CONFLICT, ErrorCode::InvalidRequest, message));
    }
    if let Err(e) = std::fs::create_dir_all(&backup_dir) {
        let message = format!("creating the backup directory {}: {e}", backup_dir.display());
        return Err(reject(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::StorageError, message));
    }
    if let Err(e) = admin.engine.checkpoint(path.clone()).await {
        let failure = crate::errors::Failure::from(e);
        return Err(reject(StatusCode::INTERNAL_SERVER_ERROR, failure.code, failure.message));
    }
    admin.audit("backup.create", &format!("checkpoint {}", path.display()));
    let body = CheckpointCreated { name, path: path.display().to_string(), created_at_ms };
    Ok(warp::reply::with_status(warp::reply::json(&body), StatusCode::CREATED).into_response())
}

/// Checkpoint names become directory names: a safe alphabet, no path separators, no `..`.
fn check_checkpoint_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty()
        || name.len() > api::CHECKPOINT_NAME_BYTES_MAX
        || name.starts_with('.')
        || !name.chars().all(allowed)
    {
        return Err(format!(
            "`name` must be 1 to {} characters of A-Z a-z 0-9 . _ - and not start with `.`",
            api::CHECKPOINT_NAME_BYTES_MAX
        ));
    }
    Ok(())
}

pub(crate) fn bad_request(message: String) -> Rejection {
    reject(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message)
}

async fn create_agent(admin: Admin, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: CreateAgent = serde_json::from_slice(&body)
        .map_err(|e| reject(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, format!("bad body: {e}")))?;
    let name = request.display_name.trim().to_string();
    if name.is_empty() || name.len() > api::AGENT_NAME_BYTES_MAX {
        let message = format!("`display_name` must be 1 to {} bytes", api::AGENT_NAME_BYTES_MAX);
        return Err(reject(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message));
    }
    if request.max_concurrent_chats == 0 || request.max_concurrent_chats > api::AGENT_CHATS_MAX {
        let message = format!("`max_concurrent_chats` must be 1 to {}", api::AGENT_CHATS_MAX);
        return Err(reject(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message));
    }
    match admin.engine.create_agent(name, request.max_concurrent_chats).await {
        Ok((profile, token)) => {
            let detail = format!(
                "agent {} ({:?}), max {} chats",
                profile.id, profile.display_name, profile.max_concurrent_chats
            );
            admin.audit("agent.create", &detail);
            let body = AgentCreated { agent: summary(profile), token };
            Ok(warp::reply::with_status(warp::reply::json(&body), StatusCode::CREATED).into_response())
        }
        Err(e) => {
            let failure = crate::errors::Failure::from(e);
            Err(reject(StatusCode::SERVICE_UNAVAILABLE, failure.code, failure.message))
        }
    }
}

pub(crate) fn summary(profile: switchboard_engine::AgentProfile) -> AgentSummary {
    AgentSummary {
        agent_id: profile.id,
        display_name: profile.display_name,
        max_concurrent_chats: profile.max_concurrent_chats,
        disabled: profile.disabled,
        connections: 0,
        load: 0,
        email: profile.email,
        admin: profile.admin,
    }
}

async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    if let Some(f) = rejection.find::<ApiFailure>() {
        return Ok(error_response(f.status, f.code, &f.message));
    }
    if rejection.is_not_found() {
        return Ok(error_response(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such route"));
    }
    if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        return Ok(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidRequest,
            "body too large",
        ));
    }
    if rejection.find::<warp::reject::LengthRequired>().is_some() {
        return Ok(error_response(
            StatusCode::LENGTH_REQUIRED,
            ErrorCode::InvalidRequest,
            "a Content-Length header is required",
        ));
    }
    if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        return Ok(error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::NotFound,
            "method not allowed on this route",
        ));
    }
    Ok(error_response(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, &format!("{rejection:?}")))
}
