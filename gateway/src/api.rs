//! The HTTP routes served by warp: health, metrics, and the administration API. Rejections
//! become JSON error bodies in one place ([`recover`]).

use std::convert::Infallible;

use switchboard_engine::Engine;
use switchboard_protocol::http::{self as api, AgentCreated, AgentSummary, CreateAgent, HttpError};
use switchboard_protocol::ErrorCode;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::metrics::Metrics;

#[derive(Debug)]
struct ApiFailure {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl warp::reject::Reject for ApiFailure {}

fn reject(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Rejection {
    warp::reject::custom(ApiFailure { status, code, message: message.into() })
}

/// A JSON error response.
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = HttpError { code, message: message.to_string() };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// Every HTTP route except `/ws`.
pub fn routes(
    engine: Engine,
    metrics: Metrics,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})).into_response());
    let metrics_route = warp::path!("metrics").and(warp::get()).map(move || {
        let text = metrics.render();
        warp::reply::with_header(text, "content-type", "text/plain; version=0.0.4").into_response()
    });
    let admin = admin(engine.clone());
    let create = warp::path!("api" / "v1" / "agents")
        .and(warp::post())
        .and(admin.clone())
        .and(warp::body::content_length_limit(api::HTTP_BODY_BYTES_MAX))
        .and(warp::body::bytes())
        .and_then(move |engine: Engine, body: bytes::Bytes| create_agent(engine, body));
    let list = warp::path!("api" / "v1" / "agents").and(warp::get()).and(admin).map(|engine: Engine| {
        let agents: Vec<AgentSummary> = engine.agents().into_iter().map(summary).collect();
        warp::reply::json(&agents).into_response()
    });
    health.or(metrics_route).unify().or(create).unify().or(list).unify().recover(recover).unify()
}

fn admin(engine: Engine) -> impl Filter<Extract = (Engine,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |header: Option<String>| {
        let engine = engine.clone();
        async move {
            let token = header
                .as_deref()
                .and_then(|h| h.strip_prefix(api::AUTHORIZATION_SCHEME))
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::trim);
            match token {
                Some(token) if engine.check_admin(token) => Ok(engine),
                Some(_) => Err(reject(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "wrong administrator token",
                )),
                None => Err(reject(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "missing `Authorization: Bearer <admin token>`",
                )),
            }
        }
    })
}

async fn create_agent(engine: Engine, body: bytes::Bytes) -> Result<Response, Rejection> {
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
    match engine.create_agent(name, request.max_concurrent_chats).await {
        Ok((profile, token)) => {
            let body = AgentCreated { agent: summary(profile), token };
            Ok(warp::reply::with_status(warp::reply::json(&body), StatusCode::CREATED).into_response())
        }
        Err(e) => {
            let failure = crate::errors::Failure::from(e);
            Err(reject(StatusCode::SERVICE_UNAVAILABLE, failure.code, failure.message))
        }
    }
}

fn summary(profile: switchboard_engine::AgentProfile) -> AgentSummary {
    AgentSummary {
        agent_id: profile.id,
        display_name: profile.display_name,
        max_concurrent_chats: profile.max_concurrent_chats,
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
