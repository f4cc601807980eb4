//! The contact routes of the administration API: create, read, change, list by id, search
//! (by a word of the name, an email prefix or phone digits) and the all-or-nothing bulk
//! import. Every change is written to the audit log by contact id and the fields changed,
//! never their values (they are personal data).

use std::collections::HashMap;

use switchboard_engine::contacts::import::IMPORT_ENTRIES_MAX;
use switchboard_engine::contacts::search::{QUERY_BYTES_MAX, SEARCH_RESULTS_MAX};
use switchboard_engine::contacts::CONTACTS_PAGE_MAX;
use switchboard_engine::domain::contact::{Contact, ContactChanges, ContactDraft};
use switchboard_engine::EngineError;
use switchboard_protocol::http::{
    self as api, ContactInfo, ContactMatches, ContactPage, ContactPatch, ContactsImported, NewContact,
};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::api::{bad_request, reject, Admin};
use crate::errors::Failure;

/// A page's size when `limit` is not given.
const PAGE_DEFAULT: usize = 50;
/// A search's most results when `limit` is not given.
const SEARCH_DEFAULT: usize = 20;

type Query = HashMap<String, String>;

/// The contact routes, behind the administrator filter.
pub(crate) fn routes(
    admin: impl Filter<Extract = (Admin,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let body = || warp::body::content_length_limit(api::HTTP_BODY_BYTES_MAX).and(warp::body::bytes());
    let create = warp::path!("api" / "v1" / "contacts")
        .and(warp::post())
        .and(admin.clone())
        .and(body())
        .and_then(|admin: Admin, body: bytes::Bytes| create(admin, body));
    let list = warp::path!("api" / "v1" / "contacts")
        .and(warp::get())
        .and(admin.clone())
        .and(warp::query::<Query>())
        .and_then(|admin: Admin, query: Query| list(admin, query));
    let search = warp::path!("api" / "v1" / "contacts" / "search")
        .and(warp::get())
        .and(admin.clone())
        .and(warp::query::<Query>())
        .and_then(|admin: Admin, query: Query| search(admin, query));
    let import = warp::path!("api" / "v1" / "contacts" / "import")
        .and(warp::post())
        .and(admin.clone())
        .and(warp::body::content_length_limit(api::CONTACT_IMPORT_BODY_BYTES_MAX))
        .and(warp::body::bytes())
        .and_then(|admin: Admin, body: bytes::Bytes| import(admin, body));
    let get = warp::path!("api" / "v1" / "contacts" / u64)
        .and(warp::get())
        .and(admin.clone())
        .and_then(|id: u64, admin: Admin| get(admin, id));
    let update = warp::path!("api" / "v1" / "contacts" / u64)
        .and(warp::patch())
        .and(admin)
        .and(body())
        .and_then(|id: u64, admin: Admin, body: bytes::Bytes| update(admin, id, body));
    create.or(list).unify().or(search).unify().or(import).unify().or(get).unify().or(update).unify()
}

fn info(c: &Contact) -> ContactInfo {
    ContactInfo {
        contact_id: c.id,
        name: c.fields.name.clone(),
        email: c.fields.email.clone(),
        phone: c.fields.phone.clone(),
        company: c.fields.company.clone(),
        notes: c.fields.notes.clone(),
        created_at_ms: c.created_at_ms,
        updated_at_ms: c.updated_at_ms,
    }
}

fn draft(c: NewContact) -> ContactDraft {
    ContactDraft { name: c.name, email: c.email, phone: c.phone, company: c.company, notes: c.notes }
}

fn failed(e: EngineError) -> Rejection {
    let status = status(&e);
    let failure = Failure::from(e);
    reject(status, failure.code, failure.message)
}

fn status(e: &EngineError) -> StatusCode {
    match e {
        EngineError::UnknownContact(_) => StatusCode::NOT_FOUND,
        EngineError::InvalidContact(_) | EngineError::ImportTooLarge { .. } => StatusCode::BAD_REQUEST,
        EngineError::DuplicateContact(_) => StatusCode::CONFLICT,
        EngineError::ImportRefused { reason, .. } => status(reason),
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("bad body: {e}")))
}

/// An integer query parameter within `lo..=hi`, `default` when absent.
fn number(query: &Query, name: &str, default: u64, (lo, hi): (u64, u64)) -> Result<u64, Rejection> {
    let Some(text) = query.get(name) else { return Ok(default) };
    match text.parse::<u64>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(bad_request(format!("`{name}` must be an integer from {lo} to {hi}"))),
    }
}

/// Refuse parameters the route does not take (a misspelt `limit` would silently be ignored).
fn only(query: &Query, known: &[&str]) -> Result<(), Rejection> {
    match query.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(bad_request(format!("unknown query parameter `{unknown}`"))),
        None => Ok(()),
    }
}

async fn create(admin: Admin, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: NewContact = parse(&body)?;
    let contact = admin.engine.create_contact(draft(request)).await.map_err(failed)?;
    admin.audit("contact.create", &format!("contact {}", contact.id));
    Ok(warp::reply::with_status(warp::reply::json(&info(&contact)), StatusCode::CREATED).into_response())
}

async fn update(admin: Admin, id: u64, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: ContactPatch = parse(&body)?;
    let mut fields = Vec::new();
    for (name, present) in [
        ("name", request.name.is_some()),
        ("email", request.email.is_some()),
        ("phone", request.phone.is_some()),
        ("company", request.company.is_some()),
        ("notes", request.notes.is_some()),
    ] {
        if present {
            fields.push(name);
        }
    }
    let changes = ContactChanges {
        name: request.name,
        email: request.email,
        phone: request.phone,
        company: request.company,
        notes: request.notes,
    };
    let contact = admin.engine.update_contact(id, changes).await.map_err(failed)?;
    admin.audit("contact.update", &format!("contact {id}: {}", fields.join(", ")));
    Ok(warp::reply::json(&info(&contact)).into_response())
}

async fn get(admin: Admin, id: u64) -> Result<Response, Rejection> {
    let contact = admin.engine.get_contact(id).await.map_err(failed)?;
    Ok(warp::reply::json(&info(&contact)).into_response())
}

async fn list(admin: Admin, query: Query) -> Result<Response, Rejection> {
    only(&query, &["after_id", "limit"])?;
    let after_id = number(&query, "after_id", 0, (0, u64::MAX))?;
    let limit = number(&query, "limit", PAGE_DEFAULT as u64, (1, CONTACTS_PAGE_MAX as u64))?;
    let (page, has_more) = admin.engine.list_contacts(after_id, limit as usize).await.map_err(failed)?;
    let body = ContactPage { contacts: page.iter().map(info).collect(), has_more };
    Ok(warp::reply::json(&body).into_response())
}

async fn search(admin: Admin, query: Query) -> Result<Response, Rejection> {
    only(&query, &["q", "limit"])?;
    let q = query.get("q").map(|q| q.trim().to_string()).unwrap_or_default();
    if q.is_empty() || q.len() > QUERY_BYTES_MAX {
        return Err(bad_request(format!("`q` must be 1 to {QUERY_BYTES_MAX} bytes")));
    }
    let limit = number(&query, "limit", SEARCH_DEFAULT as u64, (1, SEARCH_RESULTS_MAX as u64))?;
    let found = admin.engine.search_contacts(q, limit as usize).await.map_err(failed)?;
    let body = ContactMatches { contacts: found.iter().map(info).collect() };
    Ok(warp::reply::json(&body).into_response())
}

/// The body is read as JSON values first, so that an entry of the wrong shape is named by
/// its place (`entry 3: unknown field …`) rather than by a line and column of the body.
async fn import(admin: Admin, body: bytes::Bytes) -> Result<Response, Rejection> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entries {
        contacts: Vec<serde_json::Value>,
    }
    let entries: Entries = parse(&body)?;
    if entries.contacts.len() > IMPORT_ENTRIES_MAX {
        let entries = entries.contacts.len();
        return Err(failed(EngineError::ImportTooLarge { entries, max: IMPORT_ENTRIES_MAX }));
    }
    let mut drafts = Vec::with_capacity(entries.contacts.len());
    for (i, entry) in entries.contacts.into_iter().enumerate() {
        let entry: NewContact =
            serde_json::from_value(entry).map_err(|e| bad_request(format!("entry {}: {e}", i + 1)))?;
        drafts.push(draft(entry));
    }
    let contacts = admin.engine.import_contacts(drafts).await.map_err(failed)?;
    let contact_ids: Vec<u64> = contacts.iter().map(|c| c.id).collect();
    let detail = match (contact_ids.first(), contact_ids.last()) {
        (Some(first), Some(last)) => format!("{} contacts, ids {first} to {last}", contact_ids.len()),
        _ => "0 contacts".to_string(),
    };
    admin.audit("contact.import", &detail);
    Ok(warp::reply::json(&ContactsImported { imported: contact_ids.len(), contact_ids }).into_response())
}
