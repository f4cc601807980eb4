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

/// Key of a text term and an id: the contact indexes (`contact_by_email`, `contact_by_name`,
/// `contact_by_phone`): the term's bytes ++ 0x00 ++ id. A term never holds a NUL byte, so
/// `term ++ 0x00` is the prefix of exactly that term's entries and `term` alone the prefix of
/// every term that starts with it.
pub fn term_id(term: &str, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(term.len() + 9);
    key.extend_from_slice(term.as_bytes());
    key.push(0);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// Decode a term-and-id key into the term's bytes and the id; `None` when it is too short
/// or the separator is missing.
pub fn decode_term_id(key: &[u8]) -> Option<(&[u8], u64)> {
    let split = key.len().checked_sub(9)?;
    if key[split] != 0 {
        return None;
    }
    Some((&key[..split], decode_id(&key[split + 1..])?))
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
        assert_eq!(hex::encode(term_id("ab", 3)), "6162000000000000000003");
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
        assert_eq!(decode_term_id(&term_id("ann", 9)), Some((&b"ann"[..], 9)));
        assert_eq!(decode_term_id(&term_id("", 9)), Some((&b""[..], 9)));
        assert_eq!(decode_term_id(&id(1)), None);
        assert_eq!(decode_term_id(&[1; 9]), None);
    }

    #[test]
    fn a_term_sorts_before_its_longer_terms() {
        // `ann` and its ids come before `anna`: a scan of `ann ++ 0x00` stops at its own.
        assert!(term_id("ann", u64::MAX) < term_id("anna", 0));
        assert!(term_id("ann", 1) < term_id("ann", 2));
    }
}
