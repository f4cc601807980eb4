//! `/help [command]`: the commands of this context, or one command's usage. Caller only.

use super::{available, usage, Command, ContextKind, Invocation, Outcome, Running, BOTH};

pub(super) struct Help;

impl Command for Help {
    fn name(&self) -> &'static str {
        "help"
    }
    fn usage(&self) -> &'static str {
        "[command]"
    }
    fn description(&self) -> &'static str {
        "List the commands you can use here"
    }
    fn contexts(&self) -> &'static [ContextKind] {
        BOTH
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            let kind = inv.context.kind();
            let prefix = inv.args.trim().trim_start_matches('/');
            let lines: Vec<String> = available(kind, prefix)
                .into_iter()
                .map(|c| format!("{} — {}", usage(c, kind), c.description_in(kind)))
                .collect();
            if lines.is_empty() {
                return Ok(Outcome::caller(format!("No command here starts with /{prefix}.")));
            }
            Ok(Outcome::caller(lines.join("\n")))
        })
    }
}
