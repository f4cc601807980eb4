//! A token bucket: `burst` requests at once, refilled at `per_second`. Pure; time is passed
//! in, so it is tested without sleeping.

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

#[cfg(test)]
mod tests {
    use super::*;

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
