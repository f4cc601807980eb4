//! Length-prefixed framing for byte streams (the QUIC transport): every frame is a 4-byte
//! big-endian body length followed by that many bytes of MessagePack.
//!
//! Pure and I/O-free: the reader of a stream appends whatever bytes arrived to a buffer and
//! asks [`cut`] (or [`take_frame`]) whether a whole frame sits at its front; the writer
//! prefixes each body with [`length_prefix`] or [`encode_length_prefixed`]. The server and
//! the client library both frame with this module, so the two ends cannot disagree.
//!
//! # Limits
//! A length above the reader's `frame_bytes_max` is reported as soon as the 4 prefix bytes
//! are there, before any of the body is buffered: a peer cannot make the reader hold more
//! than `frame_bytes_max` plus one read's worth of bytes. A zero-length frame is valid (it
//! decodes as a malformed MessagePack frame, which the server answers like any other).

/// Bytes of the length prefix before every frame.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// What the front of a receive buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// No whole frame yet (fewer than 4 bytes, or the body is incomplete): read more.
    NeedMore,
    /// A whole frame: the prefix and a body of `body_bytes`, which follows the prefix.
    Frame { body_bytes: usize },
    /// The prefix announces a body of `length` bytes, over the limit. Fatal for the stream:
    /// there is no way to find the next frame without reading this one.
    TooLarge { length: u64 },
}

/// A frame's announced length exceeds the reader's limit (see [`Cut::TooLarge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {length} bytes exceeds the {frame_bytes_max}-byte limit")]
pub struct FrameTooLarge {
    /// The announced body length.
    pub length: u64,
    /// The limit it exceeds.
    pub frame_bytes_max: usize,
}

/// Look at the front of `buffer`: is a whole frame of at most `frame_bytes_max` body bytes
/// there? Never reads past the frame and never allocates.
pub fn cut(buffer: &[u8], frame_bytes_max: usize) -> Cut {
    let Some(prefix) = buffer.first_chunk::<LENGTH_PREFIX_BYTES>() else {
        return Cut::NeedMore;
    };
    let length = u32::from_be_bytes(*prefix);
    // Compared as u64 so that no limit and no length can wrap on any target.
    if u64::from(length) > frame_bytes_max as u64 {
        return Cut::TooLarge { length: u64::from(length) };
    }
    // Cannot truncate: the length is at most `frame_bytes_max`, a usize.
    let body_bytes = length as usize;
    if buffer.len() - LENGTH_PREFIX_BYTES < body_bytes {
        return Cut::NeedMore;
    }
    Cut::Frame { body_bytes }
}

/// Remove the frame at the front of `buffer` and return its body, if a whole one is there.
pub fn take_frame(buffer: &mut Vec<u8>, frame_bytes_max: usize) -> Result<Option<Vec<u8>>, FrameTooLarge> {
    match cut(buffer, frame_bytes_max) {
        Cut::NeedMore => Ok(None),
        Cut::TooLarge { length } => Err(FrameTooLarge { length, frame_bytes_max }),
        Cut::Frame { body_bytes } => {
            let body = buffer[LENGTH_PREFIX_BYTES..LENGTH_PREFIX_BYTES + body_bytes].to_vec();
            buffer.drain(..LENGTH_PREFIX_BYTES + body_bytes);
            Ok(Some(body))
        }
    }
}

/// The prefix to write before a body of `body_bytes`.
///
/// # Panics
/// If `body_bytes` does not fit in 32 bits (4 GiB): no frame under any limit of this
/// protocol comes near that, so a larger one is a bug in the caller, not a wire condition.
pub fn length_prefix(body_bytes: usize) -> [u8; LENGTH_PREFIX_BYTES] {
    u32::try_from(body_bytes).expect("frame body under 4 GiB").to_be_bytes()
}

/// `body` with its length prefix in front: one frame, ready to write.
///
/// # Panics
/// As [`length_prefix`], for a body of 4 GiB or more.
pub fn encode_length_prefixed(body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(LENGTH_PREFIX_BYTES + body.len());
    frame.extend_from_slice(&length_prefix(body.len()));
    frame.extend_from_slice(body);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_whole_however_the_bytes_arrive() {
        let stream = [
            encode_length_prefixed(b"first"),
            encode_length_prefixed(b""),
            encode_length_prefixed(b"third frame"),
        ]
        .concat();
        // Feed the stream one byte at a time: every frame comes out whole and in order.
        let mut buffer = Vec::new();
        let mut frames = Vec::new();
        for byte in stream {
            buffer.push(byte);
            while let Some(body) = take_frame(&mut buffer, 64).unwrap() {
                frames.push(body);
            }
        }
        assert_eq!(frames, vec![b"first".to_vec(), Vec::new(), b"third frame".to_vec()]);
        assert!(buffer.is_empty());
    }

    #[test]
    fn an_oversized_length_is_fatal_before_the_body_arrives() {
        let mut buffer = 65u32.to_be_bytes().to_vec();
        assert_eq!(cut(&buffer, 64), Cut::TooLarge { length: 65 });
        assert_eq!(take_frame(&mut buffer, 64), Err(FrameTooLarge { length: 65, frame_bytes_max: 64 }));
        // The largest length the prefix can say is rejected too, with its true value.
        assert_eq!(cut(&[0xff; 4], 64), Cut::TooLarge { length: u64::from(u32::MAX) });
    }

    #[test]
    fn cut_reports_what_the_buffer_holds() {
        // (buffer, limit, expected)
        let cases: Vec<(Vec<u8>, usize, Cut)> = vec![
            (vec![], 64, Cut::NeedMore),
            (vec![0, 0, 0], 64, Cut::NeedMore),
            (vec![0, 0, 0, 0], 64, Cut::Frame { body_bytes: 0 }),
            (vec![0, 0, 0, 2, 7], 64, Cut::NeedMore),
            (vec![0, 0, 0, 2, 7, 8, 9], 64, Cut::Frame { body_bytes: 2 }),
            (vec![0, 0, 0, 64], 64, Cut::NeedMore),
            (vec![0, 0, 0, 64], 63, Cut::TooLarge { length: 64 }),
            (vec![0, 0, 1, 0], 0, Cut::TooLarge { length: 256 }),
        ];
        for (buffer, limit, expected) in cases {
            assert_eq!(cut(&buffer, limit), expected, "{buffer:?} with limit {limit}");
        }
    }

    #[test]
    fn golden_bytes_of_a_frame() {
        assert_eq!(encode_length_prefixed(b"abc"), [0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(length_prefix(0x0102_0304), [1, 2, 3, 4]);
    }
}
