//! Properties of the server's WebSocket reading: tungstenite's protocol machine, configured
//! as the gateway configures it, reading whatever bytes a client sends after the upgrade,
//! then each message decoded as the connection loop decodes it.
//!
//! The input is read as: one byte choosing how many bytes each socket read returns at most
//! (from [`READ_SIZES`]: one byte at a time, around the 512-byte read buffer, unlimited),
//! then the bytes the client sends. For any input:
//! - reading ends (an error or the end of the input) without a panic and without a read
//!   that returns a message while consuming nothing;
//! - every message is at most the frame limit;
//! - the server holds at most [`ws_heap_bytes_max`] of heap at once, whatever the frame
//!   headers announce, and writes no more than it was sent (pongs echo pings; one close);
//! - every binary/text message satisfies [`check_client_frame`].

use std::io::{self, Read, Write};

use switchboard_protocol::codec::Encoding;
use switchboard_protocol::limits::FRAME_BYTES_MAX_DEFAULT;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use crate::alloc_meter;
use crate::frames::{check_client_frame, decode_heap_bytes_max};

/// The values `GatewayConfig::default()` passes to tungstenite (through `ws_config` in
/// gateway/src/ws.rs): both take them from the protocol crate's limits.
pub const READ_BUFFER_BYTES: usize = switchboard_protocol::limits::WS_READ_BUFFER_BYTES;
/// See [`READ_BUFFER_BYTES`].
pub const WRITE_BUFFER_BYTES: usize = switchboard_protocol::limits::WS_WRITE_BUFFER_BYTES;
/// See [`READ_BUFFER_BYTES`].
pub const WRITE_BUFFER_MAX_BYTES: usize = switchboard_protocol::limits::WS_WRITE_BUFFER_MAX_BYTES;
/// See [`READ_BUFFER_BYTES`]: the gateway's `frame_bytes_max`, for messages and frames.
pub const FRAME_BYTES_MAX: usize = FRAME_BYTES_MAX_DEFAULT;

/// Most bytes one read of the simulated socket returns, picked by the first input byte.
pub const READ_SIZES: [usize; 8] = [1, 2, 7, 511, 512, 513, 4096, usize::MAX];

/// The tungstenite settings of the gateway (`ws_config` in gateway/src/ws.rs).
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(WRITE_BUFFER_MAX_BYTES)
        .max_message_size(Some(FRAME_BYTES_MAX))
        .max_frame_size(Some(FRAME_BYTES_MAX))
}

/// Most heap bytes the server may hold at once for one connection reading and decoding:
/// tungstenite's input buffer (a frame and a read buffer), the message being assembled and
/// the one being handed over (each up to the frame limit, with growth slack), plus what
/// decoding the largest message may hold.
pub fn ws_heap_bytes_max() -> usize {
    64 * 1024 + 4 * FRAME_BYTES_MAX + decode_heap_bytes_max(FRAME_BYTES_MAX)
}

/// The client's end of the socket: reads hand out the input in bounded pieces and then
/// end; writes (pongs, the close reply) are counted and dropped.
struct Peer<'a> {
    input: &'a [u8],
    read_max: usize,
    written: usize,
}

impl Read for Peer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.read_max).min(self.input.len());
        let (now, later) = self.input.split_at(n);
        buf[..n].copy_from_slice(now);
        self.input = later;
        Ok(n)
    }
}

impl Write for Peer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Check the WebSocket properties for one fuzz input.
pub fn check(data: &[u8]) {
    let Some((&selector, sent)) = data.split_first() else { return };
    let peer =
        Peer { input: sent, read_max: READ_SIZES[usize::from(selector) % READ_SIZES.len()], written: 0 };
    let (written, peak) = alloc_meter::measure(|| {
        let mut socket = WebSocket::from_raw_socket(peer, Role::Server, Some(config()));
        // Every message takes at least two bytes of input, so more reads than input bytes
        // means one returned without consuming anything.
        for _ in 0..=sent.len() + 1 {
            match socket.read() {
                Ok(message) => check_message(message),
                Err(_) => return socket.get_ref().written,
            }
        }
        panic!("the WebSocket kept returning messages after its input ran out");
    });
    let max = ws_heap_bytes_max();
    assert!(peak <= max, "reading {} bytes held {peak} heap bytes at once (budget {max})", sent.len());
    assert!(written <= sent.len() + 16, "the server wrote {written} bytes for {} received", sent.len());
}

fn check_message(message: Message) {
    let (bytes, encoding) = match &message {
        Message::Binary(bytes) => (&bytes[..], Encoding::MsgPack),
        Message::Text(text) => (text.as_bytes(), Encoding::Json),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => return,
    };
    assert!(bytes.len() <= FRAME_BYTES_MAX, "a message of {} bytes got through", bytes.len());
    check_client_frame(bytes, encoding);
}
