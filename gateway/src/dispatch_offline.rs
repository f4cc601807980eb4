//! The requests a visitor makes when it may find nobody to chat with: `department_status`
//! (any connection) and `leave_message` (not agents; at most
//! [`LEFT_MESSAGES_PER_CONNECTION_MAX`] good ones per connection), over [`switchboard_engine::offline`].

use switchboard_engine::offline::LeftMessage;
use switchboard_protocol::hours::{LEFT_MESSAGES_PER_CONNECTION_MAX, LEFT_MESSAGE_BYTES_MAX};
use switchboard_protocol::{limits, ErrorCode, ReqId, Request, ServerFrame};

use crate::dispatch::{check_len, Conn, Step};
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
