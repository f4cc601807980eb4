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
//!
//! # Memory
//! A MessagePack map or array header announces its length before its contents, and serde
//! reserves room for up to 1 MiB of entries on the strength of that announcement when it
//! builds a `HashMap` or buffers an internally tagged enum (`Request`, `ServerFrame`). So
//! nothing is buffered from a frame before a pass that reserves nothing (the envelope, whose
//! unknown fields are `IgnoredAny`, or `IgnoredAny` itself) has walked all of it: after that
//! pass every announced length is one the bytes really contain, and decoding holds memory
//! linear in the frame's size. Before, a 3-byte frame made the server reserve 1.6 MiB and a
//! 5 KB server frame made a client reserve 1 GiB (found by fuzzing: docs/FUZZING.md).
//!
//! # Stack
//! Decoding recurses once per level of nesting, so MessagePack frames may nest at most
//! [`limits::NESTING_DEPTH_MAX`] levels (JSON: serde_json's fixed limit, about 128); deeper
//! ones are malformed.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::frames::{ClientFrame, ReqId, Request, ServerFrame};
use crate::{limits, ErrorCode};

/// How a frame's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// MessagePack map encoding; carried in binary WebSocket frames.
    MsgPack,
    /// JSON; carried in text WebSocket frames.
    Json,
}

impl Encoding {
    /// How many encodings there are (for a table indexed by [`Encoding::index`]).
    pub const COUNT: usize = 2;

    /// This encoding's place in a table of [`Encoding::COUNT`] entries.
    pub const fn index(self) -> usize {
        match self {
            Encoding::MsgPack => 0,
            Encoding::Json => 1,
        }
    }
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

/// The one place frames are deserialized (both decoders, the fast path included), so the
/// nesting limit applies everywhere.
pub(crate) fn from_bytes<'a, T: Deserialize<'a>>(bytes: &'a [u8], encoding: Encoding) -> Result<T, String> {
    match encoding {
        Encoding::MsgPack => {
            let mut deserializer = rmp_serde::Deserializer::from_read_ref(bytes);
            // rmp-serde refuses the level at which its counter reaches zero.
            deserializer.set_max_depth(limits::NESTING_DEPTH_MAX + 1);
            T::deserialize(&mut deserializer).map_err(|e| e.to_string())
        }
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
            let is_map = from_bytes::<StringKeyedMap>(bytes, encoding).is_ok();
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
    let malformed = |message| DecodeError { code: ErrorCode::MalformedFrame, message, req: None };
    // JSON announces no lengths, so only MessagePack needs the walk first (see # Memory).
    if encoding == Encoding::MsgPack {
        from_bytes::<IgnoredAny>(bytes, encoding).map_err(malformed)?;
    }
    from_bytes(bytes, encoding).map_err(malformed)
}

/// A map with string keys, checked entry by entry without building it (what
/// `HashMap<String, IgnoredAny>` accepts, without reserving room for the announced length).
struct StringKeyedMap;

impl<'de> Deserialize<'de> for StringKeyedMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = StringKeyedMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map with string keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringKeyedMap, A::Error> {
                while map.next_entry::<StringKey, IgnoredAny>()?.is_some() {}
                Ok(StringKeyedMap)
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

/// A string map key, checked without copying it (accepts what `String` accepts).
struct StringKey;

impl<'de> Deserialize<'de> for StringKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = StringKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<StringKey, E> {
                Ok(StringKey)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<StringKey, E> {
                match std::str::from_utf8(v) {
                    Ok(_) => Ok(StringKey),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(v), &self)),
                }
            }
        }
        deserializer.deserialize_string(KeyVisitor)
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
