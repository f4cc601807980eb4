//! A token bucket: `burst` requests at once, refilled at `per_second`. Pure; time is passed
//! in, so it is tested without sleeping. [`PerAddress`]: one bucket per client address,
//! bounded (failed console sign-ins, messages left by visitors).

use std::net::IpAddr;
use std::sync::Arc;

use dashmap::DashMap;

/// A token bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    burst: f64,
    per_ms: f64,
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `per_second`.
    pub fn new(burst: u32, per_second: u32, now_ms: u64) -> TokenBucket {
        TokenBucket {
            burst: burst as f64,
            per_ms: per_second as f64 / 1000.0,
            tokens: burst as f64,
            last_ms: now_ms,
        }
    }

    /// A full bucket of `burst` tokens refilled at `per_minute`.
    pub fn per_minute(burst: u32, per_minute: u32, now_ms: u64) -> TokenBucket {
        TokenBucket {
            burst: burst as f64,
            per_ms: per_minute as f64 / 60_000.0,
            tokens: burst as f64,
            last_ms: now_ms,
        }
    }

    /// A full bucket of `burst` tokens refilled at `per_hour`.
    pub fn per_hour(burst: u32, per_hour: u32, now_ms: u64) -> TokenBucket {
        TokenBucket {
            burst: burst as f64,
            per_ms: per_hour as f64 / 3_600_000.0,
            tokens: burst as f64,
            last_ms: now_ms,
        }
    }

    /// Whether the bucket would be full at `now_ms`.
    pub fn full_at(&self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        self.tokens + elapsed * self.per_ms >= self.burst
    }

    /// Whether a token is there to take at `now_ms` (nothing is taken).
    pub fn has_token(&self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        (self.tokens + elapsed * self.per_ms).min(self.burst) >= 1.0
    }

    /// Take one token if there is one.
    pub fn take(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.burst);
        self.last_ms = now_ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Client addresses whose buckets are kept; past it, full buckets are forgotten first (a
/// full bucket says nothing a new one would not), then all.
const ADDRESSES_MAX: usize = 10_000;

/// One token bucket per client address, shared by every connection (clone it).
#[derive(Clone)]
pub struct PerAddress {
    buckets: Arc<DashMap<IpAddr, TokenBucket>>,
    /// A new address's bucket (full; its clock set when it is made).
    template: TokenBucket,
}

impl PerAddress {
    /// Buckets like `template` (as made by [`TokenBucket::per_minute`] and friends).
    pub fn new(template: TokenBucket) -> PerAddress {
        PerAddress { buckets: Arc::default(), template }
    }

    /// Whether `ip` has no token left now (nothing is taken).
    pub fn blocked(&self, ip: IpAddr, now_ms: u64) -> bool {
        self.buckets.get(&ip).is_some_and(|bucket| !bucket.has_token(now_ms))
    }

    /// Take a token for `ip`; false when it has none.
    pub fn take(&self, ip: IpAddr, now_ms: u64) -> bool {
        if self.buckets.len() >= ADDRESSES_MAX {
            self.buckets.retain(|_, bucket| !bucket.full_at(now_ms));
            if self.buckets.len() >= ADDRESSES_MAX {
                self.buckets.clear();
            }
        }
        let fresh = TokenBucket { tokens: self.template.burst, last_ms: now_ms, ..self.template.clone() };
        self.buckets.entry(ip).or_insert(fresh).take(now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_have_buckets_of_their_own() {
        let limits = PerAddress::new(TokenBucket::per_hour(2, 60, 0));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limits.take(a, 0) && limits.take(a, 0));
        assert!(!limits.take(a, 0) && limits.blocked(a, 0));
        assert!(!limits.blocked(b, 0) && limits.take(b, 0), "another address is not held back");
        assert!(limits.take(a, 60_000), "one a minute comes back");
    }

    #[test]
    fn allows_a_burst_then_the_refill_rate() {
        let mut bucket = TokenBucket::new(3, 10, 0);
        // (time in ms, expected)
        let script = [
            (0, true),
            (0, true),
            (0, true),
            (0, false),
            (50, false),
            (100, true),
            (100, false),
            (1000, true),
        ];
        for (now, expected) in script {
            assert_eq!(bucket.take(now), expected, "at {now} ms");
        }
    }
}
