//! Reading the few fields the load generator needs from a server frame's MessagePack bytes,
//! without decoding the frame: its `type`, whether it answers a request (`re`), an
//! acknowledgement's `client_msg_id` and a message event's `message.text` (and, for a
//! channel message, `message.seq`). Everything
//! else is skipped, not allocated. Full decoding (serde) buffers an internally tagged
//! frame into a tree of owned values first, which made it the generator's largest cost per
//! message; the generator's correctness checks need only these fields.
//!
//! Tests hold it to the protocol codec's own encoding of every frame kind it reads.

/// What a frame is, as far as the load generator cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    /// `message_ack`, with its `client_msg_id`.
    Ack { client_msg_id: &'a [u8] },
    /// A `message` event, with the message's text.
    Message { text: &'a [u8] },
    /// A `channel_message` event, with the message's sequence number and text.
    ChannelMessage { seq: u64, text: &'a [u8] },
    /// An `error` frame; `answers` when its `re` is not null (it answers a request).
    Error { answers: bool },
    /// Any other frame.
    Other,
}

/// Scan one MessagePack server frame; `None` when it is not a well-formed map.
pub fn scan(frame: &[u8]) -> Option<Seen<'_>> {
    let mut r = Reader { buf: frame, pos: 0 };
    let fields = r.map_len()?;
    let (mut kind, mut id, mut text, mut seq, mut answers) = (None, None, None, None, false);
    for _ in 0..fields {
        match r.str()? {
            b"type" => kind = Some(r.str()?),
            b"client_msg_id" => id = Some(r.str()?),
            b"re" => {
                answers = r.peek()? != NIL;
                r.skip()?;
            }
            // A `message` event's message is a map; an `error` frame's message a string.
            b"message" if r.peek().is_some_and(is_map) => {
                for _ in 0..r.map_len()? {
                    match r.str()? {
                        b"text" => text = Some(r.str()?),
                        b"seq" => seq = Some(r.uint()?),
                        _ => r.skip()?,
                    }
                }
            }
            _ => r.skip()?,
        }
    }
    Some(match kind? {
        b"message_ack" => Seen::Ack { client_msg_id: id? },
        b"message" => Seen::Message { text: text? },
        b"channel_message" => Seen::ChannelMessage { seq: seq?, text: text? },
        b"error" => Seen::Error { answers },
        _ => Seen::Other,
    })
}

const NIL: u8 = 0xc0;

fn is_map(marker: u8) -> bool {
    matches!(marker, 0x80..=0x8f | 0xde | 0xdf)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// A big-endian unsigned length of `n` bytes.
    fn be(&mut self, n: usize) -> Option<usize> {
        Some(self.take(n)?.iter().fold(0usize, |v, &b| (v << 8) | b as usize))
    }

    /// A non-negative integer, in any of MessagePack's integer widths.
    fn uint(&mut self) -> Option<u64> {
        let n = match self.byte()? {
            m @ 0x00..=0x7f => return Some(u64::from(m)),
            0xcc | 0xd0 => 1,
            0xcd | 0xd1 => 2,
            0xce | 0xd2 => 4,
            0xcf | 0xd3 => 8,
            _ => return None,
        };
        let bytes = self.take(n)?;
        if matches!(self.buf[self.pos - n - 1], 0xd0..=0xd3) && bytes[0] & 0x80 != 0 {
            return None; // negative
        }
        Some(bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }

    fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            m @ 0x80..=0x8f => Some((m & 0x0f) as usize),
            0xde => self.be(2),
            0xdf => self.be(4),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a [u8]> {
        let n = match self.byte()? {
            m @ 0xa0..=0xbf => (m & 0x1f) as usize,
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            _ => return None,
        };
        self.take(n)
    }

    /// Skip one value (with everything nested in it), iteratively: no recursion depth to
    /// bound, whatever the frame holds.
    fn skip(&mut self) -> Option<()> {
        let mut pending: usize = 1;
        while pending > 0 {
            pending -= 1;
            let (bytes, values) = match self.byte()? {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
                m @ 0x80..=0x8f => (0, 2 * (m & 0x0f) as usize),
                m @ 0x90..=0x9f => (0, (m & 0x0f) as usize),
                m @ 0xa0..=0xbf => ((m & 0x1f) as usize, 0),
                0xc4 | 0xd9 => (self.be(1)?, 0),
                0xc5 | 0xda => (self.be(2)?, 0),
                0xc6 | 0xdb => (self.be(4)?, 0),
                0xc7 => (self.be(1)? + 1, 0),
                0xc8 => (self.be(2)? + 1, 0),
                0xc9 => (self.be(4)? + 1, 0),
                0xca | 0xce | 0xd2 => (4, 0),
                0xcb | 0xcf | 0xd3 => (8, 0),
                0xcc | 0xd0 => (1, 0),
                0xcd | 0xd1 => (2, 0),
                0xd4 => (2, 0),
                0xd5 => (3, 0),
                0xd6 => (5, 0),
                0xd7 => (9, 0),
                0xd8 => (17, 0),
                0xdc => (0, self.be(2)?),
                0xdd => (0, self.be(4)?),
                0xde => (0, 2 * self.be(2)?),
                0xdf => (0, 2 * self.be(4)?),
                0xc1 => return None, // never used
            };
            self.take(bytes)?;
            pending = pending.checked_add(values)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_protocol::codec::{encode_server, Encoding};
    use switchboard_protocol::{ChannelMessageInfo, ErrorCode, Message, Sender, ServerFrame};

    fn scanned(frame: &ServerFrame) -> Option<Seen<'static>> {
        let bytes: &'static [u8] = encode_server(frame, Encoding::MsgPack).leak();
        scan(bytes)
    }

    #[test]
    fn reads_what_the_protocol_encodes() {
        let ack = ServerFrame::MessageAck {
            re: 7,
            session_id: 3,
            seq: 12,
            client_msg_id: "v0000000042".into(),
            sent_at_ms: 1_700_000_000_000,
            duplicate: false,
        };
        assert_eq!(scanned(&ack), Some(Seen::Ack { client_msg_id: b"v0000000042" }));
        let text = "a".repeat(300);
        let message = ServerFrame::Message {
            session_id: 3,
            message: Message {
                seq: 9,
                from: Sender::Agent,
                agent_id: Some(4),
                client_msg_id: "a1".into(),
                text: text.clone(),
                sent_at_ms: 1,
            },
        };
        assert_eq!(scanned(&message), Some(Seen::Message { text: text.as_bytes() }));
        let error = |re| ServerFrame::Error { re, code: ErrorCode::Overloaded, message: "busy".into() };
        assert_eq!(scanned(&error(Some(5))), Some(Seen::Error { answers: true }));
        assert_eq!(scanned(&error(None)), Some(Seen::Error { answers: false }));
        assert_eq!(scanned(&ServerFrame::Ok { re: 1 }), Some(Seen::Other));
        for seq in [3, 200, 70_000, 5_000_000_000] {
            let posted = ServerFrame::ChannelMessage {
                channel_id: 8,
                message: ChannelMessageInfo {
                    seq,
                    author_id: 2,
                    client_msg_id: "f1".into(),
                    text: "123 fan-out".into(),
                    sent_at_ms: 1_700_000_000_000,
                    edited_at_ms: None,
                    deleted: false,
                    mentions: vec![4, 5],
                },
            };
            assert_eq!(scanned(&posted), Some(Seen::ChannelMessage { seq, text: b"123 fan-out" }));
        }
    }

    #[test]
    fn rejects_what_is_not_a_frame() {
        assert_eq!(scan(b""), None);
        assert_eq!(scan(&[0x81, 0xa4, b't', b'y', b'p', b'e']), None, "truncated");
        assert_eq!(scan(&[0x92, 0x01, 0x02]), None, "an array");
        assert_eq!(scan(&[0x81, 0xa1, b'x', 0xdd, 0xff, 0xff, 0xff, 0xff]), None, "huge array, no bytes");
    }
}
