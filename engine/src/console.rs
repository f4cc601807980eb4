//! The agent console's sign-in: an agent's email and argon2id-hashed password (set by an
//! administrator), and console sessions, one per signed-in browser, kept in storage under
//! the SHA-256 of their secret (the secret itself lives only in the browser's HttpOnly
//! cookie). A console session lasts [`CONSOLE_SESSION_TTL_MS`]; signing out ends it and
//! closes every connection that authenticated with it; a new password ends all of the
//! agent's sessions.
//!
//! Hashing and verifying a password cost tens of milliseconds of CPU and about 19 MiB: they
//! run on the blocking pool, never on a shard.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use dashmap::DashMap;
use rand::RngCore;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use switchboard_storage::records::RECORD_VERSION;
use switchboard_storage::{Batch, ConsoleSessionRecord};

use crate::hub::AgentProfile;
use crate::outbox::Outbox;
use crate::{now_ms, AgentId, Engine, EngineError};

/// How long a console session lasts after sign-in (12 hours: one working day).
pub const CONSOLE_SESSION_TTL_MS: u64 = 12 * 60 * 60 * 1000;
/// Shortest password accepted.
pub const PASSWORD_BYTES_MIN: usize = 10;
/// Longest password accepted (argon2 takes any length; this bounds the work per attempt).
pub const PASSWORD_BYTES_MAX: usize = 256;
/// Expired console sessions are swept at most this often (a sign-in starts the sweep).
pub const CONSOLE_SWEEP_INTERVAL_MS: u64 = 10 * 60 * 1000;
/// Console sessions one agent may hold at once (browsers, machines); signing in past it
/// ends the oldest.
pub const CONSOLE_SESSIONS_PER_AGENT_MAX: usize = 20;
/// Longest sign-in email.
pub const EMAIL_BYTES_MAX: usize = 254;

/// A console session's SHA-256: the storage key, and the handle for its connections.
pub type SessionHash = [u8; 32];

/// Connections authenticated by each live console session, so that signing out closes
/// them. Pruned of closed connections whenever a session gains one.
#[derive(Default)]
pub struct ConsoleConnections {
    by_session: DashMap<SessionHash, Vec<Outbox>>,
    /// When expired sessions were last swept (ms since the epoch; 0: never).
    last_sweep_ms: AtomicU64,
}

impl ConsoleConnections {
    fn add(&self, session: SessionHash, outbox: Outbox) {
        let mut entry = self.by_session.entry(session).or_default();
        entry.retain(|o| !o.is_closed());
        entry.push(outbox);
    }

    pub(crate) fn end(&self, session: &SessionHash) {
        if let Some((_, outboxes)) = self.by_session.remove(session) {
            for outbox in outboxes {
                outbox.revoke();
            }
        }
    }
}

/// A signed-in console: who, and which session (for [`Engine::console_connected`]).
#[derive(Debug, Clone)]
pub struct ConsoleSignIn {
    pub agent: AgentProfile,
    pub session: SessionHash,
    pub expires_at_ms: u64,
}

fn hash_of(secret: &str) -> SessionHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// The normalised form of a sign-in email (trimmed, lower case), or why it is refused.
pub fn normalise_email(email: &str) -> Result<String, EngineError> {
    let email = email.trim().to_lowercase();
    let plausible = email.len() <= EMAIL_BYTES_MAX
        && email.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
        && !email.contains(char::is_whitespace);
    if plausible {
        Ok(email)
    } else {
        Err(EngineError::InvalidLogin(format!(
            "`{email}` is not an email address (name@host.domain, at most {EMAIL_BYTES_MAX} bytes)"
        )))
    }
}

fn check_password(password: &str) -> Result<(), EngineError> {
    if (PASSWORD_BYTES_MIN..=PASSWORD_BYTES_MAX).contains(&password.len()) {
        Ok(())
    } else {
        Err(EngineError::InvalidLogin(format!(
            "a password has {PASSWORD_BYTES_MIN} to {PASSWORD_BYTES_MAX} bytes; this one has {}",
            password.len()
        )))
    }
}

fn hash_password(password: &str) -> Result<String, EngineError> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| EngineError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| EngineError::Internal(format!("hashing the password: {e}")))
}

/// Whether `password` matches the PHC string `phc` (a malformed stored hash never matches).
fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A PHC string for a password nobody has, so that an unknown email costs the same work as
/// a wrong password (no timing oracle for which emails exist).
fn decoy_phc() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&crate::auth::new_secret()).unwrap_or_default())
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| EngineError::Internal(format!("password work failed: {e}")))
}

impl Engine {
    /// Set an agent's console sign-in: its email (unique among agents) and/or a new
    /// password. A new password ends the agent's console sessions.
    pub async fn set_console_login(
        &self,
        id: AgentId,
        email: Option<String>,
        password: Option<String>,
        temporary: bool,
    ) -> Result<AgentProfile, EngineError> {
        self.existing_agent(id)?;
        let email = email.map(|e| normalise_email(&e)).transpose()?;
        let new_password = password.is_some();
        // The slow hash first, outside the profile lock.
        let phc = match password {
            Some(password) => {
                check_password(&password)?;
                Some(blocking(move || hash_password(&password)).await??)
            }
            None => None,
        };
        let profile = self
            .change_agent(id, |profile| {
                if let Some(email) = email {
                    // Checked under the lock: two agents never claim one email.
                    if let Some(other) = self.agent_by_email(&email).filter(|other| other.id != id) {
                        return Err(EngineError::InvalidLogin(format!(
                            "agent {} already signs in as {email}",
                            other.id
                        )));
                    }
                    profile.email = Some(email);
                }
                if let Some(phc) = phc {
                    profile.password_phc = Some(phc);
                    profile.password_temporary = temporary;
                }
                Ok(())
            })
            .await?;
        if new_password {
            self.end_console_sessions_of(id, None).await?;
        }
        Ok(profile)
    }

    /// Sign in with email and password: a new console session, whose secret (for the
    /// cookie) is returned with the agent. Wrong email, wrong password, no password set and
    /// a disabled agent are all `BadCredentials`, after the same work.
    pub async fn console_sign_in(
        &self,
        email: &str,
        password: String,
    ) -> Result<(ConsoleSignIn, String), EngineError> {
        let agent = normalise_email(email).ok().and_then(|email| self.agent_by_email(&email));
        let phc = agent.as_ref().and_then(|a| a.password_phc.clone());
        let candidate = phc.clone().unwrap_or_else(|| decoy_phc().to_string());
        let matches = blocking(move || password_matches(&password, &candidate)).await?;
        let agent = match agent {
            Some(agent) if matches && phc.is_some() && !agent.disabled => agent,
            _ => return Err(EngineError::BadCredentials),
        };
        let secret = crate::auth::new_secret();
        let now = now_ms();
        let record = ConsoleSessionRecord {
            v: RECORD_VERSION,
            agent_id: agent.id,
            created_at_ms: now,
            expires_at_ms: now + CONSOLE_SESSION_TTL_MS,
        };
        let session = hash_of(&secret);
        let mut batch = Batch::new();
        batch.put_console_session(&session, &record);
        self.write(batch).await?;
        // Sessions also end by expiry, without anyone signing out: a sweep now and then
        // (a sign-in starts one at most every CONSOLE_SWEEP_INTERVAL_MS) keeps the table
        // the size of the sessions in use, without a full scan per sign-in.
        let last = self.hub.console.last_sweep_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= CONSOLE_SWEEP_INTERVAL_MS
            && self
                .hub
                .console
                .last_sweep_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep_console_sessions(now).await?;
        }
        Ok((ConsoleSignIn { agent, session, expires_at_ms: record.expires_at_ms }, secret))
    }

    /// The signed-in console a cookie secret stands for: `NotSignedIn` when there is no
    /// such session, it expired, or its agent was disabled.
    pub async fn console_session(&self, secret: &str) -> Result<ConsoleSignIn, EngineError> {
        let session = hash_of(secret);
        let record = self.hub.read(move |storage| Ok(storage.console_session(&session)?)).await?;
        let record = record.filter(|r| r.expires_at_ms > now_ms()).ok_or(EngineError::NotSignedIn)?;
        let agent = self.hub.directory.get(&record.agent_id).map(|a| a.clone());
        match agent {
            Some(agent) if !agent.disabled => {
                Ok(ConsoleSignIn { agent, session, expires_at_ms: record.expires_at_ms })
            }
            _ => Err(EngineError::NotSignedIn),
        }
    }

    /// Remove expired console sessions, and every agent's sessions beyond its newest
    /// [`CONSOLE_SESSIONS_PER_AGENT_MAX`] (their connections are closed). One scan.
    pub(crate) async fn sweep_console_sessions(&self, now: u64) -> Result<usize, EngineError> {
        let all = self.hub.read(|storage| Ok(storage.console_sessions()?)).await?;
        let (expired, mut live): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|(_, r)| r.expires_at_ms <= now);
        live.sort_by_key(|(_, r)| (r.agent_id, std::cmp::Reverse(r.created_at_ms)));
        let mut gone: Vec<SessionHash> = expired.into_iter().map(|(hash, _)| hash).collect();
        let mut held = (None, 0usize);
        for (hash, record) in live {
            held = if held.0 == Some(record.agent_id) {
                (held.0, held.1 + 1)
            } else {
                (Some(record.agent_id), 1)
            };
            if held.1 > CONSOLE_SESSIONS_PER_AGENT_MAX {
                gone.push(hash);
            }
        }
        self.end_console_sessions(&gone).await?;
        Ok(gone.len())
    }

    /// Replace the signed-in agent's password: `current` must match, `new` must follow the
    /// rules and differ from it. Clears a temporary password; ends the agent's other
    /// console sessions (this one stays signed in).
    pub async fn change_console_password(
        &self,
        secret: &str,
        current: String,
        new: String,
    ) -> Result<ConsoleSignIn, EngineError> {
        let signed_in = self.console_session(secret).await?;
        check_password(&new)?;
        if new == current {
            return Err(EngineError::InvalidLogin("choose a password different from the current one".into()));
        }
        let phc = signed_in.agent.password_phc.clone().unwrap_or_else(|| decoy_phc().to_string());
        if !blocking(move || password_matches(&current, &phc)).await? {
            return Err(EngineError::BadCredentials);
        }
        let phc = blocking(move || hash_password(&new)).await??;
        let profile = self
            .change_agent(signed_in.agent.id, |profile| {
                profile.password_phc = Some(phc);
                profile.password_temporary = false;
                Ok(())
            })
            .await?;
        self.end_console_sessions_of(profile.id, Some(signed_in.session)).await?;
        Ok(ConsoleSignIn { agent: profile, ..signed_in })
    }

    /// Note that `outbox`'s connection authenticated with console session `session`, so
    /// that signing out closes it.
    pub fn console_connected(&self, session: SessionHash, outbox: Outbox) {
        self.hub.console.add(session, outbox);
    }

    /// Sign out: the session ends, and every connection that authenticated with it is
    /// closed (`credentials_revoked`). Signing out of an unknown session is not an error.
    pub async fn console_sign_out(&self, secret: &str) -> Result<(), EngineError> {
        self.end_console_sessions(&[hash_of(secret)]).await
    }

    /// End every console session of an agent but `keep` (a new password).
    async fn end_console_sessions_of(
        &self,
        id: AgentId,
        keep: Option<SessionHash>,
    ) -> Result<(), EngineError> {
        let sessions = self.hub.read(|storage| Ok(storage.console_sessions()?)).await?;
        let ended: Vec<SessionHash> = sessions
            .into_iter()
            .filter(|(hash, r)| r.agent_id == id && Some(*hash) != keep)
            .map(|(hash, _)| hash)
            .collect();
        self.end_console_sessions(&ended).await
    }

    /// Delete these console sessions (one durable batch), then close their connections.
    async fn end_console_sessions(&self, ended: &[SessionHash]) -> Result<(), EngineError> {
        if ended.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        for hash in ended {
            batch.delete_console_session(hash);
        }
        self.write(batch).await?;
        for hash in ended {
            self.hub.console.end(hash);
        }
        Ok(())
    }

    fn agent_by_email(&self, email: &str) -> Option<AgentProfile> {
        self.hub.directory.iter().find(|a| a.email.as_deref() == Some(email)).map(|a| a.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(password_matches("correct horse battery", &phc));
        assert!(!password_matches("correct horse batterY", &phc));
        assert!(!password_matches("correct horse battery", "not a phc string"));
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(normalise_email("  Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in ["", "ann", "@example.com", "ann@localhost", "a b@example.com"] {
            assert!(matches!(normalise_email(bad), Err(EngineError::InvalidLogin(_))), "{bad}");
        }
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(PASSWORD_BYTES_MAX + 1)).is_err());
        assert!(check_password("long enough pw").is_ok());
    }
}
