//! The key codec. Every integer is fixed-width big-endian, so RocksDB's byte order equals
//! numeric order and a composite key sorts by its first field, then its second.

/// Key of a single id (`agent`, `session`, `session_open`).
pub fn id(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// Key of two ids: `session_message` (session, seq), `session_read` (session, agent),
/// `session_closed` (closed_at_ms, session).
pub fn pair(first: u64, second: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&first.to_be_bytes());
    key[8..].copy_from_slice(&second.to_be_bytes());
    key
}

/// Key of three ids: `session_routing` (session, at_ms, n).
pub fn triple(first: u64, second: u64, third: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&pair(first, second));
    key[16..].copy_from_slice(&third.to_be_bytes());
    key
}

/// Decode a single-id key; `None` when the length is wrong.
pub fn decode_id(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

/// Decode a two-id key; `None` when the length is wrong.
pub fn decode_pair(key: &[u8]) -> Option<(u64, u64)> {
    if key.len() != 16 {
        return None;
    }
    Some((decode_id(&key[..8])?, decode_id(&key[8..])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_bytes() {
        assert_eq!(hex::encode(id(1)), "0000000000000001");
        assert_eq!(hex::encode(id(0x0102_0304_0506_0708)), "0102030405060708");
        assert_eq!(hex::encode(pair(7, 258)), "00000000000000070000000000000102");
    }

    #[test]
    fn byte_order_is_numeric_order() {
        let numbers = [0u64, 1, 255, 256, 65_535, 1 << 32, u64::MAX - 1, u64::MAX];
        for w in numbers.windows(2) {
            assert!(id(w[0]) < id(w[1]));
            assert!(pair(5, w[0]) < pair(5, w[1]));
            assert!(pair(w[0], u64::MAX) < pair(w[1], 0));
        }
    }

    #[test]
    fn decode_round_trips_and_rejects_wrong_lengths() {
        assert_eq!(decode_id(&id(42)), Some(42));
        assert_eq!(decode_pair(&pair(3, 4)), Some((3, 4)));
        assert_eq!(decode_id(&[1, 2, 3]), None);
        assert_eq!(decode_pair(&id(1)), None);
    }
}
