//! The administration routes of channel folders: list, create, rename and reorder, delete
//! (its channels move out, never deleted), and moving a channel into a folder. Every change
//! is written to the audit log.

use switchboard_engine::EngineError;
use switchboard_protocol::http::{self as api, FolderChanges, MoveChannel};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::api::{bad_request, reject, Admin};
use crate::convert;
use crate::errors::Failure;

/// The folder routes, behind the administrator filter.
pub(crate) fn routes(
    admin: impl Filter<Extract = (Admin,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let body = || warp::body::content_length_limit(api::HTTP_BODY_BYTES_MAX).and(warp::body::bytes());
    let list =
        warp::path!("api" / "v1" / "folders").and(warp::get()).and(admin.clone()).map(|admin: Admin| {
            let all: Vec<_> = admin.engine.folders().iter().map(convert::folder_info).collect();
            warp::reply::json(&all).into_response()
        });
    let create = warp::path!("api" / "v1" / "folders")
        .and(warp::post())
        .and(admin.clone())
        .and(body())
        .and_then(|admin: Admin, body: bytes::Bytes| create(admin, body));
    let update = warp::path!("api" / "v1" / "folders" / u64)
        .and(warp::patch())
        .and(admin.clone())
        .and(body())
        .and_then(|id: u64, admin: Admin, body: bytes::Bytes| update(admin, id, body));
    let delete = warp::path!("api" / "v1" / "folders" / u64)
        .and(warp::delete())
        .and(admin.clone())
        .and_then(|id: u64, admin: Admin| delete(admin, id));
    let move_channel = warp::path!("api" / "v1" / "channels" / u64 / "folder")
        .and(warp::put())
        .and(admin)
        .and(body())
        .and_then(|id: u64, admin: Admin, body: bytes::Bytes| move_channel(admin, id, body));
    list.or(create).unify().or(update).unify().or(delete).unify().or(move_channel).unify()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("bad body: {e}")))
}

fn failed(e: EngineError) -> Rejection {
    let status = match &e {
        EngineError::UnknownFolder(_) | EngineError::UnknownChannel(_) => StatusCode::NOT_FOUND,
        EngineError::InvalidChannel(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let failure = Failure::from(e);
    reject(status, failure.code, failure.message)
}

async fn create(admin: Admin, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: FolderChanges = parse(&body)?;
    let name = request.name.ok_or_else(|| bad_request("`name` is required".into()))?;
    if request.position.is_some() {
        return Err(bad_request("a new folder goes last: move it with PATCH `position`".into()));
    }
    let folder = admin.engine.create_folder(name).await.map_err(failed)?;
    admin.audit("folder.create", &format!("folder {} ({:?})", folder.id, folder.name));
    let reply = warp::reply::json(&convert::folder_info(&folder));
    Ok(warp::reply::with_status(reply, StatusCode::CREATED).into_response())
}

async fn update(admin: Admin, id: u64, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: FolderChanges = parse(&body)?;
    let folder = admin.engine.update_folder(id, request.name, request.position).await.map_err(failed)?;
    admin.audit("folder.update", &format!("folder {id}: {:?} at {}", folder.name, folder.position));
    Ok(warp::reply::json(&convert::folder_info(&folder)).into_response())
}

async fn delete(admin: Admin, id: u64) -> Result<Response, Rejection> {
    admin.engine.delete_folder(id).await.map_err(failed)?;
    admin.audit("folder.delete", &format!("folder {id}"));
    Ok(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response())
}

async fn move_channel(admin: Admin, id: u64, body: bytes::Bytes) -> Result<Response, Rejection> {
    let request: MoveChannel = parse(&body)?;
    admin.engine.move_channel(id, request.folder_id).await.map_err(failed)?;
    admin.audit("channel.move", &format!("channel {id} to folder {:?}", request.folder_id));
    Ok(warp::reply::json(&request).into_response())
}
