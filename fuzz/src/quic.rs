//! Properties of the length-prefix framing (`switchboard_protocol::framing`) that both QUIC
//! ends use, for an arbitrary byte stream arriving in arbitrary pieces.
//!
//! The input is read as: one control byte (low 4 bits: how many split points; high 4 bits:
//! which frame limit, from [`LIMITS`]), two bytes per split point (big-endian offsets into
//! the stream, sorted and clamped), then the stream itself. The stream is cut by a reader
//! that receives it in those pieces, exactly as the gateway's and the client's readers
//! append what quinn hands them and then call `take_frame` until it has nothing more.
//!
//! Checked against a plain model that parses the whole stream at once:
//! - the same frames come out, in the same order, however the stream is split;
//! - the stream ends in the same state: the same unfinished bytes left in the buffer, or
//!   the same too-large length at the same place;
//! - a too-large length is reported as soon as its 4 prefix bytes have arrived, before any
//!   of its body (no later piece is needed), and the reader never holds a frame's worth of
//!   bytes it could have cut;
//! - re-encoding the frames with `encode_length_prefixed` gives back the consumed bytes.

use switchboard_protocol::framing::{self, FrameTooLarge, LENGTH_PREFIX_BYTES};
use switchboard_protocol::limits::FRAME_BYTES_MAX_DEFAULT;

/// Frame limits the control byte picks from: the edges (0, the prefix size, powers of two
/// and their neighbours), the server's default, and limits the prefix cannot reach.
pub const LIMITS: [usize; 16] =
    [0, 1, 2, 3, 4, 5, 8, 16, 63, 64, 255, 256, 4096, FRAME_BYTES_MAX_DEFAULT, u32::MAX as usize, usize::MAX];

/// How a stream ended, once every whole frame was cut.
#[derive(Debug, PartialEq)]
enum End {
    /// No fatal length: these bytes (an unfinished frame) remain buffered.
    Unfinished(Vec<u8>),
    /// A length over the limit, whose prefix starts at this stream offset.
    TooLarge { offset: usize, error: FrameTooLarge },
}

/// The model: parse the whole stream in one go.
fn model(stream: &[u8], frame_bytes_max: usize) -> (Vec<Vec<u8>>, End) {
    let mut frames = Vec::new();
    let mut offset = 0;
    while let Some(prefix) = stream[offset..].first_chunk::<LENGTH_PREFIX_BYTES>() {
        let length = u32::from_be_bytes(*prefix) as u64;
        if length > frame_bytes_max as u64 {
            return (frames, End::TooLarge { offset, error: FrameTooLarge { length, frame_bytes_max } });
        }
        let body = offset + LENGTH_PREFIX_BYTES;
        let Some(bytes) = stream.get(body..body + length as usize) else { break };
        frames.push(bytes.to_vec());
        offset = body + length as usize;
    }
    (frames, End::Unfinished(stream[offset..].to_vec()))
}

/// Split `data` into (limit, piece lengths, stream) as the module comment describes.
fn parse_input(data: &[u8]) -> Option<(usize, Vec<&[u8]>)> {
    let (&control, rest) = data.split_first()?;
    let splits = usize::from(control & 0x0f);
    let frame_bytes_max = LIMITS[usize::from(control >> 4)];
    let (offsets, stream) = rest.split_at_checked(2 * splits)?;
    let mut cuts: Vec<usize> = offsets
        .chunks_exact(2)
        .map(|pair| usize::from(u16::from_be_bytes([pair[0], pair[1]])).min(stream.len()))
        .collect();
    cuts.sort_unstable();
    cuts.push(stream.len());
    let mut pieces = Vec::with_capacity(cuts.len());
    let mut from = 0;
    for to in cuts {
        pieces.push(&stream[from..to]);
        from = to;
    }
    Some((frame_bytes_max, pieces))
}

/// Check the framing properties for one fuzz input.
pub fn check(data: &[u8]) {
    let Some((frame_bytes_max, pieces)) = parse_input(data) else { return };
    let stream = pieces.concat();
    let (expected_frames, expected_end) = model(&stream, frame_bytes_max);

    let mut buffer = Vec::new();
    let mut frames = Vec::new();
    let mut arrived = 0;
    let mut end = None;
    'pieces: for piece in &pieces {
        buffer.extend_from_slice(piece);
        arrived += piece.len();
        loop {
            match framing::take_frame(&mut buffer, frame_bytes_max) {
                Ok(Some(body)) => frames.push(body),
                Ok(None) => break,
                Err(error) => {
                    let offset = arrived - buffer.len();
                    // Reported in the piece that completed the prefix, not later.
                    assert!(
                        arrived - piece.len() < offset + LENGTH_PREFIX_BYTES,
                        "too-large length at {offset} reported only after {arrived} bytes"
                    );
                    end = Some(End::TooLarge { offset, error });
                    break 'pieces;
                }
            }
        }
        // Nothing left that could have been cut: an unfinished frame within the limit.
        assert!(
            buffer.len() < LENGTH_PREFIX_BYTES.saturating_add(frame_bytes_max),
            "{} bytes buffered under a {frame_bytes_max}-byte limit",
            buffer.len()
        );
        assert_eq!(framing::cut(&buffer, frame_bytes_max), framing::Cut::NeedMore);
    }
    let end = end.unwrap_or(End::Unfinished(buffer));

    assert_eq!(frames, expected_frames, "frames differ when the stream is split");
    assert_eq!(end, expected_end, "the stream ends differently when split");
    let consumed = match &end {
        End::Unfinished(rest) => stream.len() - rest.len(),
        End::TooLarge { offset, .. } => *offset,
    };
    let encoded: Vec<u8> = frames.iter().flat_map(|body| framing::encode_length_prefixed(body)).collect();
    assert_eq!(encoded, stream[..consumed], "re-encoding the frames gives other bytes");
}
