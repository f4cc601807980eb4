//! Encoding and decoding of frames in both directions.
//!
//! MessagePack frames are maps with field names (`rmp_serde::to_vec_named`), which is what
//! JavaScript's `@msgpack/msgpack` and Python's `msgpack` produce and expect. JSON frames use
//! the same field names and values.
//!
//! Decoding a client frame happens in steps so that every failure gets the most specific
//! error code: not a map at all (`malformed_frame`), no usable `type`/`req`
//! (`invalid_request`), a `type` nobody defined (`unknown_type`), then the fields of a known
//! type (`invalid_request`). From the second step on, the error carries the request id when
//! it could be read, so the client can match it.

use std::collections::HashMap;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::frames::{ClientFrame, ReqId, Request, ServerFrame};
use crate::ErrorCode;

/// How a frame's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// MessagePack map encoding; carried in binary WebSocket frames.
    MsgPack,
    /// JSON; carried in text WebSocket frames.
    Json,
}

/// Why a frame could not be decoded, with the wire error code to answer it with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DecodeError {
    /// The error code to send back.
    pub code: ErrorCode,
    /// Human-readable detail (serde's description of the problem).
    pub message: String,
    /// The frame's request id, when it could be read.
    pub req: Option<ReqId>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    req: ReqId,
}

#[derive(Serialize)]
struct ClientWire<'a> {
    req: ReqId,
    #[serde(flatten)]
    request: &'a Request,
}

fn from_bytes<T: DeserializeOwned>(bytes: &[u8], encoding: Encoding) -> Result<T, String> {
    match encoding {
        Encoding::MsgPack => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
    }
}

fn to_bytes<T: Serialize>(value: &T, encoding: Encoding) -> Vec<u8> {
    match encoding {
        // Serializing these plain data types cannot fail: no maps with non-string keys,
        // no custom serializers that return errors.
        Encoding::MsgPack => rmp_serde::to_vec_named(value).expect("frame serializes"),
        Encoding::Json => serde_json::to_vec(value).expect("frame serializes"),
    }
}

/// Decode a client frame (server side). The per-message requests take a single-pass fast
/// path ([`codec_fast`](crate::codec_fast)); everything else, and every error, the general
/// two-step decoder below.
pub fn decode_client(bytes: &[u8], encoding: Encoding) -> Result<ClientFrame, DecodeError> {
    if let Some(frame) = crate::codec_fast::decode_hot(bytes, encoding) {
        return Ok(frame);
    }
    decode_client_general(bytes, encoding)
}

/// The general decoder: the envelope first (for the request id and type), then the typed
/// request, so each failure gets its most specific code.
pub fn decode_client_general(bytes: &[u8], encoding: Encoding) -> Result<ClientFrame, DecodeError> {
    let envelope: Envelope = match from_bytes(bytes, encoding) {
        Ok(envelope) => envelope,
        Err(detail) => {
            let is_map = from_bytes::<HashMap<String, IgnoredAny>>(bytes, encoding).is_ok();
            let (code, message) = if is_map {
                (
                    ErrorCode::InvalidRequest,
                    format!("a frame needs a string `type` and an integer `req`: {detail}"),
                )
            } else {
                (ErrorCode::MalformedFrame, format!("not a {encoding:?} map: {detail}"))
            };
            return Err(DecodeError { code, message, req: None });
        }
    };
    if !Request::TYPES.contains(&envelope.kind.as_str()) {
        return Err(DecodeError {
            code: ErrorCode::UnknownType,
            message: format!("unknown frame type `{}`", envelope.kind),
            req: Some(envelope.req),
        });
    }
    let request: Request = from_bytes(bytes, encoding).map_err(|detail| DecodeError {
        code: ErrorCode::InvalidRequest,
        message: format!("bad `{}` frame: {detail}", envelope.kind),
        req: Some(envelope.req),
    })?;
    Ok(ClientFrame { req: envelope.req, request })
}

/// Encode a client frame (client side).
pub fn encode_client(frame: &ClientFrame, encoding: Encoding) -> Vec<u8> {
    to_bytes(&ClientWire { req: frame.req, request: &frame.request }, encoding)
}

/// Encode a server frame (server side).
pub fn encode_server(frame: &ServerFrame, encoding: Encoding) -> Vec<u8> {
    to_bytes(frame, encoding)
}

/// Decode a server frame (client side).
pub fn decode_server(bytes: &[u8], encoding: Encoding) -> Result<ServerFrame, DecodeError> {
    from_bytes(bytes, encoding).map_err(|message| DecodeError {
        code: ErrorCode::MalformedFrame,
        message,
        req: None,
    })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
