//! Properties of the frame decoders (`switchboard_protocol::codec`) for arbitrary bytes.
//!
//! For any input:
//! - decoding returns (no panic, no stack overflow, no hang);
//! - it holds at most [`decode_heap_bytes_max`] of heap at once: linear in the input, so a
//!   short frame cannot make the server (or a client) allocate megabytes;
//! - an error carries a code the decoder is allowed to give, and a request id exactly when
//!   the code says one was read.
//!
//! For an input that decodes: encoding the frame again, in either encoding, and decoding
//! that gives back the same frame (the decoder accepts nothing the encoder cannot say, and
//! loses nothing the frame type holds). Byte equality with the input is NOT a property:
//! inputs may order keys differently, carry unknown fields, use wider integer encodings or
//! JSON escapes, all of which decode to the same frame.

use switchboard_protocol::codec::{self, DecodeError, Encoding};
use switchboard_protocol::{ClientFrame, ErrorCode, ServerFrame};

use crate::alloc_meter;

const BOTH: [Encoding; 2] = [Encoding::MsgPack, Encoding::Json];

/// Most heap bytes one decode may hold at once for an input of `input_bytes`. serde buffers
/// an internally tagged frame as a tree of its `Content` values (32 bytes per value, 64 per
/// map entry) and every value takes at least one input byte; strings are copied once more.
/// The fixed part covers error messages and small buffers.
pub fn decode_heap_bytes_max(input_bytes: usize) -> usize {
    64 * 1024 + 64 * input_bytes
}

/// Decode `bytes` as a client frame (what the server does with every frame it receives)
/// and check the properties above.
pub fn check_client_frame(bytes: &[u8], encoding: Encoding) {
    let (decoded, peak) = alloc_meter::measure(|| codec::decode_client(bytes, encoding));
    check_heap(peak, bytes.len(), encoding);
    match decoded {
        Ok(frame) => client_round_trip(&frame),
        Err(error) => check_client_error(&error),
    }
}

/// Decode `bytes` as a server frame (what every client does) and check the same properties.
pub fn check_server_frame(bytes: &[u8], encoding: Encoding) {
    let (decoded, peak) = alloc_meter::measure(|| codec::decode_server(bytes, encoding));
    check_heap(peak, bytes.len(), encoding);
    match decoded {
        Ok(frame) => server_round_trip(&frame),
        Err(error) => {
            assert_eq!(error.code, ErrorCode::MalformedFrame, "{error}");
            assert_eq!(error.req, None, "{error}");
        }
    }
}

fn check_heap(peak: usize, input_bytes: usize, encoding: Encoding) {
    let max = decode_heap_bytes_max(input_bytes);
    assert!(
        peak <= max,
        "decoding {input_bytes} bytes of {encoding:?} held {peak} heap bytes at once (budget {max})"
    );
}

fn client_round_trip(frame: &ClientFrame) {
    for encoding in BOTH {
        let bytes = codec::encode_client(frame, encoding);
        match codec::decode_client(&bytes, encoding) {
            Ok(again) => assert_eq!(&again, frame, "{encoding:?} round trip changed the frame"),
            Err(e) => panic!("{frame:?} encoded as {encoding:?} does not decode: {e}"),
        }
    }
}

fn server_round_trip(frame: &ServerFrame) {
    for encoding in BOTH {
        let bytes = codec::encode_server(frame, encoding);
        match codec::decode_server(&bytes, encoding) {
            Ok(again) => assert_eq!(&again, frame, "{encoding:?} round trip changed the frame"),
            Err(e) => panic!("{frame:?} encoded as {encoding:?} does not decode: {e}"),
        }
    }
}

/// The decoder's error codes and their request ids (codec.rs explains the steps): not a map
/// has no id; an unknown type was read from a readable envelope, so it has one; bad fields
/// may or may not (the envelope itself may be what is bad).
fn check_client_error(error: &DecodeError) {
    match error.code {
        ErrorCode::MalformedFrame => assert_eq!(error.req, None, "{error}"),
        ErrorCode::UnknownType => assert!(error.req.is_some(), "{error}"),
        ErrorCode::InvalidRequest => {}
        other => panic!("decode_client answered {other:?}: {error}"),
    }
}
