//! The ticket routes of the administration API: make a session into a ticket (201 when
//! new, 200 with the ticket it already had), list tickets by id, read one. A creation is
//! written to the audit log by ticket and session id, never its contents (the transcript is
//! personal data).

use std::collections::HashMap;

use switchboard_engine::tickets::TICKETS_PAGE_MAX;
use switchboard_engine::EngineError;
use switchboard_protocol::http as api;
use switchboard_protocol::tickets::{NewTicket, TicketPage};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::api::{bad_request, reject, Admin};
use crate::convert::ticket_info;
use crate::errors::Failure;

/// A page's size when `limit` is not given.
const PAGE_DEFAULT: usize = 10;

type Query = HashMap<String, String>;

/// The ticket routes, behind the administrator filter.
pub(crate) fn routes(
    admin: impl Filter<Extract = (Admin,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    // The body is optional: a POST without one (no `Content-Length`, not chunked) is empty.
    let empty = warp::header::optional::<String>("content-length")
        .and(warp::header::optional::<String>("transfer-encoding"))
        .and_then(|length: Option<String>, chunked: Option<String>| async move {
            match (length, chunked) {
                (None, None) => Ok(bytes::Bytes::new()),
                _ => Err(warp::reject::not_found()),
            }
        });
    let sized = warp::body::content_length_limit(api::HTTP_BODY_BYTES_MAX).and(warp::body::bytes());
    let from_session = warp::path!("api" / "v1" / "sessions" / u64 / "ticket")
        .and(warp::post())
        .and(admin.clone())
        .and(empty.or(sized).unify())
        .and_then(|session: u64, admin: Admin, body: bytes::Bytes| {
            create(admin, Source::Session(session), body)
        });
    let from_message = warp::path!("api" / "v1" / "channels" / u64 / "messages" / u64 / "ticket")
        .and(warp::post())
        .and(admin.clone())
        .and(empty.or(sized).unify())
        .and_then(|channel: u64, seq: u64, admin: Admin, body: bytes::Bytes| {
            create(admin, Source::Message(channel, seq), body)
        });
    let list = warp::path!("api" / "v1" / "tickets")
        .and(warp::get())
        .and(admin.clone())
        .and(warp::query::<Query>())
        .and_then(|admin: Admin, query: Query| list(admin, query));
    let get = warp::path!("api" / "v1" / "tickets" / u64)
        .and(warp::get())
        .and(admin)
        .and_then(|id: u64, admin: Admin| get(admin, id));
    from_session.or(from_message).unify().or(list).unify().or(get).unify()
}

fn failed(e: EngineError) -> Rejection {
    let status = match &e {
        EngineError::UnknownSession(_) | EngineError::UnknownTicket(_) | EngineError::UnknownChannel(_) => {
            StatusCode::NOT_FOUND
        }
        EngineError::InvalidTicket(_) | EngineError::InvalidChannel(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let failure = Failure::from(e);
    reject(status, failure.code, failure.message)
}

/// What a ticket is made from.
enum Source {
    Session(u64),
    /// Channel id, message seq.
    Message(u64, u64),
}

async fn create(admin: Admin, source: Source, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: NewTicket = if body.iter().all(u8::is_ascii_whitespace) {
        NewTicket::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad_request(format!("bad body: {e}")))?
    };
    let (ticket, created, from) = match source {
        Source::Session(session) => {
            let (ticket, created) =
                admin.engine.create_ticket(session, None, request.subject).await.map_err(failed)?;
            (ticket, created, format!("session {session}"))
        }
        Source::Message(channel, seq) => {
            let engine = &admin.engine;
            let (ticket, created) =
                engine.create_channel_ticket(channel, seq, None, request.subject).await.map_err(failed)?;
            (ticket, created, format!("message {seq} of channel {channel}"))
        }
    };
    let status = if created {
        admin.audit("ticket.create", &format!("ticket {} from {from}", ticket.id));
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(warp::reply::with_status(warp::reply::json(&ticket_info(&ticket)), status).into_response())
}

async fn get(admin: Admin, id: u64) -> Result<Response, Rejection> {
    let ticket = admin.engine.get_ticket(id).await.map_err(failed)?;
    Ok(warp::reply::json(&ticket_info(&ticket)).into_response())
}

async fn list(admin: Admin, query: Query) -> Result<Response, Rejection> {
    if let Some(unknown) = query.keys().find(|k| !["after_id", "limit"].contains(&k.as_str())) {
        return Err(bad_request(format!("unknown query parameter `{unknown}`")));
    }
    let after_id = number(&query, "after_id", 0, (0, u64::MAX))?;
    let limit = number(&query, "limit", PAGE_DEFAULT as u64, (1, TICKETS_PAGE_MAX as u64))?;
    let (page, has_more) = admin.engine.list_tickets(after_id, limit as usize).await.map_err(failed)?;
    let body = TicketPage { tickets: page.iter().map(ticket_info).collect(), has_more };
    Ok(warp::reply::json(&body).into_response())
}

/// An integer query parameter within `lo..=hi`, `default` when absent.
fn number(query: &Query, name: &str, default: u64, (lo, hi): (u64, u64)) -> Result<u64, Rejection> {
    let Some(text) = query.get(name) else { return Ok(default) };
    match text.parse::<u64>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(bad_request(format!("`{name}` must be an integer from {lo} to {hi}"))),
    }
}
