//! Single-pass decoding of the requests that come once per chat message (`send_message`,
//! `typing`, `mark_read`): one serde pass into a flat struct, no intermediate buffering.
//!
//! The general decoder (`codec::decode_client`) runs serde twice, first for the envelope and
//! then for the internally tagged request (which serde buffers field by field), so that every
//! failure gets its most specific error code. This fast path only ever answers `Some` for a
//! frame the general decoder would decode to exactly the same [`ClientFrame`]; anything else
//! (another type, a missing or `null` field, a wrong type, a frame that is not a map) returns
//! `None` and the general decoder decides, errors included. The unit tests and the fuzz
//! target `decode_msgpack`/`decode_json` compare both paths.

use std::borrow::Cow;

use serde::Deserialize;

use crate::codec::Encoding;
use crate::frames::{ClientFrame, ReqId, Request};

/// Every field the hot requests use; other keys are skipped, as the general decoder does.
#[derive(Deserialize)]
struct Flat<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    req: Option<ReqId>,
    session_id: Option<u64>,
    client_msg_id: Option<String>,
    text: Option<String>,
    typing: Option<bool>,
    seq: Option<u64>,
}

/// True when `bytes` starts with a map (MessagePack fixmap/map16/map32, or a JSON object):
/// serde would also read a struct from an array, which the general decoder refuses.
fn is_map(bytes: &[u8], encoding: Encoding) -> bool {
    match encoding {
        Encoding::MsgPack => matches!(bytes.first(), Some(0x80..=0x8f | 0xde | 0xdf)),
        Encoding::Json => bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
    }
}

/// Decode a hot request in one pass, or `None` to let the general decoder handle it.
pub(crate) fn decode_hot(bytes: &[u8], encoding: Encoding) -> Option<ClientFrame> {
    if !is_map(bytes, encoding) {
        return None;
    }
    // The shared deserializer: the nesting limit holds here too (unknown fields are
    // skipped recursively).
    let flat: Flat = crate::codec::from_bytes(bytes, encoding).ok()?;
    let req = flat.req?;
    let request = match flat.kind?.as_ref() {
        "send_message" => Request::SendMessage {
            session_id: flat.session_id?,
            client_msg_id: flat.client_msg_id?,
            text: flat.text?,
        },
        "typing" => Request::Typing { session_id: flat.session_id?, typing: flat.typing? },
        "mark_read" => Request::MarkRead { session_id: flat.session_id?, seq: flat.seq? },
        _ => return None,
    };
    Some(ClientFrame { req, request })
}
