//! Chat ratings: once a chat is closed its visitor may rate it, 1 (bad) to 5 (great) with an
//! optional comment, once. Stored in `session_rating` (not in the session's record, whose
//! only writer is the session actor); agents see it in `SessionInfo.rating` and
//! operators in `switchboard_chat_ratings_total{score}`.
//!
//! Like tickets' links, the ratings of the sessions that can be shown are kept in memory
//! ([`Ratings::remember`] when a session is listed or loaded); a new rating is written under
//! one lock from the "already rated?" check to the durable write.

use dashmap::DashMap;
use switchboard_protocol::limits::{RATING_COMMENT_BYTES_MAX, RATING_SCORE_MAX};
use switchboard_storage::{RatingRecord, Storage};

use crate::{now_ms, Engine, EngineError, SessionId};

/// A visitor's rating of a closed chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub score: u8,
    pub comment: Option<String>,
    pub rated_at_ms: u64,
}

/// The ratings' shared state.
#[derive(Default)]
pub(crate) struct Ratings {
    /// Session → rating, for the sessions that can be shown (listed, loaded, rated since
    /// start).
    known: DashMap<SessionId, Rating>,
    /// Held from the "already rated?" check to the durable write.
    writes: tokio::sync::Mutex<()>,
}

impl Ratings {
    /// Remember a session's rating, if it has one (one point read): for a session being
    /// listed or loaded.
    pub(crate) fn remember(&self, storage: &Storage, session: SessionId) -> Result<(), EngineError> {
        if let Some(r) = storage.rating(session)? {
            self.known
                .insert(session, Rating { score: r.score, comment: r.comment, rated_at_ms: r.rated_at_ms });
        }
        Ok(())
    }
}

/// Check a rating's fields: the score in range, the comment trimmed (empty is none) and
/// bounded.
pub fn check(score: u8, comment: Option<String>) -> Result<Option<String>, EngineError> {
    if !(1..=RATING_SCORE_MAX).contains(&score) {
        return Err(EngineError::InvalidRating(format!("a rating is 1 to {RATING_SCORE_MAX}, not {score}")));
    }
    let comment = comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if let Some(c) = &comment {
        if c.len() > RATING_COMMENT_BYTES_MAX {
            return Err(EngineError::InvalidRating(format!(
                "a rating's comment is at most {RATING_COMMENT_BYTES_MAX} bytes; this one has {}",
                c.len()
            )));
        }
    }
    Ok(comment)
}

impl Engine {
    /// The visitor of `session` rates it: only once it is closed, and only once. Durable
    /// before it returns; the agents get `session_updated` with the rating.
    pub async fn rate_chat(
        &self,
        session: SessionId,
        score: u8,
        comment: Option<String>,
    ) -> Result<Rating, EngineError> {
        let comment = check(score, comment)?;
        let ratings = &self.hub.ratings;
        let _writing = ratings.writes.lock().await;
        let (record, existing) =
            self.hub.read(move |storage| Ok((storage.session(session)?, storage.rating(session)?))).await?;
        let record = record.ok_or(EngineError::UnknownSession(session))?;
        if record.closed_at_ms.is_none() {
            return Err(EngineError::InvalidRating("a chat can be rated once it has ended".into()));
        }
        if existing.is_some() {
            return Err(EngineError::InvalidRating("this chat is rated already (once per chat)".into()));
        }
        let rating = Rating { score, comment, rated_at_ms: now_ms() };
        let mut batch = switchboard_storage::Batch::new();
        batch.put_rating(
            session,
            &RatingRecord { v: 1, score, comment: rating.comment.clone(), rated_at_ms: rating.rated_at_ms },
        );
        self.write(batch).await?;
        ratings.known.insert(session, rating.clone());
        metrics::counter!("switchboard_chat_ratings_total", "score" => SCORES[usize::from(score) - 1])
            .increment(1);
        tracing::info!(target: "session", session, score, "chat rated");
        self.hub.session_announced(session);
        Ok(rating)
    }

    /// The rating of a session that can be shown: what `SessionInfo.rating` carries.
    pub fn rating_of_session(&self, session: SessionId) -> Option<Rating> {
        self.hub.ratings.known.get(&session).map(|r| r.clone())
    }
}

/// The `score` label values (static strings for the metric).
pub const SCORES: [&str; RATING_SCORE_MAX as usize] = ["1", "2", "3", "4", "5"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_checked() {
        assert!(check(0, None).is_err());
        assert!(check(6, None).is_err());
        assert_eq!(check(5, Some("  ".into())).unwrap(), None, "a blank comment is none");
        assert_eq!(check(1, Some(" slow ".into())).unwrap().as_deref(), Some("slow"));
        assert!(check(3, Some("x".repeat(RATING_COMMENT_BYTES_MAX + 1))).is_err());
        assert!(check(3, Some("x".repeat(RATING_COMMENT_BYTES_MAX))).is_ok());
    }
}
