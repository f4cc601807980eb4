//! Credentials. Agent and visitor tokens are `<id>.<secret>`: the id finds the record, and
//! only the SHA-256 of the 256-bit random secret is stored, so a database copy does not leak
//! usable tokens. The administrator token is a bare secret whose hash sits in `meta`.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random secret: 32 bytes, hex-encoded.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Hex SHA-256 of a secret, as stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Build a token from its prefix (an id or `admin`) and secret.
pub fn token(prefix: &str, secret: &str) -> String {
    format!("{prefix}.{secret}")
}

/// Split a token into its numeric id and secret.
pub fn parse(token: &str) -> Option<(u64, &str)> {
    let (id, secret) = token.split_once('.')?;
    Some((id.parse().ok()?, secret))
}

/// Compare a presented secret with a stored hash without an early exit on the first
/// differing byte.
pub fn verify(secret: &str, stored_sha256: &str) -> bool {
    let computed = hash_secret(secret);
    computed.len() == stored_sha256.len()
        && computed.bytes().zip(stored_sha256.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_verify() {
        let secret = new_secret();
        assert_eq!(secret.len(), 64);
        let t = token("42", &secret);
        let (id, s) = parse(&t).unwrap();
        assert_eq!(id, 42);
        assert!(verify(s, &hash_secret(&secret)));
        assert!(!verify("nope", &hash_secret(&secret)));
        // (input, parses)
        for (input, ok) in [("1.x", true), ("x.1", false), ("nodot", false), ("-1.x", false), (".x", false)] {
            assert_eq!(parse(input).is_some(), ok, "{input}");
        }
    }
}
