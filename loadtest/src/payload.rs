//! What the load's messages carry, and the pre-encoded `send_message` frame that carries it.
//!
//! A message text starts with `<tag><k> <intended_ns>`: the sender's tag (`v` or `a`), its
//! per-sender counter and the intended send time in ns since the run's epoch, both
//! zero-padded to a fixed width, then `x` padding up to the requested size. Its
//! `client_msg_id` is `<tag><k>`, likewise fixed-width. Fixed widths make every frame of a
//! sender the same bytes except for a few digits, so [`SendTemplate`] encodes the frame
//! once and each message is one copy plus digit patches (no serde, no formatting).
//!
//! The template writes MessagePack by hand; a test decodes it with the protocol's own codec
//! so it cannot drift from the wire definition.

use switchboard_protocol::SessionId;

/// Digits of the per-sender counter: no sender sends 10^10 messages in one run.
const K_DIGITS: usize = 10;
/// Digits of the intended time in ns since the epoch: 10^14 ns is 27 hours of run.
const NS_DIGITS: usize = 14;
/// Length of a `client_msg_id` `<tag><k>` (also the text's first bytes).
pub const ID_LEN: usize = 1 + K_DIGITS;
/// Length of the text header `<tag><k> <ns>`.
pub const HEADER_LEN: usize = 1 + K_DIGITS + 1 + NS_DIGITS;

/// The message text for counter `k` at `intended_ns`, padded to `size` bytes.
pub fn text(tag: u8, k: u64, intended_ns: u64, size: usize) -> Vec<u8> {
    let mut text = vec![b'x'; size.max(HEADER_LEN)];
    write_header(&mut text, tag, k, intended_ns);
    if text.len() > HEADER_LEN {
        text[HEADER_LEN] = b' ';
    }
    text
}

fn write_header(out: &mut [u8], tag: u8, k: u64, intended_ns: u64) {
    out[0] = tag;
    write_digits(&mut out[1..1 + K_DIGITS], k);
    out[1 + K_DIGITS] = b' ';
    write_digits(&mut out[2 + K_DIGITS..HEADER_LEN], intended_ns);
}

/// Write `value` as zero-padded decimal filling `out` (the high digits are cut when it
/// does not fit; the widths above are chosen so that it always does).
fn write_digits(out: &mut [u8], mut value: u64) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// `<tag><k> <intended_ns> …` → (k, intended_ns), for messages from `tag`.
pub fn parse(text: &[u8], tag: u8) -> Option<(u64, u64)> {
    let rest = text.strip_prefix(&[tag])?;
    let mut parts = rest.split(|&b| b == b' ');
    let k = parse_digits(parts.next()?)?;
    let ns = parse_digits(parts.next()?)?;
    Some((k, ns))
}

/// The counter in a `client_msg_id` `<tag><k>`.
pub fn parse_id(id: &[u8], tag: u8) -> Option<u64> {
    parse_digits(id.strip_prefix(&[tag])?)
}

fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0')))
}

/// A `send_message` frame encoded once (MessagePack, map with field names); each message
/// patches in its request id, counter and intended time.
pub struct SendTemplate {
    bytes: Vec<u8>,
    tag: u8,
    /// Where the 8 big-endian bytes of `req` start.
    req_at: usize,
    /// Where the digits of `k` in `client_msg_id` start.
    id_at: usize,
    /// Where the text (and its header) starts.
    text_at: usize,
}

impl SendTemplate {
    /// The frame of `tag`'s messages in `session` with texts of `size` bytes.
    pub fn new(session: SessionId, tag: u8, size: usize) -> SendTemplate {
        let mut b = Vec::with_capacity(size + 96);
        b.push(0x85); // a map of 5 entries
        str(&mut b, b"req");
        b.push(0xcf); // uint64, patched per message
        let req_at = b.len();
        b.extend_from_slice(&[0; 8]);
        str(&mut b, b"type");
        str(&mut b, b"send_message");
        str(&mut b, b"session_id");
        b.push(0xcf);
        b.extend_from_slice(&session.to_be_bytes());
        str(&mut b, b"client_msg_id");
        let mut id = vec![tag];
        id.extend_from_slice(&[b'0'; K_DIGITS]);
        str(&mut b, &id);
        let id_at = b.len() - K_DIGITS;
        str(&mut b, b"text");
        let text = text(tag, 0, 0, size);
        str(&mut b, &text);
        let text_at = b.len() - text.len();
        SendTemplate { bytes: b, tag, req_at, id_at, text_at }
    }

    /// The frame for request `req`, counter `k`, intended at `intended_ns`.
    pub fn frame(&self, req: u64, k: u64, intended_ns: u64) -> Vec<u8> {
        let mut b = self.bytes.clone();
        b[self.req_at..self.req_at + 8].copy_from_slice(&req.to_be_bytes());
        write_digits(&mut b[self.id_at..self.id_at + K_DIGITS], k);
        write_header(&mut b[self.text_at..], self.tag, k, intended_ns);
        b
    }
}

/// A MessagePack string (fixstr, str8 or str16: texts are at most 4 KiB).
fn str(out: &mut Vec<u8>, s: &[u8]) {
    match s.len() {
        n if n < 32 => out.push(0xa0 | n as u8),
        n if n < 256 => out.extend_from_slice(&[0xd9, n as u8]),
        n => out.extend_from_slice(&[0xda, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::codec::{decode_client, Encoding};
    use switchboard_protocol::{ClientFrame, Request};

    #[test]
    fn header_round_trips() {
        let t = text(b'v', 12, 3456, 64);
        assert_eq!(t.len(), 64);
        assert_eq!(parse(&t, b'v'), Some((12, 3456)));
        assert_eq!(parse(&t, b'a'), None);
        assert_eq!(parse(b"v1", b'v'), None);
        assert_eq!(text(b'a', 1, 2, 4).len(), HEADER_LEN, "short sizes still carry the header");
        assert_eq!(parse_id(b"a0000000042", b'a'), Some(42));
        assert_eq!(parse_id(b"v42", b'a'), None);
    }

    #[test]
    fn template_frames_decode_as_the_protocol_defines_them() {
        for size in [8, 64, 300, 4096] {
            let template = SendTemplate::new(99, b'a', size);
            let frame = decode_client(&template.frame(7, 12, 3456), Encoding::MsgPack).unwrap();
            let expected_text = String::from_utf8(text(b'a', 12, 3456, size)).unwrap();
            let expected = ClientFrame {
                req: 7,
                request: Request::SendMessage {
                    session_id: 99,
                    client_msg_id: "a0000000012".into(),
                    text: expected_text,
                },
            };
            assert_eq!(frame, expected, "size {size}");
        }
    }
}
