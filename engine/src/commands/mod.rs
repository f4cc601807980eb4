//! Slash commands (docs/COMMANDS.md): what an agent types after `/` in a channel or a live
//! chat. A registry of commands, each one type in its own file implementing [`Command`].
//! The server lists the commands of a context, filtered by the typed prefix (autocomplete),
//! and runs them. An unknown command or bad arguments get a usage message shown only to the
//! caller; a command's own failure (not a member, not your chat) is an error with its code.
//!
//! To add a command: a file here with a type implementing [`Command`], and one line in
//! [`REGISTRY`].

use std::future::Future;
use std::pin::Pin;

use crate::domain::channel::ChannelId;
use crate::domain::types::{AgentId, SessionId};
use crate::{Engine, EngineError};

mod contact;
mod help;
mod invite;
mod leave;
mod me;
mod session;
mod ticket;
mod topic;

/// Longest command line, in bytes (a command's text is bounded like a message's).
pub const COMMAND_BYTES_MAX: usize = 4096;

/// Where a command is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Channel(ChannelId),
    Session(SessionId),
}

/// The kind of a context, for listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    Channel,
    Session,
}

impl Context {
    pub fn kind(self) -> ContextKind {
        match self {
            Context::Channel(_) => ContextKind::Channel,
            Context::Session(_) => ContextKind::Session,
        }
    }
}

/// Who sees a command's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Only the caller (help, lookups, usage, confirmations).
    Caller,
    /// The command posted to the conversation; everyone there sees the message itself.
    Posted,
}

/// What a command answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub visibility: Visibility,
    pub text: String,
}

impl Outcome {
    pub fn caller(text: impl Into<String>) -> Outcome {
        Outcome { visibility: Visibility::Caller, text: text.into() }
    }

    pub fn posted(text: impl Into<String>) -> Outcome {
        Outcome { visibility: Visibility::Posted, text: text.into() }
    }
}

/// One invocation: who, where, and the text after the command's name.
pub struct Invocation<'a> {
    pub engine: &'a Engine,
    pub agent: AgentId,
    pub context: Context,
    pub args: &'a str,
}

/// A command's future.
pub type Running<'a> = Pin<Box<dyn Future<Output = Result<Outcome, EngineError>> + Send + 'a>>;

/// One slash command.
pub trait Command: Sync {
    /// Its name, without the `/`.
    fn name(&self) -> &'static str;
    /// Its arguments, for autocomplete (`<subject>`, `@agent`), empty when none.
    fn usage(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// The contexts it works in.
    fn contexts(&self) -> &'static [ContextKind];
    /// Its arguments in one kind of context, for a command whose arguments differ by
    /// context (`/ticket`); by default [`Command::usage`].
    fn usage_in(&self, _kind: ContextKind) -> &'static str {
        self.usage()
    }
    /// Its description in one kind of context; by default [`Command::description`].
    fn description_in(&self, _kind: ContextKind) -> &'static str {
        self.description()
    }
    /// Run it. Bad arguments answer [`usage`] to the caller, not an error.
    fn run<'a>(&'a self, invocation: Invocation<'a>) -> Running<'a>;
}

/// Every command, in listing order.
pub static REGISTRY: &[&dyn Command] = &[
    &help::Help,
    &me::Me,
    &topic::Topic,
    &invite::Invite,
    &leave::Leave,
    &contact::Contact,
    &session::Close,
    &session::Transfer,
    &ticket::Ticket,
];

const BOTH: &[ContextKind] = &[ContextKind::Channel, ContextKind::Session];
const CHANNEL: &[ContextKind] = &[ContextKind::Channel];
const SESSION: &[ContextKind] = &[ContextKind::Session];

/// The usage line of a command in a kind of context.
pub fn usage(command: &dyn Command, kind: ContextKind) -> String {
    match command.usage_in(kind) {
        "" => format!("/{}", command.name()),
        args => format!("/{} {args}", command.name()),
    }
}

/// The commands of a context whose names start with `prefix` (without or with its `/`).
pub fn available(kind: ContextKind, prefix: &str) -> Vec<&'static dyn Command> {
    let prefix = prefix.trim_start_matches('/').to_lowercase();
    REGISTRY
        .iter()
        .copied()
        .filter(|c| c.contexts().contains(&kind) && c.name().starts_with(&prefix))
        .collect()
}

/// Split `/name args` into the name (lower-cased) and the arguments.
pub fn parse(line: &str) -> Option<(String, &str)> {
    let line = line.trim_start().strip_prefix('/')?;
    let (name, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    (!name.is_empty()).then(|| (name.to_lowercase(), args.trim()))
}

/// The agent a `@name` names: a display name, lower-cased without spaces, or its first word.
pub(crate) fn agent_named(engine: &Engine, name: &str) -> Option<AgentId> {
    let wanted = name.trim().trim_start_matches('@').to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    let matches: Vec<AgentId> = engine
        .hub
        .directory
        .iter()
        .filter(|a| {
            let display = a.display_name.to_lowercase();
            let whole: String = display.split_whitespace().collect();
            whole == wanted || display.split_whitespace().next() == Some(wanted.as_str())
        })
        .map(|a| *a.key())
        .collect();
    // An ambiguous name names nobody.
    (matches.len() == 1).then(|| matches[0])
}

impl Engine {
    /// Check that `agent` may type commands in `context`: a channel it can see (a private
    /// channel it is not in is `unknown_channel`, as for every other request), a session
    /// that exists (one point read; agents see every session).
    pub async fn check_command_context(&self, agent: AgentId, context: Context) -> Result<(), EngineError> {
        match context {
            Context::Channel(id) => match self.hub.channels.get(id) {
                Some(summary) if summary.visible_to(agent) => Ok(()),
                _ => Err(EngineError::UnknownChannel(id)),
            },
            Context::Session(id) => match self.hub.read(move |s| Ok(s.session(id)?.is_some())).await? {
                true => Ok(()),
                false => Err(EngineError::UnknownSession(id)),
            },
        }
    }

    /// The commands of `context` starting with `prefix`, once the context is checked.
    pub async fn list_commands(
        &self,
        agent: AgentId,
        context: Context,
        prefix: &str,
    ) -> Result<Vec<&'static dyn Command>, EngineError> {
        self.check_command_context(agent, context).await?;
        Ok(available(context.kind(), prefix))
    }

    /// Run the command line `line` typed by `agent` in `context`.
    pub async fn run_command(
        &self,
        agent: AgentId,
        context: Context,
        line: &str,
    ) -> Result<Outcome, EngineError> {
        self.check_command_context(agent, context).await?;
        if line.len() > COMMAND_BYTES_MAX {
            return Ok(Outcome::caller(format!("A command is at most {COMMAND_BYTES_MAX} bytes.")));
        }
        let Some((name, args)) = parse(line) else {
            return Ok(Outcome::caller("A command starts with `/`. Type /help for the list."));
        };
        let found = REGISTRY.iter().copied().find(|c| c.name() == name);
        match found {
            Some(command) if command.contexts().contains(&context.kind()) => {
                command.run(Invocation { engine: self, agent, context, args }).await
            }
            Some(command) => Ok(Outcome::caller(format!("/{} does not work here.", command.name()))),
            None => Ok(Outcome::caller(format!("Unknown command /{name}. Type /help for the list."))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_a_name_and_arguments() {
        assert_eq!(parse("/topic  Q4 plans "), Some(("topic".into(), "Q4 plans")));
        assert_eq!(parse("/HELP"), Some(("help".into(), "")));
        assert_eq!(parse("no slash"), None);
        assert_eq!(parse("/"), None);
    }

    #[test]
    fn listing_filters_by_context_and_prefix() {
        let names = |kind, prefix| available(kind, prefix).iter().map(|c| c.name()).collect::<Vec<_>>();
        assert_eq!(names(ContextKind::Channel, "t"), ["topic", "ticket"]);
        assert_eq!(names(ContextKind::Session, "/t"), ["transfer", "ticket"]);
        assert!(names(ContextKind::Session, "").contains(&"close"));
        assert!(!names(ContextKind::Channel, "").contains(&"close"));
        assert!(names(ContextKind::Channel, "zz").is_empty());
    }

    #[test]
    fn every_command_name_is_unique_lower_case_and_described() {
        let mut seen = std::collections::BTreeSet::new();
        for c in REGISTRY {
            assert!(seen.insert(c.name()), "{} twice", c.name());
            assert!(c.name().chars().all(|ch| ch.is_ascii_lowercase()), "{}", c.name());
            assert!(!c.description().is_empty() && !c.contexts().is_empty());
        }
    }
}
