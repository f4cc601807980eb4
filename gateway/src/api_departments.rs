//! The administration routes of fair assignment: departments (create, list, rename and
//! change their routing settings), their members, a session's routing decisions, and the
//! agent changes routing depends on (capacity, disabling, token rotation). Every change is
//! written to the audit log.

use switchboard_engine::agents::AgentChanges;
use switchboard_engine::domain::hours::Hours;
use switchboard_engine::domain::routing::{Decision, RoutingConfig};
use switchboard_engine::routing::Department;
use switchboard_engine::EngineError;
use switchboard_protocol::http::{
    self as api, DepartmentChanges, DepartmentSummary, RoutingDecision, SessionPriority, TokenRotated,
    UpdateAgent,
};
use switchboard_protocol::limits;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::api::{bad_request, reject, Admin};
use crate::errors::Failure;

/// The department routes, behind the administrator filter.
pub(crate) fn routes(
    admin: impl Filter<Extract = (Admin,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let body = || warp::body::content_length_limit(api::HTTP_BODY_BYTES_MAX).and(warp::body::bytes());
    let list =
        warp::path!("api" / "v1" / "departments").and(warp::get()).and(admin.clone()).map(|admin: Admin| {
            let all: Vec<DepartmentSummary> = admin.engine.departments().iter().map(summary).collect();
            warp::reply::json(&all).into_response()
        });
    let create = warp::path!("api" / "v1" / "departments")
        .and(warp::post())
        .and(admin.clone())
        .and(body())
        .and_then(|admin: Admin, body: bytes::Bytes| create(admin, body));
    let update = warp::path!("api" / "v1" / "departments" / u64)
        .and(warp::patch())
        .and(admin.clone())
        .and(body())
        .and_then(|id: u64, admin: Admin, body: bytes::Bytes| update(admin, id, body));
    let join = warp::path!("api" / "v1" / "departments" / u64 / "agents" / u64)
        .and(warp::put())
        .and(admin.clone())
        .and_then(|id: u64, agent: u64, admin: Admin| member(admin, id, agent, true));
    let leave = warp::path!("api" / "v1" / "departments" / u64 / "agents" / u64)
        .and(warp::delete())
        .and(admin.clone())
        .and_then(|id: u64, agent: u64, admin: Admin| member(admin, id, agent, false));
    let decisions = warp::path!("api" / "v1" / "sessions" / u64 / "routing")
        .and(warp::get())
        .and(admin.clone())
        .and_then(|session: u64, admin: Admin| decisions(admin, session));
    let priority = warp::path!("api" / "v1" / "sessions" / u64 / "priority")
        .and(warp::put())
        .and(admin)
        .and(body())
        .and_then(|session: u64, admin: Admin, body: bytes::Bytes| set_priority(admin, session, body));
    list.or(create)
        .unify()
        .or(update)
        .unify()
        .or(join)
        .unify()
        .or(leave)
        .unify()
        .or(decisions)
        .unify()
        .or(priority)
        .unify()
}

fn summary(d: &Department) -> DepartmentSummary {
    DepartmentSummary {
        department_id: d.id,
        name: d.name.clone(),
        automatic: d.config.automatic,
        auto_accept: d.config.auto_accept,
        offer_timeout_ms: d.config.offer_timeout_ms,
        ramp_max: d.config.ramp_max,
        ramp_window_ms: d.config.ramp_window_ms,
        requeue_on_offline: d.config.requeue_on_offline,
        agents: d.agents.iter().copied().collect(),
        hours: d.hours.as_ref().map(crate::convert::business_hours),
    }
}

fn failed(e: EngineError) -> Rejection {
    let status = match &e {
        EngineError::UnknownDepartment(_) => StatusCode::NOT_FOUND,
        EngineError::InvalidDepartment(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let failure = Failure::from(e);
    reject(status, failure.code, failure.message)
}

/// Department names: lower-case letters, digits, `-` and `_`, 1 to 64 bytes.
fn check_name(name: &str) -> Result<(), Rejection> {
    let ok = !name.is_empty()
        && name.len() <= limits::DEPARTMENT_NAME_BYTES_MAX
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        return Ok(());
    }
    Err(bad_request(format!(
        "`name` must be 1 to {} characters of a-z 0-9 - _",
        limits::DEPARTMENT_NAME_BYTES_MAX
    )))
}

/// Apply the settings present in `changes` to `config`, checking each range.
fn settings(mut config: RoutingConfig, changes: &DepartmentChanges) -> Result<RoutingConfig, Rejection> {
    fn within<T: PartialOrd + std::fmt::Display + Copy>(
        name: &str,
        v: T,
        (lo, hi): (T, T),
    ) -> Result<T, Rejection> {
        if v < lo || v > hi {
            return Err(bad_request(format!("`{name}` must be {lo} to {hi}")));
        }
        Ok(v)
    }
    if let Some(v) = changes.automatic {
        config.automatic = v;
    }
    if let Some(v) = changes.auto_accept {
        config.auto_accept = v;
    }
    if let Some(v) = changes.requeue_on_offline {
        config.requeue_on_offline = v;
    }
    if let Some(v) = changes.offer_timeout_ms {
        config.offer_timeout_ms = within("offer_timeout_ms", v, api::OFFER_TIMEOUT_MS_RANGE)?;
    }
    if let Some(v) = changes.ramp_max {
        config.ramp_max = within("ramp_max", v, api::RAMP_MAX_RANGE)?;
    }
    if let Some(v) = changes.ramp_window_ms {
        config.ramp_window_ms = within("ramp_window_ms", v, api::RAMP_WINDOW_MS_RANGE)?;
    }
    Ok(config)
}

/// The business hours in `changes`, checked: `None` when absent, `Some(None)` to clear.
fn hours(changes: &DepartmentChanges) -> Result<Option<Option<Hours>>, Rejection> {
    match &changes.hours {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(wire)) => crate::convert::hours(wire).map(|h| Some(Some(h))).map_err(bad_request),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("bad body: {e}")))
}

async fn create(admin: Admin, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: DepartmentChanges = parse(&body)?;
    let name = request.name.clone().ok_or_else(|| bad_request("`name` is required".into()))?;
    check_name(&name)?;
    let config = settings(RoutingConfig::default(), &request)?;
    let hours = hours(&request)?.flatten();
    let department = admin.engine.create_department(name, config, hours).await.map_err(failed)?;
    admin.audit("department.create", &format!("department {} ({:?})", department.id, department.name));
    Ok(warp::reply::with_status(warp::reply::json(&summary(&department)), StatusCode::CREATED)
        .into_response())
}

async fn update(admin: Admin, id: u64, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: DepartmentChanges = parse(&body)?;
    if let Some(name) = &request.name {
        check_name(name)?;
    }
    let current =
        admin.engine.department(id).ok_or_else(|| failed(EngineError::UnknownDepartment(id.to_string())))?;
    let config = settings(current.config, &request)?;
    let hours = hours(&request)?;
    let department = admin.engine.update_department(id, request.name, config, hours).await.map_err(failed)?;
    admin.audit("department.update", &format!("department {id}: {:?}", summary(&department)));
    Ok(warp::reply::json(&summary(&department)).into_response())
}

async fn member(admin: Admin, id: u64, agent: u64, joined: bool) -> Result<Response, Rejection> {
    let department = admin.engine.set_member(id, agent, joined).await.map_err(failed)?;
    let (action, verb) = if joined {
        ("department.add_agent", "added to")
    } else {
        ("department.remove_agent", "removed from")
    };
    admin.audit(action, &format!("agent {agent} {verb} department {id}"));
    Ok(warp::reply::json(&summary(&department)).into_response())
}

async fn decisions(admin: Admin, session: u64) -> Result<Response, Rejection> {
    let decisions = admin.engine.routing_decisions(session).map_err(|e| match e {
        EngineError::UnknownSession(_) => reject(
            StatusCode::NOT_FOUND,
            switchboard_protocol::ErrorCode::UnknownSession,
            format!("no session {session}"),
        ),
        other => failed(other),
    })?;
    let body: Vec<RoutingDecision> =
        decisions.iter().map(|(department, d)| decision(*department, d)).collect();
    Ok(warp::reply::json(&body).into_response())
}

async fn set_priority(admin: Admin, session: u64, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: SessionPriority = parse(&body)?;
    crate::dispatch::check_priority(request.priority).map_err(|f| bad_request(f.message))?;
    admin.engine.set_priority_now(session, request.priority).await.map_err(|e| {
        let status = match &e {
            EngineError::UnknownSession(_) => StatusCode::NOT_FOUND,
            EngineError::Session(_) => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let failure = Failure::from(e);
        reject(status, failure.code, failure.message)
    })?;
    admin.audit("session.priority", &format!("session {session}: priority {}", request.priority));
    Ok(warp::reply::json(&request).into_response())
}

fn decision(department_id: u64, d: &Decision) -> RoutingDecision {
    RoutingDecision {
        at_ms: d.at_ms,
        department_id,
        agent_id: d.agent,
        outcome: switchboard_engine::routing::outcome_name(d.outcome).to_string(),
        load: d.load.0,
        capacity: d.load.1,
        idle_ms: d.idle_ms,
        skipped: d.skipped.clone(),
        candidates: d.candidates,
    }
}

/// `PATCH /api/v1/agents/{id}` and `POST /api/v1/agents/{id}/token`.
pub(crate) fn agent_routes(
    admin: impl Filter<Extract = (Admin,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let body = || warp::body::content_length_limit(api::HTTP_BODY_BYTES_MAX).and(warp::body::bytes());
    let update = warp::path!("api" / "v1" / "agents" / u64)
        .and(warp::patch())
        .and(admin.clone())
        .and(body())
        .and_then(|id: u64, admin: Admin, body: bytes::Bytes| update_agent(admin, id, body));
    let rotate = warp::path!("api" / "v1" / "agents" / u64 / "token")
        .and(warp::post())
        .and(admin)
        .and_then(|id: u64, admin: Admin| rotate_token(admin, id));
    update.or(rotate).unify()
}

async fn update_agent(admin: Admin, id: u64, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: UpdateAgent = parse(&body)?;
    let name = request.display_name.map(|n| n.trim().to_string());
    if let Some(name) = &name {
        if name.is_empty() || name.len() > api::AGENT_NAME_BYTES_MAX {
            return Err(bad_request(format!(
                "`display_name` must be 1 to {} bytes",
                api::AGENT_NAME_BYTES_MAX
            )));
        }
    }
    if let Some(max) = request.max_concurrent_chats {
        if max == 0 || max > api::AGENT_CHATS_MAX {
            return Err(bad_request(format!("`max_concurrent_chats` must be 1 to {}", api::AGENT_CHATS_MAX)));
        }
    }
    let profile = admin
        .engine
        .update_agent(
            id,
            AgentChanges {
                display_name: name,
                max_concurrent_chats: request.max_concurrent_chats,
                disabled: request.disabled,
                admin: request.admin,
            },
        )
        .await
        .map_err(agent_failed)?;
    let detail = format!(
        "agent {id}: name {:?}, max {} chats, disabled {}, admin {}",
        profile.display_name, profile.max_concurrent_chats, profile.disabled, profile.admin
    );
    admin.audit("agent.update", &detail);
    Ok(warp::reply::json(&crate::api::summary(profile)).into_response())
}

async fn rotate_token(admin: Admin, id: u64) -> Result<Response, Rejection> {
    let token = admin.engine.rotate_token(id).await.map_err(agent_failed)?;
    admin.audit("agent.rotate_token", &format!("agent {id}: token rotated, connections closed"));
    Ok(warp::reply::json(&TokenRotated { agent_id: id, token }).into_response())
}

fn agent_failed(e: EngineError) -> Rejection {
    match e {
        EngineError::UnknownAgent(id) => {
            reject(StatusCode::NOT_FOUND, switchboard_protocol::ErrorCode::NotFound, format!("no agent {id}"))
        }
        other => failed(other),
    }
}
