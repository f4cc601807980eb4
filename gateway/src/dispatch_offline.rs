//! The requests a visitor makes when it may find nobody to chat with: `department_status`
//! (any connection) and `leave_message` (not agents; at most
//! [`LEFT_MESSAGES_PER_CONNECTION_MAX`] good ones per connection, and per client address
//! a burst of [`LEFT_MESSAGES_BURST`] then [`LEFT_MESSAGES_PER_HOUR`] an hour), over
//! [`switchboard_engine::offline`]. Each message is a ticket kept for good and sent to the
//! helpdesk, so a script must not be able to fill it.

use switchboard_engine::offline::LeftMessage;
use switchboard_protocol::hours::{LEFT_MESSAGES_PER_CONNECTION_MAX, LEFT_MESSAGE_BYTES_MAX};
use switchboard_protocol::{limits, ErrorCode, ReqId, Request, ServerFrame};

use std::sync::LazyLock;

use switchboard_engine::now_ms;

use crate::dispatch::{check_len, Conn, Step};
use crate::rate::{PerAddress, TokenBucket};

/// Messages one client address may leave at once: a family or a small office behind one
/// address writing on the same morning.
pub const LEFT_MESSAGES_BURST: u32 = 10;

/// Then this many an hour per address.
pub const LEFT_MESSAGES_PER_HOUR: u32 = 20;

/// The per-address allowance, shared by every connection of this server.
static BY_ADDRESS: LazyLock<PerAddress> =
    LazyLock::new(|| PerAddress::new(TokenBucket::per_hour(LEFT_MESSAGES_BURST, LEFT_MESSAGES_PER_HOUR, 0)));
use crate::errors::Failure;
use crate::role::Role;

/// Handle `department_status` or `leave_message`.
pub(crate) fn handle(conn: &mut Conn, re: ReqId, request: Request) -> Result<Step, Failure> {
    let engine = conn.engine.clone();
    match request {
        Request::DepartmentStatus { department } => {
            check_len("department", department.as_deref(), limits::DEPARTMENT_NAME_BYTES_MAX)?;
            let id = engine.department_by_name(department.as_deref())?;
            let status = engine.department_status(id)?;
            Ok(Step::Reply(ServerFrame::DepartmentStatus {
                re,
                department: status.name,
                open: status.open,
                agents_online: status.agents_online,
                next_open_ms: status.next_open_ms,
                time_zone: status.time_zone,
            }))
        }
        Request::LeaveMessage { department, name, email, text, page_url } => {
            if matches!(conn.role, Role::Agent(_)) {
                return Err(Failure::new(ErrorCode::WrongRole, "`leave_message` is for visitors"));
            }
            if conn.messages_left >= LEFT_MESSAGES_PER_CONNECTION_MAX {
                return Err(Failure::new(
                    ErrorCode::LimitReached,
                    format!("at most {LEFT_MESSAGES_PER_CONNECTION_MAX} messages per connection"),
                ));
            }
            check_len("department", department.as_deref(), limits::DEPARTMENT_NAME_BYTES_MAX)?;
            check_len("name", Some(&name), limits::VISITOR_NAME_BYTES_MAX)?;
            check_len("email", Some(&email), limits::VISITOR_EMAIL_BYTES_MAX)?;
            check_len("page_url", page_url.as_deref(), limits::PAGE_URL_BYTES_MAX)?;
            check_len("text", Some(&text), LEFT_MESSAGE_BYTES_MAX)?;
            let id = engine.department_by_name(department.as_deref())?;
            let message = LeftMessage { name, email, text, page_url }.checked()?;
            if !BY_ADDRESS.take(conn.client, now_ms()) {
                return Err(Failure::new(
                    ErrorCode::RateLimited,
                    "too many messages from this address lately: please try again later",
                ));
            }
            // Counted once the message is good: a visitor who mistyped the email keeps all
            // three tries.
            conn.messages_left += 1;
            Ok(Step::Later(Box::pin(async move {
                match engine.leave_message(id, message).await {
                    Ok(ticket_id) => ServerFrame::MessageLeft { re, ticket_id },
                    Err(e) => Failure::from(e).frame(Some(re)),
                }
            })))
        }
        other => unreachable!("not an offline request: {other:?}"),
    }
}
