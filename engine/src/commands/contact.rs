//! `/contact <query>`: looks up contacts by name, email or phone prefix. Caller only.

use super::{Command, ContextKind, Invocation, Outcome, Running, BOTH};

pub(super) struct Contact;

/// Most contacts one lookup shows.
const SHOWN_MAX: usize = 10;

impl Command for Contact {
    fn name(&self) -> &'static str {
        "contact"
    }
    fn usage(&self) -> &'static str {
        "<name, email or phone>"
    }
    fn description(&self) -> &'static str {
        "Look up a contact"
    }
    fn contexts(&self) -> &'static [ContextKind] {
        BOTH
    }
    fn run<'a>(&'a self, inv: Invocation<'a>) -> Running<'a> {
        Box::pin(async move {
            if inv.args.is_empty() {
                return Ok(Outcome::caller("Usage: /contact <name, email or phone>"));
            }
            let found = inv.engine.search_contacts(inv.args.to_string(), SHOWN_MAX).await?;
            if found.is_empty() {
                return Ok(Outcome::caller(format!("No contact matches {:?}.", inv.args)));
            }
            let lines: Vec<String> = found
                .iter()
                .map(|c| {
                    let f = &c.fields;
                    let mut line = format!("#{} {}", c.id, f.name);
                    for part in [&f.email, &f.phone, &f.company].into_iter().flatten() {
                        line.push_str(" · ");
                        line.push_str(part);
                    }
                    line
                })
                .collect();
            Ok(Outcome::caller(lines.join("\n")))
        })
    }
}
